"""Interview topics of the area position: what positions add, sinusoids, RoPE, ALiBi and length."""

from __future__ import annotations

import math

import torch
from torch import Tensor

import suite
from suite.oracles import dense_attention
from suite.threads import single_thread


def _build(name: str, d_model: int, n_heads: int, max_len: int) -> torch.nn.Module:
    return suite.get("position", name)().build(d_model, n_heads, max_len)


def _layer_outputs(
    mod: torch.nn.Module, x: Tensor, weights: Tensor, n_heads: int, *, causal: bool = False
) -> Tensor:
    """One self-attention layer with the encoding's entry points, in float64: `(B, H, T, D)`."""
    b, t, c = x.shape
    positions = torch.arange(t).expand(b, t)
    y = mod.embed(x, positions)
    q, k, v = ((y @ w).view(b, t, n_heads, c // n_heads).transpose(1, 2) for w in weights)
    q, k = mod.rotate(q, k, positions, positions)
    return dense_attention(q, k, v, causal=causal, attn_bias=mod.bias(t, t))


class PositionsBreakPermutationSymmetry(suite.Topic):
    """Without positions, self-attention cannot tell word order: permute the input tokens and
    the outputs come out permuted the same way (permutation equivariance), so "dog bites man"
    and "man bites dog" yield the same set of vectors. Every positional method breaks that
    symmetry, each at a different place: sinusoidal and learned vectors are added to the input,
    RoPE rotates queries and keys, ALiBi biases the scores. A causal mask also breaks it on its
    own (token t sees t + 1 tokens), which is why decoders without positions (NoPE) still learn
    some order.

    Formula: Attn(P X) = P Attn(X) for any permutation matrix P when nothing depends on
    position;  with positions, Attn(P X + E) ≠ P Attn(X + E)

    Pitfalls:
    - a bag-of-tokens encoder can look fine on tasks that barely need order (topic, sentiment)
      and fail on anything that does.
    - the causal mask is not a positional encoding: it breaks the symmetry, but only as far as
      counting how many tokens came before.
    - mean pooling on top of a NoPE encoder is fully permutation invariant.

    Follow-up questions:
    - Why can a causal decoder without positional encodings still learn positions?
    - Is multi-head attention with a positional bias still permutation equivariant?
    - Which of these methods enter the residual stream, and why does that matter?
    """

    name = "positions-break-permutation-symmetry"
    area = "position"
    question = "What does self-attention know about word order without positional encodings?"
    components = (
        "position:none",
        "position:sinusoidal",
        "position:learned",
        "position:rope",
        "position:alibi",
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        b, t, c, h = 2, ctx.pick(32, 12), 32, 4
        weights = torch.randn(3, c, c, generator=g) / math.sqrt(c)
        x = torch.randn(b, t, c, generator=g)
        perm = torch.randperm(t, generator=g)
        while bool((perm == torch.arange(t)).all()):
            perm = torch.randperm(t, generator=g)
        rows = []
        with single_thread(), torch.no_grad():
            for name in ("none", "sinusoidal", "learned", "rope", "alibi"):
                torch.manual_seed(ctx.seed)
                mod = _build(name, c, h, t)
                for causal in (False, True):
                    out = _layer_outputs(mod, x, weights, h, causal=causal)
                    permuted = _layer_outputs(mod, x[:, perm], weights, h, causal=causal)
                    rows.append(
                        {
                            "position": name,
                            "causal": causal,
                            "change_beyond_permutation": float(
                                (out[:, :, perm] - permuted).abs().max()
                            ),
                        }
                    )
        change = {(r["position"], r["causal"]): r["change_beyond_permutation"] for r in rows}
        positional = [change[(n, False)] for n in ("sinusoidal", "learned", "rope", "alibi")]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "without positions, permuting the tokens permutes the outputs: they differ "
                    "from the permuted originals by {e:.2g}",
                    holds=change[("none", False)] < 1e-9,
                    e=change[("none", False)],
                ),
                suite.Claim.of(
                    "every positional method breaks the symmetry: the smallest change beyond "
                    "the permutation is {m:.3g}, the largest "
                    "{hi:.3g}",
                    holds=min(positional) > 1e-4,
                    m=min(positional),
                    hi=max(positional),
                ),
                suite.Claim.of(
                    "a causal mask alone breaks it too: NoPE with the mask changes by {e:.3g}",
                    holds=change[("none", True)] > 1e-3,
                    e=change[("none", True)],
                ),
            ],
            note=f"one float64 attention layer, {h} heads, d_model {c}, T = {t}, random projections and a random permutation",
        )


class SinusoidalOffsetIsLinear(suite.Topic):
    """Each pair of dimensions of the sinusoidal encoding is a point (sin pω_i, cos pω_i) on a
    circle turning at its own speed ω_i = 10000^(−2i/d). Moving k positions turns every circle
    by kω_i, whatever p: PE(p + k) = M_k PE(p) with M_k a block-diagonal rotation that depends
    on k only. So the dot product PE(p)·PE(p + k) = Σ_i cos(kω_i) depends on the offset alone,
    and a linear layer could in principle read relative position. A learned table promises
    nothing of the sort.

    Formula: PE(p, 2i) = sin(p ω_i), PE(p, 2i+1) = cos(p ω_i), ω_i = 10000^(−2i/d);
    [sin((p+k)ω), cos((p+k)ω)] = [[cos kω, sin kω], [−sin kω, cos kω]] · [sin pω, cos pω]

    Pitfalls:
    - the encoding is added to the token embedding, so q·k mixes content and position in cross
      terms; the clean offset structure survives only in the position-position term.
    - the low-frequency dimensions barely move over short contexts: most of the d dimensions
      carry little position at small T.
    - in half precision, p·ω loses its digits at long p: compute the table in float32 or better.

    Follow-up questions:
    - Why geometric frequencies rather than evenly spaced ones?
    - Why did BERT and GPT-2 learn their position embeddings instead?
    - How does RoPE turn this rotation into a multiplicative, purely relative score?
    """

    name = "sinusoidal-offset-is-linear"
    area = "position"
    question = "Why did the original Transformer use sines and cosines for positions?"
    components = ("position:sinusoidal", "position:learned")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        d, count = 32, ctx.pick(512, 160)
        offsets = [1, 5, 25]
        omega = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
        rows = []
        with single_thread(), torch.no_grad():
            torch.manual_seed(ctx.seed)
            n = count + max(offsets)
            tables = {
                name: _build(name, d, 4, n).embed(torch.zeros(1, n, d), torch.arange(n)[None])[0]
                for name in ("sinusoidal", "learned")
            }
            for name, pe64 in tables.items():
                pe = pe64.double()
                for k in offsets:
                    src, dst = pe[:count], pe[k : count + k]  # PE(p), PE(p + k)
                    fit = torch.linalg.lstsq(src, dst).solution  # the best single matrix
                    residual = float((src @ fit - dst).norm() / dst.norm())
                    # the rotation the formula predicts: angle kω_i in plane i, nothing about p
                    c, s_ = (k * omega).cos(), (k * omega).sin()
                    sin_p, cos_p = src[:, 0::2], src[:, 1::2]
                    predicted = torch.stack([sin_p * c + cos_p * s_, cos_p * c - sin_p * s_], -1)
                    rotation_error = float((predicted.flatten(-2) - dst).abs().max())
                    dots = (src * dst).sum(-1)  # PE(p)·PE(p + k) for every p
                    rows.append(
                        {
                            "position": name,
                            "offset": k,
                            "best_linear_map_residual": residual,
                            "rotation_by_k_omega_error": rotation_error,
                            "dot_spread_over_p": float(dots.max() - dots.min()),
                        }
                    )
        sin = [r for r in rows if r["position"] == "sinusoidal"]
        learned = [r for r in rows if r["position"] == "learned"]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "turning each (sin, cos) pair by kω_i, with no knowledge of p, gives "
                    "PE(p + k) to within {e:.2g} for every p (offsets 1, 5, 25)",
                    holds=max(r["rotation_by_k_omega_error"] for r in sin) < 1e-5,
                    e=max(r["rotation_by_k_omega_error"] for r in sin),
                ),
                suite.Claim.of(
                    "PE(p)·PE(p + k) does not depend on p: it varies by at most {s:.2g} over p",
                    holds=max(r["dot_spread_over_p"] for r in sin) < 1e-4,
                    s=max(r["dot_spread_over_p"] for r in sin),
                ),
                suite.Claim.of(
                    "a learned table (at initialisation) has no such map: the best single "
                    "matrix from PE(p) to PE(p + k) leaves a relative residual of at least "
                    "{e:.3g}, against at most {z:.2g} for the sinusoids",
                    holds=min(r["best_linear_map_residual"] for r in learned) > 0.5
                    and max(r["best_linear_map_residual"] for r in sin) < 1e-4,
                    e=min(r["best_linear_map_residual"] for r in learned),
                    z=max(r["best_linear_map_residual"] for r in sin),
                ),
            ],
            note=f"d_model {d}, positions 0..{count - 1}; least squares over all of them",
        )


class RopeIsRelative(suite.Topic):
    """RoPE rotates each query and key in D/2 planes by an angle proportional to its position,
    pθ_i. Rotations are orthogonal and compose, so ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩: the score
    depends on the offset n − m only, never on where the pair sits, and the vectors keep their
    length. Nothing is added to the residual stream, nothing is learned, and keys in a KV cache
    keep their rotation. Added absolute encodings (sinusoidal, learned) give scores that change
    when the same pair is moved.

    Formula: R_p = diag of 2×2 rotations by pθ_i, θ_i = 10000^(−2i/D);
    (R_m q)ᵀ (R_n k) = qᵀ R_{n−m} k;  rotate-half form: q cos(pθ) + rotate_half(q) sin(pθ)

    Pitfalls:
    - two conventions (pairs i, i + D/2 in Llama/HF; pairs 2i, 2i + 1 in GPT-J): mixing them
      with a checkpoint gives wrong scores without an error.
    - relative is not extrapolating: at offsets longer than any seen in training the model meets
      angle combinations it never learned (hence position interpolation, NTK scaling, YaRN).
    - the angles must be computed in float32 or better; bfloat16 p·θ is off by radians at long p.

    Follow-up questions:
    - Why rotate q and k but not v?
    - How do position interpolation and NTK-aware scaling extend the context of a RoPE model?
    - Why does RoPE work with FlashAttention while ALiBi needed kernel support?
    """

    name = "rope-is-relative"
    area = "position"
    question = "How does rotary position embedding (RoPE) make attention scores relative?"
    components = ("position:rope", "position:sinusoidal")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        d_head, h, t = 64, 2, ctx.pick(64, 24)
        shifts = [1, 100, 1000]
        max_len = t + max(shifts) + 1
        rope = _build("rope", d_head * h, h, max_len)
        sinus = _build("sinusoidal", d_head * h, h, max_len)
        q = torch.randn(1, h, t, d_head, generator=g)
        k = torch.randn(1, h, t, d_head, generator=g)
        x = torch.randn(1, t, d_head * h, generator=g)
        w_q, w_k = torch.randn(2, d_head * h, d_head * h, generator=g) / math.sqrt(d_head * h)
        base = torch.arange(t)[None]

        def rope_scores(offset: int) -> Tensor:
            rq, rk = rope.rotate(q, k, base + offset, base + offset)
            return rq.double() @ rk.double().transpose(-1, -2)

        def sinus_scores(offset: int) -> Tensor:
            y = sinus.embed(x, base + offset).double()
            return (y @ w_q.double()) @ (y @ w_k.double()).transpose(-1, -2)

        rows = []
        with single_thread(), torch.no_grad():
            r0, s0 = rope_scores(0), sinus_scores(0)
            for shift in shifts:
                rs, ss = rope_scores(shift), sinus_scores(shift)
                rows.append(
                    {
                        "shift": shift,
                        "rope_score_change": float((rs - r0).abs().max() / r0.abs().max()),
                        "sinusoidal_score_change": float((ss - s0).abs().max() / s0.abs().max()),
                    }
                )
            rq, rk = rope.rotate(q, k, base + 1000, base + 1000)
            norm_change = float(
                max((rq.norm(dim=-1) - q.norm(dim=-1)).abs().max(), (rk.norm(dim=-1) - k.norm(dim=-1)).abs().max())
                / q.norm(dim=-1).max()
            )  # fmt: skip
        worst_rope = max(r["rope_score_change"] for r in rows)
        least_sinus = min(r["sinusoidal_score_change"] for r in rows)
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "moving every position by up to 1000, RoPE scores change by at most {e:.2g} "
                    "of their largest value (float32 rounding)",
                    holds=worst_rope < 1e-4,
                    e=worst_rope,
                ),
                suite.Claim.of(
                    "with added sinusoids the same move changes the scores by at least {e:.3g} "
                    "of their largest value",
                    holds=least_sinus > 1e-2,
                    e=least_sinus,
                ),
                suite.Claim.of(
                    "rotation keeps every head vector's length: relative change at most {e:.2g}",
                    holds=norm_change < 1e-5,
                    e=norm_change,
                ),
            ],
            note=f"{h} heads of size {d_head}, T = {t}; scores q·k (RoPE) and projected x+PE (sinusoidal), shifted positions",
        )


class AlibiLengthExtrapolation(suite.Topic):
    """ALiBi adds −m_h·(i − j) to the score of query i and key j, with fixed per-head slopes m_h
    in a geometric sequence. Keys far away get penalties that grow without bound, so at twice
    or eight times the training length the steep heads still put nearly all their weight on the
    same recent window they used in training: the model meets nothing new. Without a bias
    (NoPE, or an absolute encoding past its range), attention spreads over every key and a
    query's average weight on its recent window shrinks like window/T. ALiBi buys length
    robustness with a recency prior: it cannot favour a far, exact position.

    Formula: score(i, j) = q_i·k_j/√d − m_h (i − j), j ≤ i;  m_h = 2^(−8h/H), h = 1..H
    (for H a power of two)

    Pitfalls:
    - the shallowest heads (tiny slopes) still spread out; extrapolation comes from the steep ones.
    - for a head count that is not a power of two the slopes interleave two sequences; copying
      2^(−8h/H) is a silent bug.
    - BLOOM adds m_h·j instead of −m_h(i − j): equal after the softmax on causal pairs only.
    - flat perplexity at long lengths is not the same as using the long context.

    Follow-up questions:
    - Why does ALiBi not need any position embedding at the input?
    - How would you make ALiBi work in a bidirectional encoder?
    - Compare ALiBi with RoPE plus position interpolation for extending context.
    """

    name = "alibi-length-extrapolation"
    area = "position"
    question = "Why does ALiBi extrapolate to sequences longer than those seen in training?"
    components = ("position:alibi", "position:none")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        h, d, window, train_len, queries = 8, 32, 32, 64, 16
        lengths = [64, 128, 256, 512] if not ctx.small else [64, 256]
        rows = []
        with single_thread(), torch.no_grad():
            for name in ("alibi", "none"):
                mod = _build(name, h * d, h, max(lengths))
                for t in lengths:
                    q = torch.randn(1, h, queries, d, generator=g)  # the last `queries` tokens
                    k = torch.randn(1, h, t, d, generator=g)
                    scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(d)
                    bias = mod.bias(queries, t)  # queries sit at positions t - 16 .. t - 1
                    if bias is not None:
                        scores = scores + bias.double()
                    causal = torch.ones(queries, t, dtype=torch.bool).tril(diagonal=t - queries)
                    probs = scores.masked_fill(~causal, -math.inf).softmax(-1)[0]  # (H, Q, T)
                    distance = torch.arange(t - queries, t)[:, None] - torch.arange(t)[None, :]
                    recent = (distance >= 0) & (distance < window)  # (Q, T)
                    in_window = (probs * recent).sum(-1).mean(-1)  # (H,): mean over queries
                    rows.append(
                        {
                            "position": name,
                            "length": t,
                            "window_weight_steep_heads": float(in_window[: h // 2].mean()),
                            "window_weight_all_heads": float(in_window.mean()),
                        }
                    )
        weight = {(r["position"], r["length"]): r["window_weight_steep_heads"] for r in rows}
        longest = max(lengths)
        alibi = [weight[("alibi", t)] for t in lengths]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "ALiBi's steeper half of the heads keeps {a:.3f} of its weight on the last "
                    "{w} keys at T = {t} and {b:.3f} at T = {L}: longer inputs barely move it",
                    holds=min(alibi) > 0.9 and max(alibi) - min(alibi) < 0.02,
                    a=weight[("alibi", train_len)],
                    b=weight[("alibi", longest)],
                    w=window,
                    t=train_len,
                    L=longest,
                ),
                suite.Claim.of(
                    "without positions the same weight falls from {a:.3f} to {b:.3f}, near the "
                    "uniform share {u:.3f}",
                    holds=weight[("none", longest)] < 2 * window / longest
                    and weight[("none", longest)] < weight[("none", train_len)] / 2,
                    a=weight[("none", train_len)],
                    b=weight[("none", longest)],
                    u=window / longest,
                ),
            ],
            note=f"random q, k ~ N(0, 1), {h} heads of size {d}; mean weight of the last {queries} queries on their {window} most recent keys",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    PositionsBreakPermutationSymmetry,
    SinusoidalOffsetIsLinear,
    RopeIsRelative,
    AlibiLengthExtrapolation,
)
