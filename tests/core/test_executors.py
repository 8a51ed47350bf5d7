"""Executors: the local one, the usage errors, and the Ray one on a real local Ray instance.

The Ray tests (marked slow, skipped where Ray is not installed) share one Ray instance of 2
CPUs per module; drivers started as subprocesses join it with `--address`, so that killing one
kills a driver, not the cluster.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from suite import cli, plugins
from suite.errors import UsageError
from suite.executors import RAY_INSTALL_HINT, get_executor
from suite.executors.local import LocalExecutor
from suite.executors.worker_plugins import PluginSpec, WorkerRegistry, plugin_specs
from suite.plugins import PluginHost
from suite.results import load_results, row_key
from suite.runner import RunConfig, build_matrix, run_matrix

HERE = Path(__file__).parent
ROOT = HERE.parent.parent

# the extra may not be installed: then the Ray tests are skipped and the rest run
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed: pip install -e '.[ray]'")


@pytest.fixture
def executor_host(toy_host: PluginHost) -> PluginHost:
    """The toy plugin plus the executor test plugin, registered in-process."""
    import executor_plugin

    toy_host.register_plugin(executor_plugin, "executor")
    return toy_host


def _keyed(document: dict) -> dict[str, dict]:
    return {row_key(row): row for row in document["results"]}


# ---------------------------------------------------------------- the local executor, fast
def test_local_executor_yields_every_row_in_matrix_order(
    executor_host: PluginHost, tmp_path: Path
) -> None:
    config = RunConfig(out_dir=tmp_path / "run", quick=True, benchmarks=["executor-bench"])
    store, _ = run_matrix(executor_host.registry, config, executor=LocalExecutor())
    cells = build_matrix(executor_host.registry, config)
    assert [row_key(row) for row in store.results] == [cell.key for cell in cells]
    assert {row["status"] for row in store.results} == {"ok"}
    assert store.run["executor"] == {"name": "local"}


def test_local_cell_timeout_is_an_error_row_and_the_run_goes_on(
    executor_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import executor_plugin

    grid = [{"mode": "hang", "step": 0}, {"mode": "ok", "step": 1}]
    monkeypatch.setattr(executor_plugin.ExecutorBenchmark, "quick_grid", grid)
    config = RunConfig(
        out_dir=tmp_path / "run", quick=True, benchmarks=["executor-bench"], components=["toy-ref"]
    )
    started = time.monotonic()
    store, _ = run_matrix(executor_host.registry, config, executor=LocalExecutor(cell_timeout=0.3))
    assert time.monotonic() - started < 5
    rows = {row["params"]["mode"]: row for row in store.results}
    assert rows["hang"]["status"] == "error"
    assert rows["hang"]["error"] == "timed out after 0.3 s (--cell-timeout)"
    assert rows["ok"]["status"] == "ok" and store.run["finished"] is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "cloud"}, "unknown executor 'cloud'; executors are local, ray"),
        ({"name": "local", "address": "auto"}, "--address applies to --executor ray only"),
        ({"name": "local", "cell_timeout": 0.0}, "--cell-timeout must be a positive number"),
    ],
    ids=["unknown", "address-without-ray", "timeout"],
)
def test_executor_usage_errors(kwargs: dict, message: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        get_executor(name, **kwargs)


def test_ray_missing_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    monkeypatch.delitem(sys.modules, "suite.executors.ray_executor", raising=False)
    with pytest.raises(UsageError, match=r"pip install 'nlpsuite\[ray\]'"):
        get_executor("ray")
    assert cli.main(["run", "--quick", "--executor", "ray"]) == 2
    assert capsys.readouterr().err == f"nlpsuite: error: {RAY_INSTALL_HINT}\n"


def test_worker_plugins_name_what_a_worker_must_import(executor_host: PluginHost) -> None:
    cells = build_matrix(executor_host.registry, RunConfig(quick=True, benchmarks=["toy-bench"]))
    specs = plugin_specs(executor_host, executor_host.registry, cells)
    assert specs == [PluginSpec("toy", "toy_plugin", "in-process")]
    worker = WorkerRegistry(specs)
    assert worker.problems == []
    cell = worker.cell(
        {"kind": "norm", "component": "toy-scratch", "benchmark": "toy-bench", "params": {}}
    )
    assert cell.reference is not None and cell.reference.name == "toy-ref"


def test_a_plugin_the_worker_cannot_import_is_named() -> None:
    worker = WorkerRegistry([PluginSpec("ghost", "no_such_plugin_module", "entry point (ghost)")])
    assert worker.problems == [
        "plugin 'ghost' (entry point (ghost): no_such_plugin_module) cannot be imported on the"
        " worker: ModuleNotFoundError: No module named 'no_such_plugin_module'"
    ]
    with pytest.raises(LookupError, match=r"no norm named 'toy-ref'.*plugin 'ghost'"):
        worker.cell({"kind": "norm", "component": "toy-ref", "benchmark": "b", "params": {}})


def test_a_component_registered_outside_a_plugin_is_a_usage_error(
    executor_host: PluginHost,
) -> None:
    import suite

    class Loose(suite.Benchmark):
        name = "loose-bench"
        kind = "norm"
        summary = "registered straight into the registry"
        quick_grid = {"n": [1]}

    executor_host.registry.commit([], [Loose], owner="test")
    cells = build_matrix(executor_host.registry, RunConfig(quick=True, benchmarks=["loose-bench"]))
    with pytest.raises(UsageError, match="'test', which is not a loaded plugin here"):
        plugin_specs(executor_host, executor_host.registry, cells)


# ---------------------------------------------------------------- Ray, on a real local instance
def _worker_pythonpath() -> str:
    return os.pathsep.join([str(HERE), str(ROOT)])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray instance of 2 CPUs for the module; yields its address for subprocess drivers."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        object_store_memory=128 * 1024**2,
        runtime_env={"env_vars": {"PYTHONPATH": _worker_pythonpath()}},
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _ray(**kwargs: object):
    from suite.executors.ray_executor import RayExecutor

    return RayExecutor(**kwargs)  # type: ignore[arg-type]


@pytest.fixture
def builtin_host(fresh_host: PluginHost) -> Iterator[PluginHost]:
    host = PluginHost(builtins=("plugins.tokenizers", "plugins.norms"), entry_points=False)
    plugins.reset(host)
    yield host.load()


@needs_ray
def test_ray_devices_and_resources_follow_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA cell asks for one GPU; `auto` takes CUDA when the cluster has a GPU, whatever the
    driver has; `cuda` on a cluster without one is a usage error."""
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # as if joined: no cluster needed
    resources = {"CPU": 8.0, "GPU": 2.0}
    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    executor = _ray(threads=2)
    assert executor.pick_device("auto").type == "cuda"
    assert executor._resources() == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert executor._capacity() == 2
    assert executor.pick_device("cpu").type == "cpu"
    assert executor._resources() == {"num_cpus": 2.0} and executor._capacity() == 4
    del resources["GPU"]
    assert executor.pick_device("auto").type == "cpu"
    with pytest.raises(UsageError, match="--device cuda: the Ray cluster has no GPU"):
        executor.pick_device("cuda")


@needs_ray
@pytest.mark.slow
def test_ray_run_equals_the_local_run(
    ray_cluster: str, builtin_host: PluginHost, tmp_path: Path
) -> None:
    """The quick grid of two kinds: the same cells, statuses and metrics (none is a timing)."""
    benchmarks = ["tokenizer-compression", "norm-agreement"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray runner holds one CPU
    try:
        local, _ = run_matrix(
            builtin_host.registry,
            RunConfig(out_dir=tmp_path / "local", quick=True, benchmarks=benchmarks),
        )
    finally:
        torch.set_num_threads(threads)
    remote, _ = run_matrix(
        builtin_host.registry,
        RunConfig(out_dir=tmp_path / "ray", quick=True, benchmarks=benchmarks),
        executor=_ray(),
    )
    local_rows, ray_rows = _keyed(local.document()), _keyed(remote.document())
    assert len(local_rows) == len(local.results) >= 10
    assert list(ray_rows) == list(local_rows)  # the same cells, put back in matrix order
    for key, row in local_rows.items():
        assert ray_rows[key]["status"] == row["status"], key
        assert ray_rows[key]["error"] == row["error"], key
        assert ray_rows[key]["metrics"] == row["metrics"], key
    assert remote.run["executor"]["name"] == "ray" and remote.run["executor"]["runners"] == 2
    assert remote.run["finished"] is not None


@needs_ray
@pytest.mark.slow
def test_dead_worker_and_timeout_become_error_rows(
    ray_cluster: str,
    executor_host: PluginHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import executor_plugin

    grid = [
        {"mode": "ok", "step": 0},
        {"mode": "crash", "step": 1},
        {"mode": "hang", "step": 2},
        {"mode": "ok", "step": 3},
    ]
    monkeypatch.setattr(executor_plugin.ExecutorBenchmark, "quick_grid", grid)
    out = tmp_path / "run"
    argv = ["run", "--quick", "--benchmark", "executor-bench", "--out", str(out)]
    code = cli.main([*argv, "--component", "toy-ref", "--executor", "ray", "--cell-timeout", "5"])
    assert code == 1, capsys.readouterr().err
    document = load_results(out / "results.json")
    rows = {row["params"]["mode"]: row for row in document["results"]}
    assert len(document["results"]) == 4 and document["run"]["finished"] is not None
    assert rows["crash"]["status"] == "error"
    assert re.match(
        r"the Ray worker running the cell died: (ActorDiedError|RayActorError|WorkerCrashedError)",
        rows["crash"]["error"],
    )
    assert rows["hang"]["error"] == "timed out after 5 s (--cell-timeout)"
    oks = [row for row in document["results"] if row["params"]["mode"] == "ok"]
    assert [row["status"] for row in oks] == ["ok", "ok"]


@needs_ray
@pytest.mark.slow
def test_a_plugin_missing_on_the_workers_fails_before_anything_runs(
    ray_cluster: str,
    fresh_host: PluginHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = (HERE / "executor_plugin.py").read_text()
    (tmp_path / "driver_only_plugin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))  # importable here, not on the workers
    import driver_only_plugin

    fresh_host.register_plugin(driver_only_plugin, "driver-only")
    sys.path.insert(0, str(HERE))
    try:
        import toy_plugin

        fresh_host.register_plugin(toy_plugin, "toy")
    finally:
        sys.path.remove(str(HERE))
    out = tmp_path / "run"
    argv = ["run", "--quick", "--benchmark", "executor-bench", "--out", str(out)]
    assert cli.main([*argv, "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "plugin 'driver-only' (in-process: driver_only_plugin) cannot be imported" in err
    assert not (out / "results.json").exists()


def _driver_env(toy_env: dict[str, str], **extra: str) -> dict[str, str]:
    runtime_env = {"env_vars": {"PYTHONPATH": _worker_pythonpath()}}
    return {**toy_env, "NLPSUITE_RAY_RUNTIME_ENV": json.dumps(runtime_env), **extra}


@needs_ray
@pytest.mark.slow
def test_resume_after_a_killed_driver_runs_exactly_the_missing_cells(
    ray_cluster: str, tmp_path: Path, toy_env: dict[str, str]
) -> None:
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "suite", "run", "--quick", "--benchmark", "toy-slow"]
    command += ["--out", str(out), "--executor", "ray", "--address", ray_cluster]
    process = subprocess.Popen(
        command,
        env=_driver_env(toy_env, TOY_SLEEP_S="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results.json"
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if results.exists() and len(json.loads(results.read_text())["results"]) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    survived = load_results(results)
    assert 3 <= len(survived["results"]) < 12
    assert survived["run"]["finished"] is None
    done = subprocess.run(
        [*command, "--resume"],
        env=_driver_env(toy_env, TOY_SLEEP_S="0"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    final = load_results(results)
    assert final["results"][: len(survived["results"])] == survived["results"]
    assert len(final["results"]) == len(_keyed(final)) == 12
    assert final["run"]["finished"] is not None
    assert final["run"]["resumes"][0]["executor"]["name"] == "ray"
