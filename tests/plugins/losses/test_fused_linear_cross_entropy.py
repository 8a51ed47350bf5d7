"""fused-linear-cross-entropy equals the unfused head in value and gradients, at a fraction of its memory."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import plugins.losses as losses
from plugins.losses import FusedLinearCrossEntropy, LossLMHeadMemory, TorchLinearCrossEntropy
from plugins.losses.data import lm_head_inputs
from suite import Loss, Measurement, RunContext
from suite.errors import ComponentInputError
from suite.testing import check_component
from suite.threads import single_thread
from suite.timing import measure_peak_memory

#: relative to the largest reference entry: float32 chunked sums round differently
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _loss_and_grads(
    loss: Loss, hidden: Tensor, weight: Tensor, target: Tensor, *, upstream: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    value = loss(h, w, target)
    (value * upstream).backward()
    assert h.grad is not None and w.grad is not None
    return value.detach(), h.grad, w.grad


def _assert_close(got: Tensor, want: Tensor, dtype: torch.dtype, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    scale = max(float(want.abs().max()), 1e-3) if want.numel() else 1.0
    error = float((got.double() - want.double()).abs().max()) if want.numel() else 0.0
    assert error <= TOLERANCE[dtype] * scale, f"{what}: error {error:.3g} at scale {scale:.3g}"


@st.composite
def _heads(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 24))
    return {
        "n": n,
        "dim": draw(st.integers(1, 8)),
        "vocab": draw(st.integers(1, 20)),
        "chunk_size": draw(st.integers(1, n + 3)),  # mostly sizes that do not divide n
        "padded": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "scale": draw(st.sampled_from([0.01, 1.0, 10.0])),
        "upstream": draw(st.sampled_from([1.0, -2.5])),
        "seed": draw(st.integers(0, 2**31 - 1)),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@settings(max_examples=25, deadline=None)
@given(ex=_heads())
def test_loss_and_gradients_equal_the_unfused_head(dtype: torch.dtype, ex: dict[str, Any]) -> None:
    g = torch.Generator().manual_seed(ex["seed"])
    n, d, v = ex["n"], ex["dim"], ex["vocab"]
    hidden = (ex["scale"] * torch.randn(n, d, generator=g)).to(dtype)
    weight = (torch.randn(v, d, generator=g) / d**0.5).to(dtype)
    target = torch.randint(0, v, (n,), generator=g)
    target[torch.tensor(ex["padded"])] = -100
    fused = _loss_and_grads(
        FusedLinearCrossEntropy(chunk_size=ex["chunk_size"]),
        hidden,
        weight,
        target,
        upstream=ex["upstream"],
    )
    unfused = _loss_and_grads(
        TorchLinearCrossEntropy(), hidden, weight, target, upstream=ex["upstream"]
    )
    if all(ex["padded"]):  # 0/0: NaN like F.cross_entropy, and zero gradients
        assert torch.isnan(fused[0]) and torch.isnan(unfused[0])
        assert not fused[1].any() and not fused[2].any()
        return
    for got, want, what in zip(fused, unfused, ("loss", "d hidden", "d weight")):
        _assert_close(got, want, dtype, what)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 8, 1024])
def test_chunks_that_do_not_divide_n_give_the_definition(chunk_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    hidden, weight, target = lm_head_inputs(8, 5, 11, g, ignore_index=-100, padded_share=0.3)
    hidden, weight = hidden.double(), weight.double()
    value, d_hidden, d_weight = _loss_and_grads(
        FusedLinearCrossEntropy(chunk_size=chunk_size), hidden, weight, target
    )
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    expected = F.cross_entropy(h @ w.T, target)  # the contract's definition
    expected.backward()
    assert float(value) == pytest.approx(float(expected), rel=1e-12)
    assert torch.allclose(d_hidden, h.grad, rtol=0, atol=1e-12)  # type: ignore[arg-type]
    assert torch.allclose(d_weight, w.grad, rtol=0, atol=1e-12)  # type: ignore[arg-type]


def test_bfloat16_accumulates_in_float32() -> None:
    """On bfloat16 inputs the fused loss is the float32 loss of those inputs, rounded once."""
    g = torch.Generator().manual_seed(1)
    hidden, weight, target = lm_head_inputs(64, 16, 4000, g, dtype=torch.bfloat16)
    value, d_hidden, d_weight = _loss_and_grads(
        FusedLinearCrossEntropy(chunk_size=24), hidden, weight, target
    )
    assert value.dtype == d_hidden.dtype == d_weight.dtype == torch.bfloat16
    exact = _loss_and_grads(TorchLinearCrossEntropy(), hidden.float(), weight.float(), target)
    assert float(value) == pytest.approx(float(exact[0]), rel=2**-7)  # one bfloat16 rounding
    for got, want in ((d_hidden, exact[1]), (d_weight, exact[2])):
        assert float((got.float() - want).abs().max()) <= 2**-7 * float(want.abs().max())


@pytest.mark.parametrize("ignore_index", [-100, -1, 0])
def test_ignore_index_is_left_out_of_the_mean(ignore_index: int) -> None:
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(6, 3, generator=g, dtype=torch.float64)
    weight = torch.randn(5, 3, generator=g, dtype=torch.float64)
    target = torch.tensor([1, ignore_index, 2, 3, ignore_index, 4])
    fused = FusedLinearCrossEntropy(chunk_size=4, ignore_index=ignore_index)
    kept = target != ignore_index
    expected = F.cross_entropy(hidden[kept] @ weight.T, target[kept])
    value, d_hidden, _ = _loss_and_grads(fused, hidden, weight, target)
    assert float(value) == pytest.approx(float(expected), rel=1e-12)
    assert not d_hidden[~kept].any()  # padded rows get no gradient


def test_all_padding_is_nan_like_pytorch() -> None:
    hidden, weight = torch.randn(3, 4), torch.randn(5, 4)
    target = torch.full((3,), -100)
    fused = _loss_and_grads(FusedLinearCrossEntropy(chunk_size=2), hidden, weight, target)
    unfused = _loss_and_grads(TorchLinearCrossEntropy(), hidden, weight, target)
    assert torch.isnan(fused[0]) and torch.isnan(unfused[0])
    for got, want in zip(fused[1:], unfused[1:]):
        assert torch.equal(got, want)  # zeros


def test_huge_hidden_states_give_finite_loss_and_gradients() -> None:
    g = torch.Generator().manual_seed(5)
    hidden = 1e4 * torch.randn(8, 4, generator=g)  # logits in the tens of thousands
    weight, target = torch.randn(6, 4, generator=g), torch.randint(0, 6, (8,), generator=g)
    fused = _loss_and_grads(FusedLinearCrossEntropy(chunk_size=3), hidden, weight, target)
    unfused = _loss_and_grads(TorchLinearCrossEntropy(), hidden, weight, target)
    assert all(torch.isfinite(t).all() for t in fused)
    for got, want, what in zip(fused, unfused, ("loss", "d hidden", "d weight")):
        _assert_close(got, want, torch.float32, what)


def test_without_autograd_and_with_one_input_requiring_grad() -> None:
    g = torch.Generator().manual_seed(3)
    hidden, weight, target = lm_head_inputs(10, 4, 9, g)
    loss = FusedLinearCrossEntropy(chunk_size=3)
    with torch.no_grad():
        plain = loss(hidden, weight, target)
    w = weight.clone().requires_grad_(True)
    value = loss(hidden, w, target)  # a frozen input: no gradient computed for it
    value.backward()
    expected = F.cross_entropy(hidden @ weight.T, target)
    assert float(plain) == pytest.approx(float(expected), rel=1e-6)
    assert float(value) == pytest.approx(float(expected), rel=1e-6)
    assert w.grad is not None and w.grad.shape == weight.shape


def test_a_kept_graph_can_be_backpropagated_twice() -> None:
    hidden = torch.randn(4, 3, requires_grad=True)
    weight = torch.randn(5, 3, requires_grad=True)
    value = 2.0 * FusedLinearCrossEntropy(chunk_size=3)(hidden, weight, torch.tensor([0, 1, 2, 3]))
    value.backward(retain_graph=True)
    first = hidden.grad.clone()  # type: ignore[union-attr]
    value.backward()
    assert torch.allclose(hidden.grad, 2 * first)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [FusedLinearCrossEntropy, TorchLinearCrossEntropy])
@pytest.mark.parametrize(
    ("hidden", "weight", "target", "message"),
    [
        ((4,), (5, 4), [0, 1, 2, 3], r"hidden must be \(N, D\); got shape \(4,\)"),
        ((4, 3), (5, 2), [0, 1, 2, 3], r"weight must be \(V, D\) with D = 3.*got \(5, 2\)"),
        ((4, 3), (5, 3), [0, 1, 2], r"target must be \(N,\) = \(4,\)"),
        ((4, 3), (5, 3), [0, 1, 2, 5], r"target ids must be in \[0, 5\).*\[5\]"),
        ((4, 3), (5, 3), [0, -3, 2, 1], r"target ids must be in \[0, 5\).*\[-3\]"),
        ((0, 3), (5, 3), [], r"empty batch"),
    ],
)
def test_bad_shapes_are_one_line_errors(
    cls: type[Loss], hidden: tuple, weight: tuple, target: list, message: str
) -> None:
    with pytest.raises(ComponentInputError, match=message):
        cls()(torch.zeros(hidden), torch.zeros(weight), torch.tensor(target, dtype=torch.long))


@pytest.mark.parametrize("cls", [FusedLinearCrossEntropy, TorchLinearCrossEntropy])
def test_bad_dtypes_are_one_line_errors(cls: type[Loss]) -> None:
    target = torch.tensor([0, 1])
    with pytest.raises(ComponentInputError, match="must have the dtype and device of hidden"):
        cls()(torch.zeros(2, 3), torch.zeros(4, 3, dtype=torch.float64), target)
    with pytest.raises(ComponentInputError, match="integer token ids"):
        cls()(torch.zeros(2, 3), torch.zeros(4, 3), target.float())
    with pytest.raises(ComponentInputError, match="hidden must be floating point"):
        cls()(torch.zeros(2, 3, dtype=torch.long), torch.zeros(4, 3), target)
    with pytest.raises(ComponentInputError, match=r"takes \(hidden, weight, target\); got 2"):
        cls()(torch.zeros(2, 3), torch.zeros(4, 3))


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_chunk_size_must_be_a_positive_int(chunk_size: Any) -> None:
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        FusedLinearCrossEntropy(chunk_size=chunk_size)


def _peak(loss: Loss, hidden: Tensor, weight: Tensor, target: Tensor) -> int:
    h = hidden.clone().requires_grad_(True)
    w = weight.clone().requires_grad_(True)
    with single_thread():  # memory does not depend on threads; time on a busy machine does
        peak = measure_peak_memory(lambda: loss(h, w, target).backward())
    assert peak is not None and peak > 0
    return peak


def test_peak_memory_is_at_most_a_quarter_of_the_unfused_head() -> None:
    g = torch.Generator().manual_seed(4)
    hidden, weight, target = lm_head_inputs(256, 8, 4096, g)  # logits (256, 4096): 4 MiB
    fused = _peak(FusedLinearCrossEntropy(chunk_size=32), hidden, weight, target)
    unfused = _peak(TorchLinearCrossEntropy(), hidden, weight, target)
    assert unfused >= 256 * 4096 * 4  # it holds the logits at least once
    assert fused <= 0.25 * unfused, f"fused {fused} B vs unfused {unfused} B"


def test_memory_benchmark_measures_against_the_reference() -> None:
    bench = LossLMHeadMemory()
    assert bench.applies_to(FusedLinearCrossEntropy) and bench.applies_to(TorchLinearCrossEntropy)
    assert not any(bench.applies_to(cls) for cls in losses.COMPONENTS if cls.task != "lm-head")
    assert {"tokens": 8192, "hidden": 512, "vocab": 32000} in [
        {k: p[k] for k in ("tokens", "hidden", "vocab")} for p in bench.params(quick=False)
    ]
    params = {"tokens": 256, "hidden": 8, "vocab": 4096, "chunk_size": 32}
    ctx = RunContext(repeats=3, warmup=1, reference=TorchLinearCrossEntropy)
    out = bench.run(FusedLinearCrossEntropy, params, ctx)
    assert isinstance(out, Measurement) and out.timing is not None
    m = out.metrics
    assert m["loss_abs_diff"] < 1e-5 and m["grad_max_rel_diff"] < 1e-5
    assert m["peak_memory_ratio"] < 0.5 and m["logits_bytes"] == 256 * 4096 * 4
    assert math.isfinite(m["paired_ratio"])
    alone = bench.run(TorchLinearCrossEntropy, params, RunContext(repeats=3, warmup=1))
    assert (
        isinstance(alone, Measurement) and alone.peak_bytes and "paired_ratio" not in alone.metrics
    )
    # the same reference peak, measured in its own cell
    assert out.peak_bytes == pytest.approx(m["peak_memory_ratio"] * alone.peak_bytes, rel=0.05)


class _HalfWeightGradientHead(Loss):
    """Wrong on purpose: the right value, but half the gradient of `weight` (a hand-written
    backward that forgets a factor)."""

    name: ClassVar[str] = "half-weight-gradient-head"
    reference: ClassVar[str | None] = "torch-linear-cross-entropy"
    task: ClassVar[str] = "lm-head"

    def forward(self, hidden: Tensor, weight: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        halved = 0.5 * weight + (0.5 * weight).detach()  # equal to weight, half its gradient
        return F.cross_entropy(hidden @ halved.T, target)


def test_the_kit_catches_a_wrong_gradient_that_the_value_hides() -> None:
    report = check_component(
        _HalfWeightGradientHead,
        max_examples=10,
        timing=False,
        only=["loss.closed-form", "loss.gradient-agreement"],
    )
    status = {r.property_id: r for r in report.results}
    assert status["loss.closed-form"].ok  # the value is right
    assert not status["loss.gradient-agreement"].ok  # the gradient is not
    assert "gradient of" in status["loss.gradient-agreement"].message
