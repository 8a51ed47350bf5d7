"""Router losses, capacity arithmetic, dispatch order and the choice of dispatch strategy."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.moe.dispatch import (
    STRATEGIES,
    candidate_strategies,
    choose_strategy,
    expert_capacity,
    plan_dispatch,
)
from plugins.moe.router import Router, load_balancing_loss, router_z_loss
from plugins.moe.topk import TopKMoE
from suite.errors import ComponentInputError


def test_balance_loss_is_one_when_uniform_and_n_experts_when_collapsed() -> None:
    n_tokens, n_experts = 64, 8
    uniform_probs = torch.full((n_tokens, n_experts), 1 / n_experts)
    # (N, 1): every expert chosen equally often
    spread = torch.arange(n_tokens).remainder(n_experts).unsqueeze(1)
    assert load_balancing_loss(uniform_probs, spread, n_experts).item() == pytest.approx(1.0)
    collapsed_probs = torch.zeros(n_tokens, n_experts)
    collapsed_probs[:, 3] = 1.0
    all_to_three = torch.full((n_tokens, 1), 3)
    assert load_balancing_loss(collapsed_probs, all_to_three, n_experts).item() == pytest.approx(
        n_experts
    )


def test_balance_loss_gradient_pushes_probability_off_the_overloaded_expert() -> None:
    logits = torch.zeros(16, 4, requires_grad=True)
    chosen = torch.zeros(16, 1, dtype=torch.long)  # every token chose expert 0
    load_balancing_loss(logits.softmax(-1), chosen, 4).backward()
    assert bool((logits.grad[:, 0] > 0).all())  # descending the loss lowers expert 0's logit


def test_z_loss_is_mean_squared_logsumexp() -> None:
    logits = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    expected = (torch.log(torch.tensor(2.0)) ** 2 + torch.logsumexp(logits[1], 0) ** 2) / 2
    assert router_z_loss(logits).item() == pytest.approx(expected.item())


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(0.01, 300.0),
    n_experts=st.integers(2, 64),
    seed=st.integers(0, 2**16),
)
def test_router_normaliser_from_the_log_softmax_is_logsumexp(
    scale: float, n_experts: int, seed: int
) -> None:
    """The router reads logsumexp off its log-softmax (l_0 − log p_0) instead of a second pass;
    it must equal torch.logsumexp, and its gradient the softmax, at any logit scale."""
    torch.manual_seed(seed)
    router = Router(16, n_experts, 1)
    x = (torch.randn(32, 16) * scale).requires_grad_()
    out = router(x)
    expected = torch.logsumexp(out.logits, dim=-1)
    torch.testing.assert_close(out.logsumexp, expected, rtol=1e-5, atol=1e-5 * scale)
    (grad,) = torch.autograd.grad(out.logsumexp.sum(), out.logits, retain_graph=True)
    torch.testing.assert_close(grad, out.probs, rtol=1e-4, atol=1e-5)
    assert router_z_loss(out.logits, out.logsumexp).item() == pytest.approx(
        router_z_loss(out.logits).item(), rel=1e-4, abs=1e-5 * scale**2
    )


def test_router_renormalises_top_k_but_keeps_the_raw_probability_for_top_1() -> None:
    torch.manual_seed(0)
    x = torch.randn(10, 8)
    two = Router(8, 4, 2)(x)
    torch.testing.assert_close(two.expert_weight.sum(-1), torch.ones(10))
    one = Router(8, 4, 1)
    one_out = one(x)
    torch.testing.assert_close(one_out.expert_weight.squeeze(1), one_out.probs.max(dim=-1).values)


def test_router_noise_only_in_training() -> None:
    router = Router(8, 4, 2, noise_std=1.0)
    x = torch.randn(32, 8)
    router.eval()
    torch.testing.assert_close(router(x).logits, router(x).logits)
    router.train()
    assert not torch.equal(router(x).logits, router(x).logits)


def test_capacity_formula() -> None:
    assert expert_capacity(None, 2048, 2, 8) is None
    assert expert_capacity(1.0, 2048, 2, 8) == 512
    assert expert_capacity(1.25, 2048, 2, 8) == 640
    assert expert_capacity(1.0, 10, 1, 3) == 4  # ⌈10 / 3⌉
    with pytest.raises(ComponentInputError, match="capacity_factor"):
        expert_capacity(0.0, 10, 1, 3)


def test_first_choices_win_the_capacity_over_second_choices() -> None:
    # token 0 picks (1, 0), tokens 1 and 2 pick (0, 1): expert 0 holds one slot
    index = torch.tensor([[1, 0], [0, 1], [0, 1]])
    weight = torch.full((3, 2), 0.5)
    plan = plan_dispatch(index, weight, n_experts=2, capacity=1)
    kept = set(zip(plan.expert_index.tolist(), plan.token_index.tolist()))
    assert kept == {(0, 1), (1, 0)}  # token 1's first choice beats token 0's second choice
    assert plan.n_dropped == 4 and plan.dropped_fraction == pytest.approx(4 / 6)


def test_choose_strategy_keeps_the_fastest_measured_and_a_static_preference_otherwise() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    times = {"slices": 3.0, "padded-bmm": 1.0, "grouped-mm": 2.0}
    assert choose_strategy(cpu, list(times), measure=times.__getitem__) == "padded-bmm"
    assert (
        choose_strategy(cuda, ["slices", "grouped-mm"], measure=times.__getitem__) == "grouped-mm"
    )
    assert choose_strategy(cuda, ["slices", "padded-bmm", "grouped-mm"]) == "grouped-mm"
    assert choose_strategy(cuda, ["slices", "padded-bmm"]) == "padded-bmm"
    assert choose_strategy(cpu, ["slices", "padded-bmm", "grouped-mm"]) == "slices"
    assert choose_strategy(cpu, list(STRATEGIES)) == "balanced-bmm"
    broken = {"slices": 3.0, "padded-bmm": 2.0, "grouped-mm": float("inf")}
    assert choose_strategy(cuda, list(broken), measure=broken.__getitem__) == "padded-bmm"
    all_broken = dict.fromkeys(broken, float("inf"))
    assert choose_strategy(cuda, list(broken), measure=all_broken.__getitem__) == "grouped-mm"
    with pytest.raises(ComponentInputError):
        choose_strategy(cpu, [])


def test_candidate_strategies_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert "grouped-mm" in candidate_strategies(cpu, torch.float32, 256, 512)
    # 6 float32 = 24 bytes: rows not 16-byte aligned
    assert "grouped-mm" not in candidate_strategies(cpu, torch.float32, 6, 512)
    assert "grouped-mm" not in candidate_strategies(cpu, torch.bfloat16, 256, 512)
    assert candidate_strategies(cpu, torch.float64, 8, 8) == [
        "slices",
        "padded-bmm",
        "balanced-bmm",
    ]


def test_autotune_measures_once_per_shape_and_caches_the_winner() -> None:
    torch.manual_seed(0)
    layer = TopKMoE(strategy="autotune").build(16, 16, 4, 2)
    x = torch.randn(2, 32, 16)
    layer(x)
    assert len(layer.tuned) == 1
    (chosen,) = layer.tuned.values()
    assert chosen in STRATEGIES
    assert layer.last_strategy == chosen
    layer(x)
    assert len(layer.tuned) == 1
    static = TopKMoE().build(16, 16, 4, 2)  # auto: static preference on CPU
    static(x)
    assert static.last_strategy == "balanced-bmm"
    assert list(static.tuned.values()) == ["balanced-bmm"]  # chosen once, not measured


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ComponentInputError, match=r"top_k \(5\) must not exceed n_experts \(4\)"):
        TopKMoE().build(8, 8, 4, 5)
    with pytest.raises(ComponentInputError, match="capacity_factor"):
        TopKMoE().build(8, 8, 4, 2, capacity_factor=-1.0)
    with pytest.raises(ComponentInputError, match="strategy"):
        TopKMoE(strategy="loop-over-tokens")
    with pytest.raises(TypeError, match=r"no option .balance.; it accepts: balance_coef"):
        TopKMoE(balance=0.1)
    with pytest.raises(ComponentInputError, match=r"\(B, T, 8\)"):
        TopKMoE().build(8, 8, 4, 2)(torch.randn(3, 8))
