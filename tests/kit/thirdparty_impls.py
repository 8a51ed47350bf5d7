"""Third-party components under names no built-in uses, declaring what the suite relies on.

They hold no built-in name anywhere (not as their name, not in a table of the kit), so every
closed form, input check and benchmark they get comes from what they declare on the base class.
Each is written differently from the built-ins of its kind.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import suite
from suite.dtypes import compute_dtype


class _Standardise(nn.Module):
    """Per-token standardisation over the features, as one fused-looking expression."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        centred = x - x.mean(-1, keepdim=True)
        return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps)


class TokenStandardiser(suite.Norm):
    """Per-token standardisation (LayerNorm without affine parameters), declared as such."""

    name = "tp-token-standardiser"
    summary = "third-party per-token standardisation"
    reference = "tp-reference-standardiser"  # not registered in the kit's runs: closed form only
    statistics = "feature"
    centers = True

    def build(self, num_features: int) -> nn.Module:
        return _Standardise(1e-5)


class UncentredStandardiser(TokenStandardiser):
    """Broken on purpose: declares a centred norm but divides by the RMS without centring."""

    name = "tp-uncentred-standardiser"

    def build(self, num_features: int) -> nn.Module:
        class _RMS(nn.Module):
            def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
                return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)

        return _RMS()


class PolyLoss(suite.Loss):
    """Poly-1 loss (Leng et al., 2022): cross-entropy + epsilon · (1 - p_t), mean over the batch."""

    name = "tp-poly-loss"
    summary = "third-party Poly-1 classification loss"
    task = "classification"

    def __init__(self, *, epsilon: float = 1.0) -> None:
        self.epsilon = float(epsilon)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        log_pt = torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
        return (-log_pt + self.epsilon * (1 - log_pt.exp())).mean()

    def closed_form(self, logits: Tensor, target: Tensor) -> float:  # type: ignore[override]
        z = logits.detach().double().numpy()
        y = target.numpy()
        log_p = z - np.logaddexp.reduce(z, axis=1, keepdims=True)
        log_pt = log_p[np.arange(len(y)), y]
        return float(np.mean(-log_pt + self.epsilon * (1 - np.exp(log_pt))))

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        return {"epsilon": [0.0, 1.0, 2.0]}


class OffByEpsilonPoly(PolyLoss):
    """Broken on purpose: adds epsilon · p_t instead of epsilon · (1 - p_t)."""

    name = "tp-poly-loss-wrong-sign"

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        log_pt = torch.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
        return (-log_pt + self.epsilon * log_pt.exp()).mean()


class BandAttention(suite.Attention):
    """Local attention in a band of ±`radius` keys, as a dense masked softmax (a third party's)."""

    name = "tp-band-attention"
    summary = "third-party band attention"
    reference = "sdpa"

    def __init__(self, *, radius: int = 4) -> None:
        self.radius = radius

    def pattern(self, tq: int, tk: int) -> Tensor:
        i = torch.arange(tq)[:, None]
        j = torch.arange(tk)[None, :]
        return (i - j).abs() <= self.radius

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        group = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        work = compute_dtype(q)  # float32 at least: a 16-bit softmax loses digits
        scores = q.to(work) @ k.to(work).transpose(-1, -2) / math.sqrt(q.shape[-1])
        allowed = self.pattern(q.shape[2], k.shape[2]).to(q.device)[None, None]
        if causal:
            allowed = allowed & torch.ones_like(allowed).tril()
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        probs = scores.softmax(-1) * allowed
        return (probs @ v.to(work)).to(q.dtype)


class _TinyExperts(nn.Module):
    def __init__(self, d_model: int, n_experts: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)
        self.n_experts = n_experts

    def forward(self, x: Tensor) -> suite.MoEOutput:
        return suite.MoEOutput(
            output=self.proj(x),
            aux_loss=x.new_zeros(()),
            expert_counts=torch.zeros(self.n_experts, dtype=torch.long),
            dropped_fraction=0.0,
        )


class OneExpert(suite.MoE):
    """A third-party MoE that checks nothing itself."""

    name = "tp-one-expert"
    summary = "third-party single linear expert"

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        return _TinyExperts(d_model, n_experts)


COMPONENTS: tuple[type[suite.Component], ...] = (TokenStandardiser, PolyLoss, BandAttention)


@suite.hookimpl
def register_components(register):  # type: ignore[no-untyped-def]
    for cls in COMPONENTS:
        register(cls)
