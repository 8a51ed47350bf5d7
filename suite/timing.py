"""Honest timing and peak memory.

What is measured
----------------
* `time_function(fn)` runs `fn` a few times to warm up (allocator, caches, lazy compilation),
  then times `repeats` calls one by one and reports the **median** and the **interquartile
  range** in milliseconds. The median ignores the odd slow call (a GC pause, another process);
  the IQR says how much to trust it. Repeats stop early once `budget_s` is spent, never below 3.
* On CPU each call is timed with `time.perf_counter` around the call.
* On CUDA, kernels run asynchronously, so a host clock measures only the launch. Each call is
  bracketed by CUDA events recorded on the stream, the device is synchronised once at the end,
  and the elapsed times are read from the events. Before each call a 256 MB buffer is zeroed to
  flush the L2 cache, as `triton.testing.do_bench` does, so a kernel never looks fast only
  because the previous repeat left its inputs in cache.
* `measure_peak_memory(fn)` runs `fn` once: on CUDA, `torch.cuda.max_memory_allocated` after a
  reset of the peak statistics, minus what was allocated before. On CPU, torch keeps no such
  counter, so the call runs under the PyTorch profiler with memory profiling, and the peak of
  the allocation timeline it records (every tensor the region allocated and had not yet freed,
  summed at each moment) is the answer: the same quantity as on CUDA. Should the profiler's
  memory timeline be unavailable (it is a private part of torch), the fallback is the growth of
  the process's peak resident set (`VmHWM`, reset through `/proc/self/clear_refs` on Linux),
  approximate and `None` when the region was served from memory the process already held.

Noise, pairing and adaptive repeats
-----------------------------------
* Every `Timing` keeps its raw samples and says whether they can be trusted (`suite.noise`):
  an IQR above a quarter of the median marks it `unstable`, with the reason.
* With `max_repeats` above `repeats`, an unstable timing gets more repeats, while the budget
  lasts, before it is reported (a burst of load passes; a steady one stays visible).
* `time_paired(fn_a, fn_b)` times a component and its reference in alternating rounds within
  one cell, the order of the two drawn at random each round, so that both meet the same load;
  the ratio is the median of the per-round ratios time(a) / time(b), with a bootstrap 95%
  interval over rounds. Two cells timed seconds apart meet different loads; a pair does not.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from suite.noise import bootstrap_median_interval, compact_samples, interval_problem, spread_problem

__all__ = [
    "PairedTiming",
    "Timing",
    "measure_peak_memory",
    "synchronize",
    "time_function",
    "time_paired",
]

_L2_FLUSH_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of `repeats` timed calls, in milliseconds, the samples,
    and why they cannot be trusted (`unstable_reason`, None when they can)."""

    median_ms: float
    iqr_ms: float
    repeats: int
    samples_ms: tuple[float, ...] = ()
    unstable_reason: str | None = None
    #: Per-round time ÷ reference time when timed in pairs (`time_paired`), what compare judges.
    ratio_samples: tuple[float, ...] = ()

    @property
    def unstable(self) -> bool:
        return self.unstable_reason is not None

    def to_dict(self) -> dict[str, Any]:
        """The row's `timing`: median, IQR, repeats, the samples rounded (and the per-round
        ratios of a paired timing), the unstable flag."""
        out: dict[str, Any] = {
            "median_ms": self.median_ms,
            "iqr_ms": self.iqr_ms,
            "repeats": self.repeats,
        }
        if self.samples_ms:
            out["samples_ms"] = compact_samples(self.samples_ms)
        finite_ratios = [ratio for ratio in self.ratio_samples if math.isfinite(ratio)]
        if finite_ratios:
            out["ratio_samples"] = compact_samples(finite_ratios)
        if self.unstable_reason is not None:
            out["unstable"] = True
            out["unstable_reason"] = self.unstable_reason
        return out

    @classmethod
    def from_samples(cls, samples_ms: list[float]) -> Timing:
        if not samples_ms:
            raise ValueError("no timing samples")
        if len(samples_ms) >= 2:
            q1, _, q3 = statistics.quantiles(samples_ms, n=4, method="inclusive")
        else:
            q1 = q3 = samples_ms[0]
        return cls(
            median_ms=statistics.median(samples_ms),
            iqr_ms=q3 - q1,
            repeats=len(samples_ms),
            samples_ms=tuple(samples_ms),
            unstable_reason=spread_problem(samples_ms),
        )


@dataclass(frozen=True)
class PairedTiming:
    """A component (`a`) and its reference (`b`) timed in alternating rounds of one cell.

    `ratio` is the median over rounds of time(a) / time(b); `ci_low`, `ci_high` its bootstrap
    95% interval over rounds. `timing` is a's timing, marked unstable when a's samples spread
    or the ratio's interval is wide.
    """

    a: Timing
    b: Timing
    ratio: float
    ci_low: float
    ci_high: float
    rounds: int

    @property
    def unstable_reason(self) -> str | None:
        return self.a.unstable_reason or interval_problem(
            self.ratio, self.ci_low, self.ci_high, self.rounds
        )

    @property
    def timing(self) -> Timing:
        """a's timing, with the per-round ratios (kept as `timing.ratio_samples`)."""
        ratios = tuple(
            a / b if b > 0 else math.inf for a, b in zip(self.a.samples_ms, self.b.samples_ms)
        )
        return replace(self.a, unstable_reason=self.unstable_reason, ratio_samples=ratios)

    def metrics(self) -> dict[str, float]:
        """`paired_ratio` and its interval, as a results row's metrics."""
        return {
            "paired_ratio": self.ratio,
            "paired_ratio_ci_low": self.ci_low,
            "paired_ratio_ci_high": self.ci_high,
        }


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - no MPS in CI
        torch.mps.synchronize()


def time_function(
    fn: Callable[[], Any],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    repeats: int = 7,
    budget_s: float = 2.0,
    min_repeats: int = 3,
    max_repeats: int | None = None,
) -> Timing:
    """Warm up, then time `fn()` `repeats` times on `device`; see the module docstring.

    While the samples are unstable, up to `max_repeats` (default `repeats`: no more) are taken
    within the same `budget_s`.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    device = torch.device(device)
    deadline = time.perf_counter() + budget_s
    for _ in range(max(warmup, 0)):
        fn()
    synchronize(device)
    collect = _time_cuda if device.type == "cuda" else _time_host
    samples = collect(fn, device, repeats, budget_s, min_repeats)
    limit = max(max_repeats or repeats, repeats)
    while (
        len(samples) < limit
        and spread_problem(samples) is not None
        and time.perf_counter() < deadline
    ):
        more = min(repeats, limit - len(samples))
        samples += collect(fn, device, more, deadline - time.perf_counter(), 1)
    return Timing.from_samples(samples)


def time_paired(
    fn_a: Callable[[], Any],
    fn_b: Callable[[], Any],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    rounds: int = 7,
    budget_s: float = 2.0,
    min_rounds: int = 3,
    max_rounds: int | None = None,
    seed: int = 0,
) -> PairedTiming:
    """Time `fn_a` and `fn_b` in alternating rounds, the order drawn per round; see the module
    docstring. More rounds (up to `max_rounds`) while the result is unstable and budget is left."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    device = torch.device(device)
    deadline = time.perf_counter() + budget_s
    for _ in range(max(warmup, 0)):
        fn_a()
        fn_b()
    synchronize(device)
    clock = _OneCall(device)
    order = random.Random(seed)
    times_a: list[float] = []
    times_b: list[float] = []
    limit = max(max_rounds or rounds, rounds)

    def result() -> PairedTiming:
        ratios = [a / b if b > 0 else math.inf for a, b in zip(times_a, times_b)]
        finite = [r for r in ratios if math.isfinite(r)] or [math.inf]
        low, high = bootstrap_median_interval(finite, seed=seed)
        return PairedTiming(
            a=Timing.from_samples(times_a),
            b=Timing.from_samples(times_b),
            ratio=statistics.median(finite),
            ci_low=low,
            ci_high=high,
            rounds=len(times_a),
        )

    while True:
        first_a = order.random() < 0.5
        for is_a in (first_a, not first_a):
            (times_a if is_a else times_b).append(clock(fn_a if is_a else fn_b))
        done = len(times_a)
        if done < min_rounds:
            continue
        if done >= limit or time.perf_counter() > deadline:
            return result()
        if done >= rounds:
            paired = result()
            if paired.unstable_reason is None:
                return paired


class _OneCall:
    """Times one call in ms: host clock around a synchronised call, or CUDA events after an L2 flush."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.flush = (
            torch.empty(_L2_FLUSH_BYTES, dtype=torch.int8, device=device)
            if device.type == "cuda"
            else None
        )

    def __call__(self, fn: Callable[[], Any]) -> float:
        if self.flush is None:
            synchronize(self.device)
            start = time.perf_counter()
            fn()
            synchronize(self.device)
            return (time.perf_counter() - start) * 1e3
        self.flush.zero_()
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        synchronize(self.device)
        return float(begin.elapsed_time(end))


def _time_host(
    fn: Callable[[], Any], device: torch.device, repeats: int, budget_s: float, min_repeats: int
) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
        if i + 1 >= min_repeats and time.perf_counter() > deadline:
            break
    return samples


def _time_cuda(
    fn: Callable[[], Any],
    device: torch.device,
    repeats: int,
    budget_s: float,
    min_repeats: int,
    *,
    event_factory: Callable[[], Any] | None = None,
    flush_buffer: torch.Tensor | None = None,
) -> list[float]:
    """CUDA-event timing; `event_factory` and `flush_buffer` let the tests drive it on a CPU."""
    make_event = event_factory or (lambda: torch.cuda.Event(enable_timing=True))
    flush = (
        flush_buffer
        if flush_buffer is not None
        else torch.empty(_L2_FLUSH_BYTES, dtype=torch.int8, device=device)
    )
    events = []
    deadline = time.perf_counter() + budget_s
    for i in range(repeats):
        flush.zero_()  # evict the previous repeat's inputs from L2
        start, end = make_event(), make_event()
        start.record()
        fn()
        end.record()
        events.append((start, end))
        if i + 1 >= min_repeats and time.perf_counter() > deadline:
            break
    synchronize(device)
    return [start.elapsed_time(end) for start, end in events]


def measure_peak_memory(fn: Callable[[], Any], *, device: torch.device | str = "cpu") -> int | None:
    """Peak bytes allocated while `fn()` runs once, beyond what was allocated before."""
    device = torch.device(device)
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return max(int(torch.cuda.max_memory_allocated(device) - before), 0)
    profiled = _profiled_peak_bytes(fn)
    if profiled is not None:
        return profiled
    if not _reset_peak_rss():
        fn()
        return None
    rss_before = _read_status_kib("VmRSS")
    fn()
    rss_peak = _read_status_kib("VmHWM")
    if rss_before is None or rss_peak is None or rss_peak <= rss_before:
        return None  # served from memory the process already held: the RSS cannot tell
    return (rss_peak - rss_before) * 1024


def _profiled_peak_bytes(fn: Callable[[], Any]) -> int | None:
    """Peak of the live CPU bytes allocated while `fn()` runs, from the allocations and frees the
    profiler records (`profile_memory=True`), or None if unavailable.

    The running sum of allocation sizes (frees are negative) starts at 0, so memory held before
    the call does not count. Shapes and stacks are not recorded: the profiler's own memory
    timeline needs both and took seconds per call on an op-heavy component (tiled attention)."""
    try:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    with (
        _stderr_silenced(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        fn()
    try:
        allocations: list[tuple[int, int]] = []
        pending = list(prof.profiler.kineto_results.experimental_event_tree())  # type: ignore[union-attr]
        while pending:
            event = pending.pop()
            pending.extend(event.children)
            kind, fields = event.typed
            if kind == _EventType.Allocation and fields.device.type == "cpu":
                allocations.append((event.start_time_ns, int(fields.alloc_size)))
    except Exception:  # a private API: any change in torch falls back to the RSS reading
        return None
    live = peak = 0
    for _, size in sorted(allocations):
        live += size
        peak = max(peak, live)
    return peak


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Mute file descriptor 2 (the profiler's C++ side prints start/stop lines there)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _read_status_kib(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
