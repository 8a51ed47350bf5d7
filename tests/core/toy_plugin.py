"""A tiny plugin used by the core tests: two norms, benchmarks whose cells misbehave on request, a topic.

`mode` in the params picks the outcome: ok, raise, nan, oom (a CUDA out-of-memory error) or
sleep (slow enough for a test to kill the run mid-way).
"""

from __future__ import annotations

import os
import time

import torch
from torch import nn

import suite
import suite.errors


class ToyLayerNorm(suite.Norm):
    """LayerNorm by torch, under a test name."""

    name = "toy-ref"
    summary = "torch LayerNorm (test reference)"
    reference = None

    def build(self, num_features: int) -> nn.Module:
        return _MaskIgnoring(nn.LayerNorm(num_features))


class ToyScratchNorm(suite.Norm):
    """LayerNorm written out: (x - mean) / sqrt(var + eps)."""

    name = "toy-scratch"
    summary = "LayerNorm by hand (test component)"
    reference = "toy-ref"

    def build(self, num_features: int) -> nn.Module:
        return _ScratchLayerNorm()


class _MaskIgnoring(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.inner(x)


class _ScratchLayerNorm(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-5)


class ToyBenchmark(suite.Benchmark):
    """Agreement with torch LayerNorm and a timing; misbehaves on request through `mode`."""

    name = "toy-bench"
    kind = "norm"
    summary = "test benchmark"
    quick_grid = {"size": [8], "mode": ["ok", "raise", "nan"]}
    full_grid = {"size": [8, 16], "mode": ["ok"]}

    def applies_to(self, component_cls: type) -> bool:
        return component_cls.name.startswith("toy-")

    def run(self, component_cls: type, params: dict, ctx: suite.RunContext) -> suite.Measurement:
        mode = params["mode"]
        if mode == "raise":
            raise RuntimeError("boom in the toy benchmark")
        if mode == "skip":
            raise suite.errors.SkipCell("needs a GPU")
        if mode == "oom":
            raise torch.cuda.OutOfMemoryError("tried to allocate 1 TiB")
        if mode == "sleep":
            time.sleep(float(os.environ.get("TOY_SLEEP_S", "0.5")))
        x = torch.randn(2, 4, params["size"], generator=ctx.generator())
        module = component_cls().build(params["size"])
        expected = nn.functional.layer_norm(x, (params["size"],))
        error = (module(x) - expected).abs().max().item()
        metrics = {"max_abs_error": error if mode != "nan" else float("nan")}
        return suite.Measurement(
            metrics=metrics, timing=ctx.time(lambda: module(x), repeats=3, warmup=1)
        )


class ToySlowBenchmark(suite.Benchmark):
    """Sleeps TOY_SLEEP_S per cell, so a test can kill the run between cells."""

    name = "toy-slow"
    kind = "norm"
    summary = "slow test benchmark"
    quick_grid = {"step": list(range(6))}
    ratio_metric = None

    def applies_to(self, component_cls: type) -> bool:
        return component_cls.name.startswith("toy-")

    def run(self, component_cls: type, params: dict, ctx: suite.RunContext) -> dict:
        time.sleep(float(os.environ.get("TOY_SLEEP_S", "0.3")))
        return {"step_squared": float(params["step"] ** 2)}


@suite.hookimpl
def register_components(register):
    register(ToyLayerNorm)
    register(ToyScratchNorm)


@suite.hookimpl
def register_benchmarks(register):
    register(ToyBenchmark)
    register(ToySlowBenchmark)


class ToyMeanTopic(suite.Topic):
    """The sample mean of n draws from N(0, 1) has standard deviation 1/√n.

    Formula: sd(mean of n) = σ / √n

    Pitfalls:
    - the spread shrinks with √n, not n: four times the data halves it.

    Follow-up questions:
    - What if the draws are correlated?
    """

    name = "toy-mean-spread"
    area = "statistics"
    question = "How does the spread of a sample mean shrink with n?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        n = ctx.pick(400, 100)
        means = torch.randn(2000, n, generator=g).mean(dim=1)
        measured, expected = means.std().item(), 1 / n**0.5
        return suite.Evidence(
            table=[{"n": n, "measured_sd": measured, "expected_sd": expected}],
            claims=[
                suite.Claim.of(
                    "the mean of {n} draws has sd {sd:.4f}, within 10% of 1/√n = {expected:.4f}",
                    holds=abs(measured - expected) < 0.1 * expected,
                    n=n,
                    sd=measured,
                    expected=expected,
                )
            ],
        )


@suite.hookimpl
def register_topics(register):
    register(ToyMeanTopic)
