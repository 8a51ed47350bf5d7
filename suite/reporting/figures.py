"""The figures of one table, as the benchmark declares them (`Benchmark.plots`).

`plot_names(table)` lists them: the declared names in order (`ratio`, `memory`,
`metric:<name>`, `metrics:<prefix>`, or a series kind), then the kind of any series the cells
attach that no name declared, so a plugin benchmark gets its curves drawn by attaching them.
A table without declared plots (a file from before `plots`) gets the ratio plot and its series.
`figures(table)` draws each one; a figure that fails becomes a note, never a broken report.
"""

from __future__ import annotations

import math
import warnings

from suite.reporting.formatting import format_param
from suite.reporting.plots import (
    MEMORY_METRIC,
    _label,
    metric_plot,
    new_figure,
    plot_table,
    png,
)
from suite.reporting.tables import Table, cell_value

__all__ = ["MAX_FIGURES", "figures", "plot_names"]


def _prefixed_bars(table: Table, prefix: str) -> bytes | None:
    """One group per metric named `<prefix>…` (labelled by the rest of the name), a bar per cell.

    Cells of several parameter points: the first point only, said in the title.
    """
    groups = [g for g in table.groups if any(r.status == "ok" for r in g)]
    if not groups:
        return None
    rows = [row for row in groups[0] if row.status == "ok"]
    names = [n for n in table.metric_names if n.startswith(prefix) or n.endswith(prefix)]
    present = [n for n in names if any(cell_value(row.result, n) is not None for row in rows)]
    if not present:
        return None
    labels = [n.removeprefix(prefix).removesuffix(prefix).strip("_") or n for n in present]
    figure, axes = new_figure()
    width = 0.8 / len(rows)
    for index, row in enumerate(rows):
        xs = [g + (index - (len(rows) - 1) / 2) * width for g in range(len(present))]
        heights = [cell_value(row.result, n) for n in present]
        axes.bar(
            xs,
            [math.nan if h is None else h for h in heights],
            width,
            label=_label(row.component + (" (ref)" if row.role == "reference" else "")),
            hatch="//" if row.role == "reference" else None,
        )
    axes.set_xticks(range(len(present)), [_label(text) for text in labels], fontsize=8)
    axes.set_ylabel(_label(prefix.strip("_")))
    note = ""
    if len(groups) > 1:
        point = groups[0][0].params
        note = " at " + ", ".join(f"{n}={format_param(point.get(n))}" for n in table.param_names)
    axes.set_title(
        _label(f"{table.kind} · {table.benchmark}: {prefix.strip('_')}{note}"), fontsize=10
    )
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return png(figure)


def plot_names(table: Table) -> list[str]:
    """The figures of `table`: its declared plots, then the kinds of series no plot declared.

    Nothing declared (an old file, or a benchmark that left `plots` empty): the ratio plot,
    then one figure per kind of series the cells attach.
    """
    from suite.reporting.curves import series_kinds

    declared = list(table.plots) or ["ratio"]
    return declared + [kind for kind in series_kinds(table) if kind not in declared]


MAX_FIGURES = 8  # per table; more are left out with a note


def figures(table: Table) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(title, PNG) of each figure of `table` (`plot_names`), and a note per figure that failed.

    A plot never sinks the report: an exception in one figure becomes a one-line note and the
    other figures and the table still render.
    """
    from suite.reporting.curves import series_figures
    from suite.series import PLOT_KINDS

    out: list[tuple[str, bytes]] = []
    notes: list[str] = []
    for name in plot_names(table):
        head, _, tail = name.partition(":")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                if name == "ratio":
                    image = plot_table(table)
                    made = [(f"{table.kind} · {table.benchmark}", image)] if image else []
                elif name == "memory":
                    image = metric_plot(table, MEMORY_METRIC) if table.has_memory else None
                    made = (
                        [(f"{table.kind} · {table.benchmark}: peak memory", image)] if image else []
                    )
                elif head == "metric":
                    image = metric_plot(table, tail)
                    made = [(f"{table.kind} · {table.benchmark}: {tail}", image)] if image else []
                elif head == "metrics":
                    image = _prefixed_bars(table, tail)
                    made = [(f"{table.kind} · {table.benchmark}: {tail}", image)] if image else []
                elif name in PLOT_KINDS:
                    made = series_figures(table, name)
                else:
                    made = []
                    notes.append(f"unknown plot {name!r}")
        except Exception as exc:  # a matplotlib failure on odd data; the rest still renders
            notes.append(f"plot {name!r} failed: {type(exc).__name__}: {exc}")
            continue
        out.extend(made)
    if len(out) > MAX_FIGURES:
        notes.append(f"{len(out) - MAX_FIGURES} more figures left out; all data is in results.json")
        out = out[:MAX_FIGURES]
    return out, notes
