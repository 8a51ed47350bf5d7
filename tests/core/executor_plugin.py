"""A plugin for the executor tests: a benchmark whose cells succeed, sleep, hang or kill their
own process, picked by `mode` in the params.

`crash` kills the process running the cell with SIGKILL, but only inside a Ray worker (so a
local run of the same grid never kills the test process); `hang` sleeps far past any time-out.
"""

from __future__ import annotations

import os
import signal
import time

import torch

import suite


class ExecutorBenchmark(suite.Benchmark):
    """Deterministic metrics from the run seed, or a misbehaving cell on request."""

    name = "executor-bench"
    kind = "norm"
    summary = "executor test benchmark"
    quick_grid = [{"mode": "ok", "step": step} for step in range(4)]
    ratio_metric = None

    def applies_to(self, component_cls: type) -> bool:
        return component_cls.name.startswith("toy-")

    def run(self, component_cls: type, params: dict, ctx: suite.RunContext) -> dict:
        mode = params["mode"]
        if mode == "crash" and os.environ.get("RAY_JOB_ID") is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "hang":
            time.sleep(float(os.environ.get("EXECUTOR_HANG_S", "600")))
        if mode == "sleep":
            time.sleep(float(os.environ.get("EXECUTOR_SLEEP_S", "0.5")))
        draw = torch.randn(4, generator=ctx.generator(params["step"]))
        return {"draw_sum": float(draw.sum()), "step": float(params["step"])}


@suite.hookimpl
def register_benchmarks(register):
    register(ExecutorBenchmark)
