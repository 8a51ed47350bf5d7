"""Component cards quote a run chosen on purpose: full grid over quick, then the latest recorded finish."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from suite.cli import main
from suite.evidence import component_evidence
from suite.plugins import PluginHost


def _results(path: Path, run_id: str, finished: str, argv: list[str], f1: float) -> Path:
    path.mkdir(parents=True)
    document = {
        "run": {
            "id": run_id,
            "started": finished,
            "finished": finished,
            "suite_version": "0.1.0",
            "python": "3.11",
            "torch": "2.13.0",
            "device": "cpu",
            "device_name": "cpu",
            "seed": 0,
            "argv": argv,
        },
        "results": [
            {
                "kind": "norm",
                "component": name,
                "benchmark": "toy-bench",
                "params": {"size": 8},
                "status": "ok",
                "error": None,
                "metrics": {"f1": f1},
                "timing": None,
                "memory": None,
            }
            for name in ("toy-scratch", "toy-ref")
        ],
    }
    target = path / "results.json"
    target.write_text(json.dumps(document))
    return target


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("suite.evidence.committed_runs_folder", lambda: tmp_path / "none")
    full = _results(tmp_path / "reports" / "full", "full-run", "2026-01-01T00:00:00", ["run"], 0.5)
    quick = _results(
        tmp_path / "reports" / "quick",
        "quick-run",
        "2026-06-01T00:00:00",
        ["run", "--quick"],
        0.1,
    )
    return full, quick


def test_a_full_grid_run_is_preferred_over_a_newer_quick_one(
    toy_host: PluginHost, two_runs: tuple[Path, Path]
) -> None:
    component = toy_host.registry.get("norm", "toy-scratch")
    [source] = component_evidence(component)
    assert source.run["id"] == "full-run" and not source.quick


def test_the_recorded_finish_time_decides_not_the_file_time(
    toy_host: PluginHost, tmp_path: Path, two_runs: tuple[Path, Path]
) -> None:
    later = _results(
        tmp_path / "reports" / "later", "later-run", "2026-03-01T00:00:00", ["run"], 0.7
    )
    full, _ = two_runs
    os.utime(later, (0, 0))  # written "long ago" by file time, finished later by its record
    os.utime(full, None)
    component = toy_host.registry.get("norm", "toy-scratch")
    [source] = component_evidence(component)
    assert source.run["id"] == "later-run"


def test_explain_names_the_run_it_quotes(
    toy_host: PluginHost, two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "norm:toy-scratch"]) == 0
    out = capsys.readouterr().out
    assert "run full-run" in out and "full grid" in out
    assert str(Path("reports") / "full" / "results.json") in out


def test_an_explicit_results_file_is_the_only_source(
    toy_host: PluginHost, two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, quick = two_runs
    assert main(["explain", "norm:toy-scratch", "--results", str(quick)]) == 0
    out = capsys.readouterr().out
    assert "run quick-run" in out and "full-run" not in out


def test_a_fresh_clone_finds_the_committed_runs_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import suite

    monkeypatch.chdir(tmp_path)
    [source] = [
        s
        for s in component_evidence(suite.get("loss", "focal"))
        if s.benchmark == "loss-imbalanced"
    ]
    assert source.path.parent.name == "cpu-loss-imbalanced-full"
