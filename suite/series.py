"""Series: the curves a benchmark attaches to a cell beside its scalar metrics.

A metric answers "how good"; a curve answers "where": the ROC and precision-recall curves behind
an AUC, the training loss behind a final accuracy, the load of each expert behind a coefficient
of variation, the time at each length behind a growth exponent. A benchmark returns them in
`Measurement.series`; the runner writes each into the row's optional `series` list of
`results.json` (`{"name", "x", "y", "x_label", "y_label", "plot"}` and an optional `auc`), and
the HTML report draws them, one figure per declared plot.

`plot` says how the curve is drawn (see `PLOT_KINDS`):

    roc      false positive rate against true positive rate, chance diagonal, AUC in the legend
    pr       precision against recall, AUC (average precision) in the legend
    line     y against x, e.g. a training loss against the step
    loglog   y against x on log-log axes with the fitted slope (the growth exponent) in the legend
    bars     one bar per x (a category or an index), e.g. tokens routed to each expert

Files stay small: a series longer than `MAX_POINTS` is downsampled on the way in, evenly in
its index and keeping both endpoints (`downsample`), and each value keeps 6 significant digits. The area under a ROC or PR curve is
computed on the full curve before that (`roc_series`, `pr_series`) and stored as `auc`, so the
legend's number is the metric's, not the thinned curve's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_POINTS",
    "PLOT_KINDS",
    "Series",
    "downsample",
    "pr_series",
    "roc_series",
]

MAX_POINTS = 200
SIGNIFICANT_DIGITS = 6  # of each stored x and y
PLOT_KINDS = ("roc", "pr", "line", "loglog", "bars")


def downsample(
    x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """At most `max_points` of the pairs `(x[i], y[i])`, evenly spaced in `i`, first and last kept."""
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    n = len(x)
    if n <= max_points:
        return list(x), list(y)
    picks = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return [x[i] for i in picks], [y[i] for i in picks]


def _finite(name: str, axis: str, values: Sequence[Any]) -> list[float]:
    out = []
    for index, value in enumerate(values):
        number = float(value)  # numpy and torch scalars, ints
        if not math.isfinite(number):
            raise ValueError(f"series {name!r}: {axis}[{index}] is {number}, not a finite number")
        out.append(number)
    return out


@dataclass
class Series:
    """One named curve of one cell: x and y of equal length, axis labels, how to plot it."""

    name: str  # the legend entry's subject: "ROC", "training loss", "tokens per expert"
    x: Sequence[float]
    y: Sequence[float]
    x_label: str = "x"
    y_label: str = "y"
    plot: str = "line"  # one of PLOT_KINDS
    auc: float | None = None  # area under the full curve, for roc and pr (in the legend)
    figure: str = ""  # topic cards: series with the same figure share one plot (default: y_label)
    extra: dict[str, Any] = field(default_factory=dict)  # more JSON keys, written as they are

    def __post_init__(self) -> None:
        if self.plot not in PLOT_KINDS:
            raise ValueError(
                f"series {self.name!r}: plot must be one of {', '.join(PLOT_KINDS)}, got {self.plot!r}"
            )
        self.x = _finite(self.name, "x", list(self.x))
        self.y = _finite(self.name, "y", list(self.y))
        if len(self.x) != len(self.y):
            raise ValueError(
                f"series {self.name!r}: x has {len(self.x)} points and y has {len(self.y)}"
            )
        if not self.x:
            raise ValueError(f"series {self.name!r} is empty")

    def to_dict(self, max_points: int = MAX_POINTS) -> dict[str, Any]:
        """The JSON object of `results.json`, downsampled to at most `max_points` points."""
        x, y = downsample(self.x, self.y, max_points)
        x, y = [_round(v) for v in x], [_round(v) for v in y]
        record: dict[str, Any] = {
            **self.extra,
            "name": self.name,
            "x": x,
            "y": y,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "plot": self.plot,
        }
        if self.auc is not None:
            record["auc"] = float(self.auc)
        if self.figure:
            record["figure"] = self.figure
        return record


def _round(value: float) -> float:
    """`SIGNIFICANT_DIGITS` significant digits: a curve is looked at, not recomputed."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _numpy(values: Any) -> Any:
    import numpy as np

    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().double().cpu().numpy()
    return np.asarray(values, dtype=float).reshape(-1)


def roc_series(labels: Any, scores: Any, name: str = "ROC") -> Series:
    """The ROC curve of binary `labels` (1 = positive) ranked by `scores`, with its AUC.

    scikit-learn's `roc_curve` with `drop_intermediate=True` (only the corners), and
    `roc_auc_score` on the same inputs.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = _numpy(labels), _numpy(scores)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    return Series(
        name,
        fpr,
        tpr,
        x_label="false positive rate",
        y_label="true positive rate",
        plot="roc",
        auc=float(roc_auc_score(y, s)),
    )


def pr_series(labels: Any, scores: Any, name: str = "precision-recall") -> Series:
    """The precision-recall curve of binary `labels` ranked by `scores`, with its average precision.

    scikit-learn's `precision_recall_curve`, reversed so that recall rises along x; `auc` is
    `average_precision_score`, the step-wise area the `pr_auc` metrics of `suite.metrics` use.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = _numpy(labels), _numpy(scores)
    precision, recall, _ = precision_recall_curve(y, s)
    return Series(
        name,
        recall[::-1],
        precision[::-1],
        x_label="recall",
        y_label="precision",
        plot="pr",
        auc=float(average_precision_score(y, s)),
    )
