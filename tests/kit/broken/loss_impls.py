"""Deliberately broken losses, one bug each."""

from __future__ import annotations

import torch
from torch import Tensor

import suite


class FocalWrongSign(suite.Loss):
    """Focal loss whose modulating factor is (1 + p_t)^γ: it up-weights the easy examples."""

    name = "broken-focal-sign"
    summary = "modulating factor (1 + p_t)^γ instead of (1 - p_t)^γ"
    reference = "focal"
    task = "classification"

    def __init__(self, gamma: float = 2.0, alpha: list[float] | None = None) -> None:
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_pt = torch.log_softmax(logits, 1).gather(1, target[:, None])[:, 0]
        loss = -((1 + log_pt.exp()) ** self.gamma) * log_pt
        if self.alpha is not None:
            loss = loss * torch.tensor(self.alpha)[target]
        return loss.mean()


class SummedCrossEntropy(suite.Loss):
    """Cross-entropy summed over the batch instead of averaged."""

    name = "broken-ce-sum"
    summary = "sums instead of averaging"
    reference = "cross-entropy"
    task = "classification"

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int = -100) -> None:
        self.label_smoothing, self.ignore_index = label_smoothing, ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(
            logits,
            target,
            reduction="sum",
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
        )


class NaiveSoftmaxCrossEntropy(suite.Loss):
    """Cross-entropy as -log(exp(z_t) / Σ exp(z)): overflows for large logits."""

    name = "broken-ce-naive-softmax"
    summary = "log of a softmax computed with raw exp"
    reference = "cross-entropy"
    task = "classification"

    def __init__(self, label_smoothing: float = 0.0, ignore_index: int = -100) -> None:
        self.label_smoothing, self.ignore_index = label_smoothing, ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        keep = target != self.ignore_index
        logits, target = logits[keep], target[keep]
        probs = logits.exp() / logits.exp().sum(1, keepdim=True)
        logp = probs.log()
        nll = -logp.gather(1, target[:, None])[:, 0]
        return ((1 - self.label_smoothing) * nll - self.label_smoothing * logp.mean(1)).mean()


class FocalExpm1Power(suite.Loss):
    """Focal loss as `(-expm1(log p_t))**γ · -log p_t`: accurate 1 - p_t, but never clamped.

    At a target logit 50 above the others p_t rounds to 1 in float32, 1 - p_t is exactly 0, and
    for γ < 1 the derivative of x^γ at 0 is infinite: the gradient is `0 · inf`, NaN.
    """

    name = "broken-focal-expm1-pow"
    summary = "(1 - p_t)^γ via expm1 without a clamp: NaN gradient at p_t = 1 for γ < 1"
    reference = "focal"
    task = "classification"

    def __init__(self, gamma: float = 2.0, alpha: list[float] | None = None) -> None:
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        logp_t = torch.log_softmax(logits, 1).gather(1, target[:, None])[:, 0]
        loss = -((-torch.expm1(logp_t)) ** self.gamma) * logp_t
        if self.alpha is not None:
            loss = loss * torch.tensor(self.alpha)[target]
        return loss.mean()


EXPECTED = {
    FocalWrongSign: "loss.focal-modulation",
    SummedCrossEntropy: "loss.reduction",
    NaiveSoftmaxCrossEntropy: "loss.finite-gradients",
    FocalExpm1Power: "loss.finite-gradients",
}
