"""The decoding benchmarks run their quick grids on every decoder and measure what they claim."""

from __future__ import annotations

import dataclasses

import pytest

from plugins.decoding import (
    BENCHMARKS,
    COMPONENTS,
    BeamSearch,
    DecodingAgreement,
    DecodingKVCache,
    DecodingSampling,
    DecodingSearchQuality,
    Greedy,
    HFBeam,
    Sample,
)
from suite import RunContext
from suite.benchmark import validate_benchmark_class
from suite.errors import SkipCell
from suite.registry import Registry

CTX = RunContext(quick=True, warmup=0, repeats=1, budget_s=0.05)
REGISTRY = Registry()
REGISTRY.commit(COMPONENTS, (), owner="plugins.decoding")


def _ctx(cls: type) -> RunContext:
    return dataclasses.replace(CTX, reference=REGISTRY.reference_of(cls))


def _run(benchmark: type, cls: type, params: dict) -> dict[str, float]:
    result = benchmark().run(cls, params, _ctx(cls))
    return result if isinstance(result, dict) else result.metrics


def test_benchmarks_are_valid() -> None:
    for cls in BENCHMARKS:
        assert validate_benchmark_class(cls) is None


@pytest.mark.parametrize("cls", [Greedy, BeamSearch], ids=lambda c: c.name)
@pytest.mark.parametrize("eos", [False, True])
def test_agreement_is_exact_for_searches(cls: type, eos: bool) -> None:
    metrics = _run(DecodingAgreement, cls, {"eos": eos, "models": 2})
    assert metrics["token_agreement"] == 1.0
    if cls is BeamSearch:
        assert metrics["score_max_abs_error"] < 1e-4


def test_agreement_of_the_sampler_is_a_small_distance() -> None:
    metrics = _run(DecodingAgreement, Sample, {"eos": False, "models": 1})
    assert metrics["first_token_tv_distance"] < 0.1


def test_beam_beats_greedy_on_the_garden_path_and_equals_it_at_width_one() -> None:
    params = {"model": "garden-path", "new_tokens": 12}
    one = _run(DecodingSearchQuality, BeamSearch, {**params, "width": 1})
    assert one["gain_over_greedy"] == pytest.approx(0.0, abs=1e-9)
    for width in (2, 4, 8):
        wide = _run(DecodingSearchQuality, BeamSearch, {**params, "width": width})
        assert wide["gain_over_greedy"] > 1.0 and wide["beats_greedy_share"] == 1.0


def test_search_quality_skips_widths_a_decoder_does_not_have() -> None:
    with pytest.raises(SkipCell):
        _run(DecodingSearchQuality, Greedy, {"model": "tiny-gpt2", "width": 2, "new_tokens": 4})
    with pytest.raises(SkipCell):
        _run(DecodingSearchQuality, HFBeam, {"model": "garden-path", "width": 2, "new_tokens": 4})


def test_kv_cache_bytes_follow_the_formula_and_gqa_halves_them() -> None:
    params = {"model": "tiny-lm", "lengths": [16, 32], "prompt": 4}
    metrics = _run(DecodingKVCache, Greedy, params)
    assert metrics["cache_bytes"] == metrics["cache_bytes_formula"]
    assert metrics["cache_bytes_without_gqa"] == 2 * metrics["cache_bytes"]
    assert metrics["cached_ms_per_token"] > 0 and metrics["uncached_ms_per_token"] > 0
    with pytest.raises(SkipCell):
        _run(DecodingKVCache, HFBeam, params)


def test_sampling_entropy_grows_with_temperature_and_top_p() -> None:
    def entropy(**params: float) -> float:
        return _run(DecodingSampling, Sample, params)["token_entropy_nats"]

    assert entropy(temperature=0.5, top_p=1.0) < entropy(temperature=2.0, top_p=1.0)
    assert entropy(temperature=1.0, top_p=0.3) < entropy(temperature=1.0, top_p=1.0)
    assert not DecodingSampling().applies_to(Greedy)
