"""results.json: the contract's schema, atomic writes, and clear errors for files that are not results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.errors import UsageError
from suite.plugins import PluginHost
from suite.results import RESULT_KEYS, RUN_KEYS, ResultsStore, atomic_write_text, load_results
from suite.runner import RunConfig, run_matrix


def test_document_has_exactly_the_contract_keys(toy_host: PluginHost, tmp_path: Path) -> None:
    run_matrix(
        toy_host.registry, RunConfig(out_dir=tmp_path, quick=True, benchmarks=["toy-bench"], seed=7)
    )
    document = json.loads((tmp_path / "results.json").read_text())
    run = document["run"]
    assert set(RUN_KEYS) <= set(run)
    assert run["device"] == "cpu" and run["seed"] == 7
    for stamp in (run["started"], run["finished"]):
        assert stamp[:4].isdigit() and "T" in stamp
    for row in document["results"]:
        assert set(RESULT_KEYS) <= set(row)
        assert row["status"] in ("ok", "error", "skipped")
        assert isinstance(row["params"], dict) and isinstance(row["metrics"], dict)
        if row["timing"] is not None:
            assert set(row["timing"]) == {"median_ms", "iqr_ms", "repeats"}
        if row["memory"] is not None:
            assert set(row["memory"]) == {"peak_bytes"}


def test_atomic_write_leaves_old_content_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    def explode(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", explode)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_store_writes_nan_as_null_never_invalid_json(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.json", {key: None for key in RUN_KEYS})
    store.append(
        {
            "kind": "norm",
            "component": "x",
            "benchmark": "b",
            "params": {},
            "status": "ok",
            "error": None,
            "metrics": {"v": float("nan")},
            "timing": None,
            "memory": None,
        }
    )
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["metrics"]["v"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such results file"),
        ("{not json", "is not valid JSON"),
        ('{"run": {}, "results": []}', "'run' lacks id"),
        ("[1, 2]", "expected an object"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_load_results_errors_are_one_line(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "results.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_results(path)
    assert "\n" not in str(info.value)
