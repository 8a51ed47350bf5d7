"""Correct norms written differently from the built-ins: statistics from weighted sums in
float64 (the mask as weights), and a layer norm through `torch.var_mean`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite


class _WeightedBatchNorm(nn.Module):
    def __init__(self, features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # x (B, T, C), mask (B, T)
        w = torch.ones(x.shape[:2], dtype=torch.float64) if mask is None else mask.double()
        w = w[..., None]  # (B, T, 1)
        if self.training:
            n = w.sum()
            mean = (w * x.double()).sum((0, 1)) / n
            var = (w * (x.double() - mean) ** 2).sum((0, 1)) / n
            with torch.no_grad():
                self.running_mean.lerp_(mean.float(), self.momentum)
                self.running_var.lerp_((var * n / (n - 1)).float(), self.momentum)
        else:
            mean, var = self.running_mean.double(), self.running_var.double()
        y = ((x.double() - mean) / torch.sqrt(var + self.eps)).float()
        return y * self.weight + self.bias


class WeightedBatchNorm(suite.Norm):
    """Padding-aware batch norm: statistics as mask-weighted sums in float64."""

    name = "kit-weighted-batchnorm"
    summary = "masked batch norm via weighted sums"
    reference = "torch-batchnorm"

    def build(self, num_features: int) -> nn.Module:
        return _WeightedBatchNorm(num_features)


class _VarMeanLayerNorm(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(features))
        self.shift = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)
        return (x - mean) * torch.rsqrt(var + 1e-5) * self.gain + self.shift


class VarMeanLayerNorm(suite.Norm):
    """Layer norm through torch.var_mean."""

    name = "kit-varmean-layernorm"
    summary = "layer norm via var_mean"
    reference = "torch-layernorm"

    def build(self, num_features: int) -> nn.Module:
        return _VarMeanLayerNorm(num_features)


@suite.hookimpl
def register_components(register):
    register(WeightedBatchNorm)
    register(VarMeanLayerNorm)
