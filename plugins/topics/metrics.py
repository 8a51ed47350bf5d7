"""Interview topics of the area metrics: precision/recall/F1, accuracy, ROC vs PR, the threshold."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import suite
from suite import metrics as suite_metrics


def _by_hand(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from the counts of one confusion matrix."""
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _sklearn_metrics() -> Any:
    """`sklearn.metrics`, imported when an experiment runs, not when the plugin loads."""
    from sklearn import metrics

    return metrics


class PrecisionRecallF1(suite.Topic):
    """Everything comes from the confusion matrix. Precision is the share of predicted positives
    that are real (TP over TP + FP): when I say yes, am I right? Recall is the share of real
    positives found (TP over TP + FN): of the real yeses, how many did I catch? F1 is their
    harmonic mean, which sits closer to the smaller of the two, so a model cannot buy a good F1
    with one of them alone. True negatives appear in none of the three.

    Formula:
    P = TP/(TP+FP);  R = TP/(TP+FN);  F1 = 2PR/(P+R) = 2TP/(2TP+FP+FN)

    Pitfalls:
    - With several classes say which average: macro (every class equal), micro (every example
      equal; for single-label problems micro-F1 is just accuracy) or weighted (by support).
    - Precision is undefined when nothing is predicted positive; scikit-learn's `zero_division`
      decides what is reported.
    - scikit-learn's confusion matrix has true classes as rows, predictions as columns.

    Follow-up questions:
    - When would you prefer an F-beta score with beta above one?
    - Why is F1 not symmetric in which class is called positive?
    """

    name = "precision-recall-f1"
    area = "metrics"
    question = "How do you compute precision, recall and F1 from a confusion matrix?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        rng = np.random.default_rng(ctx.seed)
        n = ctx.pick(20_000, 2_000)
        y = (rng.random(n) < 0.2).astype(int)
        pred = (1.5 * y + rng.normal(size=n) > 1.0).astype(int)  # a noisy detector
        tn, fp, fn, tp = _sklearn_metrics().confusion_matrix(y, pred).ravel()
        mine = _by_hand(tp, fp, fn)
        lib = _sklearn_metrics().precision_recall_fscore_support(y, pred, average="binary")[:3]
        err = max(abs(a - b) for a, b in zip(mine, lib, strict=True))
        count_form = 2 * tp / (2 * tp + fp + fn)
        # three classes: macro by hand from the per-class counts, micro-F1 = accuracy
        y3 = rng.integers(0, 3, n)
        pred3 = np.where(rng.random(n) < 0.6, y3, rng.integers(0, 3, n))
        cm = _sklearn_metrics().confusion_matrix(y3, pred3)
        tp3 = np.diag(cm)
        macro = np.mean(
            [
                _by_hand(t, f, m)[2]
                for t, f, m in zip(tp3, cm.sum(0) - tp3, cm.sum(1) - tp3, strict=True)
            ]
        )
        macro_err = abs(macro - _sklearn_metrics().f1_score(y3, pred3, average="macro"))
        micro_gap = abs(
            _sklearn_metrics().f1_score(y3, pred3, average="micro")
            - _sklearn_metrics().accuracy_score(y3, pred3)
        )
        precision, recall, f1 = mine
        return suite.Evidence(
            table=[
                {
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "tn": tn,
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                },
            ],
            claims=[
                suite.Claim.of(
                    "by hand from TP = {tp}, FP = {fp}, FN = {fn}: P = {p:.4f}, R = {r:.4f}, "
                    "F1 = {f:.4f}; precision_recall_fscore_support agrees to {err:.0e}",
                    holds=err < 1e-12 and abs(count_form - f1) < 1e-12,
                    tp=tp,
                    fp=fp,
                    fn=fn,
                    p=precision,
                    r=recall,
                    f=f1,
                    err=err,
                ),
                suite.Claim.of(
                    "F1 = {f:.4f} sits below the arithmetic mean {a:.4f}, nearer the smaller of "
                    "P and R",
                    holds=min(precision, recall) <= f1 < (precision + recall) / 2,
                    f=f1,
                    a=(precision + recall) / 2,
                ),
                suite.Claim.of(
                    "three classes: macro-F1 from per-class counts matches scikit-learn to "
                    "{m:.0e}; micro-F1 equals accuracy to {g:.0e}",
                    holds=macro_err < 1e-12 and micro_gap < 1e-12,
                    m=macro_err,
                    g=micro_gap,
                ),
            ],
            note=f"{n} examples; binary: 1 in 5 positive, score 1.5·y + noise > 1",
        )


class AccuracyUnderImbalance(suite.Topic):
    """With one positive in fifty, a model that always answers "negative" is right on every
    negative and so scores an accuracy equal to the majority share, while it never finds a single
    positive: recall and F1 of the rare class are zero. A genuinely useful detector can even have
    lower accuracy than that, because its false alarms on the huge negative class cost more
    accuracy than its hits earn. Report per-class recall and F1, balanced accuracy or MCC instead.

    Formula:
    accuracy = (TP+TN)/N;  majority classifier: accuracy = 1 - prevalence, recall = 0, F1 = 0

    Pitfalls:
    - Compare against the majority baseline, never against zero or one half.
    - Balanced accuracy (mean per-class recall) and MCC score the majority classifier as chance.
    - Resampling the test set to balance it changes what precision means; report the real mix.

    Follow-up questions:
    - Which metric would you put in the dashboard for fraud detection, and why?
    - How does Cohen's kappa correct accuracy for chance agreement?
    """

    name = "accuracy-under-imbalance"
    area = "metrics"
    question = "Why is accuracy misleading on imbalanced data?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        from sklearn.dummy import DummyClassifier  # loaded when the card runs

        rng = np.random.default_rng(ctx.seed)
        n = ctx.pick(50_000, 10_000)
        y = np.zeros(n, dtype=int)
        y[: n // 50] = 1  # exactly 2 in 100 positive
        rng.shuffle(y)
        score = 2.0 * y + rng.normal(size=n)
        x = score[:, None]
        models = {
            "majority": DummyClassifier(strategy="most_frequent").fit(x, y).predict(x),
            "detector": (score > 2.0).astype(int),
        }
        rows = []
        for label, pred in models.items():
            rows.append(
                {
                    "model": label,
                    "accuracy": _sklearn_metrics().accuracy_score(y, pred),
                    "recall": _sklearn_metrics().recall_score(y, pred, zero_division=0),
                    "f1": _sklearn_metrics().f1_score(y, pred, zero_division=0),
                    "balanced_accuracy": _sklearn_metrics().balanced_accuracy_score(y, pred),
                    "mcc": _sklearn_metrics().matthews_corrcoef(y, pred),
                }
            )
        dummy, detector = rows
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "always 'negative' on {pos:.0%} positives: accuracy {a:.3f}, rare-class "
                    "F1 {f:.3f}, recall {r:.3f}",
                    holds=dummy["accuracy"] >= 0.97 and dummy["f1"] == 0 and dummy["recall"] == 0,
                    pos=y.mean(),
                    a=dummy["accuracy"],
                    f=dummy["f1"],
                    r=dummy["recall"],
                ),
                suite.Claim.of(
                    "a real detector (F1 {f:.3f}) scores lower accuracy, {a:.3f} vs {d:.3f}",
                    holds=detector["f1"] > 0.25
                    and detector["accuracy"] < dummy["accuracy"] - 0.005,
                    f=detector["f1"],
                    a=detector["accuracy"],
                    d=dummy["accuracy"],
                ),
                suite.Claim.of(
                    "balanced accuracy ranks them right: {d:.3f} (majority, chance) vs {b:.3f}; "
                    "MCC {m0:.3f} vs {m1:.3f}",
                    holds=abs(dummy["balanced_accuracy"] - 0.5) < 1e-12
                    and detector["balanced_accuracy"] > 0.65
                    and detector["mcc"] > 0.2,
                    d=dummy["balanced_accuracy"],
                    b=detector["balanced_accuracy"],
                    m0=dummy["mcc"],
                    m1=detector["mcc"],
                ),
            ],
            note=f"{n} examples, 1 in 50 positive; detector: 2·y + N(0, 1) > 2",
        )


class RocVsPrUnderImbalance(suite.Topic):
    """ROC-AUC is the probability that a random positive outscores a random negative; it depends
    only on the two score distributions, not on how many of each there are, so it barely moves
    as positives become rare. Precision does depend on the mix: the same false-positive rate
    means many more false alarms per hit when negatives outnumber positives a hundred to one, so
    the precision-recall curve and its area (average precision) collapse. Under heavy imbalance
    PR-AUC tells you how usable the alerts are; ROC-AUC tells you about ranking alone.

    Formula:
    ROC-AUC = P(s+ > s-);  AP = Σ_k (R_k - R_(k-1)) P_k;  a random ranking has AP = prevalence

    Pitfalls:
    - A high ROC-AUC on rare positives can hide a precision of a few in a hundred.
    - AP is not comparable across datasets with different prevalence; quote the baseline.
    - Linear interpolation of the PR curve overstates the area; use average precision.

    Follow-up questions:
    - Why does a fixed false-positive rate cost more precision as negatives multiply?
    - When would you still report ROC-AUC under imbalance?
    """

    name = "roc-vs-pr-under-imbalance"
    area = "metrics"
    question = "Why prefer PR-AUC over ROC-AUC when positives are rare?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        rng = np.random.default_rng(ctx.seed)
        n_pos = ctx.pick(2000, 1000)
        ratios = [1, 3, 10, 30, 100]
        separation = 1.5
        positives = rng.normal(
            separation, 1.0, n_pos
        )  # the same score distributions at every ratio
        negatives = rng.normal(0.0, 1.0, n_pos * ratios[-1])
        rows = []
        for ratio in ratios:
            neg = negatives[: n_pos * ratio]
            scores = np.concatenate([positives, neg])
            y = np.concatenate([np.ones(n_pos), np.zeros(len(neg))])
            rows.append(
                {
                    "negatives_per_positive": ratio,
                    "roc_auc": _sklearn_metrics().roc_auc_score(y, scores),
                    "pr_auc": _sklearn_metrics().average_precision_score(y, scores),
                    "prevalence": 1 / (1 + ratio),
                }
            )
        roc = [r["roc_auc"] for r in rows]
        ap = [r["pr_auc"] for r in rows]
        theory = 0.5 * math.erfc(-separation / 2)  # Φ(d/√2): P(N(d, 2) > 0)
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "from 1:1 to 1:100, ROC-AUC stays within a band of {band:.3f} ({lo:.3f} to "
                    "{hi:.3f}; Φ(d/√2) = {th:.3f})",
                    holds=max(roc) - min(roc) < 0.03 and all(abs(r - theory) < 0.03 for r in roc),
                    band=max(roc) - min(roc),
                    lo=min(roc),
                    hi=max(roc),
                    th=theory,
                ),
                suite.Claim.of(
                    "while average precision falls from {a:.3f} to {b:.3f}, at every step",
                    holds=bool(np.all(np.diff(ap) < 0)) and ap[0] - ap[-1] > 0.5,
                    a=ap[0],
                    b=ap[-1],
                ),
                suite.Claim.of(
                    "at 1:100 the AP of {b:.3f} is still {x:.0f}× the random-ranking baseline "
                    "{p:.4f}",
                    holds=ap[-1] > 5 * rows[-1]["prevalence"],
                    b=ap[-1],
                    x=ap[-1] / rows[-1]["prevalence"],
                    p=rows[-1]["prevalence"],
                ),
            ],
            series=[
                suite.Series(
                    "ROC-AUC",
                    [float(r) for r in ratios],
                    roc,
                    "negatives per positive",
                    "area",
                    figure="auc",
                ),
                suite.Series(
                    "PR-AUC (AP)",
                    [float(r) for r in ratios],
                    ap,
                    "negatives per positive",
                    "area",
                    figure="auc",
                ),
            ],
            note=f"{n_pos} positives ~ N(3/2, 1) and 1 to 100 times as many negatives ~ N(0, 1)",
        )


def _gaussian_split(
    rng: np.random.Generator, n: int, dim: int, prevalence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Features N(0, I), shifted by 2 along the first axis for the positives."""
    y = (rng.random(n) < prevalence).astype(int)
    x = rng.normal(size=(n, dim))
    x[:, 0] += 2.0 * y
    return x, y


class DecisionThreshold(suite.Topic):
    """A probability of one half is the right cut only when the two errors cost the same and
    the classes are balanced. For F1 on a rare class the best threshold is much lower: with
    calibrated probabilities it sits at half the best achievable F1. Pick the threshold on a
    validation split (the peak of F1 along the precision-recall curve), then apply it unchanged
    to held-out data: tuning it on the test set reports an optimistic score.

    Formula:
    t* = argmax_t F1(t) on validation;  for calibrated p, t* = F1*/2 (Lipton et al.)

    Pitfalls:
    - Tuning the threshold on the test set leaks; the gain shrinks on fresh data.
    - A threshold fitted to one prevalence is wrong after the class mix shifts.
    - Ties: decide whether the rule is s ≥ t or s > t and use the same one when evaluating.

    Follow-up questions:
    - How would you choose the threshold for a given cost of false positives and negatives?
    - Why does class re-weighting in training move the best threshold?
    """

    name = "decision-threshold"
    area = "metrics"
    question = "Should a classifier always predict positive above probability one half?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        from sklearn.linear_model import LogisticRegression  # loaded when the card runs

        rng = np.random.default_rng(ctx.seed)
        n, dim, prevalence = ctx.pick(20_000, 10_000), 8, 0.02
        x_train, y_train = _gaussian_split(rng, n, dim, prevalence)
        x_val, y_val = _gaussian_split(rng, n, dim, prevalence)
        x_test, y_test = _gaussian_split(rng, 2 * n, dim, prevalence)
        model = LogisticRegression().fit(x_train, y_train)
        p_val, p_test = (model.predict_proba(x)[:, 1] for x in (x_val, x_test))
        tuned = suite_metrics.best_f1_threshold(y_val, p_val)
        rows = []
        for label, threshold in (("one half", 0.5), ("tuned on validation", tuned)):
            pred = p_test >= threshold
            rows.append(
                {
                    "threshold": label,
                    "value": threshold,
                    "precision": _sklearn_metrics().precision_score(y_test, pred, zero_division=0),
                    "recall": _sklearn_metrics().recall_score(y_test, pred),
                    "f1_test": _sklearn_metrics().f1_score(y_test, pred),
                }
            )
        half, best = rows
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "the F1-optimal threshold on validation is {t:.3f}, well below one half",
                    holds=tuned < 0.45,
                    t=tuned,
                ),
                suite.Claim.of(
                    "on held-out data it gives F1 {a:.3f} against {b:.3f} at 0.5 (+{d:.3f}), "
                    "trading precision for recall",
                    holds=best["f1_test"] > half["f1_test"] + 0.02
                    and best["recall"] > half["recall"],
                    a=best["f1_test"],
                    b=half["f1_test"],
                    d=best["f1_test"] - half["f1_test"],
                ),
            ],
            note=(
                f"logistic regression, {dim} features, 1 in 50 positive; {n} train, {n} "
                f"validation, {2 * n} test rows"
            ),
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    PrecisionRecallF1,
    AccuracyUnderImbalance,
    RocVsPrUnderImbalance,
    DecisionThreshold,
)
