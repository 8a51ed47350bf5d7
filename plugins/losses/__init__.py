"""Built-in losses: cross-entropy, focal, InfoNCE, the reward model's pairwise loss, the LM head.

Five from-scratch losses, each beside a PyTorch reference (`torch-cross-entropy`,
`torch-infonce`, `torch-ranking`, `torch-linear-cross-entropy`), and the benchmarks that check
and compare them: agreement with the reference and the closed form, gradcheck, an imbalanced
classification task, a retrieval task, a preference (reward-model) task and the LM head's peak
memory. Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.losses.benchmarks import LossAgreement, LossGradcheck
from plugins.losses.benchmarks_lm_head import LossLMHeadMemory
from plugins.losses.benchmarks_tasks import LossImbalanced, LossPreference, LossRetrieval
from plugins.losses.cross_entropy import CrossEntropy
from plugins.losses.focal import FocalLoss
from plugins.losses.fused_linear_cross_entropy import FusedLinearCrossEntropy
from plugins.losses.infonce import InfoNCE
from plugins.losses.ranking import PairwiseRankingLoss
from plugins.losses.reference import (
    TorchCrossEntropy,
    TorchInfoNCE,
    TorchLinearCrossEntropy,
    TorchRanking,
)

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "CrossEntropy",
    "FocalLoss",
    "FusedLinearCrossEntropy",
    "InfoNCE",
    "LossAgreement",
    "LossGradcheck",
    "LossImbalanced",
    "LossLMHeadMemory",
    "LossPreference",
    "LossRetrieval",
    "PairwiseRankingLoss",
    "TorchCrossEntropy",
    "TorchInfoNCE",
    "TorchLinearCrossEntropy",
    "TorchRanking",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.Loss], ...] = (
    TorchCrossEntropy,
    CrossEntropy,
    FocalLoss,
    TorchInfoNCE,
    InfoNCE,
    TorchRanking,
    PairwiseRankingLoss,
    TorchLinearCrossEntropy,
    FusedLinearCrossEntropy,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (
    LossAgreement,
    LossGradcheck,
    LossImbalanced,
    LossRetrieval,
    LossPreference,
    LossLMHeadMemory,
)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
