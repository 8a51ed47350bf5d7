"""Third-party components get what built-ins of their kind get, from their declarations alone.

The components live in `thirdparty_impls.py` under names no built-in uses: a closed form found
by name would miss them, a reference looked up in the process-wide host instead of the run's
registry would miss theirs, and input checks written inside the built-ins would not protect them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import plugins.attention as attention_plugin
import plugins.losses as loss_plugin
import plugins.norms as norm_plugin
from plugins.attention.benchmarks import AttentionAgreement, attention_flops
from plugins.losses.benchmarks import LossAgreement
from plugins.norms.benchmarks import NormAgreement
from suite.benchmark import RunContext
from suite.errors import ComponentInputError, OptionError
from suite.kinds import check_options
from suite.registry import Registry
from suite.runner import RunConfig, build_matrix, run_cell
from suite.testing import check_component

EXAMPLES = 6
_SPEC = importlib.util.spec_from_file_location(
    "thirdparty_impls", Path(__file__).parent / "thirdparty_impls.py"
)
assert _SPEC is not None and _SPEC.loader is not None
tp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tp)


def _registry(*components: type, benchmarks: tuple[type, ...] = ()) -> Registry:
    registry = Registry()
    registry.commit(components, benchmarks, owner="test")
    return registry


def _status(cls: type, property_id: str, registry: Registry | None = None) -> tuple[str, str]:
    report = check_component(
        cls,
        max_examples=EXAMPLES,
        only=[property_id],
        timing=False,
        registry=registry or Registry(),
    )
    result = report.result(property_id)
    return result.status, result.message


# --------------------------------------------------------------------------- closed forms


def test_a_declared_norm_is_checked_against_its_closed_form() -> None:
    assert _status(tp.TokenStandardiser, "norm.reference-agreement")[0] == "passed"
    assert _status(tp.TokenStandardiser, "norm.train-eval")[0] == "passed"


def test_the_norm_closed_form_catches_a_wrong_declared_norm() -> None:
    status, message = _status(tp.UncentredStandardiser, "norm.reference-agreement")
    assert status == "failed" and "centred feature-statistics closed form" in message


def test_a_declared_loss_is_checked_against_its_closed_form_under_drawn_options() -> None:
    assert _status(tp.PolyLoss, "loss.closed-form")[0] == "passed"
    status, message = _status(tp.OffByEpsilonPoly, "loss.closed-form")
    assert status == "failed" and "closed form of tp-poly-loss-wrong-sign" in message
    assert "epsilon" in message  # the option drawn from the declared choices


def test_a_loss_gets_its_reference_s_closed_form_and_opt_in_properties() -> None:
    registry = _registry(*loss_plugin.COMPONENTS)

    class MyFocal(loss_plugin.FocalLoss):  # a subclass under another name, nothing declared
        name = "tp-my-focal"
        reference = "focal"
        promises = ()

    assert _status(MyFocal, "loss.closed-form", registry)[0] == "passed"
    assert _status(MyFocal, "loss.focal-modulation", registry)[0] == "passed"
    assert _status(MyFocal, "loss.focal-modulation", Registry())[0] == "skipped"


def test_attention_agreement_and_flops_come_from_the_declared_pattern() -> None:
    report = check_component(tp.BandAttention, max_examples=EXAMPLES, timing=False)
    assert report.ok, [(r.property_id, r.message) for r in report.results if not r.ok]
    att = tp.BandAttention(radius=2)
    band = attention_flops(att, 64, 64, batch=1, heads=1, head_dim=8, causal=False)
    assert band == 4 * 8 * int(att.pattern(64, 64).sum()) < 4 * 8 * 64 * 64


# --------------------------------------------------------------------------- benchmarks


def test_the_runner_hands_each_cell_the_reference_from_its_own_registry() -> None:
    class Standardiser(tp.TokenStandardiser):
        name = "tp-standardiser-vs-torch"
        reference = "torch-layernorm"

    registry = _registry(*norm_plugin.COMPONENTS, Standardiser, benchmarks=(NormAgreement,))
    cells = build_matrix(registry, RunConfig(components=["tp-standardiser-vs-torch"], quick=True))
    assert cells and all(cell.reference is norm_plugin.TorchLayerNorm for cell in cells)
    row = run_cell(cells[0], RunContext(quick=True))
    assert row["status"] == "ok", row["error"]
    assert row["metrics"]["max_abs_error"] < 1e-4


def test_loss_and_attention_benchmarks_measure_third_parties_like_built_ins() -> None:
    registry = _registry(
        *loss_plugin.COMPONENTS,
        *attention_plugin.COMPONENTS,
        tp.PolyLoss,
        tp.BandAttention,
        benchmarks=(LossAgreement, AttentionAgreement),
    )
    config = RunConfig(components=["tp-poly-loss", "tp-band-attention"], quick=True)
    rows = {
        (cell.component.name, cell.benchmark.name): run_cell(
            cell, RunContext(quick=True, repeats=3, warmup=1, budget_s=0.1)
        )
        for cell in build_matrix(registry, config)
    }
    poly = rows[("tp-poly-loss", "loss-agreement")]
    assert poly["status"] == "ok" and poly["metrics"]["closed_form_abs_error"] < 1e-10
    band = rows[("tp-band-attention", "attention-agreement")]
    assert band["status"] == "ok" and band["metrics"]["max_abs_error"] < 1e-4
    assert band["metrics"]["pattern_density"] < 1.0


# --------------------------------------------------------------------------- input checks and options


def test_base_classes_check_the_inputs_of_components_that_do_not() -> None:
    norm = tp.TokenStandardiser().build(8)
    with pytest.raises(ComponentInputError, match="3-D"):
        norm(torch.randn(4, 8))
    with pytest.raises(ComponentInputError, match="built for 8"):
        norm(torch.randn(2, 3, 5))
    with pytest.raises(ComponentInputError, match="mask must be bool"):
        norm(torch.randn(2, 3, 8), torch.ones(2, 3))
    loss = tp.PolyLoss()
    with pytest.raises(ComponentInputError, match=r"target ids must be in \[0, 3\)"):
        loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ComponentInputError, match="floating point"):
        loss(torch.ones(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    moe = tp.OneExpert().build(8, 16, 4, 2)
    with pytest.raises(ComponentInputError, match=r"x must be \(B, T, 8\)"):
        moe(torch.randn(2, 3, 5))
    with pytest.raises(ComponentInputError, match="top_k"):
        tp.OneExpert().build(8, 16, 2, 3)


def test_unknown_options_are_named_with_the_accepted_ones() -> None:
    assert tp.PolyLoss.accepted_options() == {"epsilon": 1.0}
    assert check_options(tp.BandAttention, {"radius": 2}) == {"radius": 2}
    with pytest.raises(OptionError, match=r"no option 'window'; it accepts: radius"):
        check_options(tp.BandAttention, {"window": 2})
    with pytest.raises(OptionError, match="it accepts: none"):
        check_options(attention_plugin.SDPAAttention, {"window": 2})
