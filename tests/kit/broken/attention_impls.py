"""Deliberately broken attention, one bug each; the kit test names the property that must catch it."""

from __future__ import annotations

import math

import torch
from torch import Tensor

import suite


def _dense(
    q,
    k,
    v,
    *,
    causal,
    mask,
    scale,
    causal_offset=0,
    use_mask=True,
    zero_empty=True,
    interleave=True,
):
    g = q.shape[1] // k.shape[1]
    if interleave:
        k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    else:  # tiles the kv heads: query head h reads kv head h % Hkv
        k, v = k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1)
    scores = q @ k.transpose(-2, -1) * scale
    tq, tk = scores.shape[-2:]
    allowed = torch.ones(tq, tk, dtype=torch.bool)
    if causal:
        allowed = torch.ones(tq, tk, dtype=torch.bool).tril(causal_offset)
    allowed = allowed[None, None]
    if mask is not None and use_mask:
        allowed = allowed & mask[:, None, None, :]
    weights = torch.softmax(scores.masked_fill(~allowed, -math.inf), -1)
    if zero_empty:
        weights = weights.nan_to_num(0.0)
    return weights @ v


class _Broken(suite.Attention):
    reference = "sdpa"
    bug: dict = {}

    def forward(self, q, k, v, *, causal=False, key_padding_mask=None) -> Tensor:
        options = {"scale": q.shape[-1] ** -0.5, **self.bug}
        return _dense(q, k, v, causal=causal, mask=key_padding_mask, **options)


class MissingScale(_Broken):
    name = "broken-missing-scale"
    summary = "forgets to divide the scores by √d"
    bug = {"scale": 1.0}


class CausalLeak(_Broken):
    name = "broken-causal-leak"
    summary = "causal mask off by one: position i sees i + 1"
    bug = {"causal_offset": 1}


class IgnoresPadding(_Broken):
    name = "broken-ignores-padding"
    summary = "ignores key_padding_mask"
    bug = {"use_mask": False}


class NanOnPaddedRows(_Broken):
    name = "broken-nan-rows"
    summary = "softmax over all -inf gives NaN on fully padded rows"
    bug = {"zero_empty": False}


class TiledHeads(_Broken):
    name = "broken-tiled-heads"
    summary = "GQA with kv heads tiled (h % Hkv) instead of grouped (h // G)"
    bug = {"interleave": False}


#: broken class -> the property that must catch it
EXPECTED = {
    MissingScale: "attention.scale",
    CausalLeak: "attention.causal-no-leak",
    IgnoresPadding: "attention.padding-ignored",
    NanOnPaddedRows: "attention.no-nan-padded-rows",
    TiledHeads: "attention.gqa-shapes",
}
