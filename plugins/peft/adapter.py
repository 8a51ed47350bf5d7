"""Adapters from scratch: a small bottleneck MLP after a residual branch (Houlsby et al., 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plugins.peft.common import replace_submodule
from suite import PEFT
from suite.errors import ComponentInputError
from suite.peft_targets import output_features

__all__ = ["AdaptedBranch", "Adapter"]


class AdaptedBranch(nn.Module):
    """`y = inner(...)`, then `y + up(gelu(down(y)))`: the adapter sits before the residual add."""

    def __init__(self, inner: nn.Module, width: int, bottleneck: int) -> None:
        super().__init__()
        self.inner = inner
        device = next(inner.parameters()).device
        self.down = nn.Linear(width, bottleneck, device=device)
        self.up = nn.Linear(bottleneck, width, device=device)
        with torch.no_grad():  # zero up-projection: the adapter starts as the identity
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        y = self.inner(*args, **kwargs)
        return y + self.up(nn.functional.gelu(self.down(y)))


class Adapter(PEFT):
    """Adapters: what does a Houlsby adapter add to each Transformer block, and what does it cost?

    Short answer: a bottleneck MLP of width m ≪ d inserted after the attention branch and after
    the feed-forward branch, before each residual add, with a skip connection of its own:
    y + W_up·σ(W_down·y). Only the adapters train; the up-projection starts at zero, so the model
    starts as the pretrained one. Unlike LoRA the adapter is a nonlinear function in series
    with the layer: it cannot be folded into the weights and adds sequential latency at
    inference (small batches feel it most).

    Formula: per adapted branch of width d: 2·d·m + m + d parameters (two linear layers with
    biases); h = y + W_up σ(W_down y + b_down) + b_up.

    Pitfalls:
    - Not mergeable: the GELU between the projections is not linear.
    - Houlsby et al. also train the LayerNorms; this method trains the adapters only.
    - Adding the adapter after the residual add instead of before it changes what it corrects.
    """

    name = "adapter"
    summary = "Houlsby adapters: bottleneck MLPs after the attention and feed-forward branches"
    reference = None
    target_kind = "sublayer"

    def __init__(self, bottleneck: int = 8) -> None:
        if bottleneck < 1:
            raise ComponentInputError(f"adapter: bottleneck must be at least 1, got {bottleneck}")
        self.bottleneck = bottleneck

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        for name in targets:
            inner = model.get_submodule(name)
            branch = AdaptedBranch(inner, output_features(inner), self.bottleneck)
            replace_submodule(model, name, branch)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        m = self.bottleneck
        widths = [output_features(model.get_submodule(name)) for name in targets]
        return sum(2 * d * m + m + d for d in widths)
