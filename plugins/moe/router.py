"""The router of a sparse mixture of experts: which experts see a token, and with what weight.

Why a module of its own: the router is where MoE goes wrong. Its two auxiliary losses exist
because a learned top-k choice, left alone, collapses onto a few experts (the ones chosen early
get trained, so they get chosen more: rich get richer) and because its logits drift upwards
until the softmax saturates and round-off in bf16 makes routing flip from step to step.

Formulas (N tokens, E experts, k chosen per token):

* gate: `logits = x W_g` `(N, E)`, `p = softmax(logits)`; top-k of `p` per token, weights
  renormalised to sum to 1 (only when k > 1: with k = 1 the renormalised weight is always 1, so
  the task loss would send no gradient to the router; Switch keeps the raw probability instead);
* load-balancing loss (Switch / GShard): `E · Σ_i f_i · P_i`, with `f_i` the fraction of the
  N·k assignments that chose expert i and `P_i` the mean router probability of expert i. `f_i`
  has no gradient (it comes from an argmax), `P_i` does, so the loss pushes probability away
  from overloaded experts. It equals 1 when routing is uniform and reaches E when a single
  expert takes everything;
* router z-loss (ST-MoE): `mean_t (logsumexp_i logits_ti)²`, which keeps the logits small.

Concedes: the noise is plain Gaussian noise on the logits in training (a simpler cousin of
Shazeer et al.'s learned noisy top-k); off by default so that a layer is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Router", "RouterOutput", "load_balancing_loss", "router_z_loss"]


@dataclass
class RouterOutput:
    """What the router decided for N tokens."""

    expert_index: Tensor  # (N, k) int64: chosen experts, best first
    expert_weight: Tensor  # (N, k) float: combine weights (renormalised when k > 1)
    probs: Tensor  # (N, E) float32 or wider: full softmax of the router
    logits: Tensor  # (N, E) float32 or wider: router logits (after noise, if any)
    logsumexp: Tensor  # (N,) float32 or wider: log Σ_i exp(logits_i), the softmax's normaliser


def load_balancing_loss(
    probs: Tensor, expert_index: Tensor, n_experts: int, counts: Tensor | None = None
) -> Tensor:
    """Switch/GShard balance loss `E · Σ_i f_i · P_i`; 1.0 for perfectly uniform routing.

    `probs` `(N, E)` router probabilities, `expert_index` `(N, k)` the chosen experts;
    `counts` `(E,)` how many chose each expert, when the caller has counted them already.
    """
    if counts is None:
        counts = torch.bincount(expert_index.reshape(-1), minlength=n_experts)  # (E,)
    fraction_routed = counts.to(probs.dtype) / expert_index.numel()  # f_i, no gradient
    mean_prob = probs.mean(dim=0)  # P_i, carries the gradient
    return n_experts * torch.sum(fraction_routed * mean_prob)


def router_z_loss(logits: Tensor, logsumexp: Tensor | None = None) -> Tensor:
    """ST-MoE z-loss: mean over tokens of `logsumexp(logits)²`, which keeps router logits small.

    `logsumexp` `(N,)`: the normaliser, when the caller has it already (`RouterOutput`)."""
    if logsumexp is None:
        logsumexp = torch.logsumexp(logits, dim=-1)
    return logsumexp.square().mean()


class Router(nn.Module):
    """Linear gate, softmax, top-k; optional Gaussian noise on the logits while training."""

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        top_k: int,
        *,
        noise_std: float = 0.0,
        renormalize: bool = True,
    ) -> None:
        super().__init__()
        self.n_experts = n_experts
        self.top_k = top_k
        self.noise_std = noise_std
        self.renormalize = renormalize
        self.gate = nn.Linear(d_model, n_experts, bias=False)
        nn.init.normal_(self.gate.weight, std=d_model**-0.5)

    def forward(self, x: Tensor) -> RouterOutput:
        """Route `x` `(N, C)`; the router runs in float32 at least, whatever the input dtype (a bf16
        softmax over close logits flips top-k choices)."""
        dtype = torch.promote_types(x.dtype, torch.float32)
        logits = F.linear(x.to(dtype), self.gate.weight.to(dtype))  # (N, E)
        if self.training and self.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.noise_std
        # the log-softmax gives the z-loss's normaliser for free: log p_i = l_i - logsumexp(l),
        # so logsumexp(l) = l_0 - log p_0, with no second pass over the logits
        log_probs = logits.log_softmax(dim=-1)  # (N, E)
        probs = log_probs.exp()
        weight, index = probs.topk(self.top_k, dim=-1)  # (N, k) each
        if self.renormalize and self.top_k > 1:
            weight = weight / weight.sum(dim=-1, keepdim=True)
        normaliser = logits[:, 0] - log_probs[:, 0]  # (N,)
        return RouterOutput(index, weight, probs=probs, logits=logits, logsumexp=normaliser)
