"""The measurements behind the distributed topics, run on every rank through `suite.distributed`.

* `parallelism_job`: one two-layer MLP split three ways over the ranks (data, tensor, pipeline
  parallel), each compared with the single-process MLP, with the parameters each rank holds and
  the bytes it sends (counted by the from-scratch ring, or the size of a point-to-point send).
* `ring_volume_job`: the ring's bytes per rank on sub-groups of 2 … N ranks of one group, its
  agreement with `dist.all_reduce`, and both timed in alternating rounds.
* `zero_stages_job`: the bytes per rank at ZeRO stages 0–3 in one group, one stage after another.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from plugins.collectives.ring import RingAllReduce
from plugins.collectives.zero_measure import zero_memory_job

__all__ = ["parallelism_job", "ring_volume_job", "zero_stages_job"]


def _mlp(d_model: int, d_hidden: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model))


def _param_bytes(tensors: list[Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def parallelism_job(
    rank: int, world_size: int, device: str, *, d_model: int, d_hidden: int, batch: int, seed: int
) -> dict[str, Any]:
    """Data, tensor and pipeline parallelism of one MLP, each against the single-process MLP."""
    full = _mlp(d_model, d_hidden, seed)
    first, last = full[0], full[2]
    x = torch.randn(batch, d_model, generator=torch.Generator().manual_seed(seed + 1))
    reference = full(x)
    ring = RingAllReduce()
    out: dict[str, Any] = {"rank": rank, "full_param_bytes": _param_bytes(list(full.parameters()))}

    # data parallel: a replica per rank, half the batch each, gradients averaged by all-reduce
    full.zero_grad()
    reference.square().mean().backward()
    want = torch.cat([p.grad.flatten() for p in full.parameters()])  # type: ignore[union-attr]
    replica = _mlp(d_model, d_hidden, seed)
    mine = x.chunk(world_size)[rank]
    (replica(mine).square().sum() / reference.numel()).backward()  # this rank's share of the mean
    grads = torch.cat([p.grad.flatten() for p in replica.parameters()])  # type: ignore[union-attr]
    ring.all_reduce(grads)
    out["data"] = {
        "max_abs_diff": float((grads - want).abs().max()),
        "param_bytes": _param_bytes(list(replica.parameters())),
        "sent_bytes": ring.bytes_sent,
        "what": "gradients, all-reduce",
    }

    # tensor parallel (Megatron MLP): first layer split by output rows, second by input columns;
    # the GELU acts on each rank's own hidden units, one all-reduce sums the partial outputs
    with torch.no_grad():
        w1, b1 = first.weight.chunk(world_size)[rank], first.bias.chunk(world_size)[rank]
        w2 = last.weight.chunk(world_size, dim=1)[rank]
        partial = nn.functional.gelu(x @ w1.T + b1) @ w2.T  # (B, d_model)
        ring.all_reduce(partial)
        y = partial + last.bias
    out["tensor"] = {
        "max_abs_diff": float((y - reference.detach()).abs().max()),
        "param_bytes": _param_bytes([w1, b1, w2]) + (_param_bytes([last.bias]) if rank == 0 else 0),
        "sent_bytes": ring.bytes_sent,
        "what": "activations, all-reduce",
    }

    # pipeline parallel: rank 0 holds the first layer, the last rank the second; the hidden
    # activations travel once, point to point (the ranks between would hold more layers)
    hidden_bytes = 0
    with torch.no_grad():
        if rank == 0:
            h = nn.functional.gelu(first(x))
            dist.send(h, dst=world_size - 1)
            hidden_bytes = h.numel() * h.element_size()
            held = list(first.parameters())
        elif rank == world_size - 1:
            h = torch.empty(batch, d_hidden)
            dist.recv(h, src=0)
            held = list(last.parameters())
        else:
            held = []
        y = last(h) if rank == world_size - 1 else None
        result = torch.zeros_like(reference) if y is None else y
        dist.broadcast(result, src=world_size - 1)
    out["pipeline"] = {
        "max_abs_diff": float((result - reference.detach()).abs().max()),
        "param_bytes": _param_bytes(held),
        "sent_bytes": hidden_bytes,
        "what": "activations, point to point",
    }
    return out


def ring_volume_job(
    rank: int,
    world_size: int,
    device: str,
    *,
    elements: int,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """On sub-groups of the first 2 … N ranks: the ring's bytes sent per rank for `elements`
    float32 values, bitwise agreement with `dist.all_reduce` on integer-valued data, and the
    seconds of both per call (barrier before each, alternating order)."""
    out: dict[str, Any] = {"rank": rank, "groups": []}
    for size in range(2, world_size + 1):
        group = dist.new_group(list(range(size)))  # every rank must take part in creating it
        if rank >= size:
            continue
        g = torch.Generator().manual_seed(seed * 1_000 + rank)
        data = torch.randint(-1000, 1000, (elements,), generator=g).float()
        ring = RingAllReduce()
        ours, theirs = ring.all_reduce(data.clone(), group), data.clone()
        dist.all_reduce(theirs, group=group)
        sent = ring.bytes_sent
        data.zero_()  # timed on zeros: repeated in-place sums stay finite
        times = _time_pair(ring, data, group, rounds, seed)
        out["groups"].append(
            {
                "world": size,
                "sent_bytes": sent,
                "message_bytes": elements * 4,
                "exact": bool(torch.equal(ours, theirs)),
                "ring_s": times["ring"],
                "torch_s": times["torch"],
                "ratio": statistics.median(a / b for a, b in zip(times["ring"], times["torch"])),
            }
        )
    return out


def _time_pair(
    ring: RingAllReduce, data: Tensor, group: Any, rounds: int, seed: int
) -> dict[str, list[float]]:
    """Seconds per call of the ring and of `dist.all_reduce`, in alternating rounds."""
    calls = {
        "ring": lambda: ring.all_reduce(data, group),
        "torch": lambda: dist.all_reduce(data, group=group),
    }
    times: dict[str, list[float]] = {"ring": [], "torch": []}
    order = random.Random(seed)
    for _ in range(rounds):
        names = ["ring", "torch"] if order.random() < 0.5 else ["torch", "ring"]
        for name in names:
            dist.barrier(group=group)
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def zero_stages_job(
    rank: int, world_size: int, device: str, *, width: int, layers: int, seed: int
) -> dict[str, Any]:
    """`zero_memory_job` for stages 0 to 3, one after another in this process group."""
    return {
        "rank": rank,
        "stages": [
            zero_memory_job(
                rank, world_size, device, stage=stage, width=width, layers=layers, seed=seed
            )
            for stage in range(4)
        ],
    }
