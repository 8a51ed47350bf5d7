"""`rope`: rotary position embedding (Su et al., RoFormer), the rotate-half form of Llama."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

import suite
from plugins.positions.common import ROPE_BASE, inverse_frequencies, rotate_half
from suite.dtypes import compute_dtype
from suite.errors import ComponentInputError

__all__ = ["RotaryPosition"]


class _Rotary(nn.Module):
    cos_table: Tensor
    sin_table: Tensor

    def __init__(self, head_dim: int, max_len: int, base: float) -> None:
        super().__init__()
        self.head_dim, self.base = head_dim, base
        cos, sin = self._angles(torch.arange(max_len))
        self.register_buffer("cos_table", cos.float(), persistent=False)  # (max_len, D)
        self.register_buffer("sin_table", sin.float(), persistent=False)

    def _angles(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """cos and sin of p·θ_i in float64, `(..., D)`: each frequency twice (rotate-half pairs)."""
        theta = inverse_frequencies(self.head_dim, self.base, device=positions.device)
        angles = positions.to(torch.float64)[..., None] * theta  # (..., D/2)
        angles = torch.cat([angles, angles], dim=-1)  # (..., D): dim i and i + D/2 share θ_i
        return angles.cos(), angles.sin()

    def _cos_sin(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        if positions.numel() and int(positions.max()) >= self.cos_table.shape[0]:
            cos, sin = self._angles(positions)  # past the table: on the fly
        else:
            cos, sin = self.cos_table[positions], self.sin_table[positions]
        return cos[:, None], sin[:, None]  # (B, 1, T, D): broadcast over heads

    def _rotate_one(self, x: Tensor, positions: Tensor) -> Tensor:
        cos, sin = self._cos_sin(positions)
        work = x.to(compute_dtype(x))
        return (work * cos.to(work.dtype) + rotate_half(work) * sin.to(work.dtype)).to(x.dtype)

    def rotate(
        self, q: Tensor, k: Tensor, positions_q: Tensor, positions_k: Tensor
    ) -> tuple[Tensor, Tensor]:
        return self._rotate_one(q, positions_q), self._rotate_one(k, positions_k)


class RotaryPosition(suite.PositionalEncoding):
    """Rotate q and k by angles proportional to their positions; q·k then sees only m − n.

    Interview question: "How does RoPE encode relative position, and why is it the default now?"

    Short answer: split the head dimension into D/2 planes; in plane i, turn the query at
    position m by m·θ_i and the key at position n by n·θ_i (θ_i = 10000^(−2i/D)). Rotations are
    orthogonal, so ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩: the score depends on the offset only, with
    no learned parameters, no change to the value path, and nothing added to the residual
    stream. It is applied to q and k inside every attention layer, works with a KV cache (a
    cached key keeps its rotation) and, unlike a bias, keeps FlashAttention's fast path.

    Pitfalls:
    * two conventions: rotate-half (pairs i, i + D/2: Llama, HuggingFace, here) and interleaved
      (pairs 2i, 2i + 1: GPT-J, Meta's original); checkpoints convert by permuting q/k weights.
    * the head size must be even; some models rotate only part of it (GPT-NeoX `rotary_pct`).
    * past the training length scores meet angles never seen in training: RoPE itself does not
      extrapolate; position interpolation, NTK-aware scaling and YaRN stretch θ to fix that.
    * compute the angles in float32 or better: m·θ in bfloat16 is off by whole radians at long m.

    Declared: `enters = "rotation"`, `relative = True`. Reference: `hf-rope` (transformers'
    `LlamaRotaryEmbedding` and `apply_rotary_pos_emb`).
    """

    name: ClassVar[str] = "rope"
    summary: ClassVar[str] = "rotary: rotate q, k by p·θ (rotate-half, base 10000); relative"
    reference: ClassVar[str | None] = "hf-rope"
    enters: ClassVar[str] = "rotation"
    relative: ClassVar[bool] = True

    def __init__(self, *, base: float = ROPE_BASE) -> None:
        if base <= 1:
            raise ValueError(f"rope: base must be > 1, got {base}")
        self.base = base  # θ_i = base^(−2i/D)

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        head_dim = d_model // n_heads
        if head_dim % 2:
            raise ComponentInputError(
                f"rope needs an even head size; d_model / n_heads = {d_model} / {n_heads} = {head_dim}"
            )
        return _Rotary(head_dim, max_len, self.base)
