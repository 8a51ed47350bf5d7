"""Seeded token batches and padding masks for the norm benchmarks and tests.

Activations are drawn per feature as offset_c + scale_c · N(0, 1), with offsets and scales
themselves random: real hidden states are neither centred nor unit-variance, and BatchNorm's
train/eval gap and padding sensitivity only show when they are not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["FeatureDistribution", "lengths_to_mask", "pad_to_length", "random_lengths"]


@dataclass
class FeatureDistribution:
    """A fixed per-feature Gaussian to draw `(B, T, C)` batches from."""

    offset: Tensor  # (C,)
    scale: Tensor  # (C,)

    @classmethod
    def random(
        cls, num_features: int, generator: torch.Generator, *, offset_std: float = 2.0
    ) -> FeatureDistribution:
        """Offsets ~ N(0, offset_std²), scales ~ U(0.5, 2): a skewed, uncentred distribution."""
        offset = torch.randn(num_features, generator=generator) * offset_std
        scale = 0.5 + 1.5 * torch.rand(num_features, generator=generator)
        return cls(offset, scale)

    def sample(
        self,
        batch_size: int,
        seq_len: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """A `(B, T, C)` batch drawn on the CPU generator, then moved to `device` and `dtype`."""
        noise = torch.randn(batch_size, seq_len, self.offset.numel(), generator=generator)
        return (self.offset + self.scale * noise).to(device=device, dtype=dtype)


def random_lengths(
    batch_size: int, seq_len: int, generator: torch.Generator, *, min_fraction: float = 0.5
) -> Tensor:
    """(B,) lengths uniform in [ceil(min_fraction · T), T], at least 1: a ragged text batch."""
    low = max(1, math.ceil(min_fraction * seq_len))
    return torch.randint(low, seq_len + 1, (batch_size,), generator=generator)


def lengths_to_mask(lengths: Tensor, seq_len: int) -> Tensor:
    """Bool (B, T): True for the first `lengths[b]` positions of row b (right padding)."""
    return torch.arange(seq_len, device=lengths.device) < lengths[:, None]


def pad_to_length(
    x: Tensor, mask: Tensor, seq_len: int, pad_value: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Right-pad x (B, T, C) and mask (B, T) to `seq_len` positions; padded slots hold `pad_value`.

    Positions already masked out in x are overwritten with `pad_value` too, so that two paddings
    of the same batch differ only in how many padded positions they carry.
    """
    b, t, c = x.shape
    if seq_len < t:
        raise ValueError(f"cannot pad length {t} down to {seq_len}")
    out = x.new_full((b, seq_len, c), pad_value)
    out[:, :t] = torch.where(mask[..., None], x, torch.full_like(x, pad_value))
    new_mask = torch.zeros(b, seq_len, dtype=torch.bool, device=mask.device)
    new_mask[:, :t] = mask
    return out, new_mask
