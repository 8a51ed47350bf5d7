"""Base classes of the five component kinds, and the calls the suite and the conformance kit make.

Every component class sets four class attributes:

* `kind`: one of `KINDS`; set by the base class, so subclasses only set the other three;
* `name`: unique within its kind, lowercase words joined by dashes (`sliding-window`);
* `summary`: one line for tables and `nlpsuite list`;
* `reference`: the `name` of the component of the same kind it must agree with, or `None` when
  the class is itself a reference (PyTorch, HuggingFace `tokenizers`, ...).

The class docstring is the component's concept card, shown by `nlpsuite explain`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from suite.errors import ComponentInputError

__all__ = [
    "KINDS",
    "LOSS_TASKS",
    "NAME_PATTERN",
    "Attention",
    "Component",
    "Loss",
    "MoE",
    "MoEOutput",
    "Norm",
    "Tokenizer",
    "base_class_for",
    "check_attention_inputs",
    "check_moe_sizes",
    "validate_component_class",
]

KINDS: tuple[str, ...] = ("tokenizer", "attention", "norm", "loss", "moe")
LOSS_TASKS: tuple[str, ...] = ("classification", "contrastive", "ranking")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # component and benchmark names


class Component:
    """Common root of every component; use one of the five kind-specific subclasses."""

    kind: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    reference: ClassVar[str | None] = None

    @classmethod
    def is_reference(cls) -> bool:
        """True for the real thing (PyTorch, HuggingFace), which others are checked against."""
        return cls.reference is None

    @classmethod
    def concept_card(cls) -> str:
        """The docstring, dedented: what an interviewer asks about this component."""
        import inspect

        return inspect.getdoc(cls) or cls.summary


# --------------------------------------------------------------------------- tokenizer


class Tokenizer(Component, ABC):
    """A trainable subword tokenizer: text to ids and back.

    Calls: `tok = Cls()`; `tok.train(texts, vocab_size)`; `tok.encode(text) -> list[int]`;
    `tok.decode(ids) -> str`; `tok.vocab_size`; `tok.save(path)`; `Cls.load(path)`.
    """

    kind: ClassVar[str] = "tokenizer"
    #: True when `decode(encode(s)) == s` for every string (byte-level BPE promises it).
    lossless: ClassVar[bool] = False

    @abstractmethod
    def train(self, texts: Iterable[str], vocab_size: int) -> None:
        """Learn a vocabulary of at most `vocab_size` entries from `texts`."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, each in `range(self.vocab_size)`."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`; raises `ValueError` for an id outside the vocabulary."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of entries in the learned vocabulary (special tokens included)."""

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write the trained tokenizer to `path` as JSON."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer written by `save`."""


# --------------------------------------------------------------------------- attention


class Attention(Component):
    """Scaled dot-product attention: softmax(q kᵀ / √d) v over the pairs the component attends to.

    Calls: `att = Cls(**options)`; `att(q, k, v, *, causal=False, key_padding_mask=None)` with q
    `(B, H, Tq, D)`, k and v `(B, Hkv, Tk, D)` where `Hkv` divides `H` (grouped-query attention),
    `key_padding_mask` bool `(B, Tk)` with True for a real token. A query row with no key to attend
    to returns zeros, never NaN. `att.pattern(tq, tk)` is the bool `(tq, tk)` mask of the pairs
    it attends to (before causal and padding masks), or `None` for all pairs.
    """

    kind: ClassVar[str] = "attention"
    #: False for approximations (linear attention): agreement is reported, not required.
    exact: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"attention {self.name!r} takes no options, got {sorted(options)}")

    def __call__(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        check_attention_inputs(q, k, v, key_padding_mask)
        return self.forward(q, k, v, causal=causal, key_padding_mask=key_padding_mask)

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Compute attention; inputs are already validated by `__call__`."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def pattern(self, tq: int, tk: int) -> Tensor | None:
        """Bool `(tq, tk)`: True where query i may attend to key j; `None` means every pair."""
        return None


def check_attention_inputs(
    q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None
) -> None:
    """Raise `ComponentInputError` naming the offending shapes when the contract is broken."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ComponentInputError(
            f"q, k, v must be 4-D (B, H, T, D); got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    b, h, _, d = q.shape
    if k.shape != v.shape:
        raise ComponentInputError(
            f"k and v must have the same shape; got {tuple(k.shape)} and {tuple(v.shape)}"
        )
    if k.shape[0] != b or k.shape[3] != d:
        raise ComponentInputError(
            f"k {tuple(k.shape)} does not match q {tuple(q.shape)} in batch or head dim"
        )
    hkv = k.shape[1]
    if hkv == 0 or h % hkv:
        raise ComponentInputError(f"key/value heads ({hkv}) must divide query heads ({h})")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise ComponentInputError(
                f"key_padding_mask must be bool, got {key_padding_mask.dtype}"
            )
        if tuple(key_padding_mask.shape) != (b, k.shape[2]):
            raise ComponentInputError(
                f"key_padding_mask must be (B, Tk) = {(b, k.shape[2])}; got {tuple(key_padding_mask.shape)}"
            )


# --------------------------------------------------------------------------- norm


class Norm(Component):
    """A normalisation layer over the feature dimension C of `(B, T, C)` activations.

    Calls: `mod = Cls().build(num_features)` returns an `nn.Module`; `mod(x, mask=None)` with x
    `(B, T, C)` and mask bool `(B, T)`, True for a real token (norms that ignore the mask may).
    """

    kind: ClassVar[str] = "norm"

    def build(self, num_features: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")


# --------------------------------------------------------------------------- loss


class Loss(Component):
    """A training objective returning a scalar mean over the batch.

    `task` says which call it takes: `classification` `(logits (N, C), target (N,))`,
    `contrastive` `(anchors (N, D), positives (N, D))`, `ranking` `(chosen (N,), rejected (N,))`.
    Calls: `Cls(**options)(*inputs) -> scalar Tensor`.
    """

    kind: ClassVar[str] = "loss"
    task: ClassVar[str] = "classification"

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"loss {self.name!r} takes no options, got {sorted(options)}")

    def __call__(self, *inputs: Tensor) -> Tensor:
        return self.forward(*inputs)

    def forward(self, *inputs: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")


# --------------------------------------------------------------------------- moe


@dataclass
class MoEOutput:
    """What a mixture-of-experts layer returns for one forward pass."""

    output: Tensor  # (B, T, C)
    aux_loss: Tensor  # scalar: load-balancing (+ router z) loss, zero for a dense layer
    expert_counts: Tensor  # (n_experts,): tokens routed to each expert (after capacity)
    dropped_fraction: float  # share of token-expert assignments dropped by capacity


class MoE(Component):
    """A feed-forward block, mixture-of-experts or dense, that the suite compares at equal active size.

    Calls: `mod = Cls().build(d_model, d_hidden, n_experts, top_k, capacity_factor=None)` returns an
    `nn.Module`; `mod(x)` with x `(B, T, C)` returns a `MoEOutput`.
    """

    kind: ClassVar[str] = "moe"

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")


def check_moe_sizes(d_model: int, d_hidden: int, n_experts: int, top_k: int) -> None:
    """Raise `ComponentInputError` naming the first size below 1 or a top_k above n_experts."""
    for label, value in (
        ("d_model", d_model),
        ("d_hidden", d_hidden),
        ("n_experts", n_experts),
        ("top_k", top_k),
    ):
        if value < 1:
            raise ComponentInputError(f"{label} must be >= 1, got {value}")
    if top_k > n_experts:
        raise ComponentInputError(f"top_k ({top_k}) must not exceed n_experts ({n_experts})")


# --------------------------------------------------------------------------- validation

_BASES: dict[str, type[Component]] = {
    "tokenizer": Tokenizer,
    "attention": Attention,
    "norm": Norm,
    "loss": Loss,
    "moe": MoE,
}


def base_class_for(kind: str) -> type[Component]:
    """The base class of `kind`; raises `KeyError` listing the kinds."""
    try:
        return _BASES[kind]
    except KeyError:
        raise KeyError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}") from None


def validate_component_class(cls: object) -> str | None:
    """Why `cls` cannot be registered as a component, or `None` when it can."""
    if not isinstance(cls, type):
        return f"expected a class, got {cls!r}"
    kind = getattr(cls, "kind", None)
    if kind not in _BASES:
        return f"{cls.__qualname__} has unknown kind {kind!r}; kinds are {', '.join(KINDS)}"
    if not issubclass(cls, _BASES[kind]):
        return f"{cls.__qualname__} must subclass suite.{_BASES[kind].__name__}"
    name = cls.__dict__.get("name", getattr(cls, "name", None))
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return (
            f"{cls.__qualname__} needs a `name` of lowercase words joined by dashes, got {name!r}"
        )
    reference = getattr(cls, "reference", None)
    if reference is not None and not isinstance(reference, str):
        return f"{kind} {name!r}: `reference` must be a component name or None, got {reference!r}"
    task = getattr(cls, "task", None)
    if kind == "loss" and task not in LOSS_TASKS:
        return f"loss {name!r}: `task` must be one of {', '.join(LOSS_TASKS)}, got {task!r}"
    return None
