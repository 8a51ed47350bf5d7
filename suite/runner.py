"""The runner: the matrix of components × benchmarks × parameter points, one isolated cell at a time.

Each cell is seeded the same way (so every component sees the same data), runs inside its own
`try`, and becomes one row of `results.json`: an exception, a NaN or infinite metric, or a CUDA
out-of-memory error turns into an `error` row with its message and the run goes on. Every row is
written to disk atomically as soon as it finishes, so a killed run loses nothing it finished and
`resume=True` runs only the cells that are missing.

Where the cells run is an executor's business (`suite.executors`: in this process, or on a Ray
cluster); every row comes back here, and only this process writes the results file. Rows are
appended as they finish, in whatever order that is, and put back in matrix order once the
run's cells are all in, so that a distributed run's file reads like a local one's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import platform
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suite.allocator import keep_freed_memory
from suite.benchmark import Benchmark, Measurement, RunContext
from suite.errors import CellError, SkipCell, UsageError
from suite.executors import Executor
from suite.folders import prepare_output_folder
from suite.kinds import KINDS, Component
from suite.noise import load_average
from suite.registry import Registry
from suite.results import ResultsStore, cell_key, load_results, row_key
from suite.resume import config_record, describe_corpus, resumed_config

__all__ = [
    "Cell",
    "PreparedRun",
    "RunConfig",
    "blank_row",
    "build_matrix",
    "error_row",
    "execute_run",
    "pick_device",
    "prepare_run",
    "run_cell",
    "run_matrix",
    "seed_everything",
]


@dataclass
class RunConfig:
    """What `nlpsuite run` was asked for; empty filters mean everything."""

    kinds: Sequence[str] = ()
    components: Sequence[str] = ()  # component names, or kind:name
    benchmarks: Sequence[str] = ()
    device: str = "auto"  # auto | cpu | cuda
    quick: bool = False
    seed: int = 0
    out_dir: Path | None = None  # default reports/<run-id>/
    resume: bool = False
    corpus_path: Path | None = None
    argv: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cell:
    """One point of the matrix: a component class measured by a benchmark at one parameter point."""

    component: type[Component]
    benchmark: Benchmark
    params: dict[str, Any]
    reference: type[Component] | None = None  # resolved once, from the run's registry

    @property
    def key(self) -> str:
        return cell_key(self.component.kind, self.component.name, self.benchmark.name, self.params)

    @property
    def label(self) -> str:
        point = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.component.kind}:{self.component.name} · {self.benchmark.name} [{point}]"


def pick_device(requested: str) -> torch.device:
    """`auto` takes CUDA when available; asking for `cuda` without one is a usage error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                "--device cuda: CUDA is not available here (see `nlpsuite env`); use --device cpu"
            )
        return torch.device("cuda")
    raise UsageError(f"--device must be auto, cpu or cuda, got {requested!r}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a cell is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_matrix(registry: Registry, config: RunConfig) -> list[Cell]:
    """Expand the filters into cells; unknown kinds, names or benchmarks are usage errors."""
    for kind in config.kinds:
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    all_components = registry.components()
    known_names = {c.name for c in all_components} | {f"{c.kind}:{c.name}" for c in all_components}
    for name in config.components:
        if name not in known_names:
            raise UsageError(
                f"unknown component {name!r}; see `nlpsuite list` (known: {', '.join(sorted(c.name for c in all_components))})"
            )
    all_benchmarks = registry.benchmarks()
    for name in config.benchmarks:
        if name not in {b.name for b in all_benchmarks}:
            raise UsageError(
                f"unknown benchmark {name!r}; see `nlpsuite list` (known: {', '.join(sorted(b.name for b in all_benchmarks))})"
            )

    def wanted(component: type[Component]) -> bool:
        if config.kinds and component.kind not in config.kinds:
            return False
        if config.components:
            return (
                component.name in config.components
                or f"{component.kind}:{component.name}" in config.components
            )
        return True

    cells: list[Cell] = []
    for benchmark_cls in all_benchmarks:
        if config.benchmarks and benchmark_cls.name not in config.benchmarks:
            continue
        benchmark = benchmark_cls()
        chosen = [
            c
            for c in all_components
            if c.kind == benchmark.kind and wanted(c) and benchmark.applies_to(c)
        ]
        if not chosen:
            continue
        references = {component: registry.reference_of(component) for component in chosen}
        for params in benchmark.params(config.quick):
            cells.extend(
                Cell(component, benchmark, params, references[component]) for component in chosen
            )
    return cells


_KIND_NOUNS = {  # (one, several): "component 'bpe' is a tokenizer", "measures norms"
    "tokenizer": ("a tokenizer", "tokenizers"),
    "attention": ("an attention component", "attention components"),
    "norm": ("a norm", "norms"),
    "loss": ("a loss", "losses"),
    "moe": ("a mixture-of-experts layer", "mixture-of-experts layers"),
    "decoding": ("a decoder", "decoders"),
    "collective": ("a collective operation", "collective operations"),
}


def _kind_nouns(kind: str) -> tuple[str, str]:
    return _KIND_NOUNS.get(kind, (f"a {kind} component", f"{kind} components"))


def _why_nothing_matches(registry: Registry, config: RunConfig) -> str:
    """Why the filters select no cell: kinds that differ, a benchmark that does not apply."""
    components = [
        c
        for c in registry.components()
        if c.name in config.components or f"{c.kind}:{c.name}" in config.components
    ]
    benchmarks = [b for b in registry.benchmarks() if b.name in config.benchmarks]
    reasons: list[str] = []
    for component in components:
        if config.kinds and component.kind not in config.kinds:
            reasons.append(
                f"component {component.name!r} is {_kind_nouns(component.kind)[0]}, not of --kind {', '.join(config.kinds)}"
            )
        for benchmark_cls in benchmarks:
            if benchmark_cls.kind != component.kind:
                reasons.append(
                    f"component {component.name!r} is {_kind_nouns(component.kind)[0]} but benchmark {benchmark_cls.name!r} measures {_kind_nouns(benchmark_cls.kind)[1]}"
                )
            elif not benchmark_cls().applies_to(component):
                reasons.append(
                    f"benchmark {benchmark_cls.name!r} does not apply to {component.kind} {component.name!r}"
                )
    if config.kinds and not components:
        for benchmark_cls in benchmarks:
            if benchmark_cls.kind not in config.kinds:
                reasons.append(
                    f"benchmark {benchmark_cls.name!r} measures {_kind_nouns(benchmark_cls.kind)[1]}, not --kind {', '.join(config.kinds)}"
                )
    if not reasons:
        reasons.append("no component matches these filters")
    return f"nothing to run: {'; '.join(reasons)} (see `nlpsuite list`)"


def blank_row(
    kind: str,
    component: str,
    benchmark: str,
    params: dict[str, Any],
    reference: str | None = None,
) -> dict[str, Any]:
    """A results row with nothing measured yet (status ok, no metrics)."""
    return {
        "kind": kind,
        "component": component,
        "benchmark": benchmark,
        "params": params,
        "status": "ok",
        "error": None,
        "metrics": {},
        "timing": None,
        "memory": None,
        "reference": reference,
    }


def error_row(cell: Cell, message: str) -> dict[str, Any]:
    """The row of a cell that failed outside `run_cell` (timed out, its worker died)."""
    row = blank_row(
        cell.component.kind,
        cell.component.name,
        cell.benchmark.name,
        cell.params,
        cell.component.reference,
    )
    row.update(status="error", error=message)
    return row


def run_cell(cell: Cell, ctx: RunContext) -> dict[str, Any]:
    """Run one cell in isolation and return its results row (never raises, except on Ctrl-C).

    Every cell starts from the same seed, so its numbers do not depend on which cells ran
    before it, nor where (see `suite.executors`).
    """
    component, benchmark = cell.component, cell.benchmark
    row = blank_row(
        component.kind, component.name, benchmark.name, cell.params, component.reference
    )
    seed_everything(ctx.seed)
    try:
        cell_ctx = dataclasses.replace(ctx, reference=cell.reference)
        outcome = benchmark.run(component, dict(cell.params), cell_ctx)
        measurement = (
            outcome if isinstance(outcome, Measurement) else Measurement(metrics=dict(outcome))
        )
        row["metrics"] = _checked_metrics(measurement.metrics)
        if measurement.timing is not None:
            row["timing"] = measurement.timing.to_dict()
        if measurement.peak_bytes is not None:
            row["memory"] = {"peak_bytes": int(measurement.peak_bytes)}
        if measurement.series:  # downsampled to suite.series.MAX_POINTS each
            row["series"] = [series.to_dict() for series in measurement.series]
    except SkipCell as exc:
        row.update(status="skipped", error=_first_line(exc), metrics={})
    except torch.cuda.OutOfMemoryError as exc:
        _release_cuda_memory()
        row.update(status="error", error=f"CUDA out of memory: {_first_line(exc)}", metrics={})
    except Exception as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {_first_line(exc)}", metrics={})
    return row


def _checked_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            value = float(value)
        if not _is_finite_number(value):
            raise CellError(f"metric {name!r} is {value!r}, not a finite number")
        checked[str(name)] = value
    return checked


def _is_finite_number(value: object) -> bool:
    # not suite.metrics.is_finite_number: that module imports scikit-learn, off the run's path
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _release_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":  # on a driver without CUDA, the executor names the workers' GPU
        return torch.cuda.get_device_name(device) if torch.cuda.is_available() else "cuda"
    return platform.processor() or platform.machine()


def _benchmark_records(benchmarks: Sequence[Benchmark]) -> dict[str, Any]:
    return {
        b.name: {
            "kind": b.kind,
            "summary": b.summary,
            "ratio_metric": b.ratio_metric,
            "higher_is_better": b.higher_is_better,
            "plots": list(b.plots),
        }
        for b in benchmarks
    }


def run_metadata(
    run_id: str, device: torch.device, config: RunConfig, benchmarks: Sequence[Benchmark]
) -> dict[str, Any]:
    """`run` of a new results file; `config` and `corpus` let `--resume` repeat it exactly."""
    from suite import __version__

    device_name = _device_name(device)
    return {
        "id": run_id,
        "started": now_iso(),
        "finished": None,
        "suite_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device.type,
        "device_name": device_name,
        "seed": config.seed,
        "argv": list(config.argv) or sys.argv[1:],
        "quick": config.quick,
        "cpu_threads": torch.get_num_threads(),
        "load_before": load_average(),  # 1/5/15-min load: how busy the machine was (suite.noise)
        "allocator": keep_freed_memory(),  # how host memory was allocated (suite.allocator)
        "config": config_record(config),
        "corpus": describe_corpus(config.corpus_path),  # null: each benchmark's built-in text
        "warnings": [],
        "benchmarks": _benchmark_records(benchmarks),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


@dataclass
class PreparedRun:
    """A validated run: its cells, its device, and its results file opened (resumed or new)."""

    cells: list[Cell]
    ctx: RunContext
    store: ResultsStore
    out_dir: Path
    config: RunConfig | None = None  # what runs: for a resume, the recorded configuration
    warnings: list[str] = field(default_factory=list)  # new this time, also in run.warnings
    executor: Executor | None = None  # where the cells run; None: in this process

    @property
    def todo(self) -> list[Cell]:
        """The cells the results file does not hold yet."""
        return [cell for cell in self.cells if not self.store.done(cell.key)]

    @property
    def resumed(self) -> bool:
        return self.config is not None and self.config.resume


def prepare_run(
    registry: Registry, config: RunConfig, *, executor: Executor | None = None
) -> PreparedRun:
    """Validate the request and open the results file; every usage error is raised here.

    With `config.resume`, the run in `config.out_dir` goes on with the configuration it was
    started with (see `suite.resume`); nothing is written until `execute_run`. `executor`
    (default: the local one) is started here, once the cells to run are known, so that a
    worker that cannot load a plugin is a usage error before anything runs.
    """
    if executor is None:
        from suite.executors.local import LocalExecutor

        executor = LocalExecutor()
    keep_freed_memory()  # before any cell allocates: timings leave out page faults
    try:
        return _prepare_run(registry, config, executor)
    except BaseException:
        executor.close()
        raise


def _prepare_run(registry: Registry, config: RunConfig, executor: Executor) -> PreparedRun:
    run_id = new_run_id()
    out_dir = config.out_dir or Path("reports") / run_id
    path = out_dir / "results.json"
    previous: dict[str, Any] | None = None
    if config.resume:
        if not path.exists():
            raise UsageError(
                f"--resume: no results.json in {out_dir} to resume (pass the run folder with --out)"
            )
        previous = load_results(path)
        config = resumed_config(config, previous["run"], path)
    describe_corpus(config.corpus_path)  # a usage error before anything runs
    cells = build_matrix(registry, config)
    if not cells:
        raise UsageError(_why_nothing_matches(registry, config))
    device = executor.pick_device(config.device)
    prepare_output_folder(out_dir, option="--out" if config.out_dir is not None else "run folder")
    benchmarks = list({id(cell.benchmark): cell.benchmark for cell in cells}.values())
    ctx = RunContext(
        device=device, seed=config.seed, quick=config.quick, corpus_path=config.corpus_path
    )
    if previous is None:
        store = ResultsStore(path, run_metadata(run_id, device, config, benchmarks))
    else:
        store = ResultsStore(path, previous["run"], previous["results"])
    prepared = PreparedRun(cells, ctx, store, out_dir, config, executor=executor)
    if previous is not None and not prepared.todo:
        return prepared  # nothing to do: the file stays as it is
    where = executor.start(registry, prepared.todo, ctx)
    device_name = executor.device_name() or _device_name(device)
    if previous is None:
        store.run["executor"] = where
        store.run["device_name"] = device_name
    recorded = store.run.setdefault("warnings", [])
    prepared.warnings = [w for w in _input_warnings(prepared.todo, ctx) if w not in recorded]
    recorded.extend(prepared.warnings)
    if previous is not None:
        store.run["benchmarks"] = {
            **store.run.get("benchmarks", {}),
            **_benchmark_records(benchmarks),
        }
        store.run.setdefault("resumes", []).append(
            {
                "argv": list(config.argv) or sys.argv[1:],
                "started": now_iso(),
                "finished": None,
                "device": device.type,
                "device_name": device_name,
                "cpu_threads": torch.get_num_threads(),
                "executor": where,
            }
        )
    return prepared


def _input_warnings(cells: Sequence[Cell], ctx: RunContext) -> list[str]:
    """Each distinct warning the benchmarks have about the inputs of these cells, in order."""
    seen: dict[str, None] = {}
    points = {
        json.dumps([c.benchmark.name, c.params], sort_keys=True, default=str): c for c in cells
    }
    for cell in points.values():
        try:
            warnings = [str(w) for w in cell.benchmark.input_warnings(dict(cell.params), ctx)]
        except Exception as exc:  # a plugin's bug must not stop the run before it starts
            warnings = [
                f"benchmark {cell.benchmark.name!r}: input_warnings raised {type(exc).__name__}: {_first_line(exc)}"
            ]
        for warning in warnings:
            seen.setdefault(warning, None)
    return list(seen)


def execute_run(
    prepared: PreparedRun,
    *,
    on_progress: Callable[[int, int, Cell | None], None] | None = None,
) -> ResultsStore:
    """Run every cell missing from the results file, appending each row as it finishes.

    The rows come from the prepared run's executor in the order the cells finish; only this
    process writes the file. A resume with nothing left to run leaves the file untouched.
    `run.finished` is set once, when the run first becomes complete; a resume records its own
    end in `run.resumes`.
    """
    store = prepared.store
    todo = prepared.todo
    executor = prepared.executor
    if executor is None:
        from suite.executors.local import LocalExecutor

        executor = LocalExecutor()
    try:
        if prepared.resumed and not todo:
            return store
        store.flush()
        _collect_rows(executor, prepared, todo, on_progress)
    finally:
        executor.close()
    finished = now_iso()
    store.run["load_after"] = load_average()
    if prepared.resumed:
        store.run["resumes"][-1]["finished"] = finished
    if store.run.get("finished") is None:
        store.run["finished"] = finished
    store.flush()
    return store


def _collect_rows(
    executor: Executor,
    prepared: PreparedRun,
    todo: Sequence[Cell],
    on_progress: Callable[[int, int, Cell | None], None] | None,
) -> None:
    """Append every row the executor yields; `on_progress(done, total, cell)` as cells start."""
    done = 0
    latest: Cell | None = None
    first_new = len(prepared.store.results)

    def started(cell: Cell) -> None:
        nonlocal latest
        latest = cell
        if on_progress is not None:
            on_progress(done, len(todo), cell)

    for row in executor.run(todo, prepared.ctx, started):
        prepared.store.append(row)
        done += 1
        if on_progress is not None and done < len(todo):
            on_progress(done, len(todo), latest)
    if on_progress is not None:
        on_progress(len(todo), len(todo), None)
    position = {cell.key: index for index, cell in enumerate(todo)}
    prepared.store.results[first_new:] = sorted(
        prepared.store.results[first_new:], key=lambda row: position.get(row_key(row), len(todo))
    )


def run_matrix(
    registry: Registry,
    config: RunConfig,
    *,
    on_progress: Callable[[int, int, Cell | None], None] | None = None,
    executor: Executor | None = None,
) -> tuple[ResultsStore, Path]:
    """Prepare and execute a run; returns the results store and the run folder."""
    prepared = prepare_run(registry, config, executor=executor)
    return execute_run(prepared, on_progress=on_progress), prepared.out_dir
