"""Test the tests: each deliberately broken implementation is caught by the property meant for it.

The broken classes live in tests/kit/broken/, each module mapping class -> property id in
`EXPECTED`; they are loaded the way `nlpsuite check FILE` loads a user's file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import suite
from suite.testing import check_component, load_target
from suite.testing.kit import make_subject
from suite.testing.properties._base import get_property

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken").glob("*_impls.py"))


def _expected() -> list[tuple[type, str, str]]:
    cases = []
    for path in BROKEN:
        module_name = f"kit_broken_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        cases += [(cls, prop, str(path)) for cls, prop in module.EXPECTED.items()]
    return cases


CASES = _expected()
#: words the failing sentence must contain, so that it names what broke
MESSAGES = {
    "broken-missing-scale": "scaled by 1 (no scaling)",
    "broken-causal-leak": "future token leaked into position",
    "broken-ignores-padding": "padding keys",
    "broken-nan-rows": "NaN",
    "broken-tiled-heads": "must read key/value head",
    "broken-batchnorm-eval-batch-stats": "eval must use the running statistics",
    "broken-batchnorm-biased-running-var": "unbiased batch variance",
    "broken-focal-sign": "easy examples must be down-weighted",
    "broken-ce-sum": "sums over the batch",
    "broken-ce-naive-softmax": "compute in log space",
    "broken-focal-expm1-pow": "gradient entries of input 0 are NaN/inf",
    "broken-moe-drops": "no token may be dropped",
    "broken-moe-counts": "expert_counts sum to",
    "broken-moe-detached-aux": "detached",
    "broken-tok-unk-out-of-range": "outside range(vocab_size",
    "broken-tok-overfull": "but has",
    "broken-tok-random-ties": "trained on the same corpus",
    "broken-tok-lossy-save": "after save/load",
    "broken-tok-false-lossless": "decode(encode(s)) != s",
    "broken-lora-random-b": "must compute what the base does",
    "broken-lora-unfrozen": "declared formula",
    "broken-lora-merge-unscaled": "merged outputs differ",
    "broken-beam-prompt-length-penalty": "sequence_scores differ",
    "broken-greedy-dropped-cache": "KV cache gives other tokens",
    "broken-sample-global-rng": "seeded alike",
    "broken-sample-short-nucleus": "that the filters keep were never drawn",
}


@pytest.mark.parametrize(
    ("cls", "property_id", "path"), CASES, ids=[f"{c.name}->{p}" for c, p, _ in CASES]
)
def test_broken_implementation_is_caught_by_its_property(
    cls: type, property_id: str, path: str
) -> None:
    report = check_component(cls, only=[property_id], timing=False, target=path)
    result = report.result(property_id)
    assert result.status == "failed", f"{cls.name}: {property_id} should fail, got {result.status}"
    assert MESSAGES[cls.name] in result.message, result.message
    assert result.example is not None and result.reproduction.startswith("nlpsuite check ")


def test_every_broken_class_has_an_expected_property() -> None:
    found = {cls.name for path in BROKEN for cls in load_target(str(path)).components}
    control = {"kit-gather-moe"}  # the bug-free twin of the broken MoE layers
    assert found - control == set(MESSAGES)


@pytest.mark.parametrize(
    ("cls", "property_id", "path"), CASES[:3], ids=[c.name for c, _, _ in CASES[:3]]
)
def test_failing_example_replays(cls: type, property_id: str, path: str) -> None:
    failed = check_component(cls, only=[property_id], timing=False).result(property_id)
    replay = check_component(cls, only=[property_id], timing=False, example=failed.example).result(
        property_id
    )
    assert replay.status == "failed" and replay.message == failed.message


def test_replay_from_python_matches_the_shell_reproduction() -> None:
    from suite.testing.reproduce import replay

    example = {
        "batch": 1,
        "heads": 1,
        "kv_heads": 1,
        "tq": 2,
        "tk": 2,
        "head_dim": 4,
        "causal": True,
        "mask": None,
        "magnitude": 0.5,
        "seed": 0,
        "pivot": 0,
    }
    results = {
        r.message.split(":")[0]: r.status
        for r in replay(
            str(HERE / "broken" / "attention_impls.py"), "attention.causal-no-leak", example
        )
    }
    assert results["future token leaked into position 0"] == "failed"


def test_default_check_runs_the_numerical_edge_cases_whatever_hypothesis_draws() -> None:
    """The focal loss written `(-expm1(logp_t))**γ · logp_t` is NaN-free almost everywhere;
    the default check fails it through its explicit edge case (gap 50, γ < 1), even with as
    few generated examples as the kit allows, and the built-in focal loss passes that case."""
    (cls,) = [c for c, _, _ in CASES if c.name == "broken-focal-expm1-pow"]
    report = check_component(cls, max_examples=1, timing=False)
    result = report.result("loss.finite-gradients")
    assert result.status == "failed" and "NaN/inf" in result.message
    assert result.example is not None
    assert result.example["gap"] == 50.0 and result.example["options"] == {"gamma": 0.5}

    edge_cases = get_property("loss.finite-gradients").explicit(make_subject(cls))
    assert {ex.get("gap") for ex in edge_cases} >= {50.0, -50.0}
    assert {ex["scale"] for ex in edge_cases} >= {1e-4, 1e3}
    focal = check_component(
        suite.get("loss", "focal"), only=["loss.finite-gradients"], timing=False
    )
    assert focal.result("loss.finite-gradients").status == "passed"
