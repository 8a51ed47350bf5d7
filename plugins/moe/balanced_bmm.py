"""`balanced-bmm` dispatch: grouped expert matmuls out of batched matmuls, without padding every expert.

Interview question: "Your MoE does the FLOPs of a dense FFN of its active size. Why is it
slower, and where does the time go?"

Short answer: routing (router, sort, gather, scatter-add) is many small operations, and the
expert matmuls are small. On a CPU a small matmul does not scale across cores: one expert's
`(~128, C) @ (C, H)` split over two threads runs well short of twice as fast as on one (too
little work per thread to pay for the split). A batched matmul `torch.bmm` instead hands whole
matrices to threads, each computed single-threaded at full speed. But `bmm` wants every matrix
the same size, and experts receive different numbers of tokens: padding each to the busiest
expert (`padded-bmm`) wastes the gap between the busiest and the average.

The layout, with P = the intra-op threads (2 on a 2-core machine):

* experts are taken P at a time, with evenly spaced ids so that their weights are one strided
  view of the `(E, C, H)` tensor, no copy. Any two ids are evenly spaced, so with P = 2 the
  pairs are chosen by count (the two least loaded together, and so on) and differ little;
  larger groups take consecutive ids. The group's *core* is the first `m` rows of each, `m`
  the smallest count in the group: one `bmm` of P matrices, one per thread;
* each expert's *surplus* beyond `m` is cut into P tiles of equal height (the last one ending in
  padding) that share the expert's weights through a zero-stride view: one `bmm` of P tiles.
  A surplus under `MIN_SURPLUS_ROWS` is not worth two more calls: the group is padded to its
  largest count instead, the padding rows running beside the real ones on the other threads.

Each block runs its first matmul, the nonlinearity and its second matmul back to back, while
its hidden activations are still in cache, and writes its rows of one output buffer.

What it concedes: tiles are small matmuls and re-read an expert's weights, and a group's
padding is real work. The floor is one `bmm` over all experts with equal counts
(`moe-throughput` times it against the dense layer: `even_experts_ratio`); pairs are somewhat
slower than that single call even when the counts are equal (more, smaller calls), but with
real, unequal counts the single call must pad every expert to the busiest one, which costs
more. Which strategy wins is measured, not assumed (`moe-throughput`, with
`TopKMoE(strategy=...)` forced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MIN_SURPLUS_ROWS", "BalancedLayout", "balanced_bmm", "balanced_layout"]

Activation = Callable[[Tensor], Tensor]
# a smaller surplus is padded instead of tiled: a tile costs two calls and a re-read of the
# expert's weights, more than computing that many padding rows beside the other expert
MIN_SURPLUS_ROWS = 32


@dataclass(frozen=True)
class _Block:
    """One batched matmul: rows `[start, start + batch * height)` of the layout, as
    `(batch, height, ·)`, against the weights of experts `first, first + step, …` (a strided
    view of the stacked weights, no copy), or of expert `first` alone repeated `batch` times
    (`shared`)."""

    start: int
    batch: int
    height: int
    first: int
    shared: bool
    step: int = 1

    def experts(self, weights: Tensor) -> Tensor:
        """`(batch, ·, ·)`: this block's slice of the stacked `(E, ·, ·)` weights, as a view."""
        if self.shared:  # one expert's tiles: its weights repeated through a zero stride
            return weights[self.first].expand(self.batch, -1, -1)
        stop = self.first + self.step * (self.batch - 1) + 1
        return weights[self.first : stop : self.step]


@dataclass(frozen=True)
class BalancedLayout:
    """Where each kept assignment goes in the `(R, ·)` layout, and the matmuls over it."""

    core_length: list[int]  # (E,) rows of expert e in its group's core
    core_start: list[int]  # (E,) layout row of expert e's first core row
    surplus_start: list[int]  # (E,) layout row of expert e's first surplus row
    rows: int  # R: kept assignments plus padding
    blocks: list[_Block]


def balanced_layout(
    counts: list[int], threads: int, min_surplus: int = MIN_SURPLUS_ROWS
) -> BalancedLayout:
    """The layout for `counts` assignments per expert (sorted by expert) on `threads` threads.

    A group whose counts differ by less than `min_surplus` is padded to its largest count
    instead (the padding rows run beside the largest expert's, on the other threads).
    """
    n_experts = len(counts)
    group = max(threads, 1)
    core_length, core_start, surplus_start = [0] * n_experts, [0] * n_experts, [0] * n_experts
    blocks: list[_Block] = []
    row = 0
    for members in _groups(counts, group):
        first, step = members[0], members[1] - members[0] if len(members) > 1 else 1
        low, high = min(counts[e] for e in members), max(counts[e] for e in members)
        height = low if high - low >= min_surplus else high
        for place, e in enumerate(members):
            core_length[e], core_start[e] = min(height, counts[e]), row + place * height
        if height:
            blocks.append(_Block(row, len(members), height, first, shared=False, step=step))
            row += len(members) * height
        for e in members:
            surplus = counts[e] - core_length[e]
            surplus_start[e] = row
            if surplus:
                tiles = min(group, surplus)
                tile = -(-surplus // tiles)  # ceil: the last tile ends in padding rows
                blocks.append(_Block(row, tiles, tile, e, shared=True))
                row += tiles * tile
    return BalancedLayout(core_length, core_start, surplus_start, row, blocks)


def _groups(counts: list[int], size: int) -> list[list[int]]:
    """Experts in groups of `size` whose ids are evenly spaced, so that each group's weights
    are one strided view. Pairs can be any two experts: they are chosen by count (the two
    smallest together, and so on), which leaves the least to pad or tile. Larger groups take
    consecutive ids."""
    if size != 2:
        return [list(range(i, min(i + size, len(counts)))) for i in range(0, len(counts), size)]
    by_count = sorted(range(len(counts)), key=counts.__getitem__)
    return [sorted(by_count[i : i + 2]) for i in range(0, len(by_count), 2)]


def balanced_bmm(
    x: Tensor,
    token_index: Tensor,
    weight: Tensor,
    counts: list[int],
    w_in: Tensor,
    w_out: Tensor,
    activation: Activation,
    threads: int | None = None,
) -> Tensor:
    """`Σ weight · expert(x[token])` per token, the kept assignments sorted by expert.

    `x` `(N, C)`; `token_index`, `weight` `(M,)`; `counts` `(E,)` as a list; `w_in`
    `(E, C, H)`, `w_out` `(E, H, C)`; `threads` the group size (default: torch's intra-op
    threads). Returns `(N, C)`.
    """
    layout = balanced_layout(counts, threads or torch.get_num_threads())
    device = x.device
    # the sorted assignments are runs (expert e's core, then its surplus) that keep their order
    # in the layout: each run moves by one offset
    run_lengths, run_shift, position = [], [], 0
    for e, count in enumerate(counts):
        core = layout.core_length[e]
        run_lengths += [core, count - core]
        run_shift += [layout.core_start[e] - position, layout.surplus_start[e] - position - core]
        position += count
    shift = torch.repeat_interleave(
        torch.tensor(run_shift, device=device),
        torch.tensor(run_lengths, device=device),
        output_size=position,
    )
    row = torch.arange(position, device=device) + shift  # (M,) place in the layout
    # padding rows read token 0 with weight 0: no zero buffer, no second scatter
    source = token_index.new_zeros(layout.rows).index_put_((row,), token_index)  # (R,)
    row_weight = weight.new_zeros(layout.rows).index_put_((row,), weight)  # (R,)
    xs = x.index_select(0, source)  # (R, C)
    ys = _experts(xs, w_in, w_out, activation, layout)  # (R, C)
    scale = row_weight.to(ys.dtype).unsqueeze(-1)
    weighted = ys * scale if ys.requires_grad else ys.mul_(scale)  # in place when no autograd
    return x.new_zeros(x.shape).index_add_(0, source, weighted)


def _experts(
    xs: Tensor, w_in: Tensor, w_out: Tensor, activation: Activation, layout: BalancedLayout
) -> Tensor:
    """`activation(xs @ w_in[e]) @ w_out[e]` for the rows of every block, block after block
    (its hidden activations are still in cache for the second matmul).

    Without autograd each block writes straight into one output buffer (`out=`); with it,
    which `out=` does not support, the blocks' results are concatenated.
    """
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (xs, w_in, w_out))
    out = None if needs_grad else xs.new_empty(layout.rows, w_out.shape[-1])
    pieces = []
    for block in layout.blocks:
        stop = block.start + block.batch * block.height
        rows = xs[block.start : stop].view(block.batch, block.height, -1)
        weight_in, weight_out = block.experts(w_in), block.experts(w_out)
        hidden = activation(torch.bmm(rows, weight_in))  # (batch, height, H)
        if out is None:
            pieces.append(torch.bmm(hidden, weight_out).flatten(0, 1))
        else:
            target = out[block.start : stop].view(block.batch, block.height, -1)
            torch.bmm(hidden, weight_out, out=target)
    if out is not None:
        return out
    return torch.cat(pieces) if pieces else xs.new_zeros(0, w_out.shape[-1])
