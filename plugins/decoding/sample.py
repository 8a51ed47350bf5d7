"""Sampling from scratch: temperature, top-k and nucleus (top-p) filters, seeded by a generator."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.decoding.common import Stepper, filter_logits
from suite import Decoder

__all__ = ["Sample"]


class Sample(Decoder):
    """Ancestral sampling with temperature, top-k and top-p (nucleus) filtering.

    Interview question: "What do temperature and nucleus sampling do, and why not always
    sample from the full distribution?" Temperature τ rescales the logits: τ < 1 sharpens the
    distribution towards greedy, τ > 1 flattens it. The long tail of a large vocabulary holds
    much of the probability mass in tokens that are each unlikely, so full sampling regularly
    draws nonsense; top-k keeps a fixed number of tokens, top-p keeps the smallest set whose
    probability reaches p, which adapts to how peaked the distribution is.

    Formula: p_τ(v) = softmax(z / τ)_v; nucleus V_p = the smallest set of the most likely tokens
    with Σ_{v ∈ V_p} p(v) ≥ p, then renormalise over V_p.

    Pitfalls: the filters apply in the order temperature, top-k, top-p (transformers' order):
    top-p after temperature sees the sharpened distribution; τ → 0 is greedy, but τ = 0 is a
    division by zero; seeded sampling is reproducible only with the same generator state and
    the same batch layout.
    """

    name = "sample"
    summary = "temperature, top-k and top-p sampling, seeded by a torch.Generator (from scratch)"
    reference = "hf-sample"
    deterministic: ClassVar[bool] = False
    sampling_options: ClassVar[tuple[str, ...]] = ("temperature", "top_k", "top_p")

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be None or >= 1, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be None or in (0, 1], got {top_p}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.use_cache = use_cache

    @classmethod
    def option_choices(cls) -> dict[str, list[Any]]:
        return {
            "temperature": [0.5, 1.0, 2.0],
            "top_k": [None, 1, 3],
            "top_p": [None, 0.5, 0.9],
        }

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        sequences = input_ids
        if max_new_tokens == 0:
            return sequences
        stepper = Stepper(model, use_cache=self.use_cache)
        unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        logits = stepper.prefill(input_ids)
        for step in range(max_new_tokens):
            if step:
                logits = stepper.step(sequences)
            filtered = filter_logits(
                logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p
            )
            probs = filtered.softmax(dim=-1)  # (B, V)
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
            if eos_token_id is not None:
                token = torch.where(unfinished, token, torch.full_like(token, eos_token_id))
                unfinished &= token != eos_token_id
            sequences = torch.cat([sequences, token[:, None]], dim=1)
            if eos_token_id is not None and not bool(unfinished.any()):
                break
        return sequences
