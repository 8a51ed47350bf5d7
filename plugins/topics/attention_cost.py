"""Interview topics of the area attention: the quadratic cost vs sparse patterns, and the KV
cache of multi-head, grouped-query and multi-query attention."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

import suite
from plugins.topics._attention_common import _attention
from suite.metrics import growth_exponent
from suite.nn import MultiHeadAttention
from suite.threads import single_thread


class _LargestTensor(TorchFunctionMode):
    """Records the largest tensor any torch function returns: the score matrix, if one is made."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for item in out if isinstance(out, tuple | list) else (out,):
            if isinstance(item, Tensor):
                self.largest = max(self.largest, item.numel() * item.element_size())
        return out


def _largest_tensor_bytes(fn: Callable[..., Any], *args: Tensor) -> int:
    with _LargestTensor() as mode:
        fn(*args)
    return mode.largest


class QuadraticVsSparse(suite.Topic):
    """Dense attention scores every query against every key: T² pairs, so time and the score
    matrix grow quadratically with the sequence length (FlashAttention removes the T² memory
    but not the T² arithmetic). Sparse patterns attend a fixed number of keys per query, a local
    window, a few global tokens, some random blocks, so pairs, memory and time grow linearly at
    fixed window. What they give up is direct access to distant tokens; several layers or global
    tokens carry information across.

    Formula: dense pairs = T²;  sliding window pairs ≈ (2w + 1) T;
    BigBird pairs ≈ ((2w + 1 + r) b + 2g) T;  growth exponent = slope of log cost against log T

    Pitfalls:
    - masking a dense T×T matrix to a band is not sparse attention: it still computes T² scores.
    - small T hides the quadratic term behind constant overheads; fit exponents over a range.
    - sparse kernels pay for gathering and block rounding; the break-even T can be large.

    Follow-up questions:
    - Why do linear-attention models still trail softmax attention on recall tasks?
    - How does FlashAttention change the memory but not the FLOPs?
    - What receptive field do L layers of a window w give?
    """

    name = "quadratic-attention-vs-sparse"
    area = "attention"
    question = "Why is attention O(T²), and how do sparse attention patterns make it linear?"
    components = ("attention:naive", "attention:sliding-window", "attention:bigbird")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        lengths = ctx.pick([256, 512, 1024, 2048], [256, 512, 1024])
        atts = {
            "naive": _attention("naive"),
            "sliding-window": _attention("sliding-window", window=16, block_size=16),
            "bigbird": _attention("bigbird", block_size=16, n_global=16, n_random=2, seed=ctx.seed),
        }
        rows: list[dict[str, Any]] = []
        with single_thread(), torch.no_grad():
            for t in lengths:
                q, k, v = (torch.randn(1, 1, t, 16, generator=g) for _ in range(3))
                for name, att in atts.items():
                    sparse = getattr(att, "attended_pairs", None)  # the gathered pairs
                    start = time.perf_counter()
                    largest = _largest_tensor_bytes(att, q, k, v)
                    rows.append(
                        {
                            "component": name,
                            "T": t,
                            "pairs": t * t if sparse is None else sparse(t, t, causal=False),
                            "largest_tensor_bytes": largest,
                            "seconds": time.perf_counter() - start,
                        }
                    )
        fits: dict[str, dict[str, float]] = {}
        for name in atts:
            mine = [r for r in rows if r["component"] == name]
            xs = [float(r["T"]) for r in mine]
            fits[name] = {
                key: growth_exponent(xs, [float(r[key]) for r in mine])
                for key in ("pairs", "largest_tensor_bytes", "seconds")
            }
        claims = [
            suite.Claim.of(
                "dense attention: pairs grow as T^{p:.3g}, the largest tensor as T^{m:.3g}",
                holds=abs(fits["naive"]["pairs"] - 2) < 0.05
                and abs(fits["naive"]["largest_tensor_bytes"] - 2) < 0.2,
                p=fits["naive"]["pairs"],
                m=fits["naive"]["largest_tensor_bytes"],
            )
        ]
        claims += [
            suite.Claim.of(
                f"{name}: pairs grow as T^{{p:.3g}}, the largest tensor as T^{{m:.3g}}",
                holds=abs(fits[name]["pairs"] - 1) < 0.2
                and abs(fits[name]["largest_tensor_bytes"] - 1) < 0.2,
                p=fits[name]["pairs"],
                m=fits[name]["largest_tensor_bytes"],
            )
            for name in ("sliding-window", "bigbird")
        ]
        return suite.Evidence(
            table=rows,
            claims=claims,
            series=[
                suite.Series(
                    name,
                    [float(t) for t in lengths],
                    [float(r["pairs"]) for r in rows if r["component"] == name],
                    "sequence length T",
                    "attended pairs",
                    plot="loglog",
                )
                for name in atts
            ],
            note="one head of width 16; window 16, BigBird blocks of 16 with 16 global tokens and "
            "2 random blocks; seconds are one run each (exponents in the table: "
            + ", ".join(f"{n} T^{f['seconds']:.2f}" for n, f in fits.items())
            + ")",
        )


def _kv_cache(mha: MultiHeadAttention, x: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The keys and values `mha` would cache for `x`: `(B, Hkv, T, Dh)` each, stored in `dtype`."""
    b, t, _ = x.shape
    kv = mha.kv_proj(x).view(b, t, 2, mha.n_kv_heads, mha.head_dim)
    k, v = kv.permute(2, 0, 3, 1, 4).to(dtype).unbind(0)
    return k.contiguous(), v.contiguous()


def _rel_error(y: Tensor, reference: Tensor) -> float:
    return ((y - reference).norm() / reference.norm()).item()


def _pooled_copy(mha: MultiHeadAttention, n_kv_heads: int) -> MultiHeadAttention:
    """GQA from an MHA checkpoint: the key/value heads of each group mean-pooled into one."""
    out = MultiHeadAttention(mha.d_model, mha.n_heads, mha.attention, n_kv_heads=n_kv_heads)
    state = dict(mha.state_dict())
    group = mha.n_kv_heads // n_kv_heads
    for key in ("kv_proj.weight", "kv_proj.bias"):
        w = state[key]
        grouped = w.view(2, n_kv_heads, group, mha.head_dim, *w.shape[1:])
        state[key] = grouped.mean(2).reshape(-1, *w.shape[1:])
    out.load_state_dict(state)
    return out


class GroupedQueryAttention(suite.Topic):
    """Multi-head attention runs H heads of size d/H in parallel, each with its own queries,
    keys and values, for the cost of one head of size d. At inference the keys and values of
    every past token are cached, and that cache, not the weights, limits batch size and context
    length. Grouped-query attention keeps H query heads but only H_kv key/value heads (each
    shared by H/H_kv query heads); multi-query attention is H_kv = 1. The cache shrinks by
    H/H_kv; the price is less freedom in keys and values, usually a small quality loss that a
    short uptraining recovers.

    Formula: KV-cache bytes = 2 · L · H_kv · d_head · T · B · bytes per element
    (the 2 is for K and V; L layers, T cached tokens, batch B)

    Pitfalls:
    - the cache depends on H_kv, not H: counting query heads overstates it by H/H_kv.
    - GQA saves memory bandwidth in decoding, not FLOPs in the projections of queries.
    - converting an MHA checkpoint: mean-pool the key/value heads of each group (then uptrain);
      keeping one head of each group loses more.

    Follow-up questions:
    - How big is the cache of a 70B model at 32k context?
    - Why is decoding memory-bound, and how does GQA change the arithmetic intensity?
    - How do multi-head latent attention (MLA) or paged attention attack the same cost?
    """

    name = "multi-head-gqa-kv-cache"
    area = "attention"
    question = "How big is the KV cache, and what do grouped-query and multi-query attention trade?"
    components = ("attention:sdpa",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        g = ctx.generator()
        layers, d, heads, b, t = 4, 64, 8, 2, ctx.pick(128, 32)
        dtype = torch.bfloat16
        per = dtype.itemsize
        rows: list[dict[str, Any]] = []
        with single_thread(), torch.no_grad():
            x = torch.randn(b, t, d, generator=g)
            reference = [MultiHeadAttention(d, heads, _attention("sdpa")) for _ in range(layers)]
            for h_kv in (8, 4, 2, 1):
                stack = [_pooled_copy(m, h_kv) for m in reference]
                cache = [_kv_cache(m, x, dtype) for m in stack]
                measured = sum(z.numel() * z.element_size() for kv in cache for z in kv)
                error = sum(_rel_error(m(x), r(x)) for m, r in zip(stack, reference, strict=True))
                rows.append(
                    {
                        "H_kv": h_kv,
                        "cache_bytes": measured,
                        "formula_bytes": 2 * layers * h_kv * (d // heads) * t * b * per,
                        "pooled_rel_error": error / layers,
                    }
                )
        errors = [r["pooled_rel_error"] for r in rows]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "measured cache bytes equal 2·L·H_kv·d_head·T·B·bytes for every H_kv "
                    "(MHA {mha:.0f} bytes, MQA {mqa:.0f})",
                    holds=all(r["cache_bytes"] == r["formula_bytes"] for r in rows),
                    mha=rows[0]["cache_bytes"],
                    mqa=rows[-1]["cache_bytes"],
                ),
                suite.Claim.of(
                    "the cache shrinks by H/H_kv: MHA/MQA = {r:.3g} with H = {h}",
                    holds=rows[0]["cache_bytes"] == heads * rows[-1]["cache_bytes"],
                    r=rows[0]["cache_bytes"] / rows[-1]["cache_bytes"],
                    h=heads,
                ),
                suite.Claim.of(
                    "mean-pooling MHA key/value heads costs mean relative output error "
                    "{e4:.3g} at H_kv = 4, {e2:.3g} at 2, {e1:.3g} at 1 (H_kv = 8: {e8:.3g})",
                    holds=errors[0] < 1e-6 and errors == sorted(errors),
                    e8=errors[0],
                    e4=errors[1],
                    e2=errors[2],
                    e1=errors[3],
                ),
            ],
            series=[
                suite.Series(
                    "KV-cache bytes",
                    [float(r["H_kv"]) for r in rows],
                    [float(r["cache_bytes"]) for r in rows],
                    "key/value heads H_kv",
                    "cache bytes",
                    plot="loglog",
                )
            ],
            note=f"{layers} layers, d = {d}, H = {heads}, {b} × {t} tokens cached in bfloat16; "
            "quality: each random-init MHA layer converted to GQA by mean-pooling",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    QuadraticVsSparse,
    GroupedQueryAttention,
)
