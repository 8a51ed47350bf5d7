"""Correctness benchmarks of the losses: agreement with the reference and the closed form, gradcheck.

* `loss-agreement`: the same random inputs through the loss, its reference (under the options
  where they must agree: focal only at gamma=0, no alpha) and its NumPy closed form (under the
  options asked for); value and input-gradient differences, plus forward+backward time (on a
  CPU in the quick grid with one intra-op thread, see `suite.threads`). This is the losses'
  throughput cell: a loss with a reference is timed in alternating rounds with it
  (`paired_ratio`), and only once its value and gradients are finite and the value agrees with
  the reference's at a loose tolerance; a wrong loss is an error row, never a fast one. Where
  `compiles` says so, the loss built with `compile=True` is timed against the reference in the
  same cell (`compiled_paired_ratio`, `compile_time_s`), once its value and gradients equal the
  eager loss's.
* `loss-gradcheck`: `torch.autograd.gradcheck` in float64 on small inputs: the analytic
  gradient against central finite differences. A mismatch fails the cell with gradcheck's message.

Inputs are drawn from the run seed, so every loss of a task sees the same tensors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.losses.data import lm_head_inputs
from plugins.losses.options import (
    VARIANTS,
    as_loss_class,
    option_default,
    options_for,
    reference_options_for,
)
from suite.benchmark import Benchmark, Measurement, RunContext, check_output
from suite.compiled import compile_unavailable_reason, compiled_paired_metrics
from suite.errors import SkipCell
from suite.kinds import Component, Loss
from suite.threads import single_thread

__all__ = ["INPUT_TASKS", "LossAgreement", "LossGradcheck", "make_inputs"]
#: The loss tasks `make_inputs` draws inputs for; these benchmarks apply to losses of these only.
INPUT_TASKS: tuple[str, ...] = ("classification", "contrastive", "ranking", "lm-head")
_CLOSED_FORM_ROWS = 256  # the NumPy closed form is checked on the first rows only (it is slow)
_PADDED_SHARE = 0.1  # share of classification targets set to ignore_index, as padding
_LM_HEAD_HIDDEN = 16  # D of the lm-head inputs, whose width is the vocabulary V
_LARGE = 2048 * 4096  # batch × width from which the quick grid times classification losses only


def make_inputs(
    task: str,
    batch: int,
    width: int,
    generator: torch.Generator,
    *,
    ignore_index: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, ...]:
    """Random inputs of `task`: width is C (classification), D (contrastive) or V (lm-head, with
    hidden size 16); unused for ranking.

    With `ignore_index`, about 10% of the targets (never the first) are padding.
    """
    if task == "classification":
        logits = 3.0 * torch.randn(batch, width, generator=generator)  # (N, C)
        target = torch.randint(0, width, (batch,), generator=generator)  # (N,)
        if ignore_index is not None:
            padded = torch.rand(batch, generator=generator) < _PADDED_SHARE
            padded[0] = False  # keep one real target: an all-padding batch has a NaN mean
            target[padded] = ignore_index
        return logits.to(device, dtype), target.to(device)
    if task == "contrastive":
        anchors = torch.randn(batch, width, generator=generator)  # (N, D)
        positives = anchors + 0.5 * torch.randn(batch, width, generator=generator)  # noisy views
        return anchors.to(device, dtype), positives.to(device, dtype)
    if task == "lm-head":  # hidden (N, D), weight (V, D), target (N,): width is V
        return lm_head_inputs(
            batch,
            _LM_HEAD_HIDDEN,
            width,
            generator,
            ignore_index=ignore_index,
            padded_share=_PADDED_SHARE,
            dtype=dtype,
            device=device,
        )
    if task == "ranking":
        chosen = 2.0 * torch.randn(
            batch, generator=generator
        )  # (N,) reward of the preferred answer
        rejected = 2.0 * torch.randn(batch, generator=generator)  # (N,)
        return chosen.to(device, dtype), rejected.to(device, dtype)
    raise ValueError(f"unknown loss task {task!r}")


def _leaves(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return tuple(t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs)


def _ignore_index(cls: type[Loss]) -> int | None:
    return (
        option_default(cls, "ignore_index") if cls.task in ("classification", "lm-head") else None
    )


def _first_rows(task: str, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The first `_CLOSED_FORM_ROWS` examples of `inputs` (lm-head: rows of hidden and target,
    the whole weight, whose rows are the vocabulary)."""
    if task == "lm-head":
        hidden, weight, target = inputs
        return hidden[:_CLOSED_FORM_ROWS], weight, target[:_CLOSED_FORM_ROWS]
    return tuple(t[:_CLOSED_FORM_ROWS] for t in inputs)


def _cell_inputs(
    cls: type[Loss], batch: int, width: int, ctx: RunContext, *, seed: int, dtype: torch.dtype
) -> tuple[Tensor, ...]:
    """`make_inputs` for the task of `cls` (padded where it has `ignore_index`) on ctx.device."""
    return make_inputs(
        cls.task,
        batch,
        width,
        ctx.generator(seed),
        ignore_index=_ignore_index(cls),
        dtype=dtype,
        device=ctx.device,
    )


class LossAgreement(Benchmark):
    """Value and gradient agreement with the reference and the closed form, and forward+backward time.

    The quick grid's large point (N = 2048 rows of C = 4096 logits, a small LM head's vocabulary:
    32 MiB of logits, far beyond the caches) times the classification losses only (an N×N
    similarity at D = 4096 takes seconds per step on a CPU), eager and compiled; the small points
    stay eager (`compiles`).
    """

    name: ClassVar[str] = "loss-agreement"
    kind: ClassVar[str] = "loss"
    summary: ClassVar[str] = (
        "|loss - reference|, |grad - reference grad|, |loss - closed form|; fwd+bwd time"
    )
    quick_grid: ClassVar[Any] = [
        *({"variant": variant, "batch": 256, "width": 64} for variant in VARIANTS),
        {"variant": "default", "batch": 2048, "width": 4096},
    ]
    full_grid: ClassVar[Any] = {
        "variant": list(VARIANTS),
        "batch": [1024, 8192],
        "width": [128, 32768],  # 32768: a language model's vocabulary (C) or a wide embedding (D)
        "dtype": ["float32", "bfloat16"],
    }
    ratio_metric: ClassVar[str | None] = "median_ms"
    plots: ClassVar[tuple[str, ...]] = ("ratio", "memory")  # time and peak memory side by side
    higher_is_better: ClassVar[bool] = False

    def applies_to(self, component_cls: type[Component]) -> bool:
        return getattr(component_cls, "task", None) in INPUT_TASKS

    def compiles(self, params: dict[str, Any], ctx: RunContext) -> bool:
        """Whether the cell at `params` also times the compiled loss (each compile of a forward
        and backward costs seconds on a CPU: in the quick grid, the large point only)."""
        return not ctx.quick or int(params["batch"]) * int(params["width"]) >= _LARGE

    def input_warnings(self, params: dict[str, Any], ctx: RunContext) -> list[str]:
        reason = compile_unavailable_reason(ctx.device) if self.compiles(params, ctx) else None
        return [f"{self.name}: no compiled_paired_ratio ({reason})"] if reason else []

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        cls = as_loss_class(component_cls)
        batch, width = int(params["batch"]), int(params["width"])
        if ctx.quick and batch * width >= _LARGE and cls.task != "classification":
            raise SkipCell(
                f"the quick grid's {batch}×{width} point times classification losses only"
            )
        dtype = getattr(torch, params.get("dtype", "float32"))
        options = options_for(cls, params["variant"], num_classes=width)
        inputs = _cell_inputs(cls, batch, width, ctx, seed=1, dtype=dtype)
        loss = cls(**options)
        metrics: dict[str, float] = {}

        rows = tuple(t.cpu() for t in _first_rows(cls.task, inputs))
        rows = tuple(t.double() if t.is_floating_point() else t for t in rows)
        form = loss.closed_form(*rows)  # declared by the loss, None when it has none
        if form is not None:
            with torch.no_grad():
                got = float(cls(**options)(*rows))
            metrics["closed_form_abs_error"] = abs(got - float(form))

        reference_cls = ctx.reference
        tolerance = 1e-2 if dtype == torch.float32 else 1e-1
        if reference_cls is not None:
            own_options, ref_options = reference_options_for(cls, reference_cls, options)
            mine, theirs = _leaves(inputs), _leaves(inputs)
            value = cls(**own_options)(*mine)
            expected = reference_cls(**ref_options)(*theirs)
            value.backward()
            expected.backward()
            check_output(value, expected, what="the loss", rtol=tolerance, atol=tolerance)
            metrics["max_abs_error"] = float(
                (value.detach().float() - expected.detach().float()).abs()
            )
            grad_errors = [
                float((a.grad.float() - b.grad.float()).abs().max())
                for a, b in zip(mine, theirs)
                if a.grad is not None and b.grad is not None
            ]
            metrics["grad_max_abs_error"] = max(grad_errors, default=0.0)

        leaves = _leaves(inputs)
        value = loss(*leaves)
        value.backward()
        check_output(value, what="the loss")
        eager_grads = [t.grad.clone() for t in leaves if t.grad is not None]
        check_output(eager_grads, what="the input gradient")
        eager_value = value.detach().clone()

        def step() -> None:
            loss(*leaves).backward()

        with single_thread(enabled=ctx.quick and ctx.device.type == "cpu"):
            # quick CPU sizes: one thread (see suite.threads)
            if reference_cls is None:
                timing = ctx.time(step)
            else:
                reference_loss = reference_cls(**ref_options)
                reference_leaves = _leaves(inputs)
                paired = ctx.time_paired(step, lambda: reference_loss(*reference_leaves).backward())
                timing = paired.timing
                metrics.update(paired.metrics())
                if self.compiles(params, ctx) and compile_unavailable_reason(ctx.device) is None:
                    compiled_loss = cls(compile=True, **options)
                    compiled_leaves = _leaves(inputs)

                    def compiled_step() -> list[Tensor]:
                        out = compiled_loss(*compiled_leaves)
                        out.backward()
                        grads = [t.grad for t in compiled_leaves if t.grad is not None]
                        return [out.detach(), *grads]  # the first call's: fresh gradients

                    def agrees(first: list[Tensor]) -> None:  # the same function, reordered sums
                        rtol, atol = (1e-3, 1e-6) if dtype == torch.float32 else (tolerance, 1e-3)
                        expected = [eager_value, *eager_grads]
                        check_output(
                            first, expected, what="the compiled loss", rtol=rtol, atol=atol
                        )

                    metrics.update(
                        compiled_paired_metrics(
                            ctx,
                            compiled_step,
                            lambda: reference_loss(*reference_leaves).backward(),
                            agrees,
                        )
                    )
        peak = ctx.peak_memory(step)
        return Measurement(metrics=metrics, timing=timing, peak_bytes=peak)


class LossGradcheck(Benchmark):
    """`torch.autograd.gradcheck` in float64: analytic gradients against finite differences."""

    name: ClassVar[str] = "loss-gradcheck"
    kind: ClassVar[str] = "loss"
    summary: ClassVar[str] = (
        "torch.autograd.gradcheck in float64 on small inputs (default and tuned options)"
    )
    quick_grid: ClassVar[Any] = {"variant": list(VARIANTS)}
    full_grid: ClassVar[Any] = {"variant": list(VARIANTS), "batch": [6, 32]}
    ratio_metric: ClassVar[str | None] = None

    def applies_to(self, component_cls: type[Component]) -> bool:
        return getattr(component_cls, "task", None) in INPUT_TASKS

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        cls = as_loss_class(component_cls)
        batch, width = int(params.get("batch", 6)), 5
        options = options_for(cls, params["variant"], num_classes=width)
        inputs = _cell_inputs(cls, batch, width, ctx, seed=2, dtype=torch.float64)
        loss = cls(**options)
        positions = [i for i, t in enumerate(inputs) if t.is_floating_point()]

        def as_function(*floats: Tensor) -> Tensor:
            full = list(inputs)
            for i, tensor in zip(positions, floats):
                full[i] = tensor
            return loss(*full)

        floats = tuple(inputs[i].clone().requires_grad_(True) for i in positions)
        torch.autograd.gradcheck(
            as_function, floats, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True
        )
        return {"gradcheck_passed": 1.0, "checked_entries": float(sum(t.numel() for t in floats))}
