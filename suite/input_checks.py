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
    "check_decoding_inputs",
    "check_loss_inputs",
    "check_moe_inputs",
    "check_moe_sizes",
    "check_norm_inputs",
    "check_position_bias_inputs",
    "check_position_embed_inputs",
    "check_position_rotate_inputs",
    "check_position_sizes",
]


def _check_floating(name: str, x: object) -> None:
    if not isinstance(x, Tensor):
        raise ComponentInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ComponentInputError(f"{name} must be floating point, got {x.dtype}")


# --------------------------------------------------------------------------- attention


def check_attention_inputs(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_padding_mask: Tensor | None,
    attn_bias: Tensor | None = None,
) -> None:
    """q `(B, H, Tq, D)`, k and v `(B, Hkv, Tk, D)` with Hkv dividing H, mask bool `(B, Tk)`,
    `attn_bias` floating and broadcastable to `(B, H, Tq, Tk)`."""
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
    if attn_bias is not None:
        _check_attn_bias(attn_bias, (b, h, q.shape[2], k.shape[2]))


def _check_attn_bias(attn_bias: Tensor, full: tuple[int, int, int, int]) -> None:
    """A floating additive score bias whose shape broadcasts to `full` = (B, H, Tq, Tk)."""
    if not isinstance(attn_bias, Tensor) or not attn_bias.is_floating_point():
        what = attn_bias.dtype if isinstance(attn_bias, Tensor) else type(attn_bias).__name__
        raise ComponentInputError(f"attn_bias must be a floating-point tensor, got {what}")
    shape = tuple(attn_bias.shape)
    padded = (1,) * (4 - len(shape)) + shape
    if len(shape) > 4 or any(s not in (1, f) for s, f in zip(padded, full)):
        raise ComponentInputError(
            f"attn_bias {shape} does not broadcast to (B, H, Tq, Tk) = {full}"
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
        "lm-head": ("hidden", "weight", "target"),
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
    elif task == "lm-head":
        _check_lm_head(inputs[0], inputs[1], inputs[2], ignore_index=ignore_index)
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


def _check_lm_head(
    hidden: Tensor, weight: Tensor, target: Tensor, *, ignore_index: int | None
) -> None:
    """`hidden (N, D)` floating, `weight (V, D)` of the same dtype and device, `target (N,)`
    integer ids in `[0, V)` (or `ignore_index`)."""
    _check_floating("hidden", hidden)
    _check_floating("weight", weight)
    if not isinstance(target, Tensor):
        raise ComponentInputError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if hidden.dim() != 2:
        raise ComponentInputError(f"hidden must be (N, D); got shape {tuple(hidden.shape)}")
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[1]:
        raise ComponentInputError(
            f"weight must be (V, D) with D = {hidden.shape[1]} as in hidden {tuple(hidden.shape)}; "
            f"got {tuple(weight.shape)}"
        )
    if weight.dtype != hidden.dtype or weight.device != hidden.device:
        raise ComponentInputError(
            f"weight ({weight.dtype}, {weight.device}) must have the dtype and device of hidden "
            f"({hidden.dtype}, {hidden.device})"
        )
    n, v = hidden.shape[0], weight.shape[0]
    if v < 1 or hidden.shape[1] < 1:
        raise ComponentInputError(
            f"weight must have at least one row and one column; got shape {tuple(weight.shape)}"
        )
    if target.dtype.is_floating_point or target.dtype == torch.bool or target.is_complex():
        raise ComponentInputError(f"target must hold integer token ids, got dtype {target.dtype}")
    if tuple(target.shape) != (n,):
        raise ComponentInputError(
            f"target must be (N,) = ({n},) to match hidden {tuple(hidden.shape)}; got {tuple(target.shape)}"
        )
    if target.device != hidden.device:
        raise ComponentInputError(f"target is on {target.device} but hidden is on {hidden.device}")
    if n == 0:
        raise ComponentInputError("empty batch: hidden has N = 0 rows")
    valid = target if ignore_index is None else target[target != ignore_index]
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= v):
        bad = valid[(valid < 0) | (valid >= v)]
        hint = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ComponentInputError(
            f"target ids must be in [0, {v}) (the rows of weight){hint}; got {sorted(set(bad.tolist()))[:5]}"
        )


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


# --------------------------------------------------------------------------- position


def check_position_sizes(d_model: int, n_heads: int, max_len: int) -> None:
    """Sizes of `PositionalEncoding.build`: all >= 1, n_heads dividing d_model."""
    for label, value in (("d_model", d_model), ("n_heads", n_heads), ("max_len", max_len)):
        if not isinstance(value, int) or value < 1:
            raise ComponentInputError(f"{label} must be an int >= 1, got {value!r}")
    if d_model % n_heads:
        raise ComponentInputError(f"n_heads ({n_heads}) must divide d_model ({d_model})")


def _check_positions(
    name: str, positions: Tensor, shape: tuple[int, int], max_len: int, bounded: bool
) -> None:
    if not isinstance(positions, Tensor):
        raise ComponentInputError(f"{name} must be a torch.Tensor, got {type(positions).__name__}")
    if positions.dtype != torch.long:
        raise ComponentInputError(f"{name} must be a long tensor, got {positions.dtype}")
    if tuple(positions.shape) != shape:
        raise ComponentInputError(f"{name} must be (B, T) = {shape}; got {tuple(positions.shape)}")
    if positions.numel():
        low, high = int(positions.min()), int(positions.max())
        if low < 0:
            raise ComponentInputError(f"{name} must be >= 0; got {low}")
        if bounded and high >= max_len:
            raise ComponentInputError(
                f"{name} go up to {high}, but this encoding was built for max_len={max_len} "
                f"(a table of positions 0..{max_len - 1})"
            )


def check_position_embed_inputs(
    x: Tensor, positions: Tensor, d_model: int, max_len: int, *, bounded: bool
) -> None:
    """x floating `(B, T, d_model)`, positions long `(B, T)`, >= 0 (and < max_len if `bounded`)."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ComponentInputError(f"x must be (B, T, {d_model}); got {shape}")
    if not x.is_floating_point():
        raise ComponentInputError(f"x must be floating point; got {x.dtype}")
    _check_positions("positions", positions, (x.shape[0], x.shape[1]), max_len, bounded)


def check_position_rotate_inputs(
    q: Tensor,
    k: Tensor,
    positions_q: Tensor,
    positions_k: Tensor,
    n_heads: int,
    head_dim: int,
    max_len: int,
    *,
    bounded: bool,
) -> None:
    """q `(B, n_heads, Tq, head_dim)`, k `(B, Hkv, Tk, head_dim)` with Hkv dividing n_heads,
    positions long `(B, Tq)` and `(B, Tk)`."""
    for name, t in (("q", q), ("k", k)):
        if not isinstance(t, Tensor) or t.dim() != 4:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ComponentInputError(f"{name} must be 4-D (B, H, T, D); got {shape}")
        if not t.is_floating_point():
            raise ComponentInputError(f"{name} must be floating point; got {t.dtype}")
        if t.shape[-1] != head_dim:
            raise ComponentInputError(
                f"{name} has head size {t.shape[-1]}; this encoding was built for d_model / n_heads = {head_dim}"
            )
    if q.shape[1] != n_heads:
        raise ComponentInputError(
            f"q has {q.shape[1]} heads; this encoding was built for {n_heads}"
        )
    if k.shape[0] != q.shape[0] or k.shape[1] == 0 or n_heads % k.shape[1]:
        raise ComponentInputError(
            f"k {tuple(k.shape)} must share q's batch and have a number of heads dividing {n_heads}"
        )
    _check_positions("positions_q", positions_q, (q.shape[0], q.shape[2]), max_len, bounded)
    _check_positions("positions_k", positions_k, (k.shape[0], k.shape[2]), max_len, bounded)


def check_position_bias_inputs(tq: int, tk: int) -> None:
    """Query and key lengths, ints >= 1."""
    for label, value in (("tq", tq), ("tk", tk)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ComponentInputError(f"{label} must be an int >= 1, got {value!r}")


def check_decoding_inputs(
    input_ids: Tensor,
    max_new_tokens: int,
    eos_token_id: int | None,
    generator: torch.Generator | None,
) -> None:
    """input_ids long `(B, T)` with B, T >= 1 and no negative id; max_new_tokens an int >= 0;
    eos_token_id `None` or an int >= 0; generator `None` or a `torch.Generator`."""
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
        shape = (
            tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        )
        raise ComponentInputError(f"input_ids must be a 2-D (B, T) tensor; got {shape}")
    if input_ids.dtype != torch.long:
        raise ComponentInputError(f"input_ids must be torch.long token ids; got {input_ids.dtype}")
    if input_ids.shape[0] < 1 or input_ids.shape[1] < 1:
        raise ComponentInputError(
            f"input_ids needs at least one row and one prompt token; got {tuple(input_ids.shape)}"
        )
    if bool((input_ids < 0).any()):
        raise ComponentInputError(f"input_ids has a negative id ({int(input_ids.min())})")
    if (
        not isinstance(max_new_tokens, int)
        or isinstance(max_new_tokens, bool)
        or max_new_tokens < 0
    ):
        raise ComponentInputError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if eos_token_id is not None and (
        not isinstance(eos_token_id, int) or isinstance(eos_token_id, bool) or eos_token_id < 0
    ):
        raise ComponentInputError(f"eos_token_id must be None or an int >= 0, got {eos_token_id!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ComponentInputError(
            f"generator must be None or a torch.Generator, got {type(generator).__name__}"
        )
