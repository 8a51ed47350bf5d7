"""Properties of losses: agreement with the closed form, finite gradients, the mean reduction.

The closed form is the one the loss declares (`suite.Loss.closed_form`), else the one its
registered reference declares, evaluated under the same options; options are drawn from the
declared `option_choices`. A loss with no closed form in reach is compared with its registered
reference at default options, or skipped with the reason.

`loss.finite-gradients` always runs the numerical edge cases as explicit examples: a target
logit 50 above the others (p_t rounds to 1 in float32, so 1 - p_t is exactly 0: a factor
(1 - p_t)^γ with γ < 1 has an infinite derivative there, and `0 · inf` is a NaN gradient), 50
below them, and inputs of tiny (1e-4) and huge (1e3) scale; with the smallest γ in (0, 1) the
loss declares, where it takes a `gamma`.

An `lm-head` loss (`hidden (N, D), weight (V, D), target (N,)`) gets the value checks of every
loss, and `loss.gradient-agreement` compares its gradients of `hidden` and `weight` with the
reference's: a fused head writes its own backward, the part most likely to be wrong. Its declared options (a chunk
size that does not divide N) and a padded first target are drawn like any other option.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from suite.kinds import Loss
from suite.testing import strategies
from suite.testing.properties._base import Example, Property, Subject, fail, register_property
from suite.testing.properties._tensors import call_component, generator, max_abs_diff, randn

__all__: list[str] = []

RTOL, ATOL = 1e-4, 1e-5
GRAD_RTOL = 1e-4  # of the largest reference gradient entry: chunked sums round differently
TASKS = ("classification", "contrastive", "ranking", "lm-head")


def _declaring(subject: Subject) -> type[Any] | None:
    """The class whose declarations (closed form, option choices) the checks use: the subject
    when it declares a closed form, else its reference when that one does."""
    for cls in (subject.cls, subject.reference):
        if cls is not None and cls.closed_form is not Loss.closed_form:
            return cls
    return None


def _option_choices(subject: Subject, classes: int) -> dict[str, list[Any]]:
    """The declared option choices (the subject's, else its reference's) that every class the
    check builds accepts."""
    choices = subject.cls.option_choices(classes)
    if not choices and subject.reference is not None:
        choices = subject.reference.option_choices(classes)
    builders = [subject.cls] + [c for c in (_declaring(subject),) if c is not None]
    accepted = set.intersection(*(set(c.accepted_options()) for c in builders))
    return {name: values for name, values in choices.items() if name in accepted and values}


def _ignore_index(subject: Subject) -> int | None:
    """The declared default `ignore_index` option of a loss with targets, if it takes one."""
    default = subject.cls.accepted_options().get("ignore_index", inspect.Parameter.empty)
    return default if isinstance(default, int) else None


def _options(subject: Subject, classes: int) -> st.SearchStrategy[dict[str, Any]]:
    choices = _option_choices(subject, classes)
    return st.fixed_dictionaries(
        {name: st.sampled_from(values) for name, values in choices.items()}
    )


@st.composite
def _loss_examples(
    draw: Any, subject: Subject, *, max_scale: float = 10.0, ignore: bool = True
) -> Example:
    task = subject.cls.task
    if task == "classification":
        ex = draw(strategies.classification_inputs(max_scale=max_scale))
        ex["options"] = draw(_options(subject, ex["classes"]))
        ex["ignore_first"] = (
            ignore and _ignore_index(subject) is not None and ex["n"] > 1 and draw(st.booleans())
        )
    elif task == "contrastive":
        ex = draw(strategies.contrastive_inputs(max_scale=max_scale))
        ex["options"] = draw(_options(subject, 0))
    elif task == "lm-head":
        ex = draw(strategies.lm_head_inputs(max_scale=max_scale))
        ex["options"] = draw(_options(subject, ex["vocab"]))
        ex["ignore_first"] = (
            ignore and _ignore_index(subject) is not None and ex["n"] > 1 and draw(st.booleans())
        )
    else:
        ex = draw(strategies.ranking_inputs(max_scale=max_scale))
        ex["options"] = {}
    return ex


def _inputs(subject: Subject, ex: Example) -> tuple[Tensor, ...]:
    seed, n = ex["seed"], ex["n"]
    if subject.cls.task == "classification":
        c = ex["classes"]
        logits = randn((n, c), seed, 0, scale=ex["scale"])  # (N, C)
        probs = torch.full((c,), (1 - ex["majority"]) / max(c - 1, 1))
        probs[0] = ex["majority"]
        target = torch.multinomial(
            probs, n, replacement=True, generator=generator(seed, 1)
        )  # (N,), class 0 the majority
        if ex.get("gap"):  # the target logit alone at `gap`: p_t → 1 (gap 50) or → 0 (gap -50)
            logits[torch.arange(n), target] = float(ex["gap"])
        ignore_index = _ignore_index(subject)
        if ex.get("ignore_first") and ignore_index is not None:
            target[0] = ignore_index
        return logits, target
    if subject.cls.task == "lm-head":
        d, v = ex["dim"], ex["vocab"]
        hidden = randn((n, d), seed, 0, scale=ex["scale"])  # (N, D)
        weight = randn((v, d), seed, 1, scale=d**-0.5)  # (V, D): logits of about hidden's scale
        target = torch.randint(0, v, (n,), generator=generator(seed, 2))  # (N,)
        ignore_index = _ignore_index(subject)
        if ex.get("ignore_first") and ignore_index is not None:
            target[0] = ignore_index
        return hidden, weight, target
    if subject.cls.task == "contrastive":
        anchors = randn((n, ex["dim"]), seed, 0, scale=ex["scale"])  # (N, D)
        positives = anchors + randn((n, ex["dim"]), seed, 1, scale=ex["scale"] * ex["noise"])
        return anchors, positives
    chosen = randn((n,), seed, 0, scale=ex["scale"])  # (N,)
    return chosen, randn((n,), seed, 1, scale=ex["scale"])


def _make(subject: Subject, options: dict[str, Any]) -> Any:
    shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return call_component(f"{subject.cls.__name__}({shown})", subject.cls, **options)


def _value(loss: Any, *inputs: Tensor) -> Tensor:
    out = call_component(f"loss({', '.join(str(tuple(t.shape)) for t in inputs)})", loss, *inputs)
    if not isinstance(out, Tensor):
        fail(f"the loss returned {type(out).__name__}, not a Tensor")
    if out.dim() != 0:
        fail(f"the loss must be a 0-dim scalar (mean over the batch), got shape {tuple(out.shape)}")
    return out


def _needs_form(subject: Subject) -> str | None:
    if subject.cls.task not in TASKS:
        return f"unknown task {subject.cls.task!r}"
    if _declaring(subject) is None and subject.reference is None:
        return f"no closed form declared by {subject.cls.name!r} and no reference in reach ({subject.reference_note})"
    return None


def _edge_examples(subject: Subject) -> list[Example]:
    """The numerical edge cases of the task (module docstring), as explicit examples."""
    task = subject.cls.task
    if task == "classification":
        classes = 5
        gammas = [g for g in _option_choices(subject, classes).get("gamma", []) if 0 < g < 1]
        if not gammas and "gamma" in subject.cls.accepted_options():
            gammas = [0.5]
        options = {"gamma": min(gammas)} if gammas else {}
        base = {"n": 4, "classes": classes, "majority": 0.5, "seed": 0, "ignore_first": False}
        return [
            {**base, "scale": 1.0, "gap": 50.0, "options": options},
            {**base, "scale": 1.0, "gap": -50.0, "options": options},
            {**base, "scale": 1e-4, "options": options},
            {**base, "scale": 1e3, "options": options},
        ]
    if task == "contrastive":
        contrastive: Example = {"n": 4, "dim": 4, "noise": 0.1, "seed": 0, "options": {}}
        return [{**contrastive, "scale": 1e-4}, {**contrastive, "scale": 1e3}]
    if task == "ranking":
        ranking: Example = {"n": 4, "seed": 0, "options": {}}
        return [{**ranking, "scale": 1e-4}, {**ranking, "scale": 1e3}]
    if task == "lm-head":  # scale 1e3: logits in the thousands, the softmax saturated
        head: Example = {"n": 5, "dim": 4, "vocab": 7, "seed": 0, "ignore_first": False}
        return [{**head, "scale": 1e-4, "options": {}}, {**head, "scale": 1e3, "options": {}}]
    return []


# --------------------------------------------------------------------------- checks


def check_closed_form(subject: Subject, ex: Example) -> None:
    inputs = _inputs(subject, ex)
    declaring = _declaring(subject)
    with torch.no_grad():
        got = _value(_make(subject, ex["options"]), *inputs)
        if declaring is not None:
            shown = ", ".join(f"{k}={v!r}" for k, v in ex["options"].items())
            form = call_component(
                f"{declaring.__name__}({shown}).closed_form(...)",
                lambda: declaring(**ex["options"]).closed_form(*inputs),
            )
            expected, label = form, f"the closed form of {declaring.name}"
        else:
            assert subject.reference is not None
            expected, label = (
                _value(subject.reference(), *inputs),
                f"reference {subject.reference.name}",
            )
    if not math.isclose(float(got), float(expected), rel_tol=RTOL, abs_tol=ATOL):
        fail(
            f"loss {float(got):.6g} != {float(expected):.6g} from {label} (options {ex['options']})"
        )


def check_gradients(subject: Subject, ex: Example) -> None:
    inputs = [t.clone().requires_grad_(t.is_floating_point()) for t in _inputs(subject, ex)]
    value = _value(_make(subject, ex["options"]), *inputs)
    if not torch.isfinite(value):
        fail(
            f"the loss is {float(value.detach())} for inputs of magnitude {ex['scale']}: compute in log space (log_softmax, logsigmoid), never the log of a softmax"
        )
    call_component("loss.backward()", value.backward)
    for position, tensor in enumerate(inputs):
        if not tensor.is_floating_point():
            continue
        if tensor.grad is None:
            fail(f"input {position} received no gradient (the loss is detached from it)")
        bad = int((~torch.isfinite(tensor.grad)).sum())
        if bad:
            fail(
                f"{bad} gradient entries of input {position} are NaN/inf for inputs of scale {ex['scale']}"
            )


def check_reduction(subject: Subject, ex: Example) -> None:
    inputs = _inputs(subject, ex)
    loss = _make(subject, ex["options"])
    with torch.no_grad():
        whole = float(_value(loss, *inputs))
        n = ex["n"]
        if subject.cls.task == "contrastive":
            perm = torch.randperm(n, generator=generator(ex["seed"], 5))
            shuffled = float(_value(loss, *(t[perm] for t in inputs)))
            if not math.isclose(whole, shuffled, rel_tol=RTOL, abs_tol=ATOL):
                fail(
                    f"shuffling the (anchor, positive) pairs together changed the loss from {whole:.6g} to {shuffled:.6g}"
                )
            return
        if subject.cls.task == "lm-head":  # one token: its hidden row and target, the whole weight
            hidden, weight, target = inputs
            kept = [i for i in range(n) if int(target[i]) != _ignore_index(subject)]
            singles = [
                float(_value(loss, hidden[i : i + 1], weight, target[i : i + 1])) for i in kept
            ]
        else:
            kept = [
                i
                for i in range(n)
                if subject.cls.task != "classification"
                or int(inputs[1][i]) != _ignore_index(subject)
            ]
            singles = [float(_value(loss, *(t[i : i + 1] for t in inputs))) for i in kept]
    mean = sum(singles) / len(singles)
    if not math.isclose(whole, mean, rel_tol=RTOL, abs_tol=ATOL):
        hint = (
            f": it sums over the batch ({len(singles)} examples) instead of averaging"
            if math.isclose(whole, mean * len(singles), rel_tol=RTOL) and len(singles) > 1
            else ""
        )
        fail(
            f"loss of the batch is {whole:.6g} but the mean of its per-example losses is {mean:.6g}{hint}"
        )


def _input_grads(loss: Any, inputs: tuple[Tensor, ...]) -> list[Tensor | None]:
    """The gradient of `loss(*inputs)` with respect to each floating input (None elsewhere)."""
    leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    value = _value(loss, *leaves)
    call_component("loss.backward()", value.backward)
    return [leaf.grad for leaf in leaves]


def check_gradient_agreement(subject: Subject, ex: Example) -> None:
    assert subject.reference is not None
    inputs = _inputs(subject, ex)
    names = ("hidden", "weight")
    reference = call_component(f"{subject.reference.__name__}()", subject.reference)
    grads = [
        _input_grads(loss, inputs)[: len(names)]
        for loss in (_make(subject, ex["options"]), reference)
    ]
    for name, got, want in zip(names, *grads):
        if got is None:
            fail(f"{name} received no gradient (the loss is detached from it)")
        assert want is not None
        if got.shape != want.shape:
            fail(f"the gradient of {name} has shape {tuple(got.shape)}, not {tuple(want.shape)}")
        error = max_abs_diff(got, want)
        allowed = GRAD_RTOL * max(float(want.abs().max()), 1e-2)
        if not error <= allowed:
            fail(
                f"the gradient of {name} differs from reference {subject.reference.name}'s by up "
                f"to {error:.3g} (allowed {allowed:.3g}; options {ex['options']})"
            )


def _lm_head_with_reference(subject: Subject) -> str | None:
    if subject.cls.task != "lm-head":
        return "only for lm-head losses (a fused head writes its own backward)"
    if subject.reference is None:
        return f"no reference in reach ({subject.reference_note or 'it is a reference'})"
    return None


def check_focal(subject: Subject, ex: Example) -> None:
    logits, target = _inputs(subject, ex)
    gamma = ex["gamma"]
    loss = _make(subject, {"gamma": gamma})
    with torch.no_grad():
        for i in range(ex["n"]):
            focal = float(_value(loss, logits[i : i + 1], target[i : i + 1]))
            logp_t = torch.log_softmax(logits[i].double(), -1)[target[i]]
            p_t, ce = float(logp_t.exp()), float(-logp_t)
            factor = (1 - p_t) ** gamma
            if not math.isclose(focal, factor * ce, rel_tol=1e-3, abs_tol=1e-6):
                ease = "an easy" if p_t > 0.5 else "a hard"
                fail(
                    f"for {ease} example (p_t = {p_t:.3g}, γ = {gamma}), focal/CE = {focal / ce if ce else math.inf:.3g} but the modulating factor (1 - p_t)^γ = {factor:.3g}: easy examples must be down-weighted, hard ones kept"
                )


def _focal_only(subject: Subject) -> str | None:
    promised = {*subject.cls.promises, *(subject.reference.promises if subject.reference else ())}
    if subject.cls.task != "classification" or "loss.focal-modulation" not in promised:
        return "only for losses that promise it (`promises`), or whose reference does"
    return None


def _focal_examples(subject: Subject) -> st.SearchStrategy[Example]:
    return st.tuples(strategies.classification_inputs(), st.sampled_from([0.5, 1.0, 2.0, 3.0])).map(
        lambda pair: {**pair[0], "gamma": pair[1]}
    )


for _prop in (
    Property(
        "loss.closed-form",
        "loss",
        "the loss equals its closed form (or its reference) under drawn options, labels imbalanced",
        lambda s: _loss_examples(s),
        check_closed_form,
        applies=_needs_form,
    ),
    Property(
        "loss.finite-gradients",
        "loss",
        "value and gradients are finite, even for inputs of magnitude 100 and logit gaps of 50",
        lambda s: _loss_examples(s, max_scale=100.0),
        check_gradients,
        explicit=_edge_examples,
    ),
    Property(
        "loss.reduction",
        "loss",
        "the loss is a 0-dim mean over the batch (contrastive: invariant to shuffling the pairs)",
        lambda s: _loss_examples(s, ignore=True),
        check_reduction,
    ),
    Property(
        "loss.gradient-agreement",
        "loss",
        "lm-head: the gradients of hidden and weight equal the reference's (chunk sizes, padding drawn)",
        lambda s: _loss_examples(s),
        check_gradient_agreement,
        applies=_lm_head_with_reference,
    ),
    Property(
        "loss.focal-modulation",
        "loss",
        "each example's focal loss is its cross-entropy times (1 - p_t)^γ: easy examples are down-weighted",
        _focal_examples,
        check_focal,
        applies=_focal_only,
    ),
):
    register_property(_prop)
