"""Built-in attention: naive, SDPA, flash, sparse (sliding window, strided, BigBird), linear.

The interview questions this kind answers with measured numbers: how to write multi-head
attention by hand and why it divides by √d_k (`naive`), which masks a Transformer needs (every
component takes causal and key-padding masks and grouped-query shapes, checked against float64
dense attention by `attention-agreement`), how sparse variants beat O(T²) (`attention-scaling`
fits the growth exponent of time against T) and what they cost in quality (`attention-listops`).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.attention.benchmarks import (
    AttentionAgreement,
    AttentionLatency,
    AttentionListOps,
    AttentionScaling,
)
from plugins.attention.benchmarks_backend import AttentionFlexBackend
from plugins.attention.bigbird import BigBirdAttention
from plugins.attention.block_sparse import BlockSparseAttention
from plugins.attention.flash import FlashAttention
from plugins.attention.linear import LinearAttention
from plugins.attention.naive import NaiveAttention
from plugins.attention.reference import SDPAAttention
from plugins.attention.sliding_window import SlidingWindowAttention
from plugins.attention.strided import StridedAttention

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "AttentionAgreement",
    "AttentionFlexBackend",
    "AttentionLatency",
    "AttentionListOps",
    "AttentionScaling",
    "BigBirdAttention",
    "BlockSparseAttention",
    "FlashAttention",
    "LinearAttention",
    "NaiveAttention",
    "SDPAAttention",
    "SlidingWindowAttention",
    "StridedAttention",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.Attention], ...] = (
    SDPAAttention,
    NaiveAttention,
    FlashAttention,
    SlidingWindowAttention,
    StridedAttention,
    BigBirdAttention,
    LinearAttention,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (
    AttentionAgreement,
    AttentionFlexBackend,
    AttentionLatency,
    AttentionScaling,
    AttentionListOps,
)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
