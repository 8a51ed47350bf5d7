"""LayerNorm from scratch: per-token statistics over the feature dimension."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite import Norm
from suite.dtypes import compute_dtype

__all__ = ["LayerNorm", "LayerNormConfig", "LayerNormModule"]


@dataclass
class LayerNormConfig:
    eps: float = 1e-5  # added to the variance inside the square root, as nn.LayerNorm
    bias: bool = True  # learnable shift β (some LLMs drop it)


class LayerNormModule(nn.Module):
    """`(B, T, C)` LayerNorm with the parameters of `nn.LayerNorm(C)` (same state dict)."""

    def __init__(self, num_features: int, config: LayerNormConfig | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.config = config or LayerNormConfig()
        self.eps = self.config.eps
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features)) if self.config.bias else None  # β

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        # The mask is accepted and ignored: each token is normalised on its own, so padding
        # can never leak into a real token's output.
        work = compute_dtype(x.dtype)
        h = x.to(work)  # (B, T, C)
        # Both moments in one sweep over the token, taken around k, the mean of its first 16
        # features: σ² = mean((x-k)²) - mean(x-k)², exact in real arithmetic for any k. Around 0
        # this is E[x²] - E[x]², which cancels catastrophically when |μ| ≫ σ; around an estimate
        # of μ from the token itself both terms stay of the order of σ² (the "shifted data"
        # algorithm; averaging 16 features keeps one outlying feature from being the shift).
        shift = h[..., :16].mean(dim=-1, keepdim=True)  # (B, T, 1)
        shifted = h - shift  # (B, T, C)
        offset = shifted.mean(dim=-1, keepdim=True)  # (B, T, 1): μ - k
        var = (shifted * shifted).mean(dim=-1, keepdim=True) - offset * offset  # biased, / C
        mean = shift + offset  # (B, T, 1)
        rstd = torch.rsqrt(var.clamp_min(0) + self.eps)  # (B, T, 1): 1/σ
        # x̂ = (x - μ)/σ written as x·r - μ·r with r = 1/σ, as ATen's kernel does: the per-token
        # pair (r, μ·r) is two numbers, and the last pass over x is one multiply-add. In place:
        # the product is a fresh tensor that autograd does not save.
        x_hat = (h * rstd).sub_(mean * rstd)  # (B, T, C)
        if self.bias is None:
            return (x_hat * self.weight.to(work)).to(x.dtype)
        return torch.addcmul(self.bias.to(work), x_hat, self.weight.to(work)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, bias={self.bias is not None}"


class LayerNorm(Norm):
    """LayerNorm: why do Transformers for text use LayerNorm and not BatchNorm?

    Short answer: LayerNorm normalises each token over its own C features, so its output
    depends on that token alone. Text batches mix sentences of different lengths padded to a
    common one; BatchNorm would average the padding into its statistics, couple unrelated
    sentences, be noisy at the small per-device batch sizes of large models, and need running
    estimates at inference (where generation feeds one token at a time). LayerNorm has none of
    these problems: identical computation in training and inference, any batch size, any
    padding, no running statistics.

    Formula, per token t, over its C features:

        μ_t = mean_c(x_tc)      σ²_t = mean_c((x_tc - μ_t)²)       (biased)
        y_tc = γ_c · (x_tc - μ_t) / sqrt(σ²_t + eps) + β_c

    Pre-norm vs post-norm: the original Transformer normalises after the residual add,
    x = LN(x + F(x)) (post-norm); GPT-2 and most LLMs normalise the branch input,
    x = x + F(LN(x)) (pre-norm), which keeps an identity path through the residual stream,
    trains stably without learning-rate warm-up tricks, and needs a final LN before the head.
    Post-norm can reach slightly better quality but is harder to train deep.

    Pitfalls:
    - eps sits inside the square root, next to the variance (1e-5 in PyTorch, 1e-12 in BERT):
      sqrt(σ² + eps), not sqrt(σ²) + eps; a mismatch breaks checkpoint parity in half precision.
    - The variance is biased (divides by C); `torch.var` defaults to unbiased.
    - Statistics should be computed in float32 even when activations are bfloat16.
    - γ and β are per feature (C values), not per token.

    Why is this eager version slower than `nn.LayerNorm`, and what does `compile=True` change?
    Eager PyTorch runs one kernel per op: mean, subtract, square, mean, add, rsqrt, multiply,
    addcmul, each reading its input tensor from memory and writing a new (B, T, C) intermediate
    back. A norm does a few flops per element, so time is memory traffic, and the eager chain
    moves the activations several times where the fused ATen kernel reads x once and writes y
    once. `compile=True` lets TorchInductor fuse the chain into generated loops. Fusion alone
    is not the whole story: Inductor inlines a cheap value into the loop that consumes it, so
    written as (x - μ)·rsqrt(σ² + eps), the per-token 1/σ became a scalar division and square
    root recomputed for every vector of 8 outputs, which on a CPU cost more than the memory
    traffic fusion saved. `compile_options` sets `realize_reads_threshold=0`, which makes
    Inductor store any value read by more than one consumer: μ and 1/σ are computed once per
    token (vectorised across tokens) and the output pass is y = (x·r - μ·r)·γ + β. And the
    moments come from one sweep, not two (mean, then mean of squared deviations): σ² =
    mean((x-k)²) - mean(x-k)² with k the mean of the token's first 16 features. With k = 0
    that is E[x²] - E[x]², which loses every digit when |μ| ≫ σ; shifted by an estimate of μ,
    both terms stay near σ² (the idea behind Welford's update, in one pass). Read the generated
    C++ with `TORCH_LOGS=output_code`; `norm-throughput` measures eager, compiled and reference
    side by side. x·r - μ·r loses digits when |μ| ≫ σ (relative error about eps_float·|μ|/σ);
    ATen accepts the same trade. The price of compiling is seconds per new shape (the graph is
    specialised and cached per shape), paid on the first call: worth it for a training run, not
    for a one-off call.
    """

    name = "layernorm"
    statistics = "feature"
    summary = "LayerNorm: per-token mean and variance over the C features"
    reference = "torch-layernorm"
    compile_options = {"realize_reads_threshold": 0}  # store μ and 1/σ once per token

    def __init__(self, eps: float = 1e-5, bias: bool = True) -> None:
        self.config = LayerNormConfig(eps=eps, bias=bias)

    def build(self, num_features: int) -> nn.Module:
        return LayerNormModule(num_features, self.config)
