"""Interview topics of the area attention: fully masked rows and permutation equivariance."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

import suite
from plugins.topics._attention_common import _attention
from suite.nn import MultiHeadAttention
from suite.threads import single_thread


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


TOPICS: tuple[type[suite.Topic], ...] = (
    FullyMaskedRows,
    PermutationEquivariance,
)
