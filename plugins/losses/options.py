"""The option sets the loss benchmarks try on a loss, from what the class declares.

Benchmarks must work for any registered loss, including third-party ones with other options,
so they pass only options the class accepts (`suite.Component.accepted_options`), and take the
options under which it equals its reference from `suite.Loss.reference_options`.
"""

from __future__ import annotations

import inspect
from typing import Any

from suite.kinds import Component, Loss

__all__ = [
    "VARIANTS",
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


def options_for(cls: type[Loss], variant: str, num_classes: int = 2) -> dict[str, Any]:
    """The options of `variant` that `cls` accepts (alpha gets one weight per class)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown option variant {variant!r}; variants are {', '.join(VARIANTS)}")
    if variant == "default":
        return {}
    accepted = cls.accepted_options()
    options = {name: value for name, value in _TUNED.items() if name in accepted}
    if "alpha" in accepted:
        options["alpha"] = [
            0.5 + i / max(num_classes - 1, 1) for i in range(num_classes)
        ]  # 0.5 .. 1.5
    return options


def reference_options_for(
    cls: type[Loss], reference_cls: type[Component], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Options for (component, reference) under which the two must agree.

    The component's declared `reference_options` (focal: gamma=0, alpha=None) override
    `options`; the reference then gets the remaining options it also accepts.
    """
    component_options = {**options, **cls.reference_options}
    accepted = reference_cls.accepted_options()
    shared = {k: v for k, v in component_options.items() if k in accepted}
    return component_options, shared


def option_default(cls: type[Component], name: str, fallback: Any = None) -> Any:
    """The default value of option `name` of `cls`, or `fallback` when it has none."""
    default = cls.accepted_options().get(name, inspect.Parameter.empty)
    return fallback if default is inspect.Parameter.empty else default


def as_loss_class(cls: type[Component]) -> type[Loss]:
    """`cls` typed as a loss class; a `TypeError` naming it when it is not one."""
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise TypeError(f"expected a suite.Loss subclass, got {cls!r}")
    return cls
