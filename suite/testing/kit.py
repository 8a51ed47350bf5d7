"""The conformance kit: run every property of a component's kind with hypothesis, then time it.

`check_component(cls)` returns a `ComponentReport`: one `PropertyResult` per property (passed,
failed, skipped, xfailed, xpassed) with the failing sentence, the shrunk falsifying example and
a one-line reproduction, plus a quick timing beside the reference. Nothing here prints; the
`nlpsuite check` command and the pytest plugin render the reports.

Like array-api-tests, the kit tests any implementation of a contract, not one library; like
scikit-learn's `check_estimator`, every check is a plain function of the class under test, so
a third-party test suite can run them one by one (see `suite.testing.pytest_plugin`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import example as explicit_example
from hypothesis import seed as hypothesis_seed

from suite.kinds import Component
from suite.registry import Registry
from suite.testing.properties._base import (
    Example,
    Property,
    PropertyFailure,
    PropertySkip,
    Subject,
    get_property,
    properties_for,
)
from suite.testing.reproduce import reproduction_command
from suite.threads import single_thread

__all__ = [
    "DEFAULT_EXAMPLES",
    "ComponentReport",
    "PropertyResult",
    "check_component",
    "make_subject",
    "run_property",
]

DEFAULT_EXAMPLES = 25  # hypothesis examples per property (tokenizer properties run a share)
FAILING = ("failed", "xpassed")


@dataclass
class PropertyResult:
    """The verdict of one property on one component."""

    property_id: str
    statement: str
    status: str  # passed | failed | skipped | xfailed | xpassed
    message: str = ""  # the failing sentence, the skip reason or the xfail reason
    example: Example | None = None  # the shrunk falsifying example (JSON-able)
    examples_run: int = 0
    seconds: float = 0.0
    reproduction: str = ""  # one shell line that replays the failing example

    @property
    def ok(self) -> bool:
        return self.status not in FAILING


@dataclass
class ComponentReport:
    """Every property's verdict on one component, and its quick timing against the reference."""

    kind: str
    name: str
    reference: str | None
    results: list[PropertyResult] = field(default_factory=list)
    timing: Any = None  # suite.testing.timing.TimingComparison or None

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def result(self, property_id: str) -> PropertyResult:
        for result in self.results:
            if result.property_id == property_id:
                return result
        raise KeyError(f"{self.label} has no result for {property_id!r}")

    def failed(self) -> list[str]:
        return [result.property_id for result in self.results if not result.ok]


def make_subject(cls: type[Component], registry: Registry | None = None) -> Subject:
    """The component with its reference from `registry` (default: the loaded plugins'), or the
    reason it has none."""
    if cls.reference is None:
        return Subject(cls, None, f"{cls.name} is itself a reference")
    if cls.reference == cls.name:
        return Subject(cls, None, f"{cls.name} names itself as reference")
    if registry is None:
        from suite.plugins import get_host

        registry = get_host().registry
    reference = registry.reference_of(cls)
    if reference is None:
        return Subject(cls, None, f"reference {cls.reference!r} is not registered")
    return Subject(cls, reference, "")


def run_property(
    subject: Subject,
    prop: Property,
    *,
    max_examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    example: Example | None = None,
    target: str | None = None,
) -> PropertyResult:
    """Check `prop` on `subject` with hypothesis (or on the one given `example`)."""
    started = time.perf_counter()
    result = PropertyResult(prop.id, prop.statement, "passed")
    reason = prop.applies(subject)
    if reason is not None:
        result.status, result.message = "skipped", reason
        return result
    state: dict[str, Any] = {
        "runs": 0,
        "skips": 0,
        "skip_reason": "",
        "example": None,
        "message": "",
    }

    def one(ex: Example) -> None:
        state["runs"] += 1
        try:
            prop.check(subject, ex)
        except PropertySkip as exc:
            state["skips"] += 1
            state["skip_reason"] = str(exc)
        except PropertyFailure as exc:
            state["example"], state["message"] = ex, str(exc)
            raise
        except NotImplementedError as exc:  # an unfilled scaffold: no example worth showing
            state["example"], state["message"] = (
                None,
                f"not implemented yet: {exc}" if str(exc) else "not implemented yet",
            )
            raise PropertyFailure(state["message"]) from exc
        except Exception as exc:
            state["example"], state["message"] = ex, f"raised {type(exc).__name__}: {exc}"
            raise

    try:
        with single_thread():
            _drive(prop, subject, one, max_examples=max_examples, seed=seed, example=example)
    except Exception as exc:  # the last failing call hypothesis replays is the shrunk example
        result.status = "failed"
        result.message = (
            state["message"]
            or f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        result.example = state["example"]
        if result.example is not None:
            result.reproduction = reproduction_command(
                target or subject.label, prop.id, result.example
            )
    if result.status == "passed" and state["runs"] and state["skips"] == state["runs"]:
        result.status, result.message = "skipped", state["skip_reason"]
    result.examples_run = state["runs"]
    result.seconds = time.perf_counter() - started
    return result


def _drive(
    prop: Property,
    subject: Subject,
    one: Callable[[Example], None],
    *,
    max_examples: int,
    seed: int,
    example: Example | None,
) -> None:
    """Call `one` on the given example, or let hypothesis generate and shrink examples."""
    if example is not None:
        one(example)
        return
    test = given(prop.strategy(subject))(one)
    for edge_case in reversed(prop.explicit(subject)):  # the kind's numerical edge cases first
        test = explicit_example(edge_case)(test)
    test = settings(
        max_examples=prop.examples_for(max_examples),
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )(test)
    hypothesis_seed(seed)(test)()


def check_component(
    cls: type[Component],
    *,
    max_examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    only: Iterable[str] = (),
    xfail: Mapping[str, str] | None = None,
    example: Example | None = None,
    timing: bool = True,
    target: str | None = None,
    registry: Registry | None = None,
) -> ComponentReport:
    """Run every property of `cls.kind` (or those in `only`) and a quick timing; see the module doc.

    `xfail` maps property ids to the reason they are expected to fail: a failure then reads
    `xfailed`, a pass `xpassed` (which counts as a failure: the declaration is stale). The
    reference is looked up in `registry` (default: the loaded plugins').
    """
    subject = make_subject(cls, registry)
    wanted = list(only)
    props = [get_property(pid) for pid in wanted] if wanted else properties_for(cls.kind)
    for prop in props:
        if prop.kind != cls.kind:
            raise KeyError(
                f"property {prop.id!r} is for {prop.kind}, not for {cls.kind}:{cls.name}"
            )
    report = ComponentReport(cls.kind, cls.name, cls.reference)
    expected = dict(xfail or {})
    for prop in props:
        result = run_property(
            subject, prop, max_examples=max_examples, seed=seed, example=example, target=target
        )
        if prop.id in expected:
            if result.status == "failed":
                result.status, result.message = (
                    "xfailed",
                    f"{expected[prop.id]} (failed as declared: {result.message})",
                )
            elif result.status == "passed":
                result.status, result.message = (
                    "xpassed",
                    f"declared to fail ({expected[prop.id]}) but passed",
                )
        report.results.append(result)
    if timing and example is None:
        from suite.testing.timing import compare_timing

        report.timing = compare_timing(subject)
    return report
