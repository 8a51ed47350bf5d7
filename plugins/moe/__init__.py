"""Built-in moe plugin: the `topk` mixture-of-experts layer, its `dense-ffn` reference, and benchmarks.

Interview topics covered: why sparse MoE (parameters grow with the number of experts, compute per
token with k only), top-k routing, the load-balancing loss and the router z-loss, the capacity
factor and token dropping, sorted dispatch, expert parallelism, shared experts.
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.moe.benchmarks import MoECapacity, MoEClusterAccuracy, MoELoadBalance, MoEThroughput
from plugins.moe.reference import DenseFFN
from plugins.moe.topk import TopKConfig, TopKMoE

__all__ = [
    "DenseFFN",
    "MoECapacity",
    "MoEClusterAccuracy",
    "MoELoadBalance",
    "MoEThroughput",
    "TopKConfig",
    "TopKMoE",
    "register_benchmarks",
    "register_components",
]


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    register(DenseFFN)
    register(TopKMoE)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for benchmark in (MoEThroughput, MoELoadBalance, MoECapacity, MoEClusterAccuracy):
        register(benchmark)
