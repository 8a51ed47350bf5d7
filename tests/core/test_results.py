"""results.json: the contract's schema, atomic writes, and clear errors for files that are not results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
            contract = {"median_ms", "iqr_ms", "repeats"}
            optional = {"samples_ms", "ratio_samples", "unstable", "unstable_reason"}  # suite.noise
            assert contract <= set(row["timing"]) <= contract | optional
            assert len(row["timing"]["samples_ms"]) == row["timing"]["repeats"]
            assert row["timing"].get("unstable", False) == ("unstable_reason" in row["timing"])
        if row["memory"] is not None:
            assert set(row["memory"]) == {"peak_bytes"}
    for key in ("load_before", "load_after"):  # how busy the machine was (suite.noise)
        assert isinstance(run[key], list) and len(run[key]) == 3


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


def test_store_text_is_json_dumps_with_indent_two_after_appends_and_reordering(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.json"
    run = {key: f"value of {key}" for key in RUN_KEYS}
    store = ResultsStore(path, run)
    store.flush()
    assert path.read_text() == json.dumps({"run": run, "results": []}, indent=2) + "\n"
    rows = [
        {"kind": "norm", "component": f"c{i}", "benchmark": "b", "params": {"n": [i, {"d": i}]},
        "status": "ok", "error": None, "metrics": {"v": i / 3, "bad": float("inf")},
        "timing": None, "memory": None}
        for i in range(4)
    ]  # fmt: skip
    for row in rows:
        store.append(row)
    store.results[:] = store.results[::-1]  # the runner puts rows back in matrix order at the end
    run["finished"] = "later"  # the run's fields change at the end too
    store.flush()
    expected = [{**row, "metrics": {"v": row["metrics"]["v"], "bad": None}} for row in rows[::-1]]
    assert path.read_text() == json.dumps({"run": run, "results": expected}, indent=2) + "\n"


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


def _valid_document() -> dict[str, Any]:
    run = {key: "x" for key in RUN_KEYS} | {"finished": None, "seed": 0, "argv": ["run"]}
    row = {
        "kind": "attention",
        "component": "sdpa",
        "benchmark": "attention-latency",
        "params": {"seq_len": 128},
        "status": "ok",
        "error": None,
        "metrics": {"max_abs_error": 0.5, "nan_replaced": None},
        "timing": {"median_ms": 1.0, "iqr_ms": 0.1, "repeats": 7},
        "memory": {"peak_bytes": 1024},
    }
    return {"run": run, "results": [row, {**row, "timing": None, "memory": None}]}


def _broken(edit: Any) -> dict[str, Any]:
    document = _valid_document()
    edit(document)
    return document


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["results"][1].update(timing={"median_ms": "fast"}),
            "results[1].timing.median_ms must be a number or null, got 'fast'",
        ),
        (
            lambda d: d["results"][0].update(metrics="f1=0.5"),
            "results[0].metrics must be an object, got 'f1=0.5'",
        ),
        (
            lambda d: d["results"][0]["metrics"].update(f1=True),
            "results[0].metrics.f1 must be a number or null, got True",
        ),
        (lambda d: d.pop("results"), "'results' is missing"),
        (lambda d: d.update(results={}), "results must be a list, got {}"),
        (
            lambda d: d["results"][0].update(status="done"),
            "results[0].status must be one of ok, error, skipped, got 'done'",
        ),
        (lambda d: d["results"][0].pop("params"), "results[0] lacks params"),
        (lambda d: d["results"][0].update(params=[128]), "results[0].params must be an object"),
        (lambda d: d["results"][0].update(component=3), "results[0].component must be a string"),
        (
            lambda d: d["results"][0].update(error=["x"]),
            "results[0].error must be a string or null",
        ),
        (lambda d: d["results"][0].update(timing=[1.0]), "results[0].timing must be an object"),
        (lambda d: d["results"][0].update(timing={"iqr_ms": 1.0}), "timing lacks median_ms"),
        (
            lambda d: d["results"][0].update(memory={"peak_bytes": "1 MiB"}),
            "results[0].memory.peak_bytes must be a number or null",
        ),
        (lambda d: d["results"][0].update(reference=1), "results[0].reference must be a string"),
        (lambda d: d["results"].append("row"), "results[2] must be an object, got 'row'"),
        (lambda d: d["run"].update(seed="0"), "run.seed must be an integer or null, got '0'"),
        (lambda d: d["run"].update(argv="run --quick"), "run.argv must be a list of strings"),
        (
            lambda d: d["run"].update(benchmarks={"b": {"ratio_metric": 3}}),
            "run.benchmarks.b.ratio_metric must be a string or null, got 3",
        ),
        (
            lambda d: d["run"].update(benchmarks={"b": {"higher_is_better": "yes"}}),
            "run.benchmarks.b.higher_is_better must be true or false",
        ),
    ],
)
def test_load_results_names_the_field_of_the_wrong_type(
    tmp_path: Path, edit: Any, message: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_broken(edit)))
    with pytest.raises(UsageError) as info:
        load_results(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text and message in text


@pytest.mark.parametrize("with_additions", [False, True])
def test_old_and_new_files_stay_valid(tmp_path: Path, with_additions: bool) -> None:
    """Files of earlier versions (no row `reference`, no `run.benchmarks`) load unchanged."""
    document = _valid_document()
    if with_additions:
        document["run"]["benchmarks"] = {
            "attention-latency": {
                "kind": "attention",
                "summary": "forward latency",
                "ratio_metric": None,
                "higher_is_better": False,
            }
        }
        document["results"][0]["reference"] = None
        document["results"][1]["reference"] = "sdpa"
        document["run"]["quick"] = True  # keys the schema does not name are allowed
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    assert load_results(path) == document


def test_committed_runs_are_valid() -> None:
    committed = Path(__file__).resolve().parents[2] / "reports" / "committed"
    paths = sorted(committed.glob("*/results.json"))
    for path in paths:
        load_results(path)
