"""`ring-allreduce`: all-reduce written from point-to-point sends and receives, on a ring.

Why it exists: "how does all-reduce work, and why is its cost independent of the number of
GPUs?" is the classic distributed-training question; this is the answer as code, checked
against `torch.distributed.all_reduce` and timed beside it. Its two phases are also exposed as
ring reduce-scatter and ring all-gather, and a pipelined ring broadcast completes the set. It concedes speed: one Python-level step per chunk,
where NCCL and gloo pipeline many small slices and pick other algorithms for small messages.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor

import suite

__all__ = ["RingAllReduce"]

_BROADCAST_PIECES = 4  # chunks per rank of a pipelined broadcast: more overlap, more steps


class RingAllReduce(suite.Collective):
    """Ring all-reduce: reduce-scatter, then all-gather, around a ring of N ranks.

    Interview question: how does ring all-reduce work and what does it cost? Split the tensor
    into N chunks. Reduce-scatter: in each of N−1 steps every rank sends one chunk to its right
    neighbour and adds the chunk arriving from its left; after N−1 steps rank r holds the full
    sum of chunk r+1. All-gather: N−1 more steps pass the finished chunks around the ring. Every
    rank sends 2(N−1) chunks of n/N elements, so the bytes per rank, 2(N−1)/N · n, barely grow
    with N: the bandwidth term is optimal, the latency term (2(N−1) steps) is what grows.

    Formula: bytes sent per rank = 2(N−1)/N · n · element size; time ≈ 2(N−1)·α +
    2(N−1)/N · n/β; nccl-tests' bus bandwidth = algorithm bandwidth · 2(N−1)/N, so that it
    can be compared with the link speed whatever N is.

    Pitfalls: a float sum depends on the order of the additions, and a ring adds chunk c
    starting from rank c, so from three ranks it can differ in the last bits from another
    algorithm (two ranks add one pair: a + b = b + a exactly); a length not divisible by N
    needs uneven chunks; blocking send then receive on every rank deadlocks, so each step posts
    both at once (`batch_isend_irecv`).

    Broadcast, on the same ring: the source cuts the tensor into chunks and each rank passes
    a chunk on as soon as it has it, so the time is about n/β plus (N−2) chunk transfers,
    not (N−1)·n/β as a plain chain would take.
    """

    name: ClassVar[str] = "ring-allreduce"
    summary: ClassVar[str] = "ring reduce-scatter then all-gather from send/recv (from scratch)"
    reference: ClassVar[str | None] = "torch-collectives"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce", "all-gather", "reduce-scatter", "broadcast")

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        ring = _Ring(group)
        chunks = list(tensor.view(-1).tensor_split(ring.world))  # views: sizes differ by <= 1
        ring.reduce_scatter(chunks, owner_offset=1)  # rank r ends with the sum of chunk r+1
        ring.all_gather(chunks, owner_offset=1)
        self.bytes_sent = ring.bytes_sent

    def run_all_gather(self, tensor: Tensor, group: Any) -> Tensor:
        ring = _Ring(group)
        out = tensor.new_empty(ring.world * tensor.numel())
        chunks = list(out.chunk(ring.world)) if tensor.numel() else [out] * ring.world
        chunks[ring.rank].copy_(tensor)
        ring.all_gather(chunks, owner_offset=0)
        self.bytes_sent = ring.bytes_sent
        return out

    def run_broadcast(self, tensor: Tensor, src: int, group: Any) -> None:
        ring = _Ring(group)
        pieces = max(1, min(tensor.numel(), _BROADCAST_PIECES * ring.world))
        ring.broadcast(list(tensor.view(-1).tensor_split(pieces)), src)
        self.bytes_sent = ring.bytes_sent

    def run_reduce_scatter(self, tensor: Tensor, group: Any) -> Tensor:
        ring = _Ring(group)
        chunks = list(tensor.clone().tensor_split(ring.world))
        ring.reduce_scatter(chunks, owner_offset=0)  # rank r ends with the sum of chunk r
        self.bytes_sent = ring.bytes_sent
        return chunks[ring.rank]


class _Ring:
    """One rank's view of the ring: its neighbours, and the bytes it has sent so far."""

    def __init__(self, group: Any) -> None:
        self.group = group
        self.world = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.right = self._global((self.rank + 1) % self.world)
        self.left = self._global((self.rank - 1) % self.world)
        self.bytes_sent = 0

    def _global(self, group_rank: int) -> int:
        return group_rank if self.group is None else dist.get_global_rank(self.group, group_rank)

    def _exchange(self, send: Tensor | None, receive: Tensor | None) -> None:
        """Send `send` right and receive `receive` from the left, both posted before waiting.
        Both ends of a transfer hold the same chunk index, so an empty chunk is skipped on both."""
        ops = []
        if send is not None and send.numel():
            self.bytes_sent += send.numel() * send.element_size()
            ops.append(dist.P2POp(dist.isend, send, self.right, self.group))
        if receive is not None and receive.numel():
            ops.append(dist.P2POp(dist.irecv, receive, self.left, self.group))
        for work in dist.batch_isend_irecv(ops) if ops else []:
            work.wait()

    def reduce_scatter(self, chunks: list[Tensor], *, owner_offset: int) -> None:
        """N−1 steps; after them rank r holds the sum of chunk (r + owner_offset) % N."""
        n, r, o = self.world, self.rank, owner_offset - 1
        for step in range(n - 1):
            send, receive = chunks[(r + o - step) % n], chunks[(r + o - step - 1) % n]
            incoming = torch.empty_like(receive)
            self._exchange(send, incoming)
            receive.add_(incoming)

    def broadcast(self, chunks: list[Tensor], src: int) -> None:
        """Pipelined along the ring from `src`: the rank p places after it receives chunk c at
        step c + p − 1 and passes it on at step c + p, so chunks stream through every link."""
        n, k = self.world, len(chunks)
        place = (self.rank - src) % n
        for step in range(k + n - 2):
            send, receive = step - place, step - place + 1
            self._exchange(
                chunks[send] if place < n - 1 and 0 <= send < k else None,
                chunks[receive] if place > 0 and 0 <= receive < k else None,
            )

    def all_gather(self, chunks: list[Tensor], *, owner_offset: int) -> None:
        """N−1 steps from rank r holding chunk (r + owner_offset) % N to every rank holding all."""
        n, r, o = self.world, self.rank, owner_offset
        for step in range(n - 1):
            self._exchange(chunks[(r + o - step) % n], chunks[(r + o - step - 1) % n])
