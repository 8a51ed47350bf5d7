"""What the from-scratch decoders share: one model step with or without the KV cache, and the
sampling filters (temperature, top-k, top-p) with transformers' semantics."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["Stepper", "filter_logits", "greedy_search", "length_penalised"]


class Stepper:
    """Feeds a causal LM one decoding step at a time and returns the last position's logits.

    With `use_cache` the model reads only the new tokens and keeps its cache; without it the
    model re-reads the whole sequence every step (the O(T²) baseline the cache removes).
    """

    def __init__(self, model: Any, *, use_cache: bool = True) -> None:
        self.model, self.use_cache = model, use_cache
        self.cache: Any = None

    @torch.no_grad()
    def prefill(self, input_ids: Tensor) -> Tensor:
        """Logits `(B, V)` after the prompt `(B, T)`, float32."""
        logits, cache = self.model(input_ids, None)
        self.cache = cache if self.use_cache else None
        return logits[:, -1].float()

    @torch.no_grad()
    def step(self, sequences: Tensor) -> Tensor:
        """Logits `(B, V)` after `sequences` `(B, T + i)`, whose last token is new."""
        if self.use_cache:
            logits, self.cache = self.model(sequences[:, -1:], self.cache)
        else:
            logits, _ = self.model(sequences, None)
        return logits[:, -1].float()

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows `index` of the cache (beam search's surviving beams)."""
        if self.cache is not None:
            self.cache.reorder(index)


def filter_logits(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """`logits (B, V)` divided by the temperature, then -inf outside the k most likely tokens
    and outside the smallest set whose probability reaches `top_p` (at least one token kept)."""
    out = logits / temperature if temperature != 1.0 else logits.clone()
    if top_k is not None and top_k > 0 and top_k < out.shape[-1]:
        kth = out.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = out.sort(dim=-1, descending=True)
        before = ordered.softmax(-1).cumsum(-1) - ordered.softmax(-1)  # mass strictly before
        drop_sorted = before >= top_p  # the set already reached p without this token
        drop_sorted[:, 0] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def greedy_search(
    model: Any,
    input_ids: Tensor,
    max_new_tokens: int,
    *,
    eos_token_id: int | None = None,
    use_cache: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Argmax decoding: the sequences `(B, T + n)`, each row's summed log-probability of its
    generated tokens (EOS included, padding not) and its generated length, both `(B,)`."""
    b, device = input_ids.shape[0], input_ids.device
    sequences = input_ids
    log_prob = torch.zeros(b, device=device)
    lengths = torch.zeros(b, dtype=torch.long, device=device)
    if max_new_tokens == 0:
        return sequences, log_prob, lengths
    stepper = Stepper(model, use_cache=use_cache)
    unfinished = torch.ones(b, dtype=torch.bool, device=device)
    logits = stepper.prefill(input_ids)  # (B, V)
    for step in range(max_new_tokens):
        if step:
            logits = stepper.step(sequences)
        token = logits.argmax(dim=-1)  # (B,); ties: the lowest id, as transformers
        chosen = logits.log_softmax(dim=-1).gather(1, token[:, None]).squeeze(1)
        log_prob += torch.where(unfinished, chosen, torch.zeros_like(chosen))
        lengths += unfinished.long()
        if eos_token_id is not None:
            token = torch.where(unfinished, token, torch.full_like(token, eos_token_id))
            unfinished &= token != eos_token_id
        sequences = torch.cat([sequences, token[:, None]], dim=1)
        if eos_token_id is not None and not bool(unfinished.any()):
            break
    return sequences, log_prob, lengths


def length_penalised(log_prob: Tensor, lengths: Tensor, length_penalty: float) -> Tensor:
    """Σ log p / n^α: beam search's score of a finished hypothesis of n generated tokens."""
    return log_prob / lengths.clamp(min=1).double().pow(length_penalty).to(log_prob.dtype)
