"""`naive`: attention written out by hand, the way an interviewer expects it on a whiteboard."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor

import suite
from plugins.attention.common import (
    combine_masks,
    group_bias,
    group_queries,
    masked_softmax,
    ungroup_queries,
)
from suite.dtypes import compute_dtype

__all__ = ["NaiveAttention"]


class NaiveAttention(suite.Attention):
    """Scaled dot-product attention, step by step: matmul, scale, mask, softmax, matmul.

    Interview question: "Write multi-head attention by hand. Why divide by √d_k?"

    Short answer: `Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + M) V`. For q and k with
    independent unit-variance entries, `q·k` is a sum of d_k products of variance 1, so its
    variance is d_k and its spread √d_k. Unscaled, the logits grow with the head size, softmax
    saturates towards one-hot and its gradient (p(1 − p)) vanishes; dividing by √d_k brings the
    logits back to unit variance whatever the head size.

    Masks a Transformer needs: a *key-padding* mask (batching sequences of different lengths:
    no query may read a pad), a *causal* mask in a decoder (position i sees j ≤ i, so training
    in parallel cannot peek at the future), and their conjunction. Cross-attention needs only
    the padding mask of the source.

    Grouped-query attention (GQA, MQA when Hkv = 1): several query heads share one key/value
    head, dividing the KV cache by H / Hkv. Written here without copying k and v: the G query
    heads of a group are stacked along the time axis and meet their shared k in one matmul.

    Pitfalls:
    * masking with `-inf` makes a fully masked row `softmax([-inf, …]) = NaN` (a padded query,
      or a sliding window over pads); this version fills with the most negative finite number and
      multiplies the probabilities by the mask, so such a row is exactly zero, in the forward and
      the backward pass.
    * the cost is O(T² d) time and O(T²) memory for the score matrix: at T = 32k and 16 heads in
      fp32 that is 64 GiB. Flash attention keeps the same arithmetic but never stores the matrix.
    * compute the softmax in float32 when inputs are bf16/fp16.
    """

    name: ClassVar[str] = "naive"
    summary: ClassVar[str] = "explicit matmul, scale, mask, softmax, matmul (O(T²) memory)"
    reference: ClassVar[str | None] = "sdpa"
    materializes_scores: ClassVar[bool] = True
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
        b, h, tq, d = q.shape
        hkv, tk = k.shape[1], k.shape[2]
        qg = group_queries(q, hkv)  # (B, Hkv, G*Tq, D)
        scores = (qg @ k.transpose(-1, -2)) / math.sqrt(d)  # (B, Hkv, G*Tq, Tk)
        scores = scores.view(b, hkv, h // hkv, tq, tk)  # (B, Hkv, G, Tq, Tk)
        scores = scores.to(compute_dtype(scores))  # softmax in fp32 at least
        if attn_bias is not None:  # added after the scale, before the mask
            scores = scores + group_bias(attn_bias, hkv).to(scores.dtype)
        mask = combine_masks(
            None, tq, tk, causal=causal, key_padding_mask=key_padding_mask, device=q.device
        )
        if mask is not None:
            mask = mask.unsqueeze(2)  # (B|1, 1, 1, Tq|1, Tk): broadcast over Hkv and G
        probs = masked_softmax(scores, mask).to(v.dtype)
        out = probs.view(b, hkv, -1, tk) @ v  # (B, Hkv, G*Tq, D)
        return ungroup_queries(out, h)
