"""InfoNCE with in-batch negatives over cosine similarities, as SimCSE trains sentence embeddings.

From scratch: L2-normalise, one matrix product for every pair's cosine, divide by the
temperature, and the row-wise cross-entropy against the diagonal written out as
`logsumexp(row) - diagonal`. One direction (anchor -> positive), as SimCSE; CLIP averages
both directions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from plugins.losses.closed_forms import infonce_closed_form
from suite.dtypes import compute_dtype
from suite.kinds import Loss

__all__ = ["InfoNCE", "cosine_similarity_matrix"]

_NORM_EPS = 1e-12  # as F.normalize: a zero vector stays zero instead of becoming NaN


def cosine_similarity_matrix(anchors: Tensor, positives: Tensor) -> Tensor:
    """`(N, D), (N, D) -> (N, N)`: entry (i, j) is cos(anchor_i, positive_j)."""
    a = anchors / anchors.norm(dim=1, keepdim=True).clamp_min(_NORM_EPS)
    p = positives / positives.norm(dim=1, keepdim=True).clamp_min(_NORM_EPS)
    return a @ p.T


class InfoNCE(Loss):
    """InfoNCE: pick your positive out of the batch, the loss behind SimCSE, CLIP and DPR.

    Interview question: "How does InfoNCE / SimCSE work? Why the temperature?"

    Short answer: for each anchor the batch holds one positive (row i of `positives`) and N - 1
    negatives (every other row: in-batch negatives, free of charge). The loss is an N-way
    cross-entropy whose logits are cosine similarities divided by a temperature τ, with the
    diagonal as the correct class. It pulls positive pairs together (alignment) and pushes all
    others apart (uniformity on the sphere). SimCSE makes the positive from the same sentence
    passed twice through the encoder with different dropout masks; supervised SimCSE takes an
    entailment pair as positive and a contradiction as a hard negative. A small τ (0.05) sharpens
    the softmax so the hardest negatives dominate the gradient; cosines lie in [-1, 1], so
    without dividing by τ the logits could never spread far enough for a confident softmax.

    Formula, with s_ij = cos(a_i, p_j):

        loss = 1/N Σ_i [ -s_ii/τ + log Σ_j exp(s_ij/τ) ]

    Pitfalls:
    * Larger batches mean more negatives: the mutual-information bound I(a; p) >= log N - loss
      can never exceed log N, so the batch size is a hyper-parameter, and gradient accumulation
      does not give more negatives (each micro-batch only sees its own).
    * Duplicates in a batch are false negatives: the loss pushes apart two copies of one sentence.
    * Normalise before the dot product; with raw dot products the model shrinks or inflates norms
      instead of learning directions.
    * τ must be > 0; a τ that is too small makes training unstable (logits up to 1/τ).
    """

    name: ClassVar[str] = "infonce"
    summary: ClassVar[str] = "InfoNCE / SimCSE: in-batch negatives, cosine similarity / temperature"
    reference: ClassVar[str | None] = "torch-infonce"
    task: ClassVar[str] = "contrastive"

    def __init__(self, *, temperature: float = 0.05) -> None:
        if not float(temperature) > 0.0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)  # τ: 0.05 as in SimCSE

    def forward(self, anchors: Tensor, positives: Tensor) -> Tensor:  # type: ignore[override]
        dtype = compute_dtype(anchors)
        logits = (
            cosine_similarity_matrix(anchors.to(dtype), positives.to(dtype)) / self.temperature
        )  # (N, N)
        row_max = logits.amax(dim=1, keepdim=True).detach()  # (N, 1)
        log_normaliser = row_max.squeeze(1) + torch.log(
            torch.exp(logits - row_max).sum(dim=1)
        )  # (N,)
        return (log_normaliser - logits.diagonal()).mean().to(anchors.dtype)

    def closed_form(self, anchors: Tensor, positives: Tensor) -> float:  # type: ignore[override]
        return infonce_closed_form(anchors, positives, temperature=self.temperature)

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        return {"temperature": [0.05, 0.1, 1.0]}
