"""Figures of the series the cells attach (`suite.series`): ROC, PR, lines, log-log, bars.

One figure per series name and plot kind, one line (or set of bars) per cell, labelled by its
component and the parameters that vary. When that would be more than `MAX_LINES` lines, the
figure is split into one per parameter point, so that eight ROC curves never share one square.

* `roc`: the chance diagonal, axes 0..1, the AUC of each curve in the legend (the stored `auc`,
  computed on the full curve; the area of the drawn points when a file has none).
* `pr`: recall against precision, axes 0..1, the average precision in the legend.
* `line`: y against x (a training loss against the step); log y when it spans 100× or more.
* `loglog`: log-log axes, each line's fitted slope (least squares on log x, log y, the growth
  exponent: 1 linear, 2 quadratic) in the legend.
* `bars`: one group per x value (an expert, a category), one bar per cell.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from suite.reporting.formatting import format_number, format_param
from suite.reporting.tables import Row, Table

__all__ = ["MAX_LINES", "SeriesFigure", "fitted_slope", "series_figures", "series_kinds"]

MAX_LINES = 4  # more cells than this in one figure: one figure per parameter point
MAX_BAR_SETS = 6  # more bar sets than this in one group: only the first are drawn


@dataclass
class SeriesFigure:
    """One figure's content: the curves it draws and the title that says which."""

    kind: str
    name: str
    title: str
    curves: list[tuple[Row, dict[str, Any], str]]  # (row, series object, legend label)


def _label(text: Any) -> str:
    return str(text).replace("$", r"\$")


def _series_of(row: Row) -> list[dict[str, Any]]:
    series = row.result.get("series")
    return [s for s in series if isinstance(s, dict)] if isinstance(series, list) else []


def series_kinds(table: Table) -> list[str]:
    """The `plot` kinds of the series the table's ok cells attach, in order of appearance."""
    kinds: dict[str, None] = {}
    for row in table.rows:
        if row.status == "ok":
            for series in _series_of(row):
                kinds.setdefault(str(series.get("plot")), None)
    return list(kinds)


def _points(series: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The finite (x, y) pairs of a stored series (a null is a value the writer dropped)."""
    pairs = [
        (float(x), float(y))
        for x, y in zip(series.get("x") or [], series.get("y") or [])
        if isinstance(x, int | float) and isinstance(y, int | float)
    ]
    pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def fitted_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x over the positive points (None below two)."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len({x for x, _ in pairs}) < 2:
        return None
    mean_x = sum(x for x, _ in pairs) / len(pairs)
    mean_y = sum(y for _, y in pairs) / len(pairs)
    num = sum((x - mean_x) * (y - mean_y) for x, y in pairs)
    den = sum((x - mean_x) ** 2 for x, _ in pairs)
    return num / den


def _trapezoid(xs: list[float], ys: list[float]) -> float:
    order = sorted(zip(xs, ys))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(order))


def plan_figures(table: Table, kind: str) -> list[SeriesFigure]:
    """Which curves go into which figure for the series of `kind` (see the module docstring)."""
    by_name: dict[str, list[tuple[Row, dict[str, Any]]]] = {}
    for row in table.rows:
        if row.status != "ok":
            continue
        for series in _series_of(row):
            if series.get("plot") == kind:
                by_name.setdefault(str(series.get("name") or kind), []).append((row, series))
    varying = table.param_names
    figures = []
    for name, curves in by_name.items():
        title = f"{table.kind} · {table.benchmark}: {name}"
        if len(curves) <= MAX_LINES or len(varying) == 0:
            labelled = [(row, s, _row_label(row, varying)) for row, s in curves]
            figures.append(SeriesFigure(kind, name, title, labelled))
            continue
        by_point: dict[str, list[tuple[Row, dict[str, Any], str]]] = {}
        for row, series in curves:
            point = ", ".join(f"{p}={format_param(row.params.get(p))}" for p in varying)
            by_point.setdefault(point, []).append((row, series, row.component))
        for point, labelled in by_point.items():
            figures.append(SeriesFigure(kind, name, f"{title} at {point}", labelled))
    return figures


def _row_label(row: Row, varying: list[str]) -> str:
    return row.component + "".join(f" {p}={format_param(row.params.get(p))}" for p in varying)


def draw(figure_plan: SeriesFigure) -> bytes | None:
    """The PNG of one planned figure, or None when none of its curves has a point."""
    from suite.reporting.plots import new_figure, png

    curves = [(row, s, label, *_points(s)) for row, s, label in figure_plan.curves]
    curves = [curve for curve in curves if curve[3]]
    if not curves:
        return None
    kind = figure_plan.kind
    figure, axes = new_figure(square=kind in ("roc", "pr"))
    if kind == "bars":
        _bars(axes, curves)
    else:
        for row, series, label, xs, ys in curves:
            style = "--" if row.role == "reference" else "-"
            axes.plot(
                xs,
                ys,
                style,
                marker="o" if len(xs) <= 20 else None,
                markersize=3,
                label=_label(label + _legend_value(kind, series, xs, ys)),
            )
    first = curves[0][1]
    axes.set_xlabel(_label(first.get("x_label") or "x"))
    axes.set_ylabel(_label(first.get("y_label") or "y"))
    if kind == "roc":
        axes.plot([0, 1], [0, 1], ":", color="grey", linewidth=1, label="chance")
    if kind in ("roc", "pr"):
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
    all_y = [y for curve in curves for y in curve[4]]
    if kind == "loglog":
        axes.set_xscale("log")
        axes.set_yscale("log")
        ticks = sorted({x for curve in curves for x in curve[3] if x > 0})
        if len(ticks) <= 12:
            from matplotlib.ticker import NullLocator

            axes.set_xticks(ticks, [format_number(x) for x in ticks])
            axes.xaxis.set_minor_locator(NullLocator())
    elif kind == "line" and min(all_y) > 0 and max(all_y) / min(all_y) >= 100:
        axes.set_yscale("log")
    axes.set_title(_label(figure_plan.title), fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return png(figure)


def _legend_value(kind: str, series: dict[str, Any], xs: list[float], ys: list[float]) -> str:
    if kind in ("roc", "pr"):
        auc = series.get("auc")
        if not isinstance(auc, int | float):
            auc = _trapezoid(xs, ys)
        return f" ({'AUC' if kind == 'roc' else 'AP'} {format_number(float(auc))})"
    if kind == "loglog":
        slope = fitted_slope(xs, ys)
        return "" if slope is None else f" (slope {slope:.2f})"
    return ""


def _bars(
    axes: Any, curves: list[tuple[Row, dict[str, Any], str, list[float], list[float]]]
) -> None:
    curves = curves[:MAX_BAR_SETS]
    categories = sorted({x for curve in curves for x in curve[3]})
    where = {x: index for index, x in enumerate(categories)}
    width = 0.8 / len(curves)
    for index, (row, _, label, xs, ys) in enumerate(curves):
        offset = (index - (len(curves) - 1) / 2) * width
        axes.bar(
            [where[x] + offset for x in xs],
            ys,
            width,
            label=_label(label),
            hatch="//" if row.role == "reference" else None,
        )
    step = max(1, len(categories) // 16)
    shown = categories[::step]
    axes.set_xticks([where[x] for x in shown], [format_number(x) for x in shown], fontsize=7)


def series_figures(table: Table, kind: str) -> list[tuple[str, bytes]]:
    """(title, PNG) of every figure of the series of `kind` in `table`."""
    out = []
    for plan in plan_figures(table, kind):
        image = draw(plan)
        if image is not None:
            out.append((plan.title, image))
    return out
