"""Interview topics of the area decoding: greedy vs beam, temperature and nucleus sampling."""

from __future__ import annotations

import math

import torch
from torch import Tensor

import suite
from plugins.decoding.data import MarkovLM, garden_path_chain, tiny_gpt2_model
from plugins.topics._decoding_common import _decoder
from suite.lm import sequence_log_probs
from suite.threads import single_thread


class GreedyIsNotOptimal(suite.Topic):
    """No. Greedy decoding maximises each factor p(x_t | x_<t) in turn, not their product, so a
    token that looks best now can lead into a flat region where every continuation is unlikely,
    while a slightly less likely token leads to a near-certain path. Beam search keeps the K best
    prefixes by total log-probability and recovers such paths; at K = 1 it is greedy. It is
    still approximate, and the most probable sequence is often not the best text (short,
    repetitive), hence length penalties and sampling.

    Formula: greedy: x_t = argmax_v p(v | x_<t);  beam: keep the top K of
    Σ_t log p(x_t | x_<t) over all one-token extensions of the K prefixes;
    finished score Σ log p / |y|^α

    Pitfalls:
    - start with one live beam (the others at −∞) or the K beams are copies of one hypothesis.
    - without a length penalty, beam search prefers short hypotheses that end early.
    - a wider beam is not always better text (the beam search curse); it is a better optimiser.

    Follow-up questions:
    - What does early_stopping change in transformers' beam search?
    - Why does beam search produce generic, repetitive text in open-ended generation?
    - How would you find the exact most probable sequence, and why is it intractable?
    """

    name = "greedy-is-not-optimal"
    area = "decoding"
    question = "Is greedy decoding optimal, and what does beam search buy?"
    components = ("decoding:greedy", "decoding:beam")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        bait = 0.4 + 0.1 * float(torch.rand(1, generator=g))
        good = bait - 0.05 - 0.05 * float(torch.rand(1, generator=g))
        model = MarkovLM(garden_path_chain(bait=bait, good=good))
        start = torch.zeros(1, 1, dtype=torch.long)
        n = ctx.pick(12, 6)
        rows = []
        with single_thread():
            greedy_out = _decoder("greedy").generate(model, start, n)
            greedy_lp = float(sequence_log_probs(model, greedy_out, 1))
            for width in (1, 2, 4, 8):
                out = _decoder("beam", num_beams=width, length_penalty=0.0).generate(
                    model, start, n
                )
                rows.append(
                    {
                        "model": "garden path",
                        "width": width,
                        "log_prob": float(sequence_log_probs(model, out, 1)),
                        "greedy_log_prob": greedy_lp,
                    }
                )
            gpt2 = tiny_gpt2_model(ctx.seed, vocab_size=32)
            ids = torch.randint(0, 32, (ctx.pick(8, 4), 3), generator=g)
            base = sequence_log_probs(gpt2, _decoder("greedy").generate(gpt2, ids, n), 3)
            for width in (2, 4):
                out = _decoder("beam", num_beams=width, length_penalty=0.0).generate(gpt2, ids, n)
                found = sequence_log_probs(gpt2, out, 3)
                rows.append(
                    {
                        "model": "tiny GPT-2",
                        "width": width,
                        "log_prob": float(found.mean()),
                        "greedy_log_prob": float(base.mean()),
                    }
                )
        garden = [r for r in rows if r["model"] == "garden path"]
        wide = [r["log_prob"] for r in garden if r["width"] > 1]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "on the garden-path chain greedy's {n:.0f} tokens have log-probability {g:.3g}; "
                    "beam search at width 2 finds {b:.3g}",
                    holds=garden[1]["log_prob"] > greedy_lp + 1.0,
                    n=n,
                    g=greedy_lp,
                    b=garden[1]["log_prob"],
                ),
                suite.Claim.of(
                    "at width 1 beam search is greedy: log-probability {a:.3g} vs {g:.3g}",
                    holds=abs(garden[0]["log_prob"] - greedy_lp) < 1e-9,
                    a=garden[0]["log_prob"],
                    g=greedy_lp,
                ),
                suite.Claim.of(
                    "widths 2, 4 and 8 all beat greedy (worst {w:.3g} vs {g:.3g})",
                    holds=min(wide) > greedy_lp,
                    w=min(wide),
                    g=greedy_lp,
                ),
            ],
            note=f"first-order chain: bait {bait:.2f}, good {good:.2f}, flat width 5; "
            f"{n} new tokens, no length penalty",
        )


class TemperatureAndNucleus(suite.Topic):
    """Temperature divides the logits before the softmax: below 1 it sharpens the distribution
    towards greedy, above 1 it flattens it towards uniform; entropy rises with it. Top-k keeps
    a fixed number of candidates; top-p (nucleus) keeps the smallest set of likeliest tokens
    whose probability reaches p, so it keeps few tokens when the model is confident and many
    when it is not, and cuts the long tail that makes full sampling wander into nonsense.

    Formula: p_τ(v) = exp(z_v / τ) / Σ_u exp(z_u / τ);  V_p = smallest prefix of tokens
    sorted by probability with Σ_{v ∈ V_p} p(v) ≥ p; sample from p restricted to V_p,
    renormalised

    Pitfalls:
    - τ = 0 is a division by zero: use greedy; τ → 0 approaches it.
    - order matters: transformers applies temperature, then top-k, then top-p.
    - the nucleus must include the token that crosses p, or it holds less than p.

    Follow-up questions:
    - Why does sampling at τ = 1 from a good model still produce degenerate text?
    - How does min-p differ from top-p?
    - How do you make sampling reproducible across batch sizes?
    """

    name = "temperature-and-nucleus-sampling"
    area = "decoding"
    question = "What do temperature and top-p (nucleus) sampling do to the next-token distribution?"
    components = ("decoding:sample",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        model = tiny_gpt2_model(ctx.seed, vocab_size=64)
        ids = torch.randint(0, 64, (1, 4), generator=g)
        samples = ctx.pick(800, 300)
        with torch.no_grad(), single_thread():
            z = model(ids)[0][0, -1].double()
            rows = []
            for tau in (0.25, 0.5, 1.0, 2.0, 4.0):
                p = (z / tau).softmax(-1)
                rows.append({"temperature": tau, "top_p": 1.0, "entropy": _entropy(p)})
            probs = z.softmax(-1)
            ordered = probs.sort(descending=True).values
            sizes, masses, short = [], [], []
            for top_p in (0.3, 0.6, 0.9):
                size = int((ordered.cumsum(-1) - ordered < top_p).sum())
                sizes.append(size)
                masses.append(float(ordered[:size].sum()))
                short.append(float(ordered[: size - 1].sum()))
                drawn = _decoder("sample", top_p=top_p).generate(
                    model, ids.expand(samples, -1), 1, generator=ctx.generator(1)
                )[:, -1]
                rows.append(
                    {
                        "temperature": 1.0,
                        "top_p": top_p,
                        "nucleus_size": size,
                        "nucleus_mass": masses[-1],
                        "distinct_sampled": int(drawn.unique().numel()),
                        "sampled_outside": int(
                            (~torch.isin(drawn, probs.argsort(descending=True)[:size])).sum()
                        ),
                    }
                )
        entropies = [r["entropy"] for r in rows[:5]]
        nucleus = rows[5:]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "entropy rises with temperature: {a:.3g} nats at τ = 1/4, {b:.3g} at τ = 4 "
                    "(uniform is {u:.3g})",
                    holds=entropies == sorted(entropies) and entropies[-1] > entropies[0],
                    a=entropies[0],
                    b=entropies[-1],
                    u=math.log(64),
                ),
                suite.Claim.of(
                    "the nucleus grows with p ({s1:.0f}, {s2:.0f}, {s3:.0f} tokens at p = 0.3, 0.6, "
                    "0.9), holds at least p and would hold less without its last token",
                    holds=sizes == sorted(sizes)
                    and all(m >= p for m, p in zip(masses, (0.3, 0.6, 0.9), strict=True))
                    and all(s < p for s, p in zip(short, (0.3, 0.6, 0.9), strict=True)),
                    s1=sizes[0],
                    s2=sizes[1],
                    s3=sizes[2],
                ),
                suite.Claim.of(
                    "sampling with top-p never drew a token outside the nucleus "
                    "({k:.0f} outside in {n:.0f} draws per p)",
                    holds=all(r["sampled_outside"] == 0 for r in nucleus),
                    k=sum(r["sampled_outside"] for r in nucleus),
                    n=samples,
                ),
            ],
            note=f"next-token distribution of a random tiny GPT-2 (vocabulary 64); {samples} draws",
        )


def _entropy(p: Tensor) -> float:
    nz = p[p > 0]
    return float(-(nz * nz.log()).sum())


TOPICS: tuple[type[suite.Topic], ...] = (
    GreedyIsNotOptimal,
    TemperatureAndNucleus,
)
