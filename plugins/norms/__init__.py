"""Built-in norms: BatchNorm, masked BatchNorm, LayerNorm, RMSNorm, their PyTorch references, benchmarks.

The interview questions this kind answers with measured numbers: why Transformers for text use
LayerNorm and not BatchNorm (padding and batch coupling: `norm-padding-sensitivity`), how
BatchNorm differs between training and inference (`norm-train-eval-gap`), what RMSNorm saves
(`norm-throughput`), and that each from-scratch norm is the same function as PyTorch's
(`norm-agreement`).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.norms.batchnorm import BatchNorm
from plugins.norms.benchmarks import (
    NormAgreement,
    NormPaddingSensitivity,
    NormThroughput,
    NormTrainEvalGap,
)
from plugins.norms.layernorm import LayerNorm
from plugins.norms.masked_batchnorm import MaskedBatchNorm
from plugins.norms.reference import TorchBatchNorm, TorchLayerNorm, TorchRMSNorm
from plugins.norms.rmsnorm import RMSNorm

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "BatchNorm",
    "LayerNorm",
    "MaskedBatchNorm",
    "NormAgreement",
    "NormPaddingSensitivity",
    "NormThroughput",
    "NormTrainEvalGap",
    "RMSNorm",
    "TorchBatchNorm",
    "TorchLayerNorm",
    "TorchRMSNorm",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.Norm], ...] = (
    BatchNorm,
    MaskedBatchNorm,
    LayerNorm,
    RMSNorm,
    TorchBatchNorm,
    TorchLayerNorm,
    TorchRMSNorm,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (
    NormAgreement,
    NormPaddingSensitivity,
    NormTrainEvalGap,
    NormThroughput,
)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
