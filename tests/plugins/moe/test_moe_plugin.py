"""Registration, the dense reference, shared experts, the task, and every benchmark at toy size."""

from __future__ import annotations

import math

import pytest
import torch

import suite
from plugins.moe import DenseFFN, TopKMoE
from plugins.moe.benchmarks import (
    coefficient_of_variation,
    least_layer,
    least_routing,
    throughput_floors,
)
from plugins.moe.data import ClusterTaskConfig, make_cluster_task
from plugins.moe.reference import expert_activation
from suite.plugins import PluginHost


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(["plugins.moe"], entry_points=False).load()


def test_plugin_registers_components_and_benchmarks(host: PluginHost) -> None:
    (record,) = host.records
    assert record.status == "ok", record.error
    assert [cls.name for cls in host.registry.components("moe")] == ["dense-ffn", "topk"]
    assert suite.get("moe", "topk").reference == "dense-ffn"
    names = {b.name for b in host.registry.benchmarks("moe")}
    assert names == {"moe-throughput", "moe-load-balance", "moe-capacity", "moe-cluster-accuracy"}
    for cls in host.registry.components("moe"):
        assert "Interview question" in cls.concept_card()


def test_dense_reference_has_the_active_size_of_the_moe_and_routes_nothing() -> None:
    d_model, d_hidden, n_experts, top_k = 16, 8, 4, 2
    dense = DenseFFN().build(d_model, d_hidden, n_experts, top_k, capacity_factor=1.0)
    moe = TopKMoE().build(d_model, d_hidden, n_experts, top_k)
    dense_params = sum(p.numel() for p in dense.parameters())
    expert_params = moe.w_in[0].numel() + moe.w_out[0].numel()
    assert dense_params == top_k * expert_params  # equal active (expert) parameters
    out = dense(torch.randn(2, 5, d_model))
    assert out.output.shape == (2, 5, d_model)
    assert out.aux_loss.item() == 0.0 and out.dropped_fraction == 0.0
    assert torch.equal(out.expert_counts, torch.zeros(n_experts, dtype=torch.long))


def test_shared_experts_see_every_token() -> None:
    torch.manual_seed(0)
    layer = TopKMoE(n_shared_experts=1).build(8, 8, 4, 1, capacity_factor=0.01)
    x = torch.randn(1, 64, 8)
    out = layer(x)
    assert out.dropped_fraction > 0
    expected_shared = layer.shared(x).output
    # tokens dropped by every routed expert still get the shared expert's output
    routed_part = out.output - expected_shared
    dropped_rows = routed_part.abs().sum(-1) == 0
    assert bool(dropped_rows.any())
    torch.testing.assert_close(out.output[dropped_rows], expected_shared[dropped_rows])


def test_cluster_task_is_seeded_and_balanced_enough() -> None:
    config = ClusterTaskConfig(n_train=512, n_test=256)
    first = make_cluster_task(config, torch.Generator().manual_seed(5))
    second = make_cluster_task(config, torch.Generator().manual_seed(5))
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    assert first.x_train.shape == (512, config.d_input)
    assert len(first.y_train.unique()) == config.n_classes


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation(torch.tensor([5, 5, 5, 5])) == 0.0
    assert coefficient_of_variation(torch.tensor([0, 0, 0, 0])) == 0.0
    assert coefficient_of_variation(torch.tensor([2, 0])) == pytest.approx(1.0)


TOY_PARAMS = {
    "moe-throughput": {
        "tokens": 64,
        "n_experts": 4,
        "top_k": 2,
        "d_model": 16,
        "d_hidden": 16,
        "dtype": "float32",
    },
    "moe-load-balance": {"balance_loss": True, "steps": 3},
    "moe-capacity": {"capacity_factor": 1.0, "tokens": 256},
    "moe-cluster-accuracy": {"n_clusters": 4, "steps": 3},
}


@pytest.mark.parametrize("benchmark_name", sorted(TOY_PARAMS))
def test_every_benchmark_runs_at_toy_size(host: PluginHost, benchmark_name: str) -> None:
    (bench_cls,) = [b for b in host.registry.benchmarks("moe") if b.name == benchmark_name]
    bench = bench_cls()
    ctx = suite.RunContext(quick=True, repeats=3, warmup=1, budget_s=0.2)
    ran = 0
    for cls in host.registry.components("moe"):
        if not bench.applies_to(cls):
            continue
        result = bench.run(cls, TOY_PARAMS[benchmark_name], ctx)
        metrics = result if isinstance(result, dict) else result.metrics
        assert metrics and all(math.isfinite(v) for v in metrics.values())
        ran += 1
    assert ran >= 1
    assert bench.applies_to(TopKMoE)
    assert bench.params(quick=True)


def test_throughput_pairs_the_layer_with_its_reference(host: PluginHost) -> None:
    """A routed layer is timed in alternating rounds with its reference (the core's
    `time_paired`): the paired ratio, its interval, and the summary saying what it is."""
    (bench_cls,) = [b for b in host.registry.benchmarks("moe") if b.name == "moe-throughput"]
    ctx = suite.RunContext(quick=True, repeats=3, warmup=1, budget_s=0.2, reference=DenseFFN)
    measurement = bench_cls().run(TopKMoE, TOY_PARAMS["moe-throughput"], ctx)
    metrics = measurement.metrics
    assert (
        metrics["paired_ratio_ci_low"] <= metrics["paired_ratio"] <= metrics["paired_ratio_ci_high"]
    )
    assert measurement.timing is not None and measurement.timing.repeats >= 3
    assert "paired_ratio" in bench_cls.summary and "alternating rounds" in bench_cls.summary
    floors = ("even_experts_ratio", "least_routing_ratio", "least_layer_ratio")
    assert all(metrics[name] > 0 for name in floors)
    alone = bench_cls().run(DenseFFN, TOY_PARAMS["moe-throughput"], suite.RunContext(repeats=3))
    assert "paired_ratio" not in alone.metrics  # the reference itself: timed alone
    assert "even_experts_ratio" not in alone.metrics


def test_throughputthroughput_floors_do_the_work_they_stand_for() -> None:
    """The expert floor runs N·k rows through expert FFNs drawn at the layers' scale; the
    routing floor brings each token's row back once per choice, weighted by its top-k
    probabilities: x scaled by their sum, between 0 and 1 per token."""
    tokens, d_model, d_hidden, n_experts, top_k = 64, 16, 32, 4, 2
    floors = throughput_floors(
        tokens,
        d_model,
        d_hidden,
        n_experts,
        top_k,
        dtype=torch.float64,
        device=torch.device("cpu"),
        seed=0,
    )
    hidden = floors["even_experts_ratio"]()
    assert hidden.shape == (n_experts, tokens * top_k // n_experts, d_model)
    assert 0.3 < float(hidden.std()) < 3  # unit-scale activations, not std ~ sqrt(fan_in)
    assert floors["least_routing_ratio"]().shape == (tokens, d_model)
    assert floors["least_layer_ratio"]().shape == (tokens, d_model)
    x, gate = torch.randn(tokens, d_model, dtype=torch.float64), torch.randn(n_experts, d_model)
    top_probs = (x @ gate.double().T).softmax(dim=-1).topk(top_k, dim=-1).values
    expected = x * top_probs.sum(dim=-1, keepdim=True)
    torch.testing.assert_close(least_routing(x, gate, top_k), expected)


def test_least_layer_is_the_routing_with_the_expert_ffns_on_its_sorted_slices() -> None:
    """With one expert the floor is a top-1 layer exactly: every token through the one FFN at
    weight 1. With several, the sorted assignments are cut into E equal slices, the last
    padded with token 0 at weight 0 (which adds nothing)."""
    gen = torch.Generator().manual_seed(0)
    tokens, d_model, d_hidden = 12, 8, 16
    x = torch.randn(tokens, d_model, generator=gen, dtype=torch.float64)
    w_in = torch.randn(1, d_model, d_hidden, generator=gen, dtype=torch.float64)
    w_out = torch.randn(1, d_hidden, d_model, generator=gen, dtype=torch.float64)
    gate = torch.randn(1, d_model, generator=gen, dtype=torch.float64)
    expected = expert_activation(x @ w_in[0]) @ w_out[0]
    torch.testing.assert_close(least_layer(x, gate, w_in, w_out, top_k=1), expected)

    n_experts, top_k = 5, 2  # 24 assignments in 5 slices of 5 rows: one row of padding
    w_in = torch.randn(n_experts, d_model, d_hidden, generator=gen, dtype=torch.float64)
    w_out = torch.randn(n_experts, d_hidden, d_model, generator=gen, dtype=torch.float64)
    gate = torch.randn(n_experts, d_model, generator=gen, dtype=torch.float64)
    weight, expert = (x @ gate.T).softmax(dim=-1).topk(top_k, dim=-1)
    order = expert.flatten().argsort()
    expected = torch.zeros_like(x)
    for place, assignment in enumerate(order.tolist()):
        token, slice_expert = assignment // top_k, place // 5
        ffn = expert_activation(x[token] @ w_in[slice_expert]) @ w_out[slice_expert]
        expected[token] += weight.flatten()[assignment] * ffn
    torch.testing.assert_close(least_layer(x, gate, w_in, w_out, top_k), expected)
