"""Every exact attention component equals float64 dense attention under its own pattern.

Random shapes, grouped-query ratios, causal and key-padding masks (including fully padded
sequences), self- and cross-attention lengths; fp32 error below 1e-4.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.attention import COMPONENTS
from suite.oracles import dense_attention

EXACT = [cls for cls in COMPONENTS if cls.exact]
SPARSE_OPTIONS = {
    "sliding-window": st.fixed_dictionaries(
        {"window": st.integers(0, 9), "block_size": st.integers(1, 16)}
    ),
    "strided": st.fixed_dictionaries(
        {"window": st.integers(0, 6), "stride": st.integers(1, 9), "block_size": st.integers(1, 16)}
    ),
    "bigbird": st.fixed_dictionaries(
        {
            "block_size": st.integers(1, 12),
            "window_blocks": st.integers(0, 2),
            "n_global": st.integers(0, 5),
            "n_random": st.integers(0, 3),
            "seed": st.integers(0, 3),
        }
    ),
}


@st.composite
def attention_case(draw: st.DrawFn, same_length: bool) -> dict:
    b = draw(st.integers(1, 3))
    hkv = draw(st.integers(1, 2))
    group = draw(st.sampled_from([1, 2, 3]))
    tq = draw(st.integers(1, 70))
    tk = tq if same_length else draw(st.integers(1, 70))
    d = draw(st.sampled_from([4, 8, 16]))
    lengths = draw(st.lists(st.integers(0, tk), min_size=b, max_size=b))
    padded = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return {
        "b": b,
        "h": hkv * group,
        "hkv": hkv,
        "tq": tq,
        "tk": tk,
        "d": d,
        "lengths": lengths if padded else None,
        "seed": seed,
        "causal": draw(st.booleans()),
    }


def _tensors(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    gen = torch.Generator().manual_seed(case["seed"])
    q = torch.randn(case["b"], case["h"], case["tq"], case["d"], generator=gen)
    k = torch.randn(case["b"], case["hkv"], case["tk"], case["d"], generator=gen)
    v = torch.randn(case["b"], case["hkv"], case["tk"], case["d"], generator=gen)
    mask = None
    if case["lengths"] is not None:
        mask = torch.arange(case["tk"])[None, :] < torch.tensor(case["lengths"])[:, None]
    return q, k, v, mask


def _check(att, case: dict) -> None:
    q, k, v, mask = _tensors(case)
    out = att(q, k, v, causal=case["causal"], key_padding_mask=mask)
    ref = dense_attention(
        q, k, v, att.pattern(case["tq"], case["tk"]), causal=case["causal"], key_padding_mask=mask
    )
    assert out.shape == q.shape and out.dtype == q.dtype
    assert torch.isfinite(out).all()
    err = (out.double() - ref).abs().max().item()
    assert err < 1e-4, f"{att.name}: max abs error {err:.3g} for {case}"


@pytest.mark.parametrize("cls", EXACT, ids=lambda c: c.name)
@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_exact_component_matches_float64_dense(cls, data: st.DataObject) -> None:
    options = data.draw(SPARSE_OPTIONS[cls.name]) if cls.name in SPARSE_OPTIONS else {}
    same = cls.name in SPARSE_OPTIONS or data.draw(st.booleans())
    _check(cls(**options), data.draw(attention_case(same_length=same)))


@pytest.mark.parametrize(
    "cls", [c for c in EXACT if c.name in SPARSE_OPTIONS], ids=lambda c: c.name
)
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_sparse_cross_attention_lengths(cls, data: st.DataObject) -> None:
    """Tq != Tk (a decoder reading an encoder): the gathered layout follows the pattern too."""
    options = data.draw(SPARSE_OPTIONS[cls.name])
    _check(cls(**options), data.draw(attention_case(same_length=False)))


@pytest.mark.parametrize("cls", [c for c in COMPONENTS], ids=lambda c: c.name)
def test_fully_padded_rows_are_zero_and_gradients_finite(cls) -> None:
    att = cls()
    q = torch.randn(2, 4, 20, 8, requires_grad=True)
    k = torch.randn(2, 2, 20, 8, requires_grad=True)
    v = torch.randn(2, 2, 20, 8, requires_grad=True)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1] = False  # the second sequence has no real token at all
    out = att(q, k, v, causal=True, key_padding_mask=mask)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    out.square().sum().backward()
    for x in (q, k, v):
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("cls", EXACT, ids=lambda c: c.name)
def test_half_precision_close_to_float64(cls) -> None:
    """bf16 inputs: softmax runs in fp32 inside; the error is bf16's, not a broken mask."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 96, 32, generator=gen) for _ in range(3))
    att = cls()
    out = att(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True)
    ref = dense_attention(
        q.bfloat16(), k.bfloat16(), v.bfloat16(), att.pattern(96, 96), causal=True
    )
    assert out.dtype == torch.bfloat16
    assert (out.double() - ref).abs().max().item() < 5e-2
