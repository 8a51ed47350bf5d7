"""Interview topics of the area kernels: FlashAttention, exact attention in O(T) memory.

What a kernel changes when the arithmetic stays the same: the memory it holds and the memory
traffic it makes. The kernels topics measure that directly (peak bytes from the allocator's
timeline, bytes read and written per ATen op, FLOPs counted by torch) and show time only as a
loose companion, because on a shared CPU time is the least reliable of the four. The LM head's
loss is in `kernels_lm_head`, eager against fused norms in `kernels_norm_fusion`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

import suite
from plugins.topics._kernels_common import fastest_seconds, peak_bytes
from suite.metrics import growth_exponent
from suite.threads import single_thread

__all__ = ["FlashAttentionMemory"]


def _inplace_baddbmm_flops(
    self_shape: Any, batch1: Any, batch2: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """FLOPs of `acc.baddbmm_(p, v)`, which torch's counter does not list (only `baddbmm`)."""
    b, n, k = batch1
    return 2 * b * n * k * batch2[-1]


_INPLACE_BADDBMM = {torch.ops.aten.baddbmm_: _inplace_baddbmm_flops}


def _block_stats(s: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Online-softmax state of one key block: row max m, ℓ = Σ e^(s−m), acc = Σ e^(s−m) v."""
    m = s.amax(dim=-1, keepdim=True)  # (R, 1)
    p = (s - m).exp()  # (R, n)
    return m, p.sum(dim=-1, keepdim=True), p @ v  # (R, 1), (R, 1), (R, D)


def _merge(a: tuple[Tensor, Tensor, Tensor], b: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """softmax(s) v over both blocks from their states: rescale each by e^(m_i − m)."""
    (m1, l1, acc1), (m2, l2, acc2) = a, b
    m = torch.maximum(m1, m2)
    r1, r2 = (m1 - m).exp(), (m2 - m).exp()
    return (r1 * acc1 + r2 * acc2) / (r1 * l1 + r2 * l2)


class FlashAttentionMemory(suite.Topic):
    """Same arithmetic, different memory. Standard attention writes the B·H·T·T score matrix
    and the probabilities to memory and reads them back, O(T²) memory and traffic. FlashAttention
    walks key blocks for each query block and keeps, per query row, only a running max m, a
    running denominator ℓ and an unnormalised output acc; when a new block raises the max, the
    old ℓ and acc are rescaled by e^(m − m'). After the last block acc / ℓ is exactly
    softmax(s) v, so the result is exact (up to rounding), the FLOPs are the same 4·T²·d, and
    only one tile of scores exists at a time: memory grows as T, not T².

    Formula: for blocks with states (m_i, ℓ_i, acc_i), m = max_i m_i;
    ℓ = Σ_i e^(m_i − m) ℓ_i; acc = Σ_i e^(m_i − m) acc_i; out = acc / ℓ.
    Backward keeps only out and L = m + log ℓ per row and recomputes P = e^(S − L) per tile.

    Pitfalls:
    - Forgetting the e^(m_i − m) rescale gives a wrong answer that still looks like a softmax.
    - A row that has seen no key yet has m = −inf, and e^(−inf − (−inf)) is NaN: subtract 0
      for such rows instead.
    - Time stays O(T²): FlashAttention is faster on a GPU because it avoids HBM traffic, not
      because it does less arithmetic; a tiled loop of separate PyTorch ops (as here) keeps the
      memory saving but pays per-tile overhead.

    Follow-up questions:
    - Why does the backward pass recompute the scores instead of storing P?
    - What does FlashAttention-2 change in the loop order and the work split?
    - How does a KV cache with Tq < Tk change which tiles a causal mask skips?
    """

    name = "flash-attention"
    area = "kernels"
    question = "How does FlashAttention compute exact attention without the T×T matrix?"
    components = ("attention:flash", "attention:naive", "attention:sdpa")

    d_head, block = 64, 256

    def _merge_evidence(self, ctx: suite.TopicContext) -> tuple[float, float]:
        """Max error of the two-block merge against the full softmax, with and without rescale."""
        g = ctx.generator(1)
        rows, n = 64, 128
        s1 = torch.randn(rows, n, generator=g) * 3
        s2 = torch.randn(rows, n, generator=g) * 3 + 8  # the second block raises every row's max
        v = torch.randn(2 * n, 16, generator=g)
        full = torch.softmax(torch.cat([s1, s2], -1).double(), -1) @ v.double()
        a, b = _block_stats(s1, v[:n]), _block_stats(s2, v[n:])
        merged = _merge(a, b)
        unscaled = (a[2] + b[2]) / (a[1] + b[1])  # the same sums without e^(m_i − m)
        return (
            float((merged.double() - full).abs().max()),
            float((unscaled.double() - full).abs().max()),
        )

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        merge_err, unscaled_err = self._merge_evidence(ctx)
        lengths = ctx.pick([256, 512, 1024, 2048], [256, 512, 1024])
        atts = {
            "flash": suite.get("attention", "flash")(block_q=self.block, block_k=self.block),
            "naive": suite.get("attention", "naive")(),
            "sdpa": suite.get("attention", "sdpa")(),
        }
        g = ctx.generator(2)
        rows: list[dict[str, Any]] = []
        with single_thread(), torch.no_grad():
            for t in lengths:
                q, k, v = (torch.randn(1, 1, t, self.d_head, generator=g) for _ in range(3))
                scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(self.d_head)
                reference = torch.softmax(scores, -1) @ v.double()  # float64 oracle
                for name, att in atts.items():
                    call = functools.partial(att, q, k, v)
                    out = call()
                    with FlopCounterMode(display=False, custom_mapping=_INPLACE_BADDBMM) as flops:
                        call()
                    rows.append(
                        {
                            "component": name,
                            "T": t,
                            "max_abs_error": float((out.double() - reference).abs().max()),
                            "flops": flops.get_total_flops(),
                            "peak_bytes": peak_bytes(call),
                            "scores_bytes": t * t * 4,
                            "seconds": fastest_seconds(call, 5),
                        }
                    )

        def column(name: str, key: str) -> list[float]:
            return [float(r[key]) for r in rows if r["component"] == name]

        xs = [float(t) for t in lengths]
        mem = {name: growth_exponent(xs, column(name, "peak_bytes")) for name in ("flash", "naive")}
        sec = {name: growth_exponent(xs, column(name, "seconds")) for name in ("flash", "naive")}
        worst = max(r["max_abs_error"] for r in rows if r["component"] == "flash")
        worst_other = max(r["max_abs_error"] for r in rows if r["component"] != "flash")
        expected_flops = [4 * t * t * self.d_head for t in lengths]
        same_flops = column("flash", "flops") == column("naive", "flops") == expected_flops
        last = {r["component"]: r for r in rows if r["T"] == lengths[-1]}
        share = last["flash"]["peak_bytes"] / last["naive"]["peak_bytes"]
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "merging two blocks' (m, ℓ, acc) with the e^(m_i − m) rescale matches the "
                    "full softmax within {e:.2g}; without the rescale the error is {u:.3g}",
                    holds=merge_err < 1e-5 and unscaled_err > 0.1,
                    e=merge_err,
                    u=unscaled_err,
                ),
                suite.Claim.of(
                    "flash output equals float64 attention within {e:.2g} at every T (naive "
                    "and sdpa: {o:.2g}), with the FLOPs of naive, 4·T²·d at every T "
                    "(T = {t:.0f}: {f:.3g})",
                    holds=worst < 1e-5 and worst_other < 1e-5 and same_flops,
                    e=worst,
                    o=worst_other,
                    t=lengths[-1],
                    f=expected_flops[-1],
                ),
                suite.Claim.of(
                    "peak memory grows as T^{f:.2f} for flash (fixed tiles plus the T·d output: "
                    "at most linear) but T^{n:.2f} for naive; at "
                    "T = {t:.0f} flash peaks at {s:.2g}x naive's",
                    holds=mem["flash"] < 1.2 and mem["naive"] > 1.6 and share < 0.25,
                    f=mem["flash"],
                    n=mem["naive"],
                    t=lengths[-1],
                    s=share,
                ),
                suite.Claim.of(
                    "so time still grows about quadratically for both (fastest of five calls): "
                    "flash T^{f:.2g}, naive T^{n:.2g}",
                    holds=sec["flash"] > 1.3 and sec["naive"] > 1.3,
                    f=sec["flash"],
                    n=sec["naive"],
                ),
            ],
            series=[
                suite.Series(
                    name,
                    xs,
                    column(name, "peak_bytes"),
                    "sequence length T",
                    "peak bytes",
                    plot="loglog",
                )
                for name in atts
            ],
            note=f"one head of width {self.d_head}, flash tiles {self.block}×{self.block}, one "
            "thread, no grad; peak bytes from the profiler's allocation timeline",
        )


TOPICS: tuple[type[suite.Topic], ...] = (FlashAttentionMemory,)
