"""`none`: no positional information at all (NoPE): the baseline every other method is measured against."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

import suite

__all__ = ["NoPosition"]


class NoPosition(suite.PositionalEncoding):
    """No position: every entry point is the identity.

    Interview question: "What does self-attention know about word order without positions?"

    Short answer: nothing, in an encoder. Softmax(q kᵀ) v treats the keys as a set: permute the
    input tokens and the outputs come out permuted the same way (permutation equivariance), so
    "dog bites man" and "man bites dog" give the same multiset of vectors. A *causal* decoder
    is different: the mask itself breaks the symmetry (token t sees t + 1 tokens), and NoPE
    decoders can learn to count, which is why NoPE is a real baseline for length extrapolation.

    Pitfalls:
    * a bidirectional model without positions cannot solve any order-dependent task, however
      large; check the mask before blaming the optimiser.
    * mean pooling over a NoPE encoder is fully permutation invariant.
    """

    name: ClassVar[str] = "none"
    summary: ClassVar[str] = "no positional information (NoPE): identity everywhere"
    reference: ClassVar[str | None] = None
    enters: ClassVar[str] = "none"

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        return nn.Module()  # no embed, rotate or bias: the base class supplies the identities
