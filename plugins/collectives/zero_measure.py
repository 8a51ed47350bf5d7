"""Per-rank bytes of model state under real sharding, to check the ZeRO calculator against.

One Adam step of a small MLP over N gloo (or NCCL) processes, sharded the way PyTorch does
each ZeRO stage: stage 0 `DistributedDataParallel` (nothing sharded); stage 1 DDP with
`ZeroRedundancyOptimizer` (optimiser state sharded); stage 2 FSDP `SHARD_GRAD_OP` (gradients
and optimiser state sharded, parameters gathered from the forward until the backward ends);
stage 3 FSDP2 `fully_shard` (everything sharded, parameters gathered per layer and freed).
Each rank sums the bytes of its parameters (their largest size during the step: after the
forward, and at rest after the step), of its gradients after the backward, and of its
optimiser's state tensors after the step (Adam's moments; the step counters are scalars).
The calculator's fp32 Adam bytes (4 + 4 + 8 per parameter) are the matching figure.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["MEASURED_BY", "small_mlp", "zero_memory_job"]

#: How each stage is sharded in the measurement.
MEASURED_BY: dict[int, str] = {
    0: "DistributedDataParallel + Adam",
    1: "DistributedDataParallel + ZeroRedundancyOptimizer(Adam)",
    2: "FSDP ShardingStrategy.SHARD_GRAD_OP + Adam",
    3: "FSDP2 fully_shard + Adam",
}


def small_mlp(width: int = 64, layers: int = 4, seed: int = 0) -> nn.Sequential:
    """`layers` equal Linear(width, width) layers: equal tensors shard evenly at every stage."""
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])


def _local_bytes(tensor: Tensor) -> int:
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor  # DTensor shard
    return local.numel() * local.element_size()


def _wrap(model: nn.Module, stage: int, device: str) -> tuple[nn.Module, Any, Any]:
    """(the wrapped model, its optimiser, the dict of optimiser state to count)."""
    if stage in (0, 1):
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model)
        if stage == 0:
            optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-3)
            return wrapped, optimizer, optimizer.state
        from torch.distributed.optim import ZeroRedundancyOptimizer

        zero = ZeroRedundancyOptimizer(
            wrapped.parameters(), optimizer_class=torch.optim.Adam, lr=1e-3
        )
        return wrapped, zero, zero.optim.state  # this rank's partition only
    if stage == 2:
        from torch.distributed.fsdp import FullyShardedDataParallel, ShardingStrategy

        wrapped = FullyShardedDataParallel(
            model,
            sharding_strategy=ShardingStrategy.SHARD_GRAD_OP,
            use_orig_params=True,
            device_id=torch.device(device),
        )
    else:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(torch.device(device).type, (dist.get_world_size(),))
        for layer in model:
            fully_shard(layer, mesh=mesh)
        wrapped = fully_shard(model, mesh=mesh)
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-3)
    return wrapped, optimizer, optimizer.state


def zero_memory_job(
    rank: int, world_size: int, device: str, *, stage: int, width: int, layers: int, seed: int
) -> dict[str, Any]:
    """This rank's bytes of parameters, gradients and optimiser state over one Adam step."""
    model = small_mlp(width, layers, seed).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    try:
        wrapped, optimizer, state = _wrap(model, stage, device)
    except (ImportError, NotImplementedError, RuntimeError) as exc:  # not on this backend/build
        reason = str(exc).splitlines()[0] if str(exc) else ""
        return {
            "rank": rank,
            "unsupported": f"{MEASURED_BY[stage]}: {type(exc).__name__}: {reason}",
        }
    x = torch.randn(8, width, generator=torch.Generator().manual_seed(seed + rank)).to(device)
    out = wrapped(x)
    params_in_step = sum(_local_bytes(p) for p in wrapped.parameters())
    out.square().mean().backward()
    grads = sum(_local_bytes(p.grad) for p in wrapped.parameters() if p.grad is not None)
    optimizer.step()
    params_at_rest = sum(_local_bytes(p) for p in wrapped.parameters())
    moments = sum(
        _local_bytes(value)
        for per_param in state.values()
        for value in per_param.values()
        if isinstance(value, Tensor) and value.dim() > 0  # Adam's step counter is a scalar
    )
    return {
        "rank": rank,
        "n_params": n_params,
        "params": max(params_in_step, params_at_rest),
        "grads": grads,
        "optimizer": moments,
    }
