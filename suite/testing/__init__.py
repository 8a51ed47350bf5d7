"""The conformance kit: hypothesis properties per kind, run on any component, from the CLI or pytest.

    from suite.testing import check_component
    report = check_component(MyAttention)
    report.ok, report.failed()        # True / ["attention.causal-no-leak"]

`nlpsuite check TARGET` renders the same reports as a table; `pytest --nlpsuite-check TARGET`
or `@parametrize_with_checks([MyAttention])` runs each property as a pytest test.
"""

from __future__ import annotations

from suite.testing.kit import (
    DEFAULT_EXAMPLES,
    ComponentReport,
    PropertyResult,
    check_component,
    make_subject,
    run_property,
)
from suite.testing.parametrize import component_checks, parametrize_with_checks
from suite.testing.properties import (
    Property,
    PropertyFailure,
    PropertySkip,
    all_properties,
    get_property,
    properties_for,
)
from suite.testing.targets import LoadedTarget, load_target

__all__ = [
    "DEFAULT_EXAMPLES",
    "ComponentReport",
    "LoadedTarget",
    "Property",
    "PropertyFailure",
    "PropertyResult",
    "PropertySkip",
    "all_properties",
    "check_component",
    "component_checks",
    "get_property",
    "load_target",
    "make_subject",
    "parametrize_with_checks",
    "properties_for",
    "run_property",
]
