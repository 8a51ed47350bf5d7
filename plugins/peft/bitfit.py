"""BitFit from scratch: train the bias terms only (Ben Zaken et al., 2022)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from suite import PEFT

__all__ = ["BitFit"]


def _biases(model: nn.Module, targets: Sequence[str]) -> list[nn.Parameter]:
    holders = []
    for name in targets:
        for module in model.get_submodule(name).modules():
            bias = module._parameters.get("bias")
            if isinstance(bias, nn.Parameter):
                holders.append(bias)
    return list({id(p): p for p in holders}.values())


class BitFit(PEFT):
    """BitFit: how far can you get by training only the biases?

    Short answer: every linear and norm layer keeps its weights frozen and trains its bias
    vector alone, well under a percent of a Transformer's parameters. Biases shift each
    layer's activations, enough to re-steer a pretrained model on small and medium tasks;
    nothing is added, so inference is unchanged and nothing needs merging (the biases are the
    model's own).

    Formula: trainable = Σ over layers of the bias length (d_out per linear, C per norm);
    the weights W of y = W x + b receive no update.

    Pitfalls:
    - A model built without biases (many LLMs) leaves BitFit nothing to train.
    - It trails LoRA and full fine-tuning on large distribution shifts.
    """

    name = "bitfit"
    summary = "BitFit: only the bias vectors of the targeted modules train"
    reference = None
    target_kind = "module"

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for bias in _biases(model, targets):
            bias.requires_grad_(True)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        return sum(p.numel() for p in _biases(model, targets))
