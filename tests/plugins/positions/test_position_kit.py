"""The kit on positional encodings: built-ins and a differently written RoPE pass, each
deliberately broken encoding is caught by the property meant for it, with a sentence naming
what broke and a replayable example; attention honours `attn_bias` as the kit demands."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

import suite
from suite.errors import ComponentInputError
from suite.testing import check_component, load_target

HERE = Path(__file__).parent
BROKEN = load_target(str(HERE / "broken_impls.py")).components
BROKEN_MODULE = __import__("sys").modules[BROKEN[0].__module__]
CASES = [(cls, *BROKEN_MODULE.EXPECTED[cls]) for cls in BROKEN]


def test_every_broken_encoding_is_expected() -> None:
    assert {cls.name for cls in BROKEN} == {cls.name for cls in BROKEN_MODULE.EXPECTED}


@pytest.mark.parametrize(("cls", "property_id", "words"), CASES, ids=[c.name for c, _, _ in CASES])
def test_broken_encoding_is_caught(cls: type, property_id: str, words: str) -> None:
    result = check_component(cls, only=[property_id], timing=False, max_examples=25).result(
        property_id
    )
    assert result.status == "failed", f"{cls.name}: {property_id} gave {result.status}"
    assert words in result.message, result.message
    assert result.example is not None and result.reproduction.startswith("nlpsuite check ")


def test_interleaved_rope_is_still_relative() -> None:
    """The GPT-J convention is a valid RoPE: only agreement with the rotate-half reference fails."""
    cls = next(c for c in BROKEN if c.name == "broken-rope-interleaved")
    report = check_component(
        cls,
        only=["position.relative-scores", "position.rotation-norms"],
        timing=False,
        max_examples=10,
    )
    assert report.ok, [(r.property_id, r.message) for r in report.results]


@pytest.mark.parametrize("name", ["sinusoidal", "learned", "rope", "alibi", "none"])
def test_builtin_passes_every_property(name: str) -> None:
    report = check_component(suite.get("position", name), max_examples=10, timing=False)
    assert report.ok, [(r.property_id, r.message) for r in report.results if not r.ok]
    passed = {r.property_id for r in report.results if r.status == "passed"}
    assert {"position.declared-entry-point", "position.order-sensitivity"} <= passed


class _IgnoresBias(suite.Attention):
    name = "kit-ignores-bias"
    summary = "declares supports_bias and drops it"
    reference = "sdpa"
    supports_bias = True

    def forward(self, q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False,
                key_padding_mask: Tensor | None = None, attn_bias: Tensor | None = None) -> Tensor:  # fmt: skip
        return suite.get("attention", "sdpa")()(
            q, k, v, causal=causal, key_padding_mask=key_padding_mask
        )


def test_attention_that_ignores_its_bias_is_caught() -> None:
    result = check_component(
        _IgnoresBias, only=["attention.bias-agreement"], timing=False, max_examples=25
    ).result("attention.bias-agreement")
    assert result.status == "failed"
    assert "attn_bias is ignored" in result.message


@pytest.mark.parametrize("name", ["naive", "flash", "sdpa", "sliding-window", "strided", "bigbird"])
def test_exact_attention_declares_and_honours_bias(name: str) -> None:
    cls = suite.get("attention", name)
    assert cls.supports_bias and cls.exact
    result = check_component(
        cls, only=["attention.bias-agreement"], timing=False, max_examples=10
    ).result("attention.bias-agreement")
    assert result.status == "passed", result.message


def test_linear_attention_refuses_a_bias_clearly() -> None:
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ComponentInputError, match="takes no attn_bias"):
        suite.get("attention", "linear")()(q, q, q, attn_bias=torch.zeros(4, 4))
