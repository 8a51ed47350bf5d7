"""A correct parameter-efficient method written differently from the built-ins: IA³-style output scaling.

Each targeted linear layer's output is multiplied by a learned vector l (init ones), so the
model starts as the base; merging folds l into the rows of W and b, unmerging divides it out.
Nothing in the kit knows this method: every check comes from what it declares.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

import suite


class _Scaled(nn.Module):
    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base
        self.scale = nn.Parameter(torch.ones(base.out_features))
        self.merged = False

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        return out if self.merged else out * self.scale


class KitOutputScaling(suite.PEFT):
    """IA³-style: y = l ⊙ (W x + b), one learned vector l per targeted linear layer."""

    name = "kit-output-scaling"
    summary = "learned per-feature scaling of linear outputs (IA3-like)"
    reference = None
    target_kind = "linear"
    mergeable = True

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            parent, _, child = name.rpartition(".")
            holder = model.get_submodule(parent) if parent else model
            setattr(holder, child, _Scaled(getattr(holder, child)))
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        return sum(model.get_submodule(name).out_features for name in targets)

    def merge_weights(self, wrapped: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in wrapped.modules():
                if isinstance(m, _Scaled) and not m.merged:
                    m.base.weight.mul_(m.scale[:, None])
                    if m.base.bias is not None:
                        m.base.bias.mul_(m.scale)
                    m.merged = True
        return wrapped

    def unmerge_weights(self, wrapped: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in wrapped.modules():
                if isinstance(m, _Scaled) and m.merged:
                    m.base.weight.div_(m.scale[:, None])
                    if m.base.bias is not None:
                        m.base.bias.div_(m.scale)
                    m.merged = False
        return wrapped


@suite.hookimpl
def register_components(register):
    register(KitOutputScaling)
