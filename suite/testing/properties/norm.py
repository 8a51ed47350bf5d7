"""Properties of norms: agreement with the reference, train/eval behaviour, mask handling.

The reference is the registered `reference` component when it is loaded, else the closed form
the norm declares (`suite.Norm.statistics`, `centers`): per-token statistics over C (centred:
LayerNorm; not: RMSNorm) or per-feature batch statistics with running estimates (BatchNorm).
Both are built fresh, so they start from the same affine parameters (weight 1, bias 0) and
running statistics (0, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    PropertySkip,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import call_component, mask_tensor, max_abs_diff, randn

__all__: list[str] = []

ATOL, RTOL = 1e-3, 1e-3  # float32; eps conventions (1e-5 vs 1e-6) stay inside this
MOMENTUM = 1e-1  # PyTorch's default, which the batch-norm closed form follows
#: ε conventions differ (torch's norms use 1e-5, RMSNorm the float32 machine epsilon, others
#: 1e-6 or 1e-8); a closed form agrees if it agrees at any of them. Tiny-variance inputs are
#: drawn on purpose: they are where ε placed outside the square root shows.
EPS_CANDIDATES = (1e-5, 1e-6, float(torch.finfo(torch.float32).eps), 1e-8)


class _ClosedForm(nn.Module):
    """A norm written from its formula, used when no reference component is registered."""

    running_mean: Tensor
    running_var: Tensor

    def __init__(self, statistics: str, centers: bool, features: int, *, eps: float) -> None:
        super().__init__()
        self.statistics, self.centers, self.eps = statistics, centers, eps
        self.register_buffer("running_mean", torch.zeros(features, dtype=torch.float64))
        self.register_buffer("running_var", torch.ones(features, dtype=torch.float64))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.double()
        if self.statistics == "feature":  # per token, over C
            if not self.centers:  # RMS: no mean subtracted
                return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
            return (x - x.mean(-1, keepdim=True)) / torch.sqrt(
                x.var(-1, unbiased=False, keepdim=True) + self.eps
            )
        flat = x.reshape(-1, x.shape[-1])  # (B*T, C): per feature, over the batch
        if self.training:
            mean = flat.mean(0) if self.centers else torch.zeros_like(flat[0])
            var = (flat - mean).pow(2).mean(0)
            n = flat.shape[0]
            self.running_mean.mul_(1 - MOMENTUM).add_(MOMENTUM * mean)
            self.running_var.mul_(1 - MOMENTUM).add_(MOMENTUM * var * n / max(n - 1, 1))
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / torch.sqrt(var + self.eps)


def _references(subject: Subject) -> tuple[str, list[Callable[[int], nn.Module]]] | None:
    """The label and builders of what to agree with: the registered reference, or the closed
    form at each ε convention."""
    if subject.reference is not None:
        ref = subject.reference
        return ref.name, [lambda c: ref().build(c)]
    statistics, centers = subject.cls.statistics, subject.cls.centers
    if statistics not in ("feature", "batch"):
        return None
    builders: list[Callable[[int], nn.Module]] = [
        partial(_ClosedForm, statistics, centers, eps=eps) for eps in EPS_CANDIDATES
    ]
    what = ("centred " if centers else "uncentred ") + f"{statistics}-statistics"
    return f"the {what} closed form", builders


def _disagreement(
    subject: Subject, features: int, out: Tensor, drive: Callable[[nn.Module], Tensor]
) -> tuple[str, float] | None:
    """None when `out` matches `drive(reference)` for one of the references, else (label, error)."""
    label, builders = _references(subject)  # type: ignore[misc]
    errors = []
    for build in builders:
        expected = drive(build(features))
        if _close(out, expected):
            return None
        errors.append(max_abs_diff(out, expected))
    return label, min(errors)


def _needs_reference(subject: Subject) -> str | None:
    if _references(subject) is None:
        return f"no reference in reach ({subject.reference_note}) and no closed form declared by {subject.cls.name!r} (set `statistics`)"
    return None


def _x(ex: Example, offset: int = 0) -> Tensor:
    x = randn((ex["batch"], ex["length"], ex["features"]), ex["seed"], offset, scale=ex["scale"])
    return x + ex["offset"]  # (B, T, C)


def _build(subject: Subject, features: int) -> nn.Module:
    mod = call_component(
        f"{subject.cls.__name__}().build({features})", lambda: subject.cls().build(features)
    )
    if not isinstance(mod, nn.Module):
        fail(f"build({features}) returned {type(mod).__name__}, not an nn.Module")
    return mod


def _run(mod: nn.Module, x: Tensor, mask: Tensor | None = None) -> Tensor:
    with torch.no_grad():
        out = (
            call_component(
                f"mod(x {tuple(x.shape)}{', mask' if mask is not None else ''})", mod, x, mask=mask
            )
            if mask is not None
            else call_component(f"mod(x {tuple(x.shape)})", mod, x)
        )
    if not isinstance(out, Tensor) or out.shape != x.shape:
        fail(
            f"mod(x) must return a tensor shaped like x {tuple(x.shape)}, got {getattr(out, 'shape', type(out).__name__)}"
        )
    return out


def _close(a: Tensor, b: Tensor) -> bool:
    return bool(torch.allclose(a.double(), b.double(), atol=ATOL, rtol=RTOL))


def _batch_dependent(mod: nn.Module, features: int) -> bool:
    """Whether sample 0's output depends on the other samples in train mode (batch statistics).

    Probed on a fixed (4, 3, C) batch whose other samples are shifted by 5, since tiny drawn
    batches can hide the dependence (two tokens always normalise to ±1).
    """
    x = randn((4, 3, features), 12345, 0)
    shifted = x.clone()
    shifted[1:] += 5.0
    mod.train()
    return not _close(_run(mod, x)[0], _run(mod, shifted)[0])


# --------------------------------------------------------------------------- checks


def check_reference(subject: Subject, ex: Example) -> None:
    x = _x(ex)
    mod = _build(subject, ex["features"])
    mod.train()
    out = _run(mod, x)
    wrong = _disagreement(subject, ex["features"], out, lambda ref: _run(ref.train(), x))
    if wrong is not None:
        fail(
            f"train-mode output differs from {wrong[0]} by {wrong[1]:.3g} on x {tuple(x.shape)} (scale {ex['scale']}, offset {ex['offset']})"
        )


def check_train_eval(subject: Subject, ex: Example) -> None:
    c = ex["features"]
    if not _batch_dependent(_build(subject, c), c):
        mod = _build(subject, c)
        x = _x(ex)
        mod.train()
        train_out = _run(mod, x)
        mod.eval()
        eval_out = _run(mod, x)
        if not _close(train_out, eval_out):
            fail(
                f"a per-token norm must behave the same in train and eval; outputs differ by {max_abs_diff(train_out, eval_out):.3g}"
            )
        return
    batches = [_x(ex, 100 + step) for step in range(ex["train_steps"])]
    probe = _x(ex, 50)

    def trained_then_probed(module: nn.Module) -> Tensor:
        module.train()
        for batch in batches:
            _run(module, batch)
        module.eval()
        return _run(module, probe)

    mod = _build(subject, c)
    out = trained_then_probed(mod)
    changed = probe.clone()
    changed[1:] = changed[1:] * 3.0 + 2.0
    if not _close(out[0], _run(mod, changed)[0]):
        fail(
            "in eval mode, sample 0's output changed when the other samples changed: eval must use the running statistics, not the batch's"
        )
    wrong = _disagreement(subject, c, out, trained_then_probed)
    if wrong is not None:
        fail(
            f"after {ex['train_steps']} training batch(es), eval output differs from {wrong[0]} by {wrong[1]:.3g}: running statistics must follow momentum {MOMENTUM} with the unbiased batch variance"
        )


def check_mask(subject: Subject, ex: Example) -> None:
    mask = mask_tensor(ex["mask"])
    assert mask is not None
    real = mask[..., None]  # (B, T, 1)
    x = _x(ex)
    x2 = torch.where(real, x, randn(x.shape, ex["seed"], 11, scale=50.0) + 20.0)
    mod = _build(subject, ex["features"])
    mod.train()
    out, out2 = _run(mod, x, mask), _run(mod, x2, mask)
    if not _close(out[mask], out2[mask]):
        if _close(
            _run(_build(subject, ex["features"]), x, mask), _run(_build(subject, ex["features"]), x)
        ):
            if subject.cls.masked:
                fail("declares `masked = True` but ignores the mask: padding enters its statistics")
            raise PropertySkip(
                "ignores the mask (allowed by the contract: padding then enters its statistics)"
            )
        fail(
            f"values at padded positions changed the outputs at real tokens by {max_abs_diff(out[mask], out2[mask]):.3g}: statistics must use real tokens only"
        )
    alone = _build(subject, ex["features"])
    alone.train()
    expected = _run(alone, x[mask][None])[0]  # (N_real, C): the real tokens alone, no padding
    if not _close(out[mask], expected):
        fail(
            f"outputs at real tokens differ by {max_abs_diff(out[mask], expected):.3g} from the same norm applied to the real tokens alone (no padding)"
        )
    probe = _x(ex, 60)
    clean, dirty = _build(subject, ex["features"]), _build(subject, ex["features"])
    clean.train(), dirty.train()
    _run(clean, x, mask), _run(dirty, x2, mask)
    clean.eval(), dirty.eval()
    a, b = _run(clean, probe), _run(dirty, probe)
    if not _close(a, b):
        fail(
            f"padding values in a training batch changed the running statistics (eval outputs differ by {max_abs_diff(a, b):.3g})"
        )
    if not math.isfinite(float(out[mask].abs().max())):
        fail("outputs at real tokens are not finite")


for _prop in (
    Property(
        "norm.reference-agreement",
        "norm",
        "train-mode output equals the reference (or the closed form) on x of any scale and offset",
        lambda s: strategies.norm_inputs(),
        check_reference,
        applies=_needs_reference,
        explicit=lambda s: [  # tiny (variance far below eps) and huge scales, on every check
            {"batch": 2, "length": 3, "features": 8, "scale": scale, "offset": offset}
            | {"mask": None, "train_steps": 0, "seed": 0}
            for scale, offset in ((1e-4, 0.0), (1e3, 0.0), (1e3, 1e3))
        ],
    ),
    Property(
        "norm.train-eval",
        "norm",
        "batch-statistics norms use running statistics in eval, as the reference; per-token norms act the same in both",
        lambda s: strategies.norm_inputs(min_batch=2, train_steps=True),
        check_train_eval,
        applies=_needs_reference,
    ),
    Property(
        "norm.mask-handling",
        "norm",
        "a norm that takes the mask gives real tokens what it gives them without the padding, in train and eval",
        lambda s: strategies.norm_inputs(padding=True),
        check_mask,
    ),
):
    register_property(_prop)
