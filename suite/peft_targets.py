"""Where a parameter-efficient fine-tuning method acts: the submodules it targets, found and checked.

A `suite.PEFT` method declares a `target_kind`; the names it accepts in `apply(model, targets)`
are the submodules of that kind, found by type or by a declared class attribute, never by the
name of a built-in:

* `linear`: `nn.Linear` layers (LoRA);
* `attention`: attention blocks with the prefix entry point (`accepts_prefix = True` on the
  class, as `suite.nn.MultiHeadAttention`): prefix tuning prepends keys and values there;
* `sublayer`: the branches whose output is added to the residual stream, named by a block's
  `sublayers` class attribute (`("attn", "mlp")` on `suite.nn.TransformerBlock`): adapters;
* `embedding`: `nn.Embedding` layers whose output feeds the model (prompt tuning); the default
  is the first one, the token embedding;
* `module`: any submodule, `""` being the whole model (BitFit, full fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from suite.errors import ComponentInputError

__all__ = [
    "PEFT_TARGET_KINDS",
    "check_peft_targets",
    "find_targets",
    "is_target",
    "output_features",
]

PEFT_TARGET_KINDS: tuple[str, ...] = ("linear", "attention", "sublayer", "embedding", "module")

_WHAT = {
    "linear": "a linear layer (nn.Linear)",
    "attention": "an attention block with the prefix entry point (accepts_prefix = True)",
    "sublayer": "a residual branch named in its block's `sublayers`",
    "embedding": "an embedding (nn.Embedding)",
    "module": "a submodule",
}


def _sublayer_names(model: nn.Module) -> list[str]:
    names = []
    for name, module in model.named_modules():
        for child in getattr(type(module), "sublayers", ()):
            if isinstance(getattr(module, child, None), nn.Module):
                names.append(f"{name}.{child}" if name else child)
    return names


def find_targets(model: nn.Module, target_kind: str) -> list[str]:
    """Names of the submodules of `model` a method of `target_kind` can act on, in model order
    (`embedding` and `module`: the one default, the token embedding or the whole model `""`)."""
    if target_kind == "module":
        return [""]
    if target_kind == "sublayer":
        return _sublayer_names(model)
    found = [name for name, module in model.named_modules() if is_target(module, target_kind)]
    return found[:1] if target_kind == "embedding" else found


def is_target(module: nn.Module, target_kind: str) -> bool:
    """Whether `module` is of `target_kind` (sublayers are checked by name in their block)."""
    if target_kind == "linear":
        return isinstance(module, nn.Linear)
    if target_kind == "embedding":
        return isinstance(module, nn.Embedding)
    if target_kind == "attention":
        return bool(getattr(type(module), "accepts_prefix", False))
    return True


def output_features(module: nn.Module) -> int:
    """Width of what `module` returns: the `out_features` of its last `nn.Linear` (the output
    projection of an attention block, the second layer of an MLP)."""
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ComponentInputError(
            f"cannot tell the output width of {type(module).__name__}: it holds no nn.Linear"
        )
    return linears[-1].out_features


def check_peft_targets(
    model: object, targets: Sequence[str], target_kind: str, method: str
) -> list[str]:
    """`targets` as a list when each names a distinct submodule of `model` of `target_kind`; else
    `ComponentInputError` naming the bad one and listing the available ones."""
    if not isinstance(model, nn.Module):
        raise ComponentInputError(
            f"peft {method!r}: model must be an nn.Module, got {type(model).__name__}"
        )
    if isinstance(targets, str) or not all(isinstance(t, str) for t in targets):
        raise ComponentInputError(
            f"peft {method!r}: targets must be a sequence of submodule names, got {targets!r}"
        )
    chosen = list(targets)
    available = find_targets(model, target_kind) if target_kind != "module" else []
    listing = ", ".join(repr(name) for name in available) or "none"
    if not chosen:
        raise ComponentInputError(
            f"peft {method!r}: no targets given; its {target_kind} targets in this model: {listing}"
        )
    repeated = sorted({t for t in chosen if chosen.count(t) > 1})
    if repeated:
        raise ComponentInputError(f"peft {method!r}: targets named twice: {', '.join(repeated)}")
    modules = dict(model.named_modules())
    sublayers = set(_sublayer_names(model)) if target_kind == "sublayer" else set()
    for name in chosen:
        if name not in modules:
            raise ComponentInputError(
                f"peft {method!r}: the model has no submodule {name!r}; its {target_kind} targets are: {listing}"
            )
        ok = (
            name in sublayers
            if target_kind == "sublayer"
            else is_target(modules[name], target_kind)
        )
        if not ok:
            raise ComponentInputError(
                f"peft {method!r}: {name!r} is a {type(modules[name]).__name__}, not {_WHAT[target_kind]}; "
                f"its {target_kind} targets are: {listing}"
            )
    return chosen
