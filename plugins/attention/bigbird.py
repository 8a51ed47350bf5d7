"""`bigbird`: window blocks + global tokens + random blocks (Zaheer et al., 2020), seeded."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from plugins.attention.block_sparse import BlockSparseAttention, Predicate

__all__ = ["BigBirdAttention"]


class BigBirdAttention(BlockSparseAttention):
    """Three kinds of edges: a block window, a few global tokens, and random blocks.

    Interview question: "Sliding windows are linear but local. How does BigBird stay linear and
    still connect distant tokens?"

    Short answer: in block units of size b, query block n attends key blocks n − w … n + w (the
    window), the first `n_global` tokens attend and are attended by everything (like [CLS]), and
    each query block reads `n_random` random key blocks. Window + random make the attention graph
    an expander with short paths between any two tokens; global tokens make every path length
    two. Cost per query: (2w + 1 + r)·b + g keys, O(n) in total at fixed b, w, r, g. The paper
    proves that with global tokens the sparse model is still a universal approximator of
    sequence-to-sequence functions and Turing complete; it proves nothing of the kind about a
    window alone (a window only needs many layers to let distant tokens meet).

    Options: `block_size` (64), `window_blocks` (1: the previous, own and next block),
    `n_global` (global tokens at the start, 64), `n_random` (random key blocks per query block,
    2), `seed` (0: the random blocks are a pure function of seed and lengths), `backend`.

    Pitfalls:
    * the random blocks must be drawn once per length and seed, not per call: a pattern that
      changes between training steps is noise, and the same seed must give the same graph at
      inference.
    * under a causal mask, half of the random blocks fall in the future and are wasted; causal
      BigBird draws them from the past only.
    * global query rows are dense rows (g × T): keep g small.
    """

    name: ClassVar[str] = "bigbird"
    summary: ClassVar[str] = "block window + global tokens + seeded random blocks, O(T)"

    def __init__(
        self,
        *,
        block_size: int = 64,
        window_blocks: int = 1,
        n_global: int = 64,
        n_random: int = 2,
        seed: int = 0,
        backend: str = "auto",
        compile_flex: bool | None = None,
    ) -> None:
        super().__init__(block_size=block_size, backend=backend, compile_flex=compile_flex)
        if window_blocks < 0 or n_global < 0 or n_random < 0:
            raise ValueError(
                f"bigbird: window_blocks, n_global, n_random must be >= 0; got {window_blocks}, {n_global}, {n_random}"
            )
        self.window_blocks = window_blocks  # key blocks on each side of the query block
        self.n_global = n_global  # leading tokens that see and are seen by every token
        self.n_random = n_random  # random key blocks per query block
        self.seed = seed
        self._tables: dict[tuple[int, int, str], Tensor] = {}

    def random_blocks(self, tq: int, tk: int, device: torch.device) -> Tensor:
        """Bool `(nQ, nK)` block table: True where a query block reads a random key block.

        As in the paper's implementation, the random blocks are drawn from the key blocks the
        query block does not already read through its window or the global tokens, so each
        adds new keys (and, gathered, no duplicate has to be masked); fewer are drawn when fewer
        are left.
        """
        key = (tq, tk, str(device))
        if key not in self._tables:
            b = self.block_size
            nq, nk = -(-tq // b), -(-tk // b)
            qb, kb = torch.arange(nq)[:, None], torch.arange(nk)[None, :]
            taken = ((qb - kb).abs() <= self.window_blocks) | (kb * b < self.n_global)
            gen = torch.Generator().manual_seed(self.seed)
            draw = torch.rand(nq, nk, generator=gen).masked_fill_(taken, 2.0)  # taken: last
            order = draw.argsort(dim=1)[:, : min(self.n_random, nk)]
            table = torch.zeros(nq, nk, dtype=torch.bool)
            table.scatter_(1, order, True)
            self._tables[key] = (table & ~taken).to(device)
        return self._tables[key]

    def n_global_queries(self, tq: int) -> int:
        return min(self.n_global, tq)

    def predicate(self, tq: int, tk: int, device: torch.device) -> Predicate:
        b, w, g = self.block_size, self.window_blocks, self.n_global
        table = self.random_blocks(tq, tk, device)

        def allowed(qi: Tensor, kj: Tensor) -> Tensor:
            qb, kb = qi // b, kj // b
            return ((qb - kb).abs() <= w) | (kj < g) | (qi < g) | table[qb, kb]

        return allowed

    def candidate_keys(self, tq: int, tk: int, device: torch.device) -> Tensor:
        b, w = self.block_size, self.window_blocks
        table = self.random_blocks(tq, tk, device)  # (nQ, nK)
        nq = table.shape[0]
        offsets = torch.arange((2 * w + 1) * b, device=device)[None, :]
        window = (torch.arange(nq, device=device)[:, None] - w) * b + offsets  # (nQ, (2w+1)b)
        glob = torch.arange(self.n_global, device=device).expand(nq, -1)  # (nQ, g)
        width = min(self.n_random, table.shape[1])
        rand_blocks = table.float().argsort(dim=1, descending=True, stable=True)[
            :, :width
        ]  # (nQ, r)
        rand = (rand_blocks[:, :, None] * b + torch.arange(b, device=device)).reshape(nq, -1)
        return torch.cat([window, glob, rand], dim=1)
