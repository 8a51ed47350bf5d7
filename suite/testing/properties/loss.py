"""Properties of losses: agreement with the closed form, finite gradients, the mean reduction.

The closed form is chosen by the component's name or its reference's name (cross-entropy with
label smoothing and ignore_index, focal with gamma and per-class alpha, InfoNCE with
temperature, the pairwise ranking loss); options are drawn for it. A loss with no known closed
form is compared with its registered reference at default options, or skipped with the reason.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import Tensor

from suite.testing import strategies
from suite.testing.properties._base import Example, Property, Subject, fail, register_property
from suite.testing.properties._tensors import call_component, generator, randn

__all__: list[str] = []

RTOL, ATOL = 1e-4, 1e-5
IGNORE = -100


def _cross_entropy(
    logits: Tensor, target: Tensor, label_smoothing: float = 0.0, ignore_index: int = IGNORE
) -> Tensor:
    logp = torch.log_softmax(logits.double(), dim=-1)
    keep = target != ignore_index
    safe = target.clamp(min=0)
    nll = -logp.gather(1, safe[:, None])[:, 0]
    per = (1 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
    return per[keep].sum() / keep.sum()


def _focal(
    logits: Tensor, target: Tensor, gamma: float = 2.0, alpha: list[float] | None = None
) -> Tensor:
    logp_t = torch.log_softmax(logits.double(), dim=-1).gather(1, target[:, None])[:, 0]
    weight = (1 - logp_t.exp()).pow(gamma)
    if alpha is not None:
        weight = weight * torch.tensor(alpha, dtype=torch.float64)[target]
    return (-weight * logp_t).mean()


def _infonce(anchors: Tensor, positives: Tensor, temperature: float = 0.05) -> Tensor:
    a = F.normalize(anchors.double(), dim=-1, eps=1e-8)
    p = F.normalize(positives.double(), dim=-1, eps=1e-8)
    logits = a @ p.T / temperature  # (N, N): row i's positive is column i
    return F.cross_entropy(logits, torch.arange(len(a)))


def _ranking(chosen: Tensor, rejected: Tensor) -> Tensor:
    return -F.logsigmoid(chosen.double() - rejected.double()).mean()


_FORMS: dict[str, tuple[str, Any]] = {
    "cross-entropy": ("classification", _cross_entropy),
    "torch-cross-entropy": ("classification", _cross_entropy),
    "focal": ("classification", _focal),
    "infonce": ("contrastive", _infonce),
    "torch-infonce": ("contrastive", _infonce),
    "ranking": ("ranking", _ranking),
    "torch-ranking": ("ranking", _ranking),
}


def _form_name(subject: Subject) -> str | None:
    for name in (subject.cls.name, subject.cls.reference):
        if name in _FORMS and _FORMS[name][0] == subject.cls.task:
            return {
                "torch-cross-entropy": "cross-entropy",
                "torch-infonce": "infonce",
                "torch-ranking": "ranking",
            }.get(name, name)
    return None


def _options(form: str | None, classes: int) -> st.SearchStrategy[dict[str, Any]]:
    if form == "cross-entropy":
        return st.fixed_dictionaries({"label_smoothing": st.sampled_from([0.0, 0.1, 0.3])})
    if form == "focal":
        alpha = st.none() | st.lists(
            st.sampled_from([0.25, 0.5, 1.0, 2.0]), min_size=classes, max_size=classes
        )
        return st.fixed_dictionaries(
            {"gamma": st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]), "alpha": alpha}
        )
    if form == "infonce":
        return st.fixed_dictionaries({"temperature": st.sampled_from([0.05, 0.1, 1.0])})
    return st.just({})


@st.composite
def _loss_examples(
    draw: Any, subject: Subject, *, max_scale: float = 10.0, ignore: bool = True
) -> Example:
    form = _form_name(subject)
    task = subject.cls.task
    if task == "classification":
        ex = draw(strategies.classification_inputs(max_scale=max_scale))
        ex["options"] = draw(_options(form, ex["classes"]))
        ex["ignore_first"] = (
            ignore and form == "cross-entropy" and ex["n"] > 1 and draw(st.booleans())
        )
    elif task == "contrastive":
        ex = draw(strategies.contrastive_inputs(max_scale=max_scale))
        ex["options"] = draw(_options(form, 0))
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
        if ex.get("ignore_first"):
            target[0] = IGNORE
        return logits, target
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
    if subject.cls.task not in ("classification", "contrastive", "ranking"):
        return f"unknown task {subject.cls.task!r}"
    if _form_name(subject) is None and subject.reference is None:
        return f"no closed form known for {subject.cls.name!r} and no reference in reach ({subject.reference_note})"
    return None


# --------------------------------------------------------------------------- checks


def check_closed_form(subject: Subject, ex: Example) -> None:
    inputs = _inputs(subject, ex)
    form = _form_name(subject)
    with torch.no_grad():
        got = _value(_make(subject, ex["options"]), *inputs)
        if form is not None:
            expected, label = _FORMS[form][1](*inputs, **ex["options"]), f"the {form} closed form"
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
        kept = [
            i
            for i in range(n)
            if subject.cls.task != "classification" or int(inputs[1][i]) != IGNORE
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
    if subject.cls.task != "classification" or _form_name(subject) != "focal":
        return "only for focal losses (name or reference 'focal')"
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
        "value and gradients are finite, even for inputs of magnitude 100",
        lambda s: _loss_examples(s, max_scale=100.0),
        check_gradients,
    ),
    Property(
        "loss.reduction",
        "loss",
        "the loss is a 0-dim mean over the batch (contrastive: invariant to shuffling the pairs)",
        lambda s: _loss_examples(s, ignore=True),
        check_reduction,
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
