"""Which options a loss class takes, and the option sets the benchmarks try on it.

Benchmarks must work for any registered loss, including third-party ones with other options,
so they never pass an option the class's `__init__` does not accept.
"""

from __future__ import annotations

import inspect
from typing import Any

from suite.kinds import Component, Loss

__all__ = [
    "VARIANTS",
    "accepted_options",
    "as_loss_class",
    "option_default",
    "options_for",
    "reference_options_for",
]

#: `default`: the class's own defaults. `tuned`: every known option moved off its default.
VARIANTS: tuple[str, ...] = ("default", "tuned")

_TUNED: dict[str, Any] = {
    "label_smoothing": 0.1,  # cross-entropy: 10% of the mass spread over the classes
    "gamma": 0.5,  # focal: a non-integer power, the path where 0^γ could blow up
    "temperature": 0.5,  # infonce: a soft softmax, far from SimCSE's 0.05
}


def accepted_options(cls: type) -> set[str]:
    """Names of the keyword options `cls(**options)` accepts."""
    try:
        parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name for name, p in parameters.items() if name != "self" and p.kind in kinds}


def options_for(cls: type, variant: str, num_classes: int = 2) -> dict[str, Any]:
    """The options of `variant` that `cls` accepts (alpha gets one weight per class)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown option variant {variant!r}; variants are {', '.join(VARIANTS)}")
    if variant == "default":
        return {}
    accepted = accepted_options(cls)
    options = {name: value for name, value in _TUNED.items() if name in accepted}
    if "alpha" in accepted:
        options["alpha"] = [
            0.5 + i / max(num_classes - 1, 1) for i in range(num_classes)
        ]  # 0.5 .. 1.5
    return options


def reference_options_for(
    cls: type[Component], reference_cls: type[Component], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options for (component, reference) under which the two must agree.

    A component declares, in its class attribute `reference_options`, the options that make it
    equal to its reference (focal: gamma=0, alpha=None). Those override `options`; the
    reference then gets the remaining options it also accepts.
    """
    component_options = {**options, **getattr(cls, "reference_options", {})}
    accepted = accepted_options(reference_cls)
    shared = {k: v for k, v in component_options.items() if k in accepted}
    return component_options, shared


def option_default(cls: type, name: str, fallback: Any = None) -> Any:
    """The default value of option `name` in `cls.__init__`, or `fallback` when it has none."""
    try:
        parameter = inspect.signature(cls.__init__).parameters.get(name)  # type: ignore[misc]
    except (TypeError, ValueError):
        return fallback
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return fallback
    return parameter.default


def as_loss_class(cls: type[Component]) -> type[Loss]:
    """`cls` typed as a loss class; a `TypeError` naming it when it is not one."""
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise TypeError(f"expected a suite.Loss subclass, got {cls!r}")
    return cls
