"""LoRA from scratch: a frozen linear layer plus a trainable low-rank update B·A, scaled by α/r."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from plugins.peft.common import replace_submodule
from suite import PEFT
from suite.errors import ComponentInputError

__all__ = ["LoRA", "LoRALinear"]


class LoRALinear(nn.Module):
    """`base(x) + (α/r) · dropout(x) Aᵀ Bᵀ`, A `(r, d_in)`, B `(d_out, r)`; `base` stays frozen.

    `merge()` adds (α/r)·B·A into `base.weight` and skips the low-rank path; `unmerge()`
    subtracts it again.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.r, self.scaling = r, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device))
        # A as nn.Linear's own init (and peft's): kaiming-uniform with a = √5; B zero, so the
        # update starts at exactly zero and training starts from the pretrained function.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> Tensor:
        """(α/r)·B·A, `(d_out, d_in)`: what merging adds to the base weight."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        if self.merged:
            return out
        low_rank = (
            self.dropout(x) @ self.lora_A.t() @ self.lora_B.t()
        )  # (..., d_out) through rank r
        return out + low_rank * self.scaling

    def merge(self) -> None:
        if not self.merged:
            with torch.no_grad():
                self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    def unmerge(self) -> None:
        if self.merged:
            with torch.no_grad():
                self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False


class LoRA(PEFT):
    """LoRA: why can a rank-8 update fine-tune a model whose layers are d × d?

    Short answer: the change fine-tuning makes to a pretrained weight has low intrinsic rank.
    LoRA freezes W and learns ΔW = B·A with A `(r, d_in)` and B `(d_out, r)`, r ≪ d: the layer
    computes W x + (α/r)·B A x. It trains r·(d_in + d_out) numbers per layer instead of
    d_in·d_out, so the optimiser state shrinks by the same factor. B starts at zero, so at step
    zero the model is exactly the pretrained one and the gradient first flows into B (A is
    random, so it is not stuck); A starts as nn.Linear's kaiming-uniform. After training,
    W' = W + (α/r)·B A is folded into the weight (merge): inference costs nothing extra.

    Formula: h = W x + (α/r) · B A x;  trainable = r·(d_in + d_out) per adapted layer;
    merge: W ← W + (α/r)·B A, unmerge: W ← W − (α/r)·B A.

    Pitfalls:
    - α/r scaling: doubling r at fixed α halves each direction's step; rsLoRA uses α/√r.
    - Both A and B at zero gives a zero gradient for both: the update never starts.
    - Merged weights in low precision lose the small update: merge in float32, then cast.
    - Dropout on the LoRA path only; the frozen path sees the clean input.
    """

    name = "lora"
    summary = "LoRA: frozen W plus trainable low-rank (α/r)·B·A on the targeted linear layers"
    reference = "peft-lora"
    target_kind = "linear"
    mergeable = True
    practice_target = True  # `nlpsuite practice peft` writes a LoRA

    def __init__(self, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        if r < 1:
            raise ComponentInputError(f"lora: r must be at least 1, got {r}")
        if not 0.0 <= dropout < 1.0:
            raise ComponentInputError(f"lora: dropout must be in [0, 1), got {dropout}")
        self.r, self.alpha, self.dropout = r, alpha, dropout

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            base = cast(nn.Linear, model.get_submodule(name))
            replace_submodule(model, name, LoRALinear(base, self.r, self.alpha, self.dropout))
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        layers = [cast(nn.Linear, model.get_submodule(name)) for name in targets]
        return sum(self.r * (layer.in_features + layer.out_features) for layer in layers)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        state = {}
        for name, module in wrapped.named_modules():
            if isinstance(module, LoRALinear):
                state[f"{name}.lora_A"], state[f"{name}.lora_B"] = module.lora_A, module.lora_B
        return state

    def merge_weights(self, wrapped: nn.Module) -> nn.Module:
        for module in wrapped.modules():
            if isinstance(module, LoRALinear):
                module.merge()
        return wrapped

    def unmerge_weights(self, wrapped: nn.Module) -> nn.Module:
        for module in wrapped.modules():
            if isinstance(module, LoRALinear):
                module.unmerge()
        return wrapped
