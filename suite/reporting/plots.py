"""Plots for the HTML report, as PNG bytes: where people would rather look than read.

- A benchmark that sweeps a numeric parameter (seq_len, tokens, vocab_size, …) gets a line per
  component of its ratio metric (time by default) against that parameter, on log-log axes when
  the values allow: a slope of 1 is linear growth, 2 is quadratic, so O(T²) attention and a
  sparse O(T·w) pattern separate at a glance.
- Otherwise a bar chart, when there are at least two components to compare.

Figures are built with `matplotlib.figure.Figure` (the Agg canvas, no pyplot global state and no
display needed). Labels escape `$` so a plugin's name never triggers matplotlib's mathtext.
"""

from __future__ import annotations

import io
import math
import warnings
from collections import Counter
from typing import Any

from suite.reporting.formatting import format_param
from suite.reporting.tables import TIME_METRIC, Row, Table, cell_value

__all__ = ["plot_metric", "plot_table", "sweep_parameter"]

SWEEP_PREFERENCE = (
    "seq_len",
    "tokens",
    "num_tokens",
    "n_tokens",
    "vocab_size",
    "size",
    "batch_size",
)
MAX_SERIES = 8  # more lines than this: fix the other parameters at their most common values
MAX_BARS = 40


def _label(text: Any) -> str:
    return str(text).replace("$", r"\$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def plot_metric(table: Table) -> str | None:
    """The metric to plot: the ratio metric when rows have it, else the median time."""
    for metric in (table.ratio_metric, TIME_METRIC):
        if metric and any(cell_value(row.result, metric) is not None for row in _ok_rows(table)):
            return metric
    return None


def _ok_rows(table: Table) -> list[Row]:
    return [row for row in table.rows if row.status == "ok"]


def sweep_parameter(table: Table) -> str | None:
    """The numeric parameter this benchmark sweeps (two or more values), preferring sizes."""
    rows = _ok_rows(table)
    candidates = {}
    for name in table.param_names:
        values = [row.params.get(name) for row in rows]
        if values and all(_is_number(value) for value in values) and len(set(values)) >= 2:
            candidates[name] = len(set(values))
    for name in SWEEP_PREFERENCE:
        if name in candidates:
            return name
    return max(candidates, key=lambda name: candidates[name]) if candidates else None


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # log axes over 1e-300..1e300 overflow harmlessly in numpy
        warnings.simplefilter("ignore", RuntimeWarning)
        figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    return figure, figure.add_subplot()


def _axis_label(metric: str) -> str:
    return "median time (ms)" if metric == TIME_METRIC else _label(metric)


def _line_plot(table: Table, metric: str, sweep: str) -> bytes | None:
    points = [(row, cell_value(row.result, metric)) for row in _ok_rows(table)]
    points = [(row, value) for row, value in points if value is not None]
    others = [name for name in table.param_names if name != sweep]

    def rest(row: Row) -> tuple[str, ...]:
        return tuple(format_param(row.params.get(name)) for name in others)

    note = ""
    if len({(row.component, rest(row)) for row, _ in points}) > MAX_SERIES:
        common, _ = Counter(rest(row) for row, _ in points).most_common(1)[0]
        points = [(row, value) for row, value in points if rest(row) == common]
        note = " at " + ", ".join(f"{n}={v}" for n, v in zip(others, common))
    varying = [i for i, name in enumerate(others) if len({rest(row)[i] for row, _ in points}) > 1]
    series: dict[str, list[tuple[float, float, str]]] = {}
    for row, value in points:
        label = row.component + "".join(f" {others[i]}={rest(row)[i]}" for i in varying)
        series.setdefault(label, []).append((float(row.params[sweep]), value, row.role))
    if not series:
        return None
    figure, axes = _new_figure()
    for label, values in series.items():
        values.sort()
        xs, ys = [x for x, _, _ in values], [y for _, y, _ in values]
        style = "--" if values[0][2] == "reference" else "-"
        axes.plot(xs, ys, style, marker="o", markersize=3, label=_label(label))
    all_x = [x for values in series.values() for x, _, _ in values]
    all_y = [y for values in series.values() for _, y, _ in values]
    if min(all_x) > 0 and max(all_x) / min(all_x) >= 4:
        axes.set_xscale("log")
    if min(all_y) > 0 and max(all_y) / min(all_y) >= 4:
        axes.set_yscale("log")
    axes.set_xlabel(_label(sweep))
    axes.set_ylabel(_axis_label(metric))
    axes.set_title(_label(f"{table.kind} · {table.benchmark}{note}"), fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _png(figure)


def _bar_plot(table: Table, metric: str) -> bytes | None:
    bars = [(row, cell_value(row.result, metric)) for row in _ok_rows(table)]
    bars = [(row, value) for row, value in bars if value is not None][:MAX_BARS]
    if len({row.component for row, _ in bars}) < 2:
        return None
    several_points = len(table.groups) > 1

    def label(row: Row) -> str:
        if not several_points:
            return row.component
        return (
            row.component
            + "\n"
            + ", ".join(f"{k}={format_param(v)}" for k, v in row.params.items())
        )

    figure, axes = _new_figure()
    values = [value for _, value in bars]
    colors = ["#4c72b0" if row.role == "reference" else "#dd8452" for row, _ in bars]
    axes.bar(range(len(bars)), values, color=colors)
    axes.set_xticks(
        range(len(bars)),
        [_label(label(row)) for row, _ in bars],
        rotation=45,
        ha="right",
        fontsize=7,
    )
    if min(values) > 0 and max(values) / min(values) >= 100:
        axes.set_yscale("log")
    axes.set_ylabel(_axis_label(metric))
    axes.set_title(_label(f"{table.kind} · {table.benchmark} (blue: reference)"), fontsize=10)
    axes.grid(True, axis="y", alpha=0.3)
    return _png(figure)


def plot_table(table: Table) -> bytes | None:
    """A PNG of `table`'s ratio metric: a line plot over its sweep, or bars; None if nothing to plot."""
    metric = plot_metric(table)
    if metric is None:
        return None
    sweep = sweep_parameter(table)
    return _line_plot(table, metric, sweep) if sweep else _bar_plot(table, metric)
