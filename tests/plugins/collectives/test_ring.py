"""The from-scratch ring on real processes: bitwise equal to torch.distributed, and its traffic.

Each hypothesis example starts one process group and checks a whole batch of lengths in it
(starting processes is the slow part), including lengths below and not divisible by N.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.distributed as dist
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plugins.collectives.reference import TorchCollectives
from plugins.collectives.ring import RingAllReduce
from suite.distributed import ClassRef, launch
from suite.testing.properties.collective import agreement_job

lengths = st.lists(st.integers(1, 5000), min_size=3, max_size=8, unique=True)
RING_OPS = ["all-reduce", "all-gather", "reduce-scatter", "broadcast"]


def _agreement(world: int, sizes: list[int], seed: int, reference: Any = None) -> list[dict]:
    results = launch(
        agreement_job,
        world_size=world,
        timeout_s=120,
        component=ClassRef.of(RingAllReduce),
        reference=reference,
        ops=RING_OPS,
        lengths=sizes,
        seed=seed,
    )
    return [dict(row, rank=r["rank"]) for r in results for row in r["rows"]]


def _check(rows: list[dict], world: int) -> None:
    for row in rows:
        assert row["shape"] == row["expected_shape"], row
        if row["integer"] or world == 2:  # two ranks: one addition, a + b = b + a exactly
            assert row["exact"], row
        assert row["within_bound"], row


@settings(max_examples=2, deadline=None)
@given(lengths, st.integers(0, 1000))
@example([1, 2, 3, 1001], 0)
def test_ring_equals_torch_distributed_bitwise_on_two_ranks(sizes: list[int], seed: int) -> None:
    _check(_agreement(2, sizes, seed), 2)


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(lengths, st.integers(0, 1000), st.sampled_from([3, 4]))
@example([1, 2, 4, 1001], 0, 3)
def test_ring_equals_torch_distributed_on_three_and_four_ranks(
    sizes: list[int], seed: int, world: int
) -> None:
    rows = _agreement(world, sizes, seed, reference=ClassRef.of(TorchCollectives))
    _check(rows, world)


def traffic_job(rank: int, world_size: int, device: str, *, n: int) -> dict[str, Any]:
    ring = RingAllReduce()
    ring.all_reduce(torch.ones(n))
    all_reduce_bytes = ring.bytes_sent
    ring.reduce_scatter(torch.ones(n))
    reduce_scatter_bytes = ring.bytes_sent
    ring.broadcast(torch.ones(n), src=0)
    return {
        "all_reduce": all_reduce_bytes,
        "reduce_scatter": reduce_scatter_bytes,
        "broadcast": ring.bytes_sent,
        "last": rank == world_size - 1,
    }


@pytest.mark.parametrize("world", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_each_rank_sends_2_n_minus_1_over_n_of_the_message(world: int) -> None:
    n = 6000  # divisible by 2 and 3: every chunk the same size
    for result in launch(traffic_job, world_size=world, timeout_s=120, n=n):
        assert result["all_reduce"] == 2 * (world - 1) * (n // world) * 4
        assert result["reduce_scatter"] == (world - 1) * (n // world) * 4
        assert result["broadcast"] == (0 if result["last"] else n * 4)  # the ring's end keeps it


def refused_job(rank: int, world_size: int, device: str) -> dict[str, Any]:
    messages = []
    for call in (
        lambda: RingAllReduce().broadcast(torch.ones(4), src=5),
        lambda: RingAllReduce().reduce_scatter(torch.ones(5)),
        lambda: RingAllReduce().all_gather(torch.ones(2, 2)),
        lambda: RingAllReduce().all_reduce(torch.ones(4, 4).t()),
    ):
        try:
            call()
        except ValueError as exc:
            messages.append(str(exc))
    dist.barrier()
    return {"messages": messages}


def test_calls_outside_the_contract_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"initialised torch\.distributed process group"):
        RingAllReduce().all_reduce(torch.ones(3))
    messages = launch(refused_job, world_size=2, timeout_s=60)[0]["messages"]
    assert len(messages) == 4
    assert "src must be a rank in range(2), got 5" in messages[0]
    assert "divisible by the 2 ranks, got 5" in messages[1]
    assert "1-D tensor" in messages[2]
    assert "contiguous" in messages[3]
