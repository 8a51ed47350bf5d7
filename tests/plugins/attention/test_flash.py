"""`flash`: tiled online softmax against the float64 oracle and SDPA, gradients, memory growth.

Tiles are drawn small (1..16 rows and keys) so that a short sequence crosses many tiles, with
lengths that are not multiples of them, Tq != Tk, causal, key padding with fully padded rows,
grouped-query heads and every broadcast shape of `attn_bias`.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plugins.attention.flash import FlashAttention
from plugins.attention.naive import NaiveAttention
from plugins.attention.reference import SDPAAttention
from suite.oracles import dense_attention
from suite.threads import single_thread
from suite.timing import measure_peak_memory

BIAS_SHAPES = ("none", "full", "shared-batch", "shared-heads", "per-key", "per-query")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiles of microseconds: a second intra-op thread only adds waits on a busy machine."""
    with single_thread():
        yield


@st.composite
def flash_case(draw: st.DrawFn) -> dict:
    b = draw(st.integers(1, 3))
    hkv = draw(st.integers(1, 2))
    group = draw(st.sampled_from([1, 2, 3]))
    tq, tk = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    lengths = draw(st.lists(st.integers(0, tk), min_size=b, max_size=b))  # 0: fully padded
    return {
        "b": b,
        "h": hkv * group,
        "hkv": hkv,
        "tq": tq,
        "tk": tk,
        "d": draw(st.sampled_from([4, 8, 16])),
        "causal": draw(st.booleans()),
        "lengths": lengths if draw(st.booleans()) else None,
        "bias": draw(st.sampled_from(BIAS_SHAPES)),
        "block_q": draw(st.integers(1, 16)),
        "block_k": draw(st.integers(1, 16)),
        "seed": draw(st.integers(0, 2**16)),
        "transposed": draw(st.booleans()),  # q, k, v as views of (B, T, H, D) projections
    }


#: Every hard part at once: GQA, Tq != Tk, causal, a fully padded sequence, a full bias, tiles
#: that divide neither length.
EDGE_CASE = {
    "b": 2,
    "h": 4,
    "hkv": 2,
    "tq": 9,
    "tk": 13,
    "d": 8,
    "causal": True,
    "lengths": [5, 0],
    "bias": "full",
    "block_q": 4,
    "block_k": 3,
    "seed": 0,
    "transposed": True,
}

#: q as a transposed view, one query head per key/value head, one query tile: the tile is a
#: permuted view of q, not a copy (an accumulator shaped like it must still be contiguous).
TRANSPOSED_CASE = {**EDGE_CASE, "h": 2, "block_q": 16}


def _tensors(case: dict, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(case["seed"])
    b, h, hkv, tq, tk, d = (case[key] for key in ("b", "h", "hkv", "tq", "tk", "d"))
    q = torch.randn(b, tq, h, d, generator=gen, dtype=dtype).transpose(1, 2)
    k = torch.randn(b, tk, hkv, d, generator=gen, dtype=dtype).transpose(1, 2)
    v = torch.randn(b, tk, hkv, d, generator=gen, dtype=dtype).transpose(1, 2)
    if not case["transposed"]:
        q, k, v = (x.contiguous() for x in (q, k, v))
    shape = {
        "none": None,
        "full": (b, h, tq, tk),
        "shared-batch": (1, h, tq, tk),
        "shared-heads": (tq, tk),
        "per-key": (b, 1, 1, tk),
        "per-query": (h, tq, 1),
    }[case["bias"]]
    bias = None if shape is None else 2.0 * torch.randn(shape, generator=gen, dtype=dtype)
    return q, k, v, bias


def _mask(case: dict) -> torch.Tensor | None:
    if case["lengths"] is None:
        return None
    return torch.arange(case["tk"])[None, :] < torch.tensor(case["lengths"])[:, None]


def _kwargs(case: dict, bias: torch.Tensor | None) -> dict:
    extra = {} if bias is None else {"attn_bias": bias}
    return {"causal": case["causal"], "key_padding_mask": _mask(case), **extra}


def _check_forward(case: dict) -> None:
    """float32 output within 1e-5 of the float64 oracle, and close to SDPA."""
    q, k, v, bias = _tensors(case, torch.float32)
    att = FlashAttention(block_q=case["block_q"], block_k=case["block_k"])
    out = att(q, k, v, **_kwargs(case, bias))
    oracle = dense_attention(q, k, v, attn_bias=bias, **_kwargs(case, None))
    assert out.shape == q.shape and out.dtype == q.dtype and torch.isfinite(out).all()
    assert (out.double() - oracle).abs().max().item() < 1e-5, case
    torch.testing.assert_close(out, SDPAAttention()(q, k, v, **_kwargs(case, bias)))
    if case["lengths"] is not None:  # a sequence with no real key gives exact zeros
        empty = torch.tensor(case["lengths"]) == 0
        assert torch.equal(out[empty], torch.zeros_like(out[empty]))


def _check_gradients(case: dict) -> None:
    """The recomputing backward (P = e^(S − L) per tile) against autograd through the oracle."""
    q, k, v, bias = _tensors(case, torch.float64)
    inputs = [x.requires_grad_() for x in (q, k, v, bias) if x is not None]
    att = FlashAttention(block_q=case["block_q"], block_k=case["block_k"])
    out = att(q, k, v, **_kwargs(case, bias))
    oracle = dense_attention(q, k, v, attn_bias=bias, **_kwargs(case, None))
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    grads = torch.autograd.grad(out, inputs, upstream)
    expected = torch.autograd.grad(oracle, inputs, upstream)
    for name, got, want in zip("qkvb", grads, expected):
        assert got.shape == want.shape, name
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8, msg=f"d{name}: {case}")


@settings(deadline=None, max_examples=12)
@given(case=flash_case())
@example(case=EDGE_CASE)
@example(case=TRANSPOSED_CASE)
def test_float32_matches_float64_oracle_and_sdpa(case: dict) -> None:
    _check_forward(case)


@settings(deadline=None, max_examples=8)
@given(case=flash_case())
@example(case=EDGE_CASE)
@example(case=TRANSPOSED_CASE)
def test_gradients_match_float64_autograd(case: dict) -> None:
    _check_gradients(case)


@pytest.mark.slow
@settings(deadline=None, max_examples=300)
@given(case=flash_case())
def test_forward_and_gradients_exhaustively(case: dict) -> None:
    _check_forward(case)
    _check_gradients(case)


def test_gradient_through_one_input_only_and_in_float32() -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 33, 8, generator=gen, requires_grad=True)
    k, v = (torch.randn(2, 2, 45, 8, generator=gen) for _ in range(2))
    out = FlashAttention(block_q=8, block_k=16)(q, k, v, causal=True)
    (grad,) = torch.autograd.grad(out.square().sum(), q)
    qd = q.detach().double().requires_grad_()
    ref = dense_attention(qd, k, v, causal=True)
    (want,) = torch.autograd.grad(ref.square().sum(), qd)
    assert grad.dtype == torch.float32
    assert (grad.double() - want).abs().max().item() < 1e-5


def test_causal_key_blocks_above_the_diagonal_are_never_read() -> None:
    """NaN keys and values in a block no query of a query block may see leave its rows finite:
    the block is skipped, not computed and masked (masking would give 0·NaN = NaN)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 64, 8, generator=gen) for _ in range(3))
    k[:, :, 48:] = float("nan")
    v[:, :, 48:] = float("nan")
    out = FlashAttention(block_q=16, block_k=16)(q, k, v, causal=True)
    ref = dense_attention(q[:, :, :48], k[:, :, :48], v[:, :, :48], causal=True)
    assert torch.isfinite(out[:, :, :48]).all()
    assert (out[:, :, :48].double() - ref).abs().max().item() < 1e-5
    assert not torch.isfinite(NaiveAttention()(q, k, v, causal=True)[:, :, :48]).all()


def test_bfloat16_inputs_give_bfloat16_close_to_float64() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 70, 16, generator=gen).bfloat16() for _ in range(3))
    out = FlashAttention(block_q=16, block_k=32)(q, k, v, causal=True)
    assert out.dtype == torch.bfloat16
    assert (out.double() - dense_attention(q, k, v, causal=True)).abs().max().item() < 2e-2


@pytest.mark.parametrize("option", ["block_q", "block_k"])
def test_bad_block_sizes_name_the_value(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option}.*-4"):
        FlashAttention(**{option: -4})


def _peak_bytes(att: object, t: int, *, backward: bool = False) -> int:
    """Profiled peak of one forward (no grad) or one forward and backward at length t."""
    gen = torch.Generator().manual_seed(t)
    q, k, v = (torch.randn(1, 2, t, 32, generator=gen).requires_grad_(backward) for _ in range(3))

    def call() -> None:
        with torch.set_grad_enabled(backward):
            out = att(q, k, v, causal=True)  # type: ignore[operator]
        if backward:
            out.sum().backward()

    peak = measure_peak_memory(call)
    assert peak is not None and peak > 0
    return peak


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
def test_peak_memory_grows_linearly_not_quadratically(backward: bool) -> None:
    """Doubling T at most doubles flash's peak (output, accumulators, the saved log-sum-exp:
    the backward recomputes P instead of storing it); naive's score matrix quadruples."""
    flash = FlashAttention(block_q=256, block_k=256)  # few tiles: the profiler costs per op
    naive = NaiveAttention()
    flash_growth = _peak_bytes(flash, 1024, backward=backward) / _peak_bytes(
        flash, 512, backward=backward
    )
    naive_growth = _peak_bytes(naive, 1024, backward=backward) / _peak_bytes(
        naive, 512, backward=backward
    )
    assert flash_growth < 2.5, flash_growth
    assert naive_growth > 3.5, naive_growth
