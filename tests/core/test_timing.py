"""Timing: warm-up, repeats, median and IQR; peak memory on CPU."""

from __future__ import annotations

import pytest
import torch

from suite.timing import Timing, measure_peak_memory, time_function


def test_median_and_iqr_from_samples() -> None:
    timing = Timing.from_samples([1.0, 2.0, 3.0, 4.0, 100.0])
    assert timing.median_ms == 3.0
    assert timing.iqr_ms == pytest.approx(2.0)
    assert timing.repeats == 5
    assert Timing.from_samples([5.0]).iqr_ms == 0.0


def test_warmup_and_repeats_are_counted() -> None:
    calls = []
    timing = time_function(lambda: calls.append(1), warmup=3, repeats=5)
    assert len(calls) == 8
    assert timing.repeats == 5
    assert timing.median_ms >= 0


def test_budget_stops_early_but_keeps_minimum_repeats() -> None:
    import time

    timing = time_function(lambda: time.sleep(0.02), warmup=0, repeats=50, budget_s=0.01)
    assert timing.repeats == 3
    assert 15 <= timing.median_ms <= 200


def test_repeats_must_be_positive() -> None:
    with pytest.raises(ValueError, match="repeats"):
        time_function(lambda: None, repeats=0)


def test_cpu_peak_memory_sees_a_large_allocation() -> None:
    size = 64 * 1024 * 1024

    def allocate() -> None:
        buffer = torch.ones(size // 4, dtype=torch.float32)  # touched pages count in RSS
        assert buffer.sum() > 0

    peak = measure_peak_memory(allocate)
    if peak is None:
        pytest.skip("this platform cannot report peak RSS")
    assert peak >= size * 0.9


class _HostEvent:
    """Stands in for torch.cuda.Event on a CPU: records perf_counter; elapsed_time in ms."""

    def record(self) -> None:
        import time

        self.at = time.perf_counter()

    def elapsed_time(self, end: _HostEvent) -> float:
        return (end.at - self.at) * 1e3


def test_cuda_event_path_runs_on_cpu_with_host_events() -> None:
    import time

    from suite.timing import _time_cuda

    flush = torch.ones(1024, dtype=torch.int8)
    samples = _time_cuda(
        lambda: time.sleep(0.005),
        torch.device("cpu"),
        4,
        10.0,
        3,
        event_factory=_HostEvent,
        flush_buffer=flush,
    )
    assert len(samples) == 4
    assert all(4.0 <= s <= 200.0 for s in samples)
    assert int(flush.sum()) == 0  # the L2 flush buffer was written before each repeat


def test_cpu_peak_memory_counts_tensors_alive_together() -> None:
    n = 4 * 1024 * 1024  # 16 MiB of float32

    def two_alive_at_once() -> None:
        a = torch.ones(n)
        b = a * 2  # a and b alive together: 32 MiB
        del a
        c = b + 1  # b and c: 32 MiB again, never 48
        assert c.sum() > 0

    peak = measure_peak_memory(two_alive_at_once)
    assert peak is not None
    assert 32 * 2**20 <= peak < 40 * 2**20
