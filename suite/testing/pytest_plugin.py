"""The nlpsuite pytest plugin (entry point `pytest11`): the conformance kit inside any test suite.

Three ways to use it from a plugin package's own tests:

* `pytest --nlpsuite-check my_pkg.plugin` adds one test per (component, property) for every
  component the target registers (targets as for `nlpsuite check`: module, file, kind:name);
  `--nlpsuite-xfail attention.scale="scaled by 1/d on purpose"` declares an expected failure;
* `@parametrize_with_checks([MyAttention], xfail={...})` on a test `(component, check)`;
* the fixtures `nlpsuite_check` (`check_component`, returning a report) and `nlpsuite_host`
  (a fresh, empty `PluginHost` to register a plugin into).

`--nlpsuite-examples N` sets the hypothesis examples per property for all three. The module
imports nothing heavy at load time, since pytest loads it in every run of the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["NLPSuiteCheckItem"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("nlpsuite", "nlpsuite conformance kit")
    group.addoption(
        "--nlpsuite-check",
        action="append",
        default=[],
        metavar="TARGET",
        help="run the conformance kit on the components TARGET registers (module, file.py or kind:name; repeatable)",
    )
    group.addoption(
        "--nlpsuite-examples",
        type=int,
        default=None,
        metavar="N",
        help="hypothesis examples per property (default: 25)",
    )
    group.addoption(
        "--nlpsuite-xfail",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="declare a property (or name::property) expected to fail, with the reason (repeatable)",
    )


def pytest_configure(config: Any) -> None:
    examples = config.getoption("nlpsuite_examples", None)
    if examples is not None:
        from suite.testing.parametrize import EXAMPLES_VARIABLE

        if examples < 1:
            raise pytest.UsageError(f"--nlpsuite-examples must be at least 1, got {examples}")
        os.environ[EXAMPLES_VARIABLE] = str(examples)


class NLPSuiteCheckItem(pytest.Item):
    """One property of one component, collected from `--nlpsuite-check TARGET`."""

    def __init__(self, *, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        self.check()

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        from suite.testing.properties import PropertyFailure

        if isinstance(excinfo.value, PropertyFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"nlpsuite check {self.check.target} {self.name}"


def _parse_xfail(items: list[str]) -> dict[str, str]:
    declared = {}
    for item in items:
        key, sep, reason = item.partition("=")
        if not sep or not reason.strip():
            raise pytest.UsageError(f"--nlpsuite-xfail needs ID=REASON, got {item!r}")
        declared[key.strip()] = reason.strip()
    return declared


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    targets = config.getoption("nlpsuite_check", [])
    if not targets:
        return
    from suite.errors import UsageError
    from suite.testing.parametrize import component_checks, xfail_reason
    from suite.testing.targets import load_target

    declared = _parse_xfail(config.getoption("nlpsuite_xfail", []))
    for target in targets:
        try:
            loaded = load_target(target)
        except UsageError as exc:
            raise pytest.UsageError(f"--nlpsuite-check {target}: {exc}") from None
        for check in component_checks(loaded.components, target=target):
            name = f"{check.component.kind}:{check.component.name}[{check.prop.id}]"
            item = NLPSuiteCheckItem.from_parent(session, name=name, check=check)
            reason = xfail_reason(check, declared)
            if reason:
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
            items.append(item)


@pytest.fixture
def nlpsuite_check() -> Any:
    """`check_component(cls, **options) -> ComponentReport`: assert on `report.ok` or one result."""
    from suite.testing import check_component

    return check_component


@pytest.fixture
def nlpsuite_host() -> Iterator[Any]:
    """A fresh `PluginHost` with no plugins: `nlpsuite_host.register_plugin(module, "name")`."""
    from suite.plugins import PluginHost

    yield PluginHost(builtins=(), entry_points=False)
