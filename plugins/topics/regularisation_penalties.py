"""Interview topics of the area regularisation: L1 vs L2 weight penalties, label smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import suite
from suite.threads import single_thread

__all__ = ["TOPICS", "L1VersusL2", "LabelSmoothing"]


def _lasso(x: Tensor, y: Tensor, lam: float, steps: int) -> Tensor:
    """Proximal gradient (ISTA) on (1/2n)|Xw - y|² + lam·|w|₁; soft-thresholding is the point."""
    w = torch.zeros(x.shape[1])
    step = 1 / torch.linalg.matrix_norm(x, ord=2).item() ** 2 * x.shape[0]
    for _ in range(steps):
        grad = x.T @ (x @ w - y) / x.shape[0]
        w = F.softshrink(w - step * grad, step * lam)
    return w


def _ridge(x: Tensor, y: Tensor, penalty: Tensor) -> Tensor:
    """argmin (1/2n)|Xw - y|² + (1/2) wᵀ diag(penalty) w, in closed form."""
    n = x.shape[0]
    return torch.linalg.solve(x.T @ x / n + torch.diag(penalty), x.T @ y / n)


class L1VersusL2(suite.Topic):
    """The L1 penalty pulls every weight towards zero with the same force λ whatever its size, so
    a weight whose data gradient is weaker than λ is held at exactly zero: the proximal step is
    soft-thresholding, which sets small weights to zero. The L2 penalty pulls with a force
    proportional to the weight, which vanishes near zero, so weights shrink by a factor but
    never reach zero. Biases are usually left out of both: a bias only shifts the output, it
    does not add capacity or sensitivity to the input, and penalising it biases predictions
    towards zero when the target has a non-zero mean.

    Formula:
    L1: minimise (1/2n)|Xw - y|² + λ|w|₁; step w ← soft(w - η∇, ηλ), soft(z, t) = sign(z) max(|z| - t, 0)
    L2: minimise (1/2n)|Xw - y|² + (λ/2)|w|²; w = (XᵀX/n + λI)⁻¹ Xᵀy/n
    L2 with orthonormal features: w = w_ols/(1 + λ); L1: w = soft(w_ols, λ)

    Pitfalls:
    - Plain (sub)gradient descent on L1 oscillates around zero and rarely lands on exactly
      zero; proximal steps (or coordinate descent) give exact zeros.
    - Weight decay in AdamW is not the same as an L2 term in Adam's loss.
    - Penalties depend on the feature scale: standardise the features first.

    Follow-up questions:
    - What does the elastic net add, and when do correlated features break the lasso?
    - What is the Bayesian reading of L1 and L2 (Laplace and Gaussian priors)?
    - Why do LayerNorm gains and embeddings often get no weight decay either?
    """

    name = "l1-vs-l2"
    area = "regularisation"
    question = "Why does an L1 penalty give sparse weights when an L2 penalty does not?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        n, d, k = ctx.pick(400, 200), 50, 5
        true_w = torch.zeros(d)
        true_w[:k] = (1 + torch.rand(k, generator=g)) * torch.sign(torch.randn(k, generator=g))
        intercept = 3.0
        x = torch.randn(n, d, generator=g)
        y = x @ true_w + intercept + 0.5 * torch.randn(n, generator=g)
        xc, yc = x - x.mean(0), y - y.mean()  # unpenalised intercept: fit the centred problem
        with single_thread():
            w_l1 = _lasso(xc, yc, lam=0.15, steps=ctx.pick(400, 300))
            w_l2 = _ridge(xc, yc, torch.full((d,), 0.5))
            w_ols = _ridge(xc, yc, torch.zeros(d))
            ones = torch.cat([x, torch.ones(n, 1)], dim=1)
            penalised = _ridge(ones, y, torch.full((d + 1,), 0.5))
        b_free = (y.mean() - x.mean(0) @ w_l2).item()
        b_pen = penalised[-1].item()
        bias_resid = (y - ones @ penalised).mean().item()
        free_resid = (y - x @ w_l2 - b_free).mean().item()
        zeros_l1 = int((w_l1[k:] == 0).sum())
        zeros_l2 = int((w_l2 == 0).sum())
        table = [
            {
                "fit": name,
                "exact_zeros": int((w == 0).sum()),
                "min_abs_w": w.abs().min().item(),
                "norm": w.norm().item(),
                "true_support_kept": int((w[:k] != 0).sum()),
            }
            for name, w in (("ols", w_ols), ("l1", w_l1), ("l2", w_l2))
        ]
        claims = [
            suite.Claim.of(
                "L1 (λ = 3/20, proximal steps) sets {z} of the {m} irrelevant weights exactly to "
                "zero and keeps all {k} true ones non-zero ({kept} kept)",
                holds=zeros_l1 >= 0.8 * (d - k) and int((w_l1[:k] != 0).sum()) == k,
                z=zeros_l1,
                m=d - k,
                k=k,
                kept=int((w_l1[:k] != 0).sum()),
            ),
            suite.Claim.of(
                "L2 (λ = 1/2) leaves {z} weights at zero (smallest |w| {s:.2e}) but shrinks the "
                "weight norm from {a:.3g} (least squares) to {b:.3g}",
                holds=zeros_l2 == 0
                and w_l2.abs().min() > 1e-6
                and w_l2.norm() < 0.8 * w_ols.norm(),
                z=zeros_l2,
                s=w_l2.abs().min(),
                a=w_ols.norm(),
                b=w_l2.norm(),
            ),
            suite.Claim.of(
                "an unpenalised intercept fits {f:.3g} (true {t:.3g}) with training residuals of "
                "mean {r0:.1e}; penalising it too pulls it to {p:.3g} and the residual mean to "
                "{r:.3g}",
                holds=abs(b_free - intercept) < 0.5
                and abs(free_resid) < 1e-4
                and b_pen < 0.8 * b_free
                and bias_resid > 0.5,
                f=b_free,
                t=intercept,
                r0=free_resid,
                p=b_pen,
                r=bias_resid,
            ),
        ]
        note = (
            f"linear regression, {n} samples, {d} features, {k} non-zero true weights, noise sd 1/2"
        )
        return suite.Evidence(table=table, claims=claims, note=note)


def _ece(probs: Tensor, target: Tensor, bins: int = 15) -> float:
    """Expected calibration error: |mean confidence - accuracy| per equal-width bin, weighted."""
    conf, pred = probs.max(dim=1)
    gap = conf - (pred == target).float()
    index = torch.bucketize(conf, torch.linspace(0, 1, bins + 1)[1:-1])
    per_bin = torch.zeros(bins).index_add_(0, index, gap)
    return per_bin.abs().sum().item() / len(target)


def _train_classifier(
    x: Tensor, y: Tensor, classes: int, smoothing: float, steps: int, seed: int
) -> nn.Module:
    torch.manual_seed(seed)  # same initial weights for both runs
    model = nn.Sequential(nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, classes))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y, label_smoothing=smoothing).backward()
        opt.step()
    return model


class LabelSmoothing(suite.Topic):
    """Label smoothing trains against a target that puts 1 - ε on the true class and spreads ε
    uniformly over all K classes. The loss is then minimised by a finite logit gap, so the
    model can no longer push its confidence to one: on the training data the predicted
    probability of the true class settles at 1 - ε + ε/K at most. A network trained with hard
    labels on a small, noisy data set memorises it and becomes overconfident on new data; with
    smoothing its confidence is lower and, here, much closer to its accuracy.

    Formula:
    target q = (1 - ε) onehot(y) + ε/K
    loss = (1 - ε) CE(onehot(y), p) + ε CE(uniform, p)
    optimum: p_true = 1 - ε + ε/K, logit gap = log((1 - ε + ε/K)/(ε/K))
    ECE = Σ_bins (n_b/n) |mean confidence_b - accuracy_b|

    Pitfalls:
    - Smoothing can make a model underconfident: it is not a substitute for temperature
      scaling fitted on held-out data.
    - It erases information in the logits (the relative similarity of wrong classes), which
      hurts distillation from a smoothed teacher (Müller et al., 2019).
    - ECE depends on the binning; with few samples per bin it is noisy.

    Follow-up questions:
    - How does temperature scaling differ, and why is it applied after training?
    - Why did the original Transformer use label smoothing though it hurt perplexity?
    - What is the smoothed loss in terms of a KL divergence to the uniform distribution?
    """

    name = "label-smoothing"
    area = "regularisation"
    question = "What does label smoothing do to a classifier's confidence and calibration?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        classes, dim, eps = 5, 20, 0.1
        centres = 0.45 * torch.randn(classes, dim, generator=g)

        def sample(n: int) -> tuple[Tensor, Tensor]:
            y = torch.randint(0, classes, (n,), generator=g)
            return centres[y] + torch.randn(n, dim, generator=g), y

        (x, y), (xt, yt) = sample(200), sample(ctx.pick(4000, 2000))
        rows = {}
        with single_thread():
            for smoothing in (0.0, eps):
                model = _train_classifier(x, y, classes, smoothing, ctx.pick(80, 60), ctx.seed)
                with torch.no_grad():
                    train_p, test_p = model(x).softmax(1), model(xt).softmax(1)
                rows[smoothing] = {
                    "label_smoothing": smoothing,
                    "train_confidence": train_p.max(1).values.mean().item(),
                    "test_confidence": test_p.max(1).values.mean().item(),
                    "test_accuracy": (test_p.argmax(1) == yt).float().mean().item(),
                    "test_ece": _ece(test_p, yt),
                }
        hard, soft = rows[0.0], rows[eps]
        cap = 1 - eps + eps / classes
        claims = [
            suite.Claim.of(
                "on the training data hard labels push mean confidence to {h:.4f}; with ε = 1/10 "
                "it settles at {s:.4f}, near the optimum 1 - ε + ε/K = {c:.3g}",
                holds=hard["train_confidence"] > 0.99
                and abs(soft["train_confidence"] - cap) < 0.02,
                h=hard["train_confidence"],
                s=soft["train_confidence"],
                c=cap,
            ),
            suite.Claim.of(
                "on held-out data mean confidence falls from {h:.3g} to {s:.3g} (accuracy "
                "{ah:.3g} and {as_:.3g})",
                holds=soft["test_confidence"] < hard["test_confidence"] - 0.1,
                h=hard["test_confidence"],
                s=soft["test_confidence"],
                ah=hard["test_accuracy"],
                as_=soft["test_accuracy"],
            ),
            suite.Claim.of(
                "the hard-label model is overconfident (ECE {h:.3g}); smoothing cuts ECE to {s:.3g}",
                holds=hard["test_ece"] > 0.15 and soft["test_ece"] < 0.75 * hard["test_ece"],
                h=hard["test_ece"],
                s=soft["test_ece"],
            ),
        ]
        note = f"MLP on 200 noisy {classes}-class Gaussian points in {dim} dims, full-batch Adam, 15-bin ECE"
        return suite.Evidence(table=list(rows.values()), claims=claims, note=note)


TOPICS: tuple[type[suite.Topic], ...] = (
    L1VersusL2,
    LabelSmoothing,
)
