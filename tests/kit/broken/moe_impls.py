"""Deliberately broken mixture-of-experts layers, one bug each."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import suite


class _MoE(nn.Module):
    def __init__(self, d_model, d_hidden, n_experts, top_k, capacity_factor, bug):
        super().__init__()
        self.top_k, self.n_experts, self.bug = top_k, n_experts, bug
        # the classic slip: a default capacity even when the caller asked for none
        self.capacity_factor = (
            1.0 if (capacity_factor is None and bug == "default-capacity") else capacity_factor
        )
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.w_in = nn.Parameter(torch.randn(n_experts, d_model, d_hidden) / math.sqrt(d_model))
        self.w_out = nn.Parameter(torch.randn(n_experts, d_hidden, d_model) / math.sqrt(d_hidden))

    def forward(self, x: Tensor) -> suite.MoEOutput:
        b, t, c = x.shape
        tokens = x.reshape(-1, c)  # (N, C)
        n = len(tokens)
        probs = torch.softmax(self.router(tokens), -1)
        gate, chosen = probs.topk(self.top_k, -1)  # (N, k)
        keep = torch.ones_like(chosen, dtype=torch.bool)
        if self.capacity_factor is not None:
            capacity = math.ceil(self.capacity_factor * n * self.top_k / self.n_experts)
            for e in range(self.n_experts):
                positions = (chosen == e).flatten().nonzero()[:, 0]
                keep.view(-1)[positions[capacity:]] = False
        out = torch.zeros_like(tokens)
        for slot in range(self.top_k):
            w_in, w_out = (
                self.w_in[chosen[:, slot]],
                self.w_out[chosen[:, slot]],
            )  # (N, C, H), (N, H, C)
            hidden = torch.relu(torch.einsum("nc,nch->nh", tokens, w_in))
            out = out + (gate[:, slot] * keep[:, slot])[:, None] * torch.einsum(
                "nh,nhc->nc", hidden, w_out
            )
        counts = torch.bincount(chosen[keep], minlength=self.n_experts)
        if self.bug == "counts-before-capacity":
            counts = torch.bincount(chosen.flatten(), minlength=self.n_experts)
        aux = (
            self.n_experts
            * (
                torch.bincount(chosen[:, 0], minlength=self.n_experts).float() / n * probs.mean(0)
            ).sum()
        )
        if self.bug == "detached-aux":
            aux = aux.detach()
        return suite.MoEOutput(
            out.reshape(b, t, c), aux, counts, 1 - float(keep.sum()) / keep.numel()
        )


def _broken(name: str, bug: str, summary: str) -> type:
    def build(self, d_model, d_hidden, n_experts, top_k, capacity_factor=None):
        return _MoE(d_model, d_hidden, n_experts, top_k, capacity_factor, bug)

    return type(
        name.title().replace("-", ""),
        (suite.MoE,),
        {
            "name": name,
            "summary": summary,
            "reference": "dense-ffn",
            "build": build,
            "__module__": __name__,
        },
    )


DropsWithoutCapacity = _broken(
    "broken-moe-drops",
    "default-capacity",
    "drops tokens with capacity_factor=None (a default capacity of 1.0)",
)
CountsBeforeCapacity = _broken(
    "broken-moe-counts",
    "counts-before-capacity",
    "reports expert counts before dropping over capacity",
)
DetachedAux = _broken(
    "broken-moe-detached-aux", "detached-aux", "the load-balancing loss is detached from the router"
)
Correct = _broken("kit-gather-moe", "", "the same layer without a bug (control)")

EXPECTED = {
    DropsWithoutCapacity: "moe.no-drop-without-capacity",
    CountsBeforeCapacity: "moe.routing-counts",
    DetachedAux: "moe.gradients",
}
