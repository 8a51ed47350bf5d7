"""Deliberately broken LoRA variants, one bug each (the rest is the built-in `lora`)."""

from __future__ import annotations

import torch
from torch import nn

import suite
from plugins.peft.lora import LoRA, LoRALinear


class RandomB(LoRA):
    """B drawn at random like A: the model no longer starts as the pretrained one."""

    name = "broken-lora-random-b"
    reference = None

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        super().wrap(model, targets)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, LoRALinear):
                    m.lora_B.normal_()
        return model


class ForgetsToFreeze(LoRA):
    """Adds the factors but leaves the base weights trainable."""

    name = "broken-lora-unfrozen"
    reference = None

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        model.requires_grad_(True)
        return super().wrap(model, targets)


class MergeWithoutScaling(LoRA):
    """Merges B·A without the α/r scaling."""

    name = "broken-lora-merge-unscaled"
    reference = None

    def merge_weights(self, wrapped: nn.Module) -> nn.Module:
        with torch.no_grad():
            for m in wrapped.modules():
                if isinstance(m, LoRALinear) and not m.merged:
                    m.base.weight += m.lora_B @ m.lora_A
                    m.merged = True
        return wrapped


EXPECTED = {
    RandomB: "peft.identity-at-init",
    ForgetsToFreeze: "peft.trainable-count",
    MergeWithoutScaling: "peft.merge",
}


@suite.hookimpl
def register_components(register):
    for cls in EXPECTED:
        register(cls)
