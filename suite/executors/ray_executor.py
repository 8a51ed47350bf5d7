"""The Ray executor: the cells of a run as tasks on a Ray cluster, the rows streamed to the driver.

Why a pool of runners rather than one bare task per cell: a runner is a Ray actor that imports
the run's plugins once (`suite.executors.worker_plugins`), so a cell's task starts warm and a
cell's clock starts when the driver hands it to an idle runner, which is what `--cell-timeout`
measures. Each runner holds the resources of one cell: one GPU for a CUDA run, `--threads` CPUs
(default 1; torch uses as many threads) otherwise, so the pool has as many runners as the
cluster has room for. Every cell is one task on a runner; its row comes back to the driver as
soon as it finishes, and the driver alone appends it to `results.json`.

What can go wrong, and what it becomes:

* a cell that raises, returns NaN or runs out of memory: its error row, from `run_cell` on the
  worker, exactly as locally;
* a cell whose worker process dies (killed, segfault, `sys.exit`): an error row naming the Ray
  error; the runner is replaced and the run goes on;
* a cell past `--cell-timeout`: its runner is killed (which stops even a native call) and the
  row says "timed out after N s";
* a plugin a worker cannot import: before anything runs, a usage error naming the plugin and
  what to install (every runner checks when it starts); on a runner started later, for
  example on another node, each of its cells becomes an error row naming it.

What it concedes: cells that share a node run side by side, so their timings are taken on a
busier machine than the local executor's; compare timings from runs of the same executor.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray
import ray.exceptions
import torch

from suite.allocator import keep_freed_memory
from suite.errors import UsageError
from suite.executors.local import timed_out_message
from suite.executors.worker_plugins import PluginSpec, WorkerRegistry, cell_spec, plugin_specs

if TYPE_CHECKING:
    from suite.benchmark import RunContext
    from suite.registry import Registry
    from suite.runner import Cell

__all__ = ["RUNTIME_ENV_VARIABLE", "START_TIMEOUT_S", "CellRunner", "RayExecutor"]

#: JSON of a Ray runtime environment for the workers (`{"pip": ["my-nlpsuite-plugin"]}`).
RUNTIME_ENV_VARIABLE = "NLPSUITE_RAY_RUNTIME_ENV"
START_TIMEOUT_S = 600.0  # for every runner to start and import the plugins (pip envs are slow)
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # rows are small; spare /dev/shm


class CellRunner:
    """Lives in a Ray worker: loads the plugins once, then runs one cell per call."""

    def __init__(self, specs: Sequence[PluginSpec], threads: int, device_type: str) -> None:
        torch.set_num_threads(threads)
        keep_freed_memory()  # as in the driver: the same allocator for every timing
        self.plugins = WorkerRegistry(specs)
        self.device_type = device_type

    def ready(self) -> dict[str, Any]:
        """The plugins' problems (empty when all loaded) and the device the cells will use."""
        if self.device_type == "cuda" and torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
        else:
            name = platform.processor() or platform.machine()
        return {"problems": list(self.plugins.problems), "device_name": name, "pid": os.getpid()}

    def run(self, spec: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        """The results row of the cell `spec` names (never raises: see `run_cell`)."""
        from suite.runner import blank_row, run_cell

        try:
            cell = self.plugins.cell(spec)
        except LookupError as exc:
            row = blank_row(spec["kind"], spec["component"], spec["benchmark"], spec["params"])
            row.update(status="error", error=str(exc))
            return row
        return run_cell(cell, ctx)


_RemoteRunner = ray.remote(CellRunner)


@dataclass
class _Running:
    cell: Cell
    runner: Any  # the actor handle
    deadline: float


class RayExecutor:
    """Runs cells on a pool of `CellRunner` actors; see the module docstring."""

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        cell_timeout: float | None = None,
        threads: int | None = None,
    ) -> None:
        self.address = address
        self.cell_timeout = cell_timeout
        self.cpus_per_cell = threads or 1
        self._connected_here = False
        self._runners: list[Any] = []
        self._device = torch.device("cpu")
        self._device_name: str | None = None
        self._specs: list[PluginSpec] = []
        self._lost: str | None = None  # why no runner can be started any more

    # ------------------------------------------------------------------ set-up
    def _connect(self) -> None:
        if ray.is_initialized():
            return
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        runtime_env = _runtime_env_from_environment()
        if runtime_env is not None:
            options["runtime_env"] = runtime_env
        try:
            if self.address is None:
                ray.init(object_store_memory=LOCAL_OBJECT_STORE_BYTES, **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"join the Ray cluster at {self.address}" if self.address else "start Ray"
            raise UsageError(f"--executor ray: cannot {where}: {_first_line(exc)}") from None
        self._connected_here = True

    def pick_device(self, requested: str) -> torch.device:
        self._connect()
        gpus = ray.cluster_resources().get("GPU", 0)
        if requested == "auto":
            self._device = torch.device("cuda" if gpus >= 1 else "cpu")
        elif requested == "cpu":
            self._device = torch.device("cpu")
        elif requested == "cuda":
            if gpus < 1:
                raise UsageError(
                    "--device cuda: the Ray cluster has no GPU (ray.cluster_resources() lists"
                    " none); use --device cpu"
                )
            self._device = torch.device("cuda")
        else:
            raise UsageError(f"--device must be auto, cpu or cuda, got {requested!r}")
        return self._device

    def _resources(self) -> dict[str, float]:
        resources = {"num_cpus": float(self.cpus_per_cell)}
        if self._device.type == "cuda":
            resources["num_gpus"] = 1.0
        return resources

    def _capacity(self) -> int:
        cluster = ray.cluster_resources()
        by_cpu = int(cluster.get("CPU", 0) // self.cpus_per_cell)
        if self._device.type == "cuda":
            return min(int(cluster.get("GPU", 0)), by_cpu)
        return by_cpu

    def _new_runner(self) -> Any:
        runner = _RemoteRunner.options(  # type: ignore[attr-defined]
            max_restarts=0, max_task_retries=0, **self._resources()
        ).remote(self._specs, self.cpus_per_cell, self._device.type)
        self._runners.append(runner)
        return runner

    def start(self, registry: Registry, cells: Sequence[Cell], ctx: RunContext) -> dict[str, Any]:
        from suite.plugins import get_host

        self._connect()
        self._specs = plugin_specs(get_host(), registry, cells)
        capacity = self._capacity()
        if capacity < 1:
            raise UsageError(
                f"--executor ray: no node of the cluster has {self._resources()} free for a cell"
                f" (cluster: {ray.cluster_resources()}); lower --threads"
            )
        runners = [self._new_runner() for _ in range(max(1, min(len(cells), capacity)))]
        try:
            answers = ray.get([r.ready.remote() for r in runners], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise UsageError(
                f"--executor ray: {len(runners)} runner(s) with {self._resources()} did not start"
                f" within {START_TIMEOUT_S:g} s (is the cluster busy?)"
            ) from None
        except ray.exceptions.RayError as exc:
            self.close()
            raise UsageError(
                f"--executor ray: a worker could not start a cell runner ({_first_line(exc)});"
                " is nlpsuite installed on every node?"
            ) from None
        problems = [problem for answer in answers for problem in answer["problems"]]
        if problems:
            self.close()
            raise UsageError(
                f"--executor ray: {problems[0]}; install it on every node or ship it in a Ray"
                f" runtime environment ({RUNTIME_ENV_VARIABLE}, see the README)"
            )
        self._device_name = answers[0]["device_name"]
        record: dict[str, Any] = {
            "name": self.name,
            "address": ray.get_runtime_context().gcs_address,
            "runners": len(runners),
            "resources_per_cell": self._resources(),
        }
        if self.cell_timeout is not None:
            record["cell_timeout_s"] = self.cell_timeout
        return record

    def device_name(self) -> str | None:
        return self._device_name

    # ------------------------------------------------------------------ running
    def run(
        self, cells: Sequence[Cell], ctx: RunContext, on_start: Callable[[Cell], None]
    ) -> Iterator[dict[str, Any]]:
        from suite.runner import error_row

        todo = collections.deque(cells)
        idle = list(self._runners)
        running: dict[Any, _Running] = {}  # task ref -> the cell on it
        starting: dict[Any, Any] = {}  # ready ref -> a replacement runner
        limit = self.cell_timeout
        while todo or running:
            while idle and todo:
                cell, runner = todo.popleft(), idle.pop()
                on_start(cell)
                ref = runner.run.remote(cell_spec(cell), ctx)
                deadline = time.monotonic() + limit if limit is not None else float("inf")
                running[ref] = _Running(cell, runner, deadline)
            if not running and not starting:  # every runner lost and none can start
                for cell in todo:
                    yield error_row(cell, f"not run: {self._lost or 'no Ray runner is left'}")
                return
            wait = None
            if running and limit is not None:
                wait = max(0.0, min(task.deadline for task in running.values()) - time.monotonic())
            done, _ = ray.wait([*running, *starting], num_returns=1, timeout=wait)
            for ref in done:
                if ref in starting:
                    self._runner_started(starting.pop(ref), ref, idle)
                    continue
                task = running.pop(ref)
                try:
                    row = ray.get(ref)
                    idle.append(task.runner)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                    row = error_row(
                        task.cell, f"the Ray worker running the cell died: {_ray_error(exc)}"
                    )
                    self._replace(task.runner, starting)
                except ray.exceptions.RayError as exc:
                    row = error_row(task.cell, f"Ray: {_ray_error(exc)}")
                    self._replace(task.runner, starting)
                yield row
            now = time.monotonic()
            for ref in [ref for ref, task in running.items() if task.deadline <= now]:
                task = running.pop(ref)
                assert limit is not None
                self._replace(task.runner, starting)
                yield error_row(task.cell, timed_out_message(limit))

    def _replace(self, runner: Any, starting: dict[Any, Any]) -> None:
        """Kill `runner` (dead already, or stuck past the time-out) and start another."""
        _kill(runner)
        self._runners.remove(runner)
        fresh = self._new_runner()
        starting[fresh.ready.remote()] = fresh

    def _runner_started(self, runner: Any, ref: Any, idle: list[Any]) -> None:
        try:
            problems = ray.get(ref)["problems"]
        except ray.exceptions.RayError as exc:
            problems = [f"a replacement runner failed to start: {_ray_error(exc)}"]
        if problems:
            self._lost = problems[0]
            _kill(runner)
            self._runners.remove(runner)
        else:
            idle.append(runner)

    def close(self) -> None:
        for runner in self._runners:
            _kill(runner)
        self._runners = []
        if self._connected_here:
            ray.shutdown()
            self._connected_here = False


def _kill(runner: Any) -> None:
    with contextlib.suppress(Exception):  # already dead
        ray.kill(runner, no_restart=True)


def _runtime_env_from_environment() -> dict[str, Any] | None:
    text = os.environ.get(RUNTIME_ENV_VARIABLE, "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{RUNTIME_ENV_VARIABLE} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{RUNTIME_ENV_VARIABLE} must be a JSON object, got {text[:40]!r}")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ray_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_first_line(exc)}"
