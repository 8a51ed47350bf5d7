"""Small tensor helpers shared by the checks: seeded inputs, masks, differences.

The float64 oracles live in `suite.oracles`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from suite.testing.properties._base import PropertyFailure, PropertySkip

__all__ = ["call_component", "generator", "mask_tensor", "max_abs_diff", "randn"]


def generator(seed: int, offset: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed((seed + offset) % (2**63 - 1))


def randn(shape: Sequence[int], seed: int, offset: int = 0, *, scale: float = 1.0) -> Tensor:
    """Float32 standard normal values (times `scale`) drawn from `seed + offset`."""
    return torch.randn(*shape, generator=generator(seed, offset)) * scale


def mask_tensor(rows: list[list[bool]] | None) -> Tensor | None:
    return None if rows is None else torch.tensor(rows, dtype=torch.bool)


def max_abs_diff(a: Tensor, b: Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return float((a.double() - b.double()).abs().nan_to_num(nan=math.inf).max())


def call_component(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the component; turn an unexpected exception into a failure naming the call."""
    try:
        return fn(*args, **kwargs)
    except (PropertyFailure, PropertySkip, NotImplementedError):
        raise
    except Exception as exc:
        raise PropertyFailure(f"{what} raised {type(exc).__name__}: {exc}") from exc
