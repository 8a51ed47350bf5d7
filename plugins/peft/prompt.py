"""Prompt tuning from scratch: P learned input embeddings prepended to every sequence (Lester et al., 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from plugins.peft.common import first_rows, replace_submodule
from suite import PEFT
from suite.errors import ComponentInputError

__all__ = ["PromptTuning", "PromptedEmbedding"]


class PromptedEmbedding(nn.Module):
    """`ids (B, T)` -> `(B, P + T, C)`: the learned prompt, then the frozen token embeddings.

    `prompt(batch) -> (B, P, C)` supplies the learned vectors (a parameter here, peft's
    `PromptEmbedding` in the reference)."""

    def __init__(self, inner: nn.Embedding, prompt: nn.Module) -> None:
        super().__init__()
        self.inner, self.prompt = inner, prompt

    def forward(self, ids: Tensor) -> Tensor:
        return torch.cat(
            [self.prompt(ids.shape[0]).to(self.inner.weight.dtype), self.inner(ids)], dim=1
        )


class PromptRows(nn.Module):
    """A `(P, C)` parameter, the same rows for every sequence."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, batch: int) -> Tensor:
        return first_rows(self.weight, batch)


class PromptTuning(PEFT):
    """Prompt tuning: can a frozen model be fine-tuned by learning only a few input vectors?

    Short answer: prepend P learned vectors to the token embeddings of every input and train
    only those (a "soft prompt"); the model's weights never change. It is the cheapest method
    in parameters, P · d for the whole model, and one model serves many tasks in one batch.
    It works well on large models and lags on small ones, where a few input vectors cannot
    re-steer every layer; prefix tuning reaches every layer directly.

    Formula: trainable = P · d; input = [E_prompt; E(ids)] of length P + T; initialising the
    prompt from embeddings of vocabulary tokens trains better than random (Lester et al.).

    Pitfalls:
    - Not the identity at initialisation: the prompt changes every output at step zero.
    - The prompt uses P positions of the context window (and of a learned position table).
    - It needs many more steps and a higher learning rate than LoRA.
    """

    name = "prompt"
    summary = "prompt tuning: P learned input embeddings prepended to each sequence"
    reference = "peft-prompt"
    target_kind = "embedding"
    identity_at_init = False

    def __init__(self, num_virtual_tokens: int = 4, init: str = "vocab") -> None:
        if num_virtual_tokens < 1:
            raise ComponentInputError(
                f"prompt: num_virtual_tokens must be at least 1, got {num_virtual_tokens}"
            )
        if init not in ("vocab", "random"):
            raise ComponentInputError(f"prompt: init must be 'vocab' or 'random', got {init!r}")
        self.num_virtual_tokens, self.init = num_virtual_tokens, init

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            embedding = cast(nn.Embedding, model.get_submodule(name))
            if self.init == "vocab":  # rows of the embeddings of random vocabulary tokens
                rows = torch.randint(0, embedding.num_embeddings, (self.num_virtual_tokens,))
                weight = embedding.weight.detach()[rows.to(embedding.weight.device)].clone()
            else:
                weight = torch.randn(
                    self.num_virtual_tokens, embedding.embedding_dim, device=embedding.weight.device
                )
            replace_submodule(model, name, PromptedEmbedding(embedding, PromptRows(weight)))
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        dims = [cast(nn.Embedding, model.get_submodule(name)).embedding_dim for name in targets]
        return sum(self.num_virtual_tokens * d for d in dims)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        return {
            f"{name}.prompt": module.prompt.weight  # type: ignore[misc]
            for name, module in wrapped.named_modules()
            if isinstance(module, PromptedEmbedding)
        }
