"""`topk`: a from-scratch sparse mixture-of-experts layer (router, balance losses, capacity, dispatch)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from plugins.moe.dispatch import (
    STRATEGIES,
    DispatchPlan,
    candidate_strategies,
    choose_strategy,
    dispatch_and_combine,
    expert_capacity,
    plan_dispatch,
)
from plugins.moe.reference import check_moe_input, expert_activation
from plugins.moe.router import Router, load_balancing_loss, router_z_loss
from suite.errors import ComponentInputError
from suite.kinds import MoE, MoEOutput, check_moe_sizes
from suite.timing import time_function

__all__ = ["TopKConfig", "TopKMoE", "TopKMoELayer"]

_STRATEGY_OPTIONS = ("auto", "autotune", *STRATEGIES)


@dataclass
class TopKConfig:
    """Options of the `topk` layer: `TopKMoE(balance_coef=0.0).build(...)`."""

    balance_coef: float = 0.01  # weight of the load-balancing loss in aux_loss (Switch uses 0.01)
    z_loss_coef: float = 0.001  # weight of the router z-loss in aux_loss (ST-MoE uses 0.001)
    noise_std: float = 0.0  # std of Gaussian noise on router logits in training; 0 = off
    n_shared_experts: int = 0  # always-on experts of hidden d_hidden each (DeepSeekMoE); 0 = none
    # auto: on CUDA time the candidate strategies once per (device, dtype, token-count bucket) and
    # keep the fastest, elsewhere the static preference of `choose_strategy`; autotune: time them
    # on any device; or one of STRATEGIES to force it
    strategy: str = "auto"

    def __post_init__(self) -> None:
        if self.strategy not in _STRATEGY_OPTIONS:
            raise ComponentInputError(
                f"strategy must be one of {', '.join(_STRATEGY_OPTIONS)}; got {self.strategy!r}"
            )
        if self.n_shared_experts < 0 or self.noise_std < 0:
            raise ComponentInputError(
                f"n_shared_experts and noise_std must be >= 0; got {self.n_shared_experts}, {self.noise_std}"
            )


class TopKMoELayer(nn.Module):
    """Router + E expert FFNs stored as stacked weights `(E, C, H)` and `(E, H, C)`."""

    def __init__(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None,
        config: TopKConfig,
    ) -> None:
        super().__init__()
        self.d_model, self.d_hidden = d_model, d_hidden
        self.n_experts, self.top_k = n_experts, top_k
        self.capacity_factor = capacity_factor
        self.config = config
        self.router = Router(d_model, n_experts, top_k, noise_std=config.noise_std)
        self.w_in = nn.Parameter(torch.randn(n_experts, d_model, d_hidden) * d_model**-0.5)
        self.w_out = nn.Parameter(torch.randn(n_experts, d_hidden, d_model) * d_hidden**-0.5)
        self.shared: nn.Module | None = None
        if config.n_shared_experts:
            from plugins.moe.reference import DenseFFNLayer

            self.shared = DenseFFNLayer(d_model, d_hidden, n_experts, config.n_shared_experts)
        # (device, dtype, token-count bucket, or -1 for the static choice) -> the strategy
        self.tuned: dict[tuple[str, str, int], str] = {}
        self.last_strategy: str | None = None
        self.last_balance_loss: Tensor | None = None  # unweighted, detached: for inspection
        self.last_z_loss: Tensor | None = None

    def forward(self, x: Tensor) -> MoEOutput:
        check_moe_input(x, self.d_model)
        batch, seq, channels = x.shape
        flat = x.reshape(-1, channels)  # (N, C)
        n_tokens = flat.shape[0]
        route = self.router(flat)  # indices, weights (N, k); probs, logits (N, E)
        capacity = expert_capacity(self.capacity_factor, n_tokens, self.top_k, self.n_experts)
        plan = plan_dispatch(route.expert_index, route.expert_weight, self.n_experts, capacity)
        strategy = self._strategy(flat, plan)
        out = dispatch_and_combine(strategy, flat, plan, self.w_in, self.w_out, expert_activation)
        if self.shared is not None:
            out = out + self.shared(x).output.reshape(-1, channels)
        balance = load_balancing_loss(
            route.probs, route.expert_index, self.n_experts, plan.routed_counts
        )
        z_loss = router_z_loss(route.logits, route.logsumexp)
        aux = self.config.balance_coef * balance + self.config.z_loss_coef * z_loss
        self.last_strategy = strategy
        self.last_balance_loss, self.last_z_loss = balance.detach(), z_loss.detach()
        return MoEOutput(
            output=out.reshape(batch, seq, channels),
            aux_loss=aux,
            expert_counts=plan.counts,
            dropped_fraction=plan.dropped_fraction,
        )

    def _strategy(self, x: Tensor, plan: DispatchPlan) -> str:
        wanted = self.config.strategy
        if wanted in STRATEGIES:
            return wanted
        device = x.device
        static = wanted == "auto" and device.type != "cuda"  # the static preference
        bucket = -1 if static else max(x.shape[0], 1).bit_length()
        key = (str(device), str(x.dtype), bucket)
        if key not in self.tuned:
            candidates = candidate_strategies(device, self.w_in.dtype, self.d_model, self.d_hidden)
            if x.dtype != self.w_in.dtype:
                candidates = [name for name in candidates if name != "grouped-mm"]
            measure = None if static else (lambda name: self._time(name, x, plan))
            self.tuned[key] = choose_strategy(device, candidates, measure=measure)
        return self.tuned[key]

    def _time(self, strategy: str, x: Tensor, plan: DispatchPlan) -> float:
        """Median ms of one dispatch with `strategy`; infinite when the kernel refuses the inputs
        (a `_grouped_mm` build that wants another weight layout must not break the layer)."""
        try:
            with torch.no_grad():
                return time_function(
                    lambda: dispatch_and_combine(
                        strategy, x, plan, self.w_in, self.w_out, expert_activation
                    ),
                    device=x.device,
                    warmup=1,
                    repeats=3,
                    budget_s=0.5,
                ).median_ms
        except RuntimeError:
            return math.inf


class TopKMoE(MoE):
    """Sparse mixture of experts with top-k routing, load balancing and capacity.

    Interview question: "What is a mixture of experts, and why does it need a load-balancing
    loss and a capacity factor?"

    Short answer: replace the transformer's FFN by E expert FFNs and a router; each token runs
    through only its top-k experts (k = 1 in Switch, 2 in GShard / Mixtral), so the parameter
    count grows E-fold while the compute per token stays that of a dense FFN of hidden k·H.
    A learned router collapses onto a few experts unless it is pushed to balance: the auxiliary
    loss does that; and when experts run on separate devices each must receive a bounded number
    of tokens: the capacity factor sets that bound and drops the overflow.

    Router: `p = softmax(x W_g)` `(N, E)`; keep the top-k, renormalise their weights to sum to 1
    (for k = 1 keep the raw probability, or the router gets no gradient from the task);
    `y = Σ_{e in topk} w_e · FFN_e(x)`. Optional noise on the logits in training explores.

    Load-balancing loss (Switch / GShard): `L_bal = E · Σ_i f_i · P_i`, `f_i` = share of the
    N·k assignments sent to expert i (not differentiable), `P_i` = mean router probability of i
    (differentiable). Uniform routing gives 1 and collapse onto one expert gives E, but 1 is not
    a lower bound: when f and P disagree (tokens land on experts whose mean probability is low)
    the value drops below 1, towards 0 at the extreme. Why
    a product: `f` says where tokens went, `P` is the handle the gradient can pull on.

    Router z-loss (ST-MoE): `L_z = mean_t (logsumexp_i logits_ti)²` keeps logits small, so the
    softmax does not saturate and bf16 round-off does not flip routing. `aux_loss` =
    `balance_coef · L_bal + z_loss_coef · L_z` (defaults 0.01 and 0.001); add it to the task loss.

    Capacity factor: expert capacity = `⌈cf · N · k / E⌉` tokens. cf = 1 is exactly the uniform
    load; cf = 1.25 leaves 25% slack. Assignments beyond an expert's capacity are *dropped*: they
    contribute zero, so the token leaves the block through the residual path only (for that
    expert). `dropped_fraction` reports the share. First choices beat second choices, then
    earlier tokens win. `capacity_factor=None` drops nothing. Pitfalls: a dropped token is not
    an error, it silently loses its FFN update; capacity also makes the output of a token depend
    on the other tokens in the batch (no more permutation equivariance, batch-size dependent
    inference).

    Dispatch: sort the assignments by expert so each expert's tokens are one contiguous slice;
    then batched matmuls over groups of experts, one whole matrix per thread (CPU:
    `plugins.moe.balanced_bmm`), one grouped GEMM (`torch._grouped_mm`) or a batched matmul
    over padded slices (GPU). Never a loop over tokens. `expert_counts` are the kept
    assignments per expert; their coefficient of variation measures balance.

    Expert parallelism: at scale each device holds E/D experts; dispatch becomes an all-to-all
    that sends tokens to the device of their expert and another that brings them back. Capacity
    fixes the buffer sizes of those all-to-alls, which is where it came from (GShard).

    Shared experts (DeepSeekMoE): `n_shared_experts` always-on experts process every token
    besides the routed ones, holding common knowledge so the routed experts can specialise;
    DeepSeek also splits experts finer (more, smaller experts, larger k at the same compute).
    They add `n_shared · H` to the active hidden size.

    Compiled (`TopKMoE(compile=True)`): the expert matmuls are already single large kernels, so
    fusion helps less here than for a norm; what eager loses is in the many small routing ops
    (softmax, top-k, renormalise, sort, gather, scatter-add), each its own kernel and memory
    round trip. Routing also makes shapes depend on the data (tokens per expert, what capacity
    drops), so `torch.compile` splits the layer into several graphs and recompiles when the
    counts change: compile time is large, and the gain is measured in `moe-throughput`'s full
    grid rather than assumed.
    """

    name: ClassVar[str] = "topk"
    summary: ClassVar[str] = (
        "top-k routed MoE: balance + z losses, capacity, sort-by-expert dispatch"
    )
    reference: ClassVar[str | None] = "dense-ffn"

    def __init__(
        self,
        *,
        balance_coef: float = TopKConfig.balance_coef,
        z_loss_coef: float = TopKConfig.z_loss_coef,
        noise_std: float = TopKConfig.noise_std,
        n_shared_experts: int = TopKConfig.n_shared_experts,
        strategy: str = TopKConfig.strategy,
    ) -> None:
        self.config = TopKConfig(balance_coef, z_loss_coef, noise_std, n_shared_experts, strategy)

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        check_moe_sizes(d_model, d_hidden, n_experts, top_k)
        expert_capacity(capacity_factor, 1, top_k, n_experts)  # validates capacity_factor
        return TopKMoELayer(d_model, d_hidden, n_experts, top_k, capacity_factor, self.config)
