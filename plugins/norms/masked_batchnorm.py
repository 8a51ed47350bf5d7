"""Padding-aware BatchNorm: statistics over the real tokens only."""

from __future__ import annotations

from plugins.norms.batchnorm import BatchNorm, BatchNormModule

__all__ = ["MaskedBatchNorm", "MaskedBatchNormModule"]


class MaskedBatchNormModule(BatchNormModule):
    """BatchNorm whose training statistics (and running estimates) skip the padded positions."""

    mask_aware = True


class MaskedBatchNorm(BatchNorm):
    """Masked BatchNorm: can BatchNorm be made safe for padded text?

    Short answer: partly. Taking the mean and variance over the real tokens only (mask True)
    makes the outputs for real tokens, and the running estimates, independent of how much
    padding the batch carries: the same sentences padded to 16 or to 512 give the same numbers.
    What it does not fix: the statistics still couple the examples of a batch, small batches
    are still noisy, and training and inference still differ (running statistics in eval).

    Formula, per feature c, over the set R of real tokens (|R| = n):

        μ_c = (1/n) Σ_{t∈R} x_tc       σ²_c = (1/n) Σ_{t∈R} (x_tc - μ_c)²
        y   = γ_c · (x - μ_c) / sqrt(σ²_c + eps) + β_c        (at every position)
        running_σ² is updated with σ²_c · n/(n - 1), n the number of real tokens.
    With no mask, or an all-True one, it is exactly `nn.BatchNorm1d` over the B·T tokens;
    with a mask, it is `nn.BatchNorm1d` applied to the packed real tokens `x[mask]`.

    Pitfalls:
    - Padded positions are normalised with the real-token statistics too; their outputs are
      meaningless and must stay masked downstream (attention, pooling, the loss).
    - The divisor is the number of real tokens, not B·T; a batch with fewer than two real
      tokens has no variance and is rejected in training.
    - In eval mode the mask is irrelevant: running statistics are used for every position.
    """

    name = "masked-batchnorm"
    summary = "BatchNorm whose statistics count real tokens only (mask True), padding-invariant"
    reference = "torch-batchnorm"
    masked = True
    module_class = MaskedBatchNormModule
