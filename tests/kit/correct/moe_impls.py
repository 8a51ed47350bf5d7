"""A correct mixture-of-experts written differently from the built-in: tokens routed one by one
in a Python loop, capacity enforced in token order, Switch-style load-balancing loss."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

import suite


class _LoopMoE(nn.Module):
    def __init__(
        self, d_model: int, d_hidden: int, n_experts: int, top_k: int, capacity_factor: float | None
    ) -> None:
        super().__init__()
        self.top_k, self.capacity_factor, self.n_experts = top_k, capacity_factor, n_experts
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_model))
            for _ in range(n_experts)
        )

    def forward(self, x: Tensor) -> suite.MoEOutput:
        b, t, c = x.shape
        tokens = x.reshape(-1, c)  # (N, C)
        probs = torch.softmax(self.router(tokens), -1)  # (N, E)
        gate, chosen = probs.topk(self.top_k, -1)  # (N, k)
        gate = gate / gate.sum(-1, keepdim=True)
        capacity = (
            math.inf
            if self.capacity_factor is None
            else math.ceil(self.capacity_factor * len(tokens) * self.top_k / self.n_experts)
        )
        counts = [0] * self.n_experts
        rows = []
        for n in range(len(tokens)):
            out = torch.zeros(c)
            for slot in range(self.top_k):
                e = int(chosen[n, slot])
                if counts[e] >= capacity:
                    continue
                counts[e] += 1
                out = out + gate[n, slot] * self.experts[e](tokens[n])
            rows.append(out)
        output = torch.stack(rows).reshape(b, t, c)
        fraction = torch.bincount(chosen[:, 0], minlength=self.n_experts).float() / len(tokens)
        aux = self.n_experts * (fraction * probs.mean(0)).sum()
        kept = sum(counts)
        return suite.MoEOutput(
            output, aux, torch.tensor(counts), 1 - kept / (len(tokens) * self.top_k)
        )


class LoopMoE(suite.MoE):
    """Top-k MoE routed token by token."""

    name = "kit-loop-moe"
    summary = "top-k routing in a Python loop"
    reference = "dense-ffn"

    def build(self, d_model, d_hidden, n_experts, top_k, capacity_factor=None):
        return _LoopMoE(d_model, d_hidden, n_experts, top_k, capacity_factor)


@suite.hookimpl
def register_components(register):
    register(LoopMoE)
