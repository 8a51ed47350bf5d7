"""Correct losses written differently from the built-ins: focal loss from logsumexp, the
ranking loss as a softplus, label-smoothed cross-entropy as a KL-style sum."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import suite


class LogSumExpFocal(suite.Loss):
    """Focal loss: log p_t = z_t - logsumexp(z), weight (1 - p_t)^γ, optional per-class α."""

    name = "kit-lse-focal"
    summary = "focal loss via logsumexp"
    reference = "focal"
    task = "classification"

    def __init__(self, gamma: float = 2.0, alpha: list[float] | None = None) -> None:
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_pt = logits.gather(1, target[:, None])[:, 0] - torch.logsumexp(logits, dim=1)
        # 1 - p_t is exactly 0 once p_t rounds to 1 (a logit gap of ~17 in float32): clamp it, or
        # γ < 1 gives an infinite derivative there and a NaN gradient (0 · inf)
        one_minus_pt = (-torch.expm1(log_pt)).clamp_min(torch.finfo(log_pt.dtype).tiny)
        loss = -torch.pow(one_minus_pt, self.gamma) * log_pt
        if self.alpha is not None:
            loss = loss * torch.as_tensor(self.alpha, dtype=logits.dtype)[target]
        return loss.mean()


class SoftplusRanking(suite.Loss):
    """Pairwise reward-model loss as softplus(rejected - chosen) = -log σ(chosen - rejected)."""

    name = "kit-softplus-ranking"
    summary = "ranking loss via softplus"
    reference = "ranking"
    task = "ranking"

    def forward(self, chosen: Tensor, rejected: Tensor) -> Tensor:
        return F.softplus(rejected - chosen).mean()


class SmoothedCrossEntropy(suite.Loss):
    """Cross-entropy against the smoothed target distribution (1-ε)·onehot + ε/C, ignored rows out."""

    name = "kit-smoothed-cross-entropy"
    summary = "cross-entropy against a smoothed target distribution"
    reference = "cross-entropy"
    task = "classification"

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int = -100) -> None:
        self.epsilon, self.ignore_index = label_smoothing, ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        keep = target != self.ignore_index
        logits, target = logits[keep], target[keep]
        classes = logits.shape[1]
        dist = torch.full_like(logits, self.epsilon / classes)
        dist.scatter_add_(
            1, target[:, None], torch.full((len(target), 1), 1 - self.epsilon, dtype=logits.dtype)
        )
        return -(dist * torch.log_softmax(logits, 1)).sum(1).mean()


@suite.hookimpl
def register_components(register):
    register(LogSumExpFocal)
    register(SoftplusRanking)
    register(SmoothedCrossEntropy)
