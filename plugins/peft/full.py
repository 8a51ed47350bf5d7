"""Full fine-tuning: every weight of the targeted modules trains. The baseline the others are measured against."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from plugins.peft.common import unique_parameters
from suite import PEFT

__all__ = ["FullFineTuning"]


class FullFineTuning(PEFT):
    """Full fine-tuning: the baseline every parameter-efficient method is compared with.

    Short answer: all weights train. It is the quality ceiling on a large shift of task, and
    the memory floor the other methods cut: Adam keeps two float32 moments per trainable
    parameter, so optimiser state alone is 8 bytes per parameter, twice the float32 weights.

    Formula: trainable = every parameter; Adam state = 2 · 4 bytes · N (float32 moments).

    Pitfalls:
    - Each task stores a whole copy of the model.
    - A high learning rate on a small dataset forgets the pretraining (catastrophic forgetting).
    """

    name = "full"
    summary = "full fine-tuning: every parameter of the targeted modules trains (baseline)"
    reference = None
    target_kind = "module"

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for param in unique_parameters(model.get_submodule(name) for name in targets):
            param.requires_grad_(True)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        return sum(p.numel() for p in unique_parameters(model.get_submodule(n) for n in targets))
