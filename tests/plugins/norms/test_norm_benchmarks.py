"""The norm benchmarks run on every norm and measure what their concept cards claim."""

from __future__ import annotations

import dataclasses
import math

import pytest

from plugins.norms import (
    BENCHMARKS,
    COMPONENTS,
    BatchNorm,
    LayerNorm,
    MaskedBatchNorm,
    NormAgreement,
    NormPaddingSensitivity,
    NormThroughput,
    NormTrainEvalGap,
    RMSNorm,
    TorchBatchNorm,
)
from suite import Measurement, RunContext
from suite.benchmark import validate_benchmark_class
from suite.registry import Registry

CTX = RunContext(quick=True, warmup=1, repeats=3, budget_s=0.05)
REGISTRY = Registry()
REGISTRY.commit(COMPONENTS, (), owner="plugins.norms")


def _ctx(cls: type) -> RunContext:
    """CTX with the reference the runner would resolve for `cls`."""
    return dataclasses.replace(CTX, reference=REGISTRY.reference_of(cls))


PER_TOKEN = [LayerNorm, RMSNorm]


def _metrics(result: Measurement | dict[str, float]) -> dict[str, float]:
    return result.metrics if isinstance(result, Measurement) else result


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.name)
def test_grids_are_valid_and_not_empty(benchmark: type) -> None:
    assert validate_benchmark_class(benchmark) is None
    assert benchmark().params(quick=True)
    assert benchmark().params(quick=False)


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_every_benchmark_gives_finite_metrics_on_a_small_cell(cls: type) -> None:
    small = {
        NormAgreement: {"mode": "train", "shape": (2, 4, 8), "dtype": "float32"},
        NormPaddingSensitivity: {"mode": "eval", "pad_factor": 2, "shape": (2, 4, 8)},
        NormTrainEvalGap: {"steps": 2, "shape": (2, 4, 8)},
        NormThroughput: {"mode": "train", "shape": (2, 4, 8), "dtype": "float32"},
    }
    for benchmark, params in small.items():
        if not benchmark().applies_to(cls):
            assert benchmark is NormAgreement and cls.reference is None
            continue
        metrics = _metrics(benchmark().run(cls, params, _ctx(cls)))
        assert metrics
        assert all(math.isfinite(v) for v in metrics.values()), (benchmark.name, metrics)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(
    "cls", [BatchNorm, MaskedBatchNorm, LayerNorm, RMSNorm], ids=lambda c: c.name
)
def test_agreement_errors_are_at_float32_rounding_level(cls: type, mode: str) -> None:
    params = {"mode": mode, "shape": (3, 8, 16), "dtype": "float32"}
    metrics = _metrics(NormAgreement().run(cls, params, _ctx(cls)))
    assert metrics["max_abs_error"] < 1e-4
    assert metrics.get("running_stats_max_abs_error", 0.0) < 1e-5


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_padding_moves_plain_batchnorm_only(mode: str) -> None:
    params = {"mode": mode, "pad_factor": 3, "shape": (4, 8, 16)}
    shift = {
        cls: _metrics(NormPaddingSensitivity().run(cls, params, CTX))["padding_shift_max"]
        for cls in [BatchNorm, TorchBatchNorm, MaskedBatchNorm, *PER_TOKEN]
    }
    assert shift[BatchNorm] > 0.1
    assert shift[TorchBatchNorm] == pytest.approx(shift[BatchNorm], rel=1e-3)
    assert shift[MaskedBatchNorm] < 1e-5
    assert all(shift[cls] < 1e-6 for cls in PER_TOKEN)


def test_train_eval_gap_shrinks_with_steps_for_batchnorm_and_is_zero_per_token() -> None:
    gap = {
        steps: _metrics(
            NormTrainEvalGap().run(BatchNorm, {"steps": steps, "shape": (4, 8, 16)}, CTX)
        )
        for steps in (2, 100)
    }
    assert gap[2]["train_eval_gap_max"] > gap[100]["train_eval_gap_max"] > 0
    for cls in PER_TOKEN:
        metrics = _metrics(NormTrainEvalGap().run(cls, {"steps": 5, "shape": (4, 8, 16)}, CTX))
        assert metrics["train_eval_gap_max"] == 0.0


def test_throughput_reports_timing_and_bandwidth() -> None:
    params = {"mode": "eval", "shape": (2, 16, 32), "dtype": "float32"}
    result = NormThroughput().run(RMSNorm, params, CTX)
    assert isinstance(result, Measurement) and result.timing is not None
    seconds = result.timing.median_ms / 1e3
    assert result.metrics["bandwidth_gb_per_s"] == pytest.approx(
        2 * 2 * 16 * 32 * 4 / seconds / 1e9
    )
    assert result.metrics["tokens_per_s"] == pytest.approx(2 * 16 / seconds)
