"""Prefix tuning from scratch: learned keys and values prepended in every attention layer (Li & Liang, 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from plugins.peft.common import attach_prefixes, first_rows, prefix_width
from suite import PEFT
from suite.errors import ComponentInputError

__all__ = ["PrefixStore", "PrefixTuning"]


class PrefixStore(nn.Module):
    """One `(P, L·2·Hkv·Dh)` parameter in peft's layout: every layer's prefix keys and values."""

    def __init__(self, tokens: int, layers: int, width: int, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(tokens, layers * 2 * width, device=device))

    def forward(self, batch: int) -> Tensor:
        return first_rows(self.weight, batch)  # (B, P, L·2·Hkv·Dh)


class PrefixTuning(PEFT):
    """Prefix tuning: how do learned prefixes steer a frozen model without touching its weights?

    Short answer: every targeted attention layer gets P extra key and value vectors of its
    own, learned, that each query can attend to alongside the real tokens. The frozen model
    reads them as context it never saw: the prefix shifts each layer's attention output
    towards its values. Nothing in the model changes, one model serves many tasks at once (a
    prefix per request), but the prefixes take P slots of every layer's attention.

    Formula: trainable = P · 2 · Hkv · Dh per layer (keys and values); attention over
    [prefix; sequence]: softmax(q [K_p; K]ᵀ/√d) [V_p; V].

    Pitfalls:
    - Not the identity at initialisation: random prefixes change every output at step zero.
    - Optimising the raw prefixes is unstable; the paper reparametrises them through an MLP.
    - The prefixes use up context: attention cost grows with T·(P + T).
    """

    name = "prefix"
    summary = "prefix tuning: P learned keys and values prepended in each targeted attention layer"
    reference = "peft-prefix"
    target_kind = "attention"
    identity_at_init = False

    def __init__(self, num_virtual_tokens: int = 4) -> None:
        if num_virtual_tokens < 1:
            raise ComponentInputError(
                f"prefix: num_virtual_tokens must be at least 1, got {num_virtual_tokens}"
            )
        self.num_virtual_tokens = num_virtual_tokens

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        width = prefix_width(model.get_submodule(targets[0]))
        device = next(model.parameters()).device
        store = PrefixStore(self.num_virtual_tokens, len(targets), width, device)
        attach_prefixes(model, targets, store, store)
        return model

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int:
        widths = [prefix_width(model.get_submodule(name)) for name in targets]
        return sum(self.num_virtual_tokens * 2 * width for width in widths)

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        store = wrapped.get_submodule("prefix_tuning")
        return {"prefix": store.weight}  # type: ignore[dict-item]
