"""Each loss equals its closed form and its reference on random inputs; focal at gamma=0 is CE."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.losses import (
    CrossEntropy,
    FocalLoss,
    InfoNCE,
    PairwiseRankingLoss,
    TorchCrossEntropy,
    TorchInfoNCE,
    TorchRanking,
)
from plugins.losses.closed_forms import (
    cross_entropy_closed_form,
    focal_closed_form,
    infonce_closed_form,
    ranking_closed_form,
)

IGNORE = -100
TOLERANCE = {
    torch.float32: {"rel_tol": 1e-5, "abs_tol": 1e-5},
    torch.float64: {"rel_tol": 1e-10, "abs_tol": 1e-12},
}
DTYPES = st.sampled_from([torch.float32, torch.float64])
SCALES = st.sampled_from([0.01, 1.0, 10.0, 50.0])


@st.composite
def classification(draw: Any, *, padding: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (N, C) of a drawn scale; targets (N,), some set to IGNORE when `padding`."""
    n, c = draw(st.integers(1, 16)), draw(st.integers(1, 10))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = draw(SCALES) * torch.randn(n, c, generator=gen, dtype=torch.float64)
    target = torch.randint(0, c, (n,), generator=gen)
    if padding:
        padded = torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        padded[draw(st.integers(0, n - 1))] = False  # at least one real target
        target[padded] = IGNORE
    return logits, target


@st.composite
def pairs(draw: Any, *, vectors: bool) -> tuple[torch.Tensor, torch.Tensor]:
    n = draw(st.integers(1, 12))
    shape = (n, draw(st.integers(1, 16))) if vectors else (n,)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = draw(SCALES)
    first = scale * torch.randn(*shape, generator=gen, dtype=torch.float64)
    second = first * draw(st.sampled_from([0.0, 1.0])) + scale * torch.randn(
        *shape, generator=gen, dtype=torch.float64
    )
    return first, second


def _close(got: torch.Tensor, expected: float, dtype: torch.dtype) -> bool:
    return math.isclose(float(got), expected, **TOLERANCE[dtype])


@settings(deadline=None, max_examples=60)
@given(
    data=classification(padding=True),
    smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    dtype=DTYPES,
    cls=st.sampled_from([CrossEntropy, TorchCrossEntropy]),
)
def test_cross_entropy_matches_closed_form(
    data: Any, smoothing: float, dtype: torch.dtype, cls: type
) -> None:
    logits, target = data
    logits = logits.to(dtype)
    got = cls(label_smoothing=smoothing)(logits, target)
    expected = cross_entropy_closed_form(
        logits, target, label_smoothing=smoothing, ignore_index=IGNORE
    )
    assert got.dtype == dtype and got.dim() == 0
    assert _close(got, expected, dtype), (float(got), expected)


@settings(deadline=None, max_examples=60)
@given(
    data=classification(padding=False),
    gamma=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]),
    use_alpha=st.booleans(),
    dtype=DTYPES,
)
def test_focal_matches_closed_form(
    data: Any, gamma: float, use_alpha: bool, dtype: torch.dtype
) -> None:
    logits, target = data
    logits = logits.to(dtype)
    c = logits.shape[1]
    alpha = [0.25 + 0.5 * i for i in range(c)] if use_alpha else None
    got = FocalLoss(gamma=gamma, alpha=alpha)(logits, target)
    expected = focal_closed_form(logits, target, gamma=gamma, alpha=alpha)
    assert _close(got, expected, dtype), (float(got), expected)


@settings(deadline=None, max_examples=60)
@given(data=classification(padding=False), dtype=DTYPES)
def test_focal_with_gamma_zero_is_exactly_cross_entropy(data: Any, dtype: torch.dtype) -> None:
    logits, target = data
    x_focal = logits.to(dtype).requires_grad_(True)
    x_ce = logits.to(dtype).requires_grad_(True)
    focal = FocalLoss(gamma=0.0)(x_focal, target)
    ce = TorchCrossEntropy()(x_ce, target)
    focal.backward()
    ce.backward()
    tol = TOLERANCE[dtype]
    assert math.isclose(focal.item(), ce.item(), **tol)
    torch.testing.assert_close(
        x_focal.grad, x_ce.grad, rtol=tol["rel_tol"] * 10, atol=tol["abs_tol"] * 10
    )


@settings(deadline=None, max_examples=60)
@given(
    data=pairs(vectors=True),
    temperature=st.sampled_from([0.05, 0.1, 1.0, 10.0]),
    dtype=DTYPES,
    cls=st.sampled_from([InfoNCE, TorchInfoNCE]),
)
def test_infonce_matches_closed_form(
    data: Any, temperature: float, dtype: torch.dtype, cls: type
) -> None:
    anchors, positives = (t.to(dtype) for t in data)
    got = cls(temperature=temperature)(anchors, positives)
    expected = infonce_closed_form(anchors, positives, temperature=temperature)
    # cosines carry float32 rounding (~1e-7), multiplied by 1/τ in the logits
    tol = (
        TOLERANCE[dtype]
        if dtype == torch.float64
        else {"rel_tol": 1e-5, "abs_tol": 2e-6 / temperature}
    )
    assert math.isclose(float(got), expected, **tol), (float(got), expected)


@settings(deadline=None, max_examples=60)
@given(
    data=pairs(vectors=False),
    dtype=DTYPES,
    cls=st.sampled_from([PairwiseRankingLoss, TorchRanking]),
)
def test_ranking_matches_closed_form(data: Any, dtype: torch.dtype, cls: type) -> None:
    chosen, rejected = (t.to(dtype) for t in data)
    got = cls()(chosen, rejected)
    expected = ranking_closed_form(chosen, rejected)
    assert _close(got, expected, dtype), (float(got), expected)


# --------------------------------------------------------------------------- from scratch = reference


@settings(deadline=None, max_examples=40)
@given(data=classification(padding=True), smoothing=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_gradient_matches_torch(data: Any, smoothing: float) -> None:
    logits, target = data
    mine, theirs = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    CrossEntropy(label_smoothing=smoothing)(mine, target).backward()
    TorchCrossEntropy(label_smoothing=smoothing)(theirs, target).backward()
    torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-9, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(data=pairs(vectors=True), temperature=st.sampled_from([0.05, 1.0]))
def test_infonce_gradient_matches_torch(data: Any, temperature: float) -> None:
    mine = [t.clone().requires_grad_(True) for t in data]
    theirs = [t.clone().requires_grad_(True) for t in data]
    InfoNCE(temperature=temperature)(*mine).backward()
    TorchInfoNCE(temperature=temperature)(*theirs).backward()
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10)


@settings(deadline=None, max_examples=40)
@given(data=pairs(vectors=False))
def test_ranking_gradient_matches_torch(data: Any) -> None:
    mine = [t.clone().requires_grad_(True) for t in data]
    theirs = [t.clone().requires_grad_(True) for t in data]
    PairwiseRankingLoss()(*mine).backward()
    TorchRanking()(*theirs).backward()
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)


def test_ranking_slope_at_zero_margin_is_one_half() -> None:
    chosen = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    PairwiseRankingLoss()(chosen, torch.zeros(1, dtype=torch.float64)).backward()
    assert chosen.grad is not None and float(chosen.grad) == pytest.approx(-0.5)


@pytest.mark.parametrize("cls", [CrossEntropy, FocalLoss, InfoNCE, PairwiseRankingLoss])
def test_huge_inputs_give_finite_loss_and_gradients(cls: type) -> None:
    gen = torch.Generator().manual_seed(0)
    if cls.task == "classification":
        inputs = [1e4 * torch.randn(8, 5, generator=gen), torch.randint(0, 5, (8,), generator=gen)]
    elif cls.task == "contrastive":
        inputs = [1e4 * torch.randn(8, 4, generator=gen), 1e4 * torch.randn(8, 4, generator=gen)]
    else:
        inputs = [1e4 * torch.randn(8, generator=gen), 1e4 * torch.randn(8, generator=gen)]
    leaves = [t.requires_grad_(True) if t.is_floating_point() else t for t in inputs]
    value = cls()(*leaves)
    value.backward()
    assert torch.isfinite(value)
    assert all(torch.isfinite(t.grad).all() for t in leaves if t.is_floating_point())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(1)
    logits, target = torch.randn(32, 7, generator=gen), torch.randint(0, 7, (32,), generator=gen)
    got = CrossEntropy()(logits.to(dtype), target)
    assert got.dtype == dtype
    expected = cross_entropy_closed_form(logits.to(dtype).float(), target)
    assert float(got) == pytest.approx(expected, rel=1e-2)
