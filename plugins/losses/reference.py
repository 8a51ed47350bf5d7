"""The references: each loss written with PyTorch's own fused functions.

They take the same options and inputs as the from-scratch losses, run the same input checks
(so bad input fails the same way for both), and then hand the arithmetic to
`torch.nn.functional`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from plugins.losses.closed_forms import (
    cross_entropy_closed_form,
    infonce_closed_form,
    ranking_closed_form,
)
from suite.kinds import Loss

__all__ = [
    "TorchCrossEntropy",
    "TorchInfoNCE",
    "TorchLinearCrossEntropy",
    "TorchRanking",
    "linear_cross_entropy_closed_form",
]


class TorchCrossEntropy(Loss):
    """Reference cross-entropy: `torch.nn.functional.cross_entropy`.

    One fused log-softmax + negative log-likelihood, with `label_smoothing` and `ignore_index`
    as in PyTorch. Mean over the targets that are not `ignore_index`.
    """

    name: ClassVar[str] = "torch-cross-entropy"
    summary: ClassVar[str] = "Reference: F.cross_entropy (label_smoothing, ignore_index)"
    reference: ClassVar[str | None] = None
    task: ClassVar[str] = "classification"

    def __init__(self, *, label_smoothing: float = 0.0, ignore_index: int = -100) -> None:
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        return F.cross_entropy(
            logits,
            target.long(),
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )

    def closed_form(self, logits: Tensor, target: Tensor) -> float:  # type: ignore[override]
        return cross_entropy_closed_form(
            logits, target, label_smoothing=self.label_smoothing, ignore_index=self.ignore_index
        )

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        return {"label_smoothing": [0.0, 0.1, 0.3]}


class TorchInfoNCE(Loss):
    """Reference InfoNCE: `F.cross_entropy` over the cosine-similarity matrix / temperature.

    Logits `(N, N)` = `F.normalize(anchors) @ F.normalize(positives).T / τ`, labels `arange(N)`:
    row i must pick column i out of the batch.
    """

    name: ClassVar[str] = "torch-infonce"
    summary: ClassVar[str] = "Reference: F.cross_entropy over F.normalize cosine similarities / tau"
    reference: ClassVar[str | None] = None
    task: ClassVar[str] = "contrastive"

    def __init__(self, *, temperature: float = 0.05) -> None:
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, anchors: Tensor, positives: Tensor) -> Tensor:  # type: ignore[override]
        logits = F.normalize(anchors, dim=1) @ F.normalize(positives, dim=1).T / self.temperature
        labels = torch.arange(anchors.shape[0], device=anchors.device)  # (N,)
        return F.cross_entropy(logits, labels)

    def closed_form(self, anchors: Tensor, positives: Tensor) -> float:  # type: ignore[override]
        return infonce_closed_form(anchors, positives, temperature=self.temperature)

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        return {"temperature": [0.05, 0.1, 1.0]}


class TorchRanking(Loss):
    """Reference pairwise ranking loss: `F.binary_cross_entropy_with_logits(chosen - rejected, 1)`.

    The reward model's Bradley-Terry loss is a logistic regression on the score difference with
    every label equal to 1 ("the chosen answer wins").
    """

    name: ClassVar[str] = "torch-ranking"
    summary: ClassVar[str] = (
        "Reference: F.binary_cross_entropy_with_logits(chosen - rejected, ones)"
    )
    reference: ClassVar[str | None] = None
    task: ClassVar[str] = "ranking"

    def forward(self, chosen: Tensor, rejected: Tensor) -> Tensor:  # type: ignore[override]
        margin = chosen - rejected  # (N,)
        return F.binary_cross_entropy_with_logits(margin, torch.ones_like(margin))

    def closed_form(self, chosen: Tensor, rejected: Tensor) -> float:  # type: ignore[override]
        return ranking_closed_form(chosen, rejected)


def linear_cross_entropy_closed_form(
    hidden: Tensor, weight: Tensor, target: Tensor, *, ignore_index: int = -100
) -> float:
    """1/M Σ_{i: y_i ≠ ignore} [log Σ_v exp(h_i · w_v) - h_i · w_{y_i}]: the logits `h Wᵀ` in
    NumPy float64, then the cross-entropy closed form; NaN when M = 0."""
    h = hidden.detach().cpu().double().numpy()  # (N, D)
    w = weight.detach().cpu().double().numpy()  # (V, D)
    return cross_entropy_closed_form(np.matmul(h, w.T), target, ignore_index=ignore_index)


class TorchLinearCrossEntropy(Loss):
    """Reference LM-head loss: `F.cross_entropy(hidden @ weight.T, target, ignore_index=...)`.

    The unfused language-model head: the full `(N, V)` logits are materialised, and autograd
    keeps what the backward pass needs of them. Mean over the targets that are not
    `ignore_index` (NaN when every target is ignored, as in PyTorch).
    """

    name: ClassVar[str] = "torch-linear-cross-entropy"
    summary: ClassVar[str] = "Reference: F.cross_entropy(hidden @ weight.T, target), unfused"
    reference: ClassVar[str | None] = None
    task: ClassVar[str] = "lm-head"

    def __init__(self, *, ignore_index: int = -100) -> None:
        self.ignore_index = int(ignore_index)

    def forward(self, hidden: Tensor, weight: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        logits = hidden @ weight.T  # (N, V)
        return F.cross_entropy(logits, target.long(), ignore_index=self.ignore_index)

    def closed_form(self, hidden: Tensor, weight: Tensor, target: Tensor) -> float:  # type: ignore[override]
        return linear_cross_entropy_closed_form(
            hidden, weight, target, ignore_index=self.ignore_index
        )
