"""Properties of collectives: every declared op equals `torch.distributed`'s, across real processes.

Each example launches a process group (`suite.distributed.launch`: N local processes, gloo)
and compares the component's result with `torch.distributed`'s own collective on the same
per-rank inputs, for several lengths, some not divisible by N. "Exact" means bitwise: inputs
are small integers stored as float32, whose sums are exact in any order, so any algorithm must
give the same bits. On random floats the order of the additions matters (from three ranks:
(a + b) + c is not a + (b + c) in floating point; with two there is one addition, a + b =
b + a), so the tolerance is 2(N−1)·eps·Σ|x| per element; copies (all-gather, broadcast) must
be exact whatever the data.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributed as dist
from hypothesis import strategies as st
from torch import Tensor

from suite.distributed import ClassRef, LaunchError, call_op, launch, rank_data
from suite.kinds import COLLECTIVE_OPS, Collective
from suite.testing.properties._base import Example, Property, Subject, fail, register_property

__all__ = ["TorchDistributedOracle", "agreement_job"]

_HOOKS = {
    "all-reduce": "run_all_reduce",
    "all-gather": "run_all_gather",
    "reduce-scatter": "run_reduce_scatter",
    "broadcast": "run_broadcast",
}


class TorchDistributedOracle:
    """`torch.distributed`'s collectives behind the calls of `suite.Collective`: the oracle."""

    def all_reduce(self, tensor: Tensor) -> Tensor:
        dist.all_reduce(tensor)
        return tensor

    def all_gather(self, tensor: Tensor) -> Tensor:
        out = tensor.new_empty(dist.get_world_size() * tensor.numel())
        dist.all_gather(list(out.chunk(dist.get_world_size())), tensor)
        return out

    def reduce_scatter(self, tensor: Tensor) -> Tensor:
        summed = tensor.clone()
        dist.all_reduce(summed)
        return summed.chunk(dist.get_world_size())[dist.get_rank()].clone()

    def broadcast(self, tensor: Tensor, src: int = 0) -> Tensor:
        dist.broadcast(tensor, src=src)
        return tensor


def _input_length(op: str, n: int, world_size: int) -> int:
    return max(world_size, n - n % world_size) if op == "reduce-scatter" else n


def _error_bound(op: str, magnitude: Tensor, rank: int, world: int) -> Tensor:
    """Per element, how far two orders of adding the N ranks' values may differ: about
    2(N−1)·eps·Σ|x| (a copy, all-gather or broadcast, must be exact: zero)."""
    if op in ("all-gather", "broadcast"):
        return torch.zeros(())
    per_element = 2 * (world - 1) * torch.finfo(torch.float32).eps * magnitude
    return per_element.chunk(world)[rank] if op == "reduce-scatter" else per_element


def agreement_job(
    rank: int,
    world_size: int,
    device: str,
    *,
    component: ClassRef,
    reference: ClassRef | None = None,
    ops: list[str],
    lengths: list[int],
    seed: int,
) -> dict[str, Any]:
    """On one rank: for every op and length, the component's result against the reference's
    (default: `TorchDistributedOracle`) on the same inputs, integer-valued and random floats."""
    ours = component.load()()
    theirs = TorchDistributedOracle() if reference is None else reference.load()()
    rows = []
    for op in ops:
        for length in lengths:
            n = _input_length(op, length, world_size)
            for integer in (True, False):
                x = rank_data(n, seed, rank, integer=integer, device=device, offset=length)
                got = call_op(ours, op, x.clone()).cpu()
                want = call_op(theirs, op, x.clone()).cpu()
                magnitude = x.abs()
                dist.all_reduce(magnitude)  # Σ|x| over ranks: the scale of a float sum's error
                bound = _error_bound(op, magnitude.cpu(), rank, world_size)
                same_shape = got.shape == want.shape
                diff = (got - want).abs() if same_shape else torch.full_like(want, math.inf)
                rows.append(
                    {
                        "op": op,
                        "length": n,
                        "integer": integer,
                        "shape": list(got.shape),
                        "expected_shape": list(want.shape),
                        "exact": bool(same_shape and torch.equal(got, want)),
                        "within_bound": bool(same_shape and bool((diff <= bound).all())),
                        "max_abs_diff": float(diff.max()) if diff.numel() else 0.0,
                        "bytes_sent": getattr(ours, "bytes_sent", None),
                    }
                )
    return {"rank": rank, "rows": rows}


@st.composite
def _group_inputs(draw: Any) -> Example:
    """A world size, a few lengths (from fewer elements than ranks up to a few hundred), a seed."""
    return {
        "world_size": draw(st.sampled_from([2, 3])),
        "lengths": draw(st.lists(st.integers(1, 300), min_size=1, max_size=3, unique=True)),
        "seed": draw(st.integers(0, 2**16)),
    }


def check_declared_ops(subject: Subject, ex: Example) -> None:
    ops = tuple(getattr(subject.cls, "ops", ()))
    unknown = [op for op in ops if op not in COLLECTIVE_OPS]
    if unknown:
        fail(f"ops {unknown} are not collectives; known: {', '.join(COLLECTIVE_OPS)}")
    if "all-reduce" not in ops:
        fail(f"every collective implements all-reduce; ops are {ops}")
    missing = [
        op for op in ops if getattr(subject.cls, _HOOKS[op]) is getattr(Collective, _HOOKS[op])
    ]
    if missing:
        fail(f"declares {missing} in ops but does not implement {[_HOOKS[op] for op in missing]}")


def check_agreement(subject: Subject, ex: Example) -> None:
    world = ex["world_size"]
    try:
        results = launch(
            agreement_job,
            world_size=world,
            timeout_s=120.0,
            component=ClassRef.of(subject.cls),
            ops=list(subject.cls.ops),
            lengths=list(ex["lengths"]),
            seed=ex["seed"],
        )
    except LaunchError as exc:
        fail(f"a rank failed: {exc}")
    for result in results:
        for row in result["rows"]:
            what = (
                f"{row['op']} of {row['length']} {'integer-valued' if row['integer'] else 'random'} "
                f"values over {world} ranks (rank {result['rank']})"
            )
            if row["shape"] != row["expected_shape"]:
                fail(
                    f"{what} has shape {row['shape']}, torch.distributed's {row['expected_shape']}"
                )
            if row["integer"] and not row["exact"]:
                fail(
                    f"{what} differs from torch.distributed by up to {row['max_abs_diff']:g}; "
                    "sums of small integers are exact in any order"
                )
            if not row["within_bound"]:
                fail(
                    f"{what} differs from torch.distributed by {row['max_abs_diff']:.3g}, beyond "
                    "the rounding of another summation order (2(N−1)·eps·Σ|x|)"
                )


for _prop in (
    Property(
        "collective.declared-ops",
        "collective",
        "declares ops among all-reduce, all-gather, reduce-scatter, broadcast (all-reduce always) and implements each",
        lambda s: st.just({}),
        check_declared_ops,
    ),
    Property(
        "collective.agreement",
        "collective",
        "every declared op equals torch.distributed's over 2 or 3 processes: bitwise on integer-valued tensors, within 2(N−1)·eps·Σ|x| on random floats",
        lambda s: _group_inputs(),
        check_agreement,
        cost=0.1,  # each example starts a process group
        explicit=lambda s: [{"world_size": 3, "lengths": [1, 2, 1001], "seed": 0}],
    ),
):
    register_property(_prop)
