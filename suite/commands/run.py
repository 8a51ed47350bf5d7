"""`nlpsuite run`: the matrix of components × benchmarks × parameters, with tables and reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "run benchmarks: tables in the terminal, results and reports in reports/<run-id>/"
DESCRIPTION = """\
Run every benchmark on every component it applies to, over each benchmark's parameter grid.

Each cell (component × benchmark × parameter point) is seeded identically, so every component
sees the same data, and runs in isolation: an exception, a NaN metric or a CUDA out-of-memory
error becomes an error row and the run goes on. Every finished cell is written to
results.json at once (atomically), so a killed run keeps what it finished.

--resume runs the missing cells of the run in --out with the options that run was started
with (--kind, --component, --benchmark, --device, --quick, --seed, --corpus, as recorded in its
results.json): leave them out. An option given with another value than the recorded one, or a
corpus whose content changed since, is refused with the difference named; one results file
holds one configuration. Each resume is added to run.resumes (its command line, start and end);
the original command and times are kept. A run with nothing left to run is left untouched.

--executor ray runs the cells on a Ray cluster instead of in this process: --address ADDR
joins a running one (auto: the one this machine belongs to), no --address starts a local
instance. Each cell holds one GPU for a CUDA run, --threads CPUs (default 1) otherwise; rows
come back as cells finish and this process alone writes results.json, so --resume, report and
compare work as for a local run. The plugins must be importable on every worker (install them
on each node, or name them in NLPSUITE_RAY_RUNTIME_ENV, a Ray runtime environment as JSON);
one that is not is named before anything runs. Ray is an extra: pip install 'nlpsuite[ray]'.

--cell-timeout SECONDS makes a cell that runs longer an error row ("timed out after N s"):
under Ray its worker is killed; locally a timer stops it at its next Python instruction. A
cell whose Ray worker dies is an error row too; the run goes on.

The run header names the run folder, the device, the grid and the --corpus (path, size,
sha256 prefix); warnings about the inputs (a corpus too small for the vocabulary asked, or to
hold out text) are printed there and kept in results.json as run.warnings.

Timing is a median over repeats after warm-up, with the device synchronised (CUDA events on a
GPU); tables put each from-scratch component beside its reference with the ratio. Where the
figure is a time ratio, the component and its reference are timed in alternating rounds of
the same cell (the ratio is the median per-round ratio, with a bootstrap interval). A timing
whose repeats spread by more than a quarter of the median, or whose ratio interval is as wide,
gets more repeats within its budget; if it stays so it is marked unstable (~, greyed), and
the run ends with one line of advice. The load average before and after is kept in
results.json (run.load_before, run.load_after).

examples:
  nlpsuite run --quick                          every kind, small sizes, seconds on a CPU
  nlpsuite run --kind attention --device cuda   the full attention grid on a GPU
  nlpsuite run --component bpe --component hf-bpe --corpus my_text.txt
  nlpsuite run --quick --out reports/nightly --resume
  nlpsuite run --quick --executor ray           on a local Ray instance
  nlpsuite run --executor ray --address auto --device cuda   on the cluster this node is in
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="K",
        help="only this kind (repeatable): tokenizer, attention, norm, loss, moe",
    )
    parser.add_argument(
        "--component",
        action="append",
        default=[],
        metavar="NAME",
        help="only this component (repeatable; NAME or kind:NAME)",
    )
    parser.add_argument(
        "--benchmark",
        action="append",
        default=[],
        metavar="NAME",
        help="only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="auto takes CUDA when available (default: auto)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the quick grid: small sizes that run in seconds on a CPU",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for data and initialisation (default: 0)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default: reports/<run-id>/)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="complete the run in --out (default: the newest under reports/) with its recorded options, skipping finished cells",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        metavar="FILE",
        help="UTF-8 text file for the tokenizer benchmarks instead of the built-in corpus",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: torch's choice); 1 gives steadier CPU timings on a busy machine; with --executor ray, the CPUs each cell holds (default 1)",
    )
    parser.add_argument(
        "--executor",
        default="local",
        choices=("local", "ray"),
        help="where the cells run: local (this process, default) or ray (a Ray cluster)",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the cluster to join (host:port, or auto); default: start a local instance",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a cell running longer becomes an error row (default: no limit)",
    )
    parser.set_defaults(handler=run)


def _newest_run_folder() -> Path:
    from suite.errors import UsageError

    candidates = sorted(Path("reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UsageError("--resume: no run under reports/ to resume; pass --out DIR")
    return candidates[-1].parent


def run(args: argparse.Namespace) -> int:
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from suite.commands._shared import warn_failed_plugins
    from suite.console import console, err_console
    from suite.errors import UsageError
    from suite.executors import get_executor
    from suite.plugins import get_host
    from suite.runner import RunConfig, execute_run, prepare_run

    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    executor = get_executor(
        args.executor, address=args.address, cell_timeout=args.cell_timeout, threads=args.threads
    )
    out_dir = args.out
    if args.resume and out_dir is None:
        out_dir = _newest_run_folder()
    config = RunConfig(
        kinds=args.kind,
        components=args.component,
        benchmarks=args.benchmark,
        device=args.device,
        quick=args.quick,
        seed=args.seed,
        out_dir=out_dir,
        resume=args.resume,
        corpus_path=args.corpus,
        argv=["nlpsuite", *sys.argv[1:]],
    )
    host = get_host()
    # usage errors before any progress bar appears, a worker's missing plugin included
    prepared = prepare_run(host.registry, config, executor=executor)
    warn_failed_plugins(host)
    document = prepared.store.document()
    if prepared.resumed and not prepared.todo:
        if prepared.executor is not None:
            prepared.executor.close()
        console.print(
            f"nothing to do: all {len(prepared.cells)} cells of run {document['run']['id']} are"
            f" in {prepared.out_dir / 'results.json'}; it is left as it was",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return _exit_code(document)
    _print_header(prepared, err_console)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    task_id = progress.add_task("starting", total=None)

    def on_progress(done: int, total: int, cell: Any) -> None:
        label = cell.label if cell is not None else "done"
        progress.update(task_id, completed=done, total=total, description=label[:70])

    with progress:
        store = execute_run(prepared, on_progress=on_progress)
    document = store.document()
    _render(document, prepared.out_dir, console)
    return _exit_code(document)


def _exit_code(document: dict[str, Any]) -> int:
    return 1 if any(row["status"] == "error" for row in document["results"]) else 0


def _print_header(prepared: Any, err_console: Any) -> None:
    """What runs, where, on what: the run folder, device, grid, seed, corpus, and the warnings."""
    from rich.markup import escape

    run = prepared.store.run
    config = prepared.config
    todo = len(prepared.todo)
    if prepared.resumed:
        first = (
            f"resuming run {run['id']} (started {run['started']}): {todo} of"
            f" {len(prepared.cells)} cells left, with its recorded options"
        )
    else:
        first = f"run {run['id']}: {todo} cells"
    grid = "quick grid" if config.quick else "full grid"
    lines = [
        f"{first} → {prepared.out_dir}",
        f"  device {prepared.ctx.device.type} ({run.get('device_name') or '?'}) · {grid} · seed {config.seed}",
    ]
    where = (
        (run.get("resumes") or [run])[-1].get("executor")
        if prepared.resumed
        else run.get("executor")
    )
    if isinstance(where, dict) and where.get("name") == "ray":
        lines.append(
            f"  on Ray at {where.get('address')}: {where.get('runners')} runner(s),"
            f" each with {where.get('resources_per_cell')}"
        )
    corpus = run.get("corpus")
    if corpus:
        lines.append(
            f"  corpus {corpus['path']} ({corpus['bytes']:,} bytes, sha256 {corpus['sha256']})"
        )
    for line in lines:
        err_console.print(escape(line), highlight=False, soft_wrap=True)
    for warning in prepared.warnings:
        err_console.print(f"[yellow]warning: {escape(warning)}[/]", soft_wrap=True)


def _render(document: dict[str, Any], folder: Path, console: Any) -> None:
    from suite.noise import advice
    from suite.reporting import print_tables, write_reports

    print_tables(document, console)
    written = write_reports(document, folder)
    console.print(f"results: {folder / 'results.json'}")
    for path in written:
        console.print(f"wrote {path}")
    line = advice(document)
    if line:
        console.print(line, style="yellow", highlight=False, markup=False, soft_wrap=True)
