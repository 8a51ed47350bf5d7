"""The PyTorch norms, wrapped to take `(B, T, C)` and a mask: the references the others must match.

Each wrapper subclasses the torch module, so its parameters, buffers and state dict are exactly
PyTorch's; `forward(x, mask=None)` accepts the mask and ignores it. None of these is padding
aware: `nn.BatchNorm1d` counts padded tokens in its statistics (that is the point the
`norm-padding-sensitivity` benchmark makes), the per-token norms need no mask.
"""

from __future__ import annotations

from torch import Tensor, nn

from suite import Norm

__all__ = ["TorchBatchNorm", "TorchLayerNorm", "TorchRMSNorm"]


class _BatchNorm1dOverTokens(nn.BatchNorm1d):
    """`nn.BatchNorm1d` applied to the B·T tokens of `(B, T, C)`, flattened to `(B·T, C)`.

    Flattening is equivalent to transposing to `(B, C, T)` (both take statistics per channel
    over B and T) and is several times faster on CPU: the `(N, C)` layout is contiguous.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x.reshape(-1, self.num_features)).reshape(x.shape)


class _LayerNormWithMask(nn.LayerNorm):
    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)


class _RMSNormWithMask(nn.RMSNorm):
    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)


class TorchBatchNorm(Norm):
    """`torch.nn.BatchNorm1d` over the B·T tokens: the reference for `batchnorm` and `masked-batchnorm`.

    It is the real thing (cuDNN / ATen kernels): batch statistics in training, running ones in
    eval, momentum 0.1, unbiased running variance. Padding counts as data.
    """

    name = "torch-batchnorm"
    practice_target = True  # `nlpsuite practice norm` writes a BatchNorm
    statistics = "batch"
    summary = "torch.nn.BatchNorm1d over B×T tokens (reference; not padding aware)"
    reference = None

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        self.eps, self.momentum = eps, momentum

    def build(self, num_features: int) -> nn.Module:
        return _BatchNorm1dOverTokens(num_features, eps=self.eps, momentum=self.momentum)


class TorchLayerNorm(Norm):
    """`torch.nn.LayerNorm(C)`: the reference for `layernorm` (fused ATen kernel)."""

    name = "torch-layernorm"
    statistics = "feature"
    summary = "torch.nn.LayerNorm over the C features (reference)"
    reference = None

    def __init__(self, eps: float = 1e-5, bias: bool = True) -> None:
        self.eps, self.bias = eps, bias

    def build(self, num_features: int) -> nn.Module:
        return _LayerNormWithMask(num_features, eps=self.eps, bias=self.bias)


class TorchRMSNorm(Norm):
    """`torch.nn.RMSNorm(C)`: the reference for `rmsnorm` (eps=None: float32 machine epsilon)."""

    name = "torch-rmsnorm"
    statistics = "feature"
    centers = False
    summary = "torch.nn.RMSNorm over the C features (reference)"
    reference = None

    def __init__(self, eps: float | None = None) -> None:
        self.eps = eps

    def build(self, num_features: int) -> nn.Module:
        return _RMSNormWithMask(num_features, eps=self.eps)
