"""Test components for the timing tests: a norm that sleeps on request, and one broken component
per timed kind (norm, loss, attention, moe) whose output is NaN.

`sleepy` sleeps `SLEEPY_EXTRA_MS` milliseconds (default 0) more per call, so that a test can
run the same benchmark twice and slow exactly one component the second time. `sleep-bench`
times each call of a 50 ms sleep plus the module. On a loaded machine a sleeping thread wakes
up late by up to a scheduler tick (about 4 ms here, with a load of 6 on 2 cores): a fifth of a
20 ms sleep, too much to stay under the 25% spread limit, a few percent of 50 ms. A spin on the
wall clock is worse: it ends whenever the process next gets a core, and a busy machine rarely
gives it one.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from torch import nn

import suite

BASE_SLEEP_S = 0.05


class _LayerNorm(nn.Module):
    def __init__(self, num_features: int, extra_ms: float = 0.0) -> None:
        super().__init__()
        self.inner = nn.LayerNorm(num_features)
        self.extra_ms = extra_ms

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.extra_ms:
            time.sleep(self.extra_ms / 1e3)
        return self.inner(x)


class SleepyRef(suite.Norm):
    """torch LayerNorm, the reference of `sleepy`."""

    name = "sleepy-ref"
    summary = "torch LayerNorm (timing test reference)"
    reference = None

    def build(self, num_features: int) -> nn.Module:
        return _LayerNorm(num_features)


class Sleepy(suite.Norm):
    """torch LayerNorm that sleeps SLEEPY_EXTRA_MS per call."""

    name = "sleepy"
    summary = "LayerNorm slowed on request (timing test component)"
    reference = "sleepy-ref"

    def build(self, num_features: int) -> nn.Module:
        return _LayerNorm(num_features, float(os.environ.get("SLEEPY_EXTRA_MS", "0")))


class SleepBench(suite.Benchmark):
    """Each timed call sleeps 50 ms, then runs the module: a cheap, steady timing."""

    name = "sleep-bench"
    kind = "norm"
    summary = "50 ms sleep + one norm call (timing test benchmark)"
    quick_grid = {"size": [8, 16]}

    def applies_to(self, component_cls: type) -> bool:
        return component_cls.name.startswith("sleepy")

    def run(self, component_cls: type, params: dict, ctx: suite.RunContext) -> suite.Measurement:
        x = torch.randn(2, 4, params["size"], generator=ctx.generator())
        module = component_cls().build(params["size"])

        def call() -> None:
            time.sleep(BASE_SLEEP_S)
            module(x)

        return suite.Measurement(timing=ctx.time(call, warmup=1))


# --------------------------------------------------------------------------- NaN components


class NaNNorm(suite.Norm):
    """A norm whose output is NaN: fast, and wrong."""

    name = "nan-norm"
    summary = "returns NaN (test component)"
    reference = "torch-layernorm"

    def build(self, num_features: int) -> nn.Module:
        return _NaNModule()


class _NaNModule(nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full_like(x, float("nan"))


class NaNLoss(suite.Loss):
    """A classification loss that is NaN (its gradient too)."""

    name = "nan-loss"
    summary = "returns NaN (test component)"
    reference = "torch-cross-entropy"
    task = "classification"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (logits * float("nan")).mean()


class NaNAttention(suite.Attention):
    """Attention whose output is NaN."""

    name = "nan-attention"
    summary = "returns NaN (test component)"
    reference = "sdpa"

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: Any) -> Any:
        return torch.full_like(q, float("nan"))


class NaNMoE(suite.MoE):
    """A mixture-of-experts layer whose output is NaN."""

    name = "nan-moe"
    summary = "returns NaN (test component)"
    reference = "dense-ffn"

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        return _NaNMoEModule(n_experts)


class _NaNMoEModule(nn.Module):
    def __init__(self, n_experts: int) -> None:
        super().__init__()
        self.n_experts = n_experts

    def forward(self, x: torch.Tensor) -> suite.MoEOutput:
        return suite.MoEOutput(
            output=torch.full_like(x, float("nan")),
            aux_loss=torch.zeros(()),
            expert_counts=torch.zeros(self.n_experts),
            dropped_fraction=0.0,
        )


@suite.hookimpl
def register_components(register):
    for cls in (SleepyRef, Sleepy, NaNNorm, NaNLoss, NaNAttention, NaNMoE):
        register(cls)


@suite.hookimpl
def register_benchmarks(register):
    register(SleepBench)
