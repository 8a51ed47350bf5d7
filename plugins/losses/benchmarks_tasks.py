"""Task benchmarks: train a small model with each loss on a seeded task, score it on held-out data.

* `loss-imbalanced` (classification losses): 1 positive in `imbalance`; a linear model or a small
  MLP, the same initial weights for every loss. Precision, recall and F1 of the rare class at the
  argmax decision and macro-averaged, ROC-AUC, PR-AUC, and F1 at the threshold tuned on the
  training set: does focal loss help, and is it the ranking or only the threshold that moves?
* `loss-retrieval` (contrastive losses): a linear encoder trained on noisy paired views; recall@1
  and @10 among the held-out candidates, alignment and uniformity, and the verification view
  (is pair (i, j) positive?): ROC-AUC, PR-AUC, and precision/recall/F1 at the similarity
  threshold that maximised F1 on training pairs.
* `loss-preference` (ranking losses): a reward model trained on noisy annotator preferences;
  pairwise accuracy, agreement with the hidden true order and its ceiling, and, on pairs shown in
  random order, precision/recall/F1 of the decision "the first answer is preferred" and ROC-AUC.

All metrics come from `suite.metrics` (scikit-learn); the models and data come from `tasks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plugins.losses.data import (
    ImbalancedConfig,
    PairedConfig,
    PreferenceConfig,
    imbalanced_classification,
    mlp,
    paired_embeddings,
    preference_pairs,
)
from plugins.losses.infonce import cosine_similarity_matrix
from plugins.losses.options import as_loss_class
from suite import metrics
from suite.benchmark import Benchmark, Measurement, RunContext
from suite.kinds import Component, Loss
from suite.series import Series, pr_series, roc_series
from suite.threads import single_thread

__all__ = ["LossImbalanced", "LossPreference", "LossRetrieval", "train"]


def train(model: nn.Module, objective: Callable[[], Tensor], *, steps: int, lr: float) -> float:
    """`steps` of Adam on `objective()`; returns the last loss value."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    value = torch.tensor(float("nan"))
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        value = objective()
        value.backward()
        optimizer.step()
    return float(value.detach())


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}


_MODELS: dict[str, tuple[list[int], int, float]] = {
    # name: (hidden sizes, Adam steps, learning rate)
    "linear": ([], 400, 0.05),
    "mlp": ([32], 300, 0.01),
}


class _TaskBenchmark(Benchmark):
    """A task benchmark: applies to the losses of `loss_task`, runs `_run` on one thread."""

    kind: ClassVar[str] = "loss"
    loss_task: ClassVar[str]

    def applies_to(self, component_cls: type[Component]) -> bool:
        return issubclass(component_cls, Loss) and component_cls.task == self.loss_task

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement | dict[str, float]:
        with single_thread():
            return self._run(as_loss_class(component_cls), params, ctx)

    def _run(
        self, component_cls: type[Loss], params: dict[str, Any], ctx: RunContext
    ) -> Measurement | dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must implement _run()")


class LossImbalanced(_TaskBenchmark):
    """Train on 1 positive in `imbalance`, score the rare class on held-out data."""

    name: ClassVar[str] = "loss-imbalanced"
    loss_task: ClassVar[str] = "classification"
    summary: ClassVar[str] = (
        "imbalanced binary task (1 in 50): precision, recall, F1, ROC-AUC, PR-AUC"
    )
    quick_grid: ClassVar[Any] = {"imbalance": [50], "model": ["linear", "mlp"], "seeds": [1]}
    full_grid: ClassVar[Any] = {
        "imbalance": [10, 50, 200],
        "model": ["linear", "mlp"],
        "seeds": [5],
    }
    ratio_metric: ClassVar[str | None] = "f1"
    higher_is_better: ClassVar[bool] = True
    plots: ClassVar[tuple[str, ...]] = ("ratio", "roc", "pr")

    def _run(
        self, component_cls: type[Loss], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        config = ImbalancedConfig(imbalance=int(params["imbalance"]))
        hidden, steps, lr = _MODELS[params["model"]]
        loss = component_cls()
        rows = []
        curves: list[Series] = []
        for seed in range(int(params.get("seeds", 1))):
            data = imbalanced_classification(config, ctx.generator(100 + seed))
            model = mlp([config.dim, *hidden, 2], ctx.generator(200 + seed)).to(ctx.device)
            x_train, y_train = data.x_train.to(ctx.device), data.y_train.to(ctx.device)
            _fit_classifier(model, loss, x_train, y_train, steps=steps, lr=lr)
            with torch.no_grad():
                test_logits = model(data.x_test.to(ctx.device)).cpu()  # (n_test, 2)
                train_logits = model(x_train).cpu()
            rows.append(_score_imbalanced(data.y_train, train_logits, data.y_test, test_logits))
            if seed == 0:  # the curves of the first seed; the metrics average every seed
                margin = test_logits[:, 1] - test_logits[:, 0]  # (n_test,)
                curves = [roc_series(data.y_test, margin), pr_series(data.y_test, margin)]
        return Measurement(metrics=_mean(rows), series=curves)


def _fit_classifier(
    model: nn.Module, loss: Any, x: Tensor, y: Tensor, *, steps: int, lr: float
) -> float:
    return train(model, lambda: loss(model(x), y), steps=steps, lr=lr)


def _score_imbalanced(
    y_train: Tensor, train_logits: Tensor, y_test: Tensor, test_logits: Tensor
) -> dict[str, float]:
    margin = test_logits[:, 1] - test_logits[:, 0]  # (n_test,): > 0 means argmax says "rare"
    rare = metrics.binary_report(y_test, margin)  # the rare class, decided by argmax
    macro = metrics.classification_report(y_test, test_logits)
    threshold = metrics.best_f1_threshold(y_train, train_logits[:, 1] - train_logits[:, 0])
    tuned = metrics.binary_report(y_test, margin, threshold=threshold)
    rare_probability = torch.softmax(test_logits.double(), dim=1)[:, 1]
    return {
        "precision": rare["precision"],
        "recall": rare["recall"],
        "f1": rare["f1"],
        "roc_auc": rare["roc_auc"],
        "pr_auc": rare["pr_auc"],
        "f1_macro": macro["f1_macro"],
        "accuracy": macro["accuracy"],
        "f1_tuned_threshold": tuned["f1"],
        "predicted_rare_rate": float((margin > 0).double().mean()),
        "mean_rare_probability": float(rare_probability.mean()),
    }


class LossRetrieval(_TaskBenchmark):
    """Train a linear encoder on noisy paired views; retrieve each held-out positive among all."""

    name: ClassVar[str] = "loss-retrieval"
    loss_task: ClassVar[str] = "contrastive"
    summary: ClassVar[str] = (
        "paired-embedding retrieval: recall@1/@10, alignment, uniformity, pair ROC-AUC and F1"
    )
    quick_grid: ClassVar[Any] = {"noise": [1.0], "batch_size": [256]}
    full_grid: ClassVar[Any] = {
        "noise": [0.5, 1.0, 1.5],
        "batch_size": [32, 256],
        "temperature": [0.05, 0.5],
    }
    ratio_metric: ClassVar[str | None] = "recall_at_1"
    higher_is_better: ClassVar[bool] = True
    plots: ClassVar[tuple[str, ...]] = ("ratio", "roc", "pr")  # the verification view's curves

    steps: ClassVar[int] = 150
    n_test: ClassVar[int] = 500  # candidates per query; 500² pairs for the verification metrics

    def _run(
        self, component_cls: type[Loss], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        options = {}
        if "temperature" in params and "temperature" in component_cls.accepted_options():
            options["temperature"] = float(params["temperature"])
        loss = component_cls(**options)
        config = PairedConfig(n_test=self.n_test, noise=float(params["noise"]), nuisance_scale=3.0)
        data = paired_embeddings(config, ctx.generator(300))
        encoder = mlp([config.input_dim, 32], ctx.generator(301)).to(ctx.device)
        train_a, train_b = data.train_a.to(ctx.device), data.train_b.to(ctx.device)
        batches = ctx.generator(302)
        batch_size = int(params["batch_size"])

        def objective() -> Tensor:
            idx = torch.randint(0, config.n_train, (batch_size,), generator=batches).to(ctx.device)
            return loss(encoder(train_a[idx]), encoder(train_b[idx]))

        train(encoder, objective, steps=self.steps, lr=0.01)
        with torch.no_grad():
            test_a, test_b = (
                encoder(data.test_a.to(ctx.device)).cpu(),
                encoder(data.test_b.to(ctx.device)).cpu(),
            )
            fit_a, fit_b = (
                encoder(train_a[: self.n_test]).cpu(),
                encoder(train_b[: self.n_test]).cpu(),
            )
        similarity = cosine_similarity_matrix(
            test_a, test_b
        )  # (n_test, n_test), positives on the diagonal
        fit_similarity = cosine_similarity_matrix(fit_a, fit_b)
        threshold = metrics.best_f1_threshold(
            torch.eye(self.n_test).reshape(-1), fit_similarity.reshape(-1)
        )
        raw = metrics.recall_at_k(cosine_similarity_matrix(data.test_a, data.test_b), 1)
        is_pair, pair_score = torch.eye(self.n_test).reshape(-1), similarity.reshape(-1)
        scores = {
            **metrics.retrieval_report(similarity, ks=(1, 10)),
            **metrics.pair_similarity_report(similarity, threshold=threshold),
            "alignment": metrics.alignment(test_a, test_b),
            "uniformity": metrics.uniformity(torch.cat([test_a, test_b])),
            "recall_at_1_raw_inputs": raw,
        }
        curves = [
            roc_series(is_pair, pair_score, "pair ROC"),
            pr_series(is_pair, pair_score, "pair precision-recall"),
        ]
        return Measurement(metrics=scores, series=curves)


class LossPreference(_TaskBenchmark):
    """Train a reward model on noisy preferences; score held-out pairs."""

    name: ClassVar[str] = "loss-preference"
    loss_task: ClassVar[str] = "ranking"
    summary: ClassVar[str] = (
        "reward-model preferences: pairwise accuracy, ROC-AUC, precision/recall/F1"
    )
    quick_grid: ClassVar[Any] = {"beta": [2.0], "model": ["mlp"]}
    full_grid: ClassVar[Any] = {"beta": [0.5, 2.0, 8.0], "model": ["linear", "mlp"]}
    ratio_metric: ClassVar[str | None] = "pairwise_accuracy"
    higher_is_better: ClassVar[bool] = True

    def _run(
        self, component_cls: type[Loss], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        loss = component_cls()
        config = PreferenceConfig(beta=float(params["beta"]))
        data = preference_pairs(config, ctx.generator(400))
        hidden, steps, lr = _MODELS[params["model"]]
        reward = mlp([config.dim, *hidden, 1], ctx.generator(401)).to(ctx.device)
        chosen, rejected = data.train_chosen.to(ctx.device), data.train_rejected.to(ctx.device)
        train(
            reward,
            lambda: loss(reward(chosen)[:, 0], reward(rejected)[:, 0]),
            steps=min(steps, 300),
            lr=lr,
        )

        # Show each held-out pair in random order: label 1 when the first answer is the chosen one.
        n = data.test_chosen.shape[0]
        chosen_first = torch.rand(n, generator=ctx.generator(402)) < 0.5  # (n,)
        first = torch.where(chosen_first[:, None], data.test_chosen, data.test_rejected)
        second = torch.where(chosen_first[:, None], data.test_rejected, data.test_chosen)
        with torch.no_grad():
            score = (reward(first.to(ctx.device)) - reward(second.to(ctx.device)))[
                :, 0
            ].cpu()  # (n,)
        label = chosen_first.long()
        true_margin = torch.where(chosen_first, data.test_true_margin, -data.test_true_margin)
        report = metrics.binary_report(label, score)
        ceiling = metrics.binary_report(label, true_margin)
        return {
            "pairwise_accuracy": report["accuracy"],
            "precision": report["precision"],
            "recall": report["recall"],
            "f1": report["f1"],
            "roc_auc": report["roc_auc"],
            "pr_auc": report["pr_auc"],
            "true_order_accuracy": metrics.binary_report((true_margin > 0).long(), score)[
                "accuracy"
            ],
            "true_reward_pairwise_accuracy": ceiling["accuracy"],
        }
