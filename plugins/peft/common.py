"""Shared pieces of the built-in fine-tuning methods: swapping a submodule, the prefix layout.

`replace_submodule` puts a wrapper where a target was (`blocks.0.attn.q_proj` becomes a
`LoRALinear` holding the original as `base`). `split_prefix` is HuggingFace `peft`'s layout of
prefix-tuning parameters, `(P, L·2·Hkv·Dh)` viewed as `(P, L·2, Hkv, Dh)`: row 2l holds layer
l's keys, row 2l + 1 its values. `prefix` and `peft-prefix` share it, so the same tensor loads
into both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import Tensor, nn

__all__ = [
    "PrefixFeed",
    "attach_prefixes",
    "first_rows",
    "prefix_width",
    "replace_submodule",
    "split_prefix",
    "unique_parameters",
]


def replace_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` at the dotted `name` inside `model` (`name` must not be the root)."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def unique_parameters(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    """The parameters of `modules`, each once even when modules nest or share."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for param in module.parameters():
            seen.setdefault(id(param), param)
    return list(seen.values())


def prefix_width(attention: nn.Module) -> int:
    """Hkv·Dh: the width of one key (or value) row of an attention block with the prefix hook."""
    return int(attention.n_kv_heads) * int(attention.head_dim)  # type: ignore[arg-type]


def split_prefix(
    flat: Tensor, layers: int, kv_heads: int, head_dim: int
) -> list[tuple[Tensor, Tensor]]:
    """`(B, P, L·2·Hkv·Dh)` -> per layer (k, v), each `(B, Hkv, P, Dh)` (peft's `get_prompt`)."""
    b, p, _ = flat.shape
    rows = flat.view(b, p, layers * 2, kv_heads, head_dim).permute(
        2, 0, 3, 1, 4
    )  # (2L, B, Hkv, P, Dh)
    return [(rows[2 * layer], rows[2 * layer + 1]) for layer in range(layers)]


class PrefixFeed:
    """The callable an attention block's `prefix` hook holds: batch size -> this layer's (k, v).

    It reads the shared store through `produce(batch) -> (B, P, L·2·Hkv·Dh)` each call, so one
    parameter tensor (registered once on the model) serves every layer.
    """

    def __init__(
        self,
        produce: Callable[[int], Tensor],
        layer: int,
        layers: int,
        kv_heads: int,
        head_dim: int,
    ) -> None:
        self.produce, self.layer, self.layers = produce, layer, layers
        self.kv_heads, self.head_dim = kv_heads, head_dim

    def __call__(self, batch: int) -> tuple[Tensor, Tensor]:
        flat = self.produce(batch)
        return split_prefix(flat, self.layers, self.kv_heads, self.head_dim)[self.layer]


def attach_prefixes(
    model: nn.Module, targets: list[str], store: nn.Module, produce: Callable[[int], Tensor]
) -> None:
    """Register `store` on `model` (as `prefix_tuning`) and hook one `PrefixFeed` per target."""
    model.add_module("prefix_tuning", store)
    widths = {prefix_width(model.get_submodule(name)) for name in targets}
    if len(widths) != 1:
        raise ValueError(
            f"prefix tuning needs one key width over its targets, got {sorted(widths)}"
        )
    for layer, name in enumerate(targets):
        attention = model.get_submodule(name)
        attention.prefix = PrefixFeed(
            produce, layer, len(targets), int(attention.n_kv_heads), int(attention.head_dim)
        )


def first_rows(weight: Tensor, batch: int) -> Tensor:
    """`(P, W)` -> `(B, P, W)`, the same learned rows for every sequence."""
    return weight.unsqueeze(0).expand(batch, *weight.shape)
