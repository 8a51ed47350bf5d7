"""`compile=True`: a component's forward through `torch.compile`, and whether this machine can.

Why it exists: an eager from-scratch norm or loss runs one kernel per PyTorch op and writes every
intermediate to memory, then reads it back; a memory-bound op pays for that traffic several
times over. `torch.compile` (TorchInductor) fuses the chain into one loop per row, so the
from-scratch code can be compared with the hand-written fused kernel it imitates. The base
classes `Norm`, `Loss` and `MoE` take `compile` as a keyword option and call `compile_callable`
here; benchmarks ask `compile_unavailable_reason` first and time the first call apart
(`time_first_call`), because compiling costs seconds that a steady-state median hides.

What it concedes: a compiled forward is specialised per input shape (`dynamic=False`, one
cached graph per shape and mode, seconds to compile each); Inductor needs a C++ compiler on a
CPU and Triton on a GPU, and says so only on the first call. `compile_unavailable_reason`
answers before that.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from suite.errors import OptionError
from suite.timing import synchronize

__all__ = [
    "COMPILE_BACKEND",
    "RECOMPILE_LIMIT",
    "compile_callable",
    "compile_seconds",
    "compile_unavailable_reason",
    "compiled_paired_metrics",
    "time_first_call",
]

#: The `torch.compile` backend of `compile=True` ("inductor": generated fused kernels); tests
#: set "eager" to check the plumbing without paying for code generation.
COMPILE_BACKEND = "inductor"
#: Graphs kept per compiled function (one per shape, dtype and train/eval mode): above torch's
#: default of 8, so that a benchmark grid never silently falls back to eager.
RECOMPILE_LIMIT = 64

F = TypeVar("F", bound=Callable[..., Any])


def compile_unavailable_reason(device: torch.device | str = "cpu") -> str | None:
    """Why `torch.compile` with Inductor cannot run on `device` here, or `None` when it can.

    A CPU needs the C++ compiler Inductor calls; CUDA needs Triton. Checked without compiling.
    """
    if COMPILE_BACKEND != "inductor":
        return None
    device = torch.device(device)
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "compiling for CUDA needs Triton (`pip install triton`), which is not installed"
        return None
    if device.type != "cpu":
        return None  # let torch say what it lacks on other devices
    compiler = _cpp_compiler()
    if compiler is None:
        return "compiling for the CPU needs a C++ compiler (g++ or clang++), none is on PATH"
    return None


def _cpp_compiler() -> str | None:
    """The C++ compiler Inductor would call (`$CXX`, else g++, c++ or clang++), when on PATH.

    Looked up on PATH rather than through Inductor, whose import alone takes seconds."""
    candidates = (os.environ.get("CXX"), "g++", "c++", "clang++")
    return next((found for name in candidates if name and (found := shutil.which(name))), None)


def compile_callable(fn: F, options: Mapping[str, Any] | None = None) -> F:
    """`fn` through `torch.compile(dynamic=False)`: one graph per input shape, cached.

    The first call with a new shape compiles (seconds); later calls with that shape run the
    generated code. `options` are Inductor settings for this function only (a component's
    `compile_options`, such as `{"realize_reads_threshold": 0}`); other backends ignore them.
    A clear `OptionError` replaces Inductor's deep traceback where the device cannot compile
    (`compile_unavailable_reason`).
    """
    settings = dict(options) if options and COMPILE_BACKEND == "inductor" else None
    compiled = torch.compile(fn, dynamic=False, backend=COMPILE_BACKEND, options=settings)
    _raise_recompile_limit()
    checked: set[str] = set()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        device = next((a.device for a in args if isinstance(a, torch.Tensor)), None)
        if device is not None and device.type not in checked:
            reason = compile_unavailable_reason(device)
            if reason is not None:
                raise OptionError(f"compile=True cannot run on {device.type}: {reason}")
            checked.add(device.type)
        return compiled(*args, **kwargs)

    run._nlpsuite_compiled = True  # type: ignore[attr-defined]
    return run  # type: ignore[return-value]


def _raise_recompile_limit() -> None:
    """At least `RECOMPILE_LIMIT` graphs per function, once `torch.compile` loaded dynamo."""
    dynamo = sys.modules.get("torch._dynamo")
    config = getattr(dynamo, "config", None)
    if config is None:  # torch.compile replaced (tests), nothing to configure
        return
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(int(getattr(config, name)), RECOMPILE_LIMIT))


def time_first_call(fn: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[Any, float]:
    """`(fn(), seconds)` of one synchronised call: for a compiled function's first call, which
    compiles."""
    synchronize(device)
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    return value, time.perf_counter() - start


def compile_seconds(first_call_s: float, steady_ms: float) -> float:
    """Compile time: the first call's seconds less one steady-state call's (never negative)."""
    return max(first_call_s - steady_ms / 1e3, 0.0)


def compiled_paired_metrics(
    ctx: Any,
    compiled_fn: Callable[[], Any],
    reference_fn: Callable[[], Any],
    check: Callable[[Any], None],
) -> dict[str, float]:
    """Time a compiled component against its reference in one cell, as `paired_ratio` does.

    `ctx` is the cell's `RunContext`. The first call compiles and is timed apart; its value goes
    to `check` (raise on disagreement: a wrong compiled output is never timed). Returns
    `compiled_paired_ratio` (median per-round time(compiled) / time(reference)) with its bootstrap
    interval, and `compile_time_s` (first call less a steady one).
    """
    value, first_call_s = time_first_call(compiled_fn, ctx.device)
    check(value)
    paired = ctx.time_paired(compiled_fn, reference_fn)
    return {
        "compiled_paired_ratio": paired.ratio,
        "compiled_paired_ratio_ci_low": paired.ci_low,
        "compiled_paired_ratio_ci_high": paired.ci_high,
        "compile_time_s": compile_seconds(first_call_s, paired.a.median_ms),
    }
