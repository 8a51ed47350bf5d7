"""The norms plugin registers every component and benchmark, and the modules reject bad inputs."""

from __future__ import annotations

import pytest
import torch

from plugins.norms import COMPONENTS, MaskedBatchNorm
from suite.errors import ComponentInputError
from suite.plugins import PluginHost

FROM_SCRATCH = ["batchnorm", "layernorm", "masked-batchnorm", "rmsnorm"]
REFERENCES = ["torch-batchnorm", "torch-layernorm", "torch-rmsnorm"]


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(["plugins.norms"], entry_points=False).load()


def test_plugin_registers_components_and_benchmarks(host: PluginHost) -> None:
    (record,) = host.records
    assert record.status == "ok", record.error
    names = {cls.name for cls in host.registry.components("norm")}
    assert names == set(FROM_SCRATCH + REFERENCES)
    for cls in host.registry.components("norm"):
        if cls.name in FROM_SCRATCH:
            assert cls.reference in REFERENCES
            host.registry.get("norm", cls.reference)  # the reference resolves
        else:
            assert cls.reference is None
    benchmarks = {cls.name for cls in host.registry.benchmarks("norm")}
    assert benchmarks == {
        "norm-agreement",
        "norm-padding-sensitivity",
        "norm-train-eval-gap",
        "norm-throughput",
    }


@pytest.mark.parametrize(
    "cls", [c for c in COMPONENTS if c.reference is not None], ids=lambda c: c.name
)
def test_concept_cards_ask_and_answer(cls: type) -> None:
    card = cls.concept_card()
    assert "?" in card.splitlines()[0]  # the interview question comes first
    assert "Short answer" in card and "Formula" in card and "Pitfalls" in card


@pytest.mark.parametrize("cls", COMPONENTS, ids=lambda c: c.name)
def test_bad_inputs_raise_component_input_error(cls: type) -> None:
    mod = cls().build(4)
    bad_calls = [
        (torch.randn(3, 4), None),  # not (B, T, C)
        (torch.randn(2, 3, 5), None),  # wrong C
        (torch.randint(0, 3, (2, 3, 4)), None),  # not floating point
        (torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.long)),  # mask not bool
        (torch.randn(2, 3, 4), torch.ones(3, 2, dtype=torch.bool)),  # mask not (B, T)
    ]
    for x, mask in bad_calls:
        with pytest.raises(ComponentInputError):
            mod(x, mask)


def test_masked_batchnorm_needs_two_real_tokens_in_training() -> None:
    mod = MaskedBatchNorm().build(4)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    mask[0, 0] = True
    with pytest.raises(ComponentInputError, match="at least 2 tokens"):
        mod(torch.randn(2, 3, 4), mask)
    mod.eval()  # running statistics need no batch: any mask is fine
    assert mod(torch.randn(2, 3, 4), mask).shape == (2, 3, 4)
