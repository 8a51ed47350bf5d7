"""`sliding-window`: each token attends to its neighbours within a fixed radius (Longformer, Mistral)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from plugins.attention.block_sparse import BlockSparseAttention, Predicate

__all__ = ["SlidingWindowAttention", "band_candidates"]


class SlidingWindowAttention(BlockSparseAttention):
    """Local attention: query i sees keys j with |i − j| ≤ window (j ∈ [i − window, i] if causal).

    Interview question: "Attention is O(n² d). How do sparse variants fix that?"

    Short answer: attend to a band. Each query reads 2w + 1 keys, so time and memory are O(n·w·d),
    linear in n at fixed w. Information still travels far: stacking L layers gives a receptive
    field of L·w tokens, like a convolution (Longformer, BigBird's window, Mistral's 4k window
    with a rolling KV cache of w entries).

    Options: `window` (radius in tokens, default 128), `block_size` (query rows gathered together,
    default 64), `backend` (`auto`: FlexAttention on CUDA, gathering elsewhere; `gather`; `flex`).

    Pitfalls:
    * building a T×T band mask and calling dense attention is *not* sparse attention: it still
      computes T² scores. Gathering b + 2w keys per block of b queries is.
    * with padding, a pad query far from every real token has an empty window: it must come out
      as zeros, not NaN.
    * a token cannot see beyond L·w in one forward pass; tasks with truly global structure need
      global tokens (BigBird, Longformer) or several layers.
    """

    name: ClassVar[str] = "sliding-window"
    summary: ClassVar[str] = "local band |i-j| <= window; block-gathered, O(T·w)"

    def __init__(
        self,
        *,
        window: int = 128,
        block_size: int = 64,
        backend: str = "auto",
        compile_flex: bool | None = None,
    ) -> None:
        super().__init__(block_size=block_size, backend=backend, compile_flex=compile_flex)
        if window < 0:
            raise ValueError(f"sliding-window: window must be >= 0, got {window}")
        self.window = window  # radius in tokens

    def predicate(self, tq: int, tk: int, device: torch.device) -> Predicate:
        window = self.window

        def allowed(qi: Tensor, kj: Tensor) -> Tensor:
            return (qi - kj).abs() <= window

        return allowed

    def candidate_keys(self, tq: int, tk: int, device: torch.device) -> Tensor:
        return band_candidates(tq, self.block_size, self.window, device)


def band_candidates(tq: int, block_size: int, window: int, device: torch.device) -> Tensor:
    """`(nQ, b + 2w)`: keys from w before a query block's first row to w after its last."""
    nq = -(-tq // block_size)
    starts = torch.arange(nq, device=device)[:, None] * block_size - window
    return starts + torch.arange(block_size + 2 * window, device=device)[None, :]
