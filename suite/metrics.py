"""Quality metrics, wrapped once around scikit-learn so that no benchmark hand-writes them.

Interview point: accuracy hides class imbalance (99% accuracy by always saying "negative" at
1 positive in 100). Precision = TP / (TP + FP) asks "when I say yes, am I right?"; recall =
TP / (TP + FN) asks "of the real yeses, how many did I find?"; F1 is their harmonic mean.
Macro averaging weighs every class equally, so a rare class counts as much as a common one.
ROC-AUC is the probability that a random positive scores above a random negative; under heavy
imbalance PR-AUC (average precision) is the more telling of the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from sklearn import metrics as skm

__all__ = ["binary_report", "classification_report", "roc_auc"]


def _numpy(values: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values)


def classification_report(
    target: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    *,
    num_classes: int | None = None,
) -> dict[str, float]:
    """Accuracy, macro precision/recall/F1, one-vs-rest ROC-AUC and macro PR-AUC from class scores.

    `target` is `(N,)` class ids; `scores` is `(N, C)` logits or probabilities. AUCs are NaN-free:
    classes absent from `target` are left out of the AUC averages, and an AUC that is undefined
    (one class only) is reported as 0.5, the value of a random ranking.
    """
    y = _numpy(target).astype(int)
    s = _numpy(scores).astype(np.float64)
    if s.ndim != 2 or s.shape[0] != y.shape[0]:
        raise ValueError(f"scores must be (N, C) with N = len(target) = {y.shape[0]}; got {s.shape}")
    num_classes = num_classes or s.shape[1]
    labels = list(range(num_classes))
    pred = s.argmax(axis=1)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0
    )
    probs = _softmax(s)
    report = {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc": roc_auc(y, probs, labels=labels),
        "pr_auc": _pr_auc_macro(y, probs, labels),
    }
    return report


def binary_report(target: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray, *, threshold: float = 0.0) -> dict[str, float]:
    """Precision, recall, F1 of the positive class at `threshold`, plus ROC-AUC and PR-AUC.

    `scores` are real-valued (logits or score differences): positive means "predict 1".
    """
    y = _numpy(target).astype(int)
    s = _numpy(scores).astype(np.float64).reshape(-1)
    pred = (s > threshold).astype(int)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, pred, labels=[1], average=None, zero_division=0
    )
    has_both = len(np.unique(y)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
        "roc_auc": float(skm.roc_auc_score(y, s)) if has_both else 0.5,
        "pr_auc": float(skm.average_precision_score(y, s)) if has_both else float(y.mean()),
    }


def roc_auc(target: np.ndarray, probs: np.ndarray, *, labels: list[int]) -> float:
    """One-vs-rest macro ROC-AUC over the classes present in `target` (0.5 if fewer than two)."""
    present = [c for c in labels if (target == c).any()]
    if len(present) < 2:
        return 0.5
    if len(labels) == 2:
        return float(skm.roc_auc_score(target, probs[:, 1]))
    aucs = [skm.roc_auc_score(target == c, probs[:, c]) for c in present]
    return float(np.mean(aucs))


def _pr_auc_macro(target: np.ndarray, probs: np.ndarray, labels: list[int]) -> float:
    present = [c for c in labels if (target == c).any()]
    if not present:
        return 0.0
    return float(np.mean([skm.average_precision_score(target == c, probs[:, c]) for c in present]))


def _softmax(scores: np.ndarray) -> np.ndarray:
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0):
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out = exp / exp.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(out)):
        raise ValueError("non-finite scores")
    return out


def is_finite_number(value: object) -> bool:
    """True for an int or float that is neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
