"""RMSNorm from scratch: LayerNorm without the mean, as in T5 and LLaMA."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite import Norm
from suite.dtypes import compute_dtype

__all__ = ["RMSNorm", "RMSNormConfig", "RMSNormModule"]


@dataclass
class RMSNormConfig:
    # Added to the mean square inside the square root. None = machine epsilon of the compute
    # dtype (float32 for 16-bit inputs), nn.RMSNorm's default; LLaMA uses 1e-6 or 1e-5.
    eps: float | None = None


class RMSNormModule(nn.Module):
    """`(B, T, C)` RMSNorm with the parameters of `nn.RMSNorm(C)` (same state dict)."""

    def __init__(self, num_features: int, config: RMSNormConfig | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.config = config or RMSNormConfig()
        self.eps = self.config.eps
        self.weight = nn.Parameter(torch.ones(num_features))  # γ; there is no β

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        # Per-token, like LayerNorm: the mask is accepted and cannot change anything.
        work = compute_dtype(x.dtype)
        eps = torch.finfo(work).eps if self.eps is None else self.eps
        h = x.to(work)  # (B, T, C)
        inv_rms = torch.rsqrt(h.square().mean(dim=-1, keepdim=True) + eps)  # (B, T, 1)
        return (h * inv_rms * self.weight.to(work)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class RMSNorm(Norm):
    """RMSNorm: what does it drop from LayerNorm, and why do LLaMA-style models use it?

    Short answer: it drops the mean subtraction (re-centring) and the bias β, and only rescales
    each token by its root mean square. Zhang & Sennrich (2019) found that LayerNorm's benefit
    comes mostly from the re-scaling; dropping the mean saves one reduction and one
    subtraction per token, which matters for a memory-bound op called twice per layer, and
    quality is on par. T5, LLaMA, Mistral and most recent LLMs use it (in pre-norm position).

    Formula, per token t over its C features:

        rms_t = sqrt(mean_c(x_tc²) + eps)
        y_tc = γ_c · x_tc / rms_t

    Pitfalls:
    - It is not invariant to a shift of the input (LayerNorm is): adding a constant to every
      feature changes the output. It is invariant to rescaling the token, like LayerNorm.
    - eps goes inside the square root; nn.RMSNorm's default eps is the float32 machine epsilon,
      LLaMA checkpoints expect 1e-6 (or 1e-5): match it when loading weights.
    - Compute the mean square in float32: a sum of C squares kept in bfloat16 retains about
      three significant digits.
    - Like LayerNorm it is per token: padding, batch size and train/eval mode change nothing.
    - The saving is real only between equally fused implementations: a fused LayerNorm kernel
      can beat an unfused RMSNorm (compare `torch-layernorm` with `torch-rmsnorm` on CPU in
      `norm-throughput`).

    Eager vs compiled: eagerly, square, mean, add, rsqrt and the two multiplies are separate
    kernels, each writing a (B, T, C) or (B, T, 1) tensor to memory for the next to read back;
    for a memory-bound op that traffic, not arithmetic, sets the time. `compile=True` has
    TorchInductor generate one loop per row that reads x once (the sum of squares), then
    rescales and writes y once. Where PyTorch's own RMSNorm is itself a chain of ops (it is
    not one fused kernel on every device), the compiled from-scratch version can beat the
    reference; `norm-throughput` reports eager, compiled and reference in one cell, with the
    compile time (seconds, once per shape) apart.
    """

    name = "rmsnorm"
    statistics = "feature"
    centers = False
    summary = "RMSNorm: rescale each token by its root mean square (no mean, no bias)"
    reference = "torch-rmsnorm"

    def __init__(self, eps: float | None = None) -> None:
        self.config = RMSNormConfig(eps=eps)

    def build(self, num_features: int) -> nn.Module:
        return RMSNormModule(num_features, self.config)
