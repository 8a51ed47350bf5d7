"""A correct collective written differently from the built-in ring: a star through rank 0.

Every rank sends its tensor to rank 0, which adds them in rank order and sends the sum back:
2(N−1)·n values cross rank 0's links (the ring spreads 2(N−1)/N·n over every rank), but the
result is the same sum, so the kit's agreement property must pass.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor

import suite


class StarAllReduce(suite.Collective):
    """All-reduce through one root: gather to rank 0, add in rank order, send back."""

    name: ClassVar[str] = "kit-star-allreduce"
    summary: ClassVar[str] = "gather to rank 0, sum, send back (point to point)"
    reference: ClassVar[str | None] = "torch-collectives"

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        rank, world = dist.get_rank(), dist.get_world_size()
        if rank == 0:
            incoming = torch.empty_like(tensor)
            for peer in range(1, world):
                dist.recv(incoming, src=peer)
                tensor.add_(incoming)
            for peer in range(1, world):
                dist.send(tensor, dst=peer)
        else:
            dist.send(tensor, dst=0)
            dist.recv(tensor, src=0)
