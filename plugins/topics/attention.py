"""Interview topics of the area attention: scaling by √d_k and the three masks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

import suite
from plugins.topics._attention_common import _attention
from suite.nn import MultiHeadAttention
from suite.threads import single_thread


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


TOPICS: tuple[type[suite.Topic], ...] = (
    WhyScaleBySqrtDk,
    ThreeMasks,
)
