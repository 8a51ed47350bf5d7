"""Helpers the positional encodings share: frequencies, the rotate-half convention, ALiBi slopes.

Conventions (the kind's, spelled out once):

* positions are long `(B, T)`, so that each row may start anywhere (left padding, a KV cache);
* RoPE pairs dimension i with i + D/2 ("rotate half", as Llama and HuggingFace), not 2i with
  2i + 1 (the interleaved GPT-J/Meta original); both are rotations, but weights trained in one
  convention do not work in the other;
* a bias's query i sits at position i + Tk − Tq (bottom-right aligned: the last Tq of Tk tokens).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "ROPE_BASE",
    "SINUSOID_BASE",
    "alibi_slopes",
    "inverse_frequencies",
    "query_key_distance",
    "rotate_half",
    "sinusoid_table",
]

SINUSOID_BASE = 10000.0  # Vaswani et al.: wavelengths from 2π to 10000·2π
ROPE_BASE = 10000.0  # Su et al., Llama 1/2 (Llama 3 uses 500000)


def inverse_frequencies(
    dim: int, base: float, *, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> Tensor:
    """`(ceil(dim/2),)`: base^(−2i/dim) for i = 0, 1, …: one frequency per pair of dimensions."""
    return base ** (-torch.arange(0, dim, 2, dtype=dtype, device=device) / dim)


def sinusoid_table(positions: Tensor, d_model: int, base: float = SINUSOID_BASE) -> Tensor:
    """PE(p, 2i) = sin(p·ω_i), PE(p, 2i+1) = cos(p·ω_i), ω_i = base^(−2i/d), in float64.

    `positions` any shape `(...)` -> `(..., d_model)`; an odd d_model drops the last cosine.
    """
    angles = positions.to(torch.float64)[..., None] * inverse_frequencies(
        d_model, base, device=positions.device
    )  # (..., ceil(d/2))
    table = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # interleaved
    return table[..., :d_model]


def rotate_half(x: Tensor) -> Tensor:
    """`(x1, x2) -> (−x2, x1)` on the two halves of the last dim: multiplication by i."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def alibi_slopes(n_heads: int) -> Tensor:
    """ALiBi's per-head slopes (float64): a geometric sequence 2^(−8h/n), h = 1..n, for n a power
    of two; otherwise those of the closest power p below n, then every other slope of 2p
    (2^(−8(2j−1)/(2p)), as Press et al.'s reference code and BLOOM's `build_alibi_tensor`)."""
    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = [2.0 ** (-8.0 * h / closest) for h in range(1, closest + 1)]
    extra = [2.0 ** (-8.0 * h / (2 * closest)) for h in range(1, 2 * closest, 2)]
    return torch.tensor(slopes + extra[: n_heads - closest], dtype=torch.float64)


def query_key_distance(tq: int, tk: int, device: torch.device | None = None) -> Tensor:
    """`(Tq, Tk)` long: query position − key position, queries bottom-right aligned."""
    q = torch.arange(tk - tq, tk, device=device)[:, None]
    return q - torch.arange(tk, device=device)[None, :]
