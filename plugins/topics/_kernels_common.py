"""Helpers shared by the kernels topics: growth exponents, peak bytes and a load-robust clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from suite.timing import measure_peak_memory


def fastest_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The fastest of a few calls: a busy machine only ever adds time, so the minimum is robust."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated while `fn()` runs (`suite.timing.measure_peak_memory`), or an error
    that says why not: these topics claim on memory, so a missing reading must not pass as 0."""
    peak = measure_peak_memory(fn)
    if peak is None:
        raise RuntimeError("this torch build cannot measure peak CPU memory (no profiler timeline)")
    return peak
