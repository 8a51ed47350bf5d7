"""Built-in collective plugin: a from-scratch ring all-reduce, `torch.distributed` as its
reference, and benchmarks of distributed training run on N local processes.

Interview topics covered: how ring all-reduce works and why each rank sends 2(N−1)/N of the
message; algorithm vs bus bandwidth (nccl-tests); which collective each parallelism uses;
Megatron tensor parallelism (column- and row-parallel layers); ZeRO stages 0–3 and their
bytes per parameter, checked against DDP, ZeroRedundancyOptimizer and FSDP.
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.collectives.benchmarks import (
    CollectiveAgreement,
    CollectiveBandwidth,
    CollectiveTensorParallel,
    CollectiveZeroMemory,
)
from plugins.collectives.reference import TorchCollectives
from plugins.collectives.ring import RingAllReduce

__all__ = [
    "CollectiveAgreement",
    "CollectiveBandwidth",
    "CollectiveTensorParallel",
    "CollectiveZeroMemory",
    "RingAllReduce",
    "TorchCollectives",
    "register_benchmarks",
    "register_components",
]


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    register(TorchCollectives)
    register(RingAllReduce)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for benchmark in (
        CollectiveAgreement,
        CollectiveBandwidth,
        CollectiveTensorParallel,
        CollectiveZeroMemory,
    ):
        register(benchmark)
