"""The loss plugin registers its components and benchmarks, and every benchmark measures them."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
import torch
from torch.autograd.gradcheck import GradcheckError

import plugins.losses as losses
from plugins.losses.benchmarks import INPUT_TASKS, LossAgreement, LossGradcheck, make_inputs
from plugins.losses.benchmarks_tasks import LossImbalanced, LossPreference, LossRetrieval
from plugins.losses.options import VARIANTS, options_for, reference_options_for
from suite import Loss, Measurement, RunContext
from suite.plugins import PluginHost
from suite.registry import Registry

#: The losses loss-agreement and loss-gradcheck apply to (the tasks make_inputs draws for).
MEASURED = [cls for cls in losses.COMPONENTS if cls.task in INPUT_TASKS]

REGISTRY = Registry()
REGISTRY.commit(losses.COMPONENTS, (), owner="plugins.losses")

EXPECTED_COMPONENTS = {
    "cross-entropy",
    "focal",
    "infonce",
    "ranking",
    "torch-cross-entropy",
    "torch-infonce",
    "torch-ranking",
    "fused-linear-cross-entropy",
    "torch-linear-cross-entropy",
}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(["plugins.losses"], entry_points=False).load()


def test_plugin_registers_every_loss_and_benchmark(host: PluginHost) -> None:
    (record,) = host.records
    assert record.status == "ok", record.error
    names = {cls.name for cls in host.registry.components("loss")}
    assert names == EXPECTED_COMPONENTS
    assert {b.name for b in host.registry.benchmarks("loss")} == {
        "loss-agreement",
        "loss-gradcheck",
        "loss-imbalanced",
        "loss-retrieval",
        "loss-preference",
        "loss-lm-head-memory",
    }


def test_every_reference_is_registered_with_the_same_task(host: PluginHost) -> None:
    for cls in host.registry.components("loss"):
        assert cls.__doc__ and cls.summary
        if cls.reference is not None:
            reference = host.registry.get("loss", cls.reference)
            assert reference.task == cls.task and reference.reference is None


def test_focal_agrees_with_its_reference_only_at_gamma_zero() -> None:
    own, ref = reference_options_for(
        losses.FocalLoss, losses.TorchCrossEntropy, {"gamma": 0.5, "alpha": [1, 2]}
    )
    assert own == {"gamma": 0.0, "alpha": None} and ref == {}
    own, ref = reference_options_for(
        losses.CrossEntropy, losses.TorchCrossEntropy, {"label_smoothing": 0.1}
    )
    assert own == ref == {"label_smoothing": 0.1}


def test_option_variants_only_pass_accepted_options() -> None:
    assert set(losses.FocalLoss.accepted_options()) == {"gamma", "alpha"}
    assert set(losses.PairwiseRankingLoss.accepted_options()) == set()
    assert options_for(losses.FocalLoss, "tuned", num_classes=3) == {
        "gamma": 0.5,
        "alpha": [0.5, 1.0, 1.5],
    }
    assert options_for(losses.CrossEntropy, "default") == {}
    with pytest.raises(ValueError, match="unknown option variant"):
        options_for(losses.CrossEntropy, "fancy")


def test_make_inputs_pads_but_keeps_a_real_target() -> None:
    logits, target = make_inputs(
        "classification", 64, 5, torch.Generator().manual_seed(0), ignore_index=-100
    )
    assert logits.shape == (64, 5) and target.shape == (64,)
    assert target[0] != -100 and (target == -100).any()
    with pytest.raises(ValueError, match="unknown loss task"):
        make_inputs("regression", 4, 4, torch.Generator())


@pytest.mark.parametrize("cls", MEASURED, ids=lambda c: c.name)
@pytest.mark.parametrize("variant", VARIANTS)
def test_agreement_is_exact_to_float32_rounding(cls: type[Loss], variant: str) -> None:
    ctx = RunContext(repeats=3, warmup=1, reference=REGISTRY.reference_of(cls))
    out = LossAgreement().run(cls, {"variant": variant, "batch": 64, "width": 16}, ctx)
    assert isinstance(out, Measurement) and out.timing is not None and out.timing.median_ms > 0
    assert out.metrics["closed_form_abs_error"] < 1e-10  # float64 on the first rows
    if cls.reference is not None:
        assert out.metrics["max_abs_error"] < 1e-5
        assert out.metrics["grad_max_abs_error"] < 1e-5
    else:
        assert "max_abs_error" not in out.metrics


@pytest.mark.parametrize("cls", MEASURED, ids=lambda c: c.name)
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradcheck_passes_in_float64(cls: type[Loss], variant: str) -> None:
    out = LossGradcheck().run(cls, {"variant": variant}, RunContext())
    assert out == {
        "gradcheck_passed": 1.0,
        "checked_entries": pytest.approx(out["checked_entries"]),
    }
    assert out["checked_entries"] > 0


class _WrongGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x**2).sum()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * x  # d(x²)/dx is 2x, not x


class BrokenRanking(Loss):
    """A ranking loss with a hand-written, wrong backward: gradcheck must catch it."""

    name: ClassVar[str] = "broken-ranking"
    task: ClassVar[str] = "ranking"

    def forward(self, chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _WrongGradient.apply(chosen - rejected) / chosen.shape[0]


def test_gradcheck_fails_a_wrong_backward() -> None:
    with pytest.raises(GradcheckError):
        LossGradcheck().run(BrokenRanking, {"variant": "default"}, RunContext())


def test_reference_of_resolves_in_the_given_registry() -> None:
    assert REGISTRY.reference_of(losses.FocalLoss) is losses.TorchCrossEntropy
    assert REGISTRY.reference_of(losses.TorchInfoNCE) is None
    assert Registry().reference_of(losses.FocalLoss) is None  # not registered there


def _check_task_metrics(metrics: dict[str, float]) -> None:
    assert all(isinstance(v, float | int) and math.isfinite(v) for v in metrics.values()), metrics
    for name in ("precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics[name])


def test_imbalanced_task_scores_the_rare_class() -> None:
    bench = LossImbalanced()
    assert bench.applies_to(losses.FocalLoss) and not bench.applies_to(losses.InfoNCE)
    params = {"imbalance": 50, "model": "linear", "seeds": 1}
    assert params in bench.params(quick=True)
    measured = bench.run(losses.CrossEntropy, params, RunContext(seed=3))
    ce = measured.metrics
    torch_ce = bench.run(losses.TorchCrossEntropy, params, RunContext(seed=3)).metrics
    roc, pr = measured.series  # the curves behind roc_auc and pr_auc, with the same areas
    assert (roc.plot, pr.plot) == ("roc", "pr")
    assert roc.auc == pytest.approx(ce["roc_auc"]) and pr.auc == pytest.approx(ce["pr_auc"])
    _check_task_metrics(ce)
    # same data and same initial weights: the from-scratch loss trains like the reference
    assert ce["f1"] == pytest.approx(torch_ce["f1"], abs=0.02)
    assert ce["roc_auc"] == pytest.approx(torch_ce["roc_auc"], abs=0.01)
    assert ce["roc_auc"] > 0.7  # the model learned something
    assert ce["accuracy"] > 0.95  # and accuracy says nothing at 1 in 50


def test_retrieval_task_beats_the_raw_inputs() -> None:
    bench = LossRetrieval()
    assert bench.applies_to(losses.InfoNCE) and not bench.applies_to(losses.FocalLoss)
    (params,) = bench.params(quick=True)
    measured = bench.run(losses.InfoNCE, params, RunContext())
    out = measured.metrics
    assert [s.plot for s in measured.series] == ["roc", "pr"]
    assert measured.series[0].auc == pytest.approx(out["roc_auc"])
    _check_task_metrics(out)
    assert out["recall_at_10"] >= out["recall_at_1"] > out["recall_at_1_raw_inputs"] + 0.3
    assert 0.0 <= out["alignment"] <= 4.0 and out["uniformity"] <= 0.0


def test_preference_task_approaches_its_ceiling() -> None:
    bench = LossPreference()
    assert bench.applies_to(losses.PairwiseRankingLoss) and not bench.applies_to(losses.InfoNCE)
    (params,) = bench.params(quick=True)
    out = bench.run(losses.PairwiseRankingLoss, params, RunContext())
    _check_task_metrics(out)
    assert 0.6 < out["pairwise_accuracy"] <= out["true_reward_pairwise_accuracy"] + 0.03
