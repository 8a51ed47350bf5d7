"""`alibi`: attention with linear biases (Press et al., 2022): a penalty growing with distance."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

import suite
from plugins.positions.common import alibi_slopes, query_key_distance

__all__ = ["ALiBiPosition"]


class _LinearBias(nn.Module):
    slopes: Tensor

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.register_buffer("slopes", alibi_slopes(n_heads).float(), persistent=False)  # (H,)

    def bias(self, tq: int, tk: int) -> Tensor:
        distance = query_key_distance(tq, tk, self.slopes.device).abs()  # (Tq, Tk)
        return -(self.slopes[:, None, None] * distance)[None]  # (1, H, Tq, Tk)


class ALiBiPosition(suite.PositionalEncoding):
    """No embedding at all: add −m_h·|i − j| to the score of query i and key j in head h.

    Interview question: "How does ALiBi let a model trained on short sequences read longer ones?"

    Short answer: nothing positional is learned or looked up: each head penalises distant keys
    linearly, with a fixed slope m_h from a geometric sequence (2^(−8h/H) for H heads), so some
    heads look very locally and others almost uniformly. A longer input only adds keys with
    larger penalties of the same kind the model saw in training, so perplexity stays flat past
    the training length where sinusoidal and learned embeddings blow up (Press et al. train
    short and evaluate at several times the training length).

    Pitfalls:
    * it is defined for causal attention (j ≤ i); this component uses −m|i − j| for the
      pairs after i too (a symmetric bias for bidirectional use). BLOOM adds m·j instead,
      which differs by a constant per row and so gives the same softmax on the causal pairs
      only.
    * slopes for a head count that is not a power of two interleave two geometric sequences
      (see `plugins.positions.common.alibi_slopes`); copying 2^(−8h/H) for H = 12 is a subtle bug.
    * a dense (H, T, T) bias rules out FlashAttention's plain causal fast path unless the kernel
      computes the bias itself (FlashAttention 2 takes the slopes).
    * the bias is recency: tasks that need an exact far position get no help from it.

    Declared: `enters = "bias"`, `relative = True`, `linear_bias = True`. Reference: `hf-alibi`
    (transformers' BLOOM `build_alibi_tensor`), compared on the causal pairs.
    """

    name: ClassVar[str] = "alibi"
    summary: ClassVar[str] = (
        "linear distance penalty −m_h·|i−j| per head on the scores (Press et al.)"
    )
    reference: ClassVar[str | None] = "hf-alibi"
    enters: ClassVar[str] = "bias"
    relative: ClassVar[bool] = True
    linear_bias: ClassVar[bool] = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _LinearBias(n_heads)
