"""The norm benchmarks: agreement with PyTorch, padding sensitivity, train/eval gap, throughput.

Each one answers an interview question with a number the suite measures:

* `norm-agreement`: is the from-scratch norm the same function as PyTorch's, in training and
  in eval mode (outputs, input gradients, running statistics)?
* `norm-padding-sensitivity`: why LayerNorm and not BatchNorm for text? Pad the same batch to a
  longer length; how far do the outputs for the real tokens move?
* `norm-train-eval-gap`: why does BatchNorm behave differently at inference? Same batch, train
  mode vs eval mode, after the layer has seen a few batches.
* `norm-throughput`: a norm is memory-bound; how close does it get to the memory bandwidth?
  A from-scratch norm is timed in alternating rounds with its reference (`paired_ratio`), after
  its output was checked against the reference's (a wrong output is an error, not a time); in
  the same cell its `compile=True` version is timed against the reference too
  (`compiled_paired_ratio`, with the first call's compile time apart): what fusion buys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plugins.norms.data import FeatureDistribution, lengths_to_mask, pad_to_length, random_lengths
from suite import Benchmark, Measurement, RunContext
from suite.benchmark import check_output
from suite.compiled import compile_unavailable_reason, compiled_paired_metrics
from suite.errors import SkipCell
from suite.kinds import Component

__all__ = [
    "NormAgreement",
    "NormPaddingSensitivity",
    "NormThroughput",
    "NormTrainEvalGap",
]


def _build(
    cls: type[Component],
    num_features: int,
    ctx: RunContext,
    dtype: torch.dtype,
    *,
    compile: bool = False,
) -> nn.Module:
    options = {"compile": True} if compile else {}
    return cls(**options).build(num_features).to(device=ctx.device, dtype=dtype)  # type: ignore[attr-defined]


def _running_stats(module: nn.Module) -> tuple[Tensor, Tensor] | None:
    mean, var = getattr(module, "running_mean", None), getattr(module, "running_var", None)
    if isinstance(mean, Tensor) and isinstance(var, Tensor):
        return mean, var
    return None


def _max_abs(a: Tensor, b: Tensor) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


class NormAgreement(Benchmark):
    """Outputs, input gradients and running statistics against the reference, train and eval."""

    name = "norm-agreement"
    kind = "norm"
    summary = (
        "max abs error vs the torch reference after several train steps, in train and eval mode"
    )
    quick_grid: ClassVar[Any] = {
        "mode": ["train", "eval"],
        "shape": [(4, 32, 64)],
        "dtype": ["float32"],
    }
    full_grid: ClassVar[Any] = {
        "mode": ["train", "eval"],
        "shape": [(4, 32, 64), (16, 512, 1024)],
        "dtype": ["float32", "bfloat16"],
    }
    ratio_metric = None
    train_steps: ClassVar[int] = 3

    def applies_to(self, component_cls: type[Component]) -> bool:
        return component_cls.reference is not None

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        b, t, c = params["shape"]
        dtype = getattr(torch, params["dtype"])
        gen = ctx.generator(1)
        dist = FeatureDistribution.random(c, gen)
        if ctx.reference is None:
            raise SkipCell(f"reference {component_cls.reference!r} is not registered in this run")
        mod = _build(component_cls, c, ctx, dtype)
        ref = _build(ctx.reference, c, ctx, dtype)
        mask = torch.ones(b, t, dtype=torch.bool, device=ctx.device)  # all real: the mask path runs
        out_err = grad_err = 0.0
        for _ in range(self.train_steps):
            x = dist.sample(b, t, gen, dtype=dtype, device=ctx.device)
            upstream = torch.randn(b, t, c, generator=gen).to(device=ctx.device, dtype=dtype)
            x_mod, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
            y_mod, y_ref = mod(x_mod, mask), ref(x_ref, mask)
            (y_mod * upstream).sum().backward()
            (y_ref * upstream).sum().backward()
            if params["mode"] == "train":
                out_err = max(out_err, _max_abs(y_mod.detach(), y_ref.detach()))
                grad_err = max(grad_err, _max_abs(x_mod.grad, x_ref.grad))  # type: ignore[arg-type]
        metrics: dict[str, float] = {}
        if params["mode"] == "eval":
            mod.eval()
            ref.eval()
            x = dist.sample(b, t, gen, dtype=dtype, device=ctx.device)
            with torch.no_grad():
                out_err = _max_abs(mod(x, mask), ref(x, mask))
        else:
            metrics["grad_max_abs_error"] = grad_err
        metrics["max_abs_error"] = out_err
        stats_mod, stats_ref = _running_stats(mod), _running_stats(ref)
        if stats_mod is not None and stats_ref is not None:
            metrics["running_stats_max_abs_error"] = max(
                _max_abs(stats_mod[0], stats_ref[0]), _max_abs(stats_mod[1], stats_ref[1])
            )
        return metrics


class NormPaddingSensitivity(Benchmark):
    """How far the real tokens' outputs move when the same batch is padded to a longer length.

    The batch is ragged (lengths between T/2 and T), padded with zeros to T, and the same batch
    padded to `pad_factor`·T. `train`: one forward in training mode on each padding, fresh
    modules. `eval`: each module first sees `warmup_steps` training batches padded its way,
    then both are evaluated on the same input: the shift is the running statistics' pollution.
    """

    name = "norm-padding-sensitivity"
    kind = "norm"
    summary = "max abs change of real-token outputs when the same batch is padded to pad_factor×T"
    quick_grid: ClassVar[Any] = [
        {"mode": "train", "pad_factor": 2, "shape": (8, 32, 64)},
        {"mode": "train", "pad_factor": 4, "shape": (8, 32, 64)},
        {"mode": "eval", "pad_factor": 2, "shape": (8, 32, 64)},
    ]
    full_grid: ClassVar[Any] = {
        "mode": ["train", "eval"],
        "pad_factor": [2, 4, 8],
        "shape": [(8, 32, 64), (32, 256, 1024)],
    }
    ratio_metric = "padding_shift_max"
    warmup_steps: ClassVar[int] = 5

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        b, t, c = params["shape"]
        long_len = t * int(params["pad_factor"])
        gen = ctx.generator(2)
        dist = FeatureDistribution.random(c, gen)

        def ragged_batch() -> tuple[Tensor, Tensor]:
            x = dist.sample(b, t, gen, device=ctx.device)
            mask = lengths_to_mask(random_lengths(b, t, gen), t).to(ctx.device)
            return pad_to_length(x, mask, t)

        short_mod = _build(component_cls, c, ctx, torch.float32)
        long_mod = _build(component_cls, c, ctx, torch.float32)
        with torch.no_grad():
            if params["mode"] == "eval":
                for _ in range(self.warmup_steps):
                    x, mask = ragged_batch()
                    short_mod(x, mask)
                    long_mod(*pad_to_length(x, mask, long_len))
                short_mod.eval()
                long_mod.eval()
            x, mask = ragged_batch()
            y_short = short_mod(x, mask)  # (B, T, C)
            y_long = long_mod(*pad_to_length(x, mask, long_len))[:, :t]  # (B, T, C)
        shift = (y_short - y_long)[mask].abs()  # (N_real, C)
        metrics = {
            "padding_shift_max": float(shift.max()),
            "padding_shift_mean": float(shift.mean()),
            "padded_fraction": 1.0 - float(mask.sum()) / (b * long_len),
        }
        stats_short, stats_long = _running_stats(short_mod), _running_stats(long_mod)
        if stats_short is not None and stats_long is not None:
            metrics["running_mean_shift_max"] = _max_abs(stats_short[0], stats_long[0])
            metrics["running_var_shift_max"] = _max_abs(stats_short[1], stats_long[1])
        return metrics


class NormTrainEvalGap(Benchmark):
    """Train-mode vs eval-mode outputs on the same batch, after `steps` training batches.

    Batches come from one fixed per-feature Gaussian. BatchNorm's eval output uses running
    estimates that converge as (1 - momentum)^steps and then still differ from any one
    batch's statistics by sampling noise (larger for small batches); per-token norms have
    no running statistics and a gap of exactly zero.
    """

    name = "norm-train-eval-gap"
    kind = "norm"
    summary = "max abs difference between train-mode and eval-mode outputs on the same batch"
    quick_grid: ClassVar[Any] = {"steps": [3, 30, 300], "shape": [(4, 16, 64)]}
    full_grid: ClassVar[Any] = {
        "steps": [1, 3, 10, 30, 100, 1000],
        "shape": [(2, 16, 64), (32, 128, 256)],
    }
    ratio_metric = None

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        b, t, c = params["shape"]
        gen = ctx.generator(3)
        dist = FeatureDistribution.random(c, gen)
        mod = _build(component_cls, c, ctx, torch.float32)
        with torch.no_grad():
            for _ in range(int(params["steps"])):
                mod(dist.sample(b, t, gen, device=ctx.device))
            x = dist.sample(b, t, gen, device=ctx.device)
            y_eval = mod.eval()(x)  # before the train-mode call, which would update running stats
            y_train = mod.train()(x)
        gap = (y_train - y_eval).abs()
        return {"train_eval_gap_max": float(gap.max()), "train_eval_gap_mean": float(gap.mean())}


class NormThroughput(Benchmark):
    """Forward time, tokens per second and achieved memory bandwidth of one norm call.

    A norm does a handful of flops per element, so it is bound by memory traffic: the minimum
    is reading x once and writing y once, 2·numel·itemsize bytes. `bandwidth_gb_per_s` is that
    minimum over the median time; a fused kernel approaches the hardware's bandwidth, an
    eager from-scratch version that materialises every intermediate falls well short.

    A component with a reference is timed in alternating rounds with it (`paired_ratio`, the
    median per-round time ratio, and its bootstrap interval), after both outputs agree. Where
    `compiles` says so, the same component built with `compile=True` is then timed against the
    reference as well (`compiled_paired_ratio` and its interval; `compile_time_s`, the first
    call less a steady one): eager pays one kernel and one round trip to memory per op, the
    compiled version one fused loop per row. Without a compiler the cell keeps its eager
    figures and the run records why (`input_warnings`).
    """

    name = "norm-throughput"
    kind = "norm"
    summary = "forward median time, tokens/s and achieved bandwidth (2·numel·itemsize / time)"
    quick_grid: ClassVar[Any] = [
        *(
            {"mode": mode, "shape": shape, "dtype": "float32"}
            for shape in ((4, 128, 256), (8, 256, 512))
            for mode in ("train", "eval")
        ),
        # one wide row set: per-token norms do the same in both modes, so train mode only
        {"mode": "train", "shape": (1, 4096, 4096), "dtype": "float32"},
    ]
    full_grid: ClassVar[Any] = {
        "mode": ["train", "eval"],
        "shape": [(8, 512, 1024), (16, 2048, 4096), (4, 8192, 8192)],
        "dtype": ["float32", "bfloat16"],
    }
    #: Shapes of the quick grid where the compiled version is timed too (each compile costs
    #: seconds on a CPU); the full grid compiles at every point.
    quick_compiled_shapes: ClassVar[tuple[tuple[int, int, int], ...]] = (
        (8, 256, 512),
        (1, 4096, 4096),
    )
    ratio_metric = "median_ms"
    plots = ("ratio", "memory")  # time and (on CUDA) peak memory side by side

    def compiles(self, params: dict[str, Any], ctx: RunContext) -> bool:
        """Whether the cell at `params` also times the compiled component."""
        return not ctx.quick or tuple(params["shape"]) in self.quick_compiled_shapes

    def input_warnings(self, params: dict[str, Any], ctx: RunContext) -> list[str]:
        reason = compile_unavailable_reason(ctx.device) if self.compiles(params, ctx) else None
        return [f"{self.name}: no compiled_paired_ratio ({reason})"] if reason else []

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        b, t, c = params["shape"]
        dtype = getattr(torch, params["dtype"])
        gen = ctx.generator(4)
        x = FeatureDistribution.random(c, gen).sample(b, t, gen, dtype=dtype, device=ctx.device)
        tolerance = 1e-2 if dtype == torch.float32 else 1e-1

        def prepared(
            cls: type[Component], *, compile: bool = False, like: nn.Module | None = None
        ) -> tuple[nn.Module, Callable[[], Tensor]]:
            mod = _build(cls, c, ctx, dtype, compile=compile)
            if params["mode"] == "eval":
                if like is None:
                    with torch.no_grad():
                        mod(x)  # give the running statistics a value before freezing them
                else:  # the eager twin's statistics: no train-mode graph to compile first
                    mod.load_state_dict(like.state_dict())
                mod.eval()

            def forward() -> Tensor:
                with torch.no_grad():
                    return mod(x)

            return mod, forward

        module, forward = prepared(component_cls)
        paired_metrics: dict[str, float] = {}
        if ctx.reference is None:
            check_output(forward())
            timing = ctx.time(forward)
        else:
            _, reference = prepared(ctx.reference)
            check_output(forward(), reference(), rtol=tolerance, atol=tolerance)
            paired = ctx.time_paired(forward, reference)
            timing, paired_metrics = paired.timing, paired.metrics()
            if self.compiles(params, ctx) and compile_unavailable_reason(ctx.device) is None:
                expected = reference()

                def agrees(y: Tensor) -> None:
                    check_output(
                        y, expected, what="the compiled output", rtol=tolerance, atol=tolerance
                    )

                _, compiled = prepared(component_cls, compile=True, like=module)
                paired_metrics.update(compiled_paired_metrics(ctx, compiled, reference, agrees))
        # On CPU the caching allocator reuses freed blocks, so resident-set growth reads 0 B.
        peak = ctx.peak_memory(forward) if ctx.device.type == "cuda" else None
        seconds = timing.median_ms / 1e3
        moved = 2 * x.numel() * x.element_size()
        metrics = {
            "tokens_per_s": b * t / seconds,
            "bandwidth_gb_per_s": moved / seconds / 1e9,
            **paired_metrics,
        }
        return Measurement(metrics=metrics, timing=timing, peak_bytes=peak)
