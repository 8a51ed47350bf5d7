"""The reward model's pairwise ranking loss (Bradley-Terry), as in InstructGPT's reward model.

From scratch: -log σ(d) is written as the softplus of -d, evaluated stably as
`max(-d, 0) + log1p(exp(-|d|))`, which neither overflows for large |d| nor loses the tail,
with branches chosen so that the slope at d = 0 is the true -1/2.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from plugins.losses.closed_forms import ranking_closed_form
from suite.dtypes import compute_dtype
from suite.kinds import Loss

__all__ = ["PairwiseRankingLoss"]


class PairwiseRankingLoss(Loss):
    """Pairwise ranking loss: what a reward model is trained with in RLHF.

    Interview question: "What is the reward model's loss?"

    Short answer: annotators compare two answers to one prompt; the reward model r gives each a
    scalar score. Under the Bradley-Terry model the probability that the chosen answer is
    preferred is σ(r_chosen - r_rejected), and the loss is its negative log-likelihood: a logistic
    regression on the score difference. Only differences matter, so the reward is defined up to
    a constant (normalise it before PPO); InstructGPT puts all C(K, 2) comparisons of one prompt
    in the same batch so that each answer's forward pass is shared. DPO reuses the same loss with
    r = β·log(π/π_ref), skipping the explicit reward model.

    Formula, with d_i = r_chosen_i - r_rejected_i:

        loss = 1/N Σ_i -log σ(d_i) = 1/N Σ_i log(1 + exp(-d_i))

    Pitfalls:
    * `log(sigmoid(d))` gives -inf in float32 once exp(-d) overflows, i.e. for d below
      -ln(FLT_MAX) (about -88); use softplus / logsigmoid.
    * Label noise caps accuracy: InstructGPT's labellers agreed with each other only about three
      times in four, so a held-out pairwise accuracy well below 1 may be all there is to get
      (`loss-preference` reports the ceiling, the accuracy of the hidden true reward).
    * Only differences enter, so the offset of r is free and drifts: normalise it; on nearly
      separable pairs the scale grows too, so add a small penalty on r².
    """

    name: ClassVar[str] = "ranking"
    summary: ClassVar[str] = "Reward-model pairwise loss: -log sigmoid(r_chosen - r_rejected)"
    reference: ClassVar[str | None] = "torch-ranking"
    task: ClassVar[str] = "ranking"

    def forward(self, chosen: Tensor, rejected: Tensor) -> Tensor:  # type: ignore[override]
        dtype = compute_dtype(chosen)
        margin = chosen.to(dtype) - rejected.to(dtype)  # (N,)
        positive = margin >= 0  # (N,) bool
        # -|d| through `where`, not `abs`: abs has gradient 0 at d = 0, which would give the
        # wrong slope (-1 instead of -1/2) exactly where an untrained reward model starts.
        neg_abs = torch.where(positive, -margin, margin)  # (N,)
        linear = torch.where(positive, torch.zeros_like(margin), -margin)  # max(-d, 0)
        per_pair = linear + torch.log1p(torch.exp(neg_abs))  # (N,)
        return per_pair.mean().to(chosen.dtype)

    def closed_form(self, chosen: Tensor, rejected: Tensor) -> float:  # type: ignore[override]
        return ranking_closed_form(chosen, rejected)
