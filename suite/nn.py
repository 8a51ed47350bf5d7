"""Model-level building blocks around a swappable attention core.

`MultiHeadAttention` owns what every attention variant shares (the q/k/v projections, the split
into heads, grouped key/value heads, the output projection) and delegates the core
`softmax(q kᵀ/√d) v` to any `suite.Attention` instance, so a model-level benchmark can swap
`sdpa` for `sliding-window` or `linear` and change nothing else. `TransformerEncoder` stacks
pre-norm blocks of it with an MLP: small, plain, enough to train a toy task on a CPU.

Positions are swappable the same way: give the encoder a `suite.PositionalEncoding` and its
module enters where the method says: `embed` at the input, `rotate` on q and k in every
`MultiHeadAttention`, `bias` added to the scores through the attention's `attn_bias`. Without
one the encoder keeps its learned table of absolute positions (`position`).

Interview points:

* multi-head: H heads of size d/H cost the same as one head of size d, yet each head can attend
  to a different position (one tracks syntax, one the previous token);
* GQA/MQA: fewer key/value heads (`n_kv_heads` < `n_heads`) shrink the KV cache by H / Hkv at
  little quality cost; the q projection keeps H heads;
* pre-norm (`x + f(norm(x))`) keeps an identity path through the residual stream and trains
  without warm-up tricks; post-norm (the 2017 original) normalises after the residual add.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from suite.kinds import Attention, PositionalEncoding, PositionModule

__all__ = [
    "EncoderConfig",
    "LayerKVCache",
    "MultiHeadAttention",
    "TransformerBlock",
    "TransformerEncoder",
]


class LayerKVCache:
    """The keys and values one self-attention layer has seen, each `(B, Hkv, T, Dh)`.

    Decoding appends one token's keys and values per step instead of recomputing the whole
    prefix: a step then costs O(T) attention instead of an O(T²) re-run. It holds
    2·B·Hkv·Dh·T elements (`nbytes`), so grouped-query attention (Hkv < H) shrinks it by H / Hkv.
    Keys are stored after the positional rotation, at the positions they were computed at.
    """

    def __init__(self) -> None:
        self.k: Tensor | None = None  # (B, Hkv, T, Dh)
        self.v: Tensor | None = None  # (B, Hkv, T, Dh)

    @property
    def length(self) -> int:
        """Tokens cached so far."""
        return 0 if self.k is None else self.k.shape[2]

    @property
    def nbytes(self) -> int:
        """Bytes the cached keys and values occupy."""
        if self.k is None or self.v is None:
            return 0
        return self.k.numel() * self.k.element_size() + self.v.numel() * self.v.element_size()

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add the new tokens' keys and values; return everything cached, new ones last."""
        if self.k is None or self.v is None:
            self.k, self.v = k.contiguous(), v.contiguous()
        else:
            self.k, self.v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        return self.k, self.v

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows `index` (long `(B',)`), in that order: beam search's survivors."""
        if self.k is not None and self.v is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


class MultiHeadAttention(nn.Module):
    """Projections, heads and output projection around an attention component.

    `forward(x, key_padding_mask=None, context=None, positions=None)`: x `(B, T, C)`; `context`
    `(B, S, C)` for cross-attention (keys and values from it; default: self-attention on x);
    `key_padding_mask` bool `(B, S)`, True for a real token. Returns `(B, T, C)`. With a
    `position` module (what `PositionalEncoding.build` returns), self-attention rotates q and k
    at `positions` (long `(B, T)`, default 0..T-1) and adds its `bias(T, T)` to the scores.
    Prefix tuning enters through `prefix` (`None` by default): a callable taking the batch
    size that returns learned keys and values `(B, Hkv, P, Dh)`, prepended to the sequence's
    own in self-attention (after rotation and the cache: prefixes sit at no position).
    """

    #: The prefix entry point exists: `suite.PEFT` methods of `target_kind` "attention" use it.
    accepts_prefix: ClassVar[bool] = True

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        attention: Attention,
        *,
        n_kv_heads: int | None = None,
        causal: bool = False,
        bias: bool = True,
        position: PositionModule | None = None,
    ) -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if n_kv_heads < 1 or n_heads % n_kv_heads:
            raise ValueError(f"n_kv_heads ({n_kv_heads}) must divide n_heads ({n_heads})")
        self.d_model, self.n_heads, self.n_kv_heads = d_model, n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.attention = attention
        self.causal = causal
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.kv_proj = nn.Linear(d_model, 2 * n_kv_heads * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.position = position  # rotate / bias entry points of a positional encoding, or None
        self.prefix: Callable[[int], tuple[Tensor, Tensor]] | None = None  # prefix tuning

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        context: Tensor | None = None,
        positions: Tensor | None = None,
        cache: LayerKVCache | None = None,
    ) -> Tensor:
        bsz, t, _ = x.shape
        source = x if context is None else context
        s = source.shape[1]
        past = 0 if cache is None else cache.length  # tokens already in the KV cache
        if cache is not None and (context is not None or (past and t > 1 and self.causal)):
            raise ValueError(
                f"a KV cache serves causal self-attention fed one token at a time once filled; got "
                f"{t} new tokens after {past} cached{' and a context' if context is not None else ''}"
            )
        q = (
            self.q_proj(x).view(bsz, t, self.n_heads, self.head_dim).transpose(1, 2)
        )  # (B, H, T, Dh)
        kv = self.kv_proj(source).view(bsz, s, 2, self.n_kv_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, Hkv, S, Dh)
        extra: dict[str, Tensor] = {}
        if self.position is not None and context is None:  # positions of self-attention only
            if positions is None:
                positions = torch.arange(past, past + t, device=x.device).expand(bsz, t)
            q, k = self.position.rotate(q, k, positions, positions)
        if cache is not None:  # keys and values of every token so far, the new ones last
            k, v = cache.append(k, v)
            s = k.shape[2]
        causal = self.causal and past == 0  # one new token after the cache sees every key
        prefixed = self.prefix is not None and context is None
        if prefixed:  # prefix tuning: P learned keys and values before the sequence's own
            assert self.prefix is not None
            k, v, key_padding_mask = _prepend_prefix(self.prefix(bsz), k, v, key_padding_mask)
            s = k.shape[2]
        if self.position is not None and context is None:
            attn_bias = self.position.bias(t, s)
            if attn_bias is not None:
                extra["attn_bias"] = attn_bias
        if prefixed and causal:  # queries see every prefix and the keys up to their own
            extra["attn_bias"] = _causal_bias(t, s, q) + extra.get("attn_bias", 0.0)
            causal = False
        out = self.attention(
            q,
            k.contiguous(),
            v.contiguous(),
            causal=causal,
            key_padding_mask=key_padding_mask,
            **extra,
        )
        return self.out_proj(out.transpose(1, 2).reshape(bsz, t, self.d_model))


def _prepend_prefix(
    prefix: tuple[Tensor, Tensor], k: Tensor, v: Tensor, key_padding_mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """k, v `(B, Hkv, S, Dh)` with the prefix's `(B, Hkv, P, Dh)` in front; the mask marks them real."""
    prefix_k, prefix_v = prefix
    k = torch.cat([prefix_k.to(k.dtype), k], dim=2)
    v = torch.cat([prefix_v.to(v.dtype), v], dim=2)
    if key_padding_mask is not None:
        real = key_padding_mask.new_ones(key_padding_mask.shape[0], prefix_k.shape[2])
        key_padding_mask = torch.cat([real, key_padding_mask], dim=1)
    return k, v, key_padding_mask


def _causal_bias(tq: int, tk: int, like: Tensor) -> Tensor:
    """`(1, 1, Tq, Tk)`: 0 where key j <= query i + (Tk - Tq) (bottom-right aligned), else -inf."""
    allowed = torch.ones(tq, tk, dtype=torch.bool, device=like.device).tril(diagonal=tk - tq)
    bias = torch.zeros(tq, tk, dtype=like.dtype, device=like.device)
    return bias.masked_fill(~allowed, float("-inf"))[None, None]


class TransformerBlock(nn.Module):
    """Pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

    #: The residual branches (`suite.PEFT` methods of `target_kind` "sublayer" wrap them).
    sublayers: ClassVar[tuple[str, ...]] = ("attn", "mlp")

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        attention: Attention,
        *,
        d_hidden: int,
        dropout: float = 0.0,
        n_kv_heads: int | None = None,
        causal: bool = False,
        position: PositionModule | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(
            d_model, n_heads, attention, n_kv_heads=n_kv_heads, causal=causal, position=position
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        key_padding_mask: Tensor | None = None,
        positions: Tensor | None = None,
        cache: LayerKVCache | None = None,
    ) -> Tensor:
        attended = self.attn(self.norm1(x), key_padding_mask, positions=positions, cache=cache)
        x = x + self.dropout(attended)
        return x + self.dropout(self.mlp(self.norm2(x)))


@dataclass
class EncoderConfig:
    """Size of a `TransformerEncoder`; the defaults train on a CPU in seconds."""

    vocab_size: int = 32  # token ids in [0, vocab_size)
    max_len: int = 512  # positions the encoding is built for (the learned table's rows)
    d_model: int = 64
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: as many as n_heads (no GQA)
    n_layers: int = 2
    d_hidden: int = 128  # MLP width
    dropout: float = 0.0
    causal: bool = False


class TransformerEncoder(nn.Module):
    """Token + position embeddings, `n_layers` blocks, final norm: `(B, T)` ids -> `(B, T, C)`.

    `attention` is a factory called once per layer, so stateful components (caches) are not shared.
    `position` (a `suite.PositionalEncoding` class or instance) is built once and shared by every
    layer (`positional`); `None` keeps the learned absolute table `position` of the original.
    """

    def __init__(
        self,
        config: EncoderConfig,
        attention: type[Attention] | Attention,
        position: type[PositionalEncoding] | PositionalEncoding | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.position: nn.Embedding | None = None
        self.positional: PositionModule | None = None
        if position is None:
            self.position = nn.Embedding(config.max_len, config.d_model)
        else:
            encoding = position() if isinstance(position, type) else position
            built = encoding.build(config.d_model, config.n_heads, config.max_len)
            assert isinstance(built, PositionModule)  # the base class wraps what build returns
            self.positional = built
        self.blocks = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.n_heads,
                attention() if isinstance(attention, type) else attention,
                d_hidden=config.d_hidden,
                dropout=config.dropout,
                n_kv_heads=config.n_kv_heads,
                causal=config.causal,
                position=self.positional,
            )
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)

    def forward(
        self, ids: Tensor, key_padding_mask: Tensor | None = None, positions: Tensor | None = None
    ) -> Tensor:
        """`positions` long `(B, T)` (default 0..T-1): where each token sits, for the encoding.

        Prompt tuning replaces `embed` by a module returning `(B, P + T, C)`: the P learned
        vectors come first, at positions 0..P-1, are attended to as real tokens, and are left
        out of the output, which stays `(B, T, C)`."""
        b, t = ids.shape
        tokens = self.embed(ids)  # (B, P + T, C): P > 0 under prompt tuning
        prompt = tokens.shape[1] - t
        if prompt:
            if positions is not None:
                start = torch.arange(prompt, device=ids.device).expand(b, prompt)
                positions = torch.cat([start, positions + prompt], dim=1)
            if key_padding_mask is not None:
                real = key_padding_mask.new_ones(b, prompt)
                key_padding_mask = torch.cat([real, key_padding_mask], dim=1)
            t += prompt
        if positions is None:
            positions = torch.arange(t, device=ids.device).expand(b, t)
        if self.positional is None:
            assert self.position is not None
            if t > self.config.max_len:
                raise ValueError(f"sequence length {t} exceeds max_len {self.config.max_len}")
            x = tokens + self.position(positions)
        else:  # a bounded encoding (a learned table) rejects positions >= max_len itself
            x = self.positional.embed(tokens, positions)
        for block in self.blocks:
            x = block(x, key_padding_mask, positions=positions)
        return self.norm(x)[:, prompt:]
