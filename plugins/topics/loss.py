"""Interview topics of the area loss: entropy and KL, mutual information, log-sum-exp, MSE vs CE, focal."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Categorical, kl_divergence

import suite
from plugins.losses.data import ImbalancedConfig, imbalanced_classification, mlp
from suite.threads import single_thread


def _random_distributions(g: torch.Generator, rows: int, k: int, sharpness: float) -> Tensor:
    """`rows` random distributions over `k` outcomes (float64); larger `sharpness` = more peaked."""
    return torch.softmax(sharpness * torch.randn(rows, k, generator=g, dtype=torch.float64), dim=-1)


def _sklearn_metrics() -> Any:
    """`sklearn.metrics`, imported when an experiment runs, not when the plugin loads."""
    from sklearn import metrics

    return metrics


class EntropyCrossEntropyKL(suite.Topic):
    """Entropy H(p) is the average surprise of outcomes drawn from p; cross-entropy H(p, q) is
    the average surprise when the outcomes come from p but are scored by a model q; the gap
    between them is the KL divergence KL(p‖q), the extra cost of using the wrong distribution.
    Because H(p) does not depend on the model, minimising cross-entropy over q is minimising KL.
    KL is not a distance: it is asymmetric, and zero only when q equals p.

    Formula:
    H(p) = -Σ p log p;  H(p, q) = -Σ p log q;  KL(p‖q) = Σ p log(p/q) = H(p, q) - H(p) ≥ 0

    Pitfalls:
    - `F.kl_div(input, target)` takes the *log* of the model q as `input` and p as `target`, and
      computes KL(target‖input): the argument order is the reverse of the maths.
    - KL(p‖q) (forward, mean-seeking) and KL(q‖p) (reverse, mode-seeking) are different losses.
    - 0 log 0 is 0 by convention; use `torch.special.entr` or `xlogy` instead of `p * log(p)`.

    Follow-up questions:
    - Why is KL(p‖q) infinite where q is zero but p is not?
    - What is the Jensen-Shannon divergence and why is it symmetric and bounded?
    - How does label smoothing change the target p in this decomposition?
    """

    name = "entropy-cross-entropy-kl"
    area = "loss"
    question = "How are entropy, cross-entropy and KL divergence related, and is KL symmetric?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        rows, k = ctx.pick(4096, 512), 10
        p = _random_distributions(g, rows, k, 2.0)  # peaked
        q = _random_distributions(g, rows, k, 0.5)  # flatter
        # library
        h_p = Categorical(probs=p).entropy()  # (rows,)
        h_pq = F.cross_entropy(q.log(), p, reduction="none")  # soft-target cross-entropy
        kl_pq = kl_divergence(Categorical(probs=p), Categorical(probs=q))
        kl_qp = kl_divergence(Categorical(probs=q), Categorical(probs=p))
        kl_div = F.kl_div(q.log(), p, reduction="none").sum(-1)  # KL(p‖q): note the order
        # by hand
        h_hand = torch.special.entr(p).sum(-1)
        h_pq_hand = -(p * q.log()).sum(-1)
        kl_hand = (p * (p / q).log()).sum(-1)

        identity_err = (h_pq - h_p - kl_pq).abs().max().item()
        hand_err = max(
            (h_hand - h_p).abs().max().item(),
            (h_pq_hand - h_pq).abs().max().item(),
            (kl_hand - kl_pq).abs().max().item(),
            (kl_div - kl_pq).abs().max().item(),
        )
        gap = (kl_pq - kl_qp).abs()
        rel_gap = (gap / (0.5 * (kl_pq + kl_qp))).median().item()
        min_kl = torch.minimum(kl_pq.min(), kl_qp.min()).item()
        table = [
            {"quantity": "H(p)", "mean_nats": h_p.mean().item()},
            {"quantity": "H(p, q)", "mean_nats": h_pq.mean().item()},
            {"quantity": "KL(p‖q)", "mean_nats": kl_pq.mean().item()},
            {"quantity": "KL(q‖p)", "mean_nats": kl_qp.mean().item()},
        ]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "H(p, q) = H(p) + KL(p‖q) on {n} random pairs: max error {err:.1e} nats "
                    "(float64 precision)",
                    holds=identity_err < 1e-12,
                    n=rows,
                    err=identity_err,
                ),
                suite.Claim.of(
                    "entr, xlogy-style sums and F.kl_div agree with torch.distributions to "
                    "{err:.1e}",
                    holds=hand_err < 1e-12,
                    err=hand_err,
                ),
                suite.Claim.of(
                    "KL is asymmetric: mean KL(p‖q) = {a:.3f} vs KL(q‖p) = {b:.3f} nats; median "
                    "relative gap {rel:.2f}",
                    holds=rel_gap > 0.1 and gap.min().item() > 1e-6,
                    a=kl_pq.mean().item(),
                    b=kl_qp.mean().item(),
                    rel=rel_gap,
                ),
                suite.Claim.of(
                    "KL is never negative: smallest value {m:.3g}",
                    holds=min_kl >= 0.0,
                    m=min_kl,
                ),
            ],
            note=f"{rows} pairs over {k} outcomes: p = softmax(2·randn), q = softmax(randn/2)",
        )


def _plugin_mi(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """I(X; Y) as KL(joint ‖ product of marginals) of the empirical counts, in nats."""
    joint = np.zeros((k, k))
    np.add.at(joint, (x, y), 1.0)
    joint = torch.as_tensor(joint / joint.sum())
    product = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
    return F.kl_div(product.log(), joint, reduction="sum").item()  # KL(joint ‖ product)


class MutualInformation(suite.Topic):
    """Mutual information measures how much knowing one variable tells you about another: it is
    the KL divergence between their joint distribution and the product of their marginals, the
    joint they would have if they were independent. It is zero exactly for independent variables,
    positive otherwise, symmetric in X and Y, and it catches non-linear dependence that a
    correlation coefficient misses.

    Formula:
    I(X; Y) = KL(P(x, y) ‖ P(x) P(y)) = H(X) + H(Y) - H(X, Y) = H(Y) - H(Y | X)

    Pitfalls:
    - The plug-in estimate from counts is biased upwards: independent samples give a small
      positive value, of order (k-1)²/(2N) for k categories.
    - For continuous variables, binning choices change the estimate; use a k-NN estimator.
    - Units: natural log gives nats, log base 2 gives bits.

    Follow-up questions:
    - How does InfoNCE relate to a lower bound on mutual information?
    - What is pointwise mutual information and where is it used in NLP?
    """

    name = "mutual-information"
    area = "loss"
    question = "What is mutual information, and how does it relate to KL divergence?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        rng = np.random.default_rng(ctx.seed)
        n, k = ctx.pick(50_000, 20_000), 4
        rows, strengths, measured = [], [0.0, 0.25, 0.5, 0.75, 1.0], []
        for rho in strengths:
            x = rng.integers(0, k, n)
            copy = rng.random(n) < rho  # Y = X with probability rho, else uniform noise
            y = np.where(copy, x, rng.integers(0, k, n))
            mine, sk = _plugin_mi(x, y, k), _sklearn_metrics().mutual_info_score(x, y)
            exact = _exact_mi(rho, k)
            rows.append({"rho": rho, "mi_kl": mine, "mi_sklearn": sk, "mi_exact": exact})
            measured.append(mine)
        agree = max(abs(r["mi_kl"] - r["mi_sklearn"]) for r in rows)
        dep = rows[2]
        bias_bound = 10 * (k - 1) ** 2 / (2 * n)
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "KL(joint ‖ product of marginals) equals sklearn's mutual_info_score to "
                    "{err:.1e} nats",
                    holds=agree < 1e-10,
                    err=agree,
                ),
                suite.Claim.of(
                    "independent X, Y: I = {mi:.2e} nats, below 10 × the plug-in bias "
                    "(k-1)²/2N = {b:.2e}",
                    holds=0.0 <= rows[0]["mi_kl"] < bias_bound,
                    mi=rows[0]["mi_kl"],
                    b=bias_bound,
                ),
                suite.Claim.of(
                    "Y = X half the time: I = {mi:.3f} nats, within the sampling error "
                    "5/√N = {tol:.3f} of the exact {ex:.3f}",
                    holds=abs(dep["mi_kl"] - dep["mi_exact"]) < 5 / math.sqrt(n)
                    and dep["mi_kl"] > 0.1,
                    mi=dep["mi_kl"],
                    tol=5 / math.sqrt(n),
                    ex=dep["mi_exact"],
                ),
                suite.Claim.of(
                    "I rises with dependence, from {a:.2e} to log k = {b:.3f} nats when Y = X",
                    holds=all(np.diff(measured) > 0) and abs(measured[-1] - math.log(k)) < 0.01,
                    a=measured[0],
                    b=measured[-1],
                ),
            ],
            series=[
                suite.Series("plug-in MI", strengths, measured, "P(Y copies X)", "I(X; Y), nats")
            ],
            note=f"{n} samples of X uniform on {k} values; Y copies X with probability rho",
        )


def _exact_mi(rho: float, k: int) -> float:
    """I(X; Y) when X is uniform on k values and Y = X w.p. rho, else uniform."""
    same = rho + (1 - rho) / k
    joint = torch.full((k, k), (1 - rho) / k**2, dtype=torch.float64)
    joint.fill_diagonal_(same / k)
    product = torch.full((k, k), 1.0 / k**2, dtype=torch.float64)
    return F.kl_div(product.log(), joint, reduction="sum").item()


class LogSumExpStability(suite.Topic):
    """exp overflows long before logits look large: in float32 it returns inf once x exceeds
    log(max float), and then exp(x)/Σexp(x) is inf/inf = NaN. Subtracting the row maximum first
    changes nothing mathematically (the factor exp(-m) cancels) but keeps every exponent at or
    below zero, so the largest term is exactly one and nothing overflows. This is how
    `torch.softmax`, `log_softmax` and `torch.logsumexp` are written; very negative logits also
    underflow in the naive form, giving 0/0.

    Formula:
    logsumexp(x) = m + log Σ exp(x - m) with m = max x;  softmax(x) = exp(x - logsumexp(x))

    Pitfalls:
    - `torch.log(torch.softmax(x))` underflows to -inf for tiny probabilities; use `log_softmax`.
    - Half precision overflows far sooner: exp(x) is inf above log(65504), about eleven.
    - Masking with -inf is fine after the max shift, unless an entire row is masked (then NaN).

    Follow-up questions:
    - Why does the max shift not change the gradient?
    - How does online softmax (FlashAttention) keep a running max across blocks?
    """

    name = "log-sum-exp-stability"
    area = "loss"
    question = "Why do we subtract the max before exponentiating in softmax and log-sum-exp?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        rows, k = ctx.pick(2048, 256), 32
        base = torch.randn(rows, k, generator=g, dtype=torch.float64)
        table, naive_bad, scales = [], [], [1.0, 10.0, 30.0, 100.0, 300.0, 1000.0]
        stable_err = 0.0
        for scale in scales:
            x64 = base * scale
            x = x64.float()
            naive = torch.exp(x) / torch.exp(x).sum(-1, keepdim=True)
            stable = torch.softmax(x, dim=-1)
            reference = torch.softmax(x.double(), dim=-1)  # same float32 inputs
            bad = (~torch.isfinite(naive)).any(-1).double().mean().item()
            err = (stable.double() - reference).abs().max().item()
            lse_ok = torch.isfinite(torch.logsumexp(x, dim=-1)).all().item()
            stable_err = max(stable_err, err if lse_ok else math.inf)
            naive_bad.append(bad)
            table.append(
                {"logit_scale": scale, "naive_nonfinite_rows": bad, "stable_max_error": err}
            )
        example = torch.tensor([1000.0, 999.0, 998.0])
        naive_ex = torch.exp(example) / torch.exp(example).sum()
        stable_ex = torch.softmax(example, dim=0)
        limit = math.log(torch.finfo(torch.float32).max)
        grid = torch.arange(8000, 9500, dtype=torch.float64) / 100  # 80.00 .. 94.99
        first_inf = grid[torch.isinf(torch.exp(grid.float()))][0].item()
        half = math.log(torch.finfo(torch.float16).max)
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "logits (1000, 999, 998) in float32: naive softmax gives NaN, torch.softmax "
                    "gives top probability {p:.4f}",
                    holds=bool(torch.isnan(naive_ex).all())
                    and abs(stable_ex[0].item() - 1 / (1 + math.exp(-1) + math.exp(-2))) < 1e-6,
                    p=stable_ex[0].item(),
                ),
                suite.Claim.of(
                    "float32 exp first overflows at x = {x:.2f}, matching log(finfo.max) = "
                    "{lim:.3f} (float16: {h:.2f})",
                    holds=0 <= first_inf - limit < 0.011,
                    x=first_inf,
                    lim=limit,
                    h=half,
                ),
                suite.Claim.of(
                    "at logit scale 1000 the naive form breaks on {bad:.0%} of rows; the "
                    "max-subtracted one stays within {err:.1e} of float64 at every scale",
                    holds=naive_bad[-1] > 0.9 and naive_bad[0] == 0.0 and stable_err < 1e-6,
                    bad=naive_bad[-1],
                    err=stable_err,
                ),
            ],
            series=[
                suite.Series("naive softmax", scales, naive_bad, "logit scale", "rows with inf/NaN")
            ],
            note=f"{rows} rows of {k} logits = scale · randn, computed in float32",
        )


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
    EntropyCrossEntropyKL,
    MutualInformation,
    LogSumExpStability,
    MSEvsCrossEntropy,
    FocalLoss,
)
