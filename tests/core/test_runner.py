"""The runner: matrix building, isolation of every failure path, atomic writes, kill and resume."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from suite.errors import UsageError
from suite.plugins import PluginHost
from suite.results import load_results
from suite.runner import (
    RunConfig,
    build_matrix,
    execute_run,
    pick_device,
    prepare_run,
    run_matrix,
)


def _run(host: PluginHost, tmp_path: Path, **kwargs) -> dict:
    config = RunConfig(out_dir=tmp_path / "run", quick=True, **kwargs)
    store, _ = run_matrix(host.registry, config)
    return store.document()


def test_matrix_respects_filters(toy_host: PluginHost) -> None:
    cells = build_matrix(toy_host.registry, RunConfig(quick=True, benchmarks=["toy-bench"]))
    assert len(cells) == 2 * 3
    cells = build_matrix(
        toy_host.registry,
        RunConfig(quick=True, components=["toy-scratch"], benchmarks=["toy-bench"]),
    )
    assert {c.component.name for c in cells} == {"toy-scratch"}
    full = build_matrix(toy_host.registry, RunConfig(quick=False, benchmarks=["toy-bench"]))
    assert len(full) == 2 * 2


@pytest.mark.parametrize(
    "config",
    [
        RunConfig(kinds=["colour"]),
        RunConfig(components=["no-such-thing"]),
        RunConfig(benchmarks=["no-such-bench"]),
    ],
    ids=["kind", "component", "benchmark"],
)
def test_unknown_filters_are_usage_errors(toy_host: PluginHost, config: RunConfig) -> None:
    with pytest.raises(UsageError, match="unknown"):
        build_matrix(toy_host.registry, config)


def test_cuda_request_without_cuda_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="CUDA is not available"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"


def test_each_failure_becomes_its_own_error_row(toy_host: PluginHost, tmp_path: Path) -> None:
    document = _run(toy_host, tmp_path, benchmarks=["toy-bench"])
    rows = {(r["component"], r["params"]["mode"]): r for r in document["results"]}
    assert rows[("toy-scratch", "ok")]["status"] == "ok"
    assert rows[("toy-scratch", "ok")]["metrics"]["max_abs_error"] < 1e-5
    assert rows[("toy-scratch", "ok")]["timing"]["repeats"] >= 3
    assert rows[("toy-scratch", "ok")]["reference"] == "toy-ref"
    assert rows[("toy-ref", "raise")]["status"] == "error"
    assert rows[("toy-ref", "raise")]["error"] == "RuntimeError: boom in the toy benchmark"
    assert "is nan" in rows[("toy-scratch", "nan")]["error"]
    assert document["run"]["finished"] is not None


def test_cuda_out_of_memory_becomes_an_error_row(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toy_plugin

    monkeypatch.setattr(toy_plugin.ToyBenchmark, "quick_grid", {"size": [8], "mode": ["oom", "ok"]})
    document = _run(toy_host, tmp_path, benchmarks=["toy-bench"])
    statuses = [(r["params"]["mode"], r["status"], r["error"]) for r in document["results"]]
    assert ("oom", "error", "CUDA out of memory: tried to allocate 1 TiB") in statuses
    assert ("ok", "ok", None) in statuses


def test_skip_cell_becomes_a_skipped_row(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toy_plugin

    monkeypatch.setattr(toy_plugin.ToyBenchmark, "quick_grid", {"size": [8], "mode": ["skip"]})
    document = _run(toy_host, tmp_path, benchmarks=["toy-bench"])
    assert {(r["status"], r["error"]) for r in document["results"]} == {("skipped", "needs a GPU")}


def test_same_seed_same_numbers(toy_host: PluginHost, tmp_path: Path) -> None:
    first = _run(toy_host, tmp_path / "a", benchmarks=["toy-bench"], seed=3)
    second = _run(toy_host, tmp_path / "b", benchmarks=["toy-bench"], seed=3)
    assert [r["metrics"] for r in first["results"]] == [r["metrics"] for r in second["results"]]


def test_resume_runs_only_missing_cells(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    document = _run(toy_host, tmp_path, benchmarks=["toy-slow"])
    assert len(document["results"]) == 12
    path = tmp_path / "run" / "results.json"
    kept = load_results(path)
    kept["results"] = kept["results"][:5]
    path.write_text(json.dumps(kept))
    store, _ = run_matrix(
        toy_host.registry,
        RunConfig(out_dir=tmp_path / "run", quick=True, benchmarks=["toy-slow"], resume=True),
    )
    rows = store.document()["results"]
    assert len(rows) == 12
    assert rows[:5] == kept["results"][:5]
    assert store.run["id"] == kept["run"]["id"]


def test_resume_without_previous_run_is_a_usage_error(toy_host: PluginHost, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no results\.json"):
        run_matrix(
            toy_host.registry, RunConfig(out_dir=tmp_path / "empty", quick=True, resume=True)
        )


def test_killed_run_keeps_finished_cells_and_resumes(
    tmp_path: Path, toy_env: dict[str, str]
) -> None:
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "suite",
        "run",
        "--quick",
        "--benchmark",
        "toy-slow",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command, env=toy_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    results = out / "results.json"
    deadline = time.time() + 60
    finished = 0
    while time.time() < deadline:
        if results.exists():
            finished = len(json.loads(results.read_text())["results"])  # never a half-written file
            if finished >= 3:
                break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    survived = load_results(results)
    assert 3 <= len(survived["results"]) < 12
    assert survived["run"]["finished"] is None
    toy_env = {**toy_env, "TOY_SLEEP_S": "0"}
    done = subprocess.run(
        [*command, "--resume"], env=toy_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    final = load_results(results)
    assert len(final["results"]) == 12
    assert final["results"][: len(survived["results"])] == survived["results"]
    keys = {json.dumps([r["component"], r["params"]], sort_keys=True) for r in final["results"]}
    assert len(keys) == 12
    assert final["run"]["finished"] is not None


def _rows(path: Path) -> list[dict]:
    return load_results(path)["results"]


def test_resume_runs_with_the_recorded_configuration(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `--quick --benchmark toy-slow --seed 3` run resumed with no options: the same cells,
    never the full grid or other benchmarks added to the same file."""
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    out = tmp_path / "run"
    first = RunConfig(
        out_dir=out, quick=True, benchmarks=["toy-slow"], seed=3, argv=["nlpsuite", "first"]
    )
    run_matrix(toy_host.registry, first)
    path = out / "results.json"
    kept = load_results(path)
    kept["results"] = kept["results"][:5]
    kept["run"]["finished"] = None  # as a killed run leaves it
    path.write_text(json.dumps(kept))
    store, _ = run_matrix(
        toy_host.registry, RunConfig(out_dir=out, resume=True, argv=["nlpsuite", "again"])
    )
    rows = store.document()["results"]
    assert len(rows) == 12 and rows[:5] == kept["results"]
    assert {r["benchmark"] for r in rows} == {"toy-slow"}
    run = load_results(path)["run"]
    assert run["argv"] == ["nlpsuite", "first"] and run["started"] == kept["run"]["started"]
    assert run["seed"] == 3 and run["config"]["quick"] is True
    assert [r["argv"] for r in run["resumes"]] == [["nlpsuite", "again"]]
    assert run["resumes"][0]["finished"] is not None and run["finished"] is not None


def test_resume_with_a_different_option_is_refused(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    out = tmp_path / "run"
    run_matrix(toy_host.registry, RunConfig(out_dir=out, quick=True, benchmarks=["toy-slow"]))
    before = (out / "results.json").read_text()
    with pytest.raises(UsageError, match=r"--seed 5 \(recorded: --seed 0\)"):
        run_matrix(toy_host.registry, RunConfig(out_dir=out, resume=True, seed=5))
    with pytest.raises(
        UsageError, match=r"--benchmark toy-bench \(recorded: --benchmark toy-slow\)"
    ):
        run_matrix(toy_host.registry, RunConfig(out_dir=out, resume=True, benchmarks=["toy-bench"]))
    assert (out / "results.json").read_text() == before


def test_resuming_a_complete_run_changes_nothing(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    out = tmp_path / "run"
    run_matrix(toy_host.registry, RunConfig(out_dir=out, quick=True, benchmarks=["toy-slow"]))
    before = (out / "results.json").read_bytes()
    prepared = prepare_run(
        toy_host.registry, RunConfig(out_dir=out, resume=True, argv=["nlpsuite", "again"])
    )
    assert prepared.resumed and prepared.todo == []
    execute_run(prepared)
    assert (out / "results.json").read_bytes() == before


def test_resume_refuses_a_corpus_that_changed(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    corpus = tmp_path / "text.txt"
    corpus.write_text("some words to read\n")
    out = tmp_path / "run"
    config = RunConfig(out_dir=out, quick=True, benchmarks=["toy-slow"], corpus_path=corpus)
    run_matrix(toy_host.registry, config)
    corpus.write_text("other words entirely\n")
    with pytest.raises(UsageError, match="changed since the run started"):
        run_matrix(toy_host.registry, RunConfig(out_dir=out, resume=True))


def test_run_metadata_names_the_corpus(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    corpus = tmp_path / "text.txt"
    corpus.write_bytes(b"hello\n")
    document = _run(toy_host, tmp_path, benchmarks=["toy-slow"], corpus_path=corpus)
    assert document["run"]["corpus"] == {
        "path": str(corpus.resolve()),
        "bytes": 6,
        "sha256": hashlib.sha256(b"hello\n").hexdigest()[:12],
    }
    assert _run(toy_host, tmp_path / "b", benchmarks=["toy-slow"])["run"]["corpus"] is None


def test_input_warnings_are_recorded_once_each(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    slow = toy_host.registry.benchmarks("norm")
    bench_cls = next(b for b in slow if b.name == "toy-slow")
    monkeypatch.setattr(
        bench_cls,
        "input_warnings",
        lambda self, params, ctx: ["the toy input is small"] if params["step"] < 3 else [],
        raising=False,
    )
    prepared = prepare_run(
        toy_host.registry, RunConfig(out_dir=tmp_path / "run", quick=True, benchmarks=["toy-slow"])
    )
    assert prepared.warnings == ["the toy input is small"]
    store = execute_run(prepared)
    assert load_results(store.path)["run"]["warnings"] == ["the toy input is small"]


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_out_that_cannot_be_a_folder_is_a_usage_error(
    toy_host: PluginHost, tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "run"
    with pytest.raises(UsageError, match="not a folder"):
        run_matrix(toy_host.registry, RunConfig(out_dir=out, quick=True, benchmarks=["toy-slow"]))


def test_unwritable_out_is_a_usage_error(
    toy_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(UsageError, match=r"cannot write into .*: Permission denied"):
        run_matrix(
            toy_host.registry,
            RunConfig(out_dir=tmp_path / "locked", quick=True, benchmarks=["toy-slow"]),
        )


def test_kinds_that_differ_are_named(toy_host: PluginHost, tmp_path: Path) -> None:
    import suite

    class OtherKind(suite.Benchmark):
        name = "loss-thing"
        kind = "loss"
        summary = "a loss benchmark"
        quick_grid = {"n": [1]}

    toy_host.registry.commit([], [OtherKind], owner="test")
    with pytest.raises(UsageError) as info:
        run_matrix(
            toy_host.registry,
            RunConfig(
                out_dir=tmp_path / "r", components=["toy-scratch"], benchmarks=["loss-thing"]
            ),
        )
    assert "component 'toy-scratch' is a norm but benchmark 'loss-thing' measures losses" in str(
        info.value
    )
