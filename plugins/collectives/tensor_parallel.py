"""Megatron-style tensor-parallel linear layers, on any collective component of the suite.

Why it exists: "how do you split one linear layer over two GPUs?" Column-parallel: each rank
holds a block of output rows of W and computes its slice of the output; an all-gather joins the
slices. Row-parallel: each rank holds a block of input columns of W and multiplies its slice of
the input; an all-reduce sums the partial outputs. Megatron pairs them (column then row in an
MLP) so that the pair needs one all-reduce forward and one backward. The communication runs
through a `suite.Collective` (the from-scratch ring or `torch.distributed`), and each layer's
forward and gradients are checked against one `nn.Linear` holding the whole weight.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

import suite

__all__ = ["ColumnParallelLinear", "RowParallelLinear", "shard_rows", "tensor_parallel_job"]


def shard_rows(weight: Tensor, rank: int, world_size: int) -> Tensor:
    """Rank `rank`'s block of the first dimension (out features of W (out, in), or a bias)."""
    if weight.shape[0] % world_size:
        raise ValueError(f"{weight.shape[0]} rows do not split over {world_size} ranks")
    return weight.chunk(world_size, dim=0)[rank].clone()


def _gather_last_dim(collective: suite.Collective, local: Tensor) -> Tensor:
    """(..., d/N) on each rank -> (..., d), the ranks' slices side by side."""
    world = dist.get_world_size()
    gathered = collective.all_gather(local.contiguous().view(-1))  # (N · B·d/N,)
    pieces = gathered.view(world, *local.shape)  # (N, ..., d/N)
    return torch.cat(list(pieces.unbind(0)), dim=-1)


class _CopyToRanks(torch.autograd.Function):
    """Megatron's f: identity forward; backward sums the input gradients of every rank."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, collective: suite.Collective) -> Tensor:
        ctx.collective = collective
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return ctx.collective.all_reduce(grad.contiguous().clone()), None


class _ReduceFromRanks(torch.autograd.Function):
    """Megatron's g: all-reduce forward (sum the partial outputs); identity backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, collective: suite.Collective) -> Tensor:
        return collective.all_reduce(x.contiguous().clone())

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


class _GatherFromRanks(torch.autograd.Function):
    """All-gather along the last dimension forward; backward keeps this rank's slice."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, collective: suite.Collective) -> Tensor:
        ctx.width = x.shape[-1]
        return _gather_last_dim(collective, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        start = dist.get_rank() * ctx.width
        return grad[..., start : start + ctx.width].contiguous(), None


class _ScatterToRanks(torch.autograd.Function):
    """Keep this rank's slice of the last dimension forward; backward all-gathers the slices."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, collective: suite.Collective) -> Tensor:
        ctx.collective = collective
        width = x.shape[-1] // dist.get_world_size()
        start = dist.get_rank() * width
        return x[..., start : start + width].contiguous()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _gather_last_dim(ctx.collective, grad), None


class ColumnParallelLinear(nn.Module):
    """y = x Wᵀ + b with W's output rows split over the ranks; output gathered on every rank.

    Each rank stores (out/N) · in weights; forward: local y_r = x W_rᵀ + b_r, then all-gather.
    Backward: ∂x = Σ_r ∂y_r W_r, an all-reduce (Megatron's f at the input)."""

    def __init__(self, full: nn.Linear, collective: suite.Collective) -> None:
        super().__init__()
        rank, world = dist.get_rank(), dist.get_world_size()
        self.collective = collective
        self.weight = nn.Parameter(shard_rows(full.weight.detach(), rank, world))
        self.bias = (
            None if full.bias is None else nn.Parameter(shard_rows(full.bias.detach(), rank, world))
        )

    def forward(self, x: Tensor) -> Tensor:
        x = _CopyToRanks.apply(x, self.collective)
        local = nn.functional.linear(x, self.weight, self.bias)  # (..., out/N)
        return _GatherFromRanks.apply(local, self.collective)


class RowParallelLinear(nn.Module):
    """y = x Wᵀ + b with W's input columns split over the ranks; partial outputs all-reduced.

    Each rank stores out · (in/N) weights and sees its slice x_r of the input features;
    y = Σ_r x_r W_rᵀ (an all-reduce: Megatron's g), then b once. Backward: ∂x_r = ∂y W_r, local."""

    def __init__(self, full: nn.Linear, collective: suite.Collective) -> None:
        super().__init__()
        rank, world = dist.get_rank(), dist.get_world_size()
        self.collective = collective
        self.weight = nn.Parameter(
            shard_rows(full.weight.detach().t(), rank, world).t().contiguous()
        )
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        local_x = _ScatterToRanks.apply(x, self.collective)  # (..., in/N)
        partial = nn.functional.linear(local_x, self.weight)  # (..., out), this rank's share
        y = _ReduceFromRanks.apply(partial, self.collective)
        return y if self.bias is None else y + self.bias


def tensor_parallel_job(
    rank: int,
    world_size: int,
    device: str,
    *,
    component: Any,
    in_features: int,
    out_features: int,
    batch: int,
    seed: int,
) -> dict[str, Any]:
    """Column- and row-parallel layers against one `nn.Linear` with the whole weight (the same
    seed on every rank): the largest difference of the outputs and of every gradient."""
    collective = component.load()()
    torch.manual_seed(seed)
    full = nn.Linear(in_features, out_features).to(device)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, in_features, generator=g).to(device)
    probe = torch.randn(batch, out_features, generator=g).to(device)  # loss = Σ y ⊙ probe
    x_full = x.clone().requires_grad_(True)
    (full(x_full) * probe).sum().backward()
    assert full.weight.grad is not None and full.bias.grad is not None and x_full.grad is not None
    out: dict[str, Any] = {"rank": rank}
    for name, layer_cls in (("column", ColumnParallelLinear), ("row", RowParallelLinear)):
        layer = layer_cls(full, collective)
        x_tp = x.clone().requires_grad_(True)
        y = layer(x_tp)
        (y * probe).sum().backward()
        with torch.no_grad():
            y_full = full(x)
        if name == "column":
            weight_grad = shard_rows(full.weight.grad, rank, world_size)
            bias_grad = shard_rows(full.bias.grad, rank, world_size)
        else:
            weight_grad = shard_rows(full.weight.grad.t(), rank, world_size).t()
            bias_grad = full.bias.grad
        assert layer.weight.grad is not None and layer.bias is not None
        assert layer.bias.grad is not None and x_tp.grad is not None
        out[name] = {
            "output": float((y.detach() - y_full).abs().max()),
            "input_grad": float((x_tp.grad - x_full.grad).abs().max()),
            "weight_grad": float((layer.weight.grad - weight_grad).abs().max()),
            "bias_grad": float((layer.bias.grad - bias_grad).abs().max()),
            "local_weights": layer.weight.numel(),
            "full_weights": full.weight.numel(),
        }
    return out
