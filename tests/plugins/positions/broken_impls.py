"""Deliberately broken positional encodings, each caught by the kit property named in `EXPECTED`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite
from plugins.positions.alibi import ALiBiPosition
from plugins.positions.common import alibi_slopes, inverse_frequencies, query_key_distance
from plugins.positions.sinusoidal import SinusoidalPosition


class _Interleaved(nn.Module):
    """RoPE with GPT-J's interleaved pairs (2i, 2i + 1): a rotation, but not Llama's."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.theta = inverse_frequencies(head_dim, 10000.0)

    def _turn(self, x: Tensor, positions: Tensor) -> Tensor:
        angle = positions.double()[:, None, :, None] * self.theta  # (B, 1, T, D/2)
        even, odd = x[..., 0::2].double(), x[..., 1::2].double()
        out = torch.stack(
            [even * angle.cos() - odd * angle.sin(), even * angle.sin() + odd * angle.cos()], -1
        )
        return out.flatten(-2).to(x.dtype)

    def rotate(self, q: Tensor, k: Tensor, pq: Tensor, pk: Tensor) -> tuple[Tensor, Tensor]:
        return self._turn(q, pq), self._turn(k, pk)


class InterleavedRoPE(suite.PositionalEncoding):
    name = "broken-rope-interleaved"
    summary = "GPT-J pairs, checked against the rotate-half reference"
    reference = "hf-rope"
    enters = "rotation"
    relative = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Interleaved(d_model // n_heads)


class _Scaled(_Interleaved):
    def rotate(self, q: Tensor, k: Tensor, pq: Tensor, pk: Tensor) -> tuple[Tensor, Tensor]:
        # "rotates" by multiplying with cos + sin: not orthogonal
        cq = (pq.double()[:, None, :, None] * self.theta).cos().repeat_interleave(2, -1)
        ck = (pk.double()[:, None, :, None] * self.theta).cos().repeat_interleave(2, -1)
        return (q * (1 + cq)).to(q.dtype), (k * (1 + ck)).to(k.dtype)


class ScaledRoPE(suite.PositionalEncoding):
    name = "broken-rope-scales"
    summary = "multiplies by 1 + cos(pθ) instead of rotating"
    reference = None
    enters = "rotation"

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Scaled(d_model // n_heads)


class _PowerOfTwoSlopes(nn.Module):
    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.slopes = 2.0 ** (-8.0 * torch.arange(1, n_heads + 1) / n_heads)  # wrong unless 2^k

    def bias(self, tq: int, tk: int) -> Tensor:
        return -(self.slopes[:, None, None] * query_key_distance(tq, tk).abs())[None].float()


class NaiveSlopesALiBi(suite.PositionalEncoding):
    name = "broken-alibi-naive-slopes"
    summary = "2^(-8h/H) for every H, which is not ALiBi's sequence when H is not a power of two"
    reference = "hf-alibi"
    enters = "bias"
    relative = True
    linear_bias = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _PowerOfTwoSlopes(n_heads)


class _Squared(nn.Module):
    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.slopes = alibi_slopes(n_heads).float()

    def bias(self, tq: int, tk: int) -> Tensor:
        return -(self.slopes[:, None, None] * query_key_distance(tq, tk).float() ** 2)[None]


class SquaredALiBi(ALiBiPosition):
    name = "broken-alibi-squared"
    summary = "penalty grows with the squared distance but declares linear_bias"
    reference = None

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Squared(n_heads)


class UndeclaredSinusoid(SinusoidalPosition):
    name = "broken-sinusoid-declares-none"
    summary = "adds sinusoids but declares enters = 'none'"
    reference = None
    enters = "none"
    shift_linear = False


class _Random(nn.Module):
    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.table = torch.randn(max_len, d_model, generator=torch.Generator().manual_seed(0))

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        return x + self.table[positions]


class RandomTableClaimsShiftLinear(suite.PositionalEncoding):
    name = "broken-random-table-shift-linear"
    summary = "a random table declared shift_linear"
    enters = "embedding"
    shift_linear = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Random(d_model, max_len)


class _Nothing(nn.Module):
    pass


class SilentRoPE(suite.PositionalEncoding):
    name = "broken-rope-does-nothing"
    summary = "declares a rotation and leaves q and k alone"
    enters = "rotation"
    relative = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Nothing()


EXPECTED = {
    InterleavedRoPE: ("position.reference-agreement", "rotated q/k differ from hf-rope"),
    ScaledRoPE: ("position.rotation-norms", "a rotation preserves norms"),
    NaiveSlopesALiBi: ("position.reference-agreement", "causal attention probabilities"),
    SquaredALiBi: ("position.linear-bias", "misses −m_h·(i − j)"),
    UndeclaredSinusoid: ("position.declared-entry-point", "its embedding entry point changed"),
    RandomTableClaimsShiftLinear: ("position.shift-linear", "no fixed matrix maps PE(p)"),
    SilentRoPE: ("position.order-sensitivity", "stayed permutation-equivariant"),
}
