"""Every (component, property) pair as a callable check, for a third party's own pytest suite.

Modelled on scikit-learn's `parametrize_with_checks`:

    from suite.testing import parametrize_with_checks

    @parametrize_with_checks([MyAttention], xfail={"attention.scale": "scaled by 1/d on purpose"})
    def test_nlpsuite(component, check):
        check(component)

Each check runs one property with hypothesis and raises an `AssertionError` whose message is
the failing sentence, the shrunk example and a one-line reproduction; a property that does not
apply calls `pytest.skip` with its reason. `xfail` keys are property ids (`attention.scale`) or
`name::property-id` for one component; their tests are marked `xfail(strict=True)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from suite.kinds import Component
from suite.testing.kit import DEFAULT_EXAMPLES, make_subject, run_property
from suite.testing.properties import Property, PropertyFailure, properties_for

__all__ = ["ComponentCheck", "component_checks", "parametrize_with_checks"]

#: Examples per property; the pytest plugin sets it from `--nlpsuite-examples`.
EXAMPLES_VARIABLE = "NLPSUITE_CHECK_EXAMPLES"


def current_examples() -> int:
    value = os.environ.get(EXAMPLES_VARIABLE, "")
    return int(value) if value.isdigit() else DEFAULT_EXAMPLES


@dataclass(frozen=True)
class ComponentCheck:
    """Check one property on one component; call it with the component (as sklearn's checks)."""

    component: type[Component]
    prop: Property
    target: str | None = None  # what the reproduction line passes to `nlpsuite check`
    max_examples: int | None = None

    @property
    def id(self) -> str:
        return f"{self.component.kind}:{self.component.name}::{self.prop.id}"

    def __repr__(self) -> str:
        return self.prop.id

    def __call__(self, component: type[Component] | None = None) -> None:
        cls = component or self.component
        examples = self.max_examples or current_examples()
        result = run_property(
            make_subject(cls),
            self.prop,
            max_examples=examples,
            target=self.target or cls.__module__,
        )
        if result.status == "skipped":
            import pytest

            pytest.skip(f"{self.prop.id}: {result.message}")
        if result.status == "failed":
            lines = [f"{self.prop.id} ({self.prop.statement}): {result.message}"]
            if result.example is not None:
                lines.append(
                    f"falsifying example (shrunk): {json.dumps(result.example, ensure_ascii=False)}"
                )
                lines.append(f"reproduce: {result.reproduction}")
            raise PropertyFailure("\n".join(lines))


def component_checks(
    components: Iterable[type[Component]],
    *,
    target: str | None = None,
    max_examples: int | None = None,
) -> list[ComponentCheck]:
    """One `ComponentCheck` per component and property of its kind."""
    return [
        ComponentCheck(cls, prop, target, max_examples)
        for cls in components
        for prop in properties_for(cls.kind)
    ]


def xfail_reason(check: ComponentCheck, xfail: Mapping[str, str]) -> str | None:
    """The declared reason `check` is expected to fail, by `name::id` or by property id."""
    return xfail.get(f"{check.component.name}::{check.prop.id}", xfail.get(check.prop.id))


def parametrize_with_checks(
    components: Iterable[type[Component]],
    *,
    xfail: Mapping[str, str] | None = None,
    max_examples: int | None = None,
) -> Any:
    """`pytest.mark.parametrize("component, check", ...)` over every property of each component."""
    import pytest

    declared = dict(xfail or {})
    params = []
    for check in component_checks(components, max_examples=max_examples):
        reason = xfail_reason(check, declared)
        marks = (
            [pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)] if reason else []
        )
        params.append(pytest.param(check.component, check, id=check.id, marks=marks))
    return pytest.mark.parametrize("component, check", params)
