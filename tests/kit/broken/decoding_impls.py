"""Deliberately broken decoders: a wrong length penalty, a stale cache, an unseeded sampler, a
nucleus that stops one token short."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import suite
from plugins.decoding.beam import BeamSearch
from plugins.decoding.sample import Sample


class PromptLengthPenalty(BeamSearch):
    """Divides by the whole length, prompt included, instead of the generated length."""

    name = "broken-beam-prompt-length-penalty"
    summary = "length penalty over prompt + generated tokens"
    reference = "hf-beam"

    def decode(self, model: Any, input_ids: Tensor, max_new_tokens: int, **kw: Any) -> Tensor:
        out = super().decode(model, input_ids, max_new_tokens, **kw)
        assert self.sequence_scores is not None
        generated = out.shape[1] - input_ids.shape[1]
        total = out.shape[1]
        self.sequence_scores = self.sequence_scores * (generated / total) ** self.length_penalty
        return out


class StaleCache(suite.Decoder):
    """Greedy that, with the cache on, feeds the new token without the cache (the context is lost)."""

    name = "broken-greedy-dropped-cache"
    summary = "greedy that drops the cache it should pass back"
    reference = "hf-greedy"

    def __init__(self, *, use_cache: bool = True) -> None:
        self.use_cache = use_cache

    @torch.no_grad()
    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: Any = None,
        generator: Any = None,
    ) -> Tensor:
        out = input_ids
        logits, _ = model(input_ids, None)
        for step in range(max_new_tokens):
            if step:  # the bug: the last token alone, without the cache of the prefix
                logits, _ = model(out[:, -1:] if self.use_cache else out, None)
            token = logits[:, -1].argmax(-1)
            out = torch.cat([out, token[:, None]], dim=1)
        return out


class GlobalRandom(Sample):
    """Draws from torch's global generator, ignoring `generator`."""

    name = "broken-sample-global-rng"
    summary = "sampling that ignores the generator"
    reference = "hf-sample"

    def decode(self, model: Any, input_ids: Tensor, max_new_tokens: int, **kw: Any) -> Tensor:
        kw["generator"] = None
        return super().decode(model, input_ids, max_new_tokens, **kw)


class ShortNucleus(Sample):
    """Keeps tokens while the mass *including* them stays below p: one token short of p."""

    name = "broken-sample-short-nucleus"
    summary = "top-p that stops before the set reaches p"
    reference = "hf-sample"

    def decode(self, model: Any, input_ids: Tensor, max_new_tokens: int, **kw: Any) -> Tensor:
        p = self.top_p
        if p is None or p >= 1.0:
            return super().decode(model, input_ids, max_new_tokens, **kw)
        generator = kw.get("generator")
        out = input_ids
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits, _ = model(out, None)
                z = logits[:, -1].float() / self.temperature
                ordered, order = z.sort(dim=-1, descending=True)
                inclusive = ordered.softmax(-1).cumsum(-1)
                drop = inclusive >= p
                drop[:, 0] = False
                z = z.masked_fill(drop.scatter(1, order, drop), float("-inf"))
                token = torch.multinomial(z.softmax(-1), 1, generator=generator)
                out = torch.cat([out, token], dim=1)
        return out


EXPECTED = {
    PromptLengthPenalty: "decoding.reference-agreement",
    StaleCache: "decoding.cache-consistency",
    GlobalRandom: "decoding.seeded-reproducible",
    ShortNucleus: "decoding.top-p-nucleus",
}
