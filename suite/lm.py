"""The causal-LM protocol decoders drive, a tiny decoder-only LM with a KV cache, and a GPT-2 adapter.

Every `suite.Decoder` drives a model through one call: `model(input_ids, cache=None) ->
(logits, cache)`, with `input_ids` long `(B, T)` and logits `(B, T, V)`. Without a cache the
model reads the whole sequence; with the cache it returned last time it reads only the new
tokens and appends them to it. The cache is the model's own object; decoders use three things
of it (`ModelCache`): `length`, `nbytes` and `reorder(index)`, which keeps the batch rows
`index` (beam search continues the surviving beams).

Two models follow the protocol:

* `TinyCausalLM`: token and learned position embeddings, causal pre-norm blocks of `suite.nn`
  (any `suite.Attention`, grouped key/value heads), a tied output head; its `KVCache` holds one
  `suite.nn.LayerKVCache` per layer, 2·layers·B·Hkv·head_dim·T elements (`kv_cache_bytes`);
* `HFCausalLM`: a HuggingFace causal LM (a `GPT2LMHeadModel` from `tiny_gpt2`, random weights,
  nothing downloaded) behind the same call, transformers' `Cache` (`past_key_values`) as the cache. References run
  `transformers`' own `generate` on `hf_model`, so a from-scratch decoder and its reference
  see the same weights.

Interview point: without a cache, generating n tokens after a prompt of T re-runs attention
over the whole prefix at every step, Σ (T + i)² work in attention; with it each step attends
one query to T + i keys, and the memory price is the cache itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from suite import oracles
from suite.kinds import Attention
from suite.nn import LayerKVCache, TransformerBlock

__all__ = [
    "CausalLM",
    "DenseAttention",
    "HFCache",
    "HFCausalLM",
    "KVCache",
    "LMConfig",
    "ModelCache",
    "TinyCausalLM",
    "kv_cache_bytes",
    "sequence_log_probs",
    "tiny_gpt2",
]


@runtime_checkable
class ModelCache(Protocol):
    """What a decoder may do with the cache a model returns."""

    @property
    def length(self) -> int: ...  # tokens cached

    @property
    def nbytes(self) -> int: ...  # bytes of cached keys and values

    def reorder(self, index: Tensor) -> None: ...  # keep batch rows `index` (long `(B',)`)


class CausalLM(Protocol):
    """`model(input_ids (B, T), cache=None) -> (logits (B, T, V), cache)`; see the module doc."""

    def __call__(
        self, input_ids: Tensor, cache: Any = None
    ) -> tuple[Tensor, Any]: ...  # pragma: no cover


def kv_cache_bytes(
    layers: int, kv_heads: int, head_dim: int, tokens: int, bytes_per_element: int, batch: int = 1
) -> int:
    """2 (keys and values) · layers · B · Hkv · head_dim · T · bytes per element."""
    return 2 * layers * batch * kv_heads * head_dim * tokens * bytes_per_element


class KVCache:
    """One `LayerKVCache` per layer of a `TinyCausalLM`."""

    def __init__(self, layers: int) -> None:
        self.layers = [LayerKVCache() for _ in range(layers)]

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers)

    def reorder(self, index: Tensor) -> None:
        for layer in self.layers:
            layer.reorder(index)


class DenseAttention(Attention):
    """softmax(q kᵀ/√d + bias) v in the inputs' dtype (the code of the suite's float64 oracle):
    the tiny LM's default core, and the kit's models' core."""

    name = "lm-dense"
    summary = "dense attention of suite.oracles, the tiny LM's default core"
    supports_bias: ClassVar[bool] = True

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        return oracles.dense_attention(
            q,
            k,
            v,
            causal=causal,
            key_padding_mask=key_padding_mask,
            attn_bias=attn_bias,
            dtype=q.dtype,
        )


@dataclass
class LMConfig:
    """Size of a `TinyCausalLM`; the defaults generate on a CPU in milliseconds per token."""

    vocab_size: int = 32
    max_len: int = 2048  # rows of the learned position table
    d_model: int = 32
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: as many as n_heads; fewer: grouped-query attention
    n_layers: int = 2
    d_hidden: int = 64  # MLP width
    logit_scale: float = 1.0  # multiplies the logits: > 1 sharpens the next-token distribution


class TinyCausalLM(nn.Module):
    """A decoder-only Transformer of `suite.nn` blocks that follows the causal-LM protocol.

    `attention` (a `suite.Attention` class or instance; default: the dense oracle) is the core of
    every layer. `model(ids)` runs the whole sequence causally; `model(new_ids, cache)` continues
    from the cache, one token at a time once the cache holds a prefix.
    """

    def __init__(
        self, config: LMConfig, attention: type[Attention] | Attention | None = None
    ) -> None:
        super().__init__()
        self.config = config
        core = attention or DenseAttention
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.n_heads,
                core() if isinstance(core, type) else core,
                d_hidden=config.d_hidden,
                n_kv_heads=config.n_kv_heads,
                causal=True,
            )
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)

    @property
    def head_dim(self) -> int:
        return self.config.d_model // self.config.n_heads

    @property
    def kv_heads(self) -> int:
        return self.config.n_kv_heads or self.config.n_heads

    def forward(self, input_ids: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        b, t = input_ids.shape
        if cache is None:
            cache = KVCache(self.config.n_layers)
        past = cache.length
        if past and t > 1:  # a filled cache takes the new tokens one at a time
            outputs = [self.forward(input_ids[:, i : i + 1], cache)[0] for i in range(t)]
            return torch.cat(outputs, dim=1), cache
        if past + t > self.config.max_len:
            raise ValueError(f"sequence length {past + t} exceeds max_len {self.config.max_len}")
        positions = torch.arange(past, past + t, device=input_ids.device).expand(b, t)
        x = self.embed(input_ids) + self.position(positions)  # (B, T, C)
        for block, layer_cache in zip(self.blocks, cache.layers, strict=True):
            x = block(x, positions=positions, cache=layer_cache)
        logits = self.norm(x) @ self.embed.weight.T * self.config.logit_scale  # (B, T, V)
        return logits, cache


class HFCache:
    """A HuggingFace `Cache` (what transformers 4 called `past_key_values`) as a `ModelCache`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def length(self) -> int:
        return int(self.inner.get_seq_length())

    @property
    def nbytes(self) -> int:
        total = 0
        for layer in getattr(self.inner, "layers", []):
            for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(tensor, Tensor):
                    total += tensor.numel() * tensor.element_size()
        return total

    def reorder(self, index: Tensor) -> None:
        self.inner.reorder_cache(index)


class HFCausalLM(nn.Module):
    """A HuggingFace causal LM (`hf_model`) behind the protocol; its cache is transformers' `Cache`."""

    def __init__(self, hf_model: nn.Module) -> None:
        super().__init__()
        self.hf_model = hf_model.eval()

    def forward(self, input_ids: Tensor, cache: HFCache | None = None) -> tuple[Tensor, HFCache]:
        past = None if cache is None else cache.inner
        out = self.hf_model(input_ids=input_ids, cache=past, use_cache=True)
        return out.logits, HFCache(out.cache)


def tiny_gpt2(
    *,
    vocab_size: int = 32,
    n_layer: int = 2,
    n_head: int = 2,
    n_embd: int = 32,
    n_positions: int = 2048,
    seed: int = 0,
    initializer_range: float = 0.5,
) -> HFCausalLM:
    """A randomly initialised `GPT2LMHeadModel` (nothing downloaded), eval mode, in the protocol.

    `initializer_range` well above GPT-2's 0.02 spreads the logits, so that the next-token
    distributions are far from uniform and argmax ties are rare.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        initializer_range=initializer_range,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",  # type: ignore[call-arg]  # a PretrainedConfig kwarg
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return HFCausalLM(model.eval())


@torch.no_grad()
def sequence_log_probs(model: CausalLM, sequences: Tensor, prompt_len: int) -> Tensor:
    """Σ log p(token | prefix) over the tokens after `prompt_len`, per row, float64 `(B,)`."""
    if sequences.shape[1] <= prompt_len:
        return torch.zeros(sequences.shape[0], dtype=torch.float64)
    logits, _ = model(sequences)
    logp = logits[:, prompt_len - 1 : -1].double().log_softmax(-1)  # (B, n, V)
    chosen = sequences[:, prompt_len:, None]
    return logp.gather(-1, chosen).squeeze(-1).sum(-1)
