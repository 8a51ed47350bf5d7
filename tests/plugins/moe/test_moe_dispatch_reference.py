"""The sort-by-expert dispatch against the plainest possible reference: a loop over tokens.

The loop walks the assignments in GShard's priority order (every first choice before any second
choice, then token order), keeps one counter per expert, drops an assignment once its expert is
full, and adds `weight · expert(x_token)` to that token's output. Every dispatch strategy must
give the same output, the same `counts` and the same dropped fraction.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.moe.dispatch import (
    candidate_strategies,
    dispatch_and_combine,
    expert_capacity,
    plan_dispatch,
)
from plugins.moe.reference import expert_activation


def _per_token_loop(
    x: torch.Tensor,
    expert_index: torch.Tensor,
    expert_weight: torch.Tensor,
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    capacity: int | None,
) -> tuple[torch.Tensor, list[int], int]:
    n_tokens, top_k = expert_index.shape
    out = torch.zeros_like(x)
    load = [0] * w_in.shape[0]
    dropped = 0
    for choice in range(top_k):
        for token in range(n_tokens):
            expert = int(expert_index[token, choice])
            if capacity is not None and load[expert] >= capacity:
                dropped += 1
                continue
            load[expert] += 1
            hidden = expert_activation(x[token] @ w_in[expert])
            out[token] += expert_weight[token, choice] * (hidden @ w_out[expert])
    return out, load, dropped


@st.composite
def routings(draw: st.DrawFn) -> dict:
    n_experts = draw(st.integers(1, 6))
    top_k = draw(st.integers(1, n_experts))
    n_tokens = draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    # distinct experts per token, as a top-k gives; skewed so that capacity bites
    scores = torch.rand(n_tokens, n_experts, generator=generator) + torch.linspace(1, 0, n_experts)
    return {
        "expert_index": scores.topk(top_k, dim=-1).indices,
        "expert_weight": torch.rand(n_tokens, top_k, generator=generator, dtype=torch.float64),
        "x": torch.randn(n_tokens, 8, generator=generator, dtype=torch.float64),
        "w_in": torch.randn(n_experts, 8, 4, generator=generator, dtype=torch.float64),
        "w_out": torch.randn(n_experts, 4, 8, generator=generator, dtype=torch.float64),
        "capacity_factor": draw(st.sampled_from([None, 0.25, 0.5, 1.0, 1.25])),
    }


@settings(deadline=None, max_examples=25)
@given(routings())
def test_every_strategy_equals_a_loop_over_tokens(case: dict) -> None:
    x, expert_index, expert_weight = case["x"], case["expert_index"], case["expert_weight"]
    n_tokens, top_k = expert_index.shape
    n_experts = case["w_in"].shape[0]
    capacity = expert_capacity(case["capacity_factor"], n_tokens, top_k, n_experts)
    expected, load, dropped = _per_token_loop(
        x, expert_index, expert_weight, case["w_in"], case["w_out"], capacity
    )
    plan = plan_dispatch(expert_index, expert_weight, n_experts, capacity)
    assert plan.counts.tolist() == load
    assert plan.n_dropped == dropped
    assert plan.dropped_fraction == dropped / (n_tokens * top_k)
    strategies = candidate_strategies(x.device, x.dtype, 8, 4)
    for strategy in strategies:
        got = dispatch_and_combine(
            strategy, x, plan, case["w_in"], case["w_out"], expert_activation
        )
        torch.testing.assert_close(got, expected, msg=f"strategy {strategy}")
