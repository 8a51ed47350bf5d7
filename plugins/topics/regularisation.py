"""Interview topics of the area regularisation: dropout and its clash with BatchNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import suite
from suite.threads import single_thread

__all__ = ["TOPICS", "DropoutBatchNormVarianceShift", "DropoutInvertedScaling"]


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


TOPICS: tuple[type[suite.Topic], ...] = (
    DropoutInvertedScaling,
    DropoutBatchNormVarianceShift,
)
