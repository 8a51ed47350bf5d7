"""Greedy decoding from scratch: the argmax of every next-token distribution."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from plugins.decoding.common import greedy_search
from suite import Decoder

__all__ = ["Greedy"]


class Greedy(Decoder):
    """Greedy decoding: append argmax p(x_t | x_<t) until EOS or the token budget.

    Interview question: "Is greedy decoding optimal?" No: it maximises each factor, not the
    product. A token that looks best now can lead only to flat continuations, while a slightly
    worse one leads to a near-certain path; `decoding-search-quality` builds such a model and
    measures the gap beam search closes.

    Formula: x_t = argmax_v log p(v | x_<t); the sequence's log-probability is Σ_t log p(x_t | x_<t).

    Pitfalls: ties are broken by the lowest token id (torch.argmax), as transformers does; rows
    that emitted EOS keep emitting EOS (padding) while the batch finishes; with the KV cache
    off every step re-runs the whole prefix.
    """

    name = "greedy"
    summary = "argmax at every step, with KV cache and per-row EOS (from scratch)"
    reference = "hf-greedy"

    def __init__(self, *, use_cache: bool = True) -> None:
        self.use_cache = use_cache

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        sequences, _, _ = greedy_search(
            model, input_ids, max_new_tokens, eos_token_id=eos_token_id, use_cache=self.use_cache
        )
        return sequences
