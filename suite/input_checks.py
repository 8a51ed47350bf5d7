"""The input checks of every kind, applied by the base classes in `suite.kinds` before any arithmetic.

A component that silently broadcasts `(N, 1)` against `(N,)`, or indexes past the last class,
trains on garbage or crashes deep inside autograd (on a GPU with a device-side assert). These
checks run in the base class's `__call__` (attention, loss) or as a forward pre-hook on the
module `build` returns (norm, MoE), so a third-party component fails the same way as a built-in:
with a `ComponentInputError` whose one line names the offending shapes, dtypes or values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from suite.errors import ComponentInputError

__all__ = [
    "check_attention_inputs",
    "check_loss_inputs",
    "check_moe_inputs",
    "check_moe_sizes",
    "check_norm_inputs",
]


def _check_floating(name: str, x: object) -> None:
    if not isinstance(x, Tensor):
        raise ComponentInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ComponentInputError(f"{name} must be floating point, got {x.dtype}")


# --------------------------------------------------------------------------- attention


def check_attention_inputs(
    q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None
) -> None:
    """q `(B, H, Tq, D)`, k and v `(B, Hkv, Tk, D)` with Hkv dividing H, mask bool `(B, Tk)`."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ComponentInputError(
            f"q, k, v must be 4-D (B, H, T, D); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    b, h, _, d = q.shape
    if k.shape != v.shape:
        raise ComponentInputError(
            f"k and v must have the same shape; got {tuple(k.shape)} and {tuple(v.shape)}"
        )
    if k.shape[0] != b or k.shape[3] != d:
        raise ComponentInputError(
            f"k {tuple(k.shape)} does not match q {tuple(q.shape)} in batch or head dim"
        )
    hkv = k.shape[1]
    if hkv == 0 or h % hkv:
        raise ComponentInputError(f"key/value heads ({hkv}) must divide query heads ({h})")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise ComponentInputError(
                f"key_padding_mask must be bool, got {key_padding_mask.dtype}"
            )
        if tuple(key_padding_mask.shape) != (b, k.shape[2]):
            raise ComponentInputError(
                f"key_padding_mask must be (B, Tk) = {(b, k.shape[2])}; got {tuple(key_padding_mask.shape)}"
            )


# --------------------------------------------------------------------------- norm


def check_norm_inputs(x: Tensor, mask: Tensor | None, num_features: int) -> None:
    """x floating `(B, T, num_features)`; mask `None` or bool `(B, T)` (True = real token)."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ComponentInputError(f"x must be 3-D (B, T, C); got shape {shape}")
    if x.shape[-1] != num_features:
        raise ComponentInputError(
            f"x has {x.shape[-1]} features in its last dim; this norm was built for {num_features}"
        )
    if not x.is_floating_point():
        raise ComponentInputError(f"x must be a floating-point tensor, got {x.dtype}")
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        dtype = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ComponentInputError(f"mask must be bool (True = real token), got {dtype}")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ComponentInputError(
            f"mask must be (B, T) = {tuple(x.shape[:2])}; got {tuple(mask.shape)}"
        )


# --------------------------------------------------------------------------- loss


def check_loss_inputs(
    task: str, inputs: Sequence[Tensor], *, ignore_index: int | None = None
) -> None:
    """The inputs of a loss of `task` (see `suite.Loss`); unknown tasks are not checked."""
    names = {
        "classification": ("logits", "target"),
        "contrastive": ("anchors", "positives"),
        "ranking": ("chosen", "rejected"),
    }.get(task)
    if names is None:
        return
    if len(inputs) != len(names):
        raise ComponentInputError(
            f"a {task} loss takes ({', '.join(names)}); got {len(inputs)} input(s)"
        )
    if task == "classification":
        _check_classification(inputs[0], inputs[1], ignore_index=ignore_index)
    elif task == "contrastive":
        _check_contrastive(inputs[0], inputs[1])
    else:
        _check_ranking(inputs[0], inputs[1])


def _check_classification(logits: Tensor, target: Tensor, *, ignore_index: int | None) -> None:
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


def _check_contrastive(anchors: Tensor, positives: Tensor) -> None:
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


def _check_ranking(chosen: Tensor, rejected: Tensor) -> None:
    """`chosen (N,)` and `rejected (N,)`: the reward model's scalar scores of each pair."""
    _check_floating("chosen", chosen)
    _check_floating("rejected", rejected)
    if chosen.dim() != 1 or rejected.dim() != 1 or chosen.shape != rejected.shape:
        raise ComponentInputError(
            f"chosen and rejected must both be (N,); got {tuple(chosen.shape)} and {tuple(rejected.shape)}"
        )
    if chosen.shape[0] == 0:
        raise ComponentInputError("empty batch: chosen and rejected have N = 0")


# --------------------------------------------------------------------------- moe


def check_moe_sizes(d_model: int, d_hidden: int, n_experts: int, top_k: int) -> None:
    """Raise `ComponentInputError` naming the first size below 1 or a top_k above n_experts."""
    for label, value in (
        ("d_model", d_model),
        ("d_hidden", d_hidden),
        ("n_experts", n_experts),
        ("top_k", top_k),
    ):
        if value < 1:
            raise ComponentInputError(f"{label} must be >= 1, got {value}")
    if top_k > n_experts:
        raise ComponentInputError(f"top_k ({top_k}) must not exceed n_experts ({n_experts})")


def check_moe_inputs(x: Tensor, d_model: int) -> None:
    """x floating `(B, T, d_model)`."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ComponentInputError(f"x must be (B, T, {d_model}); got {shape}")
    if not x.is_floating_point():
        raise ComponentInputError(f"x must be floating point; got {x.dtype}")
