"""Properties of attention: agreement with dense float64 attention, the scale, masks, GQA, NaN.

Every check compares against `dense_attention` under the component's own `pattern`, so sparse
components (sliding window, strided, BigBird) are held to exactly the pairs they claim to attend
to. Approximate components (`exact = False`, e.g. linear attention) skip the checks that need
exact agreement but keep every masking and shape property.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from suite.oracles import dense_attention
from suite.testing import strategies
from suite.testing.properties._base import (
    Example,
    Property,
    Subject,
    fail,
    register_property,
)
from suite.testing.properties._tensors import (
    call_component,
    mask_tensor,
    max_abs_diff,
    randn,
)

__all__: list[str] = []

ATOL, RTOL = 1e-4, 1e-3  # float32 inputs against a float64 computation
#: (atol, rtol) per input dtype; bfloat16's atol is computed per example (see `_tolerance`)
TOLERANCES = {"float64": (1e-8, 1e-6), "float32": (ATOL, RTOL), "bfloat16": (0.0, 2e-2)}


def _tolerance(dtype: str, q: Tensor, k: Tensor, v: Tensor) -> tuple[float, float]:
    """bfloat16 keeps 8 bits of mantissa: each score s carries an error of about 2⁻⁸·|s|, which
    moves a softmax output by at most twice that times max |v|; allow twice this bound."""
    atol, rtol = TOLERANCES[dtype]
    if dtype == "bfloat16":
        group = q.shape[1] // k.shape[1]
        scores = (
            q.double()
            @ k.double().repeat_interleave(group, 1).transpose(-2, -1)
            / math.sqrt(q.shape[-1])
        )
        atol = 4 * 2**-8 * (2 + float(scores.abs().max())) * float(v.double().abs().max())
    return atol, rtol


def _inputs(ex: Example) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    b, h, hkv, tq, tk, d = (
        ex["batch"],
        ex["heads"],
        ex["kv_heads"],
        ex["tq"],
        ex["tk"],
        ex["head_dim"],
    )
    mag, seed = ex["magnitude"], ex["seed"]
    q = randn((b, h, tq, d), seed, 0, scale=mag)  # (B, H, Tq, D)
    k = randn((b, hkv, tk, d), seed, 1, scale=mag)  # (B, Hkv, Tk, D)
    v = randn((b, hkv, tk, d), seed, 2)  # (B, Hkv, Tk, D)
    dtype = getattr(torch, ex.get("dtype", "float32"))
    return q.to(dtype), k.to(dtype), v.to(dtype), mask_tensor(ex["mask"])


def _attend(
    subject: Subject,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool,
    mask: Tensor | None,
    attn_bias: Tensor | None = None,
) -> Tensor:
    att = call_component(f"{subject.cls.__name__}()", subject.cls)
    extra = {} if attn_bias is None else {"attn_bias": attn_bias}
    bias_note = "" if attn_bias is None else f", attn_bias {tuple(attn_bias.shape)}"
    with torch.no_grad():
        out = call_component(
            f"att(q {tuple(q.shape)}, k {tuple(k.shape)}, causal={causal}, mask={'given' if mask is not None else None}{bias_note})",
            att,
            q,
            k,
            v,
            causal=causal,
            key_padding_mask=mask,
            **extra,
        )
    if not isinstance(out, Tensor):
        fail(f"attention returned {type(out).__name__}, not a Tensor")
    if tuple(out.shape) != tuple(q.shape):
        fail(f"output shape {tuple(out.shape)} != q shape {tuple(q.shape)}")
    bad = int((~torch.isfinite(out)).sum())
    if bad:
        where = f"output has {bad} NaN/inf values (causal={causal}, mask={'given' if mask is not None else None})"
        if _has_query_without_keys(mask, causal=causal, tq=q.shape[-2], tk=k.shape[-2]):
            fail(f"{where}; a query with no key to attend to must give zeros")
        fail(
            f"{where} although every query has a key to attend to; subtract the row maximum before exp, and keep masked scores finite or out of the sum"
        )
    return out


def _has_query_without_keys(mask: Tensor | None, *, causal: bool, tq: int, tk: int) -> bool:
    """Whether some query may attend to no key at all (every key padded, or causally hidden)."""
    if mask is None:
        return False  # causal attention is top-left aligned: query i always sees key 0
    allowed = mask.bool()[:, None, :].expand(-1, tq, -1)  # (B, Tq, Tk)
    if causal:
        allowed = allowed & torch.ones(tq, tk, dtype=torch.bool, device=mask.device).tril()
    return bool((~allowed.any(dim=-1)).any())


def _pattern(subject: Subject, tq: int, tk: int) -> Tensor | None:
    att = subject.cls()
    pattern = call_component(f"pattern({tq}, {tk})", att.pattern, tq, tk)
    if pattern is None:
        return None
    if (
        not isinstance(pattern, Tensor)
        or pattern.dtype != torch.bool
        or tuple(pattern.shape) != (tq, tk)
    ):
        shape = tuple(pattern.shape) if isinstance(pattern, Tensor) else type(pattern).__name__
        fail(
            f"pattern({tq}, {tk}) must be a bool tensor of shape ({tq}, {tk}) or None, got {shape}"
        )
    return pattern.cpu()


def _where(diff: Tensor) -> str:
    b, h, i, _ = (int(x) for x in torch.unravel_index(diff.argmax(), diff.shape))
    return f"batch {b}, head {h}, query {i}"


def _needs_exact(subject: Subject) -> str | None:
    if not subject.cls.exact:
        return "approximate attention (exact = False): agreement is reported by benchmarks, not required"
    return None


# --------------------------------------------------------------------------- checks


def check_reference(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    out = _attend(subject, q, k, v, causal=ex["causal"], mask=mask)
    ref = dense_attention(
        q,
        k,
        v,
        causal=ex["causal"],
        key_padding_mask=mask,
        pattern=_pattern(subject, ex["tq"], ex["tk"]),
    )
    if out.dtype != q.dtype:
        fail(f"output dtype {out.dtype} differs from the input dtype {q.dtype}")
    atol, rtol = _tolerance(ex.get("dtype", "float32"), q, k, v)
    diff = (out.double() - ref).abs().nan_to_num(nan=math.inf)
    if not torch.allclose(out.double(), ref, atol=atol, rtol=rtol):
        fail(
            f"{q.dtype} output differs from dense float64 attention under its pattern by {diff.max().item():.3g} at {_where(diff)} (tolerance {atol:g} + {rtol:g}·|ref|)"
        )


def check_scale(subject: Subject, ex: Example) -> None:
    q, k, v, _ = _inputs(ex)
    d = ex["head_dim"]
    out = _attend(subject, q, k, v, causal=False, mask=None).double()
    pattern = _pattern(subject, ex["tq"], ex["tk"])
    ref = dense_attention(q, k, v, causal=False, key_padding_mask=None, pattern=pattern)
    if torch.allclose(out, ref, atol=ATOL, rtol=RTOL):
        return
    candidates = {
        "1 (no scaling)": 1.0,
        "1/d_k": 1.0 / d,
        "√d_k (multiplied)": math.sqrt(d),
        "1/√(d_k/2)": 1.0 / math.sqrt(d / 2),
    }
    errors = {
        label: max_abs_diff(
            out,
            dense_attention(q, k, v, causal=False, key_padding_mask=None, pattern=pattern, scale=s),
        )
        for label, s in candidates.items()
    }
    best = min(errors, key=errors.__getitem__)
    error = max_abs_diff(out, ref)
    if errors[best] < 1e-3:
        fail(
            f"scores are scaled by {best}, not 1/√d_k = 1/√{d}: output matches softmax(q·kᵀ·{best.split(' ')[0]})v (off by {error:.3g} from the √d_k version)"
        )
    fail(
        f"output differs from softmax(q·kᵀ/√d_k)v with d_k={d} by {error:.3g} (no masks, no causal)"
    )


def check_causal(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    t = ex["tq"]
    pivot = ex["pivot"] % max(t - 1, 1)  # positions <= pivot must not see positions > pivot
    out = _attend(subject, q, k, v, causal=True, mask=mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, pivot + 1 :] = randn(k2[:, :, pivot + 1 :].shape, ex["seed"], 7, scale=3.0)
    v2[:, :, pivot + 1 :] = randn(v2[:, :, pivot + 1 :].shape, ex["seed"], 8, scale=3.0)
    out2 = _attend(subject, q, k2, v2, causal=True, mask=mask)
    diff = (
        (out[:, :, : pivot + 1] - out2[:, :, : pivot + 1]).abs().double().nan_to_num(nan=math.inf)
    )
    if diff.numel() and diff.max() > ATOL:
        per_position = diff.amax(dim=(0, 1, 3))
        leaked = int((per_position > ATOL).nonzero()[0])
        fail(
            f"future token leaked into position {leaked}: with causal=True, changing keys/values at positions {pivot + 1}..{t - 1} changed its output by {per_position[leaked].item():.3g}"
        )


def check_padding(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    assert mask is not None
    out = _attend(subject, q, k, v, causal=ex["causal"], mask=mask)
    padded = ~mask[:, None, :, None]  # (B, 1, Tk, 1)
    k2 = torch.where(padded, randn(k.shape, ex["seed"], 9, scale=10.0), k)
    v2 = torch.where(padded, randn(v.shape, ex["seed"], 10, scale=10.0), v)
    out2 = _attend(subject, q, k2, v2, causal=ex["causal"], mask=mask)
    diff = (out - out2).abs().double().nan_to_num(nan=math.inf)
    if diff.numel() and diff.max() > ATOL:
        b, h, i, _ = (int(x) for x in torch.unravel_index(diff.argmax(), diff.shape))
        pads = [j for j, real in enumerate(mask[b].tolist()) if not real]
        fail(
            f"padding keys {pads} of batch {b} changed the output at query {i}, head {h} by {diff.max().item():.3g}: key_padding_mask (True = real) is not honoured"
        )


def check_gqa(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    h, hkv = ex["heads"], ex["kv_heads"]
    group = h // hkv
    out = _attend(subject, q, k, v, causal=ex["causal"], mask=mask)
    full = _attend(
        subject,
        q,
        k.repeat_interleave(group, dim=1),
        v.repeat_interleave(group, dim=1),
        causal=ex["causal"],
        mask=mask,
    )
    diff = (out - full).abs().double().nan_to_num(nan=math.inf)
    if diff.max() > ATOL:
        head = int(diff.amax(dim=(0, 2, 3)).argmax())
        fail(
            f"with H={h} query heads sharing Hkv={hkv} key/value heads, query head {head} must read key/value head {head // group} (heads grouped as repeat_interleave); output differs from the repeated-heads call by {diff.max().item():.3g}"
        )


def check_no_nan(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    out = _attend(subject, q, k, v, causal=ex["causal"], mask=mask)
    row = out[-1]  # the last batch row has every key padded
    bad = int((~torch.isfinite(out)).sum())
    if bad:
        fail(
            f"batch {ex['batch'] - 1} has every key padded: output has {bad} NaN/inf values (expected zeros)"
        )
    if row.abs().max() > ATOL:
        fail(
            f"batch {ex['batch'] - 1} has every key padded: output should be zeros, got max |out| {row.abs().max().item():.3g}"
        )


def _needs_bias(subject: Subject) -> str | None:
    if not subject.cls.exact:
        return _needs_exact(subject)
    if not subject.cls.supports_bias:
        return "declares supports_bias = False: it refuses attn_bias, so there is nothing to check"
    return None


#: Shapes an additive bias may take, all broadcastable to (B, H, Tq, Tk).
BIAS_SHAPES = ("full", "shared-batch", "shared-heads", "per-key")


def _bias(ex: Example) -> Tensor:
    b, h, tq, tk = ex["batch"], ex["heads"], ex["tq"], ex["tk"]
    shape = {
        "full": (b, h, tq, tk),
        "shared-batch": (1, h, tq, tk),
        "shared-heads": (tq, tk),
        "per-key": (b, 1, 1, tk),
    }[ex["bias"]]
    return randn(shape, ex["seed"], 3, scale=ex["bias_scale"])


def check_bias(subject: Subject, ex: Example) -> None:
    q, k, v, mask = _inputs(ex)
    bias = _bias(ex)
    out = _attend(subject, q, k, v, causal=ex["causal"], mask=mask, attn_bias=bias)
    ref = dense_attention(
        q,
        k,
        v,
        causal=ex["causal"],
        key_padding_mask=mask,
        pattern=_pattern(subject, ex["tq"], ex["tk"]),
        attn_bias=bias,
    )
    diff = (out.double() - ref).abs().nan_to_num(nan=math.inf)
    if not torch.allclose(out.double(), ref, atol=ATOL, rtol=RTOL):
        unbiased = dense_attention(
            q,
            k,
            v,
            causal=ex["causal"],
            key_padding_mask=mask,
            pattern=_pattern(subject, ex["tq"], ex["tk"]),
        )
        hint = (
            ": it matches attention without the bias, so attn_bias is ignored"
            if torch.allclose(out.double(), unbiased, atol=ATOL, rtol=RTOL)
            else ""
        )
        fail(
            f"with attn_bias {tuple(bias.shape)} ({ex['bias']}), output differs from dense float64 softmax(q·kᵀ/√d + bias)·v by {diff.max().item():.3g} at {_where(diff)}{hint}"
        )


def _with_bias(strategy: Any) -> Any:
    from hypothesis import strategies as st

    return st.tuples(strategy, st.sampled_from(BIAS_SHAPES), st.sampled_from([1.0, 4.0])).map(
        lambda t: {**t[0], "bias": t[1], "bias_scale": t[2]}
    )


def _with_pivot(strategy: Any) -> Any:
    from hypothesis import strategies as st

    return st.tuples(strategy, st.integers(0, 1000)).map(lambda pair: {**pair[0], "pivot": pair[1]})


def _fully_masked_edge_cases() -> list[Example]:
    """A fully padded batch row beside a partly padded one, at huge (30) and tiny (1e-3) scores,
    with and without the causal mask: run on every check."""
    mask = [[True, True, True, False, False], [False] * 5]
    base = {"batch": 2, "heads": 2, "kv_heads": 1, "tq": 5, "tk": 5, "head_dim": 8}
    return [
        {**base, "causal": causal, "mask": mask, "magnitude": magnitude}
        | {"dtype": "float32", "seed": 0}
        for causal in (False, True)
        for magnitude in (30.0, 1e-3)
    ]


for _prop in (
    Property(
        "attention.reference-agreement",
        "attention",
        "output (in the input's dtype) equals dense float64 softmax(q·kᵀ/√d)·v under the component's pattern and masks, for float32, float64 and bfloat16",
        lambda s: strategies.attention_inputs(dtypes=("float32", "float64", "bfloat16")),
        check_reference,
        applies=_needs_exact,
    ),
    Property(
        "attention.scale",
        "attention",
        "scores are divided by √d_k (not 1, not d_k) before the softmax",
        lambda s: strategies.attention_inputs(
            causal=False, padding=False, max_group=1, head_dims=(16, 64)
        ),
        check_scale,
        applies=_needs_exact,
    ),
    Property(
        "attention.bias-agreement",
        "attention",
        "with an additive attn_bias broadcastable to (B, H, Tq, Tk), output equals dense float64 softmax(q·kᵀ/√d + bias)·v under the pattern and masks",
        lambda s: _with_bias(strategies.attention_inputs()),
        check_bias,
        applies=_needs_bias,
    ),
    Property(
        "attention.causal-no-leak",
        "attention",
        "with causal=True, changing future keys and values does not change earlier outputs",
        lambda s: _with_pivot(strategies.attention_inputs(causal=True)),
        check_causal,
    ),
    Property(
        "attention.padding-ignored",
        "attention",
        "keys and values at padded positions (mask False) have no effect on any output",
        lambda s: strategies.attention_inputs(padding=True),
        check_padding,
    ),
    Property(
        "attention.gqa-shapes",
        "attention",
        "with Hkv < H key/value heads, output is (B, H, Tq, D) and equals the call with k, v repeated per group",
        lambda s: strategies.attention_inputs(min_group=2),
        check_gqa,
    ),
    Property(
        "attention.no-nan-padded-rows",
        "attention",
        "a batch row whose keys are all padded gives zeros, never NaN",
        lambda s: strategies.attention_inputs(fully_padded_row=True),
        check_no_nan,
        explicit=lambda s: _fully_masked_edge_cases(),
    ),
):
    register_property(_prop)
