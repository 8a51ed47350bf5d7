"""Interview topics of the area decoding: greedy vs beam, temperature and nucleus sampling, the
KV cache, teacher forcing and exposure bias."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import suite
from plugins.decoding.data import MarkovLM, garden_path_chain, tiny_gpt2_model, tiny_lm
from suite.lm import kv_cache_bytes, sequence_log_probs
from suite.threads import single_thread


def _decoder(name: str, **options: object) -> suite.Decoder:
    return suite.get("decoding", name)(**options)  # type: ignore[return-value]


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


class KVCacheTopic(suite.Topic):
    """During generation the keys and values of past tokens never change, so a decoder caches
    them per layer and feeds the model only the new token: each step then costs attention of one
    query over T keys instead of re-running the whole prefix, and the logits are the same. The
    price is memory that grows linearly with the sequence: 2 · layers · Hkv · head_dim · T
    numbers per sequence. Grouped-query attention shares each key/value head among H / Hkv query
    heads, which shrinks the cache by exactly that factor.

    Formula: bytes = 2 · L · B · Hkv · d_head · T · bytes_per_element;  tokens the model reads:
    T + n with the cache, Σ_{i<n} (T + i) without

    Pitfalls:
    - the cache stores keys after the positional rotation (RoPE), at the positions they had.
    - beam search must reorder the cache to follow the surviving beams.
    - at long contexts the cache, not the weights, dominates inference memory and bandwidth.

    Follow-up questions:
    - How do paged attention and cache quantisation reduce the cost?
    - Why does multi-query attention hurt quality less than its cache saving suggests?
    - What changes for sliding-window attention's cache?
    """

    name = "kv-cache"
    area = "decoding"
    question = "What does the KV cache save, what does it cost, and why does GQA shrink it?"
    components = ("decoding:greedy",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        prompt_len, n = 8, ctx.pick(48, 16)
        ids = torch.randint(0, 64, (2, prompt_len), generator=g)
        rows = []
        outputs = {}
        with torch.no_grad(), single_thread():
            for kv_heads in (4, 2, 1):
                model = tiny_lm(ctx.seed, n_heads=4, n_kv_heads=kv_heads)
                counter = _CountingLM(model)
                cached = _decoder("greedy").generate(counter, ids, n)
                read_cached = counter.tokens
                counter.tokens = 0
                plain = _decoder("greedy", use_cache=False).generate(counter, ids, n)
                _, cache = model(cached)
                formula = kv_cache_bytes(
                    model.config.n_layers, kv_heads, model.head_dim, cached.shape[1], 4, batch=2
                )
                outputs[kv_heads] = (cached, plain)
                rows.append(
                    {
                        "kv_heads": kv_heads,
                        "cache_bytes": cache.nbytes,
                        "formula_bytes": formula,
                        "tokens_read_cached": read_cached,
                        "tokens_read_uncached": counter.tokens,
                    }
                )
        same = all(torch.equal(a, b) for a, b in outputs.values())
        full = rows[0]["cache_bytes"]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "measured cache bytes equal 2·L·B·Hkv·d_head·T·4 at Hkv = 4, 2, 1 "
                    "({a:.0f}, {b:.0f}, {c:.0f} bytes)",
                    holds=all(r["cache_bytes"] == r["formula_bytes"] for r in rows),
                    a=rows[0]["cache_bytes"],
                    b=rows[1]["cache_bytes"],
                    c=rows[2]["cache_bytes"],
                ),
                suite.Claim.of(
                    "GQA shrinks the cache by H / Hkv: ratios {r2:.3g} and {r1:.3g} for Hkv = 2 and 1",
                    holds=full == 2 * rows[1]["cache_bytes"] == 4 * rows[2]["cache_bytes"],
                    r2=full / rows[1]["cache_bytes"],
                    r1=full / rows[2]["cache_bytes"],
                ),
                suite.Claim.of(
                    "with the cache the model reads {c:.0f} tokens for {n:.0f} new ones; without it "
                    "{u:.0f}, and the generated tokens are the same",
                    holds=same
                    and rows[0]["tokens_read_uncached"] > 4 * rows[0]["tokens_read_cached"],
                    c=rows[0]["tokens_read_cached"],
                    u=rows[0]["tokens_read_uncached"],
                    n=n,
                ),
            ],
            note=f"suite TinyCausalLM, 2 layers, 4 query heads, d_head 8; batch 2, prompt "
            f"{prompt_len}, {n} new tokens, float32",
        )


class _CountingLM(nn.Module):
    """A causal LM that counts the input tokens it reads (batch rows included)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.tokens = model, 0

    def forward(self, input_ids: Tensor, cache: object = None) -> tuple[Tensor, object]:
        self.tokens += input_ids.numel()
        return self.model(input_ids, cache)


class ExposureBias(suite.Topic):
    """Teacher forcing trains every position on the true prefix, so the model never sees its own
    mistakes; at inference it conditions on what it generated, and one wrong token puts it on a
    prefix it was never trained on. Errors then compound: the share of positions that differ
    from the reference grows along the sequence, while the per-step error under teacher forcing
    stays flat. Scheduled sampling feeds the model its own predictions for part of the prefix
    during training, to close that train/test gap; whether it helps depends on the task.

    Formula: teacher forcing: max Σ_t log p(y_t | y_<t) with the reference prefix;
    free running: ŷ_t = argmax p(· | ŷ_<t);  one early error shifts every later state

    Pitfalls:
    - low teacher-forced loss says little about free-running quality.
    - scheduled sampling's targets stay the reference tokens even on a sampled prefix, which
      can teach the model to ignore its context.
    - compounding needs a state that an error changes for good; some tasks recover.

    Follow-up questions:
    - How do sequence-level objectives (RL, minimum risk training) address exposure bias?
    - Why is exposure bias less visible in large pretrained LMs?
    - How would you measure it on a real model?
    """

    name = "exposure-bias"
    area = "decoding"
    question = "What is exposure bias in teacher-forced training, and how do errors compound?"

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        vocab, length, steps = 32, 12, 150
        with single_thread():
            data = _fibonacci_sequences(512, length, vocab, g)
            test = _fibonacci_sequences(256, length, vocab, g)
            results = {}
            variants = [("teacher forcing", 0.0), ("scheduled sampling", 0.25)]
            for label, mix in ctx.pick(variants, variants[:1]):  # small: teacher forcing only
                model = _PairModel(vocab, ctx.generator(7))
                _train(model, data, steps, mix, ctx.generator(8))
                results[label] = (_teacher_forced_error(model, test), _free_error(model, test))
        tf_err, free_err = results["teacher forcing"]
        rows = [
            {
                "model": label,
                "position": t + 2,
                "teacher_forced_error": tf[t],
                "free_running_error": fr[t],
            }
            for label, (tf, fr) in results.items()
            for t in range(len(tf))
        ]
        tf_mean = sum(tf_err) / len(tf_err)
        scheduled = results.get("scheduled sampling")
        ss_note = (
            f"; scheduled sampling (a quarter of the inputs replaced by the model's own predictions)"
            f" ends at a free-running error of {scheduled[1][-1]:.3g}"
            if scheduled
            else ""
        )
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "under teacher forcing the per-step error is {tf:.3g} on average; running "
                    "free the share of wrong tokens climbs from {a:.3g} to {b:.3g} by the end",
                    holds=tf_mean > 0
                    and free_err[-1] > 1.5 * tf_mean
                    and free_err[-1] > free_err[0],
                    tf=tf_mean,
                    a=free_err[0],
                    b=free_err[-1],
                ),
                suite.Claim.of(
                    "running free, the error at the last position ({b:.3g}) is at least the error "
                    "at the first ({a:.3g}): once off the reference the state stays off",
                    holds=free_err[-1] >= free_err[0],
                    a=free_err[0],
                    b=free_err[-1],
                ),
            ],
            series=[
                suite.Series(
                    f"{label}, {mode}",
                    [float(t + 2) for t in range(len(tf))],
                    values,
                    "position",
                    "error rate",
                )
                for label, (tf, fr) in results.items()
                for mode, values in (("teacher forced", tf), ("free running", fr))
            ],
            note=f"x_t = (x_(t-1) + x_(t-2)) mod {vocab}; a two-token MLP trained {steps} "
            f"steps{ss_note}",
        )


def _fibonacci_sequences(n: int, length: int, vocab: int, g: torch.Generator) -> Tensor:
    seq = torch.zeros(n, length, dtype=torch.long)
    seq[:, :2] = torch.randint(0, vocab, (n, 2), generator=g)
    for t in range(2, length):
        seq[:, t] = (seq[:, t - 1] + seq[:, t - 2]) % vocab
    return seq


class _PairModel(nn.Module):
    """p(x_t | x_(t-1), x_(t-2)): two embeddings, a small MLP; too small to be perfect quickly."""

    def __init__(self, vocab: int, g: torch.Generator) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
            self.embed = nn.Embedding(vocab, 16)
            self.mlp = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, vocab))

    def forward(self, prev2: Tensor, prev1: Tensor) -> Tensor:
        return self.mlp(torch.cat([self.embed(prev2), self.embed(prev1)], dim=-1))


def _train(model: _PairModel, data: Tensor, steps: int, mix: float, g: torch.Generator) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = data[torch.randint(0, data.shape[0], (64,), generator=g)]
        inputs = batch.clone()
        if mix > 0:  # scheduled sampling: some inputs replaced by the model's own predictions
            with torch.no_grad():
                guess = model(batch[:, :-2], batch[:, 1:-1]).argmax(-1)
            swap = torch.rand(guess.shape, generator=g) < mix
            inputs[:, 2:] = torch.where(swap, guess, batch[:, 2:])
        logits = model(inputs[:, :-2], inputs[:, 1:-1])  # (N, T-2, V)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 2:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def _teacher_forced_error(model: _PairModel, test: Tensor) -> list[float]:
    pred = model(test[:, :-2], test[:, 1:-1]).argmax(-1)
    return (pred != test[:, 2:]).double().mean(0).tolist()


@torch.no_grad()
def _free_error(model: _PairModel, test: Tensor) -> list[float]:
    out = test[:, :2].clone()
    for _ in range(2, test.shape[1]):
        nxt = model(out[:, -2], out[:, -1]).argmax(-1)
        out = torch.cat([out, nxt[:, None]], dim=1)
    return (out[:, 2:] != test[:, 2:]).double().mean(0).tolist()


TOPICS: tuple[type[suite.Topic], ...] = (
    GreedyIsNotOptimal,
    TemperatureAndNucleus,
    KVCacheTopic,
    ExposureBias,
)
