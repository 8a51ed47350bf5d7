"""`attention-flex-backend`: which components it measures, its skip reasons, and a real compiled run (slow)."""

from __future__ import annotations

import pytest
import torch

import suite
from plugins.attention import benchmarks_backend as backend_benchmark
from plugins.attention.benchmarks_backend import AttentionFlexBackend
from plugins.attention.bigbird import BigBirdAttention
from plugins.attention.reference import SDPAAttention
from plugins.attention.sliding_window import SlidingWindowAttention
from suite.errors import SkipCell

SMALL = {"seq_len": 256, "batch": 1, "heads": 2, "head_dim": 16, "dtype": "float32"}


def test_measures_only_the_sparse_components() -> None:
    bench = AttentionFlexBackend()
    assert bench.applies_to(SlidingWindowAttention) and bench.applies_to(BigBirdAttention)
    assert not bench.applies_to(SDPAAttention)


def test_skips_without_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_benchmark, "_has_cxx_compiler", lambda: False)
    with pytest.raises(SkipCell, match="C\\+\\+ compiler"):
        AttentionFlexBackend().run(SlidingWindowAttention, dict(SMALL), suite.RunContext())


def test_reduced_precision_is_left_to_cuda() -> None:
    with pytest.raises(SkipCell, match="CUDA only"):
        AttentionFlexBackend().run(
            SlidingWindowAttention, {**SMALL, "dtype": "bfloat16"}, suite.RunContext()
        )


@pytest.mark.slow
def test_compiled_flex_agrees_with_gathering_and_is_timed() -> None:
    if not backend_benchmark._has_cxx_compiler():
        pytest.skip("no C++ compiler for torch.compile on CPU")
    ctx = suite.RunContext(repeats=3, warmup=1)
    metrics = AttentionFlexBackend().run(SlidingWindowAttention, dict(SMALL), ctx).metrics
    assert metrics["max_abs_difference"] < 1e-4
    assert metrics["gather_ms"] > 0 and metrics["flex_compiled_ms"] > 0
    assert metrics["flex_speedup"] == pytest.approx(
        metrics["gather_ms"] / metrics["flex_compiled_ms"]
    )
    assert torch.isfinite(torch.tensor(metrics["flex_first_call_s"]))
