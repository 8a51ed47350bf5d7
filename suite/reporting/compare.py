"""Compare two runs cell by cell: did my change make anything slower, or break it?

Cells are matched by (kind, component, benchmark, params). Timings on a shared machine are noisy,
so a cell's time is judged from the repeats both runs kept (`timing.samples_ms`):

    regressed  ⇔  new_median ÷ old_median > 1 + threshold, and a one-sided Mann–Whitney U
                  test finds the new repeats larger than the old ones × (1 + threshold),
                  p < ALPHA (0.01)

(improved: the mirror image, below the old repeats × (1 − threshold)). The test asks whether the
new repeats are larger than the old ones *by more than the threshold*, whatever the shape of
their distribution: a 30% slowdown measured over 7 repeats each is flagged; one unlucky repeat,
a change inside the spread, or a 10% shift of a busy machine between two runs (repeats of one
run share its load, so they are less independent than the test assumes) is not.
A cell with fewer than MIN_SAMPLES repeats in a run, or marked unstable in either run
(`timing.unstable`, see `suite.noise`), is not judged on its time ("unjudged", with the reason).
Results files without samples (written before they were kept) fall back to the median rule,
and the output says which cells it judged so:

    regressed  ⇔  new_median − old_median > max(threshold × old_median, old_IQR + new_IQR)

The benchmark's ratio metric, when it is not the time (e.g. `encode_mb_per_s`, higher is
better), regresses when it moves the wrong way by more than `threshold × |old|`. A cell that
was ok and now errors is flagged too ("broke"); cells found in one file only are listed, not
flagged (a run filtered with `--kind` is not a regression).

A whole machine can be slower on one day (another job, a throttled CPU): then every cell moves
together. `machine_drift` is the median new ÷ old time over the cells timed in both runs; with
`normalize=True` each old time is multiplied by it before judging, so only the cells that moved
relative to the rest are flagged; the ratio shown is then the normalised one, the one judged.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from suite.reporting.formatting import format_number, format_param, format_ratio, one_line
from suite.reporting.tables import TIME_METRIC, cell_value
from suite.results import cell_key

__all__ = [
    "CellComparison",
    "Comparison",
    "compare_runs",
    "machine_drift",
    "method_line",
    "print_comparison",
]

FLAGGED = ("regressed", "broke")
ALPHA = 0.01  # significance level of the Mann–Whitney test on the repeats
MIN_SAMPLES = 5  # repeats each run needs for its time to be judged
TEST_NAME = "Mann–Whitney U"
MEDIAN_RULE = "median rule"  # old files without samples
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
    time_ratio: float | None = None  # new median ÷ old median (× the drift when normalising)
    method: str | None = None  # how the time was judged: TEST_NAME, MEDIAN_RULE or None
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

    @property
    def regressions(self) -> list[CellComparison]:
        return [cell for cell in self.cells if cell.flagged]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    def methods(self) -> dict[str, int]:
        """How many cells each method judged on their time (TEST_NAME, MEDIAN_RULE)."""
        counts: dict[str, int] = {}
        for cell in self.cells:
            if cell.method is not None:
                counts[cell.method] = counts.get(cell.method, 0) + 1
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


def _iqr(row: dict[str, Any]) -> float:
    return cell_value(row, "iqr_ms") or 0.0


def _samples(row: dict[str, Any]) -> list[float] | None:
    """The repeats a row kept (`timing.samples_ms`), None for a file that kept none."""
    samples = (row.get("timing") or {}).get("samples_ms")
    if not isinstance(samples, list) or not samples:
        return None
    return [float(value) for value in samples]


def _why_unjudged(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    for label, row in (("old", old), ("new", new)):
        count = len(_samples(row) or [])
        if count < MIN_SAMPLES:
            return (
                f"cannot judge the time: {count} repeats in the {label} run (needs {MIN_SAMPLES})"
            )
    for label, row in (("old", old), ("new", new)):
        timing = row.get("timing") or {}
        if timing.get("unstable"):
            reason = timing.get("unstable_reason") or "spread too wide"
            return f"cannot judge the time: unstable in the {label} run ({reason})"
    return None


def _judge_samples(
    cell: CellComparison, threshold: float, scale: float, worse: list[str], better: list[str]
) -> str | None:
    """Judge the time from both runs' repeats; the reason it cannot be judged, or None."""
    old, new = cell.old or {}, cell.new or {}
    why = _why_unjudged(old, new)
    if why is not None:
        return why
    from scipy.stats import mannwhitneyu

    old_samples = [value * scale for value in _samples(old) or []]
    new_samples = _samples(new) or []
    cell.method = TEST_NAME
    ratio = cell.time_ratio or 1.0
    slower = ratio > 1
    bound = 1 + threshold if slower else 1 - threshold  # the old repeats moved to the threshold
    cell.p_value = float(
        mannwhitneyu(
            new_samples,
            [value * bound for value in old_samples],
            alternative="greater" if slower else "less",
        ).pvalue
    )
    change = (
        f"×{format_number(ratio)} over {len(old_samples)} and {len(new_samples)} repeats, "
        f"{TEST_NAME} p = {cell.p_value:.2g} that it moved beyond {threshold:.0%}"
    )
    direction = "slower: " if slower else "faster: "
    if (ratio > 1 + threshold or ratio < 1 - threshold) and cell.p_value < ALPHA:
        (worse if slower else better).append(direction + change)
    elif ratio > 1 + threshold or ratio < 1 - threshold:
        cell.reasons.append(f"{direction}{change}: not significant (needs p < {ALPHA})")
    return None


def _compare_ok(
    cell: CellComparison, threshold: float, higher_is_better: bool, scale: float = 1.0
) -> None:
    old, new = cell.old or {}, cell.new or {}
    worse: list[str] = []
    better: list[str] = []
    unjudged = None
    old_ms, new_ms = cell_value(old, TIME_METRIC), cell_value(new, TIME_METRIC)
    cell.time_ratio = _ratio(new_ms, None if old_ms is None else old_ms * scale)
    if old_ms is not None and new_ms is not None and _samples(old) and _samples(new):
        unjudged = _judge_samples(cell, threshold, scale, worse, better)
    elif old_ms is not None and new_ms is not None:
        cell.method = MEDIAN_RULE
        old_ms *= scale  # the machine's drift, when normalising
        bound = max(threshold * old_ms, _iqr(old) * scale + _iqr(new))
        change = (
            f"{format_number(old_ms)} → {format_number(new_ms)} ms (no samples: median rule, "
            f"noise bound {format_number(bound)} ms)"
        )
        if new_ms - old_ms > bound:
            worse.append("slower: " + change)
        elif old_ms - new_ms > bound:
            better.append("faster: " + change)
    if cell.metric is not None:
        old_value, new_value = cell_value(old, cell.metric), cell_value(new, cell.metric)
        cell.metric_ratio = _ratio(new_value, old_value)
        if old_value is not None and new_value is not None:
            delta = (new_value - old_value) * (1 if higher_is_better else -1)  # > 0: better
            change = f"{cell.metric} {format_number(old_value)} → {format_number(new_value)}"
            if delta < -threshold * abs(old_value):
                worse.append(change)
            elif delta > threshold * abs(old_value):
                better.append(change)
    cell.verdict = (
        "regressed" if worse else "improved" if better else "unjudged" if unjudged else "same"
    )
    cell.reasons = worse + better + ([unjudged] if unjudged else []) + cell.reasons


def _judge(
    cell: CellComparison, threshold: float, higher_is_better: bool, scale: float = 1.0
) -> None:
    if cell.old is None or cell.new is None:
        cell.verdict = "added" if cell.old is None else "removed"
        return
    before, after = cell.old.get("status"), cell.new.get("status")
    if before == "ok" and after == "ok":
        _compare_ok(cell, threshold, higher_is_better, scale)
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
        _judge(cell, threshold, bool(info.get("higher_is_better", False)), scale)
        cells.append(cell)
    return Comparison(
        old.get("run") or {}, new.get("run") or {}, threshold, cells, drift, scale != 1.0
    )


def method_line(comparison: Comparison) -> str:
    """Which test judged the cells' times, and how many each (one line)."""
    methods = comparison.methods()
    parts = []
    if methods.get(TEST_NAME):
        parts.append(
            f"{methods[TEST_NAME]} cell(s) judged on the repeats of both runs: flagged when "
            f"{TEST_NAME} (one-sided, p < {ALPHA}) finds them moved beyond "
            f"{comparison.threshold:.0%}"
        )
    if methods.get(MEDIAN_RULE):
        parts.append(
            f"{methods[MEDIAN_RULE]} cell(s) without samples (an older results file) by the "
            f"median rule: a change beyond {comparison.threshold:.0%} and the IQRs"
        )
    unjudged = comparison.counts().get("unjudged", 0)
    if unjudged:
        parts.append(f"{unjudged} cell(s) not judged on their time (too few repeats or unstable)")
    return "; ".join(parts) if parts else "no cell timed in both runs"


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
        "time new÷(old×drift)" if comparison.normalized else "time new÷old",
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
            Text(format_ratio(cell.time_ratio) if cell.time_ratio is not None else ""),
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
