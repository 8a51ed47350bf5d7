"""The dense reference: one feed-forward layer as wide as the MoE's *active* hidden size.

A top-k MoE with experts of hidden size H does, per token, the work of one FFN of hidden size
k·H (k expert FFNs of H each). That is the fair speed baseline: same FLOPs per token, same
active parameters; what the MoE adds is E/k times more *stored* parameters, the router, and
the shuffling of tokens to experts. The suite times both and shows the ratio.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from suite.errors import ComponentInputError
from suite.kinds import MoE, MoEOutput, check_moe_sizes

__all__ = ["DenseFFN", "DenseFFNLayer", "check_moe_input", "expert_activation"]


def expert_activation(h: Tensor) -> Tensor:
    """The nonlinearity of every FFN in this package (experts and dense): GELU, tanh form.

    Both sides of the speed comparison use the same one, applied to the same number of
    elements per token (k·H), so it never tilts the ratio.
    """
    return F.gelu(h, approximate="tanh")


def check_moe_input(x: Tensor, d_model: int) -> None:
    """Raise `ComponentInputError` unless `x` is `(B, T, d_model)` floating point."""
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ComponentInputError(f"x must be (B, T, {d_model}); got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ComponentInputError(f"x must be floating point; got {x.dtype}")


class DenseFFNLayer(nn.Module):
    """`y = W_out · gelu(W_in · x)` with hidden size `top_k * d_hidden`, no biases (as the experts)."""

    def __init__(self, d_model: int, d_hidden: int, n_experts: int, top_k: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.n_experts = n_experts
        self.hidden = top_k * d_hidden
        self.w_in = nn.Linear(d_model, self.hidden, bias=False)
        self.w_out = nn.Linear(self.hidden, d_model, bias=False)
        # same initialisation as the experts: normal with std 1/sqrt(fan_in)
        nn.init.normal_(self.w_in.weight, std=d_model**-0.5)
        nn.init.normal_(self.w_out.weight, std=self.hidden**-0.5)

    def forward(self, x: Tensor) -> MoEOutput:
        check_moe_input(x, self.d_model)
        out = self.w_out(expert_activation(self.w_in(x)))  # (B, T, C)
        return MoEOutput(
            output=out,
            aux_loss=out.new_zeros(()),
            expert_counts=torch.zeros(self.n_experts, dtype=torch.long, device=x.device),
            dropped_fraction=0.0,
        )


class DenseFFN(MoE):
    """Dense feed-forward layer: the speed baseline of a mixture of experts.

    Interview question: "Is an MoE with 8 experts 8 times slower than a dense layer?"
    Short answer: no. With top-k routing each token runs through k experts only, so compute per
    token equals a dense FFN of hidden size k·H (the *active* size), while the parameter count
    grows with E·H. Training and inference cost follow active parameters; memory follows total
    parameters. This layer is that dense FFN of hidden size k·H, built through the same
    `build(d_model, d_hidden, n_experts, top_k, capacity_factor)` call so that the suite can time
    both at equal active size.

    What it returns, honestly: `aux_loss` is 0 (there is no router to balance);
    `expert_counts` is all zeros of shape `(n_experts,)` because no token is *routed* anywhere
    (every token goes through the single dense layer), and `dropped_fraction` is 0.0 (nothing
    can be dropped without a capacity). `capacity_factor` is accepted and ignored.

    Pitfall: comparing an MoE against a dense layer with the MoE's *total* parameters makes MoE
    look fast; against one with its active parameters it must at best match it, and the gap is
    the price of routing (router matmul, sort, gather, scatter).
    """

    name: ClassVar[str] = "dense-ffn"
    summary: ClassVar[str] = (
        "dense FFN of hidden top_k*d_hidden: the MoE's equal-active-size baseline"
    )
    reference: ClassVar[str | None] = None
    practice_target: ClassVar[bool] = True  # `nlpsuite practice moe` is compared with it

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        check_moe_sizes(d_model, d_hidden, n_experts, top_k)
        return DenseFFNLayer(d_model, d_hidden, n_experts, top_k)
