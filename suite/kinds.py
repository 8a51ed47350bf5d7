"""Base classes of the component kinds, and the calls the suite and the conformance kit make.

Every component class sets four class attributes:

* `kind`: one of `KINDS`; set by the base class, so subclasses only set the other three;
* `name`: unique within its kind, lowercase words joined by dashes (`sliding-window`);
* `summary`: one line for tables and `nlpsuite list`;
* `reference`: the `name` of the component of the same kind it must agree with, or `None` when
  the class is itself a reference (PyTorch, HuggingFace `tokenizers`, ...).

The class docstring is the component's concept card, shown by `nlpsuite explain`.

Declared, not guessed: what the suite and the conformance kit rely on beyond the calls (a closed
form, what a norm normalises over, a FLOP count, the options a component takes) is a class
attribute or a method here, with a default, so a third-party component gets every check and
benchmark a built-in gets. Options are keyword arguments of `__init__`; `accepted_options()`
lists them and `check_options` rejects the others with a message naming them. Inputs are checked
by the base classes (`suite.input_checks`) before the component's own code runs.
"""

from __future__ import annotations

import functools
import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from suite import oracles
from suite.compiled import compile_callable
from suite.errors import ComponentInputError, OptionError
from suite.input_checks import (
    check_attention_inputs,
    check_decoding_inputs,
    check_loss_inputs,
    check_moe_inputs,
    check_moe_sizes,
    check_norm_inputs,
    check_position_bias_inputs,
    check_position_embed_inputs,
    check_position_rotate_inputs,
    check_position_sizes,
)
from suite.peft_targets import PEFT_TARGET_KINDS, check_peft_targets, find_targets

__all__ = [
    "COLLECTIVE_OPS",
    "KINDS",
    "LOSS_TASKS",
    "NAME_PATTERN",
    "PEFT",
    "POSITION_ENTRY_POINTS",
    "Attention",
    "Collective",
    "Component",
    "Decoder",
    "Loss",
    "MoE",
    "MoEOutput",
    "Norm",
    "PositionModule",
    "PositionalEncoding",
    "Tokenizer",
    "base_class_for",
    "check_attention_inputs",
    "check_loss_inputs",
    "check_moe_inputs",
    "check_moe_sizes",
    "check_norm_inputs",
    "check_options",
    "validate_component_class",
]

KINDS: tuple[str, ...] = (
    "tokenizer",
    "attention",
    "norm",
    "loss",
    "moe",
    "position",
    "decoding",
    "peft",
    "collective",
)
LOSS_TASKS: tuple[str, ...] = ("classification", "contrastive", "ranking", "lm-head")
NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # component and benchmark names


class Component:
    """Common root of every component; use one of the five kind-specific subclasses."""

    kind: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    reference: ClassVar[str | None] = None
    #: Ids of opt-in conformance-kit properties the component promises (`loss.focal-modulation`);
    #: a component also gets the opt-in properties its reference promises.
    promises: ClassVar[tuple[str, ...]] = ()
    #: True on the component that `nlpsuite practice KIND` files are graded against (one per kind).
    practice_target: ClassVar[bool] = False
    #: Options the base class of a kind gives every subclass, with their defaults (`compile` for
    #: norms, losses and MoE layers): accepted whatever `__init__` the subclass wrote, stored as
    #: instance attributes before that `__init__` runs, never passed to it.
    base_options: ClassVar[Mapping[str, Any]] = {}
    #: Inductor settings used when the component runs with `compile=True` (`torch.compile`'s
    #: `options`, for this component's graphs only): a norm sets `realize_reads_threshold` so
    #: that its per-row statistics are stored once instead of recomputed per vector of elements.
    compile_options: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.base_options:
            _take_base_options(cls)

    def __new__(cls, *args: Any, **options: Any) -> Any:
        """One way to pass options: keyword-only, and an unknown one is an `OptionError` naming
        it and listing the accepted ones, whatever `__init__` the subclass wrote."""
        check_options(cls, options)
        return super().__new__(cls)

    @classmethod
    def is_reference(cls) -> bool:
        """True for the real thing (PyTorch, HuggingFace), which others are checked against."""
        return cls.reference is None

    @classmethod
    def concept_card(cls) -> str:
        """The docstring, dedented: what an interviewer asks about this component."""
        return inspect.getdoc(cls) or cls.summary

    @classmethod
    def accepted_options(cls) -> dict[str, Any]:
        """The keyword options of the class's own `__init__`, with their defaults
        (`inspect.Parameter.empty` for a required one); `**options` catch-alls are not options.
        `cls(**options)` also takes the kind's `base_options` (`compile`)."""
        try:
            parameters = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            return {}
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {
            name: p.default
            for index, (name, p) in enumerate(parameters.items())
            if index > 0 and p.kind in kinds  # index 0 is `self`
        }


def check_options(cls: type[Component], options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` as a dict when `cls` accepts every one; else `OptionError` naming the unknown
    ones and listing the accepted ones."""
    accepted = {**cls.base_options, **cls.accepted_options()}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(sorted(accepted)) or "none"
        raise OptionError(
            f"{cls.kind} {cls.name!r} has no option {', '.join(map(repr, unknown))}; it accepts: {takes}"
        )
    return dict(options)


def _take_base_options(cls: type[Component]) -> None:
    """Wrap `cls.__init__` so that the base options (`Component.base_options`) given to
    `cls(...)` become attributes and the subclass's own `__init__` never sees them."""
    init = cls.__init__
    if getattr(init, "_takes_base_options", False):
        return

    @functools.wraps(init)
    def init_with_base_options(self: Any, *args: Any, **options: Any) -> None:
        for name in type(self).base_options:
            if name in options:  # absent: the class attribute is the default
                setattr(self, name, options.pop(name))
        init(self, *args, **options)

    init_with_base_options._takes_base_options = True  # type: ignore[attr-defined]
    cls.__init__ = init_with_base_options  # type: ignore[method-assign]


#: `compile=True` runs the component's forward through `torch.compile` (`suite.compiled`): the
#: input checks stay eager, outside the compiled region.
COMPILE_OPTION: Mapping[str, Any] = {"compile": False}


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

    `attn_bias` (keyword, optional): a float tensor broadcastable to `(B, H, Tq, Tk)` added to the
    scaled scores before the softmax (ALiBi, T5 buckets); a component declares `supports_bias`
    and receives it in `forward`; one that does not is refused a bias with a clear error.
    """

    kind: ClassVar[str] = "attention"
    #: False for approximations (linear attention): agreement is reported, not required.
    exact: ClassVar[bool] = True
    #: True when it stores the whole (B, H, Tq, Tk) score matrix (O(T²) memory): benchmarks then
    #: cap the sequence lengths they sweep, and say so in their metrics.
    materializes_scores: ClassVar[bool] = False
    #: True when `forward` takes `attn_bias` and adds it to the scaled scores of the pairs it
    #: attends to; the kit then checks it against the float64 oracle with that bias.
    supports_bias: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    def __call__(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        check_attention_inputs(q, k, v, key_padding_mask, attn_bias)
        if attn_bias is None:
            return self.forward(q, k, v, causal=causal, key_padding_mask=key_padding_mask)
        if not self.supports_bias:
            raise ComponentInputError(
                f"attention {self.name!r} takes no attn_bias (it declares supports_bias = False); "
                "use an exact component such as the reference"
            )
        return self.forward(
            q, k, v, causal=causal, key_padding_mask=key_padding_mask, attn_bias=attn_bias
        )

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        """Compute attention; inputs are already validated by `__call__`."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def pattern(self, tq: int, tk: int) -> Tensor | None:
        """Bool `(tq, tk)`: True where query i may attend to key j; `None` means every pair."""
        return None

    def attended_pairs(self, tq: int, tk: int, *, causal: bool = False) -> int:
        """(query, key) pairs computed, before padding; default: those of `pattern` (and causal).

        A block-sparse component that computes whole blocks counts those instead."""
        return oracles.attended_pairs(self.pattern(tq, tk), tq, tk, causal=causal)

    def flops_per_head(self, tq: int, tk: int, head_dim: int, *, causal: bool = False) -> float:
        """FLOPs of one head: 4·D per attended pair (q·k and p·v, 2·D each) by default.

        An approximation with another cost declares it (linear attention: 4·T·D²)."""
        return 4.0 * head_dim * self.attended_pairs(tq, tk, causal=causal)


# --------------------------------------------------------------------------- norm


class Norm(Component):
    """A normalisation layer over the feature dimension C of `(B, T, C)` activations.

    Calls: `mod = Cls().build(num_features)` returns an `nn.Module`; `mod(x, mask=None)` with x
    `(B, T, C)` and mask bool `(B, T)`, True for a real token (norms that ignore the mask may).
    The module a subclass's `build` returns gets the input check as a forward pre-hook.

    Declared, for the kit's closed form (`statistics = None`: no closed form, the kit compares
    with the registered reference only): `statistics` "feature" (per token, over C: LayerNorm,
    RMSNorm) or "batch" (per feature, over B·T, running statistics in eval: BatchNorm);
    `centers` (subtracts the mean; RMSNorm does not); `masked` (statistics over real tokens only).

    Every norm takes the keyword option `compile` (`Cls(compile=True).build(C)`): the module's
    forward then runs through `torch.compile`, one cached graph per shape (`suite.compiled`).
    """

    kind: ClassVar[str] = "norm"
    base_options: ClassVar[Mapping[str, Any]] = COMPILE_OPTION
    compile: bool = False
    statistics: ClassVar[str | None] = None
    centers: ClassVar[bool] = True
    masked: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_built_module(cls, lambda args: functools.partial(_norm_hook, args[0]))

    def build(self, num_features: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")


def _norm_hook(
    num_features: int, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    x = args[0] if args else kwargs.get("x")
    mask = args[1] if len(args) > 1 else kwargs.get("mask")
    check_norm_inputs(x, mask, num_features)  # type: ignore[arg-type]


def _check_built_module(
    cls: type[Component], hook_for: Callable[[tuple[Any, ...]], Callable[..., None]]
) -> None:
    """Wrap `cls.build` (if it defines one) so that the module it returns checks its inputs.

    `hook_for(build_args)` gives the forward pre-hook; a module gets it once, even when a
    subclass's `build` calls its parent's. With `compile=True` the module's `forward` is
    replaced by its compiled version; the pre-hook runs before it, eager."""
    build = cls.__dict__.get("build")
    if build is None or getattr(build, "_adds_input_check", False):
        return

    @functools.wraps(build)
    def checked_build(self: Any, *args: Any, **kwargs: Any) -> Any:
        module = build(self, *args, **kwargs)
        if isinstance(module, nn.Module) and not getattr(module, "_nlpsuite_checked", False):
            bound = inspect.signature(build).bind(self, *args, **kwargs)
            bound.apply_defaults()
            hook = hook_for(tuple(bound.arguments.values())[1:])
            module.register_forward_pre_hook(hook, with_kwargs=True)
            module._nlpsuite_checked = True  # type: ignore[assignment]
        if (
            isinstance(module, nn.Module)
            and getattr(self, "compile", False)
            and not getattr(module.forward, "_nlpsuite_compiled", False)
        ):
            module.forward = compile_callable(module.forward, self.compile_options)  # type: ignore[method-assign]
        return module

    checked_build._adds_input_check = True  # type: ignore[attr-defined]
    cls.build = checked_build  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- loss


class Loss(Component):
    """A training objective returning a scalar mean over the batch.

    `task` says which call it takes: `classification` `(logits (N, C), target (N,))`,
    `contrastive` `(anchors (N, D), positives (N, D))`, `ranking` `(chosen (N,), rejected (N,))`,
    `lm-head` `(hidden (N, D), weight (V, D), target (N,))` (cross-entropy of `hidden @ weight.T`).
    Calls: `Cls(**options)(*inputs) -> scalar Tensor`; `__call__` checks the inputs of the task
    (`suite.input_checks.check_loss_inputs`), then calls `forward`.

    Declared, for the kit and the benchmarks: `closed_form(*inputs)` (the value in float64 from
    the textbook formula, under this instance's options, or `None`: then the kit compares with
    the registered reference); `option_choices(num_classes)` (values of each option the kit
    draws); `reference_options` (the options under which it must equal its reference: focal
    loss at gamma=0); `ignore_index` (a target id excluded from the mean, or `None`).

    Every loss takes the keyword option `compile`: `Cls(compile=True)` runs `forward` through
    `torch.compile`, one cached graph per shape (`suite.compiled`); the input checks stay eager.
    """

    kind: ClassVar[str] = "loss"
    base_options: ClassVar[Mapping[str, Any]] = COMPILE_OPTION
    compile: bool = False
    task: ClassVar[str] = "classification"
    reference_options: ClassVar[Mapping[str, Any]] = {}
    ignore_index: int | None = None

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    def __call__(self, *inputs: Tensor) -> Tensor:
        check_loss_inputs(self.task, inputs, ignore_index=self.ignore_index)
        if not self.compile:
            return self.forward(*inputs)
        compiled = self.__dict__.get("_compiled_forward")
        if compiled is None:
            compiled = self.__dict__["_compiled_forward"] = compile_callable(
                self.forward, self.compile_options
            )
        return compiled(*inputs)  # type: ignore[no-any-return]

    def closed_form(self, *inputs: Tensor) -> float | None:
        """The loss of `inputs` in float64 from its formula, written apart from `forward`; `None`
        when none is declared."""
        return None

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        """Values of each option worth checking (`alpha` needs `num_classes` weights); the kit
        draws one value per option. Default: none, the defaults only."""
        return {}

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
    `nn.Module`; `mod(x)` with x `(B, T, C)` returns a `MoEOutput`. The sizes are checked before
    `build` runs, and the module it returns gets the input check as a forward pre-hook.
    `Cls(compile=True)` compiles the module's forward, as for norms (`suite.compiled`).
    """

    kind: ClassVar[str] = "moe"
    base_options: ClassVar[Mapping[str, Any]] = COMPILE_OPTION
    compile: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_checks_sizes", False):

            @functools.wraps(build)
            def sized_build(self: Any, *args: Any, **kw: Any) -> Any:
                bound = inspect.signature(build).bind(self, *args, **kw)
                sizes = list(bound.arguments.values())[1:5]
                if len(sizes) == 4:
                    check_moe_sizes(*sizes)
                return build(self, *args, **kw)

            sized_build._checks_sizes = True  # type: ignore[attr-defined]
            cls.build = sized_build  # type: ignore[method-assign]
        _check_built_module(cls, lambda args: functools.partial(_moe_hook, args[0]))

    def build(
        self,
        d_model: int,
        d_hidden: int,
        n_experts: int,
        top_k: int,
        capacity_factor: float | None = None,
    ) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")


def _moe_hook(
    d_model: int, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    check_moe_inputs(args[0] if args else kwargs.get("x"), d_model)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- position

#: Where a positional encoding enters the model (`PositionalEncoding.enters`).
POSITION_ENTRY_POINTS: tuple[str, ...] = ("embedding", "rotation", "bias", "none")


class PositionalEncoding(Component):
    """How a Transformer learns where a token is: added to x, rotating q and k, or biasing scores.

    Calls: `mod = Cls().build(d_model, n_heads, max_len)` returns an `nn.Module` with three entry
    points, each an identity unless the method uses it: `mod.embed(x, positions) -> x` (x
    `(B, T, C)`, positions long `(B, T)`), `mod.rotate(q, k, positions_q, positions_k) -> (q, k)`
    (q `(B, H, Tq, D)`, k `(B, Hkv, Tk, D)`, D = d_model / n_heads) and
    `mod.bias(tq, tk) -> Tensor (1|B, H, Tq, Tk) | None`, an additive score bias. Queries of
    `bias` are bottom-right aligned: query i sits at position i + tk − tq, as the last tq of tk
    tokens (a KV cache). The module `build` returns may define only the entry points it uses;
    the base class wraps it in a `PositionModule` that supplies the identities and checks inputs.

    Declared, for the kit and the benchmarks: `enters` (one of `POSITION_ENTRY_POINTS`: the
    entry point that carries position, "none" for no position at all); `relative` (attention
    scores depend on positions m, n only through m − n); `bounded` (positions must be below
    `max_len`: a learned table); `shift_linear` (an embedding with PE(p + k) = M_k PE(p) for a
    fixed matrix M_k per offset, as the sinusoids); `linear_bias` (the bias is −m_h·(i − j) on
    the causal pairs, up to a constant per row, with a slope m_h > 0 per head, as ALiBi).
    """

    kind: ClassVar[str] = "position"
    enters: ClassVar[str] = "none"
    relative: ClassVar[bool] = False
    bounded: ClassVar[bool] = False
    shift_linear: ClassVar[bool] = False
    linear_bias: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is None or getattr(build, "_wraps_positions", False):
            return

        @functools.wraps(build)
        def checked_build(self: Any, *args: Any, **kw: Any) -> nn.Module:
            bound = inspect.signature(build).bind(self, *args, **kw)
            bound.apply_defaults()
            sizes = list(bound.arguments.values())[1:4]
            check_position_sizes(*sizes)
            module = build(self, *args, **kw)
            if isinstance(module, PositionModule):
                return module
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"position {cls.name!r}: build() returned {type(module).__name__}, not an nn.Module"
                )
            return PositionModule(module, *sizes, bounded=cls.bounded)

        checked_build._wraps_positions = True  # type: ignore[attr-defined]
        cls.build = checked_build  # type: ignore[method-assign]

    def build(self, d_model: int, n_heads: int, max_len: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build()")


class PositionModule(nn.Module):
    """What `PositionalEncoding.build` returns: the component's module (`inner`) behind checked
    entry points; an entry point `inner` does not define is the identity (`bias`: `None`)."""

    def __init__(
        self, inner: nn.Module, d_model: int, n_heads: int, max_len: int, *, bounded: bool
    ) -> None:
        super().__init__()
        self.inner = inner
        self.d_model, self.n_heads, self.max_len = d_model, n_heads, max_len
        self.head_dim = d_model // n_heads
        self.bounded = bounded

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        check_position_embed_inputs(x, positions, self.d_model, self.max_len, bounded=self.bounded)
        fn = getattr(self.inner, "embed", None)
        return x if fn is None else fn(x, positions)

    def rotate(
        self, q: Tensor, k: Tensor, positions_q: Tensor, positions_k: Tensor
    ) -> tuple[Tensor, Tensor]:
        check_position_rotate_inputs(
            q,
            k,
            positions_q,
            positions_k,
            self.n_heads,
            self.head_dim,
            self.max_len,
            bounded=self.bounded,
        )
        fn = getattr(self.inner, "rotate", None)
        return (q, k) if fn is None else fn(q, k, positions_q, positions_k)

    def bias(self, tq: int, tk: int) -> Tensor | None:
        check_position_bias_inputs(tq, tk)
        fn = getattr(self.inner, "bias", None)
        return None if fn is None else fn(tq, tk)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """`embed`: calling the module adds positions to token embeddings."""
        return self.embed(x, positions)


# --------------------------------------------------------------------------- decoding


class Decoder(Component):
    """A decoding strategy: how a causal LM's next-token distributions become a sequence.

    Calls: `dec = Cls(**options)`; `dec.generate(model, input_ids, max_new_tokens, *,
    eos_token_id=None, generator=None) -> LongTensor (B, T + n)` with input_ids long `(B, T)`
    and n <= max_new_tokens: the prompt, then the generated tokens. `model` follows the causal-LM
    protocol of `suite.lm`: `model(input_ids, cache=None) -> (logits (B, T, V), cache)`. A row
    that emits `eos_token_id` is finished and padded with `eos_token_id` while the others go on;
    decoding stops when every row is finished or after `max_new_tokens`. `generator` seeds
    every random draw (`torch.multinomial(..., generator=generator)`). `generate` checks the
    inputs (`suite.input_checks.check_decoding_inputs`), then calls `decode`, which a subclass
    implements.

    Declared, for the kit and the benchmarks: `deterministic` (the same model and prompt always
    give the same tokens: token-for-token agreement with the reference; False for sampling:
    seeded reproducibility and agreement with the target distribution instead);
    `scores_sequences` (after `generate`, `sequence_scores` holds the `(B,)` length-penalised
    log-probability of each returned row, compared with the reference's); `width_option` (the
    option that sets how many hypotheses are kept, e.g. a beam width: at width 1 the decoder
    must be greedy); `sampling_options` (which of `temperature`, `top_k`, `top_p` it takes, with
    transformers' semantics: divide the logits by the temperature, keep the k most likely,
    keep the smallest set whose probability reaches p); `option_choices()` (values of each
    option the kit draws); `hf_only` (it drives HuggingFace models only, `suite.lm.HFCausalLM`,
    as transformers' `generate` wrapped: the kit and the benchmarks give it no other model). An
    option `use_cache` (default True), when accepted, switches the model's KV cache off: the
    kit then checks that the tokens do not change.
    """

    kind: ClassVar[str] = "decoding"
    deterministic: ClassVar[bool] = True
    scores_sequences: ClassVar[bool] = False
    width_option: ClassVar[str | None] = None
    sampling_options: ClassVar[tuple[str, ...]] = ()
    hf_only: ClassVar[bool] = False
    #: `(B,)` float: the score of each row the last `generate` returned (`scores_sequences`).
    sequence_scores: Tensor | None = None

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    @classmethod
    def option_choices(cls) -> dict[str, list[Any]]:
        """Values of each option worth checking; the kit draws one value per option. Default:
        none, the defaults only."""
        return {}

    def generate(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        check_decoding_inputs(input_ids, max_new_tokens, eos_token_id, generator)
        return self.decode(
            model, input_ids, max_new_tokens, eos_token_id=eos_token_id, generator=generator
        )

    def decode(
        self,
        model: Any,
        input_ids: Tensor,
        max_new_tokens: int,
        *,
        eos_token_id: int | None = None,
        generator: Any = None,
    ) -> Tensor:
        """Generate; the inputs are already validated by `generate`."""
        raise NotImplementedError(f"{type(self).__name__} must implement decode()")


# --------------------------------------------------------------------------- peft


class PEFT(Component):
    """A parameter-efficient fine-tuning method: which few parameters train, and how they enter.

    Calls: `method = Cls(**options)`; `wrapped = method.apply(model, targets)` freezes every
    parameter of `model`, then adds or unfreezes the method's own (in place, as HuggingFace
    `peft` does: keep a copy to compare with the base); `targets` names the submodules it acts
    on (`suite.peft_targets`), `None` for `default_targets(model)`; an unknown name or a module
    of the wrong type is a `ComponentInputError` listing the available ones.
    `method.trainable_parameters(wrapped) -> int`; `method.merge(wrapped)` folds the update into
    the base weights (outputs unchanged) and `method.unmerge(wrapped)` takes it out again, where
    the method is `mergeable`; otherwise both raise a `ComponentInputError` saying why.
    A subclass implements `wrap(model, targets)` (and `merge_weights` / `unmerge_weights`).

    Declared, for the kit and the benchmarks: `target_kind` (one of `PEFT_TARGET_KINDS`: what
    its targets are); `mergeable`; `identity_at_init` (before training the wrapped model
    computes what the base model computes: LoRA's zero B, an adapter's zero up-projection; not
    so for learned prefixes and prompts); `expected_trainable(model, targets)` (the count from
    the method's formula, LoRA r·(d_in + d_out) per layer, or `None`); `adapter_state(wrapped)`
    (its trainable parameters under names shared with its reference, so that the same weights
    can be loaded into both with `load_adapter_state`).
    """

    kind: ClassVar[str] = "peft"
    target_kind: ClassVar[str] = "linear"
    mergeable: ClassVar[bool] = False
    identity_at_init: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    @classmethod
    def default_targets(cls, model: nn.Module) -> list[str]:
        """Every submodule of `target_kind` (the token embedding; the whole model `""`)."""
        return find_targets(model, cls.target_kind)

    def apply(self, model: nn.Module, targets: Sequence[str] | None = None) -> nn.Module:
        chosen = self.default_targets(model) if targets is None else targets
        chosen = check_peft_targets(model, chosen, self.target_kind, self.name)
        model.requires_grad_(False)
        return self.wrap(model, chosen)

    def wrap(self, model: nn.Module, targets: list[str]) -> nn.Module:
        """Add (or unfreeze) the method's parameters on the checked `targets` of the frozen model."""
        raise NotImplementedError(f"{type(self).__name__} must implement wrap()")

    def trainable_parameters(self, wrapped: nn.Module) -> int:
        """Number of parameters an optimiser updates: those with `requires_grad`."""
        return sum(p.numel() for p in wrapped.parameters() if p.requires_grad)

    def expected_trainable(self, model: nn.Module, targets: Sequence[str]) -> int | None:
        """The trainable count the method's formula gives for `targets` of the unwrapped `model`,
        or `None` when none is declared."""
        return None

    def adapter_state(self, wrapped: nn.Module) -> dict[str, nn.Parameter]:
        """The trainable parameters by name (default: their names in `wrapped`); a method and
        its reference use the same names and shapes."""
        return {name: p for name, p in wrapped.named_parameters() if p.requires_grad}

    def load_adapter_state(self, wrapped: nn.Module, state: Mapping[str, Tensor]) -> None:
        """Copy `state` (names and shapes of `adapter_state`) into the wrapped model."""
        own = self.adapter_state(wrapped)
        if set(own) != set(state):
            missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise ComponentInputError(
                f"peft {self.name!r}: adapter state lacks {missing or 'nothing'} and has unknown {extra or 'nothing'}"
            )
        for name, param in own.items():
            if tuple(state[name].shape) != tuple(param.shape):
                raise ComponentInputError(
                    f"peft {self.name!r}: {name} is {tuple(param.shape)}, given {tuple(state[name].shape)}"
                )
            param.data.copy_(state[name])

    def merge(self, wrapped: nn.Module) -> nn.Module:
        """Fold the learned update into the base weights; outputs do not change."""
        self._check_mergeable("merge")
        return self.merge_weights(wrapped)

    def unmerge(self, wrapped: nn.Module) -> nn.Module:
        """Take a merged update out of the base weights again, restoring them."""
        self._check_mergeable("unmerge")
        return self.unmerge_weights(wrapped)

    def merge_weights(self, wrapped: nn.Module) -> nn.Module:
        raise NotImplementedError(
            f"{type(self).__name__} declares mergeable but has no merge_weights()"
        )

    def unmerge_weights(self, wrapped: nn.Module) -> nn.Module:
        raise NotImplementedError(
            f"{type(self).__name__} declares mergeable but has no unmerge_weights()"
        )

    def _check_mergeable(self, what: str) -> None:
        if not self.mergeable:
            raise ComponentInputError(
                f"peft {self.name!r} cannot {what}: it declares mergeable = False (its update is "
                "not a linear change of existing weights, so it stays a separate computation)"
            )


# --------------------------------------------------------------------------- collective

#: The collectives a `Collective` component may implement, with nccl-tests' names.
COLLECTIVE_OPS: tuple[str, ...] = ("all-reduce", "all-gather", "reduce-scatter", "broadcast")


class Collective(Component):
    """A collective communication operation across the ranks of an initialised process group.

    Calls, from every rank of a `torch.distributed` process group (gloo on CPU, NCCL on GPUs),
    each rank with its own tensor: `op = Cls(**options)`; `op.all_reduce(tensor, group=None)`
    sums the tensors of every rank into `tensor`, in place, and returns it; where declared in
    `ops`, `op.all_gather(tensor, group=None) -> Tensor (N·n,)` (every rank's 1-D tensor, in
    rank order), `op.reduce_scatter(tensor, group=None) -> Tensor (n/N,)` (rank r's slice of the
    sum; the length n a multiple of N) and `op.broadcast(tensor, src=0, group=None)` (rank
    `src`'s tensor, in place, on every rank; `src` a rank of the group). The calls check their
    inputs, then call `run_all_reduce`, `run_all_gather`, `run_reduce_scatter` or
    `run_broadcast`, which a subclass implements for the ops it declares. `suite.distributed`
    starts such a group on N local processes (`launch(job, world_size=N)`).

    Declared, for the kit and the benchmarks: `ops` (the subset of `COLLECTIVE_OPS` it
    implements; the kit checks each against `torch.distributed`); `bytes_sent` (after a call,
    the bytes this rank sent, where the component counts them, as a from-scratch ring does;
    `None` for a library collective, whose traffic is hidden).
    """

    kind: ClassVar[str] = "collective"
    ops: ClassVar[tuple[str, ...]] = ("all-reduce",)
    bytes_sent: int | None = None

    def __init__(self, **options: Any) -> None:
        check_options(type(self), options)

    def all_reduce(self, tensor: Tensor, group: Any = None) -> Tensor:
        _check_collective_call(self, "all-reduce", tensor, group)
        self.run_all_reduce(tensor, group)
        return tensor

    def all_gather(self, tensor: Tensor, group: Any = None) -> Tensor:
        _check_collective_call(self, "all-gather", tensor, group)
        return self.run_all_gather(tensor, group)

    def reduce_scatter(self, tensor: Tensor, group: Any = None) -> Tensor:
        world = _check_collective_call(self, "reduce-scatter", tensor, group)
        if tensor.numel() % world:
            raise ComponentInputError(
                f"collective {self.name!r}: reduce_scatter needs a length divisible by the "
                f"{world} ranks, got {tensor.numel()}"
            )
        return self.run_reduce_scatter(tensor, group)

    def broadcast(self, tensor: Tensor, src: int = 0, group: Any = None) -> Tensor:
        world = _check_collective_call(self, "broadcast", tensor, group)
        if not 0 <= src < world:
            raise ComponentInputError(
                f"collective {self.name!r}: src must be a rank in range({world}), got {src}"
            )
        self.run_broadcast(tensor, src, group)
        return tensor

    def run_all_reduce(self, tensor: Tensor, group: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement run_all_reduce()")

    def run_all_gather(self, tensor: Tensor, group: Any) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} declares all-gather but has no run_all_gather()"
        )

    def run_reduce_scatter(self, tensor: Tensor, group: Any) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} declares reduce-scatter but has no run_reduce_scatter()"
        )

    def run_broadcast(self, tensor: Tensor, src: int, group: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} declares broadcast but has no run_broadcast()"
        )


def _check_collective_call(op: Collective, name: str, tensor: Any, group: Any) -> int:
    """The group's world size, once the call is one `op` can make: a declared op, a process
    group, a contiguous tensor (1-D for the ops that split it)."""
    import torch.distributed as dist

    if name not in op.ops:
        raise ComponentInputError(
            f"collective {op.name!r} does not implement {name} (its ops: {', '.join(op.ops)})"
        )
    if not dist.is_available() or not dist.is_initialized():
        raise ComponentInputError(
            f"collective {op.name!r}: {name} needs an initialised torch.distributed process group "
            "on every rank before the call"
        )
    if not isinstance(tensor, Tensor):
        raise ComponentInputError(f"{name} takes a Tensor, got {type(tensor).__name__}")
    if not tensor.is_contiguous():
        raise ComponentInputError(
            f"{name} takes a contiguous tensor (it works in place on its memory)"
        )
    if name in ("all-gather", "reduce-scatter") and tensor.dim() != 1:
        raise ComponentInputError(f"{name} takes a 1-D tensor, got shape {tuple(tensor.shape)}")
    return dist.get_world_size(group)


# --------------------------------------------------------------------------- validation

_BASES: dict[str, type[Component]] = {
    "tokenizer": Tokenizer,
    "attention": Attention,
    "norm": Norm,
    "loss": Loss,
    "moe": MoE,
    "position": PositionalEncoding,
    "decoding": Decoder,
    "peft": PEFT,
    "collective": Collective,
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
    if kind == "peft" and getattr(cls, "target_kind", None) not in PEFT_TARGET_KINDS:
        return f"peft {name!r}: `target_kind` must be one of {', '.join(PEFT_TARGET_KINDS)}, got {getattr(cls, 'target_kind', None)!r}"
    enters = getattr(cls, "enters", None)
    if kind == "position" and enters not in POSITION_ENTRY_POINTS:
        return f"position {name!r}: `enters` must be one of {', '.join(POSITION_ENTRY_POINTS)}, got {enters!r}"
    return None
