"""Linear attention against its own formula in float64; the FlexAttention backend against gathering."""

from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.attention.bigbird import BigBirdAttention
from plugins.attention.linear import FEATURE_MAPS, LinearAttention
from plugins.attention.sliding_window import SlidingWindowAttention
from plugins.attention.strided import StridedAttention
from suite.oracles import dense_attention


def _linear_reference(q, k, v, causal, mask, feature_map):
    """φ(q)φ(k)ᵀ written out as a T×T matrix in float64: what the prefix sums must equal."""
    phi = FEATURE_MAPS[feature_map]
    group = q.shape[1] // k.shape[1]
    q, k, v = (
        q.double(),
        k.double().repeat_interleave(group, 1),
        v.double().repeat_interleave(group, 1),
    )
    sim = phi(q) @ phi(k).transpose(-1, -2)
    if causal:
        sim = sim * torch.ones(q.shape[2], k.shape[2], dtype=torch.double).tril()
    if mask is not None:
        sim = sim * mask[:, None, None, :]
    den = sim.sum(-1, keepdim=True)
    return sim @ v / den.masked_fill(den == 0, 1.0)


@settings(deadline=None, max_examples=30)
@given(
    b=st.integers(1, 2),
    hkv=st.integers(1, 2),
    group=st.integers(1, 3),
    tq=st.integers(1, 50),
    tk=st.integers(1, 50),
    chunk=st.integers(1, 20),
    causal=st.booleans(),
    padded=st.booleans(),
    feature_map=st.sampled_from(sorted(FEATURE_MAPS)),
    seed=st.integers(0, 1000),
)
def test_linear_prefix_sums_equal_the_explicit_kernel(
    b, hkv, group, tq, tk, chunk, causal, padded, feature_map, seed
) -> None:
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hkv * group, tq, 8, generator=gen)
    k, v = (torch.randn(b, hkv, tk, 8, generator=gen) for _ in range(2))
    mask = torch.rand(b, tk, generator=gen) > 0.3 if padded else None
    out = LinearAttention(feature_map=feature_map, chunk_size=chunk)(
        q, k, v, causal=causal, key_padding_mask=mask
    )
    ref = _linear_reference(q, k, v, causal, mask, feature_map)
    assert (out.double() - ref).abs().max().item() < 1e-4


def test_linear_is_an_approximation_and_says_so() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 64, 16, generator=gen) for _ in range(3))
    att = LinearAttention()
    err = (att(q, k, v).double() - dense_attention(q, k, v)).abs().max().item()
    assert att.exact is False and att.pattern(4, 4) is None
    assert err > 1e-3  # not softmax attention: the agreement benchmark reports this number


SPARSE_FLEX = [
    SlidingWindowAttention(window=7, block_size=8),
    StridedAttention(window=3, stride=5, block_size=16),
    BigBirdAttention(block_size=8, n_global=3, n_random=2, seed=1),
]


def _flex_twin(att, **extra):
    twin = type(att).__new__(type(att))
    twin.__dict__.update(att.__dict__)
    twin.backend, twin._layouts, twin.flex_cache = "flex", {}, {}
    twin.__dict__.update(extra)
    return twin


@pytest.mark.parametrize("att", SPARSE_FLEX, ids=lambda a: a.name)
@pytest.mark.parametrize("causal", [False, True])
def test_flex_backend_eager_on_cpu_matches_dense(att, causal: bool) -> None:
    """Uncompiled FlexAttention runs on CPU (densely); it must give the same numbers."""
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(2, 4, 150, 16, generator=gen)
    k, v = (torch.randn(2, 2, 150, 16, generator=gen) for _ in range(2))
    mask = torch.ones(2, 150, dtype=torch.bool)
    mask[1, 90:] = False
    flex = _flex_twin(att, compile_flex=False)
    out = flex(q, k, v, causal=causal, key_padding_mask=mask)
    ref = dense_attention(q, k, v, att.pattern(150, 150), causal=causal, key_padding_mask=mask)
    assert (out.double() - ref).abs().max().item() < 1e-4
    assert flex.resolved_backend(torch.device("cpu")) == "flex"
    assert att.resolved_backend(torch.device("cpu")) == "gather"
    assert att.resolved_backend(torch.device("cuda")) == "flex"


@pytest.mark.slow
@pytest.mark.parametrize("att", SPARSE_FLEX, ids=lambda a: a.name)
def test_flex_compiled_on_cpu_matches_dense_and_is_cached(att) -> None:
    """Compiled FlexAttention (C++ kernel on CPU) visits only the BlockMask's blocks: checks the table.

    Slow: the first compilation takes tens of seconds on a small CPU.
    """
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, 4, 300, 16, generator=gen)
    k, v = (torch.randn(2, 2, 300, 16, generator=gen) for _ in range(2))
    flex = _flex_twin(att, compile_flex=True)
    for causal in (False, True):
        lengths = torch.tensor([300, 170])
        mask = torch.arange(300)[None, :] < lengths[:, None]
        with torch.no_grad():  # compiled FlexAttention on CPU is inference-only
            out = flex(q, k, v, causal=causal, key_padding_mask=mask)
        ref = dense_attention(q, k, v, att.pattern(300, 300), causal=causal, key_padding_mask=mask)
        assert (out.double() - ref).abs().max().item() < 1e-4
    mask2 = torch.arange(300)[None, :] < torch.tensor([120, 300])[:, None]
    start = time.perf_counter()
    with torch.no_grad():
        out = flex(q, k, v, causal=True, key_padding_mask=mask2)  # new padding: no recompilation
    assert time.perf_counter() - start < 5.0
    ref = dense_attention(q, k, v, att.pattern(300, 300), causal=True, key_padding_mask=mask2)
    assert (out.double() - ref).abs().max().item() < 1e-4
