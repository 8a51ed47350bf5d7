"""Hypothesis properties of the `topk` layer: counts, dropping, equivariance, gradients, full routing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from plugins.moe.dispatch import STRATEGIES, expert_capacity, plan_dispatch
from plugins.moe.reference import expert_activation
from plugins.moe.topk import TopKMoE

FAST = settings(deadline=None, max_examples=15)


@st.composite
def layer_specs(draw: st.DrawFn, *, min_experts: int = 1) -> dict[str, int]:
    n_experts = draw(st.integers(min_experts, 8))
    return {
        "n_experts": n_experts,
        "top_k": draw(st.integers(1, n_experts)),
        "batch": draw(st.integers(1, 3)),
        "seq": draw(st.integers(1, 24)),
        "d_model": draw(st.sampled_from([4, 8, 16])),
        "d_hidden": draw(st.sampled_from([4, 8, 12])),
        "seed": draw(st.integers(0, 2**16)),
    }


def build(
    spec: dict[str, int],
    capacity_factor: float | None = None,
    dtype: torch.dtype = torch.float64,
    **options,
):
    torch.manual_seed(spec["seed"])
    layer = TopKMoE(**options).build(
        spec["d_model"],
        spec["d_hidden"],
        spec["n_experts"],
        spec["top_k"],
        capacity_factor=capacity_factor,
    )
    x = torch.randn(spec["batch"], spec["seq"], spec["d_model"], dtype=dtype)
    return layer.to(dtype), x


@FAST
@given(layer_specs())
def test_counts_sum_to_tokens_times_k_and_nothing_dropped_without_capacity(
    spec: dict[str, int],
) -> None:
    layer, x = build(spec)
    out = layer(x)
    n_tokens = spec["batch"] * spec["seq"]
    assert out.expert_counts.shape == (spec["n_experts"],)
    assert int(out.expert_counts.sum()) == n_tokens * spec["top_k"]
    assert out.dropped_fraction == 0.0
    assert out.output.shape == x.shape
    assert out.aux_loss.dim() == 0 and torch.isfinite(out.aux_loss)


@FAST
@given(layer_specs(), st.sampled_from(["slices", "padded-bmm", "balanced-bmm"]))
def test_small_capacity_drops_and_caps_every_expert(spec: dict[str, int], strategy: str) -> None:
    n_assignments = spec["batch"] * spec["seq"] * spec["top_k"]
    # E experts of capacity ⌈N·k / 2E⌉ hold at most N·k/2 + E < N·k assignments when N·k > 2E
    assume(n_assignments > 2 * spec["n_experts"])
    layer, x = build(spec, capacity_factor=0.5, strategy=strategy)
    out = layer(x)
    capacity = expert_capacity(0.5, spec["batch"] * spec["seq"], spec["top_k"], spec["n_experts"])
    assert capacity is not None
    assert int(out.expert_counts.max()) <= capacity
    assert out.dropped_fraction > 0.0
    assert int(out.expert_counts.sum()) == round(n_assignments * (1 - out.dropped_fraction))


@FAST
@given(layer_specs(), st.data())
def test_outputs_are_equivariant_to_permuting_tokens(
    spec: dict[str, int], data: st.DataObject
) -> None:
    layer, x = build(spec)
    n_tokens = spec["batch"] * spec["seq"]
    perm = torch.tensor(data.draw(st.permutations(range(n_tokens))))
    flat = x.reshape(n_tokens, -1)
    shuffled = flat[perm].reshape(x.shape)
    out, out_shuffled = layer(x), layer(shuffled)
    expected = out.output.reshape(n_tokens, -1)[perm]
    torch.testing.assert_close(
        out_shuffled.output.reshape(n_tokens, -1), expected, rtol=1e-10, atol=1e-10
    )
    assert torch.equal(out.expert_counts, out_shuffled.expert_counts)
    torch.testing.assert_close(out.aux_loss, out_shuffled.aux_loss, rtol=1e-10, atol=1e-10)


@FAST
@given(layer_specs(min_experts=2), st.sampled_from(STRATEGIES))
def test_gradients_reach_the_router_and_exactly_the_used_experts(
    spec: dict[str, int], strategy: str
) -> None:
    layer, x = build(spec, dtype=torch.float32, strategy=strategy)
    out = layer(x)
    probe = torch.randn_like(out.output)
    (out.output * probe).sum().backward()  # task gradient only: the aux loss is left out on purpose
    assert layer.router.gate.weight.grad is not None
    assert layer.router.gate.weight.grad.abs().sum() > 0
    used = out.expert_counts > 0
    for weight in (layer.w_in, layer.w_out):
        per_expert = weight.grad.abs().flatten(1).sum(dim=1)  # (E,)
        assert bool((per_expert[used] > 0).all())
        assert bool((per_expert[~used] == 0).all())


@FAST
@given(layer_specs())
def test_full_routing_equals_gate_weighted_sum_of_all_experts(spec: dict[str, int]) -> None:
    spec = {**spec, "top_k": spec["n_experts"]}
    layer, x = build(spec)
    out = layer(x)
    flat = x.reshape(-1, spec["d_model"])  # (N, C)
    probs = F.linear(flat, layer.router.gate.weight).softmax(dim=-1)  # (N, E)
    experts = torch.stack(
        [
            expert_activation(flat @ layer.w_in[e]) @ layer.w_out[e]
            for e in range(spec["n_experts"])
        ],
        dim=1,
    )  # (N, E, C)
    expected = (probs.unsqueeze(-1) * experts).sum(dim=1)
    torch.testing.assert_close(
        out.output.reshape(-1, spec["d_model"]), expected, rtol=1e-9, atol=1e-9
    )


@FAST
@given(layer_specs(), st.sampled_from([None, 0.5, 1.0, 1.25]))
def test_dispatch_strategies_agree(spec: dict[str, int], capacity_factor: float | None) -> None:
    outputs = []
    for strategy in STRATEGIES:
        layer, x = build(
            spec, capacity_factor=capacity_factor, dtype=torch.float32, strategy=strategy
        )
        outputs.append(layer(x))
    for other in outputs[1:]:
        torch.testing.assert_close(other.output, outputs[0].output, rtol=1e-4, atol=1e-5)
        assert torch.equal(other.expert_counts, outputs[0].expert_counts)
        assert other.dropped_fraction == outputs[0].dropped_fraction


@FAST
@given(layer_specs(), st.sampled_from([0.25, 0.5, 1.0]))
def test_a_dropped_assignment_contributes_zero(
    spec: dict[str, int], capacity_factor: float
) -> None:
    spec = {**spec, "top_k": 1}
    layer, x = build(spec, capacity_factor=capacity_factor)
    out = layer(x)
    flat = x.reshape(-1, spec["d_model"])
    route = layer.router(flat)
    capacity = expert_capacity(capacity_factor, flat.shape[0], 1, spec["n_experts"])
    kept = plan_dispatch(
        route.expert_index, route.expert_weight, spec["n_experts"], capacity
    ).token_index
    dropped = torch.ones(flat.shape[0], dtype=torch.bool)
    dropped[kept] = False
    assert bool((out.output.reshape(flat.shape)[dropped] == 0).all())
    assert out.dropped_fraction == pytest.approx(float(dropped.float().mean()))
