"""Interview topics of the area loss: entropy and KL, mutual information, log-sum-exp."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Categorical, kl_divergence

import suite
from plugins.topics._loss_common import _sklearn_metrics


def _random_distributions(g: torch.Generator, rows: int, k: int, sharpness: float) -> Tensor:
    """`rows` random distributions over `k` outcomes (float64); larger `sharpness` = more peaked."""
    return torch.softmax(sharpness * torch.randn(rows, k, generator=g, dtype=torch.float64), dim=-1)


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


TOPICS: tuple[type[suite.Topic], ...] = (
    EntropyCrossEntropyKL,
    MutualInformation,
    LogSumExpStability,
)
