"""What a property is, how it fails, and the registry the kit reads them from.

A property is one demand of a kind's contract ("no future leakage under `causal=True`"), with a
stable id (`attention.causal-no-leak`), a one-line statement, a hypothesis strategy of
*examples* and a check. Examples are small JSON dicts of plain numbers, booleans and strings
(shapes, a seed, a mask as lists of booleans, texts), never tensors: the check builds its tensors
from the example's seed, so a falsifying example prints on one line and replays anywhere with
`nlpsuite check TARGET --only ID --example 'JSON'`.

A check raises `PropertyFailure` with a sentence that names what broke ("future token leaked
into position 3"), or `PropertySkip` when this example (or the component) is outside the
property's reach (no reference registered, an approximate component).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from hypothesis import strategies as st

__all__ = [
    "Example",
    "Property",
    "PropertyFailure",
    "PropertySkip",
    "Subject",
    "all_properties",
    "fail",
    "get_property",
    "properties_for",
    "register_property",
]

Example = dict[str, Any]


class PropertyFailure(AssertionError):
    """A property does not hold; the message says what broke, in one sentence."""


class PropertySkip(Exception):
    """The property cannot be judged here (no reference, approximate component); says why."""


def fail(message: str) -> NoReturn:
    """Raise `PropertyFailure(message)`; reads well inside checks."""
    raise PropertyFailure(message)


@dataclass
class Subject:
    """The component under test, its reference (or why there is none), and a per-run cache."""

    cls: type[
        Any
    ]  # a subclass of the kind's base class (typed loosely: checks use kind-specific calls)
    reference: type[Any] | None = None
    reference_note: str = ""  # why `reference` is None
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.cls.kind}:{self.cls.name}"


@dataclass(frozen=True)
class Property:
    """One demand of a kind's contract, checked on hypothesis-generated examples."""

    id: str  # "<kind>.<short-name>", stable: used by --only, xfail declarations and pytest ids
    kind: str
    statement: str  # one line: what the property demands
    strategy: Callable[[Subject], st.SearchStrategy[Example]]
    check: Callable[[Subject, Example], None]
    applies: Callable[[Subject], str | None] = lambda subject: None  # a reason to skip, or None
    cost: float = 1.0  # share of --examples this property runs (tokenizer training is slow)
    #: The numerical edge cases of the kind (extreme logit gaps, γ < 1, fully masked rows, tiny
    #: and huge scales) as explicit examples: run first, on every check, whatever --examples
    #: says and whatever hypothesis happens to draw (hypothesis `@example`).
    explicit: Callable[[Subject], list[Example]] = lambda subject: []

    def examples_for(self, max_examples: int) -> int:
        return max(3, round(max_examples * self.cost))


_PROPERTIES: dict[str, Property] = {}


def register_property(prop: Property) -> Property:
    """Add `prop` to the kit; ids are unique."""
    if prop.id in _PROPERTIES:
        raise ValueError(f"property {prop.id!r} is defined twice")
    if not prop.id.startswith(prop.kind + "."):
        raise ValueError(f"property id {prop.id!r} must start with its kind {prop.kind!r}")
    _PROPERTIES[prop.id] = prop
    return prop


def _load_all() -> None:
    from suite.testing.properties import (  # noqa: F401
        attention,
        collective,
        decoding,
        loss,
        moe,
        norm,
        peft,
        position,
        tokenizer,
    )


def properties_for(kind: str) -> list[Property]:
    """The properties of `kind`, in the order they are checked."""
    _load_all()
    return [prop for prop in _PROPERTIES.values() if prop.kind == kind]


def all_properties() -> list[Property]:
    _load_all()
    return list(_PROPERTIES.values())


def get_property(property_id: str) -> Property:
    """The property `property_id`; a `KeyError` listing the known ids when absent."""
    _load_all()
    try:
        return _PROPERTIES[property_id]
    except KeyError:
        raise KeyError(f"no property {property_id!r}; known: {', '.join(_PROPERTIES)}") from None
