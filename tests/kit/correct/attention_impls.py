"""Correct attention written differently from the built-ins: online softmax over key blocks
(the FlashAttention recurrence), grouped heads by reshaping instead of repeating, and a local
window attention computed one query at a time."""

from __future__ import annotations

import math

import torch
from torch import Tensor

import suite


class BlockwiseAttention(suite.Attention):
    """Online-softmax attention: keys in blocks, running max and normaliser (FlashAttention)."""

    name = "kit-blockwise"
    summary = "online softmax over key blocks"
    reference = "sdpa"
    block = 3

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        dtype = q.dtype
        work = torch.promote_types(dtype, torch.float32)  # accumulate bfloat16 in float32
        q, k, v = q.to(work), k.to(work), v.to(work)
        b, h, tq, d = q.shape
        hkv, tk = k.shape[1], k.shape[2]
        g = h // hkv
        qg = q.reshape(b, hkv, g, tq, d)  # (B, Hkv, G, Tq, D): query head = kv head * G + i
        out = torch.zeros_like(qg)
        running_max = torch.full((b, hkv, g, tq, 1), -math.inf, dtype=work)
        normaliser = torch.zeros(b, hkv, g, tq, 1, dtype=work)
        for start in range(0, tk, self.block):
            stop = min(start + self.block, tk)
            scores = torch.einsum("bngqd,bnkd->bngqk", qg, k[:, :, start:stop]) / math.sqrt(d)
            allowed = torch.ones(tq, stop - start, dtype=torch.bool)
            if causal:
                allowed = torch.arange(start, stop)[None, :] <= torch.arange(tq)[:, None]
            allowed = allowed.expand(b, hkv, g, tq, stop - start)
            if key_padding_mask is not None:
                allowed = allowed & key_padding_mask[:, None, None, None, start:stop]
            scores = scores.masked_fill(~allowed, -math.inf)
            new_max = torch.maximum(running_max, scores.amax(-1, keepdim=True))
            safe_max = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
            weights = torch.exp(scores - safe_max)
            correction = torch.exp(
                torch.where(
                    torch.isinf(running_max),
                    torch.full_like(running_max, -math.inf),
                    running_max - safe_max,
                )
            )
            normaliser = normaliser * correction + weights.sum(-1, keepdim=True)
            out = out * correction + torch.einsum("bngqk,bnkd->bngqd", weights, v[:, :, start:stop])
            running_max = new_max
        out = torch.where(normaliser > 0, out / normaliser.clamp(min=1e-30), torch.zeros_like(out))
        return out.reshape(b, h, tq, d).to(dtype)


class LocalWindowAttention(suite.Attention):
    """Each query attends to keys within distance 2, computed query by query."""

    name = "kit-local-window"
    summary = "window of ±2 keys, one query at a time"
    reference = "sdpa"
    radius = 2

    def pattern(self, tq: int, tk: int) -> Tensor:
        i = torch.arange(tq)[:, None]
        j = torch.arange(tk)[None, :]
        return (i - j).abs() <= self.radius

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        _, h, tq, d = q.shape
        g = h // k.shape[1]
        k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
        out = torch.zeros_like(q)
        for i in range(tq):
            lo, hi = max(0, i - self.radius), min(k.shape[2], i + self.radius + 1)
            if causal:
                hi = min(hi, i + 1)
            if lo >= hi:
                continue
            scores = torch.einsum("bhd,bhkd->bhk", q[:, :, i], k[:, :, lo:hi]) * d**-0.5
            if key_padding_mask is not None:
                scores = scores.masked_fill(~key_padding_mask[:, None, lo:hi], -math.inf)
            weights = torch.softmax(scores, -1).nan_to_num(0.0)
            out[:, :, i] = torch.einsum("bhk,bhkd->bhd", weights, v[:, :, lo:hi])
        return out


@suite.hookimpl
def register_components(register):
    register(BlockwiseAttention)
    register(LocalWindowAttention)
