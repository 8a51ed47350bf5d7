"""The decoding benchmarks: agreement with transformers, search quality, the KV cache, sampling.

* `decoding-agreement`: does the from-scratch decoder return the reference's tokens (and beam
  scores) on random tiny GPT-2 models and prompts? For a sampler, how far apart are the two
  empirical next-token distributions (total variation)?
* `decoding-search-quality`: is greedy optimal? The log-probability of what the decoder finds
  at widths 1 to 8, against greedy's, on a hand-set Markov chain built so that greedy is not
  optimal, and on a tiny random GPT-2.
* `decoding-kv-cache`: what does the cache buy? Time per generated token with and without it
  over generation lengths, the growth exponent of total time (about 1 with the cache, up to
  2 without), and the cache's measured bytes against 2·layers·B·Hkv·head_dim·T·bytes.
* `decoding-sampling`: what do temperature and top-p do to the text? Entropy of the generated
  tokens and distinct-n (unique n-grams over all n-grams) across the samples.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.decoding.data import (
    MarkovLM,
    garden_path_chain,
    prompts,
    tiny_gpt2_model,
    tiny_lm,
)
from suite import Benchmark, Decoder, RunContext
from suite.errors import SkipCell
from suite.kinds import Component, check_options
from suite.lm import TinyCausalLM, kv_cache_bytes, sequence_log_probs
from suite.metrics import growth_exponent

__all__ = ["DecodingAgreement", "DecodingKVCache", "DecodingSampling", "DecodingSearchQuality"]


def _decoder(cls: type[Component], **options: Any) -> Decoder:
    accepted = cls.accepted_options()
    chosen = {key: value for key, value in options.items() if key in accepted}
    return cls(**check_options(cls, chosen))  # type: ignore[return-value]


def _growth(lengths: list[int], times: list[float]) -> float:
    """Log-log slope of total time against the number of generated tokens."""
    return growth_exponent(lengths, times)


class DecodingAgreement(Benchmark):
    """Tokens (and beam scores) against the reference on random tiny GPT-2s and prompts.

    Deterministic decoders: the share of rows whose tokens equal the reference's, and the
    largest score difference for decoders that score sequences. Samplers: the total-variation
    distance between the two empirical distributions of the first sampled token.
    """

    name = "decoding-agreement"
    kind = "decoding"
    summary = "share of rows equal to the reference's tokens; beam score error; sampler TV distance"
    quick_grid: ClassVar[Any] = {"eos": [False, True], "models": [4]}
    full_grid: ClassVar[Any] = {"eos": [False, True], "models": [32]}
    ratio_metric = None
    settings: ClassVar[dict[str, Any]] = {"num_beams": 3, "length_penalty": 1.0, "top_k": 5}

    def applies_to(self, component_cls: type[Component]) -> bool:
        return component_cls.reference is not None

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        if ctx.reference is None:
            raise SkipCell(f"reference {component_cls.reference!r} is not registered in this run")
        dec = _decoder(component_cls, **self.settings)
        ref = _decoder(ctx.reference, **self.settings)
        gen = ctx.generator(11)
        if not getattr(component_cls, "deterministic", True):
            return self._sampling(dec, ref, params, ctx)
        rows = equal = 0
        score_error = 0.0
        for i in range(int(params["models"])):
            model = tiny_gpt2_model(ctx.seed + i, vocab_size=32)
            ids = prompts(3, 4, 32, gen)
            eos = 1 if params["eos"] else None
            out = dec.generate(model, ids, 8, eos_token_id=eos)
            expected = ref.generate(model, ids, 8, eos_token_id=eos)
            rows += ids.shape[0]
            if out.shape == expected.shape:
                equal += int((out == expected).all(dim=1).sum())
            if component_cls.scores_sequences and dec.sequence_scores is not None:  # type: ignore[attr-defined]
                assert ref.sequence_scores is not None
                diff = (dec.sequence_scores.double() - ref.sequence_scores.double()).abs().max()
                score_error = max(score_error, float(diff))
        metrics = {"token_agreement": equal / rows, "rows": float(rows)}
        if component_cls.scores_sequences:  # type: ignore[attr-defined]
            metrics["score_max_abs_error"] = score_error
        return metrics

    @staticmethod
    def _sampling(
        dec: Decoder, ref: Decoder, params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        samples = 2000
        distance = 0.0
        for i in range(int(params["models"])):
            model = tiny_gpt2_model(ctx.seed + i, vocab_size=32)
            ids = prompts(1, 4, 32, ctx.generator(20 + i)).expand(samples, -1)
            a = dec.generate(model, ids, 1, generator=ctx.generator(30 + i))[:, -1]
            b = ref.generate(model, ids, 1, generator=ctx.generator(40 + i))[:, -1]
            pa = torch.bincount(a, minlength=32).double() / samples
            pb = torch.bincount(b, minlength=32).double() / samples
            distance = max(distance, 0.5 * float((pa - pb).abs().sum()))
        return {"first_token_tv_distance": distance, "samples": float(samples)}


class DecodingSearchQuality(Benchmark):
    """Log-probability of the decoded continuation, against greedy's, at widths 1 to 8.

    `model="garden-path"`: the hand-set chain of `data.garden_path_chain`, started at its hub,
    where the likeliest first token leads to a flat distribution; `model="tiny-gpt2"`: random
    tiny GPT-2s and prompts. `gain_over_greedy` is the mean log-probability gained over greedy
    decoding of the same prompts (computed here by argmax, not by a component). Decoders
    without a width option run at width 1 only.
    """

    name = "decoding-search-quality"
    kind = "decoding"
    summary = (
        "log-prob of the decoded continuation vs greedy's, by beam width, on a garden-path chain"
    )
    quick_grid: ClassVar[Any] = {
        "model": ["garden-path", "tiny-gpt2"],
        "width": [1, 2, 4, 8],
        "new_tokens": [12],
    }
    full_grid: ClassVar[Any] = {
        "model": ["garden-path", "tiny-gpt2"],
        "width": [1, 2, 3, 4, 5, 6, 7, 8],
        "new_tokens": [12, 48],
    }
    ratio_metric = "log_prob"
    higher_is_better = True

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        width = int(params["width"])
        option = getattr(component_cls, "width_option", None)
        if option is None and width != 1:
            raise SkipCell(f"{component_cls.name!r} declares no width_option; it runs at width 1")
        options: dict[str, Any] = {option: width} if option else {}
        if "length_penalty" in component_cls.accepted_options():
            options["length_penalty"] = 0.0  # compare raw log-probabilities
        dec = _decoder(component_cls, **options)
        n = int(params["new_tokens"])
        if params["model"] == "garden-path":
            if getattr(component_cls, "hf_only", False):
                raise SkipCell(f"{component_cls.name!r} drives HuggingFace models only")
            models = [MarkovLM(garden_path_chain())]
            batches = [torch.zeros(1, 1, dtype=torch.long)]
        else:
            gen = ctx.generator(5)
            models = [tiny_gpt2_model(ctx.seed + i, vocab_size=32) for i in range(4)]
            batches = [prompts(2, 3, 32, gen) for _ in models]
        found, greedy = [], []
        for i, (model, ids) in enumerate(zip(models, batches, strict=True)):
            out = dec.generate(model, ids, n, generator=ctx.generator(100 + i))
            found.append(sequence_log_probs(model, out, ids.shape[1]))
            greedy.append(sequence_log_probs(model, _argmax_decode(model, ids, n), ids.shape[1]))
        lp, lg = torch.cat(found), torch.cat(greedy)
        return {
            "log_prob": float(lp.mean()),
            "greedy_log_prob": float(lg.mean()),
            "gain_over_greedy": float((lp - lg).mean()),
            "beats_greedy_share": float((lp > lg + 1e-6).double().mean()),
        }


@torch.no_grad()
def _argmax_decode(model: Any, ids: Tensor, n: int) -> Tensor:
    for _ in range(n):
        logits, _ = model(ids)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


class DecodingKVCache(Benchmark):
    """Time per generated token with and without the KV cache, over generation lengths.

    One cell sweeps the lengths (interleaved rounds, the minimum per length), fits the growth
    exponent of total time against the number of generated tokens for each mode, and reads the
    cache's bytes after the longest run against 2·layers·B·Hkv·head_dim·T·bytes.
    `model="tiny-lm"` is the suite's LM with grouped key/value heads (Hkv = H/2), which the
    HuggingFace references cannot drive; `model="tiny-gpt2"` is a random tiny GPT-2.
    """

    name = "decoding-kv-cache"
    kind = "decoding"
    summary = "ms per token with vs without the KV cache; growth exponents; cache bytes vs formula"
    quick_grid: ClassVar[Any] = [
        {"model": "tiny-lm", "lengths": [32, 64, 128], "prompt": 8},
        {"model": "tiny-gpt2", "lengths": [32, 64, 128], "prompt": 8},
    ]
    full_grid: ClassVar[Any] = [
        {"model": model, "lengths": [64, 128, 256, 512, 1024], "prompt": 8}
        for model in ("tiny-lm", "tiny-gpt2")
    ]
    ratio_metric = "cached_ms_per_token"

    def applies_to(self, component_cls: type[Component]) -> bool:
        return "use_cache" in component_cls.accepted_options()

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        if params["model"] == "tiny-lm":
            if getattr(component_cls, "hf_only", False):
                raise SkipCell(f"{component_cls.name!r} drives HuggingFace models only")
            model: Any = tiny_lm(ctx.seed, n_heads=4, n_kv_heads=2).to(ctx.device)
        else:
            model = tiny_gpt2_model(ctx.seed).to(ctx.device)
        lengths = [int(n) for n in params["lengths"]]
        ids = prompts(1, int(params["prompt"]), 64, ctx.generator(3)).to(ctx.device)
        decoders = {mode: _decoder(component_cls, use_cache=mode) for mode in (True, False)}
        best = {(mode, n): math.inf for mode in (True, False) for n in lengths}
        rounds = 1 if ctx.quick else 3
        for _ in range(rounds):
            for (mode, n), _old in list(best.items()):
                gen = ctx.generator(7)
                timing = ctx.time(
                    lambda d=decoders[mode], n=n, gen=gen: d.generate(model, ids, n, generator=gen),
                    warmup=0,
                    repeats=1,
                )
                best[(mode, n)] = min(best[(mode, n)], timing.median_ms)
        metrics: dict[str, float] = {}
        for mode, label in ((True, "cached"), (False, "uncached")):
            times = [best[(mode, n)] for n in lengths]
            metrics[f"{label}_growth_exponent"] = _growth(lengths, times)
            metrics[f"{label}_ms_per_token"] = times[-1] / lengths[-1]
            for n, t in zip(lengths, times, strict=True):
                metrics[f"{label}_ms_per_token_n{n}"] = t / n
        metrics["speedup_at_longest"] = best[(False, lengths[-1])] / best[(True, lengths[-1])]
        metrics.update(self._cache_bytes(model, ids, lengths[-1]))
        return metrics

    @staticmethod
    def _cache_bytes(model: Any, ids: Tensor, n: int) -> dict[str, float]:
        """Fill the cache with prompt + n tokens and read its size."""
        sequence = torch.cat([ids, ids.new_zeros(1, n)], dim=1)
        with torch.no_grad():
            _, cache = model(sequence, None)
        if isinstance(model, TinyCausalLM):
            layers, kv_heads, head_dim = model.config.n_layers, model.kv_heads, model.head_dim
            heads = model.config.n_heads
        else:
            config = model.hf_model.config
            layers, kv_heads = config.n_layer, config.n_head
            head_dim, heads = config.n_embd // config.n_head, config.n_head
        element = next(model.parameters()).element_size()
        formula = kv_cache_bytes(layers, kv_heads, head_dim, sequence.shape[1], element)
        return {
            "cache_bytes": float(cache.nbytes),
            "cache_bytes_formula": float(formula),
            "cache_bytes_without_gqa": float(formula * heads // kv_heads),
        }


class DecodingSampling(Benchmark):
    """Entropy and distinct-n of sampled continuations against temperature and top-p.

    64 continuations of 16 tokens from one prompt of a tiny random GPT-2 (vocabulary 64).
    `token_entropy_nats`: entropy of the pooled generated tokens; `distinct_1`, `distinct_2`:
    unique unigrams and bigrams over all of them; `mean_log_prob_per_token` under the model.
    """

    name = "decoding-sampling"
    kind = "decoding"
    summary = "entropy and distinct-1/2 of samples, by temperature and top-p"
    quick_grid: ClassVar[Any] = [
        *({"temperature": t, "top_p": 1.0} for t in (0.5, 1.0, 2.0)),
        *({"temperature": 1.0, "top_p": p} for p in (0.3, 0.7)),
    ]
    full_grid: ClassVar[Any] = {
        "temperature": [0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
        "top_p": [0.1, 0.3, 0.5, 0.7, 0.9, 1.0],
    }
    ratio_metric = "token_entropy_nats"
    higher_is_better = True
    samples: ClassVar[int] = 64
    new_tokens: ClassVar[int] = 16

    def applies_to(self, component_cls: type[Component]) -> bool:
        return {"temperature", "top_p"} <= set(getattr(component_cls, "sampling_options", ()))

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        dec = _decoder(component_cls, temperature=params["temperature"], top_p=params["top_p"])
        model = tiny_gpt2_model(ctx.seed, vocab_size=64)
        ids = prompts(1, 4, 64, ctx.generator(9)).expand(self.samples, -1)
        started = time.perf_counter()
        out = dec.generate(model, ids, self.new_tokens, generator=ctx.generator(10))
        seconds = time.perf_counter() - started
        tokens = out[:, ids.shape[1] :]
        counts = torch.bincount(tokens.reshape(-1), minlength=64).double()
        p = counts / counts.sum()
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        rows = tokens.tolist()
        bigrams = Counter((a, b) for row in rows for a, b in itertools.pairwise(row))
        return {
            "token_entropy_nats": entropy,
            "distinct_1": float((counts > 0).sum()) / tokens.numel(),
            "distinct_2": len(bigrams) / max(1, sum(bigrams.values())),
            "mean_log_prob_per_token": float(
                sequence_log_probs(model, out, ids.shape[1]).mean() / self.new_tokens
            ),
            "tokens_per_s": tokens.numel() / seconds,
        }
