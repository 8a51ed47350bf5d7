"""Small tensor helpers shared by the checks: seeded inputs, masks, differences, closed forms."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from suite.testing.properties._base import PropertyFailure, PropertySkip

__all__ = ["call_component", "dense_attention", "generator", "mask_tensor", "max_abs_diff", "randn"]


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


def dense_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool,
    key_padding_mask: Tensor | None,
    pattern: Tensor | None,
    scale: float | None = None,
) -> Tensor:
    """softmax(q kᵀ · scale) v in float64 over allowed pairs; rows with no allowed key give 0.

    Allowed = pattern & causal (key j <= query i, top-left aligned as in PyTorch SDPA) & real
    keys. Key/value head g serves query heads g·r .. g·r + r - 1 (r = H / Hkv).
    """
    q, k, v = q.double(), k.double(), v.double()
    _, heads, tq, dim = q.shape
    group = heads // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(dim) if scale is None else scale)
    allowed = torch.ones(tq, k.shape[2], dtype=torch.bool)
    if pattern is not None:
        allowed = allowed & pattern.to(torch.bool).cpu()
    if causal:
        allowed = allowed & torch.ones_like(allowed).tril()
    allowed = allowed[None, None]
    if key_padding_mask is not None:
        allowed = allowed & key_padding_mask[:, None, None, :]
    scores = scores.masked_fill(~allowed, -math.inf)
    weights = torch.softmax(scores, dim=-1).nan_to_num(nan=0.0)
    return weights @ v
