"""Focal loss (Lin et al., 2017) for C classes, with optional per-class weights alpha.

The from-scratch cross-entropy's stable log-softmax is reused; the only new idea is the
modulating factor (1 - p_t)^γ, computed as `-expm1(log p_t)` so that it stays accurate when
p_t is close to 1 (where `1 - exp(log p_t)` would cancel to 0 too early).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.losses.closed_forms import focal_closed_form
from plugins.losses.cross_entropy import stable_log_softmax
from suite.dtypes import compute_dtype
from suite.errors import ComponentInputError
from suite.kinds import Loss

__all__ = ["FocalLoss"]


class FocalLoss(Loss):
    """Focal loss: cross-entropy that turns down the easy examples.

    Interview question: "What does focal loss do for class imbalance?"

    Short answer: under heavy imbalance the loss is dominated by the sum over thousands of easy,
    already well-classified negatives, each with a small loss. Focal loss multiplies each example's
    cross-entropy by (1 - p_t)^γ, where p_t is the predicted probability of the true class: the
    factor vanishes as p_t → 1, so easy examples all but drop out, while a hard example (small
    p_t) keeps a large share of its loss (the factor tends to 1 as p_t → 0), so the gradient
    concentrates on the hard and rare examples. `alpha` adds a fixed weight
    per class (the re-weighting answer to imbalance); γ is the adaptive one. γ = 0 and no alpha is
    exactly cross-entropy.

    Formula, with p = softmax(z), p_t = p[y], α_t = alpha[y] (1 when alpha is None):

        loss = 1/N Σ_i -α_t (1 - p_t)^γ log p_t

    Pitfalls:
    * Focal loss is not a free lunch for imbalance. It changes calibration most: easy examples
      stop pulling their probabilities towards 0 and 1, so the predicted probability of a rare
      class comes out several times its true frequency. Whether the ranking improves (ROC-AUC,
      PR-AUC) or only the operating point of the argmax moves depends on the model and the data;
      compare against cross-entropy with a tuned threshold before claiming it helps
      (`loss-imbalanced` reports both, `f1` and `f1_tuned_threshold`).
    * In the original detector paper α = 0.25 weighs the *rare* foreground class down, because γ
      already boosts it; α and γ interact, tune them together.
    * With alpha the mean here is a plain mean over N (as torchvision's `reduction="mean"`), not
      the weighted mean `Σ α_t·loss / Σ α_t` that `F.cross_entropy(weight=...)` uses. The paper
      (Lin et al., 2017) does neither: it sums over all anchors and divides by the number of
      anchors assigned to ground-truth objects.
    * Write the factor as `-expm1(log p_t)` and never raise 0 to γ < 1 (infinite gradient).

    Eager vs compiled: the cost is the log-softmax over (N, C), as for cross-entropy; the
    focal factor adds only per-row work. Eagerly every op of the log-softmax and of its
    gradient is a kernel with an (N, C) intermediate written to and read back from memory, so
    at a large C the eager loss is several times slower than PyTorch's fused cross-entropy.
    With `compile=True` TorchInductor fuses each row's max, exp-sum and gather (and the
    backward's softmax-minus-target) into generated loops: it then costs about what the fused
    cross-entropy does, once the compile (seconds per shape) is paid (`loss-agreement`).
    """

    name: ClassVar[str] = "focal"
    summary: ClassVar[str] = (
        "Focal loss (multi-class): (1 - p_t)^gamma down-weights easy examples; gamma=0 is CE"
    )
    reference: ClassVar[str | None] = "torch-cross-entropy"
    task: ClassVar[str] = "classification"
    #: The options under which focal loss must equal its reference (cross-entropy) exactly.
    reference_options: ClassVar[dict[str, Any]] = {"gamma": 0.0, "alpha": None}
    promises: ClassVar[tuple[str, ...]] = ("loss.focal-modulation",)
    practice_target: ClassVar[bool] = True  # `nlpsuite practice loss` writes a focal loss

    def __init__(
        self, *, gamma: float = 2.0, alpha: Sequence[float] | Tensor | None = None
    ) -> None:
        if not float(gamma) >= 0.0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)  # focusing strength; 0 gives cross-entropy
        self.alpha: Tensor | None = None  # (C,) per-class weights, or None for all ones
        if alpha is not None:
            weights = torch.as_tensor(alpha, dtype=torch.float64).reshape(-1)
            if (
                weights.numel() == 0
                or bool((weights < 0).any())
                or not bool(torch.isfinite(weights).all())
            ):
                raise ValueError(
                    f"alpha must be finite non-negative per-class weights, got {weights.tolist()}"
                )
            self.alpha = weights

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        num_classes = logits.shape[1]
        if self.alpha is not None and self.alpha.numel() != num_classes:
            raise ComponentInputError(
                f"alpha has {self.alpha.numel()} weights but logits have C = {num_classes} classes"
            )
        dtype = compute_dtype(logits)
        log_probs = stable_log_softmax(logits.to(dtype))  # (N, C)
        log_pt = log_probs.gather(1, target.long().unsqueeze(1)).squeeze(1)  # (N,)
        per_row = -log_pt
        if self.gamma > 0:
            one_minus_pt = (-torch.expm1(log_pt)).clamp_min(torch.finfo(dtype).tiny)  # (N,)
            per_row = one_minus_pt.pow(self.gamma) * per_row
        if self.alpha is not None:
            per_row = self.alpha.to(device=logits.device, dtype=dtype)[target.long()] * per_row
        return per_row.mean().to(logits.dtype)

    def closed_form(self, logits: Tensor, target: Tensor) -> float:  # type: ignore[override]
        alpha = None if self.alpha is None else self.alpha.tolist()
        return focal_closed_form(logits, target, gamma=self.gamma, alpha=alpha)

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        ramp = [0.25 + 1.75 * i / max(num_classes - 1, 1) for i in range(num_classes)]
        alternating = [(0.5, 2.0)[i % 2] for i in range(num_classes)]
        return {"gamma": [0.0, 0.5, 1.0, 2.0, 5.0], "alpha": [None, ramp, alternating]}
