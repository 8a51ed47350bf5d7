"""The one dtype rule of the suite: compute in at least float32.

Sums over thousands of values (a softmax's denominator, a norm's variance, a log-sum-exp) lose
most of their digits in 16 bits (bfloat16 keeps 8 bits of mantissa); PyTorch's own kernels
accumulate half-precision inputs in float32 ("opmath") for the same reason. Every component
that upcasts asks this function, so that the rule lives in one place.
"""

from __future__ import annotations

import torch

__all__ = ["compute_dtype"]


def compute_dtype(x: torch.Tensor | torch.dtype) -> torch.dtype:
    """float32 for 16-bit floating inputs (a tensor or a dtype), the input dtype otherwise."""
    dtype = x.dtype if isinstance(x, torch.Tensor) else x
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
