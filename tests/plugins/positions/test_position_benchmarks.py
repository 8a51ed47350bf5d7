"""The position benchmarks run on their quick grids and measure what the cards claim."""

from __future__ import annotations

import dataclasses

import pytest

import suite
from plugins.positions import (
    BENCHMARKS,
    COMPONENTS,
    PositionAgreement,
    PositionExtrapolation,
    PositionOverhead,
)
from suite import Measurement, RunContext
from suite.benchmark import validate_benchmark_class
from suite.registry import Registry

CTX = RunContext(quick=True, warmup=1, repeats=3, budget_s=0.05)
REGISTRY = Registry()
REGISTRY.commit(COMPONENTS, (), owner="plugins.positions")


def _ctx(cls: type) -> RunContext:
    return dataclasses.replace(CTX, reference=REGISTRY.reference_of(cls))


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.name)
def test_grids_are_valid(benchmark: type) -> None:
    assert validate_benchmark_class(benchmark) is None
    assert benchmark().params(quick=True) and benchmark().params(quick=False)


@pytest.mark.parametrize("name", ["rope", "alibi", "sinusoidal"])
def test_agreement_is_float32_close_on_the_quick_grid(name: str) -> None:
    cls = suite.get("position", name)
    for params in PositionAgreement().params(quick=True):
        metrics = PositionAgreement().run(cls, params, _ctx(cls))
        assert isinstance(metrics, dict)
        assert max(metrics.values()) < 1e-4, (params, metrics)


def test_agreement_skips_components_without_reference() -> None:
    assert not PositionAgreement().applies_to(suite.get("position", "learned"))


def test_extrapolation_skips_references_that_a_component_stands_for() -> None:
    applies = {c.name for c in COMPONENTS if PositionExtrapolation().applies_to(c)}
    assert applies == {"sinusoidal", "learned", "rope", "alibi", "none"}


def test_extrapolation_rope_learns_the_task_and_none_does_not() -> None:
    params = PositionExtrapolation().params(quick=True)[0]
    rope_result = PositionExtrapolation().run(suite.get("position", "rope"), params, CTX)
    none_result = PositionExtrapolation().run(suite.get("position", "none"), params, CTX)
    assert isinstance(rope_result, Measurement) and isinstance(none_result, Measurement)
    rope, none = rope_result.metrics, none_result.metrics
    lengths = params["test_lens"]
    [curve] = rope_result.series  # accuracy against the test length, for the report's plot
    assert list(curve.x) == list(lengths)
    assert list(curve.y) == [rope[f"accuracy_at_{n}"] for n in lengths]
    assert set(rope) >= {f"accuracy_at_{n}" for n in lengths}
    assert rope["accuracy_at_64"] > 0.8  # relative offsets: k back is one rotation away
    assert none["accuracy_at_64"] < 0.4  # causal NoPE cannot find k back in so few steps
    assert all(0.0 <= v <= 1.0 for k, v in rope.items() if k.startswith("accuracy"))


def test_overhead_measures_the_layer_and_its_baseline() -> None:
    params = {"seq_len": 32, "d_model": 32, "n_heads": 4, "batch": 1}
    result = PositionOverhead().run(suite.get("position", "alibi"), params, CTX)
    assert isinstance(result, Measurement) and result.timing is not None
    assert result.metrics["none_ms"] > 0
    assert result.metrics["overhead_ratio"] > 0
