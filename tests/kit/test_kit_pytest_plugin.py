"""The pytest plugin, as a plugin author meets it: `--nlpsuite-check`, `parametrize_with_checks`,
expected failures. One pytest subprocess (starting torch twice would double the cost) runs a
generated plugin's own tests together with `--nlpsuite-check` on the broken attention file;
the outcomes are read back from its JUnit XML."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from suite.commands.new_plugin import create_plugin
from suite.testing import component_checks, load_target, properties_for

REPO = Path(__file__).resolve().parents[2]
BROKEN_ATTENTION = str(Path(__file__).parent / "broken" / "attention_impls.py")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = create_plugin("kit-selftest", tmp_path_factory.mktemp("plugin") / "pkg")
    report = folder / "junit.xml"
    installed = any(
        ep.name == "nlpsuite" for ep in importlib.metadata.entry_points(group="pytest11")
    )
    plugin = [] if installed else ["-p", "suite.testing.pytest_plugin"]
    command = [
        sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", "tests",
        "--nlpsuite-check", BROKEN_ATTENTION,
        "--nlpsuite-examples", "5",
        "--nlpsuite-xfail", "broken-missing-scale::attention.scale=scaled by 1 on purpose",
        "-k", "test_plugin or broken-missing-scale or broken-causal-leak",
        f"--junitxml={report}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)])}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    cases = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "failed"
            elif child.tag == "skipped":
                status = "xfailed" if (child.get("type") == "pytest.xfail") else "skipped"
        cases[case.get("name")] = status
    return {"returncode": done.returncode, "stdout": done.stdout, "cases": cases}


def _matching(outcome: dict, words: str) -> dict[str, str]:
    return {name: status for name, status in outcome["cases"].items() if words in name}


def test_generated_plugin_passes_its_own_tests(outcome: dict) -> None:
    own = _matching(outcome, "test_nlpsuite_conformance") | _matching(
        outcome, "test_plugin_registers"
    )
    assert len(own) == 1 + len(properties_for("attention"))
    assert set(own.values()) == {"passed"}, own
    assert _matching(outcome, "test_entry_point_is_declared")  # skipped unless pip-installed


def test_nlpsuite_check_option_runs_each_property_with_its_failure_sentence(outcome: dict) -> None:
    leak = _matching(outcome, "broken-causal-leak")
    assert len(leak) == len(properties_for("attention"))
    assert leak["attention:broken-causal-leak[attention.causal-no-leak]"] == "failed"
    assert leak["attention:broken-causal-leak[attention.padding-ignored]"] == "passed"
    assert (
        _matching(outcome, "broken-missing-scale")[
            "attention:broken-missing-scale[attention.scale]"
        ]
        == "xfailed"
    )
    out = outcome["stdout"]
    assert outcome["returncode"] == 1
    assert "future token leaked into position" in out and "reproduce: nlpsuite check" in out
    assert "assert False" not in out


def test_component_checks_cover_every_property() -> None:
    (cls,) = [c for c in load_target(BROKEN_ATTENTION).components if c.name == "broken-causal-leak"]
    checks = component_checks([cls])
    assert [c.prop.id for c in checks] == [p.id for p in properties_for("attention")]
    with pytest.raises(AssertionError, match="future token leaked"):
        next(c for c in checks if c.prop.id == "attention.causal-no-leak")(cls)
