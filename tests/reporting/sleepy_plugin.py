"""A test plugin for the report and compare pages: norms whose time is a sleep, and a hostile name.

`SLEEPY_SLOW` names the component to slow down (`SLEEPY_FACTOR` × its sleep, default 4), so
that a test can run the same matrix twice and check that a comparison flags exactly that component. A candidate is
timed in alternating rounds with its reference (`ctx.time_paired`), as the built-in timing
benchmarks do, so that `compare` judges its paired ratio, which the machine's load does not
move; the reference is timed alone. A sleep of 20 ms keeps the ratio steady on a busy machine,
where a sleeping thread wakes up a few milliseconds late. The benchmark attaches a curve of its
repeats and declares its plots; its summary and one cell's error carry a script tag, which
every page must show as text.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

import suite
from suite.errors import CellError
from suite.series import Series

HOSTILE = "<script>window.__pwned = 1</script>"
BASE_SLEEP_S = 0.02
SLOWDOWN = 4


class SleepyRef(suite.Norm):
    """A reference norm that sleeps."""

    name = "sleepy-ref"
    summary = "identity; sleeps (test reference)"
    reference = None

    def build(self, num_features: int) -> nn.Module:
        return nn.Identity()


class SleepyA(SleepyRef):
    """A candidate that sleeps as long as its reference."""

    name = "sleepy-a"
    summary = "identity; sleeps (test candidate a)"
    reference = "sleepy-ref"


class SleepyB(SleepyRef):
    """Another candidate that sleeps as long as its reference."""

    name = "sleepy-b"
    summary = "identity; sleeps (test candidate b)"
    reference = "sleepy-ref"


class SleepyBenchmark(suite.Benchmark):
    """Times a sleep (paired with the reference's); slower for the component named in
    SLEEPY_SLOW; errors on request."""

    name = "sleepy-time"
    kind = "norm"
    summary = f"time of a sleep {HOSTILE}"
    quick_grid: ClassVar[Any] = {"size": [4, 8], "fail": [False]}
    plots: ClassVar[tuple[str, ...]] = ("ratio", "line", "bars")

    def applies_to(self, component_cls: type) -> bool:
        return component_cls.name.startswith("sleepy-")

    def run(self, component_cls: type, params: dict, ctx: suite.RunContext) -> suite.Measurement:
        if os.environ.get("SLEEPY_FAIL") == component_cls.name:
            raise CellError(f"refused {HOSTILE}")
        slow = os.environ.get("SLEEPY_SLOW") == component_cls.name
        factor = float(os.environ.get("SLEEPY_FACTOR") or SLOWDOWN)
        base = float(os.environ.get("SLEEPY_BASE_S") or BASE_SLEEP_S)
        seconds = base * (factor if slow else 1)
        metrics = {"slept_ms": seconds * 1e3}
        if ctx.reference is None:
            timing = ctx.time(lambda: time.sleep(seconds), repeats=7, warmup=1)
        else:
            paired = ctx.time_paired(
                lambda: time.sleep(seconds), lambda: time.sleep(base), rounds=7, warmup=1
            )
            timing = paired.timing
            metrics.update(paired.metrics())
        samples = list(timing.samples_ms or [timing.median_ms])
        return suite.Measurement(
            metrics=metrics,
            timing=timing,
            series=[
                Series("repeat times", range(1, len(samples) + 1), samples, "repeat", "ms"),
                Series(
                    "asked and measured",
                    [0, 1],
                    [seconds * 1e3, timing.median_ms],
                    x_label="0 = asked, 1 = measured median",
                    y_label="ms",
                    plot="bars",
                ),
            ],
        )


@suite.hookimpl
def register_components(register):
    register(SleepyRef)
    register(SleepyA)
    register(SleepyB)


@suite.hookimpl
def register_benchmarks(register):
    register(SleepyBenchmark)


def run_sleepy(
    out_dir: Path,
    *,
    slow: str | None = None,
    fail: str | None = None,
    factor: float = SLOWDOWN,
    base_s: float = BASE_SLEEP_S,
    reports: bool = True,
) -> Path:
    """Run this plugin's matrix into `out_dir` and write its reports; the results.json path.

    `slow` names the component to slow down (`factor` × its sleep), `fail` the one whose cells
    raise; `base_s` is every sleep before slowing (longer: steadier ratios on a busy machine);
    `reports=False` writes results.json only.
    """
    from suite.plugins import PluginHost
    from suite.reporting import write_reports
    from suite.runner import RunConfig, run_matrix

    settings = {
        "SLEEPY_SLOW": slow,
        "SLEEPY_FAIL": fail,
        "SLEEPY_FACTOR": str(factor),
        "SLEEPY_BASE_S": str(base_s),
    }
    saved = {key: os.environ.get(key) for key in settings}
    for key, value in settings.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    host = PluginHost(builtins=(), entry_points=False)
    host.register_plugin(sys.modules[__name__], "sleepy")
    try:
        config = RunConfig(quick=True, out_dir=out_dir, device="cpu", argv=["test", str(out_dir)])
        store, folder = run_matrix(host.registry, config)
        if reports:
            write_reports(store.document(), folder)
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    return folder / "results.json"
