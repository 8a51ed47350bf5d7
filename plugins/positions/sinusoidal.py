"""`sinusoidal`: the fixed sine/cosine position vectors of "Attention Is All You Need"."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

import suite
from plugins.positions.common import SINUSOID_BASE, sinusoid_table

__all__ = ["SinusoidalPosition"]


class _SinusoidTable(nn.Module):
    table: Tensor

    def __init__(self, d_model: int, max_len: int, base: float) -> None:
        super().__init__()
        self.d_model, self.base = d_model, base
        # computed once in float64, stored in float32: angles up to max_len radians keep their digits
        table = sinusoid_table(torch.arange(max_len), d_model, base).to(torch.float32)
        self.register_buffer("table", table, persistent=False)  # (max_len, C)

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        if positions.numel() and int(positions.max()) >= self.table.shape[0]:
            pe = sinusoid_table(positions, self.d_model, self.base)  # past the table: on the fly
        else:
            pe = self.table[positions]  # (B, T, C)
        return x + pe.to(x.dtype)


class SinusoidalPosition(suite.PositionalEncoding):
    """x + PE(p) with PE(p, 2i) = sin(p ω_i), PE(p, 2i+1) = cos(p ω_i), ω_i = 10000^(−2i/d).

    Interview question: "Why sines and cosines of geometrically spaced frequencies?"

    Short answer: each pair (sin p ω, cos p ω) is a point on a circle turning at speed ω; the
    wavelengths run from 2π to 10000·2π, so low dimensions tell neighbours apart and high ones
    count coarse position, like the digits of a clock. Shifting by k turns every pair by the
    angle k ω: PE(p + k) = M_k PE(p) with M_k block-diagonal rotations that do not depend on p.
    Vaswani et al. chose it hoping attention could use that linear map to read relative
    offsets, and for having a vector for any position, even past the training length.

    Pitfalls:
    * it is added to the token embedding, so position and content share the same dimensions
      and q·k mixes them (content-position cross terms); RoPE keeps them apart.
    * in float16/bfloat16 the angle p ω loses its digits for long positions: compute in float32
      or float64 and cast (here: a float64-computed table, stored in float32).
    * "it extrapolates" is optimistic: the vectors exist past the training length, but the
      network has never seen them; accuracy still drops (see `position-extrapolation`).

    Declared: `enters = "embedding"`, `shift_linear = True` (PE(p + k) = M_k PE(p)).
    Its reference is `sinusoidal-float64`, the same formula evaluated in float64 on every call.
    """

    name: ClassVar[str] = "sinusoidal"
    summary: ClassVar[str] = "fixed sin/cos of geometric frequencies added to x (Vaswani et al.)"
    reference: ClassVar[str | None] = "sinusoidal-float64"
    enters: ClassVar[str] = "embedding"
    shift_linear: ClassVar[bool] = True

    def __init__(self, *, base: float = SINUSOID_BASE) -> None:
        if base <= 1:
            raise ValueError(f"sinusoidal: base must be > 1, got {base}")
        self.base = base  # the longest wavelength is base·2π

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _SinusoidTable(d_model, max_len, self.base)
