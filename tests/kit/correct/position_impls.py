"""Correct positional encodings written differently from the built-ins: RoPE as multiplication
by unit complex numbers, and ALiBi as a per-key ramp m_h·j (BLOOM's form, equal up to a row
constant on the causal pairs)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import suite


class _ComplexRotary(nn.Module):
    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.half = head_dim // 2
        self.theta = 10000.0 ** (-torch.arange(self.half, dtype=torch.float64) * 2 / head_dim)

    def _turn(self, x: Tensor, positions: Tensor) -> Tensor:
        # dimension i and i + D/2 are the real and imaginary parts of one complex number
        z = torch.complex(x[..., : self.half].double(), x[..., self.half :].double())
        angle = positions.double()[:, None, :, None] * self.theta  # (B, 1, T, D/2)
        z = z * torch.polar(torch.ones_like(angle), angle)
        return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)

    def rotate(self, q: Tensor, k: Tensor, pq: Tensor, pk: Tensor) -> tuple[Tensor, Tensor]:
        return self._turn(q, pq), self._turn(k, pk)


class ComplexRoPE(suite.PositionalEncoding):
    name = "kit-complex-rope"
    summary = "RoPE as complex multiplication"
    reference = "hf-rope"
    enters = "rotation"
    relative = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _ComplexRotary(d_model // n_heads)


class _KeyRamp(nn.Module):
    def __init__(self, n_heads: int) -> None:
        super().__init__()
        p = 2 ** math.floor(math.log2(n_heads))
        slopes = [2 ** (-8 * (h + 1) / p) for h in range(p)]
        slopes += [2 ** (-4 * (2 * h + 1) / p) for h in range(n_heads - p)]
        self.slopes = torch.tensor(slopes)

    def bias(self, tq: int, tk: int) -> Tensor:
        ramp = torch.arange(tk, dtype=torch.float32)  # m_h·j: the row constant cancels
        return (self.slopes[:, None, None] * ramp).expand(-1, tq, -1)[None]


class KeyRampALiBi(suite.PositionalEncoding):
    name = "kit-key-ramp-alibi"
    summary = "ALiBi as a per-key ramp"
    reference = "alibi"
    enters = "bias"
    relative = True
    linear_bias = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _KeyRamp(n_heads)
