"""Deliberately broken batch norms: wrong statistics in eval mode."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import suite


class _BatchNorm(nn.Module):
    def __init__(self, features: int, bug: str) -> None:
        super().__init__()
        self.bug = bug
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])  # (B*T, C)
        if self.training or self.bug == "batch-stats-in-eval":
            mean, var = flat.mean(0), flat.var(0, unbiased=False)
            if self.training:
                unbiased = var if self.bug == "biased-running-var" else flat.var(0, unbiased=True)
                self.running_mean.mul_(0.9).add_(0.1 * mean)
                self.running_var.mul_(0.9).add_(0.1 * unbiased)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / torch.sqrt(var + 1e-5)


class BatchStatsInEval(suite.Norm):
    name = "broken-batchnorm-eval-batch-stats"
    summary = "uses the batch's statistics in eval mode"
    reference = "torch-batchnorm"

    def build(self, num_features: int) -> nn.Module:
        return _BatchNorm(num_features, "batch-stats-in-eval")


class BiasedRunningVar(suite.Norm):
    name = "broken-batchnorm-biased-running-var"
    summary = "running variance from the biased batch variance"
    reference = "torch-batchnorm"

    def build(self, num_features: int) -> nn.Module:
        return _BatchNorm(num_features, "biased-running-var")


EXPECTED = {BatchStatsInEval: "norm.train-eval", BiasedRunningVar: "norm.train-eval"}
