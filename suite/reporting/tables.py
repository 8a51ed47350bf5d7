"""The table model every report shares: rows grouped per kind × benchmark × params, with the ratio.

A results document is a flat list of cells. People read it as tables: one per kind × benchmark,
rows grouped per parameter point, each reference followed by the from-scratch components that
must agree with it, and a ratio column (component ÷ reference, on the benchmark's
`ratio_metric`) so that "is my attention 3× slower than SDPA?" is answered at a glance.

This module builds that model once (`build_tables`) and formats its cells as plain strings
(`Table.header`, `Table.cells`); the terminal, Markdown and HTML renderers only add style. It
tolerates old or hand-made files: without row `reference` keys every component stands alone
(no ratio); without `run.benchmarks` the ratio metric defaults to `median_ms`, as `Benchmark`.

A time ratio is the cell's `paired_ratio` metric where it has one (component and reference
timed in alternating rounds of one cell), else the quotient of the two cells' medians. A row
whose timing is unstable (`timing.unstable`, see `suite.noise`), or whose quotient divides by
an unstable reference, is marked `~` and judged neither better nor worse.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from suite.noise import is_unstable, unstable_count
from suite.reporting.formatting import (
    MISSING,
    format_bytes,
    format_metric,
    format_number,
    format_param,
    format_ratio,
    one_line,
)

__all__ = [
    "Column",
    "Headline",
    "Row",
    "RunNote",
    "Table",
    "build_tables",
    "cell_value",
    "headline",
    "run_header",
    "run_notes",
    "status_counts",
    "summary_line",
]

TIME_METRIC = "median_ms"
PAIRED_METRIC = "paired_ratio"  # a time ratio measured in one cell (suite.timing.time_paired)
COMPILED_METRIC = "compiled_paired_ratio"  # the same, with the component compiled (suite.compiled)
UNSTABLE_MARK = "~"  # before the time and ratio of a row whose timing is unstable


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def cell_value(result: dict[str, Any], metric: str) -> float | None:
    """The number `metric` names in one result row: `median_ms` is its timing, else a metric."""
    timing = result.get("timing") or {}
    metrics = result.get("metrics") or {}
    memory = result.get("memory") or {}
    if metric == TIME_METRIC and TIME_METRIC in timing:
        return _number(timing[TIME_METRIC])
    for source in (metrics, timing, memory):
        if metric in source:
            return _number(source[metric])
    return None


def _ratio(value: float | None, reference_value: float | None) -> float | None:
    if value is None or reference_value is None or reference_value == 0:
        return None
    ratio = value / reference_value
    return ratio if math.isfinite(ratio) else None


class Column(NamedTuple):
    role: str  # component, param, ratio, time, metric, memory or error
    title: str


@dataclass
class Row:
    """One result row placed in its table: its role beside the reference, and its ratio."""

    result: dict[str, Any]
    role: str  # "reference" (others are compared with it), "candidate" (compared), or "standalone"
    ratio: float | None = None  # candidate's ratio_metric ÷ its reference's, same params
    unstable: bool = False  # its timing, or the reference's it is divided by, is unstable

    @property
    def component(self) -> str:
        return str(self.result.get("component", "?"))

    @property
    def status(self) -> str:
        return str(self.result.get("status", "ok"))

    @property
    def params(self) -> dict[str, Any]:
        return self.result.get("params") or {}

    @property
    def note(self) -> str:
        """The one-line error (or skip reason) of a row that did not finish; empty when ok."""
        if self.status == "ok":
            return ""
        return one_line(self.result.get("error") or self.status)


@dataclass
class Table:
    """One kind × benchmark: column names, rows grouped per parameter point."""

    kind: str
    benchmark: str
    summary: str = ""
    ratio_metric: str | None = TIME_METRIC
    higher_is_better: bool = False
    groups: list[list[Row]] = field(default_factory=list)
    plots: tuple[str, ...] = ()  # the figures the benchmark declares (`Benchmark.plots`)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group]

    @property
    def param_names(self) -> list[str]:
        """Parameters that vary within the table (the constant ones are in `fixed_params`)."""
        fixed = self.fixed_params
        return [name for name in _union(row.params for row in self.rows) if name not in fixed]

    @property
    def fixed_params(self) -> dict[str, Any]:
        """Parameters with one value in every row: said once above the table, not per row."""
        rows = self.rows
        if not rows:
            return {}
        first = rows[0].params
        return {
            name: value
            for name, value in first.items()
            if all(name in row.params and _same(row.params[name], value) for row in rows)
        }

    @property
    def notes(self) -> list[str]:
        """Lines to print with the table: summary, fixed parameters, how to read the ratio."""
        fixed = ", ".join(
            f"{name}={format_param(value)}" for name, value in self.fixed_params.items()
        )
        unstable = (
            f"{UNSTABLE_MARK} unstable timing (repeats spread, or the ratio's interval wide): "
            "neither better nor worse; rerun on a quieter machine"
            if self.has_unstable
            else ""
        )
        return [
            text
            for text in (self.summary, f"at {fixed}" if fixed else "", self.ratio_hint, unstable)
            if text
        ]

    @property
    def metric_names(self) -> list[str]:
        return _union(row.result.get("metrics") or {} for row in self.rows)

    @property
    def references(self) -> list[str]:
        return _union({row.component: None} for row in self.rows if row.role == "reference")

    @property
    def has_ratio(self) -> bool:
        return self.ratio_metric is not None and any(row.role == "candidate" for row in self.rows)

    @property
    def has_timing(self) -> bool:
        return any(row.result.get("timing") for row in self.rows)

    @property
    def has_memory(self) -> bool:
        return any(
            (row.result.get("memory") or {}).get("peak_bytes") is not None for row in self.rows
        )

    @property
    def has_notes(self) -> bool:
        return any(row.status != "ok" for row in self.rows)

    @property
    def has_paired(self) -> bool:
        """Whether some candidate's time ratio is a paired one (`metrics.paired_ratio`)."""
        return self.ratio_metric == TIME_METRIC and any(
            row.role == "candidate" and PAIRED_METRIC in (row.result.get("metrics") or {})
            for row in self.rows
        )

    @property
    def has_unstable(self) -> bool:
        return any(row.unstable for row in self.rows)

    @property
    def ratio_header(self) -> str:
        """What the ratio divides: `time ÷ sdpa` (one reference) or `encode_mb_per_s ÷ ref`."""
        what = "time" if self.ratio_metric == TIME_METRIC else str(self.ratio_metric)
        references = self.references
        return f"{what} ÷ {references[0] if len(references) == 1 else 'ref'}"

    @property
    def ratio_hint(self) -> str:
        if not self.has_ratio:
            return ""
        better = "above" if self.higher_is_better else "below"
        if self.has_paired:
            compiled = (
                f"; {COMPILED_METRIC}: the same with the component compiled (compile=True), "
                "its first call's compile_time_s apart"
                if any(COMPILED_METRIC in (row.result.get("metrics") or {}) for row in self.rows)
                else ""
            )
            return (
                "ratio = median over alternating rounds of the component's time ÷ its "
                f"reference's, timed in the same cell (paired_ratio); {better} 1 is better"
                + compiled
            )
        if self.ratio_metric == TIME_METRIC:  # say how it was measured: a paired metric differs
            return (
                "ratio = component's median time ÷ its reference's, each timed in its own cell "
                f"at the same params; {better} 1 is better"
            )
        return f"ratio = component ÷ its reference at the same params; {better} 1 is better"

    def columns(self) -> list[Column]:
        """The columns, each with its role so that renderers can style it."""
        columns = [Column("component", "component")]
        columns.extend(Column("param", name) for name in self.param_names)
        if self.has_ratio:
            columns.append(Column("ratio", self.ratio_header))
        if self.has_timing:
            columns.append(Column("time", "median ms ± IQR"))
        columns.extend(Column("metric", name) for name in self.metric_names)
        if self.has_memory:
            columns.append(Column("memory", "peak memory"))
        if self.has_notes:
            columns.append(Column("error", "error"))
        return columns

    def header(self) -> list[str]:
        return [column.title for column in self.columns()]

    def cells(self, row: Row) -> list[str]:
        """The formatted cells of `row`, in the order of `header()`."""
        params = row.params
        cells = [
            row.component,
            *(format_param(params[name]) if name in params else "" for name in self.param_names),
        ]
        mark = UNSTABLE_MARK if row.unstable else ""
        if self.has_ratio:
            cells.append(
                "ref"
                if row.role == "reference" and row.status == "ok"
                else mark + format_ratio(row.ratio)
                if row.role == "candidate" and row.ratio is not None
                else format_ratio(row.ratio)
                if row.role == "candidate"
                else ""
            )
        if self.has_timing:
            timing = row.result.get("timing") or {}
            median, iqr = timing.get("median_ms"), timing.get("iqr_ms")
            cells.append(
                MISSING
                if median is None
                else mark
                + format_number(median)
                + ("" if iqr is None else f" ± {format_number(iqr)}")
            )
        metrics = row.result.get("metrics") or {}
        cells.extend(
            format_metric(name, metrics[name]) if name in metrics else ""
            for name in self.metric_names
        )
        if self.has_memory:
            cells.append(format_bytes((row.result.get("memory") or {}).get("peak_bytes")))
        if self.has_notes:
            cells.append(row.note)
        return cells

    def verdict(self, row: Row, tolerance: float = 0.05) -> str:
        """`better`, `worse` or `same` (within `tolerance`) for a candidate's ratio, `unstable`
        when its timing cannot be trusted; else ``."""
        if row.ratio is None:
            return ""
        if row.unstable and self.ratio_metric == TIME_METRIC:
            return "unstable"
        if abs(row.ratio - 1) <= tolerance:
            return "same"
        return "better" if (row.ratio > 1) == self.higher_is_better else "worse"


def _union(mappings: Any) -> list[str]:
    """Keys of every mapping, in order of first appearance."""
    seen: dict[str, None] = {}
    for mapping in mappings:
        for key in mapping:
            seen.setdefault(str(key), None)
    return list(seen)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and _params_key(a) == _params_key(b)


def _params_key(params: Any) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _paired(result: dict[str, Any], ratio_metric: str | None) -> bool:
    return ratio_metric == TIME_METRIC and PAIRED_METRIC in (result.get("metrics") or {})


def _group_rows(results: list[dict[str, Any]], ratio_metric: str | None) -> list[Row]:
    """Order one params point: each reference then its candidates, then rows standing alone."""
    by_component: dict[str, dict[str, Any]] = {}
    for result in results:
        name = str(result.get("component", "?"))
        if name not in by_component or result.get("status") == "ok":
            by_component[name] = result  # a duplicated cell: prefer the finished one
    referenced = {
        r.get("reference")
        for r in results
        if r.get("reference") in by_component and r.get("reference") != r.get("component")
    }
    rows: list[Row] = []
    placed: set[int] = set()

    def place(result: dict[str, Any], role: str, ratio: float | None = None) -> None:
        if id(result) not in placed:
            placed.add(id(result))
            unstable = is_unstable(result)
            if role == "candidate" and not _paired(result, ratio_metric):
                reference = by_component.get(str(result.get("reference")))
                unstable = unstable or (reference is not None and is_unstable(reference))
            rows.append(Row(result, role, ratio, unstable))

    def ratio_of(candidate: dict[str, Any]) -> float | None:
        reference = by_component[candidate["reference"]]
        if ratio_metric is None or candidate.get("status") != "ok":
            return None
        if _paired(candidate, ratio_metric):
            return _number((candidate.get("metrics") or {})[PAIRED_METRIC])
        if reference.get("status") != "ok":
            return None
        return _ratio(cell_value(candidate, ratio_metric), cell_value(reference, ratio_metric))

    def is_candidate(result: dict[str, Any]) -> bool:
        return result.get("reference") in by_component and result.get("reference") != result.get(
            "component"
        )

    for result in results:
        if is_candidate(result):
            continue  # placed right after its reference
        name = str(result.get("component", "?"))
        place(result, "reference" if name in referenced else "standalone")
        for candidate in results:
            if candidate.get("reference") == name and is_candidate(candidate):
                place(candidate, "candidate", ratio_of(candidate))
    for result in results:  # chains (a candidate that is itself a reference) end up here
        if id(result) not in placed:
            place(result, "candidate", ratio_of(result))
    return rows


def build_tables(document: dict[str, Any]) -> list[Table]:
    """One `Table` per kind × benchmark, in order of first appearance in the results."""
    run = document.get("run") or {}
    infos = run.get("benchmarks") or {}
    points: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for result in document.get("results") or []:
        key = (str(result.get("kind", "?")), str(result.get("benchmark", "?")))
        points.setdefault(key, {}).setdefault(_params_key(result.get("params") or {}), []).append(
            result
        )
    tables = []
    for (kind, benchmark), by_params in points.items():
        info = infos.get(benchmark) or {}
        table = Table(
            kind=kind,
            benchmark=benchmark,
            summary=one_line(info.get("summary") or ""),
            ratio_metric=info.get("ratio_metric", TIME_METRIC),
            higher_is_better=bool(info.get("higher_is_better", False)),
            plots=tuple(str(plot) for plot in info.get("plots") or ()),
        )
        table.groups = [_group_rows(results, table.ratio_metric) for results in by_params.values()]
        tables.append(table)
    return tables


def status_counts(document: dict[str, Any]) -> dict[str, int]:
    counts = {"ok": 0, "error": 0, "skipped": 0}
    for result in document.get("results") or []:
        status = str(result.get("status", "ok"))
        counts[status] = counts.get(status, 0) + 1
    return counts


def summary_line(document: dict[str, Any]) -> str:
    counts = status_counts(document)
    total = sum(counts.values())
    line = f"{total} cells: " + ", ".join(f"{count} {status}" for status, count in counts.items())
    unstable = unstable_count(document)
    return line + (
        f" ({unstable} with unstable timing, marked {UNSTABLE_MARK})" if unstable else ""
    )


def run_header(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs that identify a run: id, device, torch, seed, times."""
    run = document.get("run") or {}
    device = str(run.get("device") or "?")
    if run.get("device_name"):
        device += f" ({run['device_name']})"
    pairs = [
        ("run", run.get("id")),
        ("device", device),
        ("torch", run.get("torch")),
        ("python", run.get("python")),
        ("nlpsuite", run.get("suite_version")),
        ("seed", run.get("seed")),
        ("started", run.get("started")),
        ("finished", run.get("finished") or "in progress"),
    ]
    return [(label, one_line(value)) for label, value in pairs if value is not None]


@dataclass(frozen=True)
class Headline:
    """A table in one line: each candidate's ratio (geometric mean over its parameter points)."""

    ratio_header: str  # what the ratios divide: `time ÷ sdpa`
    higher_is_better: bool
    ratios: list[tuple[str, float, int]]  # (component, geometric mean ratio, points), best first

    def text(self, limit: int = 2) -> str:
        """`flash 0.92× … naive 3.1× (time ÷ sdpa, lower is better)`: the best and the worst."""
        if not self.ratios:
            return ""
        shown = self.ratios if len(self.ratios) <= limit else [self.ratios[0], self.ratios[-1]]
        parts = [f"{name} {format_ratio(ratio)}" for name, ratio, _ in shown]
        joiner = ", " if len(shown) == len(self.ratios) else " … "
        better = "higher" if self.higher_is_better else "lower"
        return f"{joiner.join(parts)} ({self.ratio_header}, {better} is better)"


def headline(table: Table) -> Headline | None:
    """The table's `Headline`, or None when it has no ratio to summarise."""
    if not table.has_ratio:
        return None
    logs: dict[str, list[float]] = {}
    for row in table.rows:
        if row.role == "candidate" and row.ratio is not None and row.ratio > 0:
            logs.setdefault(row.component, []).append(math.log(row.ratio))
    if not logs:
        return None
    ratios = [(name, math.exp(sum(v) / len(v)), len(v)) for name, v in logs.items()]
    ratios.sort(key=lambda item: -item[1] if table.higher_is_better else item[1])
    return Headline(table.ratio_header, table.higher_is_better, ratios)


class RunNote(NamedTuple):
    """A line about the run beside its header: `corpus`, `warning` or `resume`."""

    level: str  # "corpus", "warning" (shown prominently) or "resume"
    text: str


def _corpus_text(corpus: Any) -> str:
    if corpus is None:
        return "built-in text of each benchmark"
    if not isinstance(corpus, dict):
        return one_line(corpus)
    size = corpus.get("bytes")
    details = [
        format_bytes(size) if size is not None else "",
        f"sha256 {corpus['sha256']}…" if corpus.get("sha256") else "",
    ]
    extra = ", ".join(part for part in details if part)
    return one_line(corpus.get("path") or "?") + (f" ({extra})" if extra else "")


def run_notes(document: dict[str, Any]) -> list[RunNote]:
    """The corpus the run measured, the warnings it recorded, and the resumes that completed it.

    Files written before these keys existed give no note (an absent `corpus` is not a claim
    that the built-in text was used).
    """
    run = document.get("run") or {}
    notes = []
    if "corpus" in run:
        notes.append(RunNote("corpus", _corpus_text(run["corpus"])))
    for warning in run.get("warnings") or []:
        notes.append(RunNote("warning", one_line(warning)))
    resumes = [r for r in run.get("resumes") or [] if isinstance(r, dict)]
    if resumes:
        last = resumes[-1]
        device = str(last.get("device") or "?")
        if last.get("device_name"):
            device += f" ({last['device_name']})"
        times = "once" if len(resumes) == 1 else f"{len(resumes)} times"
        text = (
            f"resumed {times} (--resume); the last started {last.get('started') or '?'}, "
            f"finished {last.get('finished') or 'not yet'}, on {device}"
        )
        original = str(run.get("device") or "?")
        if any(str(r.get("device") or "?") != original for r in resumes):
            text += f"; the run started on {original}: cells come from different devices"
        notes.append(RunNote("resume", one_line(text)))
    return notes
