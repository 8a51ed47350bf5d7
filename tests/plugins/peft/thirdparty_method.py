"""A third-party fine-tuning method as a plugin would ship it: last-layer-only tuning.

It unfreezes the weights and biases of the targeted linear layers (by default every linear
layer, like LoRA's targets; a user passes the last ones). Nothing in nlpsuite names it: the kit,
the runner and the benchmarks learn what it is from its declarations.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

import suite


class LinearUnfreeze(suite.PEFT):
    """Unfreeze the targeted linear layers: the classic "train the last layers" baseline."""

    name = "tp-linear-unfreeze"
    summary = "third-party: the targeted linear layers train, everything else stays frozen"
    reference = None
    target_kind = "linear"

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            model.get_submodule(name).requires_grad_(True)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        return sum(p.numel() for name in targets for p in model.get_submodule(name).parameters())


@suite.hookimpl
def register_components(register):
    register(LinearUnfreeze)
