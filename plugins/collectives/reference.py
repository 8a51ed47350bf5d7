"""`torch-collectives`: the reference, `torch.distributed`'s own collectives (gloo, NCCL)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch.distributed as dist
from torch import Tensor

import suite

__all__ = ["TorchCollectives"]

# torch 2.13 names first; the older names where these are absent
_ALL_GATHER = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_REDUCE_SCATTER = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


class TorchCollectives(suite.Collective):
    """`torch.distributed`'s collectives: what a training framework calls, and the reference.

    Interview question: which collective does each parallelism use? Data parallelism (DDP)
    all-reduces gradients; ZeRO/FSDP reduce-scatters gradients and all-gathers parameters
    (an all-reduce is exactly a reduce-scatter followed by an all-gather, so sharding costs
    no extra traffic for gradients); tensor parallelism all-reduces (row-parallel) or
    all-gathers (column-parallel) activations; pipeline parallelism sends activations point to
    point. The backend picks the algorithm: NCCL rings or trees on GPUs, gloo on CPUs.

    Formula: nccl-tests' bus bandwidth = algorithm bandwidth (bytes / time) × a factor of the
    op: all-reduce 2(N−1)/N, all-gather and reduce-scatter (N−1)/N, broadcast 1.
    """

    name: ClassVar[str] = "torch-collectives"
    summary: ClassVar[str] = "torch.distributed all_reduce, all_gather, reduce_scatter, broadcast"
    reference: ClassVar[str | None] = None
    ops: ClassVar[tuple[str, ...]] = ("all-reduce", "all-gather", "reduce-scatter", "broadcast")

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)

    def run_all_gather(self, tensor: Tensor, group: Any) -> Tensor:
        out = tensor.new_empty(dist.get_world_size(group) * tensor.numel())
        _ALL_GATHER(out, tensor, group=group)
        return out

    def run_reduce_scatter(self, tensor: Tensor, group: Any) -> Tensor:
        out = tensor.new_empty(tensor.numel() // dist.get_world_size(group))
        _REDUCE_SCATTER(out, tensor, op=dist.ReduceOp.SUM, group=group)
        return out

    def run_broadcast(self, tensor: Tensor, src: int, group: Any) -> None:
        source = src if group is None else dist.get_global_rank(group, src)
        dist.broadcast(tensor, src=source, group=group)
