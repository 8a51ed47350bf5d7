"""Each from-scratch norm is the same function as its PyTorch reference, in train and eval mode."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.norms import (
    BatchNorm,
    LayerNorm,
    MaskedBatchNorm,
    RMSNorm,
    TorchBatchNorm,
    TorchLayerNorm,
    TorchRMSNorm,
)

TOLERANCE = {
    torch.float32: {"atol": 2e-5, "rtol": 1e-4},
    torch.float64: {"atol": 1e-10, "rtol": 1e-9},
}
# Input gradients subtract near-equal terms (the mean and the projection on x̂), so they keep
# fewer correct digits than the outputs; a wrong formula is still off by O(1).
GRAD_TOLERANCE = {
    torch.float32: {"atol": 2e-4, "rtol": 1e-3},
    torch.float64: {"atol": 1e-8, "rtol": 1e-7},
}

BATCHNORM_OPTIONS = st.fixed_dictionaries(
    {"eps": st.sampled_from([1e-5, 1e-3]), "momentum": st.sampled_from([0.1, 0.5, None])}
)
# (from-scratch class, reference class, strategy of constructor options shared by both)
PAIRS: list[tuple[type, type, st.SearchStrategy[dict[str, Any]]]] = [
    (BatchNorm, TorchBatchNorm, BATCHNORM_OPTIONS),
    (MaskedBatchNorm, TorchBatchNorm, BATCHNORM_OPTIONS),
    (
        LayerNorm,
        TorchLayerNorm,
        st.fixed_dictionaries({"eps": st.sampled_from([1e-5, 1e-12]), "bias": st.booleans()}),
    ),
    (RMSNorm, TorchRMSNorm, st.fixed_dictionaries({"eps": st.sampled_from([None, 1e-6])})),
]


def _batch(shape: tuple[int, int, int], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    offset = torch.randn(shape[-1], generator=gen, dtype=dtype) * 3
    return offset + torch.randn(*shape, generator=gen, dtype=dtype) * 2


@pytest.mark.parametrize(("cls", "ref_cls", "options"), PAIRS, ids=[p[0].name for p in PAIRS])
@settings(deadline=None, max_examples=25)
@given(
    data=st.data(),
    b=st.integers(1, 4),
    t=st.integers(1, 8),
    c=st.integers(1, 12),
    steps=st.integers(1, 3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    all_true_mask=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_agrees_with_torch_in_train_and_eval(
    cls: type,
    ref_cls: type,
    options: st.SearchStrategy[dict[str, Any]],
    data: st.DataObject,
    b: int,
    t: int,
    c: int,
    steps: int,
    dtype: torch.dtype,
    all_true_mask: bool,
    seed: int,
) -> None:
    if b * t < 3:  # two tokens: BatchNorm outputs are ±1 and the gradients rounding noise
        t = 3
    if cls is LayerNorm:  # C <= 2 is degenerate: outputs are constant (0 or ±1), gradients are
        c = max(c, 3)  # zero in exact arithmetic and pure rounding noise in floating point
    opts = data.draw(options)
    gen = torch.Generator().manual_seed(seed)
    mod, ref = cls(**opts).build(c).to(dtype), ref_cls(**opts).build(c).to(dtype)
    mask = torch.ones(b, t, dtype=torch.bool) if all_true_mask else None
    tol = TOLERANCE[dtype]
    for _ in range(steps):
        x = _batch((b, t, c), gen, dtype)
        upstream = torch.randn(b, t, c, generator=gen, dtype=dtype)
        x_mod, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
        y_mod, y_ref = mod(x_mod, mask), ref(x_ref, mask)
        torch.testing.assert_close(y_mod, y_ref, **tol)
        (y_mod * upstream).sum().backward()
        (y_ref * upstream).sum().backward()
        torch.testing.assert_close(x_mod.grad, x_ref.grad, **GRAD_TOLERANCE[dtype])
        torch.testing.assert_close(mod.weight.grad, ref.weight.grad, **GRAD_TOLERANCE[dtype])
    for buffer in ("running_mean", "running_var", "num_batches_tracked"):
        if hasattr(ref, buffer):
            torch.testing.assert_close(getattr(mod, buffer), getattr(ref, buffer), **tol)
    mod.eval()
    ref.eval()
    x = _batch((b, t, c), gen, dtype)
    with torch.no_grad():
        torch.testing.assert_close(mod(x, mask), ref(x, mask), **tol)


@pytest.mark.parametrize(
    ("cls", "ref_cls"), [(p[0], p[1]) for p in PAIRS], ids=[p[0].name for p in PAIRS]
)
def test_state_dict_is_interchangeable_with_torch(cls: type, ref_cls: type) -> None:
    gen = torch.Generator().manual_seed(0)
    ref = ref_cls().build(8)
    ref(_batch((3, 5, 8), gen, torch.float32))  # move the running statistics off their init
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
    mod = cls().build(8)
    mod.load_state_dict(ref.state_dict())
    mod.eval()
    ref.eval()
    x = _batch((2, 4, 8), gen, torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(mod(x), ref(x), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("cls", "ref_cls"), [(p[0], p[1]) for p in PAIRS], ids=[p[0].name for p in PAIRS]
)
def test_bfloat16_stays_bfloat16_and_close_to_torch(cls: type, ref_cls: type) -> None:
    gen = torch.Generator().manual_seed(1)
    x = _batch((4, 16, 32), gen, torch.float32).bfloat16()
    mod, ref = cls().build(32).bfloat16(), ref_cls().build(32).bfloat16()
    y = mod(x)
    assert y.dtype == torch.bfloat16
    # bfloat16 keeps 8 bits of mantissa: outputs of magnitude ~3 differ by a few ulps (1/64 each)
    torch.testing.assert_close(y.float(), ref(x).float(), atol=0.1, rtol=0.02)
