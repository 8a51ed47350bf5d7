"""What the ranks run for the bandwidth benchmark: timed collectives (called through `launch`).

Each job is a module-level function `job(rank, world_size, device, **kwargs) -> dict` of plain
numbers and lists, so that it crosses the process boundary as-is. Data is drawn per rank from
`seed`, so a run is reproducible and every rank holds different values.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from plugins.collectives.bandwidth import message_elements
from suite.distributed import ClassRef, call_op, rank_data

__all__ = ["bandwidth_job"]


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: str, group_barrier: Callable[[], None]) -> float:
    group_barrier()
    _synchronize(device)
    start = time.perf_counter()
    fn()
    _synchronize(device)
    return time.perf_counter() - start


def bandwidth_job(
    rank: int,
    world_size: int,
    device: str,
    *,
    component: ClassRef,
    reference: ClassRef | None,
    op: str,
    size_bytes: int,
    warmup: int,
    rounds: int,
    budget_s: float,
    seed: int,
) -> dict[str, Any]:
    """Seconds per call of `op` on a message of `size_bytes`, each call after a barrier; with a
    `reference`, both in alternating rounds (the order drawn per round, the same on every rank).
    Before timing, the results are checked to be equal on integer-valued data."""
    ours = component.load()()
    theirs = reference.load()() if reference is not None else None
    n = message_elements(op, size_bytes, world_size)
    probe = rank_data(n, seed, rank, integer=True, device=device)
    got = call_op(ours, op, probe.clone())
    if theirs is not None:
        want = call_op(theirs, op, probe.clone())
        if got.shape != want.shape or not torch.equal(got, want):
            raise AssertionError(f"{op} of {n} values differs from the reference: not timed")
    bytes_sent = getattr(ours, "bytes_sent", None)
    buffer = torch.zeros(n, device=device)  # zeros: repeated in-place sums stay finite

    def run(collective: Any) -> Callable[[], Any]:
        return lambda: call_op(collective, op, buffer)

    def barrier() -> None:
        dist.barrier()

    fns = [run(ours)] + ([run(theirs)] if theirs is not None else [])
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    order = random.Random(seed)
    deadline = time.perf_counter() + budget_s
    flag = torch.zeros(1, device=device)
    while True:
        sequence = list(range(len(fns)))
        if order.random() < 0.5:
            sequence.reverse()
        for index in sequence:
            times[index].append(_timed(fns[index], device, barrier))
        done = len(times[0])
        flag.fill_(float(done >= rounds or (done >= 3 and time.perf_counter() > deadline)))
        dist.broadcast(flag, src=0)  # rank 0's clock decides, so every rank runs the same rounds
        if flag.item():
            break
    return {
        "rank": rank,
        "elements": n,
        "seconds": times[0],
        "reference_seconds": times[1] if theirs is not None else [],
        "bytes_sent": bytes_sent,
    }
