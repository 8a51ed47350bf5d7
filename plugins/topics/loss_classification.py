"""Interview topics of the area loss: MSE vs cross-entropy for classification, and focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import suite
from plugins.losses.data import ImbalancedConfig, imbalanced_classification, mlp
from plugins.topics._loss_common import _sklearn_metrics
from suite.threads import single_thread


class MSEvsCrossEntropy(suite.Topic):
    """With a sigmoid or softmax output, squared error on the probability has a gradient with
    respect to the logit that carries the factor p(1 - p): when the model is confidently wrong
    (p for the true class near zero) that factor vanishes, so the worst mistakes barely get
    corrected. Cross-entropy's log cancels the sigmoid's saturation: its gradient is p - y,
    close to one in magnitude exactly when the model is confidently wrong. Cross-entropy is also
    the maximum-likelihood loss for a categorical output.

    Formula:
    p = σ(z), y = 1:  d(p - 1)²/dz = 2 (p - 1) p (1 - p);  d(-log p)/dz = p - 1

    Pitfalls:
    - MSE on logits (regression) is a different story; the problem is MSE after the squashing.
    - A model trained from a confidently wrong start with MSE can sit on a plateau for long.
    - Use `binary_cross_entropy_with_logits`, not `binary_cross_entropy(sigmoid(z))`, for stability.

    Follow-up questions:
    - What is the softmax gradient of cross-entropy with respect to the logits?
    - When is a squared loss still a reasonable choice (calibration, Brier score)?
    """

    name = "mse-vs-cross-entropy"
    area = "loss"
    question = "Why use cross-entropy rather than mean squared error for classification?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        n = ctx.pick(401, 81)
        z = torch.linspace(-10.0, 10.0, n, dtype=torch.float64, requires_grad=True)
        y = torch.ones(n, dtype=torch.float64)
        mse_grad = torch.autograd.grad(F.mse_loss(torch.sigmoid(z), y, reduction="sum"), z)[0]
        ce_grad = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y, reduction="sum"), z)[
            0
        ]
        worst_mse, worst_ce = mse_grad[0].abs().item(), ce_grad[0].abs().item()
        peak = mse_grad.abs().max().item()
        # softmax, 10 classes: the true class's logit far below the others
        g = ctx.generator()
        logits = torch.randn(64, 10, generator=g, dtype=torch.float64)
        logits[:, 0] = -12.0
        logits.requires_grad_(True)
        target = torch.zeros(64, dtype=torch.long)
        one_hot = F.one_hot(target, 10).double()
        sm_mse = torch.autograd.grad(
            F.mse_loss(logits.softmax(-1), one_hot, reduction="sum"), logits
        )
        sm_ce = torch.autograd.grad(F.cross_entropy(logits, target, reduction="sum"), logits)
        sm_mse_true, sm_ce_true = (
            sm_mse[0][:, 0].abs().max().item(),
            sm_ce[0][:, 0].abs().min().item(),
        )
        step = max(n // 10, 1)
        table = [
            {
                "logit": z[i].item(),
                "p_true": torch.sigmoid(z[i]).item(),
                "mse_grad": mse_grad[i].item(),
                "ce_grad": ce_grad[i].item(),
            }
            for i in range(0, n, step)
        ]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "confidently wrong (logit -10, p = {p:.1e}): |dMSE/dz| = {m:.1e} but "
                    "|dCE/dz| = {c:.4f}",
                    holds=worst_mse < 1e-3 and worst_ce > 0.99,
                    p=torch.sigmoid(z[0]).item(),
                    m=worst_mse,
                    c=worst_ce,
                ),
                suite.Claim.of(
                    "the MSE gradient peaks at {peak:.3f} for a mild mistake, {r:.0f}× its value "
                    "on the confident one: the worst errors learn slowest",
                    holds=peak / worst_mse > 100,
                    peak=peak,
                    r=peak / worst_mse,
                ),
                suite.Claim.of(
                    "softmax over 10 classes, true logit 12 below the rest: true-class gradient "
                    "at most {m:.1e} under MSE, at least {c:.4f} under CE",
                    holds=sm_mse_true < 1e-3 and sm_ce_true > 0.99,
                    m=sm_mse_true,
                    c=sm_ce_true,
                ),
            ],
            series=[
                suite.Series(
                    "MSE",
                    z.detach().tolist(),
                    mse_grad.abs().tolist(),
                    "logit of the true class",
                    "|gradient|",
                    figure="grad",
                ),
                suite.Series(
                    "cross-entropy",
                    z.detach().tolist(),
                    ce_grad.abs().tolist(),
                    "logit of the true class",
                    "|gradient|",
                    figure="grad",
                ),
            ],
            note=f"true label 1, {n} logits from -10 to 10; gradients by autograd in float64",
        )


def _fit_linear(loss: suite.Loss, x: Tensor, y: Tensor, g: torch.Generator, steps: int) -> Tensor:
    """Train a linear classifier with Adam on `loss`; return the model (logits = model(x))."""
    model = mlp([x.shape[1], 2], g)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss(model(x), y).backward()
        optimizer.step()
    return model


def _loss_share(loss: suite.Loss, logits: Tensor, y: Tensor, rows: Tensor) -> float:
    """Share of the summed loss that the examples `rows` (bool mask) contribute."""
    return (loss(logits[rows], y[rows]) * rows.sum() / (loss(logits, y) * len(y))).item()


class FocalLoss(suite.Topic):
    """Focal loss multiplies each example's cross-entropy by (1 - p_t)^γ, p_t being the predicted
    probability of the true class. Easy examples, already near p_t = 1, are scaled almost to
    nothing, while hard ones keep most of their weight; under heavy imbalance the thousands of
    easy negatives stop dominating the loss. The price is calibration: the rare class comes out
    with inflated probabilities, which moves the argmax decision. Whether that beats plain
    cross-entropy with a tuned threshold depends on the task, so compare before claiming it.

    Formula:
    FL(p_t) = -α_t (1 - p_t)^γ log p_t;  γ = 0 and α = 1 give cross-entropy

    Pitfalls:
    - The factor is gentle in the middle: at γ = 2 an example with p_t = 3/10 keeps about half
      its loss; it is the near-certain examples that vanish.
    - Probabilities from a focal model are not calibrated; recalibrate before thresholding.
    - α and γ interact (the paper down-weights the rare class with α = 1/4 when γ = 2).

    Follow-up questions:
    - How does focal loss compare to class weights or resampling?
    - Why does ranking quality (PR-AUC) often barely move while F1 at the argmax does?
    """

    name = "focal-loss"
    area = "loss"
    question = "What does focal loss do, and when does it help with class imbalance?"
    components = ("loss:focal", "loss:cross-entropy")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        ce = suite.get("loss", "cross-entropy")()
        focal = suite.get("loss", "focal")(gamma=2.0)
        pts = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9, 0.99], dtype=torch.float64)
        logits = torch.stack([torch.zeros_like(pts), torch.logit(pts)], dim=1)  # p(class 1) = pt
        ones = torch.ones(len(pts), dtype=torch.long)
        factors = [
            (
                focal(logits[i : i + 1], ones[i : i + 1]) / ce(logits[i : i + 1], ones[i : i + 1])
            ).item()
            for i in range(len(pts))
        ]
        factor_err = max(abs(f - (1 - p) ** 2) for f, p in zip(factors, pts.tolist(), strict=True))
        table: list[dict[str, float | str]] = []
        cfg = ImbalancedConfig(n_train=ctx.pick(5000, 1500), n_test=ctx.pick(20000, 4000))
        steps = ctx.pick(300, 100)
        shares, probs, ap_gap = [], [], []
        with single_thread():
            for rep in range(2):
                data = imbalanced_classification(cfg, ctx.generator(10 + rep))
                scores = {}
                for label, loss in (("ce", ce), ("focal", focal)):
                    model = _fit_linear(
                        loss, data.x_train, data.y_train, ctx.generator(20 + rep), steps
                    )
                    with torch.no_grad():
                        test, train = model(data.x_test), model(data.x_train)
                    margin = (test[:, 1] - test[:, 0]).numpy()
                    y = data.y_test.numpy()
                    scores[label] = {
                        "f1": _sklearn_metrics().f1_score(y, margin > 0),
                        "pr_auc": _sklearn_metrics().average_precision_score(y, margin),
                        "rare_prob": torch.softmax(test, 1)[:, 1].mean().item(),
                    }
                    if label == "ce":
                        p_t = torch.softmax(train, 1).gather(1, data.y_train[:, None]).squeeze(1)
                        easy = p_t > 0.9
                        shares.append(
                            (
                                _loss_share(ce, train, data.y_train, easy),
                                _loss_share(focal, train, data.y_train, easy),
                            )
                        )
                for label, row in scores.items():
                    table.append({"replica": rep, "loss": label, **row})
                probs.append(scores["focal"]["rare_prob"] / scores["ce"]["rare_prob"])
                ap_gap.append(scores["focal"]["pr_auc"] - scores["ce"]["pr_auc"])
        mean_gap = sum(ap_gap) / len(ap_gap)
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "measured focal/CE ratio at γ = 2: {a:.3f} at p_t = 0.3, {b:.4f} at p_t = 0.9, "
                    "{c:.1e} at p_t = 0.99; (1 - p_t)² to {err:.0e}",
                    holds=abs(factors[1] - 0.49) < 1e-6 and factor_err < 1e-9,
                    a=factors[1],
                    b=factors[4],
                    c=factors[5],
                    err=factor_err,
                ),
                suite.Claim.of(
                    "on a CE-trained model, easy examples (p_t > 0.9) carry {ce:.0%} of the CE "
                    "loss but at most {fl:.2%} of the focal loss",
                    holds=all(f < 0.1 * c for c, f in shares),
                    ce=min(c for c, _ in shares),
                    fl=max(f for _, f in shares),
                ),
                suite.Claim.of(
                    "focal training inflates the mean rare-class probability at least {r:.1f}× "
                    "over CE's (a calibration shift), on both replicas",
                    holds=min(probs) > 2.0,
                    r=min(probs),
                ),
                suite.Claim.of(
                    "while ranking barely moves: PR-AUC focal minus CE = {g:+.3f} on average",
                    holds=abs(mean_gap) < 0.04,
                    g=mean_gap,
                ),
            ],
            series=[
                suite.Series(
                    "(1 - p_t)^2", pts.tolist(), factors, "p_t", "focal / CE", figure="factor"
                )
            ],
            note=(
                f"linear model, Adam {steps} steps, 2 replicas of 1-in-50 data "
                f"({cfg.n_train} train, {cfg.n_test} test); F1 at the argmax is in the table only"
            ),
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    MSEvsCrossEntropy,
    FocalLoss,
)
