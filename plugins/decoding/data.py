"""Models and prompts the decoding benchmarks and topics drive.

* `tiny_gpt2_model(seed)`: a random tiny GPT-2 (HuggingFace, nothing downloaded) in the
  causal-LM protocol, so the references (transformers' `generate`) run on it too;
* `tiny_lm(...)`: the suite's own `TinyCausalLM`, with grouped key/value heads when asked;
* `MarkovLM`: a model whose next-token distribution depends on the last token only, through a
  hand-set transition matrix; `garden_path_chain()` sets one where greedy is not optimal.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from suite.lm import HFCausalLM, LMConfig, TinyCausalLM, tiny_gpt2

__all__ = [
    "MarkovCache",
    "MarkovLM",
    "garden_path_chain",
    "prompts",
    "tiny_gpt2_model",
    "tiny_lm",
]


def tiny_gpt2_model(seed: int = 0, *, vocab_size: int = 64, n_layer: int = 2) -> HFCausalLM:
    """A random tiny GPT-2 (d = 32, 2 heads) in the causal-LM protocol."""
    return tiny_gpt2(vocab_size=vocab_size, n_layer=n_layer, n_head=2, n_embd=32, seed=seed)


def tiny_lm(
    seed: int = 0,
    *,
    vocab_size: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    d_model: int = 32,
) -> TinyCausalLM:
    """The suite's decoder-only LM with random weights, eval mode."""
    config = LMConfig(
        vocab_size=vocab_size,
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        n_layers=n_layers,
        d_hidden=2 * d_model,
        logit_scale=4.0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TinyCausalLM(config).eval()


def prompts(batch: int, length: int, vocab_size: int, generator: torch.Generator) -> Tensor:
    """Random prompt ids `(batch, length)`."""
    return torch.randint(0, vocab_size, (batch, length), generator=generator)


class MarkovCache:
    """A first-order chain needs no keys or values: the cache only counts tokens."""

    def __init__(self, length: int) -> None:
        self._length = length

    @property
    def length(self) -> int:
        return self._length

    @property
    def nbytes(self) -> int:
        return 0

    def reorder(self, index: Tensor) -> None:
        """Rows need no reordering: nothing per row is stored."""


class MarkovLM(nn.Module):
    """p(x_t | x_<t) = P[x_{t-1}, x_t] for a row-stochastic `transitions (V, V)`."""

    def __init__(self, transitions: Tensor) -> None:
        super().__init__()
        if transitions.dim() != 2 or transitions.shape[0] != transitions.shape[1]:
            raise ValueError(f"transitions must be (V, V), got {tuple(transitions.shape)}")
        rows = transitions.sum(-1)
        if not torch.allclose(rows, torch.ones_like(rows), atol=1e-6):
            raise ValueError(f"each row of transitions must sum to 1, got sums {rows.tolist()}")
        self.register_buffer("log_transitions", transitions.double().clamp_min(1e-30).log())

    def forward(
        self, input_ids: Tensor, cache: MarkovCache | None = None
    ) -> tuple[Tensor, MarkovCache]:
        past = 0 if cache is None else cache.length
        logits = self.log_transitions[input_ids].float()  # (B, T, V)
        return logits, MarkovCache(past + input_ids.shape[1])


def garden_path_chain(
    bait: float = 0.5, good: float = 0.4, flat_width: int = 5, sure: float = 0.9
) -> Tensor:
    """A chain over 3 + flat_width tokens where greedy decoding is not optimal.

    From the hub (token 0) the likeliest next token is the bait (1, probability `bait`), which
    leads to `flat_width` equally likely tokens, each returning to the hub with probability
    `sure`; the second likeliest is the good token (2, probability `good` < `bait`), which
    returns to the hub with probability `sure` at once. Per visit to the hub greedy collects
    bait · sure / flat_width over three tokens, the good path good · sure over two.
    """
    if not good < bait or bait + good >= 1:
        raise ValueError(f"need good < bait and bait + good < 1, got {good}, {bait}")
    vocab = 3 + flat_width
    flat = list(range(3, vocab))
    p = torch.zeros(vocab, vocab, dtype=torch.float64)
    rest = 1.0 - bait - good
    p[0, 1], p[0, 2] = bait, good
    p[0, flat] = rest / flat_width
    p[1, flat] = 1.0 / flat_width
    for row in [2, *flat]:
        p[row, 0] = sure
        others = [j for j in range(vocab) if j != 0]
        p[row, others] = (1.0 - sure) / len(others)
    assert math.isclose(float(p.sum()), vocab)
    return p
