"""The generated ListOps task, and every attention benchmark run end to end at toy sizes."""

from __future__ import annotations

import pytest
import torch

import suite
from plugins.attention import COMPONENTS
from plugins.attention.benchmarks import (
    AttentionAgreement,
    AttentionLatency,
    AttentionListOps,
    AttentionScaling,
    attention_flops,
    make_attention,
)
from plugins.attention.data import VOCAB, generate_listops, tokenize
from plugins.attention.reference import SDPAAttention
from plugins.attention.sliding_window import SlidingWindowAttention


def _evaluate(tokens: list[str]) -> int:
    """An independent evaluator: a stack machine over the token list."""
    stack: list[list] = []
    for token in tokens:
        if token.startswith("["):
            stack.append([token[1:]])
        elif token == "]":
            op, *args = stack.pop()
            value = {
                "MIN": min(args),
                "MAX": max(args),
                "MED": sorted(args)[(len(args) - 1) // 2],
                "SM": sum(args) % 10,
            }[op]
            if not stack:
                return value
            stack[-1].append(value)
        else:
            if not stack:
                return int(token)
            stack[-1].append(int(token))
    raise AssertionError("unbalanced expression")


def test_listops_is_seeded_bounded_and_labelled_right() -> None:
    data = generate_listops(200, seed=5, min_len=10, max_len=40)
    assert data == generate_listops(200, seed=5, min_len=10, max_len=40)
    assert data != generate_listops(200, seed=6, min_len=10, max_len=40)
    for tokens, value in data:
        assert 10 <= len(tokens) <= 40
        assert _evaluate(tokens) == value
    ids, mask, labels = tokenize(data, 40)
    assert ids.shape == (200, 40) and mask.sum().item() == sum(len(t) for t, _ in data)
    assert int(ids.max()) < len(VOCAB) and set(labels.tolist()) <= set(range(10))


def test_make_attention_passes_only_accepted_options() -> None:
    att = make_attention(SlidingWindowAttention, {"window": 3, "stride": 9, "n_global": 1})
    assert att.window == 3
    assert isinstance(make_attention(SDPAAttention, {"window": 3}), SDPAAttention)


def test_flops_count_only_attended_pairs() -> None:
    dense = attention_flops(SDPAAttention(), 256, 256, batch=1, heads=1, head_dim=8, causal=False)
    band = attention_flops(
        SlidingWindowAttention(window=4, block_size=16),
        256,
        256,
        batch=1,
        heads=1,
        head_dim=8,
        causal=False,
    )
    assert dense == 4 * 256 * 256 * 8
    assert band == 4 * 8 * sum(min(i + 4, 255) - max(i - 4, 0) + 1 for i in range(256))


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_benchmarks_run_at_toy_sizes(cls) -> None:
    ctx = suite.RunContext(quick=True, warmup=0, repeats=1, budget_s=0.1)
    agreement = AttentionAgreement().run(
        cls, {"seq_len": 40, "dtype": "float32", "causal": True}, ctx
    )
    assert (agreement["max_abs_error"] < 1e-4) is cls.exact
    latency = AttentionLatency().run(
        cls, {"seq_len": 128, "dtype": "float32", "causal": False, "batch": 1, "heads": 2}, ctx
    )
    assert latency.timing is not None and latency.metrics["tflops"] > 0
    measured = AttentionScaling().run(
        cls,
        {"seq_lens": [128, 256], "batch": 1, "heads": 1, "head_dim": 16, "dtype": "float32"},
        ctx,
    )
    scaling = measured.metrics
    (curve,) = measured.series  # time against T, drawn on log-log axes
    assert curve.plot == "loglog" and curve.x == [128.0, 256.0]
    assert curve.y == [scaling["time_ms_t128"], scaling["time_ms_t256"]]
    assert set(scaling) >= {"time_ms_t128", "time_ms_t256", "growth_exponent", "growth_ratio"}
    assert scaling["growth_ratio"] == pytest.approx(
        scaling["time_ms_t256"] / scaling["time_ms_t128"]
    )


def test_listops_benchmark_scores_with_classification_report() -> None:
    params = {
        "max_len": 24,
        "min_len": 8,
        "n_train": 64,
        "n_test": 64,
        "steps": 5,
        "d_model": 16,
        "n_heads": 2,
    }
    measured = AttentionListOps().run(SlidingWindowAttention, params, suite.RunContext(seed=1))
    metrics = measured.metrics
    again = AttentionListOps().run(SlidingWindowAttention, params, suite.RunContext(seed=1)).metrics
    (loss_curve,) = measured.series  # the training loss of every step
    assert loss_curve.x == [1.0, 2.0, 3.0, 4.0, 5.0] and loss_curve.y[-1] == pytest.approx(
        metrics["final_train_loss"]
    )
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["f1_macro"] <= 1.0
    assert metrics["accuracy"] == again["accuracy"]  # seeded: same data, same init, same result
    assert torch.get_num_threads() >= 1
