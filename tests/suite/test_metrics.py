"""The scikit-learn wrappers of `suite.metrics` on small cases whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from suite import metrics
from suite.metrics import growth_exponent


def test_binary_report_counts_the_positive_class() -> None:
    target = np.array([1, 1, 0, 0, 0, 0])
    scores = np.array([2.0, -1.0, 0.5, -2.0, -3.0, -4.0])  # TP, FN, FP, TN, TN, TN
    report = metrics.binary_report(target, scores)
    assert report["precision"] == pytest.approx(0.5)
    assert report["recall"] == pytest.approx(0.5)
    assert report["f1"] == pytest.approx(0.5)
    assert report["accuracy"] == pytest.approx(4 / 6)
    # positive scores 2 and -1 against negatives 0.5, -2, -3, -4: 7 of 8 pairs ordered right
    assert report["roc_auc"] == pytest.approx(7 / 8)


def test_binary_report_with_one_class_is_finite() -> None:
    report = metrics.binary_report(torch.zeros(4), torch.randn(4))
    assert report["roc_auc"] == 0.5 and all(math.isfinite(v) for v in report.values())


def test_classification_report_macro_and_auc() -> None:
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    scores = torch.eye(3)[torch.tensor([0, 0, 1, 2, 2, 2])] * 5  # one class-1 example called 2
    report = metrics.classification_report(target, scores)
    assert report["accuracy"] == pytest.approx(5 / 6)
    assert report["recall_macro"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert report["precision_macro"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert 0.5 < report["roc_auc"] <= 1.0 and 0.0 < report["pr_auc"] <= 1.0


def test_per_class_report_and_confusion_matrix() -> None:
    target = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    per_class = metrics.per_class_report(target, pred, num_classes=3)
    assert per_class["precision_class_1"] == pytest.approx(2 / 3)
    assert per_class["recall_class_1"] == pytest.approx(1.0)
    assert per_class["recall_class_2"] == pytest.approx(0.5)
    assert per_class["support_class_0"] == 2
    matrix = metrics.confusion_matrix(target, pred, num_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    scores = np.eye(3)[pred]
    assert metrics.confusion_matrix(target, scores).tolist() == matrix.tolist()
    with pytest.raises(ValueError, match="N = len"):
        metrics.per_class_report(target, np.zeros((4, 3)))


def test_best_f1_threshold_separates_a_separable_set() -> None:
    target = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    threshold = metrics.best_f1_threshold(target, scores)
    assert 0.3 <= threshold <= 0.8
    # binary_report predicts positive for score >= threshold, as the PR curve does
    assert metrics.binary_report(target, scores, threshold=threshold - 1e-9)["f1"] == pytest.approx(
        1.0
    )
    assert metrics.binary_report(target, scores, threshold=threshold)["f1"] == pytest.approx(1.0)


def test_recall_at_k_and_mrr() -> None:
    similarity = np.array(
        [
            [0.9, 0.1, 0.0],  # positive ranked 1st
            [0.8, 0.5, 0.1],  # 2nd
            [0.7, 0.6, 0.2],  # 3rd
        ]
    )
    assert metrics.recall_at_k(similarity, 1) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(similarity, 2) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(similarity, 10) == 1.0
    report = metrics.retrieval_report(similarity, ks=(1, 2))
    assert report["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    with pytest.raises(ValueError, match="square"):
        metrics.recall_at_k(np.zeros((2, 3)), 1)


@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 30), k=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_recall_at_k_counts_rank_of_the_diagonal(n: int, k: int, seed: int) -> None:
    sim = np.random.default_rng(seed).normal(size=(n, n))
    ranks = (sim > np.diag(sim)[:, None]).sum(axis=1)  # how many beat the positive
    assert metrics.recall_at_k(sim, k) == pytest.approx(float(np.mean(ranks < k)))


def test_pair_similarity_report_perfect_separation() -> None:
    similarity = np.eye(4) * 0.9 + 0.05
    report = metrics.pair_similarity_report(similarity, threshold=0.5)
    assert report["roc_auc"] == 1.0 and report["f1"] == 1.0 and "accuracy" not in report


def test_alignment_and_uniformity() -> None:
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    assert metrics.alignment(x, 3 * x) == pytest.approx(0.0, abs=1e-12)  # same directions
    assert metrics.alignment(x, -x) == pytest.approx(4.0)  # antipodal: ||u - (-u)||² = 4
    collapsed = np.ones((10, 3))
    assert metrics.uniformity(collapsed) == pytest.approx(
        0.0, abs=1e-12
    )  # all in one point: the worst
    assert metrics.uniformity(x) < -1.0
    with pytest.raises(ValueError, match="at least 2"):
        metrics.uniformity(np.ones((1, 3)))


def test_brier_score() -> None:
    assert metrics.brier_score([1, 0], [1.0, 0.0]) == 0.0
    assert metrics.brier_score([1, 0], [0.5, 0.5]) == pytest.approx(0.25)


def _best_f1_on_the_pr_curve(target: np.ndarray, scores: np.ndarray) -> float:
    """The largest F1 over scikit-learn's PR curve, the figure `best_f1_threshold` maximises."""
    precision, recall, _ = skm.precision_recall_curve(target, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(f1.max())


def test_best_f1_threshold_keeps_its_f1_in_binary_report_with_tied_scores() -> None:
    # the PR curve counts a score equal to the threshold as positive (s >= t); binary_report
    # must too, or the tied block at the threshold flips to negative and the tuned F1 drops
    target = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2, 0.1])
    threshold = metrics.best_f1_threshold(target, scores)
    assert threshold == 0.5  # the tied block is worth taking in
    report = metrics.binary_report(target, scores, threshold=threshold)
    assert report["f1"] == pytest.approx(_best_f1_on_the_pr_curve(target, scores))
    assert report["recall"] == pytest.approx(3 / 4)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(4, 40),
    levels=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_best_f1_threshold_agrees_with_binary_report(n: int, levels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = np.r_[0, 1, rng.integers(0, 2, size=n - 2)]  # both classes present
    scores = rng.integers(0, levels + 1, size=n) / levels  # few distinct values: many ties
    threshold = metrics.best_f1_threshold(target, scores)
    report = metrics.binary_report(target, scores, threshold=threshold)
    assert report["f1"] == pytest.approx(_best_f1_on_the_pr_curve(target, scores))


@given(
    exponent=st.floats(min_value=-2.0, max_value=3.0),
    scale=st.floats(min_value=1e-3, max_value=1e3),
    sizes=st.lists(st.integers(min_value=1, max_value=10_000), min_size=2, max_size=6, unique=True),
)
def test_growth_exponent_recovers_a_power_law(
    exponent: float, scale: float, sizes: list[int]
) -> None:
    costs = [scale * n**exponent for n in sizes]
    assert growth_exponent(sizes, costs) == pytest.approx(exponent, abs=1e-6)


def test_growth_exponent_needs_two_pairs() -> None:
    with pytest.raises(ValueError, match="two or more"):
        growth_exponent([1024], [3.0])
