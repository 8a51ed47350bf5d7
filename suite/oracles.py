"""The float64 oracles every component of a kind is checked against, one per kind that has one.

`dense_attention` is the definition of attention the kit, the benchmarks and the tests agree on:
full `(Tq, Tk)` scores in float64 under a component's `pattern`, the causal mask (top-left
aligned, as PyTorch SDPA's `is_causal`) and the key-padding mask; a query row with no key gives
zeros. It is quadratic in time and memory on purpose. `attended_pairs` counts the pairs a
pattern computes, the default behind `suite.Attention.attended_pairs`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["attended_pairs", "dense_attention"]


def dense_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pattern: Tensor | None = None,
    *,
    causal: bool = False,
    key_padding_mask: Tensor | None = None,
    scale: float | None = None,
    dtype: torch.dtype = torch.float64,
    attn_bias: Tensor | None = None,
) -> Tensor:
    """softmax(q kᵀ · scale + attn_bias) v in `dtype` (float64 by default) over the allowed pairs.

    Allowed = `pattern` (bool `(Tq, Tk)`, `None` = every pair) & causal (key j <= query i) &
    real keys (`key_padding_mask` bool `(B, Tk)`, True = real). Key/value head g serves query
    heads g·r .. g·r + r - 1 (r = H / Hkv). `scale` defaults to 1/√D. Masked scores are filled
    with the most negative finite number and the probabilities multiplied by the mask, so an
    empty row is exactly zero in the forward and the backward pass (never NaN). `attn_bias`
    (broadcastable to `(B, H, Tq, Tk)`) is added to the scaled scores before the masks.
    """
    qd, kd, vd = (x.to(dtype) for x in (q, k, v))
    heads, tq, dim = q.shape[1], q.shape[2], q.shape[3]
    tk = k.shape[2]
    if k.shape[1] != heads:
        group = heads // k.shape[1]
        kd = kd.repeat_interleave(group, dim=1)
        vd = vd.repeat_interleave(group, dim=1)
    scores = qd @ kd.transpose(-1, -2)  # (B, H, Tq, Tk)
    scores = scores / math.sqrt(dim) if scale is None else scores * scale
    if attn_bias is not None:  # broadcastable to (B, H, Tq, Tk): ALiBi, T5 buckets
        scores = scores + attn_bias.to(device=scores.device, dtype=dtype)
    allowed: Tensor | None = None  # (B|1, 1, Tq|1, Tk)
    if pattern is not None:
        allowed = pattern.to(device=q.device, dtype=torch.bool)[None, None]
    if causal:
        tril = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril()[None, None]
        allowed = tril if allowed is None else allowed & tril
    if key_padding_mask is not None:
        pad = key_padding_mask.to(q.device)[:, None, None, :]
        allowed = pad if allowed is None else allowed & pad
    if allowed is None:
        return scores.softmax(dim=-1) @ vd
    filled = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return (filled.softmax(dim=-1) * allowed) @ vd


def attended_pairs(pattern: Tensor | None, tq: int, tk: int, *, causal: bool) -> int:
    """Number of (query, key) pairs computed under `pattern` (`None` = all) and the causal mask."""
    if pattern is None:
        if not causal:
            return tq * tk
        full_rows = max(tq - tk, 0)  # query i sees keys 0..min(i, tk-1)
        tri = min(tq, tk)
        return tri * (tri + 1) // 2 + full_rows * tk
    allowed = pattern.to(torch.bool)
    if causal:
        allowed = allowed & torch.ones(tq, tk, dtype=torch.bool, device=allowed.device).tril()
    return int(allowed.sum())
