"""Quality metrics, wrapped once around scikit-learn so that no benchmark hand-writes them.

Interview point: accuracy hides class imbalance (99% accuracy by always saying "negative" at
1 positive in 100). Precision = TP / (TP + FP) asks "when I say yes, am I right?"; recall =
TP / (TP + FN) asks "of the real yeses, how many did I find?"; F1 is their harmonic mean.
Macro averaging weighs every class equally, so a rare class counts as much as a common one.
ROC-AUC is the probability that a random positive scores above a random negative; under heavy
imbalance PR-AUC (average precision) is the more telling of the two.

Retrieval: recall@k is the share of queries whose one relevant item is among the k most similar
(scikit-learn's top-k accuracy with labels 0..N-1); the mean reciprocal rank is the label-ranking
average precision when each query has one relevant item. Alignment and uniformity (Wang & Isola,
2020) describe the geometry of normalised embeddings rather than a decision, so they are the two
metrics here written out by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _sklearn() -> Any:
    """`sklearn.metrics`, imported on first use: loading it costs about a second and a half,
    which every command would pay at start-up (plugins import this module)."""
    from sklearn import metrics

    return metrics


__all__ = [
    "alignment",
    "best_f1_threshold",
    "binary_report",
    "brier_score",
    "classification_report",
    "confusion_matrix",
    "growth_exponent",
    "pair_similarity_report",
    "per_class_report",
    "recall_at_k",
    "retrieval_report",
    "roc_auc",
    "uniformity",
]


def _numpy(values: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().double().cpu().numpy()
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
        raise ValueError(
            f"scores must be (N, C) with N = len(target) = {y.shape[0]}; got {s.shape}"
        )
    num_classes = num_classes or s.shape[1]
    labels = list(range(num_classes))
    pred = s.argmax(axis=1)
    precision, recall, f1, _ = _sklearn().precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0
    )
    probs = _softmax(s)
    report = {
        "accuracy": float(_sklearn().accuracy_score(y, pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc": roc_auc(y, probs, labels=labels),
        "pr_auc": _pr_auc_macro(y, probs, labels),
    }
    return report


def binary_report(
    target: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray, *, threshold: float = 0.0
) -> dict[str, float]:
    """Precision, recall, F1 of the positive class at `threshold`, plus ROC-AUC and PR-AUC.

    `scores` are real-valued (logits or score differences); `score >= threshold` means "predict
    1", the convention of scikit-learn's precision-recall curve, so that a threshold from
    `best_f1_threshold` gives here the F1 it was chosen for, tied scores included.
    """
    y = _numpy(target).astype(int)
    s = _numpy(scores).astype(np.float64).reshape(-1)
    pred = (s >= threshold).astype(int)
    precision, recall, f1, _ = _sklearn().precision_recall_fscore_support(
        y, pred, labels=[1], average=None, zero_division=0
    )
    has_both = len(np.unique(y)) == 2
    return {
        "accuracy": float(_sklearn().accuracy_score(y, pred)),
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
        "roc_auc": float(_sklearn().roc_auc_score(y, s)) if has_both else 0.5,
        "pr_auc": float(_sklearn().average_precision_score(y, s)) if has_both else float(y.mean()),
    }


def roc_auc(target: np.ndarray, probs: np.ndarray, *, labels: list[int]) -> float:
    """One-vs-rest macro ROC-AUC over the classes present in `target` (0.5 if fewer than two)."""
    present = [c for c in labels if (target == c).any()]
    if len(present) < 2:
        return 0.5
    if len(labels) == 2:
        return float(_sklearn().roc_auc_score(target, probs[:, 1]))
    aucs = [_sklearn().roc_auc_score(target == c, probs[:, c]) for c in present]
    return float(np.mean(aucs))


def _pr_auc_macro(target: np.ndarray, probs: np.ndarray, labels: list[int]) -> float:
    present = [c for c in labels if (target == c).any()]
    if not present:
        return 0.0
    return float(
        np.mean([_sklearn().average_precision_score(target == c, probs[:, c]) for c in present])
    )


def _softmax(scores: np.ndarray) -> np.ndarray:
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0):
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out = exp / exp.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(out)):
        raise ValueError("non-finite scores")
    return out


# --------------------------------------------------------------------------- per class


def per_class_report(
    target: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    *,
    num_classes: int | None = None,
) -> dict[str, float]:
    """Precision, recall, F1 and support of each class, keyed `precision_class_<c>` and so on.

    `scores` is `(N, C)` class scores (the prediction is the argmax) or `(N,)` predicted ids.
    """
    y = _numpy(target).astype(int).reshape(-1)
    pred, num_classes = _predictions(scores, y, num_classes)
    precision, recall, f1, support = _sklearn().precision_recall_fscore_support(
        y, pred, labels=list(range(num_classes)), average=None, zero_division=0
    )
    report: dict[str, float] = {}
    for c in range(num_classes):
        report[f"precision_class_{c}"] = float(precision[c])
        report[f"recall_class_{c}"] = float(recall[c])
        report[f"f1_class_{c}"] = float(f1[c])
        report[f"support_class_{c}"] = int(support[c])
    return report


def confusion_matrix(
    target: torch.Tensor | np.ndarray,
    scores: torch.Tensor | np.ndarray,
    *,
    num_classes: int | None = None,
) -> np.ndarray:
    """`(C, C)` counts: row = true class, column = predicted class (scikit-learn's convention)."""
    y = _numpy(target).astype(int).reshape(-1)
    pred, num_classes = _predictions(scores, y, num_classes)
    return _sklearn().confusion_matrix(y, pred, labels=list(range(num_classes)))


def _predictions(
    scores: torch.Tensor | np.ndarray, y: np.ndarray, num_classes: int | None
) -> tuple[np.ndarray, int]:
    s = _numpy(scores)
    if s.ndim == 2:
        if s.shape[0] != y.shape[0]:
            raise ValueError(f"scores must have N = len(target) = {y.shape[0]} rows; got {s.shape}")
        return s.argmax(axis=1), num_classes or s.shape[1]
    pred = s.astype(int).reshape(-1)
    if pred.shape != y.shape:
        raise ValueError(f"predictions must be (N,) with N = {y.shape[0]}; got {s.shape}")
    return pred, num_classes or int(max(pred.max(initial=0), y.max(initial=0))) + 1


def best_f1_threshold(
    target: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray
) -> float:
    """The score threshold that maximises F1 of the positive class (from the PR curve).

    A score equal to the threshold counts as positive (`score >= threshold`), as in
    `binary_report`: on the data it was chosen on, `binary_report(target, scores,
    threshold=best_f1_threshold(target, scores))["f1"]` is the best F1 of the PR curve.
    Choose it on training or validation data and apply it unchanged to held-out data.
    """
    y = _numpy(target).astype(int).reshape(-1)
    s = _numpy(scores).astype(np.float64).reshape(-1)
    precision, recall, thresholds = _sklearn().precision_recall_curve(y, s)
    if thresholds.size == 0:
        return float(s.min())
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def brier_score(target: torch.Tensor | np.ndarray, probability: torch.Tensor | np.ndarray) -> float:
    """Mean squared error of the predicted probability of class 1: calibration and sharpness in one."""
    y = _numpy(target).astype(int).reshape(-1)
    p = _numpy(probability).astype(np.float64).reshape(-1)
    return float(_sklearn().brier_score_loss(y, p, pos_label=1))


# --------------------------------------------------------------------------- retrieval


def recall_at_k(similarity: torch.Tensor | np.ndarray, k: int) -> float:
    """Share of queries (rows) whose relevant item (the diagonal) is among the `k` most similar."""
    s = _numpy(similarity).astype(np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(
            f"similarity must be square (N, N) with the positives on the diagonal; got {s.shape}"
        )
    n = s.shape[0]
    if k >= n:
        return 1.0
    if n == 2:  # scikit-learn reads two columns as a binary problem; k = 1 is plain accuracy
        return float(_sklearn().accuracy_score(np.arange(n), s.argmax(axis=1)))
    return float(_sklearn().top_k_accuracy_score(np.arange(n), s, k=k, labels=np.arange(n)))


def retrieval_report(
    similarity: torch.Tensor | np.ndarray, *, ks: Sequence[int] = (1, 10)
) -> dict[str, float]:
    """`recall_at_<k>` for each k, and the mean reciprocal rank of the positive (diagonal)."""
    s = _numpy(similarity).astype(np.float64)
    report = {f"recall_at_{k}": recall_at_k(s, k) for k in ks}
    relevant = np.eye(s.shape[0], dtype=int)
    report["mrr"] = float(_sklearn().label_ranking_average_precision_score(relevant, s))
    return report


def pair_similarity_report(
    similarity: torch.Tensor | np.ndarray, *, threshold: float
) -> dict[str, float]:
    """Verification view of a `(N, N)` similarity matrix: is pair (i, j) a positive pair?

    Positives are the N diagonal entries, negatives the N² - N others. ROC-AUC and PR-AUC are
    threshold-free; precision, recall and F1 are those of the decision `similarity >= threshold`.
    """
    s = _numpy(similarity).astype(np.float64)
    labels = np.eye(s.shape[0], dtype=int).reshape(-1)
    report = binary_report(labels, s.reshape(-1), threshold=threshold)
    report.pop("accuracy")  # dominated by the N² - N negatives; says nothing
    return report


def alignment(
    anchors: torch.Tensor | np.ndarray, positives: torch.Tensor | np.ndarray, *, alpha: float = 2.0
) -> float:
    """E ||f(x) - f(y)||^α over positive pairs of L2-normalised embeddings; lower is better (0 to 4)."""
    a, p = _unit_rows(anchors), _unit_rows(positives)
    return float(np.mean(np.linalg.norm(a - p, axis=1) ** alpha))


def uniformity(embeddings: torch.Tensor | np.ndarray, *, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||²) over distinct pairs of normalised embeddings; lower is better."""
    x = _unit_rows(embeddings)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {n}")
    sq_dist = np.clip(2.0 - 2.0 * (x @ x.T), 0.0, None)[np.triu_indices(n, k=1)]
    return float(np.log(np.mean(np.exp(-t * sq_dist))))


def _unit_rows(x: torch.Tensor | np.ndarray) -> np.ndarray:
    v = _numpy(x).astype(np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def growth_exponent(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """How cost grows with size: the least-squares slope of log(cost) against log(size).

    1 is linear, 2 quadratic; an O(T²) attention measured at T = 1024…8192 should read near 2,
    a sliding window near 1. Two points give the exact exponent between them.
    """
    if len(sizes) != len(costs) or len(sizes) < 2:
        raise ValueError(f"need two or more (size, cost) pairs, got {len(sizes)} and {len(costs)}")
    log_sizes, log_costs = np.log(np.asarray(sizes, float)), np.log(np.asarray(costs, float))
    return float(np.polyfit(log_sizes, log_costs, 1)[0])
