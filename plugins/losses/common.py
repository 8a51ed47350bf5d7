"""Input checks shared by every loss: one clear line naming the offending shapes or values.

A loss that silently broadcasts `(N, 1)` against `(N,)` or indexes past the last class trains on
garbage (or crashes deep inside autograd on a GPU with a device-side assert). These checks run
before any arithmetic, so the error names what the caller passed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from suite.errors import ComponentInputError

__all__ = [
    "check_classification_inputs",
    "check_contrastive_inputs",
    "check_ranking_inputs",
    "compute_dtype",
]


def compute_dtype(x: Tensor) -> torch.dtype:
    """float32 for half-precision inputs (exp/log lose too much in 16 bits), else the input dtype."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _check_floating(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise ComponentInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ComponentInputError(f"{name} must be floating point, got {x.dtype}")


def check_classification_inputs(
    logits: Tensor, target: Tensor, *, ignore_index: int | None = None
) -> None:
    """`logits (N, C)` floating, `target (N,)` integer ids in `[0, C)` (or `ignore_index`)."""
    _check_floating("logits", logits)
    if not isinstance(target, Tensor):
        raise ComponentInputError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if logits.dim() != 2:
        raise ComponentInputError(f"logits must be (N, C); got shape {tuple(logits.shape)}")
    n, c = logits.shape
    if c < 1:
        raise ComponentInputError(
            f"logits must have at least one class; got shape {tuple(logits.shape)}"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool or target.is_complex():
        raise ComponentInputError(f"target must hold integer class ids, got dtype {target.dtype}")
    if tuple(target.shape) != (n,):
        raise ComponentInputError(
            f"target must be (N,) = ({n},) to match logits {tuple(logits.shape)}; got {tuple(target.shape)}"
        )
    if n == 0:
        raise ComponentInputError("empty batch: logits has N = 0 rows")
    valid = target if ignore_index is None else target[target != ignore_index]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= c):
        bad = valid[(valid < 0) | (valid >= c)]
        hint = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ComponentInputError(
            f"target ids must be in [0, {c}){hint}; got {sorted(set(bad.tolist()))[:5]}"
        )


def check_contrastive_inputs(anchors: Tensor, positives: Tensor) -> None:
    """`anchors (N, D)` and `positives (N, D)`: row i of each is a positive pair."""
    _check_floating("anchors", anchors)
    _check_floating("positives", positives)
    if anchors.dim() != 2 or positives.dim() != 2:
        raise ComponentInputError(
            f"anchors and positives must be (N, D); got {tuple(anchors.shape)} and {tuple(positives.shape)}"
        )
    if anchors.shape != positives.shape:
        raise ComponentInputError(
            f"anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must have the same shape"
        )
    if anchors.shape[0] == 0 or anchors.shape[1] == 0:
        raise ComponentInputError(f"empty batch: anchors have shape {tuple(anchors.shape)}")


def check_ranking_inputs(chosen: Tensor, rejected: Tensor) -> None:
    """`chosen (N,)` and `rejected (N,)`: the reward model's scalar scores of each pair."""
    _check_floating("chosen", chosen)
    _check_floating("rejected", rejected)
    if chosen.dim() != 1 or rejected.dim() != 1 or chosen.shape != rejected.shape:
        raise ComponentInputError(
            f"chosen and rejected must both be (N,); got {tuple(chosen.shape)} and {tuple(rejected.shape)}"
        )
    if chosen.shape[0] == 0:
        raise ComponentInputError("empty batch: chosen and rejected have N = 0")
