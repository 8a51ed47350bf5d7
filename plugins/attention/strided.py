"""`strided`: the Sparse Transformer pattern, a local band plus every s-th key (Child et al., 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from plugins.attention.block_sparse import BlockSparseAttention, Predicate
from plugins.attention.sliding_window import band_candidates

__all__ = ["StridedAttention"]


class StridedAttention(BlockSparseAttention):
    """Local band plus summary columns: i sees j if |i − j| ≤ window or j ≡ stride − 1 (mod stride).

    Interview question: "How does the Sparse Transformer reach O(n√n)?"

    Short answer: factorise attention into two hops. One set of keys is local (the last few
    positions); the other is every s-th position, which summarises the stride before it. Any
    token reaches any earlier token in two steps (local hop to a summary column, then the column),
    and each query reads about 2w + n/s keys; with s ≈ w ≈ √n that is O(n√n) in total.

    This version uses fixed summary columns (the "fixed" flavour: the last position of every
    stride-long block), which every query shares, so the columns can be gathered once per block
    of queries. The relative flavour, (i − j) mod s = 0, reaches the same number of keys per query but a
    different set for each query, which defeats block gathering.

    Options: `window` (radius, default 64), `stride` (default 64), `block_size` (64), `backend`.

    Pitfalls:
    * at a fixed stride the column part still grows as n²/s: the quadratic term is divided, not
      removed. The growth exponent measured by `attention-scaling` shows it sits between 1 and 2.
    * with a causal mask, a column after the query is masked; summary columns only pay off when
      they come after the block they summarise.
    """

    name: ClassVar[str] = "strided"
    summary: ClassVar[str] = "Sparse Transformer: local band + every stride-th key"

    def __init__(
        self,
        *,
        window: int = 64,
        stride: int = 64,
        block_size: int = 64,
        backend: str = "auto",
        compile_flex: bool | None = None,
    ) -> None:
        super().__init__(block_size=block_size, backend=backend, compile_flex=compile_flex)
        if window < 0 or stride < 1:
            raise ValueError(
                f"strided: need window >= 0 and stride >= 1, got window={window}, stride={stride}"
            )
        self.window = window  # radius of the local band
        self.stride = stride  # every stride-th key (j % stride == stride - 1) is a summary column

    def predicate(self, tq: int, tk: int, device: torch.device) -> Predicate:
        window, stride = self.window, self.stride

        def allowed(qi: Tensor, kj: Tensor) -> Tensor:
            return ((qi - kj).abs() <= window) | (kj % stride == stride - 1)

        return allowed

    def candidate_keys(self, tq: int, tk: int, device: torch.device) -> Tensor:
        band = band_candidates(tq, self.block_size, self.window, device)  # (nQ, b + 2w)
        columns = torch.arange(
            self.stride - 1, max(tk, self.stride - 1), self.stride, device=device
        )  # (T/s,)
        return torch.cat([band, columns.expand(band.shape[0], -1)], dim=1)
