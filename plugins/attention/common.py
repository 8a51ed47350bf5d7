"""Helpers every attention component shares: masks and grouped-query reshapes.

The float64 oracle they are all checked against is `suite.oracles.dense_attention`.

Conventions (the contract's, spelled out once):

* q is `(B, H, Tq, D)`, k and v are `(B, Hkv, Tk, D)` with `Hkv` dividing `H`. Query head `h`
  reads key/value head `h // (H // Hkv)`: consecutive query heads share a key/value head, as
  `torch.repeat_interleave(k, H // Hkv, dim=1)` and SDPA's `enable_gqa=True` do.
* `causal=True` lets query `i` see keys `j <= i` (top-left aligned, as `torch.tril` and SDPA's
  `is_causal`); when `Tq != Tk` this is *not* the bottom-right alignment of a KV cache.
* `key_padding_mask` is bool `(B, Tk)`, True for a real token.
* A query row left with no key returns zeros. `masked_softmax` gets there without NaN in the
  forward *or* the backward pass: masked scores are set to the most negative finite number
  (never -inf, whose row max would be -inf and `exp(-inf - -inf)` NaN), and the probabilities
  are multiplied by the mask so that an empty row sums to 0 rather than spreading uniformly.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "combine_masks",
    "group_bias",
    "group_queries",
    "masked_softmax",
    "ungroup_queries",
]


def group_queries(q: Tensor, hkv: int) -> Tensor:
    """`(B, H, T, D)` -> `(B, Hkv, G*T, D)`: the G query heads sharing a key/value head, stacked."""
    b, h, t, d = q.shape
    return q.reshape(b, hkv, (h // hkv) * t, d)


def group_bias(attn_bias: Tensor, hkv: int) -> Tensor:
    """A bias broadcastable to `(B, H, Tq, Tk)` -> `(B|1, Hkv|1, G|1, Tq|1, Tk|1)`, matching
    scores laid out per key/value head and group (query head h = g_kv·G + g)."""
    bias = attn_bias.reshape((1,) * (4 - attn_bias.dim()) + tuple(attn_bias.shape))
    bb, bh, bq, bk = bias.shape
    if bh == 1:
        return bias[:, :, None]  # (B|1, 1, 1, Tq|1, Tk|1)
    return bias.reshape(bb, hkv, bh // hkv, bq, bk)


def ungroup_queries(x: Tensor, h: int) -> Tensor:
    """Inverse of `group_queries`: `(B, Hkv, G*T, D)` -> `(B, H, T, D)`."""
    b, _, gt, d = x.shape
    return x.reshape(b, h, gt * x.shape[1] // h, d)


def combine_masks(
    allowed: Tensor | None,
    tq: int,
    tk: int,
    *,
    causal: bool,
    key_padding_mask: Tensor | None,
    device: torch.device,
) -> Tensor | None:
    """A 4-D bool mask `(B|1, 1, Tq|1, Tk)`, or `None` when every pair is allowed.

    `allowed` is a component's `(Tq, Tk)` pattern (`None` = all pairs). For checks and for the
    dense components only: it is quadratic in memory by construction.
    """
    mask = None if allowed is None else allowed.to(device)[None, None]  # (1, 1, Tq, Tk)
    if causal:
        tril = torch.ones(tq, tk, dtype=torch.bool, device=device).tril()[None, None]
        mask = tril if mask is None else mask & tril
    if key_padding_mask is not None:
        pad = key_padding_mask[:, None, None, :]  # (B, 1, 1, Tk)
        mask = pad if mask is None else mask & pad
    return mask


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim where `mask` is True; rows without a True give zeros, never NaN."""
    if mask is None:
        return scores.softmax(dim=-1)
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=-1) * mask
