"""Properties of parameter-efficient fine-tuning methods, driven by what the method declares.

Every check builds a small `suite.nn.TransformerEncoder` (a float32 dense attention written
here, so no registered component is needed) from the example's seed, takes the method's
`default_targets` (or every other one), keeps an untouched copy of the base, and applies the
method. What is demanded: the wrapped model computes what the base computes before training
(`identity_at_init`); the trainable count is honest and equals the declared formula
(`expected_trainable`); only the trainable parameters receive gradients, and a method that
adds its own parameters (any `target_kind` but "module") leaves every base weight without
one; a `mergeable` method's merged model computes what the unmerged one does and `unmerge`
restores the base weights, and merging a non-mergeable one is refused; with the same adapter
weights loaded (`adapter_state` / `load_adapter_state`), the method and its reference give the
same outputs and gradients; unknown targets are refused with the available ones listed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from suite.errors import ComponentInputError
from suite.lm import DenseAttention
from suite.nn import EncoderConfig, TransformerEncoder
from suite.peft_targets import find_targets, is_target
from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    PropertySkip,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import call_component, generator, mask_tensor, max_abs_diff

__all__ = ["kit_model"]

ATOL, RTOL = 1e-5, 1e-4
MERGE_ATOL = 1e-4  # merging adds B·A into W in float32: rounding of the sum


def kit_model(
    d_model: int = 16,
    heads: int = 2,
    kv_heads: int = 2,
    layers: int = 2,
    *,
    causal: bool = False,
    seed: int = 0,
) -> TransformerEncoder:
    """The small encoder the kit applies methods to (eval mode, seeded)."""
    config = EncoderConfig(
        vocab_size=11,
        max_len=64,
        d_model=d_model,
        n_heads=heads,
        n_kv_heads=kv_heads,
        n_layers=layers,
        d_hidden=2 * d_model,
        causal=causal,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TransformerEncoder(config, DenseAttention).eval()


@dataclass
class _Setup:
    method: Any
    base: nn.Module  # an untouched copy of the model before `apply`
    wrapped: nn.Module
    targets: list[str]
    base_params: dict[int, str]  # id of each base parameter (the objects `apply` received) -> name
    expected: int | None
    ids: Tensor  # (B, T)
    mask: Tensor | None  # (B, T)


def _method(subject: Subject, cls: type[Any] | None = None) -> Any:
    cls = cls or subject.cls
    return call_component(f"{cls.__name__}()", cls)


def _targets(method: Any, model: nn.Module, ex: Example) -> list[str]:
    targets = list(call_component("default_targets(model)", method.default_targets, model))
    if not targets:
        raise PropertySkip(f"the kit's encoder has no {method.target_kind} targets")
    return targets[::2] if ex["every_other"] else targets


def _setup(subject: Subject, ex: Example, cls: type[Any] | None = None) -> _Setup:
    model = kit_model(
        ex["d_model"],
        ex["heads"],
        ex["kv_heads"],
        ex["layers"],
        causal=ex["causal"],
        seed=ex["seed"],
    )
    method = _method(subject, cls)
    targets = _targets(method, model, ex)
    base = copy.deepcopy(model)
    expected = call_component(
        "expected_trainable(model, targets)",
        method.expected_trainable,
        copy.deepcopy(model),
        targets,
    )
    base_params = {id(p): name for name, p in model.named_parameters()}
    with torch.random.fork_rng():
        torch.manual_seed(ex["seed"] + 1)
        wrapped = call_component(f"apply(model, {targets})", method.apply, model, targets)
    if not isinstance(wrapped, nn.Module):
        fail(f"apply() returned {type(wrapped).__name__}, not an nn.Module")
    ids = torch.randint(0, 11, (ex["batch"], ex["length"]), generator=generator(ex["seed"], 3))
    return _Setup(
        method, base, wrapped.eval(), targets, base_params, expected, ids, mask_tensor(ex["mask"])
    )


def _forward(model: nn.Module, setup: _Setup) -> Tensor:
    out = call_component(f"wrapped(ids {tuple(setup.ids.shape)})", model, setup.ids, setup.mask)
    want = (*setup.ids.shape, -1)
    if not isinstance(out, Tensor) or out.shape[:2] != want[:2]:
        fail(
            f"the wrapped model must return (B, T, C) for ids (B, T) = {tuple(setup.ids.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
        )
    return out


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def _perturb(method: Any, wrapped: nn.Module, seed: int) -> dict[str, Tensor]:
    """Give the adapter weights random values (a trained-looking update: LoRA's B no longer zero)."""
    state = call_component("adapter_state(wrapped)", method.adapter_state, wrapped)
    if not state:
        fail("adapter_state(wrapped) is empty: the method exposes no trainable parameters")
    values = {}
    for index, (name, param) in enumerate(sorted(state.items())):
        values[name] = torch.randn(param.shape, generator=generator(seed, 100 + index)) * 0.3
        with torch.no_grad():
            param.copy_(values[name].to(param.dtype))
    return values


def _close(a: Tensor, b: Tensor, atol: float = ATOL) -> bool:
    return bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=RTOL))


# --------------------------------------------------------------------------- checks


def check_identity(subject: Subject, ex: Example) -> None:
    setup = _setup(subject, ex)
    with torch.no_grad():
        out, expected = _forward(setup.wrapped, setup), _forward(setup.base, setup)
    if not _close(out, expected):
        fail(
            f"before training the wrapped model must compute what the base does (declared identity_at_init); "
            f"outputs differ by {max_abs_diff(out, expected):.3g} with targets {setup.targets}"
        )


def check_trainable_count(subject: Subject, ex: Example) -> None:
    setup = _setup(subject, ex)
    counted = call_component(
        "trainable_parameters(wrapped)", setup.method.trainable_parameters, setup.wrapped
    )
    actual = sum(p.numel() for _, p in _trainable(setup.wrapped))
    if counted != actual:
        fail(
            f"trainable_parameters(wrapped) says {counted}, but {actual} parameters have requires_grad"
        )
    if actual == 0:
        fail(f"nothing trains after apply(model, {setup.targets})")
    if setup.expected is not None and setup.expected != actual:
        fail(
            f"{actual} parameters train, but the declared formula expected_trainable gives {setup.expected} "
            f"for targets {setup.targets}"
        )


def check_frozen_base(subject: Subject, ex: Example) -> None:
    setup = _setup(subject, ex)
    _perturb(
        setup.method, setup.wrapped, ex["seed"]
    )  # non-zero update: every adapter weight gets a gradient
    out = _forward(setup.wrapped, setup)
    upstream = torch.randn(out.shape, generator=generator(ex["seed"], 5))
    (out * upstream).sum().backward()
    stray = [
        name
        for name, p in setup.wrapped.named_parameters()
        if not p.requires_grad and p.grad is not None
    ]
    if stray:
        fail(f"frozen parameters received a gradient: {', '.join(stray[:3])}")
    with_grad = [(name, p) for name, p in _trainable(setup.wrapped) if p.grad is not None]
    if not with_grad:
        fail(
            "no parameter received a gradient: the method's parameters are not on the output's path"
        )
    if setup.method.target_kind != "module":
        touched = [setup.base_params[id(p)] for _, p in with_grad if id(p) in setup.base_params]
        if touched:
            fail(
                f"base weights received a gradient ({', '.join(touched[:3])}): a method that adds its own "
                f"parameters (target_kind {setup.method.target_kind!r}) must leave the base frozen"
            )


def check_merge(subject: Subject, ex: Example) -> None:
    setup = _setup(subject, ex)
    if not subject.cls.mergeable:
        try:
            setup.method.merge(setup.wrapped)
        except ComponentInputError:
            return
        except Exception as exc:
            fail(
                f"merge() of a method declaring mergeable = False raised {type(exc).__name__}, not a ComponentInputError: {exc}"
            )
        fail("merge() of a method declaring mergeable = False did not refuse")
    originals = {
        id(p): p.detach().clone() for p in setup.wrapped.parameters() if id(p) in setup.base_params
    }
    _perturb(setup.method, setup.wrapped, ex["seed"])
    with torch.no_grad():
        before = _forward(setup.wrapped, setup)
        merged = call_component("merge(wrapped)", setup.method.merge, setup.wrapped)
        after = _forward(merged, setup)
    if not _close(before, after, MERGE_ATOL):
        fail(f"merged outputs differ from unmerged ones by {max_abs_diff(before, after):.3g}")
    changed = [
        p
        for p in merged.parameters()
        if id(p) in originals and not torch.equal(p, originals[id(p)])
    ]
    if not changed:
        fail("merge() left every base weight unchanged: the update was not folded into the weights")
    with torch.no_grad():
        restored = call_component("unmerge(merged)", setup.method.unmerge, merged)
        again = _forward(restored, setup)
    for name, p in restored.named_parameters():
        if id(p) in originals and not _close(p.detach(), originals[id(p)], MERGE_ATOL):
            fail(
                f"unmerge() did not restore the base weight {name} (off by {max_abs_diff(p.detach(), originals[id(p)]):.3g})"
            )
    if not _close(before, again, MERGE_ATOL):
        fail(
            f"after unmerge() outputs differ from before merging by {max_abs_diff(before, again):.3g}"
        )


def check_reference(subject: Subject, ex: Example) -> None:
    assert subject.reference is not None
    mine = _setup(subject, ex)
    theirs = _setup(subject, ex, subject.reference)
    if mine.targets != theirs.targets:
        fail(f"default targets differ from the reference's: {mine.targets} vs {theirs.targets}")
    values = _perturb(mine.method, mine.wrapped, ex["seed"])
    call_component(
        "reference.load_adapter_state(wrapped, state)",
        theirs.method.load_adapter_state,
        theirs.wrapped,
        values,
    )
    out, expected = _forward(mine.wrapped, mine), _forward(theirs.wrapped, theirs)
    if not _close(out, expected):
        fail(
            f"with the same adapter weights, outputs differ from {subject.reference.name}'s by "
            f"{max_abs_diff(out, expected):.3g}"
        )
    upstream = torch.randn(out.shape, generator=generator(ex["seed"], 5))
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    ours, refs = (
        mine.method.adapter_state(mine.wrapped),
        theirs.method.adapter_state(theirs.wrapped),
    )
    for name in sorted(ours):
        a, b = ours[name].grad, refs[name].grad
        if a is None or b is None:
            fail(f"{name}: no gradient ({'ours' if a is None else 'the reference'})")
        if not _close(a, b):
            fail(
                f"gradient of {name} differs from {subject.reference.name}'s by {max_abs_diff(a, b):.3g}"
            )


def check_unknown_target(subject: Subject, ex: Example) -> None:
    model = kit_model(ex["d_model"], ex["heads"], ex["kv_heads"], ex["layers"], seed=ex["seed"])
    method = _method(subject)
    available = [name for name in find_targets(model, method.target_kind) if name]
    known = available[:1] or [""]  # a real target must be accepted first
    call_component(f"apply(model, {known})", method.apply, copy.deepcopy(model), known)
    probes: Sequence[str] = ["no.such.module"]
    if method.target_kind != "module":  # a module that exists but is of the wrong type
        wrong = [
            name
            for name, module in model.named_modules()
            if name
            and name not in available
            and (method.target_kind == "sublayer" or not is_target(module, method.target_kind))
        ]
        probes = [*probes, wrong[ex["seed"] % len(wrong)]]
    for probe in probes:
        try:
            method.apply(copy.deepcopy(model), [probe])
        except ComponentInputError as exc:
            if available and not any(repr(name) in str(exc) for name in available):
                fail(
                    f"the error for target {probe!r} must list the available targets; it says: {exc}"
                )
            continue
        except Exception as exc:
            fail(
                f"apply(model, [{probe!r}]) raised {type(exc).__name__}, not a ComponentInputError: {exc}"
            )
        fail(
            f"apply(model, [{probe!r}]) accepted a target that is no {method.target_kind} target of the model"
        )


def _needs_identity(subject: Subject) -> str | None:
    if not subject.cls.identity_at_init:
        return f"{subject.cls.name!r} declares identity_at_init = False (learned prefixes or prompts change outputs from the start)"
    return None


def _needs_reference(subject: Subject) -> str | None:
    return (
        None
        if subject.reference is not None
        else f"no reference in reach ({subject.reference_note})"
    )


for _prop in (
    Property(
        "peft.identity-at-init",
        "peft",
        "before training, the wrapped model's output equals the base model's",
        lambda s: strategies.peft_inputs(),
        check_identity,
        applies=_needs_identity,
    ),
    Property(
        "peft.trainable-count",
        "peft",
        "trainable_parameters is the number of parameters with requires_grad, and equals the declared formula",
        lambda s: strategies.peft_inputs(),
        check_trainable_count,
    ),
    Property(
        "peft.frozen-base",
        "peft",
        "only trainable parameters get gradients; a method adding its own parameters leaves every base weight without one",
        lambda s: strategies.peft_inputs(),
        check_frozen_base,
    ),
    Property(
        "peft.merge",
        "peft",
        "a mergeable method's merged model computes the same outputs and unmerge restores the base weights; others refuse to merge",
        lambda s: strategies.peft_inputs(),
        check_merge,
    ),
    Property(
        "peft.reference-agreement",
        "peft",
        "with the same adapter weights loaded, outputs and gradients equal the reference's",
        lambda s: strategies.peft_inputs(),
        check_reference,
        applies=_needs_reference,
    ),
    Property(
        "peft.unknown-target",
        "peft",
        "a target that is not a submodule of the right kind is refused with a ComponentInputError listing the available ones",
        lambda s: strategies.peft_inputs(),
        check_unknown_target,
        cost=0.4,
    ),
):
    register_property(_prop)
