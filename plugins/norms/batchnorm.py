"""BatchNorm from scratch, over the B×T tokens of a `(B, T, C)` batch, as `nn.BatchNorm1d` does.

This module also holds the statistics code that `masked_batchnorm.py` reuses: plain BatchNorm is
masked BatchNorm whose mask is ignored, so the two differ in one method, not in two copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from suite import Norm
from suite.dtypes import compute_dtype
from suite.errors import ComponentInputError

__all__ = ["BatchNorm", "BatchNormConfig", "BatchNormModule", "batch_statistics", "column_sums"]


@dataclass
class BatchNormConfig:
    eps: float = 1e-5  # added to the variance inside the square root, as nn.BatchNorm1d
    momentum: float | None = (
        0.1  # weight of the new batch in the running stats; None = cumulative mean
    )


def batch_statistics(flat: Tensor, keep: Tensor | None = None) -> tuple[Tensor, Tensor, int]:
    """Per-feature mean and biased variance over the rows of `flat` (N, C), and the row count.

    `keep` (N,) bool selects the rows that count (the real tokens); `None` counts every row.
    Two passes (mean, then mean of squared deviations) rather than E[x²] - E[x]², which cancels
    catastrophically when the mean is large compared with the spread.
    """
    if keep is not None:
        flat = flat[keep]  # (N_real, C)
    count = flat.shape[0]
    mean = column_sums(flat) / count  # (C,)
    var = column_sums((flat - mean).pow(2)) / count  # (C,) biased: divides by N
    return mean, var, count


def column_sums(flat: Tensor, block_rows: int = 16) -> Tensor:
    """`flat.sum(dim=0)` for `(N, C)` rows, in two stages: blocks of rows, then the blocks.

    Why: a plain column reduction walks down every column through all N rows, a stride of C
    elements per step, so each row is fetched from memory once per group of columns (and
    compiled, Inductor generates exactly that loop). Summing blocks of `block_rows` rows first
    (`(N/b, b, C) -> (N/b, C)`) reads each block once while it sits in cache, then adds the
    N/b partial rows. The block is the largest power of two up to `block_rows` that divides N
    (1 for odd N: the plain reduction).
    """
    n_rows, n_cols = flat.shape
    block = min(block_rows, n_rows & -n_rows) if n_rows else 1  # lowest set bit of N
    return flat.view(n_rows // block, block, n_cols).sum(dim=1).sum(dim=0)


class BatchNormModule(nn.Module):
    """`(B, T, C)` BatchNorm with the parameters and buffers of `nn.BatchNorm1d` (same state dict)."""

    #: Whether the batch statistics are taken over the real tokens of the mask only.
    mask_aware: bool = False
    running_mean: Tensor  # (C,) buffer
    running_var: Tensor  # (C,) buffer, unbiased estimate
    num_batches_tracked: Tensor  # () long buffer

    def __init__(self, num_features: int, config: BatchNormConfig | None = None) -> None:
        super().__init__()
        self.num_features = num_features
        self.config = config or BatchNormConfig()
        self.eps = self.config.eps
        self.momentum = self.config.momentum
        self.weight = nn.Parameter(torch.ones(num_features))  # γ
        self.bias = nn.Parameter(torch.zeros(num_features))  # β
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        work = compute_dtype(x.dtype)
        flat = x.reshape(-1, self.num_features).to(work)  # (N, C), N = B*T
        if self.training:
            keep = mask.reshape(-1) if (self.mask_aware and mask is not None) else None
            mean, var, count = batch_statistics(flat, keep)
            if count < 2:
                raise ComponentInputError(
                    f"{type(self).__name__} in training needs at least 2 tokens per feature to "
                    f"estimate a variance, got {count}"
                )
            self._update_running_stats(mean, var, count)
        else:
            mean, var = self.running_mean.to(work), self.running_var.to(work)
        # Fold normalisation and affine into one per-feature map y = x·scale + shift, as ATen's
        # CPU kernel does: one pass over the (N, C) tokens instead of four.
        scale = self.weight.to(work) * torch.rsqrt(var + self.eps)  # (C,)
        shift = self.bias.to(work) - mean * scale  # (C,)
        y = torch.addcmul(shift, flat, scale)  # (N, C)
        return y.reshape(x.shape).to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: int) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative moving average over every batch seen
            factor = 1.0 / float(self.num_batches_tracked.item())
        else:
            factor = self.momentum
        unbiased = var * (count / (count - 1))  # Bessel's correction: the running var is unbiased
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm(Norm):
    """BatchNorm over tokens: why does it behave differently in training and at inference?

    Short answer: in training each feature is normalised with the mean and variance of the
    current batch; those change from batch to batch and do not exist for a single example at
    inference, so the layer also keeps exponential running averages and uses them in eval mode.
    Forgetting `model.eval()` therefore changes predictions; so does a batch of size 1.

    Formula, per feature c, over the N = B·T tokens of the batch:

        μ_c = mean(x_c)        σ²_c = mean((x_c - μ_c)²)           (biased, divides by N)
        y   = γ_c · (x - μ_c) / sqrt(σ²_c + eps) + β_c
        running_μ ← (1 - m)·running_μ + m·μ_c
        running_σ² ← (1 - m)·running_σ² + m·σ²_c · N/(N - 1)      (unbiased, Bessel)
    with momentum m = 0.1 (PyTorch's convention: the weight of the *new* value; Keras uses
    0.99 for the weight of the *old* one). momentum=None keeps a plain cumulative average.

    Pitfalls:
    - Normalisation uses the biased variance, the running estimate the unbiased one: the two
      differ by N/(N-1), visible on small batches.
    - eps goes inside the square root, added to the variance, not to the standard deviation.
    - Over `(B, T, C)` text, padding tokens are counted as data: the statistics, the outputs
      for the real tokens and the running estimates all move with the amount of padding (see
      `masked-batchnorm` and the `norm-padding-sensitivity` benchmark).
    - Statistics couple the examples of a batch: an output depends on its batch-mates, and
      small batches give noisy statistics. That is why NLP uses LayerNorm.
    - At inference BatchNorm is a fixed per-feature affine map, y = x·scale + shift with
      scale = γ/sqrt(running_σ² + eps) and shift = β - running_μ·scale, which deployment folds
      into the weights of the preceding linear or convolution layer.

    Eager vs compiled: in training this version runs a mean, a subtraction, a square, a second
    mean, then the folded affine map, plus the running-statistics updates: each a kernel that
    writes its (N, C) or (C,) result to memory and reads it back. ATen's kernel does the
    statistics in one or two sweeps over x. `compile=True` lets TorchInductor fuse the
    reductions and the affine map into generated loops and the in-place buffer updates into the
    same graph (`running_mean` and friends stay ordinary buffers of the module);
    `compile_options` makes Inductor store each per-feature value read twice (μ, γ/σ) instead
    of recomputing it inside every loop that reads it. Both means are summed in blocks of 16
    rows first (`column_sums`): a plain column reduction walks down each column through every
    row, fetching the whole input from memory again for each group of columns, where a block
    of rows is read once while it sits in cache. In eval mode there is only one pass
    (y = x·scale + shift) to fuse, so eager is already close.
    Compile time is paid per shape and per mode (train and eval are different graphs).
    """

    name = "batchnorm"
    statistics = "batch"
    summary = "BatchNorm1d over B×T tokens: batch stats in training, running stats in eval"
    reference = "torch-batchnorm"
    compile_options = {"realize_reads_threshold": 0}  # store μ and γ/σ once per feature
    module_class: type[BatchNormModule] = BatchNormModule

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        self.config = BatchNormConfig(eps=eps, momentum=momentum)

    def build(self, num_features: int) -> nn.Module:
        return self.module_class(num_features, self.config)
