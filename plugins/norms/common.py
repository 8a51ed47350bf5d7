"""Input checks and dtype handling shared by the norm modules.

Every norm takes x `(B, T, C)` and an optional bool mask `(B, T)` (True = real token). The
checks live here so that each module fails the same way, with a one-line message naming the
offending shapes, instead of a broadcasting error three lines deep.
"""

from __future__ import annotations

import torch
from torch import Tensor

from suite.errors import ComponentInputError

__all__ = ["check_norm_inputs", "compute_dtype"]


def check_norm_inputs(x: Tensor, mask: Tensor | None, num_features: int) -> None:
    """Raise `ComponentInputError` when x is not `(B, T, num_features)` or mask not bool `(B, T)`."""
    if x.dim() != 3:
        raise ComponentInputError(f"x must be 3-D (B, T, C); got shape {tuple(x.shape)}")
    if x.shape[-1] != num_features:
        raise ComponentInputError(
            f"x has {x.shape[-1]} features in its last dim; this norm was built for {num_features}"
        )
    if not x.is_floating_point():
        raise ComponentInputError(f"x must be a floating-point tensor, got {x.dtype}")
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise ComponentInputError(f"mask must be bool (True = real token), got {mask.dtype}")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ComponentInputError(
            f"mask must be (B, T) = {tuple(x.shape[:2])}; got {tuple(mask.shape)}"
        )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype statistics are computed in: float32 for 16-bit inputs, the input dtype otherwise.

    Means and variances summed over thousands of values in bfloat16 (8 bits of mantissa) would
    lose most of their digits; PyTorch's own kernels accumulate in float32 ("opmath") too.
    """
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
