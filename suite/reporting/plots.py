"""Plots for the HTML report, as PNG bytes: where people would rather look than read.

- A benchmark that sweeps a numeric parameter (seq_len, tokens, vocab_size, …) gets a line per
  component of its ratio metric (time by default) against that parameter, on log-log axes when
  the values allow: a slope of 1 is linear growth, 2 is quadratic, so O(T²) attention and a
  sparse O(T·w) pattern separate at a glance.
- A benchmark whose single cell sweeps a size itself reports metrics named `<what>_t<size>`
  (`time_ms_t1024`, `time_ms_t2048`, …); those get the same log-log line plot, one line per
  component, so the growth exponents in the table can be seen as slopes.
- Otherwise a bar chart, when there are at least two components to compare.

Figures are built with `matplotlib.figure.Figure` (the Agg canvas, no pyplot global state and no
display needed). Labels escape `$` so a plugin's name never triggers matplotlib's mathtext.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections import Counter
from typing import Any

from suite.reporting.formatting import format_bytes, format_number, format_param
from suite.reporting.tables import TIME_METRIC, Row, Table, cell_value

__all__ = [
    "MEMORY_METRIC",
    "metric_plot",
    "metric_sweep",
    "new_figure",
    "plot_metric",
    "plot_table",
    "png",
    "sweep_parameter",
]

MEMORY_METRIC = "peak_bytes"

_SIZED_METRIC = re.compile(r"^(?P<what>.+)_t(?P<size>\d+)$")
MIN_SWEEP_POINTS = 3

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
MAX_BARS = 48  # more bars than this: only the first parameter points


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


def _values(table: Table, metric: str) -> list[tuple[Row, float]]:
    """(row, value) for every ok row of `table` that has `metric`."""
    return _values_of(table.rows, metric)


def _values_of(rows: list[Row], metric: str) -> list[tuple[Row, float]]:
    pairs = [(row, cell_value(row.result, metric)) for row in rows if row.status == "ok"]
    return [(row, value) for row, value in pairs if value is not None]


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


def png(figure: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def new_figure(*, square: bool = False) -> tuple[Any, Any]:
    """A figure (Agg canvas, no pyplot) and its one axes; `square` for ROC and PR curves."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.6, 4.0) if square else (6.4, 3.6), dpi=100, layout="constrained")
    return figure, figure.add_subplot()


_png, _new_figure = png, new_figure


def _axis_label(metric: str) -> str:
    if metric == MEMORY_METRIC:
        return "peak memory"
    return "median time (ms)" if metric == TIME_METRIC else _label(metric)


def _bytes_axis(axes: Any, metric: str) -> None:
    """Peak memory reads `1.5 MiB` on its axis, not `1.57e+06`."""
    if metric != MEMORY_METRIC:
        return
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_bytes(value)))
    axes.yaxis.set_minor_formatter(NullFormatter())


def _line_plot(table: Table, metric: str, sweep: str) -> bytes | None:
    points = _values(table, metric)
    others = [name for name in table.param_names if name != sweep]

    def rest(row: Row) -> tuple[str, ...]:
        return tuple(format_param(row.params.get(name)) for name in others)

    note = ""
    if len({(row.component, rest(row)) for row, _ in points}) > MAX_SERIES:
        common, _ = Counter(rest(row) for row, _ in points).most_common(1)[0]
        points = [(row, value) for row, value in points if rest(row) == common]
        note = " at " + ", ".join(f"{n}={v}" for n, v in zip(others, common))
    if len({row.params[sweep] for row, _ in points}) < 2:  # one size left: a line says nothing
        return _bar_plot(table, metric)
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
        ticks = sorted(set(all_x))
        if len(ticks) <= 12:  # label the measured sizes, not powers of ten
            from matplotlib.ticker import NullLocator

            axes.set_xticks(ticks, [format_number(x) for x in ticks])
            axes.xaxis.set_minor_locator(NullLocator())
    if min(all_y) > 0 and max(all_y) / min(all_y) >= 4:
        axes.set_yscale("log")
    axes.set_xlabel(_label(sweep))
    axes.set_ylabel(_axis_label(metric))
    _bytes_axis(axes, metric)
    axes.set_title(_label(f"{table.kind} · {table.benchmark}{note}"), fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _png(figure)


def _bar_plot(table: Table, metric: str) -> bytes | None:
    """Grouped bars: one group per parameter point, one bar per component, references hatched."""
    values = {
        (id(group), row.component): value
        for group in table.groups
        for row, value in _values_of(group, metric)
    }
    components = list(dict.fromkeys(component for _, component in values))
    if len(components) < 2:
        return None
    groups = [group for group in table.groups if any((id(group), c) in values for c in components)]
    note = ""
    if len(groups) * len(components) > MAX_BARS:
        keep = max(1, MAX_BARS // len(components))
        note = f" (first {keep} of {len(groups)} points)"
        groups = groups[:keep]
    varying = [
        name
        for name in table.param_names
        if len({format_param(g[0].params.get(name)) for g in groups}) > 1
    ]
    references = {row.component for row in table.rows if row.role == "reference"}
    figure, axes = _new_figure()
    width = 0.8 / len(components)
    for index, component in enumerate(components):
        xs = [g + (index - (len(components) - 1) / 2) * width for g in range(len(groups))]
        heights = [values.get((id(group), component), math.nan) for group in groups]
        label = component + (" (ref)" if component in references else "")
        axes.bar(
            xs, heights, width, label=_label(label), hatch="//" if component in references else None
        )
    labels = ["\n".join(f"{n}={format_param(g[0].params.get(n))}" for n in varying) for g in groups]
    axes.set_xticks(range(len(groups)), [_label(text) for text in labels], fontsize=7)
    present = [value for value in values.values()]
    if min(present) > 0 and max(present) / min(present) >= 100:
        axes.set_yscale("log")
    axes.set_ylabel(_axis_label(metric))
    _bytes_axis(axes, metric)
    axes.set_title(_label(f"{table.kind} · {table.benchmark}{note}"), fontsize=10)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _png(figure)


def metric_sweep(table: Table) -> str | None:
    """The `<what>` of metrics named `<what>_t<size>` with 3+ sizes in the table (time first)."""
    sizes: dict[str, set[int]] = {}
    for row in _ok_rows(table):
        for name in row.result.get("metrics") or {}:
            match = _SIZED_METRIC.match(name)
            if match:
                sizes.setdefault(match["what"], set()).add(int(match["size"]))
    swept = [what for what, found in sizes.items() if len(found) >= MIN_SWEEP_POINTS]
    if not swept:
        return None
    return next((what for what in swept if what.startswith("time")), swept[0])


def _metric_sweep_plot(table: Table, what: str) -> bytes | None:
    series: dict[str, list[tuple[int, float, str]]] = {}
    for row in _ok_rows(table):
        for name, value in (row.result.get("metrics") or {}).items():
            match = _SIZED_METRIC.match(name)
            if match and match["what"] == what and _is_number(value) and value > 0:
                series.setdefault(row.component, []).append(
                    (int(match["size"]), float(value), row.role)
                )
    if not series:
        return None
    figure, axes = _new_figure()
    for label, values in series.items():
        values.sort()
        style = "--" if values[0][2] == "reference" else "-"
        axes.plot(
            [x for x, _, _ in values],
            [y for _, y, _ in values],
            style,
            marker="o",
            markersize=3,
            label=_label(label),
        )
    ticks = sorted({x for values in series.values() for x, _, _ in values})
    axes.set_xscale("log")
    axes.set_yscale("log")
    from matplotlib.ticker import NullLocator

    axes.set_xticks(ticks, [format_number(x) for x in ticks])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlabel("size swept inside the cell (T)")
    axes.set_ylabel(_label(what))
    axes.set_title(
        _label(f"{table.kind} · {table.benchmark}: slope = growth exponent"), fontsize=10
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _png(figure)


def plot_table(table: Table) -> bytes | None:
    """A PNG of `table`'s ratio metric: a line plot over its sweep, or bars; None if nothing to plot.

    For a table without declared plots (a file written before `Benchmark.plots`), a sweep
    inside one cell is still recognised by its metric names (`time_ms_t1024`, …).
    """
    with warnings.catch_warnings():  # log axes over 1e-300..1e300 overflow harmlessly in numpy
        warnings.simplefilter("ignore", RuntimeWarning)
        swept = None if table.plots else metric_sweep(table)
        if swept is not None:
            return _metric_sweep_plot(table, swept)
        metric = plot_metric(table)
        if metric is None:
            return None
        return metric_plot(table, metric)


def metric_plot(table: Table, metric: str) -> bytes | None:
    """`metric` of each component: a line over the swept parameter, else grouped bars."""
    sweep = sweep_parameter(table)
    return _line_plot(table, metric, sweep) if sweep else _bar_plot(table, metric)
