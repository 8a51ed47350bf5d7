"""The formulas, without processes: nccl-tests' bus bandwidth factors and the ZeRO calculator."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.collectives.bandwidth import (
    algorithm_bandwidth,
    bus_bandwidth,
    bus_factor,
    message_elements,
    size_label,
)
from plugins.collectives.zero import FP32_ADAM, MIXED_PRECISION_ADAM, ZeroMemory

worlds = st.integers(1, 1024)
params = st.integers(0, 10**12)


@given(worlds)
def test_bus_factors_are_nccl_tests(n: int) -> None:
    assert bus_factor("all-reduce", n) == pytest.approx(2 * (n - 1) / n)
    assert bus_factor("all-gather", n) == pytest.approx((n - 1) / n)
    assert bus_factor("reduce-scatter", n) == pytest.approx((n - 1) / n)
    assert bus_factor("broadcast", n) == 1.0
    # an all-reduce is a reduce-scatter followed by an all-gather: its traffic is their sum
    assert bus_factor("all-reduce", n) == pytest.approx(
        bus_factor("reduce-scatter", n) + bus_factor("all-gather", n)
    )


@given(st.integers(1, 1 << 30), st.floats(1e-6, 10.0), worlds)
def test_bus_bandwidth_is_algorithm_bandwidth_times_the_factor(
    size: int, seconds: float, n: int
) -> None:
    algbw = algorithm_bandwidth(size, seconds)
    assert algbw == pytest.approx(size / seconds / 1e9)
    assert bus_bandwidth("all-reduce", size, seconds, n) == pytest.approx(algbw * 2 * (n - 1) / n)


def test_bus_factor_rejects_unknown_ops_and_worlds() -> None:
    with pytest.raises(KeyError, match="all-to-all"):
        bus_factor("all-to-all", 2)
    with pytest.raises(ValueError, match="world_size"):
        bus_factor("all-reduce", 0)


@given(st.sampled_from(["all-reduce", "all-gather", "reduce-scatter", "broadcast"]), worlds)
def test_message_elements_follow_the_buffer_nccl_tests_names(op: str, n: int) -> None:
    size = 64 << 20
    elements = message_elements(op, size, n)
    if op == "all-gather":  # S is the gathered output: each rank brings S/N
        assert elements == max(1, size // 4 // n)
    elif op == "reduce-scatter":  # S is the input: divisible by N
        assert elements % n == 0 and size // 4 - n < elements <= max(n, size // 4)
    else:
        assert elements == size // 4


def test_size_labels() -> None:
    assert [size_label(s) for s in (1024, 1 << 20, 64 << 20, 1000)] == [
        "1 KiB",
        "1 MiB",
        "64 MiB",
        "1000 B",
    ]


@given(params, worlds)
def test_zero_stages_match_the_paper_for_mixed_precision_adam(psi: int, n: int) -> None:
    zero = ZeroMemory(psi, n, MIXED_PRECISION_ADAM)
    assert zero.per_rank(0) == pytest.approx(16 * psi)
    assert zero.per_rank(1) == pytest.approx(4 * psi + 12 * psi / n)
    assert zero.per_rank(2) == pytest.approx(2 * psi + 14 * psi / n)
    assert zero.per_rank(3) == pytest.approx(16 * psi / n)
    totals = [zero.per_rank(stage) for stage in range(4)]
    assert all(a >= b for a, b in itertools.pairwise(totals))  # each stage shards one more


@given(params, worlds)
def test_zero_parts_for_fp32_adam(psi: int, n: int) -> None:
    parts = [ZeroMemory(psi, n, FP32_ADAM).parts(stage) for stage in range(4)]
    assert parts[0] == pytest.approx({"params": 4 * psi, "grads": 4 * psi, "optimizer": 8 * psi})
    assert parts[1]["optimizer"] == pytest.approx(8 * psi / n)
    assert parts[2]["grads"] == pytest.approx(4 * psi / n)
    assert parts[2]["params"] == pytest.approx(4 * psi)
    assert parts[3]["params"] == pytest.approx(4 * psi / n)


@given(params)
def test_one_rank_shards_nothing(psi: int) -> None:
    zero = ZeroMemory(psi, 1)
    assert len({zero.per_rank(stage) for stage in range(4)}) == 1


def test_zero_rejects_bad_stages_and_sizes() -> None:
    with pytest.raises(ValueError, match="stage"):
        ZeroMemory(10, 2).parts(4)
    with pytest.raises(ValueError, match="world_size"):
        ZeroMemory(10, 0)
    assert math.isclose(ZeroMemory(10, 2).per_rank(3), 80.0)
