"""Can this timing be trusted? Spread, a bootstrap interval, the unstable verdict, the advice.

A median of repeats is only as good as the repeats agree. On a shared machine (other jobs, a
CPU quota, frequency scaling) two calls of the same function can differ by 2×, and a benchmark
that reports the median of such repeats reports the load, not the code. This module decides,
from the samples alone, when a figure is not worth quoting:

* spread: the interquartile range over the median. Above `SPREAD_LIMIT` (0.25: the middle half
  of the repeats spans more than a quarter of the median) the cell is *unstable*.
* a paired ratio (component ÷ reference timed in alternating rounds, `suite.timing.time_paired`)
  is the median of the per-round ratios; its 95% interval is a percentile bootstrap over rounds
  (resample the rounds with replacement, take the median each time). An interval wider than
  `INTERVAL_LIMIT` (0.25) of the ratio makes the cell unstable too.

An unstable cell is still written, with `timing.unstable: true` and the reason; the reports grey
it out rather than calling it a win or a loss, `compare` does not judge its time (a paired
cell is judged on its per-round ratios, unless they spread beyond `SPREAD_LIMIT`), and
`explain` does not quote it. `advice` is the one line printed at the end of a run that had such cells.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from typing import Any

__all__ = [
    "INTERVAL_LIMIT",
    "SPREAD_LIMIT",
    "advice",
    "bootstrap_median_interval",
    "compact_samples",
    "interval_problem",
    "is_unstable",
    "load_average",
    "relative_spread",
    "spread_problem",
    "unstable_count",
]

SPREAD_LIMIT = 0.25  # IQR / median above which a timing is unstable
INTERVAL_LIMIT = 0.25  # (high - low) / ratio of a paired ratio's 95% interval
_RESAMPLES = 2000
_SIGNIFICANT = 4  # digits kept of each raw sample in results.json


def _quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    if len(samples) < 2:
        return samples[0], samples[0], samples[0]
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, q2, q3


def relative_spread(samples: Sequence[float]) -> float:
    """IQR / median of `samples` (0 for one sample; inf for a zero median with spread)."""
    if not samples:
        raise ValueError("no samples")
    q1, median, q3 = _quartiles(samples)
    if median == 0:
        return 0.0 if q3 == q1 else math.inf
    return (q3 - q1) / abs(median)


def spread_problem(samples: Sequence[float], what: str = "time") -> str | None:
    """Why `samples` are too spread to trust (one line), or None."""
    spread = relative_spread(samples)
    if spread > SPREAD_LIMIT:
        return (
            f"{what} IQR is {spread:.0%} of the median over {len(samples)} repeats "
            f"(limit {SPREAD_LIMIT:.0%})"
        )
    return None


def bootstrap_median_interval(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = _RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of `values` (rounds resampled with replacement)."""
    if not values:
        raise ValueError("no values")
    if len(values) == 1:
        return values[0], values[0]
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(data), size=(resamples, len(data)))
    medians = np.median(data[picks], axis=1)  # (resamples,): under a millisecond for 50 rounds
    tail = (1 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return float(low), float(high)


def interval_problem(ratio: float, low: float, high: float, rounds: int) -> str | None:
    """Why a ratio's interval is too wide to trust (one line), or None."""
    if ratio <= 0 or not math.isfinite(ratio):
        return f"paired ratio is {ratio!r}"
    width = (high - low) / ratio
    if width > INTERVAL_LIMIT:
        return (
            f"ratio 95% interval {low:.3g}–{high:.3g} is {width:.0%} of the ratio over "
            f"{rounds} rounds (limit {INTERVAL_LIMIT:.0%})"
        )
    return None


def compact_samples(samples: Sequence[float]) -> list[float]:
    """Samples rounded to 4 significant digits: what results.json keeps of each repeat."""
    return [float(f"{value:.{_SIGNIFICANT}g}") for value in samples]


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (runnable processes), None where the OS has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def is_unstable(row: dict[str, Any]) -> bool:
    """Whether a results row's timing is marked unstable."""
    timing = row.get("timing") or {}
    return bool(timing.get("unstable"))


def unstable_count(document: dict[str, Any]) -> int:
    return sum(1 for row in document.get("results") or [] if is_unstable(row))


def advice(document: dict[str, Any]) -> str | None:
    """One line for the end of a run with unstable cells: the load seen and what to do."""
    rows = [row for row in document.get("results") or [] if is_unstable(row)]
    if not rows:
        return None
    run = document.get("run") or {}
    cpus = os.cpu_count() or 1
    loads = [run.get(key) for key in ("load_before", "load_after")]
    seen = [f"{load[0]:.1f}" for load in loads if isinstance(load, list) and load]
    load = f"load {' → '.join(seen)} on {cpus} CPUs; " if seen else ""
    benchmarks = sorted({str(row.get("benchmark")) for row in rows})
    rerun = " ".join(f"--benchmark {name}" for name in benchmarks)
    return (
        f"{len(rows)} timing(s) unstable ({load}the machine is busy?): rerun with "
        f"`nlpsuite run {rerun} --threads 1` under OMP_WAIT_POLICY=PASSIVE, on a quieter machine"
    )
