"""The references positional encodings must agree with: HuggingFace transformers' own code, and
the sinusoid formula evaluated in float64.

* `hf-rope`: `LlamaRotaryEmbedding` and `apply_rotary_pos_emb` from transformers' Llama, built
  from a tiny `LlamaConfig` (head size d_model / n_heads, `rope_theta` 10000); nothing is
  downloaded. The HF function rotates q and k at the same positions, so it is called once for q
  (at `positions_q`) and once for k (at `positions_k`).
* `hf-alibi`: BLOOM's `build_alibi_tensor`, which returns m_h·j per key j (its row constant
  −m_h·i cancels in the softmax). It agrees with ALiBi on the causal pairs, which is what the
  kit and `position-agreement` compare.
* `sinusoidal-float64`: PE(p, 2i) = sin(p ω_i), PE(p, 2i+1) = cos(p ω_i) written out again,
  computed in float64 on every call; no table, no cast until the end.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

import suite
from plugins.positions.common import SINUSOID_BASE

__all__ = ["HFALiBi", "HFRotary", "SinusoidalFloat64"]


class _HFRotary(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int, base: float) -> None:
        super().__init__()
        from transformers import LlamaConfig
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

        config = LlamaConfig(
            hidden_size=d_model,
            num_attention_heads=n_heads,
            num_key_value_heads=n_heads,
            intermediate_size=4 * d_model,
            num_hidden_layers=1,
            vocab_size=8,
            max_position_embeddings=max_len,
            rope_parameters={"rope_type": "default", "rope_theta": base},
        )
        self.rotary = LlamaRotaryEmbedding(config)

    def rotate(
        self, q: Tensor, k: Tensor, positions_q: Tensor, positions_k: Tensor
    ) -> tuple[Tensor, Tensor]:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        cos_q, sin_q = self.rotary(q, positions_q)  # (B, Tq, D) each
        cos_k, sin_k = self.rotary(k, positions_k)
        q_rot, _ = apply_rotary_pos_emb(q, q, cos_q, sin_q)  # unsqueeze_dim=1: over heads
        _, k_rot = apply_rotary_pos_emb(k, k, cos_k, sin_k)
        return q_rot, k_rot


class HFRotary(suite.PositionalEncoding):
    """transformers' Llama rotary embedding (`LlamaRotaryEmbedding` + `apply_rotary_pos_emb`).

    The code every Llama-family checkpoint on the Hub runs; rotate-half convention, inverse
    frequencies and angles in float32, cos/sin cast to the input dtype.
    """

    name: ClassVar[str] = "hf-rope"
    summary: ClassVar[str] = "transformers LlamaRotaryEmbedding + apply_rotary_pos_emb (reference)"
    reference: ClassVar[str | None] = None
    practice_target: ClassVar[bool] = True  # `nlpsuite practice position` writes a RoPE
    enters: ClassVar[str] = "rotation"
    relative: ClassVar[bool] = True

    def __init__(self, *, base: float = 10000.0) -> None:
        self.base = base

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _HFRotary(d_model, n_heads, max_len, self.base)


class _HFALiBi(nn.Module):
    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads

    def bias(self, tq: int, tk: int) -> Tensor:
        from transformers.models.bloom.modeling_bloom import build_alibi_tensor

        real = torch.ones(1, tk, dtype=torch.long)  # one unpadded row
        alibi = build_alibi_tensor(real, self.n_heads, torch.float32)  # (H, 1, Tk): m_h·j
        return alibi.view(1, self.n_heads, 1, tk).expand(1, self.n_heads, tq, tk)


class HFALiBi(suite.PositionalEncoding):
    """transformers' BLOOM `build_alibi_tensor`: m_h·j per key, equal to ALiBi up to a row constant.

    Softmax is invariant to adding a constant to a row, so on the causal pairs (j ≤ i) the
    scores softmax(q·k/√d + m_h·j) equal softmax(q·k/√d − m_h·(i − j)). On the pairs after i it
    is not a distance penalty at all: it is only meant for causal attention.
    """

    name: ClassVar[str] = "hf-alibi"
    summary: ClassVar[str] = "transformers BLOOM build_alibi_tensor, m_h·j per key (reference)"
    reference: ClassVar[str | None] = None
    enters: ClassVar[str] = "bias"
    relative: ClassVar[bool] = True
    linear_bias: ClassVar[bool] = True

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _HFALiBi(n_heads)


class _Float64Sinusoid(nn.Module):
    def __init__(self, d_model: int, base: float) -> None:
        super().__init__()
        self.d_model, self.base = d_model, base

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        pe = torch.zeros(*positions.shape, self.d_model, dtype=torch.float64, device=x.device)
        p = positions.to(torch.float64)[..., None]  # (B, T, 1)
        for i in range(0, self.d_model, 2):  # the formula, one pair of dimensions at a time
            omega = 1.0 / math.pow(self.base, i / self.d_model)
            pe[..., i] = torch.sin(p[..., 0] * omega)
            if i + 1 < self.d_model:
                pe[..., i + 1] = torch.cos(p[..., 0] * omega)
        return (x.to(torch.float64) + pe).to(x.dtype)


class SinusoidalFloat64(suite.PositionalEncoding):
    """The sinusoid formula of Vaswani et al. in float64, dimension pair by pair: the closed form
    `sinusoidal` is checked against."""

    name: ClassVar[str] = "sinusoidal-float64"
    summary: ClassVar[str] = "sin/cos formula evaluated in float64 per call (reference)"
    reference: ClassVar[str | None] = None
    enters: ClassVar[str] = "embedding"
    shift_linear: ClassVar[bool] = True

    def __init__(self, *, base: float = SINUSOID_BASE) -> None:
        self.base = base

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _Float64Sinusoid(d_model, self.base)
