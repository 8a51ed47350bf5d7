"""Interview topics of the area attention: scaling, masks, empty rows, symmetry, cost, GQA."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

import suite
from suite.nn import MultiHeadAttention
from suite.threads import single_thread


def _attention(name: str, **options: object) -> suite.Attention:
    return suite.get("attention", name)(**options)


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: the growth exponent."""
    lx, ly = torch.tensor(xs).log(), torch.tensor(ys, dtype=torch.float64).log().float()
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())


class WhyScaleBySqrtDk(suite.Topic):
    """Because a dot product of two d_k-dimensional vectors with unit-variance entries has
    variance d_k. Left unscaled, the logits spread out as √d_k, softmax saturates to nearly
    one-hot, its entropy collapses and its Jacobian (which is p(1 − p) on the diagonal) goes to
    zero, so the scores and the queries stop learning. Dividing by √d_k puts the logits back at
    unit variance whatever the head size, so the softmax behaves the same at every width.

    Formula: Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V;  Var(q·k) = d_k when q, k have
    independent unit-variance entries;  ∂p_i/∂s_j = p_i (δ_ij − p_j)

    Pitfalls:
    - the argument assumes unit-variance q and k; with other inits (or QK-norm) the right
      temperature differs, which is why some models learn it.
    - add the mask after dividing: a finite mask value (say −10⁴) added before the division is
      itself divided by √d_k and may stop masking.
    - in half precision unscaled logits can also overflow before the softmax.

    Follow-up questions:
    - Why √d_k and not d_k?
    - What does μP or QK-normalisation do to this factor?
    - Does the same argument apply to the logits of the output layer?
    """

    name = "why-scale-by-sqrt-dk"
    area = "attention"
    question = "Why does scaled dot-product attention divide the scores by √d_k?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        n_queries, n_keys = ctx.pick(256, 64), 64
        dims = [16, 64, 256, 1024]
        rows: list[dict[str, float]] = []
        with single_thread():
            for d in dims:
                q = torch.randn(n_queries, d, generator=g)
                k = torch.randn(n_keys, d, generator=g)
                upstream = torch.randn(n_queries, n_keys, generator=g)
                for scaled in (False, True):
                    scores = (q @ k.T / (math.sqrt(d) if scaled else 1.0)).requires_grad_()
                    probs = scores.softmax(dim=-1)
                    (probs * upstream).sum().backward()
                    assert scores.grad is not None
                    entropy = torch.distributions.Categorical(logits=scores.detach()).entropy()
                    rows.append(
                        {
                            "d_k": d,
                            "scaled": scaled,
                            "score_std": scores.detach().std().item(),
                            "entropy": entropy.mean().item(),
                            "grad_norm": scores.grad.norm(dim=-1).median().item(),
                        }
                    )
        un = [r for r in rows if not r["scaled"]]
        sc = [r for r in rows if r["scaled"]]
        h_un = [r["entropy"] for r in un]
        h_sc = [r["entropy"] for r in sc]
        g_un = [r["grad_norm"] for r in un]
        g_sc = [r["grad_norm"] for r in sc]
        std_ratio = [r["score_std"] / math.sqrt(r["d_k"]) for r in un]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "unscaled scores have std/√d_k between {lo:.3g} and {hi:.3g}: spread √d_k",
                    holds=min(std_ratio) > 0.8 and max(std_ratio) < 1.25,
                    lo=min(std_ratio),
                    hi=max(std_ratio),
                ),
                suite.Claim.of(
                    "unscaled softmax entropy falls from {a:.3g} to {b:.3g} nats as d_k goes "
                    "16 → 1024 (uniform is {u:.3g})",
                    holds=h_un == sorted(h_un, reverse=True) and h_un[-1] < 0.25 * h_un[0],
                    a=h_un[0],
                    b=h_un[-1],
                    u=math.log(n_keys),
                ),
                suite.Claim.of(
                    "scaled softmax entropy stays between {lo:.3g} and {hi:.3g} nats",
                    holds=max(h_sc) < 1.1 * min(h_sc),
                    lo=min(h_sc),
                    hi=max(h_sc),
                ),
                suite.Claim.of(
                    "unscaled, the median gradient norm w.r.t. a row of scores falls from {a:.3g} "
                    "to {b:.3g} (16 → 1024); scaled it stays between {lo:.3g} and {hi:.3g}",
                    holds=g_un[-1] < g_un[0] / 10 and max(g_sc) < 1.3 * min(g_sc),
                    a=g_un[0],
                    b=g_un[-1],
                    lo=min(g_sc),
                    hi=max(g_sc),
                ),
            ],
            series=[
                suite.Series(
                    f"{'scaled' if s else 'unscaled'}",
                    [float(d) for d in dims],
                    [r["entropy"] for r in rows if r["scaled"] == s],
                    "d_k",
                    "softmax entropy (nats)",
                )
                for s in (False, True)
            ],
            note=f"{n_queries} queries × {n_keys} keys, N(0, 1) entries; gradient of Σ p·u, u ~ N(0, 1)",
        )


class ThreeMasks(suite.Topic):
    """Three different masks, each closing a different leak. The key-padding mask stops real
    tokens from reading pad positions (otherwise the output depends on what the batch was padded
    with). The causal mask stops position i from reading j > i during parallel training
    (otherwise the model sees the answer it is asked to predict). The loss mask (ignore_index,
    or a weighted mean over real tokens) keeps pad positions out of the objective and out of the
    normaliser. Dropping any one of them changes real outputs or the loss when only pads or
    future tokens change.

    Formula: scores_ij = q_i·k_j/√d + (0 if j is real and j ≤ i else −∞);
    loss = Σ_t m_t CE(logits_t, y_t) / Σ_t m_t

    Pitfalls:
    - the padding mask masks keys; pad *queries* still produce (garbage) rows, which is fine only
      if the loss mask drops them.
    - a mean over all positions (pads included) changes with the amount of padding, even when
      pads are ignored in the sum.
    - left padding for generation shifts positions: build position ids from the mask.

    Follow-up questions:
    - Which masks does cross-attention need?
    - How do you combine a causal and a padding mask without NaN rows?
    - Why does sequence packing need a block-diagonal mask?
    """

    name = "three-attention-masks"
    area = "attention"
    question = "Which masks does a Transformer need, and what leaks if you drop each one?"
    components = ("attention:naive",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        b, t, d, vocab = 2, ctx.pick(24, 12), 32, 16
        real = t // 2 + 1
        mask = torch.ones(b, t, dtype=torch.bool)
        mask[1, real:] = False
        with single_thread(), torch.no_grad():
            x = torch.randn(b, t, d, generator=g)
            other_pads = torch.where(mask[..., None], x, torch.randn(b, t, d, generator=g))
            future = x.clone()
            future[:, -1] = torch.randn(b, d, generator=g)
            enc = MultiHeadAttention(d, 4, _attention("naive"))
            dec = MultiHeadAttention(d, 4, _attention("naive"), causal=True)
            dec.load_state_dict(enc.state_dict())

            def pad_leak(padding: Tensor | None) -> float:
                diff = enc(x, padding) - enc(other_pads, padding)
                return diff[mask].abs().max().item()

            def future_leak(module: MultiHeadAttention) -> float:
                return (module(x) - module(future))[:, :-1].abs().max().item()

            head = torch.nn.Linear(d, vocab)
            logits = head(enc(x, mask))
            targets = torch.randint(1, vocab, (b, t), generator=g).masked_fill(~mask, 0)
            changed = torch.where(mask[..., None], logits, torch.randn(b, t, vocab, generator=g))

            def loss_leak(ignore: bool) -> float:
                y = targets.masked_fill(~mask, -100) if ignore else targets
                a = F.cross_entropy(logits.flatten(0, 1), y.flatten())
                c = F.cross_entropy(changed.flatten(0, 1), y.flatten())
                return (a - c).abs().item()

            leaks = {
                "padding": (pad_leak(None), pad_leak(mask)),
                "causal": (future_leak(enc), future_leak(dec)),
                "loss": (loss_leak(False), loss_leak(True)),
            }
        claims = [
            suite.Claim.of(
                f"{what} mask: without it the {desc} moves by {{off:.3g}}; with it by {{on:.3g}}",
                holds=off > 1e-3 and on < 1e-6,
                off=off,
                on=on,
            )
            for (what, (off, on)), desc in zip(
                leaks.items(),
                (
                    "real outputs when only pad content changes",
                    "output of earlier positions when the last token changes",
                    "loss when only pad-position logits change",
                ),
                strict=True,
            )
        ]
        table = [{"mask": k, "leak_without": v[0], "leak_with": v[1]} for k, v in leaks.items()]
        return suite.Evidence(
            table=table,
            claims=claims,
            note=f"batch of 2 × {t} tokens, second one padded after {real}; 4-head attention",
        )


def _empty_row_components(t: int, seed: int) -> dict[str, suite.Attention]:
    return {
        "naive": _attention("naive"),
        "sdpa": _attention("sdpa"),
        "sliding-window": _attention("sliding-window", window=2, block_size=4),
        "strided": _attention("strided", window=2, stride=4, block_size=4),
        "bigbird": _attention("bigbird", block_size=4, n_global=2, n_random=1, seed=seed),
    }


class FullyMaskedRows(suite.Topic):
    """A query that may attend to no key at all (a pad query under a causal mask whose only
    visible keys are pads, a sliding window that covers only padding, a sequence that is all
    padding) has a softmax over nothing. Written with −∞ the row is exp(−∞ − (−∞)) = NaN, and
    one NaN spreads through the next matmul to the whole batch and into the gradients. The
    suite's components fill masked scores with the most negative finite number and multiply
    the probabilities by the mask, so an empty row returns exact zeros, forward and backward.

    Formula: softmax(s)_j = exp(s_j − max s) / Σ_k exp(s_k − max s);  all s = −∞ gives 0/0

    Pitfalls:
    - filling with a large negative finite number alone avoids NaN but turns the empty row into
      a uniform average over the masked keys, silently reading pads.
    - checking only the forward pass: a `where` after a NaN softmax still gives NaN gradients.
    - fused kernels differ in what they return for empty rows; test the backend you deploy.

    Follow-up questions:
    - Where do empty rows appear in practice?
    - Why do some libraries add a learned "sink" key or an always-visible first token?
    - How should the loss treat the outputs of those rows?
    """

    name = "fully-masked-attention-rows"
    area = "attention"
    question = "What happens when a query row is fully masked, and how should attention handle it?"
    components = (
        "attention:naive",
        "attention:sdpa",
        "attention:sliding-window",
        "attention:strided",
        "attention:bigbird",
    )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        b, h, t, d = 2, 2, ctx.pick(32, 16), 8
        mask = torch.ones(b, t, dtype=torch.bool)
        mask[0, :3] = False  # causal: queries 0..2 of sequence 0 see only pads
        mask[1, t // 2 :] = False  # sliding window: late pad queries see only pads
        q, k, v = (torch.randn(b, h, t, d, generator=g) for _ in range(3))
        dense_allowed = torch.ones(t, t, dtype=torch.bool).tril() & mask[:, None, None, :]
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        with_inf = scores.masked_fill(~dense_allowed, float("-inf")).softmax(-1) @ v
        dense_empty = ~dense_allowed.any(-1).expand(b, h, t)
        finite_fill = scores.masked_fill(~dense_allowed, torch.finfo(scores.dtype).min)
        uniform = finite_fill.softmax(-1) @ v
        rows: list[dict[str, Any]] = []
        with single_thread():
            for name, att in _empty_row_components(t, ctx.seed).items():
                leaves = [x.clone().requires_grad_() for x in (q, k, v)]
                out = att(*leaves, causal=True, key_padding_mask=mask)
                out.square().sum().backward()
                pattern = att.pattern(t, t)
                allowed = dense_allowed if pattern is None else dense_allowed & pattern
                empty = ~allowed.any(-1).expand(b, h, t)
                grads_finite = all(bool(x.grad.isfinite().all()) for x in leaves)  # type: ignore[union-attr]
                rows.append(
                    {
                        "component": name,
                        "empty_rows": int(empty.sum()),
                        "max_abs_on_empty": out.detach()[empty].abs().max().item(),
                        "finite": bool(out.isfinite().all()) and grads_finite,
                    }
                )
        nan_rows = int(with_inf.isnan().any(-1).sum())
        claims = [
            suite.Claim.of(
                "softmax with −∞ fills gives NaN on {n} rows, exactly the {e} empty ones",
                holds=nan_rows == int(dense_empty.sum()) > 0,
                n=nan_rows,
                e=int(dense_empty.sum()),
            ),
            suite.Claim.of(
                "a finite fill without zeroing turns empty rows into an average of pad values "
                "(mean |output| {m:.3g})",
                holds=uniform[dense_empty].abs().mean().item() > 1e-2,
                m=uniform[dense_empty].abs().mean().item(),
            ),
        ]
        claims += [
            suite.Claim.of(
                f"{r['component']}: {{n}} empty rows come out as zeros (max |output| {{m:.3g}}), "
                "output and gradients finite",
                holds=r["empty_rows"] > 0 and r["max_abs_on_empty"] == 0 and r["finite"],
                n=r["empty_rows"],
                m=r["max_abs_on_empty"],
            )
            for r in rows
        ]
        return suite.Evidence(
            table=rows,
            claims=claims,
            note=f"causal, 2 × {t} tokens: sequence 0 starts with 3 pads, sequence 1 ends in pads",
        )


class PermutationEquivariance(suite.Topic):
    """Self-attention without position information is permutation equivariant: shuffle the
    input tokens and the outputs come back shuffled the same way, nothing else changes. Every
    score is a function of the two tokens only, and the softmax sum runs over a set. So a
    Transformer without positional encodings sees a bag of tokens; position has to be injected
    (absolute embeddings, RoPE, ALiBi) or implied by a causal mask, which breaks the symmetry.

    Formula: Attn(P X) = P Attn(X) for every permutation matrix P

    Pitfalls:
    - a causal mask is itself a position signal: decoders without positional encodings (NoPE)
      can still learn order.
    - pooling (mean or max over tokens) on top makes the model permutation *invariant*.
    - equivariance holds up to floating-point summation order, not bit for bit.

    Follow-up questions:
    - Why is this a feature for sets and graphs (Set Transformer, GNNs)?
    - How does RoPE inject position without adding anything to the token vector?
    - Is cross-attention equivariant in its queries, its keys, or both?
    """

    name = "attention-permutation-equivariance"
    area = "attention"
    question = "What does self-attention do with a permuted input when there are no positions?"
    components = ("attention:sdpa",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        b, t, d = 2, ctx.pick(64, 16), 32
        with single_thread(), torch.no_grad():
            mha = MultiHeadAttention(d, 4, _attention("sdpa"))
            causal = MultiHeadAttention(d, 4, _attention("sdpa"), causal=True)
            causal.load_state_dict(mha.state_dict())
            x = torch.randn(b, t, d, generator=g)
            perm = torch.randperm(t, generator=g)
            pos = _sinusoids(t, d)

            def gap(f: Callable[[Tensor], Tensor]) -> float:
                return (f(x[:, perm]) - f(x)[:, perm]).abs().max().item()

            scale = mha(x).abs().max().item()
            gaps = {
                "no positions": gap(mha),
                "sinusoidal positions": gap(lambda z: mha(z + pos)),
                "causal mask": gap(causal),
            }
            moved = (perm != torch.arange(t)).float().mean().item()
        plain, positioned, masked = gaps.values()
        return suite.Evidence(
            table=[{"setting": k, "max_abs_gap": v} for k, v in gaps.items()],
            claims=[
                suite.Claim.of(
                    "no positions: permuting the input permutes the output, max gap {e:.3g} "
                    "(outputs of size {s:.3g})",
                    holds=plain < 1e-5 * max(scale, 1.0),
                    e=plain,
                    s=scale,
                ),
                suite.Claim.of(
                    "adding sinusoidal positions breaks it: gap {e:.3g}",
                    holds=positioned > 1e-2,
                    e=positioned,
                ),
                suite.Claim.of(
                    "a causal mask breaks it too: gap {e:.3g}",
                    holds=masked > 1e-2,
                    e=masked,
                ),
            ],
            note=f"4-head self-attention, {b} × {t} tokens of width {d}; "
            f"the permutation moves {moved:.0%} of positions",
        )


def _sinusoids(t: int, d: int) -> Tensor:
    pos = torch.arange(t, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10_000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    return torch.cat([(pos * freq).sin(), (pos * freq).cos()], dim=-1)


class _LargestTensor(TorchFunctionMode):
    """Records the largest tensor any torch function returns: the score matrix, if one is made."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for item in out if isinstance(out, tuple | list) else (out,):
            if isinstance(item, Tensor):
                self.largest = max(self.largest, item.numel() * item.element_size())
        return out


def _largest_tensor_bytes(fn: Callable[..., Any], *args: Tensor) -> int:
    with _LargestTensor() as mode:
        fn(*args)
    return mode.largest


class QuadraticVsSparse(suite.Topic):
    """Dense attention scores every query against every key: T² pairs, so time and the score
    matrix grow quadratically with the sequence length (FlashAttention removes the T² memory
    but not the T² arithmetic). Sparse patterns attend a fixed number of keys per query, a local
    window, a few global tokens, some random blocks, so pairs, memory and time grow linearly at
    fixed window. What they give up is direct access to distant tokens; several layers or global
    tokens carry information across.

    Formula: dense pairs = T²;  sliding window pairs ≈ (2w + 1) T;
    BigBird pairs ≈ ((2w + 1 + r) b + 2g) T;  growth exponent = slope of log cost against log T

    Pitfalls:
    - masking a dense T×T matrix to a band is not sparse attention: it still computes T² scores.
    - small T hides the quadratic term behind constant overheads; fit exponents over a range.
    - sparse kernels pay for gathering and block rounding; the break-even T can be large.

    Follow-up questions:
    - Why do linear-attention models still trail softmax attention on recall tasks?
    - How does FlashAttention change the memory but not the FLOPs?
    - What receptive field do L layers of a window w give?
    """

    name = "quadratic-attention-vs-sparse"
    area = "attention"
    question = "Why is attention O(T²), and how do sparse attention patterns make it linear?"
    components = ("attention:naive", "attention:sliding-window", "attention:bigbird")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        lengths = ctx.pick([256, 512, 1024, 2048], [256, 512, 1024])
        atts = {
            "naive": _attention("naive"),
            "sliding-window": _attention("sliding-window", window=16, block_size=16),
            "bigbird": _attention("bigbird", block_size=16, n_global=16, n_random=2, seed=ctx.seed),
        }
        rows: list[dict[str, Any]] = []
        with single_thread(), torch.no_grad():
            for t in lengths:
                q, k, v = (torch.randn(1, 1, t, 16, generator=g) for _ in range(3))
                for name, att in atts.items():
                    sparse = getattr(att, "attended_pairs", None)  # the gathered pairs
                    start = time.perf_counter()
                    largest = _largest_tensor_bytes(att, q, k, v)
                    rows.append(
                        {
                            "component": name,
                            "T": t,
                            "pairs": t * t if sparse is None else sparse(t, t, causal=False),
                            "largest_tensor_bytes": largest,
                            "seconds": time.perf_counter() - start,
                        }
                    )
        fits: dict[str, dict[str, float]] = {}
        for name in atts:
            mine = [r for r in rows if r["component"] == name]
            xs = [float(r["T"]) for r in mine]
            fits[name] = {
                key: _slope(xs, [float(r[key]) for r in mine])
                for key in ("pairs", "largest_tensor_bytes", "seconds")
            }
        claims = [
            suite.Claim.of(
                "dense attention: pairs grow as T^{p:.3g}, the largest tensor as T^{m:.3g}",
                holds=abs(fits["naive"]["pairs"] - 2) < 0.05
                and abs(fits["naive"]["largest_tensor_bytes"] - 2) < 0.2,
                p=fits["naive"]["pairs"],
                m=fits["naive"]["largest_tensor_bytes"],
            )
        ]
        claims += [
            suite.Claim.of(
                f"{name}: pairs grow as T^{{p:.3g}}, the largest tensor as T^{{m:.3g}}",
                holds=abs(fits[name]["pairs"] - 1) < 0.2
                and abs(fits[name]["largest_tensor_bytes"] - 1) < 0.2,
                p=fits[name]["pairs"],
                m=fits[name]["largest_tensor_bytes"],
            )
            for name in ("sliding-window", "bigbird")
        ]
        return suite.Evidence(
            table=rows,
            claims=claims,
            series=[
                suite.Series(
                    name,
                    [float(t) for t in lengths],
                    [float(r["pairs"]) for r in rows if r["component"] == name],
                    "sequence length T",
                    "attended pairs",
                    plot="loglog",
                )
                for name in atts
            ],
            note="one head of width 16; window 16, BigBird blocks of 16 with 16 global tokens and "
            "2 random blocks; seconds are one run each (exponents in the table: "
            + ", ".join(f"{n} T^{f['seconds']:.2f}" for n, f in fits.items())
            + ")",
        )


def _kv_cache(mha: MultiHeadAttention, x: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The keys and values `mha` would cache for `x`: `(B, Hkv, T, Dh)` each, stored in `dtype`."""
    b, t, _ = x.shape
    kv = mha.kv_proj(x).view(b, t, 2, mha.n_kv_heads, mha.head_dim)
    k, v = kv.permute(2, 0, 3, 1, 4).to(dtype).unbind(0)
    return k.contiguous(), v.contiguous()


def _rel_error(y: Tensor, reference: Tensor) -> float:
    return ((y - reference).norm() / reference.norm()).item()


def _pooled_copy(mha: MultiHeadAttention, n_kv_heads: int) -> MultiHeadAttention:
    """GQA from an MHA checkpoint: the key/value heads of each group mean-pooled into one."""
    out = MultiHeadAttention(mha.d_model, mha.n_heads, mha.attention, n_kv_heads=n_kv_heads)
    state = dict(mha.state_dict())
    group = mha.n_kv_heads // n_kv_heads
    for key in ("kv_proj.weight", "kv_proj.bias"):
        w = state[key]
        grouped = w.view(2, n_kv_heads, group, mha.head_dim, *w.shape[1:])
        state[key] = grouped.mean(2).reshape(-1, *w.shape[1:])
    out.load_state_dict(state)
    return out


class GroupedQueryAttention(suite.Topic):
    """Multi-head attention runs H heads of size d/H in parallel, each with its own queries,
    keys and values, for the cost of one head of size d. At inference the keys and values of
    every past token are cached, and that cache, not the weights, limits batch size and context
    length. Grouped-query attention keeps H query heads but only H_kv key/value heads (each
    shared by H/H_kv query heads); multi-query attention is H_kv = 1. The cache shrinks by
    H/H_kv; the price is less freedom in keys and values, usually a small quality loss that a
    short uptraining recovers.

    Formula: KV-cache bytes = 2 · L · H_kv · d_head · T · B · bytes per element
    (the 2 is for K and V; L layers, T cached tokens, batch B)

    Pitfalls:
    - the cache depends on H_kv, not H: counting query heads overstates it by H/H_kv.
    - GQA saves memory bandwidth in decoding, not FLOPs in the projections of queries.
    - converting an MHA checkpoint: mean-pool the key/value heads of each group (then uptrain);
      keeping one head of each group loses more.

    Follow-up questions:
    - How big is the cache of a 70B model at 32k context?
    - Why is decoding memory-bound, and how does GQA change the arithmetic intensity?
    - How do multi-head latent attention (MLA) or paged attention attack the same cost?
    """

    name = "multi-head-gqa-kv-cache"
    area = "attention"
    question = "How big is the KV cache, and what do grouped-query and multi-query attention trade?"
    components = ("attention:sdpa",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        layers, d, heads, b, t = 4, 64, 8, 2, ctx.pick(128, 32)
        dtype = torch.bfloat16
        per = dtype.itemsize
        rows: list[dict[str, Any]] = []
        with single_thread(), torch.no_grad():
            x = torch.randn(b, t, d, generator=g)
            reference = [MultiHeadAttention(d, heads, _attention("sdpa")) for _ in range(layers)]
            for h_kv in (8, 4, 2, 1):
                stack = [_pooled_copy(m, h_kv) for m in reference]
                cache = [_kv_cache(m, x, dtype) for m in stack]
                measured = sum(z.numel() * z.element_size() for kv in cache for z in kv)
                error = sum(_rel_error(m(x), r(x)) for m, r in zip(stack, reference, strict=True))
                rows.append(
                    {
                        "H_kv": h_kv,
                        "cache_bytes": measured,
                        "formula_bytes": 2 * layers * h_kv * (d // heads) * t * b * per,
                        "pooled_rel_error": error / layers,
                    }
                )
        errors = [r["pooled_rel_error"] for r in rows]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "measured cache bytes equal 2·L·H_kv·d_head·T·B·bytes for every H_kv "
                    "(MHA {mha:.0f} bytes, MQA {mqa:.0f})",
                    holds=all(r["cache_bytes"] == r["formula_bytes"] for r in rows),
                    mha=rows[0]["cache_bytes"],
                    mqa=rows[-1]["cache_bytes"],
                ),
                suite.Claim.of(
                    "the cache shrinks by H/H_kv: MHA/MQA = {r:.3g} with H = {h}",
                    holds=rows[0]["cache_bytes"] == heads * rows[-1]["cache_bytes"],
                    r=rows[0]["cache_bytes"] / rows[-1]["cache_bytes"],
                    h=heads,
                ),
                suite.Claim.of(
                    "mean-pooling MHA key/value heads costs mean relative output error "
                    "{e4:.3g} at H_kv = 4, {e2:.3g} at 2, {e1:.3g} at 1 (H_kv = 8: {e8:.3g})",
                    holds=errors[0] < 1e-6 and errors == sorted(errors),
                    e8=errors[0],
                    e4=errors[1],
                    e2=errors[2],
                    e1=errors[3],
                ),
            ],
            series=[
                suite.Series(
                    "KV-cache bytes",
                    [float(r["H_kv"]) for r in rows],
                    [float(r["cache_bytes"]) for r in rows],
                    "key/value heads H_kv",
                    "cache bytes",
                    plot="loglog",
                )
            ],
            note=f"{layers} layers, d = {d}, H = {heads}, {b} × {t} tokens cached in bfloat16; "
            "quality: each random-init MHA layer converted to GQA by mean-pooling",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    WhyScaleBySqrtDk,
    ThreeMasks,
    FullyMaskedRows,
    PermutationEquivariance,
    QuadraticVsSparse,
    GroupedQueryAttention,
)
