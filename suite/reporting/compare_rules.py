"""How `compare` judges one cell's time between two runs, and when it refuses to.

Two runs of a shared machine meet different loads, so a cell's absolute time moves between them
with no code change. What can be compared depends on how the cell was timed:

* A paired cell (`metrics.paired_ratio`: the component and its reference timed in alternating
  rounds of the same cell, `suite.timing.time_paired`) is judged on that ratio, which the load
  hits alike above and below the line. `timing.ratio_samples` keeps the per-round ratios:

      slower  ⇔  new_ratio ÷ old_ratio > 1 + threshold, and a one-sided Mann–Whitney U test
                 finds the new per-round ratios larger than the old ones × (1 + threshold),
                 p < ALPHA

  A results file written before the rounds were kept falls back to the ratio's bootstrap 95%
  intervals (`INTERVAL_RULE`): beyond the threshold and the two intervals do not overlap.
  A ratio whose rounds spread too much (IQR above a quarter of the median, `suite.noise`), or
  with fewer than MIN_SAMPLES rounds, is not judged. Nor is one whose reference itself ran
  more than REFERENCE_DRIFT_LIMIT (2×) faster or slower than in the old run (its per-round
  times are the component's divided by the ratios): a load that heavy does not slow both
  sides alike (a fused kernel and a chain of small multi-threaded ops contend differently for
  oversubscribed cores), and measured ratios move by half or double with it.
* Any other timed cell (a reference, the denominator of the pairs; a benchmark that times one
  function) has only its absolute repeats, comparable only when both runs met the same quiet
  machine. When both runs recorded their load (`run.load_before`, `run.load_after`: 1-minute
  load averages) and it changed notably (the busier run's by more than LOAD_STEP +
  LOAD_SHARE × the quieter's) or exceeded the threads the run timed with (`run.cpu_threads`:
  the timed threads had to share cores), the cell is "unjudged" with the loads named. Otherwise
  the repeats are judged as the paired ratios are (Mann–Whitney U, old repeats × the machine
  drift under `--normalize`); files without repeats use the median rule:

      slower  ⇔  new_median − old_median > max(threshold × old_median, old_IQR + new_IQR)

A significant change inside the threshold, or beyond it but not significant, is not flagged.

Run-to-run noise. The rounds of one run say how noisy that run was, not how far two runs of
the same code drift apart (CPU frequency, memory placement, what else the machine ran): two
idle runs of unchanged code move some cells by tens of percent, "significantly". So the other
cells of the same comparison are the yardstick: `run_to_run_noise` takes the robust spread
(1.4826 × the median absolute deviation) σ of log(new ÷ old) over the paired cells, and apart
over the cells timed alone, and a cell of that group is judged beyond
max(threshold, e^(NOISE_SIGMAS·σ) − 1) rather than the bare threshold (only when the group has
NOISE_MIN_CELLS cells or more: a code change touches a few cells, so the median cell shows
the noise, not the change).
A benchmark's ratio metric computed from a time (`is_timed_metric`: `encode_mb_per_s`,
`cached_ms_per_token`) is left unjudged on the same load problem as an unpaired time.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from suite.noise import interval_problem, spread_problem
from suite.reporting.formatting import format_number
from suite.reporting.tables import TIME_METRIC, cell_value

__all__ = [
    "ALPHA",
    "INTERVAL_RULE",
    "MEDIAN_RULE",
    "MIN_SAMPLES",
    "PAIRED",
    "TEST_NAME",
    "TIME",
    "TimeJudgement",
    "is_timed_metric",
    "judge_time",
    "load_problem",
    "noise_threshold",
    "run_load",
    "run_to_run_noise",
]

ALPHA = 0.01  # significance level of the Mann–Whitney test
MIN_SAMPLES = 5  # repeats (or rounds) each run needs for its time (or ratio) to be judged
TEST_NAME = "Mann–Whitney U"
INTERVAL_RULE = "bootstrap intervals"  # paired ratios of files without per-round ratios
MEDIAN_RULE = "median rule"  # unpaired times of files without samples
PAIRED = "paired ratio"  # what was judged: the ratio to the reference within the cell
TIME = "time"  # or the cell's absolute time
LOAD_STEP = 0.5  # runnable processes: a change of load below this (+ LOAD_SHARE) is no change
LOAD_SHARE = 0.25
REFERENCE_DRIFT_LIMIT = 2.0  # a reference this much slower or faster: the ratio is not judged
NOISE_SIGMAS = 3.0  # a change must exceed this many run-to-run standard deviations
NOISE_MIN_CELLS = 10  # cells a group needs before its spread is taken as the run-to-run noise


@dataclass
class TimeJudgement:
    """What one cell's timing says between two runs."""

    basis: str | None = None  # PAIRED or TIME; None when nothing was timed in both runs
    ratio: float | None = None  # new ÷ old of what was judged (time × drift when normalising)
    method: str | None = None  # TEST_NAME, INTERVAL_RULE, MEDIAN_RULE; None when not judged
    p_value: float | None = None
    change: int = 0  # +1 slower beyond the threshold and the noise, -1 faster, 0 neither
    reason: str | None = None  # the change judged, or why it was not flagged
    unjudged: str | None = None  # why it cannot be judged


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _list(row: dict[str, Any], key: str) -> list[float]:
    values = (row.get("timing") or {}).get(key)
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if _number(v) is not None]


def _reference_median(row: dict[str, Any]) -> float | None:
    """The reference's median time in a paired cell: per round, the component's time ÷ the ratio."""
    times, ratios = _list(row, "samples_ms"), _list(row, "ratio_samples")
    if not times or len(times) != len(ratios) or any(ratio <= 0 for ratio in ratios):
        return None
    return statistics.median(time / ratio for time, ratio in zip(times, ratios))


def _reference_drift(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why the reference moved too much between the runs for the ratio to hold, or None."""
    before, after = _reference_median(old), _reference_median(new)
    if before is None or after is None or before <= 0:
        return None
    drift = after / before
    if 1 / REFERENCE_DRIFT_LIMIT <= drift <= REFERENCE_DRIFT_LIMIT:
        return None
    return (
        f"cannot judge the paired ratio: the reference itself took ×{format_number(drift)} its "
        f"old time ({format_number(before)} → {format_number(after)} ms), a load that does not "
        "slow both sides alike"
    )


def _paired_ratio(row: dict[str, Any]) -> float | None:
    ratio = _number((row.get("metrics") or {}).get("paired_ratio"))
    return ratio if ratio is not None and ratio > 0 else None


def _log_change(old: dict[str, Any], new: dict[str, Any], scale: float) -> tuple[str, float] | None:
    """(basis, log of new ÷ old) of a cell ok in both runs: its paired ratio, else its time."""
    old_ratio, new_ratio = _paired_ratio(old), _paired_ratio(new)
    if old_ratio is not None and new_ratio is not None:
        return PAIRED, math.log(new_ratio / old_ratio)
    old_ms, new_ms = cell_value(old, TIME_METRIC), cell_value(new, TIME_METRIC)
    if old_ms and new_ms and old_ms > 0 and new_ms > 0:
        return TIME, math.log(new_ms / (old_ms * scale))
    return None


def run_to_run_noise(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]], scale: float = 1.0
) -> dict[str, tuple[float, int]]:
    """Per basis (PAIRED, TIME): (σ of log new ÷ old across cells, number of cells), for the
    groups of at least NOISE_MIN_CELLS cells ok in both runs; see the module docstring."""
    changes: dict[str, list[float]] = {PAIRED: [], TIME: []}
    for old, new in pairs:
        if old.get("status") == "ok" and new.get("status") == "ok":
            found = _log_change(old, new, scale)
            if found is not None:
                changes[found[0]].append(found[1])
    noise = {}
    for basis, values in changes.items():
        if len(values) >= NOISE_MIN_CELLS:
            center = statistics.median(values)
            spread = 1.4826 * statistics.median(abs(v - center) for v in values)
            noise[basis] = (spread, len(values))
    return noise


def noise_threshold(threshold: float, noise: tuple[float, int] | None) -> float:
    """The change a cell must exceed: the threshold, or NOISE_SIGMAS run-to-run σ if larger."""
    if noise is None:
        return threshold
    return max(threshold, math.exp(NOISE_SIGMAS * noise[0]) - 1)


def is_timed_metric(name: str) -> bool:
    """Whether a metric is computed from a time (a rate `_per_s`, a time `_ms`, `_ms_per_…`)."""
    return name.endswith(("_per_s", "_ms", "_s")) or "_ms_" in name


def run_load(run: dict[str, Any]) -> float | None:
    """The busiest 1-minute load average a run recorded (before or after), None if none."""
    values = []
    for key in ("load_before", "load_after"):
        load = run.get(key)
        if isinstance(load, list) and load and _number(load[0]) is not None:
            values.append(float(load[0]))
    return max(values) if values else None


def load_problem(old_run: dict[str, Any], new_run: dict[str, Any]) -> str | None:
    """Why the two runs' absolute times are not comparable (one line), or None."""
    old, new = run_load(old_run), run_load(new_run)
    if old is None or new is None:
        return None
    if abs(new - old) > LOAD_STEP + LOAD_SHARE * min(old, new):
        return f"load changed ({old:.1f} → {new:.1f})"
    for load, run in ((old, old_run), (new, new_run)):
        threads = _number(run.get("cpu_threads"))
        if threads is not None and threads > 0 and load > threads:
            return f"machine busy (load {old:.1f} → {new:.1f}, above the {threads:g} threads timed)"
    return None


def _mann_whitney(new: list[float], old: list[float], bound: float, slower: bool) -> float:
    from scipy.stats import mannwhitneyu

    return float(
        mannwhitneyu(
            new, [value * bound for value in old], alternative="greater" if slower else "less"
        ).pvalue
    )


def _decide(judgement: TimeJudgement, threshold: float, significant: bool, change: str) -> None:
    ratio = judgement.ratio or 1.0
    beyond = ratio > 1 + threshold or ratio < 1 - threshold
    direction = "slower: " if ratio > 1 else "faster: "
    if beyond and significant:
        judgement.change = 1 if ratio > 1 else -1
        judgement.reason = direction + change
    elif beyond:
        needs = f"p < {ALPHA}" if judgement.method == TEST_NAME else "intervals apart"
        judgement.reason = f"{direction}{change}: not significant (needs {needs})"


def _judge_paired(
    old: dict[str, Any], new: dict[str, Any], threshold: float, judgement: TimeJudgement
) -> None:
    old_ratio, new_ratio = _paired_ratio(old), _paired_ratio(new)
    assert old_ratio is not None and new_ratio is not None
    judgement.basis, judgement.ratio = PAIRED, new_ratio / old_ratio
    moved = f"paired ratio {format_number(old_ratio)} → {format_number(new_ratio)}"
    slower = judgement.ratio > 1
    bound = 1 + threshold if slower else 1 - threshold
    rounds = {"old": _list(old, "ratio_samples"), "new": _list(new, "ratio_samples")}
    if rounds["old"] or rounds["new"]:
        for label, samples in rounds.items():
            if len(samples) < MIN_SAMPLES:
                judgement.unjudged = (
                    f"cannot judge the paired ratio: {len(samples)} rounds in the {label} run "
                    f"(needs {MIN_SAMPLES})"
                )
                return
            problem = spread_problem(samples, "paired ratio")
            if problem is not None:
                judgement.unjudged = f"cannot judge: unstable in the {label} run ({problem})"
                return
        judgement.unjudged = _reference_drift(old, new)
        if judgement.unjudged is not None:
            return
        judgement.method = TEST_NAME
        judgement.p_value = _mann_whitney(rounds["new"], rounds["old"], bound, slower)
        change = (
            f"{moved} over {len(rounds['old'])} and {len(rounds['new'])} rounds, {TEST_NAME} "
            f"p = {judgement.p_value:.2g} that it moved beyond {threshold:.0%}"
        )
        _decide(judgement, threshold, judgement.p_value < ALPHA, change)
        return
    intervals = {}
    for label, row, ratio in (("old", old, old_ratio), ("new", new, new_ratio)):
        metrics = row.get("metrics") or {}
        low = _number(metrics.get("paired_ratio_ci_low"))
        high = _number(metrics.get("paired_ratio_ci_high"))
        if low is None or high is None:
            judgement.unjudged = (
                f"cannot judge the paired ratio: no rounds or interval in the {label} run"
            )
            return
        rounds_run = _number((row.get("timing") or {}).get("repeats")) or 0
        problem = interval_problem(ratio, low, high, int(rounds_run))
        if problem is not None:
            judgement.unjudged = f"cannot judge: unstable in the {label} run ({problem})"
            return
        intervals[label] = (low, high)
    judgement.method = INTERVAL_RULE
    (old_low, old_high), (new_low, new_high) = intervals["old"], intervals["new"]
    apart = new_low > old_high if slower else new_high < old_low
    change = (
        f"{moved}, 95% intervals {format_number(old_low)}–{format_number(old_high)} and "
        f"{format_number(new_low)}–{format_number(new_high)} (no rounds kept: {INTERVAL_RULE})"
    )
    _decide(judgement, threshold, apart, change)


def _why_unjudged(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    for label, row in (("old", old), ("new", new)):
        count = len(_list(row, "samples_ms"))
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
    old: dict[str, Any],
    new: dict[str, Any],
    threshold: float,
    scale: float,
    judgement: TimeJudgement,
) -> None:
    old_samples = [value * scale for value in _list(old, "samples_ms")]
    new_samples = _list(new, "samples_ms")
    judgement.method = TEST_NAME
    slower = (judgement.ratio or 1.0) > 1
    bound = 1 + threshold if slower else 1 - threshold
    judgement.p_value = _mann_whitney(new_samples, old_samples, bound, slower)
    change = (
        f"×{format_number(judgement.ratio)} over {len(old_samples)} and {len(new_samples)} "
        f"repeats, {TEST_NAME} p = {judgement.p_value:.2g} that it moved beyond {threshold:.0%}"
    )
    _decide(judgement, threshold, judgement.p_value < ALPHA, change)


def _iqr(row: dict[str, Any]) -> float:
    return cell_value(row, "iqr_ms") or 0.0


def judge_time(
    old: dict[str, Any],
    new: dict[str, Any],
    threshold: float,
    *,
    scale: float = 1.0,
    load: str | None = None,
    noise: dict[str, tuple[float, int]] | None = None,
) -> TimeJudgement:
    """Judge the timing of one cell ok in both runs (see the module docstring).

    `scale` multiplies the old times (the machine drift under --normalize; paired ratios are
    never scaled); `load` is `load_problem` of the two runs, which leaves unpaired times
    unjudged; `noise` is `run_to_run_noise` of the comparison, which raises the threshold."""
    judgement = TimeJudgement()
    noise = noise or {}
    if _paired_ratio(old) is not None and _paired_ratio(new) is not None:
        _judge_paired(old, new, noise_threshold(threshold, noise.get(PAIRED)), judgement)
        return judgement
    threshold = noise_threshold(threshold, noise.get(TIME))
    old_ms, new_ms = cell_value(old, TIME_METRIC), cell_value(new, TIME_METRIC)
    if old_ms is None or new_ms is None:
        return judgement
    judgement.basis = TIME
    judgement.ratio = None if old_ms * scale == 0 else new_ms / (old_ms * scale)
    if load is not None:
        judgement.unjudged = (
            f"unjudged: {load}; times of separate runs compare only on a quiet machine"
        )
        return judgement
    if _list(old, "samples_ms") and _list(new, "samples_ms"):
        judgement.unjudged = _why_unjudged(old, new)
        if judgement.unjudged is None:
            _judge_samples(old, new, threshold, scale, judgement)
        return judgement
    judgement.method = MEDIAN_RULE
    old_ms *= scale
    bound = max(threshold * old_ms, _iqr(old) * scale + _iqr(new))
    change = (
        f"{format_number(old_ms)} → {format_number(new_ms)} ms (no samples: median rule, "
        f"noise bound {format_number(bound)} ms)"
    )
    if new_ms - old_ms > bound:
        judgement.change, judgement.reason = 1, "slower: " + change
    elif old_ms - new_ms > bound:
        judgement.change, judgement.reason = -1, "faster: " + change
    return judgement
