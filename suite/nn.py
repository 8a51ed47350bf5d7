"""Model-level building blocks around a swappable attention core.

`MultiHeadAttention` owns what every attention variant shares (the q/k/v projections, the split
into heads, grouped key/value heads, the output projection) and delegates the core
`softmax(q kᵀ/√d) v` to any `suite.Attention` instance, so a model-level benchmark can swap
`sdpa` for `sliding-window` or `linear` and change nothing else. `TransformerEncoder` stacks
pre-norm blocks of it with an MLP: small, plain, enough to train a toy task on a CPU.

Interview points:

* multi-head: H heads of size d/H cost the same as one head of size d, yet each head can attend
  to a different position (one tracks syntax, one the previous token);
* GQA/MQA: fewer key/value heads (`n_kv_heads` < `n_heads`) shrink the KV cache by H / Hkv at
  little quality cost; the q projection keeps H heads;
* pre-norm (`x + f(norm(x))`) keeps an identity path through the residual stream and trains
  without warm-up tricks; post-norm (the 2017 original) normalises after the residual add.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite.kinds import Attention

__all__ = ["EncoderConfig", "MultiHeadAttention", "TransformerBlock", "TransformerEncoder"]


class MultiHeadAttention(nn.Module):
    """Projections, heads and output projection around an attention component.

    `forward(x, key_padding_mask=None, context=None)`: x `(B, T, C)`; `context` `(B, S, C)` for
    cross-attention (keys and values from it; default: self-attention on x); `key_padding_mask`
    bool `(B, S)`, True for a real token. Returns `(B, T, C)`.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        attention: Attention,
        *,
        n_kv_heads: int | None = None,
        causal: bool = False,
        bias: bool = True,
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

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, context: Tensor | None = None
    ) -> Tensor:
        bsz, t, _ = x.shape
        source = x if context is None else context
        s = source.shape[1]
        q = (
            self.q_proj(x).view(bsz, t, self.n_heads, self.head_dim).transpose(1, 2)
        )  # (B, H, T, Dh)
        kv = self.kv_proj(source).view(bsz, s, 2, self.n_kv_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, Hkv, S, Dh)
        out = self.attention(
            q, k.contiguous(), v.contiguous(), causal=self.causal, key_padding_mask=key_padding_mask
        )
        return self.out_proj(out.transpose(1, 2).reshape(bsz, t, self.d_model))


class TransformerBlock(nn.Module):
    """Pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`."""

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
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(
            d_model, n_heads, attention, n_kv_heads=n_kv_heads, causal=causal
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), key_padding_mask))
        return x + self.dropout(self.mlp(self.norm2(x)))


@dataclass
class EncoderConfig:
    """Size of a `TransformerEncoder`; the defaults train on a CPU in seconds."""

    vocab_size: int = 32  # token ids in [0, vocab_size)
    max_len: int = 512  # learned positions
    d_model: int = 64
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: as many as n_heads (no GQA)
    n_layers: int = 2
    d_hidden: int = 128  # MLP width
    dropout: float = 0.0
    causal: bool = False


class TransformerEncoder(nn.Module):
    """Token + learned position embeddings, `n_layers` blocks, final norm: `(B, T)` ids -> `(B, T, C)`.

    `attention` is a factory called once per layer, so stateful components (caches) are not shared.
    """

    def __init__(self, config: EncoderConfig, attention: type[Attention] | Attention) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                config.d_model,
                config.n_heads,
                attention() if isinstance(attention, type) else attention,
                d_hidden=config.d_hidden,
                dropout=config.dropout,
                n_kv_heads=config.n_kv_heads,
                causal=config.causal,
            )
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, ids: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        t = ids.shape[1]
        if t > self.config.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len {self.config.max_len}")
        x = self.embed(ids) + self.position(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x, key_padding_mask)
        return self.norm(x)
