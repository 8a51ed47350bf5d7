"""Helpers shared by the kernels topics: peak bytes, a load-robust clock, and the ATen ops a call
dispatches with the bytes each reads and writes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from suite.timing import measure_peak_memory


def fastest_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The fastest of a few calls: a busy machine only ever adds time, so the minimum is robust."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated while `fn()` runs (`suite.timing.measure_peak_memory`), or an error
    that says why not: these topics claim on memory, so a missing reading must not pass as 0."""
    peak = measure_peak_memory(fn)
    if peak is None:
        raise RuntimeError("this torch build cannot measure peak CPU memory (no profiler timeline)")
    return peak


class OpTraffic(TorchDispatchMode):
    """Every ATen op dispatched inside, with the bytes of its tensor inputs and outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int, int, list[int]]] = []  # name, read, written, out numels

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)]
        outs = [a for a in tree_flatten(out)[0] if isinstance(a, Tensor)]
        read = sum(t.numel() * t.element_size() for t in ins)
        written = sum(t.numel() * t.element_size() for t in outs)
        self.ops.append((func.overloadpacket.__name__, read, written, [t.numel() for t in outs]))
        return out
