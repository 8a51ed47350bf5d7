"""The kit on every built-in and on correct implementations written differently: all must pass.

The fast run uses few hypothesis examples per property; `-m slow` runs the exhaustive variant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import suite
from suite.testing import check_component, load_target

HERE = Path(__file__).parent
FAST_EXAMPLES = 8
SLOW_EXAMPLES = 100

BUILTINS = suite.components()
CORRECT = [
    cls
    for path in sorted((HERE / "correct").glob("*_impls.py"))
    for cls in load_target(str(path)).components
]
CORRECT += [
    cls
    for cls in load_target(str(HERE / "broken" / "moe_impls.py")).components
    if cls.name == "kit-gather-moe"
]


def _assert_conforms(cls: type, examples: int) -> None:
    report = check_component(cls, max_examples=examples, timing=False)
    problems = [
        f"{r.property_id}: {r.message} (example {r.example})" for r in report.results if not r.ok
    ]
    assert not problems, f"{report.label} fails:\n" + "\n".join(problems)
    assert any(r.status == "passed" for r in report.results), f"{report.label}: no property ran"


@pytest.mark.parametrize("cls", BUILTINS, ids=[f"{c.kind}:{c.name}" for c in BUILTINS])
def test_builtin_conforms(cls: type) -> None:
    _assert_conforms(cls, FAST_EXAMPLES)


@pytest.mark.parametrize("cls", CORRECT, ids=[f"{c.kind}:{c.name}" for c in CORRECT])
def test_correct_implementation_conforms(cls: type) -> None:
    _assert_conforms(cls, FAST_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "cls", BUILTINS + CORRECT, ids=[f"{c.kind}:{c.name}" for c in BUILTINS + CORRECT]
)
def test_conforms_exhaustively(cls: type) -> None:
    _assert_conforms(cls, SLOW_EXAMPLES)


def test_every_kind_has_a_correct_implementation() -> None:
    assert {cls.kind for cls in CORRECT} == set(suite.KINDS)
