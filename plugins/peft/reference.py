"""HuggingFace `peft` as the reference: LoRA injected by peft itself, prefix and prompt parameters from peft's modules.

* `peft-lora`: `peft.inject_adapter_in_model(LoraConfig(target_modules=...), model)` on the
  plain `nn.Module`: peft's own `lora.Linear` layers, initialisation, scaling, merge and unmerge.
* `peft-prefix`, `peft-prompt`: peft drives prefix and prompt tuning only through a
  `PeftModel` around a transformers model (`past_key_values`, `inputs_embeds`), which the
  suite's `suite.nn` encoder is not. These references therefore take their parameters from
  peft's own `PrefixEncoder` (`PrefixTuningConfig`, no projection) and `PromptEmbedding`
  (`PromptTuningConfig`) — shapes, initialisation and, for the prefix, peft's
  `(P, L·2·Hkv·Dh)` layout — and feed them in through `suite.nn`'s prefix hook and embedding,
  exactly as the from-scratch methods do. What peft itself computes with them is checked
  apart, on a tiny random GPT-2 (tests/plugins/peft/test_peft_reference_gpt2.py): peft's
  prefix-tuned output equals the base GPT-2 given those prefixes as its key/value cache in
  that layout, peft's prompt-tuned output equals the base GPT-2 given [prompt; token
  embeddings], and peft's trainable counts are P·L·2·d and P·d.

`peft` is imported when a method is applied, not when the plugin loads: it takes seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from plugins.peft.common import attach_prefixes, prefix_width
from plugins.peft.prompt import PromptedEmbedding
from suite import PEFT

__all__ = ["PeftLoRA", "PeftPrefix", "PeftPrompt"]


def _lora_layers(model: nn.Module) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]


class PeftLoRA(PEFT):
    """`peft.inject_adapter_in_model` with a `LoraConfig` on the targeted linear layers (reference for `lora`)."""

    name = "peft-lora"
    summary = "HuggingFace peft LoRA (LoraConfig + inject_adapter_in_model), the reference"
    reference = None
    target_kind = "linear"
    mergeable = True

    def __init__(self, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        self.r, self.alpha, self.dropout = r, alpha, dropout

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(
            r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=list(targets)
        )
        return inject_adapter_in_model(config, model)

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        layers = [cast(nn.Linear, model.get_submodule(name)) for name in targets]
        return sum(self.r * (layer.in_features + layer.out_features) for layer in layers)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        state = {}
        for name, layer in _lora_layers(wrapped):
            for adapter in layer.lora_A:
                state[f"{name}.lora_A"] = layer.lora_A[adapter].weight
                state[f"{name}.lora_B"] = layer.lora_B[adapter].weight
        return state

    def merge_weights(self, wrapped: nn.Module) -> nn.Module:
        for _, layer in _lora_layers(wrapped):
            layer.merge()
        return wrapped

    def unmerge_weights(self, wrapped: nn.Module) -> nn.Module:
        for _, layer in _lora_layers(wrapped):
            layer.unmerge()
        return wrapped


class _PeftPrefixStore(nn.Module):
    """peft's `PrefixEncoder` fed the virtual-token indices 0..P-1, as `PeftModel.get_prompt`."""

    def __init__(self, tokens: int, layers: int, kv_heads: int, head_dim: int) -> None:
        super().__init__()
        from peft import PrefixEncoder, PrefixTuningConfig

        config = PrefixTuningConfig(
            num_virtual_tokens=tokens,
            num_layers=layers,
            token_dim=kv_heads * head_dim,
            num_attention_heads=kv_heads,
            num_transformer_submodules=1,
            prefix_projection=False,
        )
        self.encoder = PrefixEncoder(config)
        self.tokens = tokens

    def forward(self, batch: int) -> Tensor:
        device = self.encoder.embedding.weight.device
        indices = torch.arange(self.tokens, device=device).expand(batch, self.tokens)
        return self.encoder(indices)  # (B, P, L·2·Hkv·Dh)


class PeftPrefix(PEFT):
    """peft's `PrefixEncoder` parameters in every targeted attention layer (reference for `prefix`)."""

    name = "peft-prefix"
    summary = "HuggingFace peft PrefixEncoder (PrefixTuningConfig) prefixes, the reference"
    reference = None
    target_kind = "attention"
    identity_at_init = False

    def __init__(self, num_virtual_tokens: int = 4) -> None:
        self.num_virtual_tokens = num_virtual_tokens

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        first = model.get_submodule(targets[0])
        store = _PeftPrefixStore(
            self.num_virtual_tokens,
            len(targets),
            int(first.n_kv_heads),
            int(first.head_dim),  # type: ignore[arg-type]
        ).to(next(model.parameters()).device)
        attach_prefixes(model, targets, store, store)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        widths = [prefix_width(model.get_submodule(name)) for name in targets]
        return sum(self.num_virtual_tokens * 2 * width for width in widths)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        store = cast(_PeftPrefixStore, wrapped.get_submodule("prefix_tuning"))
        return {"prefix": store.encoder.embedding.weight}


class _PeftPromptRows(nn.Module):
    """peft's `PromptEmbedding` fed the indices 0..P-1: `(B, P, C)`."""

    def __init__(self, tokens: int, embedding: nn.Embedding, init: str) -> None:
        super().__init__()
        from peft import PromptEmbedding, PromptTuningConfig, PromptTuningInit

        config = PromptTuningConfig(
            num_virtual_tokens=tokens,
            token_dim=embedding.embedding_dim,
            num_transformer_submodules=1,
            prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB
            if init == "vocab"
            else PromptTuningInit.RANDOM,
        )
        self.encoder = PromptEmbedding(config, embedding)
        self.tokens = tokens

    def forward(self, batch: int) -> Tensor:
        device = self.encoder.embedding.weight.device
        return self.encoder(torch.arange(self.tokens, device=device).expand(batch, self.tokens))


class PeftPrompt(PEFT):
    """peft's `PromptEmbedding` prepended to the token embeddings (reference for `prompt`)."""

    name = "peft-prompt"
    summary = "HuggingFace peft PromptEmbedding (PromptTuningConfig) soft prompt, the reference"
    reference = None
    target_kind = "embedding"
    identity_at_init = False

    def __init__(self, num_virtual_tokens: int = 4, init: str = "random") -> None:
        self.num_virtual_tokens, self.init = num_virtual_tokens, init

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            embedding = cast(nn.Embedding, model.get_submodule(name))
            rows = _PeftPromptRows(self.num_virtual_tokens, embedding, self.init).to(
                embedding.weight.device
            )
            parent, _, child = name.rpartition(".")
            setattr(
                model.get_submodule(parent) if parent else model,
                child,
                PromptedEmbedding(embedding, rows),
            )
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        dims = [cast(nn.Embedding, model.get_submodule(name)).embedding_dim for name in targets]
        return sum(self.num_virtual_tokens * d for d in dims)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        return {
            f"{name}.prompt": module.prompt.encoder.embedding.weight  # type: ignore[union-attr]
            for name, module in wrapped.named_modules()
            if isinstance(module, PromptedEmbedding)
        }
