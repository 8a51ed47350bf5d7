"""The collective benchmarks' cells, as the runner calls them, and the kit on broken rings."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
import torch.distributed as dist
from torch import Tensor

import suite
from plugins.collectives.benchmarks import (
    CollectiveAgreement,
    CollectiveBandwidth,
    CollectiveZeroMemory,
)
from plugins.collectives.reference import TorchCollectives
from plugins.collectives.ring import RingAllReduce
from suite.benchmark import RunContext
from suite.errors import SkipCell
from suite.testing import check_component


def _ctx(reference: type | None) -> RunContext:
    return RunContext(reference=reference, repeats=3, warmup=1, budget_s=0.5)


def test_bandwidth_cell_reports_algbw_busbw_and_the_paired_ratio() -> None:
    params = {"op": "all-reduce", "size_bytes": 1 << 16, "world_size": 2}
    measured = CollectiveBandwidth().run(RingAllReduce, params, _ctx(TorchCollectives))
    metrics, timing = measured.metrics, measured.timing
    assert timing is not None and timing.repeats >= 3
    seconds = timing.median_ms / 1e3
    assert metrics["algbw_gb_per_s"] == pytest.approx((1 << 16) / seconds / 1e9)
    assert metrics["busbw_gb_per_s"] == pytest.approx(metrics["algbw_gb_per_s"] * 2 * 1 / 2)
    assert metrics["paired_ratio"] > 0 and metrics["reference_busbw_gb_per_s"] > 0
    assert metrics["sent_over_input"] == pytest.approx(1.0)  # 2(N-1)/N = 1 at N = 2


def test_bandwidth_skips_an_op_the_component_does_not_declare() -> None:
    params = {"op": "broadcast", "size_bytes": 1024, "world_size": 2}
    with pytest.raises(SkipCell, match="does not implement broadcast"):
        CollectiveBandwidth().run(AllReduceOnly, params, _ctx(TorchCollectives))


@pytest.mark.slow
def test_agreement_cell_on_three_ranks() -> None:
    metrics = CollectiveAgreement().run(RingAllReduce, {"world_size": 3}, _ctx(TorchCollectives))
    assert metrics.metrics["integer_exact_fraction"] == 1.0
    assert metrics.metrics["float_within_bound_fraction"] == 1.0
    assert metrics.metrics["allreduce_sent_over_size"] == pytest.approx(4 / 3, rel=1e-3)


@pytest.mark.slow
def test_zero_memory_cell_agrees_with_the_calculator() -> None:
    measured = CollectiveZeroMemory().run(
        TorchCollectives, {"stage": 3, "world_size": 2}, _ctx(None)
    )
    assert measured.metrics["relative_error"] <= 0.10


class RingWithoutRemainder(RingAllReduce):
    """Broken: splits into N equal chunks and forgets the remainder of a length not divisible by N."""

    name: ClassVar[str] = "broken-ring-remainder"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce",)

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        world = dist.get_world_size()
        usable = tensor.numel() - tensor.numel() % world
        super().run_all_reduce(tensor.view(-1)[:usable], group)


class RingThatAverages(RingAllReduce):
    """Broken: divides by N (a mean, as gradient averaging does) instead of summing."""

    name: ClassVar[str] = "broken-ring-mean"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce",)

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        super().run_all_reduce(tensor, group)
        tensor.div_(dist.get_world_size())


class DeclaresBroadcast(suite.Collective):
    """Broken: declares broadcast but implements only all-reduce."""

    name: ClassVar[str] = "broken-declares-broadcast"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce", "broadcast")

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        RingAllReduce().run_all_reduce(tensor, group)


class AllReduceOnly(RingAllReduce):
    """Correct, and declares all-reduce only."""

    name: ClassVar[str] = "ring-all-reduce-only"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce",)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "property_id", "words"),
    [
        (RingWithoutRemainder, "collective.agreement", "differs from torch.distributed"),
        (RingThatAverages, "collective.agreement", "sums of small integers are exact"),
        (DeclaresBroadcast, "collective.declared-ops", "does not implement"),
    ],
)
def test_the_kit_catches_broken_collectives(cls: type, property_id: str, words: str) -> None:
    report = check_component(cls, only=[property_id], timing=False)
    result = report.result(property_id)
    assert result.status == "failed" and words in result.message, result.message


def test_builtins_are_registered() -> None:
    assert {c.name for c in suite.components("collective")} >= {
        "ring-allreduce",
        "torch-collectives",
    }
    assert torch.distributed.is_available()
