"""The LM-head benchmark: how much memory does a language model's loss take at a 32k vocabulary?

* `loss-lm-head-memory` (losses of task `lm-head`): one forward+backward of the loss of
  `hidden (N, D) @ weight.T` against next tokens (10% padding), at V = 32000. Peak memory
  (`suite.timing.measure_peak_memory`: the GPU allocator, or on a CPU the profiler's allocation
  timeline) of the component and of its reference in the same cell, and their ratio; the loss
  and both gradients (hidden, weight) against the reference's; and the time of a step, paired
  with the reference in alternating rounds once loss and gradients agree. The full `(N, V)`
  float32 logits would take `logits_bytes` = N · V · 4: an unfused head peaks at a few times
  that, a chunked one at a chunk's share of it plus the `(N + V) · D` gradients.

Interview question it answers: "where does an LM's training memory go at a large vocabulary,
and what does fusing the head with the loss buy?"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.losses.data import lm_head_inputs
from plugins.losses.options import as_loss_class, option_default, reference_options_for
from suite.benchmark import Benchmark, Measurement, RunContext, check_output
from suite.errors import CellError
from suite.kinds import Component, Loss
from suite.threads import single_thread

__all__ = ["LossLMHeadMemory"]

_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-6, torch.bfloat16: 5e-2}  # relative


def _grad_error(got: Tensor | None, want: Tensor | None) -> tuple[float, float]:
    """Max |got - want| and that divided by max |want|; inf when one gradient is missing."""
    if got is None or want is None:
        return float("inf"), float("inf")
    diff = float((got.double() - want.double()).abs().max())
    return diff, diff / max(float(want.double().abs().max()), 1e-30)


class LossLMHeadMemory(Benchmark):
    """Peak memory of an LM-head loss's forward+backward against the unfused reference at V = 32000.

    A component with a reference is first checked against it (loss within a relative 1e-3 in
    float32, every gradient entry within 1e-3 of the largest reference gradient), then measured
    beside it: `peak_memory_ratio` = its peak ÷ the reference's, in the same cell; the table's
    ratio column is the same division across the two cells (`peak_bytes`).
    """

    name: ClassVar[str] = "loss-lm-head-memory"
    kind: ClassVar[str] = "loss"
    summary: ClassVar[str] = (
        "LM-head loss fwd+bwd at V = 32000: peak memory ÷ the unfused reference's, "
        "loss and gradient agreement, paired time"
    )
    quick_grid: ClassVar[Any] = {  # seconds on a CPU: (256, 32000) logits, four chunks
        "tokens": [256],
        "hidden": [64],
        "vocab": [32000],
        "chunk_size": [64],
    }
    full_grid: ClassVar[Any] = {
        "tokens": [2048, 8192],
        "hidden": [512],
        "vocab": [32000],
        "chunk_size": [1024],
        "dtype": ["float32", "bfloat16"],
    }
    ratio_metric: ClassVar[str | None] = "peak_bytes"
    plots: ClassVar[tuple[str, ...]] = ("ratio", "memory")

    def applies_to(self, component_cls: type[Component]) -> bool:
        return issubclass(component_cls, Loss) and component_cls.task == "lm-head"

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        cls = as_loss_class(component_cls)
        tokens, hidden_size, vocab = (int(params[k]) for k in ("tokens", "hidden", "vocab"))
        dtype = getattr(torch, params.get("dtype", "float32"))
        ignore_index = option_default(cls, "ignore_index")
        hidden, weight, target = lm_head_inputs(
            tokens,
            hidden_size,
            vocab,
            ctx.generator(7),
            ignore_index=ignore_index if isinstance(ignore_index, int) else None,
            dtype=dtype,
            device=ctx.device,
        )
        options: dict[str, Any] = {}
        if "chunk_size" in params and "chunk_size" in cls.accepted_options():
            options["chunk_size"] = int(params["chunk_size"])

        def prepared(loss: Loss) -> tuple[Callable[[], Tensor], Tensor, Tensor]:
            h = hidden.detach().clone().requires_grad_(True)
            w = weight.detach().clone().requires_grad_(True)

            def step() -> Tensor:
                h.grad = w.grad = None
                value = loss(h, w, target)
                value.backward()
                return value.detach()

            return step, h, w

        # quick CPU sizes: one thread (see suite.threads); the chunked loop's small kernels
        # would otherwise wait for a busy second core on every call
        with single_thread(enabled=ctx.quick and ctx.device.type == "cpu"):
            return self._measure(cls, options, prepared, ctx, dtype, tokens * vocab * 4)

    def _measure(
        self,
        cls: type[Loss],
        options: dict[str, Any],
        prepared: Callable[[Loss], tuple[Callable[[], Tensor], Tensor, Tensor]],
        ctx: RunContext,
        dtype: torch.dtype,
        logits_bytes: int,
    ) -> Measurement:
        metrics: dict[str, float] = {"logits_bytes": float(logits_bytes)}
        step, h, w = prepared(cls(**options))
        reference_cls = ctx.reference
        if reference_cls is None:
            check_output([step(), h.grad, w.grad], what="the loss and its gradients")
            peak = ctx.peak_memory(step)
            timing = ctx.time(step, warmup=1)
            return Measurement(metrics=metrics, timing=timing, peak_bytes=peak)

        _, reference_options = reference_options_for(cls, reference_cls, options)
        reference_step, h_ref, w_ref = prepared(as_loss_class(reference_cls)(**reference_options))
        value, expected = step(), reference_step()
        tolerance = _TOLERANCE.get(dtype, 1e-3)
        check_output(value, expected, what="the loss", rtol=tolerance, atol=tolerance)
        metrics["loss_abs_diff"] = float((value.double() - expected.double()).abs())
        worst_abs, worst_rel = 0.0, 0.0
        for label, got, want in (("hidden", h.grad, h_ref.grad), ("weight", w.grad, w_ref.grad)):
            check_output(got, what=f"the gradient of {label}")
            diff, relative = _grad_error(got, want)
            if not relative <= tolerance:
                raise CellError(
                    f"the gradient of {label} differs from the reference's by up to {diff:.3g} "
                    f"({relative:.3g} of its largest entry; tolerance {tolerance:g}): not timed"
                )
            worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, relative)
        metrics["grad_max_abs_diff"] = worst_abs
        metrics["grad_max_rel_diff"] = worst_rel  # ÷ the largest reference gradient entry

        peak = ctx.peak_memory(step)
        reference_peak = ctx.peak_memory(reference_step)
        if peak is not None and reference_peak:  # the reference's own row shows its peak
            metrics["peak_memory_ratio"] = peak / reference_peak
        paired = ctx.time_paired(step, reference_step, warmup=1)
        metrics.update(paired.metrics())
        return Measurement(metrics=metrics, timing=paired.timing, peak_bytes=peak)
