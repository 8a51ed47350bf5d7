"""The peft benchmarks: what each method trains, what it costs, how well it fine-tunes, what merging buys.

* `peft-parameters`: trainable parameters, their share of the model, Adam's optimiser state in
  bytes (read off the optimiser's own tensors after a step) and the bytes of trainable weights,
  their gradients and that state together; peak memory of a training step on CUDA.
* `peft-finetune`: a small `suite.nn` classifier is pretrained once on one synthetic task,
  then fine-tuned on a related one by each method (the classification head trains in every
  case); accuracy and macro F1 (scikit-learn) on held-out data against the share of
  parameters trained, time per step, and accuracy relative to `full` fine-tuning.
* `peft-rank`: the same fine-tuning for methods with a rank option `r`, over r (α = 2r, so
  the update's scale α/r stays put).
* `peft-merge`: inference time of a mergeable method before and after `merge`, and how far the
  outputs moved.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from plugins.attention.reference import SDPAAttention
from plugins.peft.data import TaskConfig, evaluate, pretrained_classifier, train
from suite import Benchmark, Measurement, RunContext
from suite.errors import SkipCell
from suite.kinds import PEFT, Component
from suite.nn import EncoderConfig, TransformerEncoder

__all__ = ["PeftFinetune", "PeftMerge", "PeftParameters", "PeftRank"]

TASK = TaskConfig(d_model=16, n_heads=2, d_hidden=32, seq_len=12, n_layers=1)
FULL_TASK = TaskConfig(d_model=32, n_heads=4, d_hidden=64, seq_len=16, n_layers=2)
#: Learning rates: the whole network moves with a small one; a few new parameters need a larger.
LR_MOST, LR_FEW = 3e-3, 1e-2
BASELINE = "full"  # the method every other is compared with in peft-finetune


def _encoder(d_model: int, layers: int, device: torch.device) -> TransformerEncoder:
    config = EncoderConfig(
        vocab_size=128,
        max_len=160,
        d_model=d_model,
        n_heads=4,
        n_layers=layers,
        d_hidden=4 * d_model,
    )
    return TransformerEncoder(config, SDPAAttention).to(device)


def _method(cls: type[Component], options: dict[str, Any] | None = None) -> PEFT:
    method = cls(**(options or {}))
    assert isinstance(method, PEFT)
    return method


def _total(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class PeftParameters(Benchmark):
    """Trainable parameters, their share, optimiser-state bytes and training memory, per method."""

    name = "peft-parameters"
    kind = "peft"
    summary = "trainable parameters, share of the model, Adam state bytes, training-state bytes"
    quick_grid: ClassVar[Any] = {"d_model": [64], "layers": [2]}
    full_grid: ClassVar[Any] = {"d_model": [256, 1024], "layers": [4]}
    ratio_metric = "trainable_params"

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        torch.manual_seed(ctx.seed)
        model = _encoder(params["d_model"], params["layers"], ctx.device)
        method = _method(component_cls)
        wrapped = method.apply(model)
        trainable = method.trainable_parameters(wrapped)
        total = _total(wrapped)  # the base's parameters and the method's own
        ids = torch.randint(0, 128, (8, 64), generator=ctx.generator(1)).to(ctx.device)
        optimiser = torch.optim.Adam([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3)

        def step() -> None:
            optimiser.zero_grad(set_to_none=True)
            wrapped(ids).square().mean().backward()
            optimiser.step()

        step()
        state_bytes = sum(
            t.numel() * t.element_size()
            for state in optimiser.state.values()
            for t in state.values()
            if isinstance(t, torch.Tensor) and t.dim() > 0  # the moments; not the step counter
        )
        trainable_tensors = [p for p in wrapped.parameters() if p.requires_grad]
        weight_bytes = sum(p.numel() * p.element_size() for p in trainable_tensors)
        peak = ctx.peak_memory(step) if ctx.device.type == "cuda" else None
        metrics = {
            "trainable_params": float(trainable),
            "total_params": float(total),
            "trainable_share": trainable / total,
            "adam_state_bytes": float(state_bytes),
            "training_state_bytes": float(
                2 * weight_bytes + state_bytes
            ),  # weights, grads, moments
        }
        return Measurement(metrics=metrics, peak_bytes=peak)


def _finetune(
    cls: type[Component], options: dict[str, Any], params: dict[str, Any], ctx: RunContext
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    task = TASK if ctx.quick else FULL_TASK
    model = pretrained_classifier(
        task, SDPAAttention, steps=params["pretrain_steps"], seed=ctx.seed, device=ctx.device
    )
    method = _method(cls, options)
    method.apply(model.encoder)
    model.head.requires_grad_(True)  # a new task's head trains under every method
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = _total(model)  # the base's parameters and the method's own
    lr = LR_MOST if trainable > total / 2 else LR_FEW
    generator = ctx.generator(7)
    step = train(
        model,
        "finetune",
        task,
        steps=params["steps"],
        lr=lr,
        batch=32,
        generator=generator,
        device=ctx.device,
    )
    # Evaluate first: timing `step` trains the model further, by a number of steps that
    # depends on the machine's load, and would make the accuracy vary from run to run.
    predictions, labels = evaluate(model, "finetune", task, 1024, ctx.generator(8), ctx.device)
    timing = ctx.time(step, repeats=5, warmup=1)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, average="macro")),
        "trainable_params": float(trainable),
        "trainable_share": trainable / total,
        "step_ms": timing.median_ms,
    }


_FULL_RESULTS: dict[tuple[object, ...], dict[str, float]] = {}


class PeftFinetune(Benchmark):
    """Pretrain once, fine-tune by each method: accuracy and macro F1 against the share trained."""

    name = "peft-finetune"
    kind = "peft"
    summary = (
        "accuracy and macro F1 after fine-tuning on a related task vs share of parameters trained"
    )
    quick_grid: ClassVar[Any] = {"pretrain_steps": [120], "steps": [80]}
    full_grid: ClassVar[Any] = {"pretrain_steps": [600], "steps": [200, 600]}
    ratio_metric = "accuracy"
    higher_is_better = True

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        metrics = _finetune(component_cls, {}, params, ctx)
        full = self._full(params, ctx, component_cls)
        if full is not None:
            metrics["accuracy_vs_full"] = metrics["accuracy"] / max(full["accuracy"], 1e-9)
            metrics["full_accuracy"] = full["accuracy"]
        return metrics

    def _full(
        self, params: dict[str, Any], ctx: RunContext, cls: type[Component]
    ) -> dict[str, float] | None:
        """`full` fine-tuning's result at the same point (computed once per process)."""
        from suite.plugins import get_host

        try:
            baseline = get_host().registry.get("peft", BASELINE)
        except KeyError:
            return None
        key = (baseline, tuple(sorted(params.items())), ctx.seed, ctx.quick, str(ctx.device))
        if key not in _FULL_RESULTS:
            _FULL_RESULTS[key] = _finetune(baseline, {}, params, ctx)
        return _FULL_RESULTS[key]


class PeftRank(Benchmark):
    """Fine-tuning accuracy over the rank r of a low-rank method (α = 2r)."""

    name = "peft-rank"
    kind = "peft"
    summary = "fine-tuning accuracy and trainable share against the LoRA rank r (alpha = 2r)"
    quick_grid: ClassVar[Any] = {"r": [1, 2, 4], "pretrain_steps": [120], "steps": [80]}
    full_grid: ClassVar[Any] = {"r": [1, 2, 4, 8, 16, 64], "pretrain_steps": [600], "steps": [400]}
    ratio_metric = "accuracy"
    higher_is_better = True

    def applies_to(self, component_cls: type[Component]) -> bool:
        return "r" in component_cls.accepted_options()

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        options: dict[str, Any] = {"r": params["r"]}
        if "alpha" in component_cls.accepted_options():
            options["alpha"] = 2.0 * params["r"]
        return _finetune(component_cls, options, params, ctx)


class PeftMerge(Benchmark):
    """Inference time before and after merging the update into the weights."""

    name = "peft-merge"
    kind = "peft"
    summary = "forward time unmerged vs merged (and the output change merging makes)"
    quick_grid: ClassVar[Any] = {"d_model": [64], "layers": [2], "batch": [8], "seq_len": [64]}
    full_grid: ClassVar[Any] = {
        "d_model": [256, 1024],
        "layers": [4],
        "batch": [1, 32],
        "seq_len": [512],
    }

    def applies_to(self, component_cls: type[Component]) -> bool:
        return bool(getattr(component_cls, "mergeable", False))

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        torch.manual_seed(ctx.seed)
        method = _method(component_cls)
        wrapped = method.apply(_encoder(params["d_model"], params["layers"], ctx.device)).eval()
        with torch.no_grad():  # a trained-looking update, so that merging has something to fold
            for tensor in method.adapter_state(wrapped).values():
                tensor.normal_(0.0, 0.02)
        ids = torch.randint(
            0, 128, (params["batch"], params["seq_len"]), generator=ctx.generator(2)
        ).to(ctx.device)

        def forward() -> torch.Tensor:
            with torch.no_grad():
                return wrapped(ids)

        unmerged_out = forward()
        unmerged = ctx.time(forward)
        method.merge(wrapped)
        merged_out = forward()
        merged = ctx.time(forward)
        if not torch.isfinite(merged_out).all():
            raise SkipCell("merged outputs are not finite")
        metrics = {
            "unmerged_ms": unmerged.median_ms,
            "merged_speedup": unmerged.median_ms / merged.median_ms,
            "merge_max_abs_diff": float((merged_out - unmerged_out).abs().max()),
        }
        return Measurement(metrics=metrics, timing=merged)
