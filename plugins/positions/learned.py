"""`learned`: a trained table of absolute position vectors (BERT, GPT-2), added to the tokens."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

import suite

__all__ = ["LearnedPosition"]


class _LearnedTable(nn.Module):
    def __init__(self, d_model: int, max_len: int, init_std: float) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)  # (max_len, C)
        nn.init.normal_(self.table.weight, std=init_std)

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        return x + self.table(positions).to(x.dtype)  # (B, T, C)


class LearnedPosition(suite.PositionalEncoding):
    """x + P[p]: one trained d_model vector per absolute position, `max_len` of them.

    Interview question: "Learned or sinusoidal position embeddings: which, and why?"

    Short answer: they train to the same quality at the lengths seen in training (BERT and
    GPT-2 learn theirs), but a learned table has nothing to say about position 513 if it was
    built for 512, and rows past the training length keep their random initialisation: the
    model has never seen them. Sinusoids at least give every position a vector; neither
    extrapolates well, which is why relative schemes (RoPE, ALiBi) replaced both.

    Pitfalls:
    * positions ≥ max_len are an indexing error (`bounded = True`: the base class rejects them
      with a clear message rather than a CUDA device-side assert).
    * rows seldom seen in training (long positions) are undertrained: the `position-extrapolation`
      benchmark shows what the untrained rows do to accuracy.
    * GPT-2 initialises the table with std 0.02, as here; a table of unit-variance rows would
      drown the token embeddings.

    It is PyTorch's own `nn.Embedding` lookup added to x, so it is its own reference.
    """

    name: ClassVar[str] = "learned"
    summary: ClassVar[str] = "trained absolute table x + P[p] (BERT, GPT-2); bounded by max_len"
    reference: ClassVar[str | None] = None
    enters: ClassVar[str] = "embedding"
    bounded: ClassVar[bool] = True

    def __init__(self, *, init_std: float = 0.02) -> None:
        if init_std <= 0:
            raise ValueError(f"learned: init_std must be > 0, got {init_std}")
        self.init_std = init_std  # GPT-2's 0.02

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return _LearnedTable(d_model, max_len, self.init_std)
