"""Interview topics of the area regularisation: dropout, its clash with BatchNorm, L1/L2, smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import suite
from suite.threads import single_thread

__all__ = [
    "TOPICS",
    "DropoutBatchNormVarianceShift",
    "DropoutInvertedScaling",
    "L1VersusL2",
    "LabelSmoothing",
]

_DROP_RATES = (0.1, 0.3, 0.5)


#: The train/test ratio of mean activations each scheme should give, as a function of p.
_DROPOUT_TARGETS = {
    "inverted": lambda p: 1.0,  # train x·m/(1 - p), test x
    "original": lambda p: 1.0,  # train x·m, test (1 - p)·x
    "unscaled": lambda p: 1 - p,  # train x·m, test x: no scaling anywhere
    "backwards": lambda p: (1 - p) ** 2,  # train x·m, test x/(1 - p): the error in some notes
}


def _dropout_means(x: Tensor, masks: int, p: float) -> tuple[dict[str, float], float]:
    """Train/test ratios of the mean activation under each scheme, and torch's scale error."""
    xs = x.expand(masks, -1)
    y = F.dropout(xs, p, training=True)  # torch's inverted dropout
    kept = y != 0
    scale_err = (y[kept] / xs[kept] * (1 - p) - 1).abs().max().item()
    inverted, plain, test = y.mean().item(), (xs * kept).mean().item(), x.mean().item()
    ratios = {
        "inverted": inverted / test,
        "original": plain / ((1 - p) * test),
        "unscaled": plain / test,
        "backwards": plain / (test / (1 - p)),
    }
    return ratios, scale_err


class DropoutInvertedScaling(suite.Topic):
    """Dropout zeroes each unit with probability p in training and does nothing at test time. For
    the next layer to see the same expected input in both modes, the kept units are multiplied
    by 1/(1 - p) while training ("inverted" dropout, what PyTorch does): then E[train output]
    equals the untouched test output and inference needs no change. The original formulation
    is equivalent: no scaling in training, multiply by (1 - p) at test time. Some study notes
    state it backwards, dividing by 1 - p at test time; that makes the test activations larger
    than the training ones instead of equal.

    Formula:
    inverted: train y = x · m / (1 - p), m ~ Bernoulli(1 - p); test y = x; E[train y] = x
    original: train y = x · m; test y = (1 - p) · x; E[train y] = (1 - p) · x
    backwards (wrong): train y = x · m; test y = x / (1 - p); train/test ratio (1 - p)²

    Pitfalls:
    - p is the drop probability in PyTorch (nn.Dropout(p)), the keep probability in some papers
      and in old TensorFlow (keep_prob).
    - Forgetting model.eval() keeps dropping at inference: noisy, lower-quality predictions.
    - Only the mean is matched: the variance of a dropped-out activation is still larger in
      training than at test, which is what upsets a BatchNorm placed after dropout.

    Follow-up questions:
    - Why is dropout at test time with many samples (MC dropout) a crude uncertainty estimate?
    - How is dropout related to an ensemble of thinned networks?
    - Where is dropout applied inside a Transformer block?
    """

    name = "dropout-inverted-scaling"
    area = "regularisation"
    question = "Why does dropout divide the kept activations by 1 - p during training?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        units, masks = ctx.pick(2000, 500), ctx.pick(400, 200)
        x = 0.5 + torch.rand(units, generator=g)  # positive activations, test-time values
        with single_thread():
            measured = [_dropout_means(x, masks, p) for p in _DROP_RATES]
        scale_err = max(err for _, err in measured)
        table = [{"p": p, **ratios} for p, (ratios, _) in zip(_DROP_RATES, measured)]
        worst = {
            key: max(abs(r[key] / target(p) - 1) for p, (r, _) in zip(_DROP_RATES, measured))
            for key, target in _DROPOUT_TARGETS.items()
        }
        tol = 0.01
        claims = [
            suite.Claim.of(
                "torch's dropout multiplies every kept unit by 1/(1 - p) (largest deviation "
                "{e:.1e}), and the mean train activation over {m} masks matches the test one "
                "within {w:.2%} for p in 1/10, 3/10, 1/2",
                holds=scale_err < 1e-5 and worst["inverted"] < tol,
                e=scale_err,
                m=masks,
                w=worst["inverted"],
            ),
            suite.Claim.of(
                "without the scale the train/test mean ratio is 1 - p (worst deviation {u:.2%}); "
                "scaling by (1 - p) at test time restores equality (within {o:.2%})",
                holds=worst["unscaled"] < tol and worst["original"] < tol,
                u=worst["unscaled"],
                o=worst["original"],
            ),
            suite.Claim.of(
                "dividing by 1 - p at test time instead gives a ratio of (1 - p)² (worst "
                "deviation {b:.2%}): {r:.3g} at p = 1/2, not 1",
                holds=worst["backwards"] < tol and table[-1]["backwards"] < 0.3,
                b=worst["backwards"],
                r=table[-1]["backwards"],
            ),
        ]
        note = f"{units} positive activations, {masks} dropout masks per rate"
        return suite.Evidence(table=table, claims=claims, note=note)


def _general_shift(p: float, mean: float, var: float) -> float:
    """Var_train / Var_test for dropout on inputs of mean c, variance v (Li et al., 2019)."""
    return (mean**2 + var) / ((1 - p) * var) - mean**2 / var


def _variance_ratio(g: torch.Generator, n: int, p: float, mean: float) -> dict[str, float]:
    """Var(dropout(x)) / Var(x) on the same n unit-variance draws of mean `mean`, and the formula."""
    x = mean + torch.randn(n, generator=g)
    keep = torch.rand(n, generator=g) >= p
    measured = ((x * keep / (1 - p)).var() / x.var()).item()
    return {"p": p, "c": mean, "measured": measured, "formula": _general_shift(p, mean, 1.0)}


class DropoutBatchNormVarianceShift(suite.Topic):
    """Inverted dropout preserves the mean of an activation but not its variance: in training the
    dropped-and-rescaled activation has a larger variance than the untouched one seen at test
    time. A BatchNorm after the dropout accumulates the training variance in its running
    statistics, then at test time divides the smaller test-time variance by it, so its outputs
    shrink; the layers after it see a distribution they were never trained on. Li et al.
    (2019, "Understanding the Disharmony between Dropout and Batch Normalization") call this
    the variance shift. For zero-mean inputs the ratio is exactly 1/(1 - p).

    Formula:
    x with mean c, variance v; y = x · m / (1 - p) in training, y = x at test
    Var_train(y) = (c² + v)/(1 - p) - c²,  Var_test(y) = v
    shift = Var_train / Var_test = (c² + v)/((1 - p) v) - c²/v, which is 1/(1 - p) when c = 0
    BatchNorm at eval then outputs variance Var_test / Var_train, not 1

    Pitfalls:
    - The shift grows with p and with the mean of the activation; it is not 1/(1 - p) in general.
    - It is dropout *before* BatchNorm that hurts; dropout after the last BatchNorm is harmless.
    - Recomputing BatchNorm statistics in eval mode without dropout (or a small p, or a
      variance-stable dropout) removes the shift.

    Follow-up questions:
    - Why does a Transformer with LayerNorm not suffer from this in the same way?
    - How would you recalibrate BatchNorm statistics after training?
    - What is the variance of a Gaussian-dropout activation?
    """

    name = "dropout-batchnorm-variance-shift"
    area = "regularisation"
    question = "Why can dropout placed before BatchNorm hurt at inference?"
    components = ("norm:batchnorm",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        n = ctx.pick(200_000, 100_000)
        with single_thread():
            table = [_variance_ratio(g, n, p, mean) for p in _DROP_RATES for mean in (0.0, 1.0)]
        errors = {0.0: 0.0, 1.0: 0.0}
        for row in table:
            errors[row["c"]] = max(errors[row["c"]], abs(row["measured"] / row["formula"] - 1))
        worst_zero, worst_mean = errors[0.0], errors[1.0]
        p, channels = 0.5, 16
        bn = suite.get("norm", "batchnorm")().build(channels)
        with torch.no_grad(), single_thread():
            for _ in range(ctx.pick(60, 40)):
                bn.train()(F.dropout(torch.randn(16, 32, channels, generator=g), p))
            train_var = bn.train()(F.dropout(torch.randn(16, 32, channels, generator=g), p)).var()
            eval_var = bn.eval()(torch.randn(16, 32, channels, generator=g)).var().item()
        at_half = table[-2]["measured"]
        claims = [
            suite.Claim.of(
                "for zero-mean inputs Var_train/Var_test matches 1/(1 - p) within {e:.2%} for "
                "p in 1/10, 3/10, 1/2 (measured {r:.3g} at p = 1/2)",
                holds=worst_zero < 0.02,
                e=worst_zero,
                r=at_half,
            ),
            suite.Claim.of(
                "with mean c = 1 the shift is (c² + v)/((1 - p) v) - c²/v (worst deviation "
                "{e:.2%}): {r:.3g} at p = 1/2, not 1/(1 - p) = 2",
                holds=worst_mean < 0.02 and table[-1]["measured"] > 2.5,
                e=worst_mean,
                r=table[-1]["measured"],
            ),
            suite.Claim.of(
                "a BatchNorm trained behind dropout (p = 1/2) outputs variance {t:.3g} in "
                "training but {v:.3g} at eval, close to 1 - p",
                holds=abs(train_var - 1) < 0.05 and abs(eval_var - (1 - p)) < 0.05,
                t=train_var,
                v=eval_var,
            ),
        ]
        note = (
            f"{n} unit-variance samples per rate; BatchNorm over 16×32 tokens, {channels} features"
        )
        return suite.Evidence(table=table, claims=claims, note=note)


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
    DropoutInvertedScaling,
    DropoutBatchNormVarianceShift,
    L1VersusL2,
    LabelSmoothing,
)
