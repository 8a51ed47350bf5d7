"""Dispatch: send each token to its experts and bring the results back, without a loop over tokens.

The one idea: flatten the N·k (token, expert) assignments, sort them by expert (stable sort),
and every expert's tokens become one contiguous slice of a gathered `(M, C)` matrix. Then:

* `slices`: one matmul per expert on its slice (a Python loop over *experts*, E iterations);
* `padded-bmm`: gather the tokens straight into a padded `(E, L, C)` tensor (L = capacity, or
  the largest slice; padding rows read token 0 with weight 0) and run two batched matmuls;
  wastes the padding, saves kernel launches;
* `balanced-bmm`: batched matmuls over groups of as many experts as there are threads, each
  expert's surplus over its group tiled across the threads (`plugins.moe.balanced_bmm`): every
  thread runs whole single-threaded matmuls, with little padding;
* `grouped-mm`: `torch._grouped_mm` with the slice offsets, one kernel for all experts and no
  padding (a CUDA Hopper kernel for bf16; PyTorch also runs it on CPU for float32).

Results come back with one `index_add_` into the `(N, C)` output, weighted by the router.

Capacity: with a capacity factor, expert e keeps at most `⌈cf · N · k / E⌉` assignments. Which
ones? All first choices of all tokens come before any second choice (GShard's order), then token
order. The assignments beyond capacity are dropped: they add nothing to the output, so that
token's output is only what its other experts (or, in a residual block, the skip path) give.

Which strategy is fastest depends on the device, and on a CPU even on the load; the
`moe-throughput` benchmark measures it (`MoEThroughput`'s `paired_ratio` against dense, with
`TopKMoE(strategy=...)` forced). On a CPU, a small matmul split across threads is the cost:
`slices` pays it for every expert (and `grouped-mm` ran no faster here),
`padded-bmm` pays for its padding, `balanced-bmm` for a little padding and a few more calls.
With other processes competing for the cores and OpenMP's default spin-waiting, every op
boundary can wait a scheduler slice for a descheduled thread, so the layers with the most
operations fall furthest behind dense; `OMP_WAIT_POLICY=PASSIVE` set before torch loads
narrows that.

On CUDA the layer times the candidates once per shape (`choose_strategy` with a `measure`
function, as `cudnn.benchmark` does) and keeps the fastest; on CPU it takes the static
preference (`balanced-bmm`), unless asked to autotune there too (`TopKMoE(strategy="autotune")`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from plugins.moe.balanced_bmm import balanced_bmm
from suite.errors import ComponentInputError

__all__ = [
    "STRATEGIES",
    "DispatchPlan",
    "candidate_strategies",
    "choose_strategy",
    "dispatch_and_combine",
    "expert_capacity",
    "padded_length",
    "plan_dispatch",
]

STRATEGIES: tuple[str, ...] = ("slices", "padded-bmm", "balanced-bmm", "grouped-mm")

Activation = Callable[[Tensor], Tensor]


@dataclass
class DispatchPlan:
    """The kept assignments, sorted by expert."""

    token_index: Tensor  # (M,) int64: the token of each kept assignment
    expert_index: Tensor  # (M,) int64: its expert, non-decreasing
    weight: Tensor  # (M,) combine weight from the router
    counts: Tensor  # (E,) int64: kept assignments per expert
    routed_counts: Tensor  # (E,) int64: assignments per expert before capacity dropped any
    capacity: int | None  # per-expert limit, None = unlimited
    n_assignments: int  # N·k before dropping

    @property
    def n_dropped(self) -> int:
        return self.n_assignments - self.token_index.numel()

    @property
    def dropped_fraction(self) -> float:
        return self.n_dropped / self.n_assignments if self.n_assignments else 0.0


def expert_capacity(
    capacity_factor: float | None, n_tokens: int, top_k: int, n_experts: int
) -> int | None:
    """`⌈capacity_factor · n_tokens · top_k / n_experts⌉`, or None when there is no capacity."""
    if capacity_factor is None:
        return None
    if not capacity_factor > 0:
        raise ComponentInputError(f"capacity_factor must be > 0 or None, got {capacity_factor}")
    # round first so that 1.25 * 2048 * 2 / 8 = 640.0000000001 does not become 641
    return math.ceil(round(capacity_factor * n_tokens * top_k / n_experts, 6))


def plan_dispatch(
    expert_index: Tensor, expert_weight: Tensor, n_experts: int, capacity: int | None
) -> DispatchPlan:
    """Sort the `(N, k)` assignments by expert, first choices first, and drop beyond `capacity`."""
    n_tokens, top_k = expert_index.shape
    flat_expert = expert_index.t().reshape(-1)  # (k·N,), choice-major: all first choices first
    flat_weight = expert_weight.t().reshape(-1)  # (k·N,)
    order = torch.argsort(flat_expert, stable=True)  # (k·N,)
    sorted_expert = flat_expert[order]
    counts = routed = torch.bincount(flat_expert, minlength=n_experts)  # (E,)
    if capacity is not None:
        starts = torch.cumsum(counts, 0) - counts  # (E,) first slot of each expert
        rank = torch.arange(order.numel(), device=order.device) - starts[sorted_expert]
        keep = rank < capacity
        order, sorted_expert = order[keep], sorted_expert[keep]
        counts = counts.clamp(max=capacity)
    return DispatchPlan(
        token_index=order % n_tokens,
        expert_index=sorted_expert,
        weight=flat_weight[order],
        counts=counts,
        routed_counts=routed,
        capacity=capacity,
        n_assignments=n_tokens * top_k,
    )


def dispatch_and_combine(
    strategy: str,
    x: Tensor,
    plan: DispatchPlan,
    w_in: Tensor,
    w_out: Tensor,
    activation: Activation,
) -> Tensor:
    """Run the kept assignments of `plan` through their experts and sum them back per token.

    `x` `(N, C)`, `w_in` `(E, C, H)`, `w_out` `(E, H, C)`; expert e maps
    `x -> activation(x @ w_in[e]) @ w_out[e]`. Returns `(N, C)`: `Σ_kept weight · expert(x)`.
    """
    if strategy == "padded-bmm":
        return _padded_bmm(x, plan, w_in, w_out, activation)
    if strategy == "balanced-bmm":
        counts = plan.counts.tolist()  # one host sync, as for slices
        return balanced_bmm(x, plan.token_index, plan.weight, counts, w_in, w_out, activation)
    xs = x.index_select(0, plan.token_index)  # (M, C) gathered, sorted by expert
    if strategy == "slices":
        ys = _slices(xs, plan, w_in, w_out, activation)
    elif strategy == "grouped-mm":
        offsets = torch.cumsum(plan.counts, 0).to(torch.int32)  # (E,) end of each slice
        hidden = activation(torch._grouped_mm(xs, w_in, offs=offsets))  # (M, H)
        ys = torch._grouped_mm(hidden, w_out, offs=offsets)  # (M, C)
    else:
        raise ComponentInputError(
            f"unknown dispatch strategy {strategy!r}; known: {', '.join(STRATEGIES)}"
        )
    weighted = ys * plan.weight.to(ys.dtype).unsqueeze(-1)  # (M, C)
    return x.new_zeros(x.shape).index_add_(0, plan.token_index, weighted)


def _slices(
    xs: Tensor, plan: DispatchPlan, w_in: Tensor, w_out: Tensor, activation: Activation
) -> Tensor:
    outputs = []
    # unbind once: indexing w_in[e] per expert would make autograd build E full-size (E, C, H)
    # gradients and add them up, O(E²·C·H) work in the backward pass
    experts = zip(w_in.unbind(0), w_out.unbind(0), plan.counts.tolist())  # one host sync
    start = 0
    for expert_in, expert_out, count in experts:
        if count:
            chunk = xs[start : start + count]  # (n_e, C), a view: no copy
            outputs.append(activation(chunk @ expert_in) @ expert_out)
            start += count
    if not outputs:
        return xs.new_zeros(0, w_out.shape[-1])
    return torch.cat(outputs) if len(outputs) > 1 else outputs[0]


def padded_length(plan: DispatchPlan) -> int:
    """Rows per expert in the padded layout: the capacity, or else the largest slice."""
    return plan.capacity if plan.capacity is not None else max(int(plan.counts.max().item()), 1)


def _padded_bmm(
    x: Tensor, plan: DispatchPlan, w_in: Tensor, w_out: Tensor, activation: Activation
) -> Tensor:
    n_experts, length = w_in.shape[0], padded_length(plan)
    starts = torch.cumsum(plan.counts, 0) - plan.counts  # (E,)
    slots = torch.arange(plan.token_index.numel(), device=x.device)
    slot = slots - starts[plan.expert_index]  # (M,) place within its expert
    row = plan.expert_index * length + slot  # (M,) row in the (E·L) padded layout
    # padding rows read token 0 and get weight 0: no zero buffer, no second scatter
    rows = n_experts * length
    source = plan.token_index.new_zeros(rows).index_put((row,), plan.token_index)  # (E·L,)
    weight = plan.weight.new_zeros(rows).index_put((row,), plan.weight)  # (E·L,)
    padded = x.index_select(0, source).view(n_experts, length, -1)  # (E, L, C)
    ys = torch.bmm(activation(torch.bmm(padded, w_in)), w_out).view(rows, -1)  # (E·L, C)
    weighted = ys * weight.to(ys.dtype).unsqueeze(-1)
    return x.new_zeros(x.shape).index_add_(0, source, weighted)


def candidate_strategies(
    device: torch.device, dtype: torch.dtype, d_model: int, d_hidden: int
) -> list[str]:
    """The strategies that can run on this device and dtype.

    `grouped-mm` needs `torch._grouped_mm`, rows aligned to 16 bytes, and on CUDA bf16 on a
    Hopper-class GPU (compute capability 9.0+); on CPU PyTorch runs it for float32.
    """
    candidates = ["slices", "padded-bmm", "balanced-bmm"]
    if not hasattr(torch, "_grouped_mm"):
        return candidates
    aligned = all(
        (size * torch.empty((), dtype=dtype).element_size()) % 16 == 0
        for size in (d_model, d_hidden)
    )
    if device.type == "cuda":
        ok = dtype == torch.bfloat16 and torch.cuda.get_device_capability(device) >= (9, 0)
    else:
        ok = dtype == torch.float32
    if ok and aligned:
        candidates.append("grouped-mm")
    return candidates


def choose_strategy(
    device: torch.device,
    candidates: Sequence[str],
    measure: Callable[[str], float] | None = None,
) -> str:
    """The dispatch strategy to use.

    With `measure` (a function returning the time of one candidate, lower is better, `inf` for
    one that failed to run) the fastest candidate wins. Without it, the static preference: on
    CPU `balanced-bmm` (whole matmuls per thread, little padding), on CUDA `grouped-mm` when
    available (one kernel, no padding) else `padded-bmm` (two kernels instead of 2·E). The
    CUDA preference is a default, not a measurement: time it with `measure` on the GPU at hand.
    """
    if not candidates:
        raise ComponentInputError("no dispatch strategy to choose from")
    if measure is not None:
        times = {name: measure(name) for name in candidates}
        if any(math.isfinite(t) for t in times.values()):  # inf: the candidate failed to run
            return min(candidates, key=lambda name: times[name])
    preference = (
        ("balanced-bmm", "slices", "grouped-mm", "padded-bmm")
        if device.type != "cuda"
        else ("grouped-mm", "padded-bmm", "slices")
    )
    return next(name for name in preference if name in candidates)
