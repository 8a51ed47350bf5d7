"""Compare two runs cell by cell: did my change make anything slower, or break it?

Cells are matched by (kind, component, benchmark, params). Timings on a shared machine are noisy
and the load moves between two runs, so each cell's time is judged on what both runs can
compare (`suite.reporting.compare_rules`):

* a paired cell (component and reference timed in alternating rounds of the cell) on its
  paired ratio: flagged when the new ratio exceeds the old × (1 + threshold) AND a one-sided
  Mann–Whitney U test on the per-round ratios (`timing.ratio_samples`) finds it so, p < 0.01.
  The load slows both sides of a pair alike, so a busier machine moves no ratio; a component
  30% slower moves its own;
* another timed cell (a reference, a benchmark timing one function) on its repeats
  (`timing.samples_ms`), the same test, but only when both runs met a quiet machine: when the
  recorded load changed notably or exceeded the threads timed, it is "unjudged: load changed
  (x → y)", never flagged.

A cell with too few repeats or rounds, or too spread, or a paired cell whose reference itself
ran more than 2× slower or faster (a load that heavy moves ratios too), is "unjudged" with the
reason. Files
written before the repeats or rounds were kept fall back to the median rule or the ratios'
bootstrap intervals, and the output says which test judged how many cells.

The benchmark's ratio metric, when it is not the time (e.g. `encode_mb_per_s`, higher is
better), regresses when it moves the wrong way by more than `threshold × |old|`. A cell that
was ok and now errors is flagged too ("broke"); cells found in one file only are counted in
one line, not flagged (a run filtered with `--kind` is not a regression).

A whole machine can be slower on one day (another job, a throttled CPU): then every cell's
time moves together. `machine_drift` is the median new ÷ old time over the cells timed in both
runs; with `normalize=True` each old time is multiplied by it before judging an unpaired cell,
so only the cells that moved relative to the rest are flagged; the ratio shown is then the
normalised one, the one judged. Paired ratios need no such correction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from suite.reporting.compare_rules import (
    ALPHA,
    INTERVAL_RULE,
    MEDIAN_RULE,
    NOISE_SIGMAS,
    PAIRED,
    TEST_NAME,
    TIME,
    is_timed_metric,
    judge_time,
    load_problem,
    noise_threshold,
    run_to_run_noise,
)
from suite.reporting.formatting import format_number, format_param, format_ratio, one_line
from suite.reporting.tables import TIME_METRIC, cell_value
from suite.results import cell_key

__all__ = [
    "CellComparison",
    "Comparison",
    "compare_runs",
    "judged_ratio_text",
    "load_line",
    "machine_drift",
    "method_line",
    "print_comparison",
    "ratio_title",
]

FLAGGED = ("regressed", "broke")
_STYLES = {
    "regressed": "bold red",
    "broke": "bold red",
    "improved": "green",
    "fixed": "green",
    "failing": "red",
    "removed": "yellow",
    "added": "cyan",
    "skipped": "dim",
    "unjudged": "dim",
}


@dataclass
class CellComparison:
    """One cell of the matrix in both runs (or in one of them)."""

    old: dict[str, Any] | None
    new: dict[str, Any] | None
    verdict: str = "same"  # same, regressed, improved, unjudged, broke, fixed, failing, skipped,
    # removed, added
    #: new ÷ old of what was judged: the paired ratio (`basis` PAIRED), else the median time
    #: (× the drift when normalising)
    time_ratio: float | None = None
    basis: str | None = None  # PAIRED, TIME, or None when nothing was timed in both runs
    method: str | None = None  # TEST_NAME, INTERVAL_RULE, MEDIAN_RULE, or None when not judged
    p_value: float | None = None  # of the Mann–Whitney test, when it ran
    metric: str | None = None  # the benchmark's ratio metric when it is not the time
    metric_ratio: float | None = None  # new ÷ old of that metric
    reasons: list[str] = field(default_factory=list)

    @property
    def row(self) -> dict[str, Any]:
        return self.new if self.new is not None else self.old or {}

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED


@dataclass
class Comparison:
    old_run: dict[str, Any]
    new_run: dict[str, Any]
    threshold: float
    cells: list[CellComparison]
    machine_drift: float | None = None  # median new ÷ old time over the cells timed in both
    normalized: bool = False  # old times were scaled by machine_drift before judging
    #: why the runs' absolute times are not compared (`compare_rules.load_problem`), or None
    load: str | None = None
    #: per basis, (σ of log new ÷ old across cells, cells): `compare_rules.run_to_run_noise`
    noise: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def regressions(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.flagged]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    def methods(self) -> dict[tuple[str, str], int]:
        """How many cells each (basis, method) judged: (PAIRED, TEST_NAME), (TIME, MEDIAN_RULE)..."""
        counts: dict[tuple[str, str], int] = {}
        for cell in self.cells:
            if cell.method is not None and cell.basis is not None:
                key = (cell.basis, cell.method)
                counts[key] = counts.get(key, 0) + 1
        return counts


def _key(row: dict[str, Any]) -> str:
    return cell_key(
        row.get("kind", ""),
        row.get("component", ""),
        row.get("benchmark", ""),
        row.get("params") or {},
    )


def _ratio(new: float | None, old: float | None) -> float | None:
    return None if new is None or old is None or old == 0 else new / old


def _compare_ok(
    cell: CellComparison,
    threshold: float,
    higher_is_better: bool,
    scale: float = 1.0,
    load: str | None = None,
    noise: dict[str, tuple[float, int]] | None = None,
) -> None:
    old, new = cell.old or {}, cell.new or {}
    worse: list[str] = []
    better: list[str] = []
    metric_unjudged = None
    timing = judge_time(old, new, threshold, scale=scale, load=load, noise=noise)
    cell.time_ratio, cell.basis = timing.ratio, timing.basis
    cell.method, cell.p_value = timing.method, timing.p_value
    if timing.change and timing.reason:
        (worse if timing.change > 0 else better).append(timing.reason)
    if cell.metric is not None:
        old_value, new_value = cell_value(old, cell.metric), cell_value(new, cell.metric)
        cell.metric_ratio = _ratio(new_value, old_value)
        if old_value is not None and new_value is not None:
            delta = (new_value - old_value) * (1 if higher_is_better else -1)  # > 0: better
            change = f"{cell.metric} {format_number(old_value)} → {format_number(new_value)}"
            if is_timed_metric(cell.metric):  # a rate from a time: the times' noise applies
                threshold = noise_threshold(threshold, (noise or {}).get(TIME))
            moved = abs(delta) > threshold * abs(old_value)
            if moved and load is not None and is_timed_metric(cell.metric):
                metric_unjudged = f"unjudged: {load}; {change} is computed from times"
            elif delta < -threshold * abs(old_value):
                worse.append(change)
            elif delta > threshold * abs(old_value):
                better.append(change)
    unjudged = [reason for reason in (timing.unjudged, metric_unjudged) if reason]
    cell.verdict = (
        "regressed" if worse else "improved" if better else "unjudged" if unjudged else "same"
    )
    notes = [timing.reason] if timing.reason and not timing.change else []
    cell.reasons = worse + better + unjudged + notes


def _judge(
    cell: CellComparison,
    threshold: float,
    higher_is_better: bool,
    scale: float = 1.0,
    load: str | None = None,
    noise: dict[str, tuple[float, int]] | None = None,
) -> None:
    if cell.old is None or cell.new is None:
        cell.verdict = "added" if cell.old is None else "removed"
        return
    before, after = cell.old.get("status"), cell.new.get("status")
    if before == "ok" and after == "ok":
        _compare_ok(cell, threshold, higher_is_better, scale, load, noise)
    elif "skipped" in (before, after):
        cell.verdict = "skipped"
        cell.reasons = [f"{before} → {after}"]
    elif before == "ok":
        cell.verdict = "broke"
        cell.reasons = [one_line(cell.new.get("error") or "error")]
    else:
        cell.verdict = "fixed" if after == "ok" else "failing"
        if after != "ok":
            cell.reasons = [one_line(cell.new.get("error") or "error")]


def machine_drift(old_rows: dict[str, Any], new_rows: dict[str, Any]) -> float | None:
    """Median new ÷ old median time over the cells ok and timed in both runs (None below 5 cells)."""
    ratios = []
    for key, new_row in new_rows.items():
        old_row = old_rows.get(key)
        if old_row is None or old_row.get("status") != "ok" or new_row.get("status") != "ok":
            continue
        ratio = _ratio(cell_value(new_row, TIME_METRIC), cell_value(old_row, TIME_METRIC))
        if ratio is not None and ratio > 0:
            ratios.append(ratio)
    return statistics.median(ratios) if len(ratios) >= 5 else None


def compare_runs(
    old: dict[str, Any], new: dict[str, Any], threshold: float = 0.1, *, normalize: bool = False
) -> Comparison:
    """Match the cells of two results documents and judge each (see the module docstring)."""
    if not threshold >= 0:
        raise ValueError(f"threshold must be a fraction >= 0, got {threshold!r}")
    old_rows = {_key(row): row for row in old.get("results") or []}
    new_rows = {_key(row): row for row in new.get("results") or []}
    drift = machine_drift(old_rows, new_rows)
    scale = drift if normalize and drift is not None else 1.0
    load = load_problem(old.get("run") or {}, new.get("run") or {})
    both = [(old_rows[key], row) for key, row in new_rows.items() if key in old_rows]
    noise = run_to_run_noise(both, scale)
    infos = {
        **((old.get("run") or {}).get("benchmarks") or {}),
        **((new.get("run") or {}).get("benchmarks") or {}),
    }
    cells = []
    for key in [*new_rows, *(key for key in old_rows if key not in new_rows)]:
        cell = CellComparison(old_rows.get(key), new_rows.get(key))
        info = infos.get(cell.row.get("benchmark")) or {}
        metric = info.get("ratio_metric", TIME_METRIC)
        cell.metric = None if metric in (None, TIME_METRIC) else metric
        _judge(cell, threshold, bool(info.get("higher_is_better", False)), scale, load, noise)
        cells.append(cell)
    return Comparison(
        old.get("run") or {},
        new.get("run") or {},
        threshold,
        cells,
        drift,
        scale != 1.0,
        load,
        noise,
    )


def method_line(comparison: Comparison) -> str:
    """Which test judged the cells' times, and how many each (one line)."""
    methods = comparison.methods()
    beyond = f"{comparison.threshold:.0%}"
    described = {
        (PAIRED, TEST_NAME): "cell(s) judged on their paired ratio (time ÷ the reference's in "
        "the same rounds of the cell, which the load slows alike): flagged when it moved beyond "
        f"{beyond} and {TEST_NAME} on the per-round ratios (one-sided, p < {ALPHA}) agrees",
        (PAIRED, INTERVAL_RULE): "paired cell(s) without per-round ratios (an older results "
        f"file) by their {INTERVAL_RULE}: a change beyond {beyond} with the 95% intervals apart",
        (TIME, TEST_NAME): "cell(s) judged on the repeats of both runs: flagged when "
        f"{TEST_NAME} (one-sided, p < {ALPHA}) finds them moved beyond {beyond}",
        (TIME, MEDIAN_RULE): "cell(s) without samples (an older results file) by the "
        f"{MEDIAN_RULE}: a change beyond {beyond} and the IQRs",
    }
    parts = [f"{methods[key]} {text}" for key, text in described.items() if methods.get(key)]
    for basis, label in ((PAIRED, "paired ratios"), (TIME, "times of cells timed alone")):
        if basis in comparison.noise:
            sigma, cells = comparison.noise[basis]
            floor = noise_threshold(comparison.threshold, comparison.noise[basis])
            parts.append(
                f"run-to-run noise of the {label}: σ = {sigma:.0%} of log new÷old over {cells} "
                f"cells, so those are judged beyond max({beyond}, {NOISE_SIGMAS:g}σ) = {floor:.0%}"
            )
    unjudged = comparison.counts().get("unjudged", 0)
    if unjudged:
        parts.append(
            f"{unjudged} cell(s) not judged on their time (too few repeats, unstable, or the "
            "load changed: see why)"
        )
    return "; ".join(parts) if parts else "no cell timed in both runs"


def load_line(comparison: Comparison) -> str | None:
    """Why the unpaired times were not judged (one line), or None when they were."""
    if comparison.load is None:
        return None
    return (
        f"{comparison.load}: cells timed alone (references, unpaired benchmarks) are not judged "
        "on their time; paired cells are judged on their ratio to the reference"
    )


def ratio_title(comparison: Comparison) -> str:
    """The title of the column of judged ratios."""
    return "judged new÷(old×drift)" if comparison.normalized else "judged new÷old"


def judged_ratio_text(cell: CellComparison) -> str:
    """The judged ratio as shown: `1.3×`, or `1.3× paired` for a paired ratio's change."""
    if cell.time_ratio is None:
        return ""
    text = format_ratio(cell.time_ratio)
    return f"{text} paired" if cell.basis == PAIRED else text


def _one_run_line(comparison: Comparison) -> str | None:
    counts = comparison.counts()
    removed, added = counts.get("removed", 0), counts.get("added", 0)
    if not removed and not added:
        return None
    return (
        f"{removed} cell(s) only in the old run (removed), {added} only in the new (added): "
        "not compared; --verbose lists them"
    )


def print_comparison(
    comparison: Comparison, console: Console, *, show_all: bool = False, verbose: bool = False
) -> None:
    """A rich table of the cells that changed (all cells with `show_all`) and a summary line;
    cells found in one run only are counted in one line (listed with `verbose`)."""
    old_run, new_run = comparison.old_run, comparison.new_run
    console.print(
        Text(
            f"old {old_run.get('id', '?')} ({old_run.get('device', '?')})  →  new {new_run.get('id', '?')} ({new_run.get('device', '?')})"
        )
    )
    if (old_run.get("device"), old_run.get("device_name")) != (
        new_run.get("device"),
        new_run.get("device_name"),
    ):
        console.print(
            Text(
                "the runs used different devices: time ratios compare hardware, not code",
                style="yellow",
            )
        )
    drift = comparison.machine_drift
    if comparison.normalized and drift is not None:
        console.print(
            Text(f"old times scaled by the machine drift {format_ratio(drift)} before judging")
        )
    elif drift is not None and abs(drift - 1) > comparison.threshold:
        console.print(
            Text(
                f"the median cell is {format_ratio(drift)} the old time: the whole machine moved, "
                "not one component? rerun, or pass --normalize to judge each cell against that drift",
                style="yellow",
            )
        )
    console.print(Text(method_line(comparison), style="dim"))
    load = load_line(comparison)
    if load:
        console.print(Text(load, style="yellow"))
    shown = [
        cell
        for cell in comparison.cells
        if (show_all or cell.verdict != "same")
        and (verbose or cell.verdict not in ("added", "removed"))
    ]
    has_metric = any(cell.metric for cell in shown)
    table = RichTable(
        title=Text(f"new ÷ old, threshold {comparison.threshold:.0%}"), title_justify="left"
    )
    for title in (
        "kind · benchmark",
        "component",
        "params",
        ratio_title(comparison),
        *(["metric new÷old"] if has_metric else []),
        "verdict",
        "why",
    ):
        table.add_column(Text(title), justify="right" if "÷" in title else "left", overflow="fold")
    for cell in shown:
        row = cell.row
        params = ", ".join(f"{k}={format_param(v)}" for k, v in (row.get("params") or {}).items())
        metric = (
            [
                Text(
                    f"{format_ratio(cell.metric_ratio)} {cell.metric}"
                    if cell.metric_ratio is not None
                    else ""
                )
            ]
            if has_metric
            else []
        )
        style = _STYLES.get(cell.verdict, "")
        table.add_row(
            Text(f"{row.get('kind', '?')} · {row.get('benchmark', '?')}"),
            Text(str(row.get("component", "?"))),
            Text(params),
            Text(judged_ratio_text(cell)),
            *metric,
            Text(cell.verdict, style=style),
            Text(
                "; ".join(one_line(reason, 100) for reason in cell.reasons),
                style=style if cell.flagged else "",
            ),
        )
    if shown:
        console.print(table)
    one_run = None if verbose else _one_run_line(comparison)
    if one_run:
        console.print(Text(one_run, style="yellow"))
    hidden = sum(1 for cell in comparison.cells if cell.verdict == "same" and cell not in shown)
    counts = ", ".join(
        f"{count} {verdict}" for verdict, count in sorted(comparison.counts().items())
    )
    summary = Text(f"{len(comparison.cells)} cells: {counts or 'none'}")
    if hidden:
        summary.append(f" ({hidden} unchanged not shown; --all shows them)", style="dim")
    console.print(summary)
    flagged = len(comparison.regressions)
    console.print(
        Text(f"{flagged} regression(s) flagged", style="bold red")
        if flagged
        else Text("no regression beyond noise", style="green")
    )
