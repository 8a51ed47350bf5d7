"""Benchmarks of the attention kind: agreement, latency, scaling with T, and a long-range task.

* `attention-agreement`: max abs error against float64 dense attention under the component's own
  pattern (its sparsity, causal and padding masks, GQA), per dtype. For `linear` (no pattern) the
  error against full softmax attention: the price of the approximation, reported.
* `attention-latency`: one sequence length per cell: median time, achieved TFLOP/s counting only
  the attended pairs (4·D FLOPs per pair: q·k and p·v; `linear` counts its own 4·T·D² FLOPs),
  and peak memory. An output with NaN/inf is an error row, not a time.
* `attention-scaling`: one cell sweeps T and fits the log-log slope of time against T: about 1
  for sparse attention at a fixed window, 2 for dense attention.
* `attention-listops`: a small Transformer trained briefly on generated ListOps with each core.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import torch

import suite
from plugins.attention.data import ListOpsConfig, train_and_score
from suite.benchmark import check_output
from suite.metrics import growth_exponent
from suite.oracles import dense_attention
from suite.series import Series

__all__ = [
    "AttentionAgreement",
    "AttentionLatency",
    "AttentionListOps",
    "AttentionScaling",
    "attention_flops",
    "make_attention",
]

# Sparse options small enough that a short sequence is really sparse (checks, ListOps).
SMALL_SPARSE_OPTIONS: dict[str, Any] = {
    "window": 16,
    "stride": 16,
    "block_size": 16,
    "window_blocks": 1,
    "n_global": 4,
    "n_random": 1,
}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def make_attention(
    cls: type[suite.Component], options: dict[str, Any] | None = None
) -> suite.Attention:
    """Instantiate `cls` with those of `options` it accepts (`accepted_options`); others are left out."""
    accepted = cls.accepted_options()
    return cls(**{k: v for k, v in (options or {}).items() if k in accepted})  # type: ignore[return-value]


def attention_flops(
    att: suite.Attention, tq: int, tk: int, *, batch: int, heads: int, head_dim: int, causal: bool
) -> float:
    """FLOPs of the whole call: `batch · heads ·` the component's declared `flops_per_head`
    (by default 4·D per attended pair of its pattern; linear attention declares 4·T·D²)."""
    return float(batch * heads * att.flops_per_head(tq, tk, head_dim, causal=causal))


def _inputs(
    ctx: suite.RunContext, b: int, h: int, hkv: int, t: int, d: int, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    gen = ctx.generator(offset=t)
    q = torch.randn(b, h, t, d, generator=gen)
    k = torch.randn(b, hkv, t, d, generator=gen)
    v = torch.randn(b, hkv, t, d, generator=gen)
    return tuple(x.to(device=ctx.device, dtype=dtype) for x in (q, k, v))


class AttentionAgreement(suite.Benchmark):
    name: ClassVar[str] = "attention-agreement"
    kind: ClassVar[str] = "attention"
    summary: ClassVar[str] = (
        "max abs error vs float64 dense attention under the same pattern, per dtype"
    )
    quick_grid: ClassVar[Any] = {"seq_len": [192], "dtype": ["float32"], "causal": [False, True]}
    full_grid: ClassVar[Any] = {
        "seq_len": [1024, 4096],
        "dtype": ["float32", "bfloat16", "float16"],
        "causal": [False, True],
    }
    ratio_metric: ClassVar[str | None] = None

    def run(
        self, component_cls: type[suite.Component], params: dict[str, Any], ctx: suite.RunContext
    ) -> dict[str, float]:
        t, dtype, causal = params["seq_len"], _DTYPES[params["dtype"]], params["causal"]
        att = make_attention(component_cls, SMALL_SPARSE_OPTIONS)
        q, k, v = _inputs(ctx, 2, 4, 2, t, 64, dtype)  # GQA: 4 query heads share 2 kv heads
        mask = torch.ones(2, t, dtype=torch.bool, device=ctx.device)
        mask[1, t - t // 3 :] = False  # second sequence right-padded by a third
        with torch.no_grad():
            out = att(q, k, v, causal=causal, key_padding_mask=mask)
            pattern = att.pattern(t, t)
            ref = dense_attention(q, k, v, pattern, causal=causal, key_padding_mask=mask)
        err = (out.double() - ref).abs()
        density = 1.0 if pattern is None else float(pattern.float().mean())
        return {
            "max_abs_error": float(err.max()),
            "mean_abs_error": float(err.mean()),
            "pattern_density": density,
        }


class AttentionLatency(suite.Benchmark):
    name: ClassVar[str] = "attention-latency"
    kind: ClassVar[str] = "attention"
    summary: ClassVar[str] = "forward time, TFLOP/s over attended pairs, peak memory at one length"
    # three lengths so that the quick run shows growth: peak memory ~T² for `naive`, ~T for the
    # rest; two heads keep naive's 4096² scores cheap
    quick_grid: ClassVar[Any] = {
        "seq_len": [1024, 2048, 4096],
        "dtype": ["float32"],
        "causal": [False],
        "batch": [1],
        "heads": [2],
    }
    full_grid: ClassVar[Any] = {
        "seq_len": [1024, 4096, 16384],
        "dtype": ["bfloat16", "float32"],
        "causal": [False, True],
        "batch": [1],
        "heads": [8],
    }
    plots: ClassVar[tuple[str, ...]] = ("ratio", "memory")  # time and peak memory side by side

    def run(
        self, component_cls: type[suite.Component], params: dict[str, Any], ctx: suite.RunContext
    ) -> suite.Measurement:
        t, dtype, causal = params["seq_len"], _DTYPES[params["dtype"]], params["causal"]
        b, h, d = params["batch"], params["heads"], params.get("head_dim", 64)
        att = make_attention(component_cls)
        q, k, v = _inputs(ctx, b, h, h, t, d, dtype)

        def call() -> torch.Tensor:
            with torch.no_grad():
                return att(q, k, v, causal=causal)

        check_output(call())
        timing = ctx.time(call)
        flops = attention_flops(att, t, t, batch=b, heads=h, head_dim=d, causal=causal)
        peak = ctx.peak_memory(call)
        metrics = {
            "tflops": flops / (timing.median_ms * 1e-3) / 1e12,
            "attention_gflop": flops / 1e9,
        }
        return suite.Measurement(metrics=metrics, timing=timing, peak_bytes=peak)


class AttentionScaling(suite.Benchmark):
    name: ClassVar[str] = "attention-scaling"
    kind: ClassVar[str] = "attention"
    summary: ClassVar[str] = (
        "time over a sweep of T at a fixed window; fitted log-log growth exponent"
    )
    quick_grid: ClassVar[Any] = [
        {
            "seq_lens": [1024, 2048, 4096, 8192],
            "batch": 1,
            "heads": 2,
            "head_dim": 32,
            "dtype": "float32",
        }
    ]
    full_grid: ClassVar[Any] = [
        {
            "seq_lens": [1024, 2048, 4096, 8192, 16384, 32768],
            "batch": 1,
            "heads": 16,
            "head_dim": 64,
            "dtype": "bfloat16",
        }
    ]
    ratio_metric: ClassVar[str | None] = "growth_exponent"
    # a component that materializes the B·H·T² scores (several times): lengths beyond this many
    # scores are left out
    max_materialized_scores: ClassVar[dict[str, int]] = {"cpu": 2**25, "cuda": 2**32}
    plots: ClassVar[tuple[str, ...]] = ("loglog",)  # time against T, fitted slope in the legend

    def run(
        self, component_cls: type[suite.Component], params: dict[str, Any], ctx: suite.RunContext
    ) -> suite.Measurement:
        b, h, d, dtype = (
            params["batch"],
            params["heads"],
            params["head_dim"],
            _DTYPES[params["dtype"]],
        )
        att = make_attention(component_cls)
        lens = [int(t) for t in params["seq_lens"]]
        if att.materializes_scores:  # O(T²) memory: cap, and say so in the metrics
            cap = self.max_materialized_scores.get(ctx.device.type, 2**25)
            lens = [t for t in lens if b * h * t * t <= cap] or lens[:1]
        calls = {t: self._call(att, _inputs(ctx, b, h, h, t, d, dtype)) for t in lens}
        for call in calls.values():  # warm up: allocator, cached layouts, compiled kernels
            call()
        # Interleaved rounds, minimum per length: a burst of load from other processes (or a
        # CPU quota running out) hits one round of every length alike, and the minimum is the
        # least disturbed run, as `timeit` advises. At least `rounds`, more while the budget lasts.
        best = {t: float("inf") for t in lens}
        best_cpu = {t: float("inf") for t in lens}  # process CPU time: blind to other processes
        start, done = time.perf_counter(), 0
        while done < params.get("rounds", 3) or (
            time.perf_counter() - start < ctx.budget_s and done < 25
        ):
            for t, call in calls.items():
                cpu_start = time.process_time()
                best[t] = min(best[t], ctx.time(call, warmup=0, repeats=1).median_ms)
                best_cpu[t] = min(best_cpu[t], (time.process_time() - cpu_start) * 1e3)
            done += 1
        metrics = {f"time_ms_t{t}": best[t] for t in lens}
        metrics.update(_growth(lens, [best[t] for t in lens], prefix=""))
        if ctx.device.type == "cpu":  # on a shared CPU, wall time includes other people's work
            metrics.update(_growth(lens, [best_cpu[t] for t in lens], prefix="cpu_"))
        metrics["max_seq_len"] = float(lens[-1])
        metrics["min_seq_len"] = float(lens[0])
        metrics["rounds"] = float(done)
        curve = Series(
            "time against T",
            lens,
            [best[t] for t in lens],
            x_label="sequence length T",
            y_label="best time (ms)",
            plot="loglog",
        )
        return suite.Measurement(metrics=metrics, series=[curve])

    @staticmethod
    def _call(att: suite.Attention, qkv: tuple[torch.Tensor, ...]) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            with torch.no_grad():
                return att(*qkv)

        return call


def _growth(lens: list[int], times: list[float], *, prefix: str) -> dict[str, float]:
    """Log-log slope of time against T (1: linear, 2: quadratic) and the end-to-end ratio."""
    if len(lens) < 2:
        return {f"{prefix}growth_exponent": 0.0, f"{prefix}growth_ratio": 1.0}
    slope = growth_exponent(lens, times)
    return {f"{prefix}growth_exponent": slope, f"{prefix}growth_ratio": times[-1] / times[0]}


class AttentionListOps(suite.Benchmark):
    name: ClassVar[str] = "attention-listops"
    kind: ClassVar[str] = "attention"
    summary: ClassVar[str] = (
        "generated ListOps (LRA-style): accuracy and macro F1 of a small Transformer"
    )
    quick_grid: ClassVar[Any] = [{"max_len": 48, "n_train": 256, "steps": 60, "d_model": 32}]
    full_grid: ClassVar[Any] = [
        {
            "max_len": 512,
            "min_len": 256,
            "max_depth": 8,
            "max_args": 6,
            "n_train": 16384,
            "n_test": 2048,
            "steps": 2000,
            "batch_size": 64,
            "d_model": 128,
            "n_heads": 4,
            "lr": 1e-3,
        }
    ]
    ratio_metric: ClassVar[str | None] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    plots: ClassVar[tuple[str, ...]] = ("ratio", "line")  # accuracy, then the training loss

    def run(
        self, component_cls: type[suite.Component], params: dict[str, Any], ctx: suite.RunContext
    ) -> suite.Measurement:
        config = ListOpsConfig(seed=ctx.seed, **params)
        att = make_attention(component_cls, SMALL_SPARSE_OPTIONS)
        losses: list[float] = []
        metrics = train_and_score(att, config, ctx.device, loss_curve=losses)
        curve = Series(
            "training loss",
            range(1, len(losses) + 1),
            losses,
            x_label="step",
            y_label="cross-entropy (batch)",
        )
        return suite.Measurement(metrics=metrics, series=[curve])
