"""Interview topics of the area kernels: FlashAttention, the LM head's memory, fused norms.

What a kernel changes when the arithmetic stays the same: the memory it holds and the memory
traffic it makes. Each experiment measures that directly (peak bytes from the allocator's
timeline, bytes read and written per ATen op, FLOPs counted by torch) and shows time only as
a loose companion, because on a shared CPU time is the least reliable of the four.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

import suite
from suite.threads import single_thread
from suite.timing import measure_peak_memory, time_paired

__all__ = ["EagerVsFusedNorm", "FlashAttentionMemory", "LMHeadMemory"]


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: the growth exponent."""
    lx = torch.tensor(xs, dtype=torch.float64).log()
    ly = torch.tensor(ys, dtype=torch.float64).log()
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())


def _fastest_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The fastest of a few calls: a busy machine only ever adds time, so the minimum is robust."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


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
                            "peak_bytes": measure_peak_memory(call) or 0,
                            "scores_bytes": t * t * 4,
                            "seconds": _fastest_seconds(call, 5),
                        }
                    )

        def column(name: str, key: str) -> list[float]:
            return [float(r[key]) for r in rows if r["component"] == name]

        xs = [float(t) for t in lengths]
        mem = {name: _slope(xs, column(name, "peak_bytes")) for name in ("flash", "naive")}
        sec = {name: _slope(xs, column(name, "seconds")) for name in ("flash", "naive")}
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


class LMHeadMemory(suite.Topic):
    """The logits. An LM head turns N tokens into an (N, V) matrix of logits, N·V·4 bytes in
    float32, while the hidden states are only N·D; unfused cross-entropy keeps a log-softmax of
    the same size for the backward pass and then makes an (N, V) gradient, so the step peaks at
    a few times N·V·4. A fused (chunked) loss computes c rows of logits at a time, turns them at
    once into the loss and the gradients of h and W (softmax minus one-hot), and frees them
    before the next chunk: the peak becomes about c·V·4 plus the N·D and V·D gradients, with
    the same FLOPs and the same result.

    Formula: loss = 1/M Σ_i [log Σ_v exp(h_i · w_v) − h_i · w_{y_i}];
    dL/dz = (softmax(z) − onehot(y)) / M; dL/dh = (dL/dz) W; dL/dW = (dL/dz)ᵀ h.
    Unfused peak ≈ k · N·V·4 bytes with k a small integer; fused ≈ c·V·4 + (N + V)·D·4.

    Pitfalls:
    - Chunking under plain autograd saves nothing: every chunk's logits stay alive for the
      backward. The gradient must be computed in the forward pass and only scaled later.
    - Divide by M, the count of non-ignored targets over the whole batch, not per chunk.
    - Accumulate the log-sum-exp and dL/dW in float32 for bfloat16 inputs.

    Follow-up questions:
    - How large are the logits of 8k tokens at a vocabulary of 256k?
    - Why does Cut Cross-Entropy go further than chunking over tokens?
    - What does the fused version give up (double backward, small GEMMs)?
    """

    name = "lm-head-memory"
    area = "kernels"
    question = (
        "Why does the LM head's loss dominate memory at large vocabularies, and how do "
        "fused/chunked losses fix it?"
    )
    components = ("loss:fused-linear-cross-entropy", "loss:torch-linear-cross-entropy")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        n, d, v, chunk = ctx.pick((1024, 64, 16384, 128), (512, 64, 8192, 64))
        g = ctx.generator(3)
        hidden = torch.randn(n, d, generator=g)
        weight = torch.randn(v, d, generator=g) * 0.1
        target = torch.randint(0, v, (n,), generator=g)
        losses = {
            "unfused": suite.get("loss", "torch-linear-cross-entropy")(),
            "fused": suite.get("loss", "fused-linear-cross-entropy")(chunk_size=chunk),
        }
        logits_bytes = n * v * 4
        rows: list[dict[str, Any]] = []
        results: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        for name, loss in losses.items():
            h = hidden.clone().requires_grad_(True)
            w = weight.clone().requires_grad_(True)

            def step(loss: suite.Loss = loss, h: Tensor = h, w: Tensor = w) -> Tensor:
                h.grad = w.grad = None
                value = loss(h, w, target)
                value.backward()
                return value.detach()

            with single_thread():
                peak = measure_peak_memory(step) or 0
                seconds = _fastest_seconds(step, repeats=2)
                value = step()
            assert h.grad is not None and w.grad is not None
            results[name] = (value, h.grad.clone(), w.grad.clone())
            rows.append(
                {
                    "loss": name,
                    "peak_bytes": peak,
                    "peak_over_logits": peak / logits_bytes,
                    "seconds": seconds,
                }
            )
        ratio = {r["loss"]: r["peak_over_logits"] for r in rows}
        (l0, h0, w0), (l1, h1, w1) = results["unfused"], results["fused"]
        loss_diff = float((l0 - l1).abs())
        grad_diff = max(float((h0 - h1).abs().max()), float((w0 - w1).abs().max()))
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "the unfused forward and backward peak at {k:.3g}x the N·V·4 = {b:.3g} "
                    "bytes of the float32 logits",
                    holds=2 <= ratio["unfused"] <= 5,
                    k=ratio["unfused"],
                    b=logits_bytes,
                ),
                suite.Claim.of(
                    "chunks of {c:.0f} tokens bring the peak down to {k:.2g}x the logits' bytes "
                    "({r:.2g}x the unfused peak)",
                    holds=ratio["fused"] < 0.5,
                    c=chunk,
                    k=ratio["fused"],
                    r=ratio["fused"] / ratio["unfused"],
                ),
                suite.Claim.of(
                    "same result: the losses differ by {l:.2g}, the gradients of h and W by at "
                    "most {g:.2g}",
                    holds=loss_diff < 1e-5 and grad_diff < 1e-5,
                    l=loss_diff,
                    g=grad_diff,
                ),
            ],
            note=f"N={n} tokens, D={d}, V={v}, float32, one forward and backward, one thread; "
            "peak bytes from the profiler's allocation timeline",
        )


class _OpTraffic(TorchDispatchMode):
    """Every ATen op dispatched inside, with the bytes of its tensor inputs and outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int, int, list[int]]] = []  # name, read, written, out numels

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, Tensor)]
        outs = [a for a in tree_flatten(out)[0] if isinstance(a, Tensor)]
        read = sum(t.numel() * t.element_size() for t in ins)
        written = sum(t.numel() * t.element_size() for t in outs)
        self.ops.append((func.overloadpacket.__name__, read, written, [t.numel() for t in outs]))
        return out


class EagerVsFusedNorm(suite.Topic):
    """Because a norm is memory-bound and eager PyTorch runs one kernel per op. The from-scratch
    LayerNorm is a chain (mean, subtract, square, mean, add, rsqrt, multiply, addcmul); each op
    reads its inputs from memory and writes a new tensor back, several of them as large as x.
    torch.nn.LayerNorm calls one fused kernel that reads x once and writes y once (plus a
    per-row mean and 1/σ): the minimum traffic of 2 · numel · itemsize bytes. With a few FLOPs
    per element, time follows the bytes moved. Fusion (a hand-written kernel, or torch.compile
    generating one loop per row) keeps the intermediates in registers and cache.

    Formula: y = γ ⊙ (x − μ) / √(σ² + ε) + β per row; minimum traffic = 2 · numel · itemsize;
    eager traffic = Σ over ops of (bytes read + bytes written).

    Pitfalls:
    - Counting FLOPs says nothing here: both versions do the same arithmetic, the bytes differ.
    - Fusion does not change the result beyond rounding; it does change peak memory, since the
      eager intermediates exist at once.
    - torch.compile pays seconds of compile time per new shape on the first call.

    Follow-up questions:
    - Why is RMSNorm cheaper than LayerNorm even when fused?
    - When does fusing a norm into the following matmul pay off?
    - How would you compute the arithmetic intensity of this kernel and place it on a roofline?
    """

    name = "eager-vs-fused-norm"
    area = "kernels"
    question = (
        "Why is a from-scratch LayerNorm slower than torch.nn.LayerNorm, and what does "
        "fusion change?"
    )
    components = ("norm:layernorm", "norm:torch-layernorm")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        shape = ctx.pick((8, 512, 768), (4, 128, 256))
        x = torch.randn(*shape, generator=ctx.generator(4))
        modules = {
            name: suite.get("norm", name)().build(shape[-1])
            for name in ("layernorm", "torch-layernorm")
        }
        minimum = 2 * x.numel() * x.element_size()
        rows: list[dict[str, Any]] = []
        outputs: dict[str, Tensor] = {}
        for name, module in modules.items():
            with torch.no_grad(), _OpTraffic() as traffic:
                outputs[name] = module(x)
            full = sum(n == x.numel() for _, _, _, numels in traffic.ops for n in numels)
            moved = sum(read + written for _, read, written, _ in traffic.ops)
            rows.append(
                {
                    "norm": name,
                    "aten_ops": len(traffic.ops),
                    "ops": ", ".join(op for op, _, _, _ in traffic.ops),
                    "x_sized_outputs": full,
                    "bytes_moved": moved,
                    "over_minimum": moved / minimum,
                }
            )
        eager, fused = rows
        with single_thread(), torch.no_grad():
            paired = time_paired(
                lambda: modules["layernorm"](x),
                lambda: modules["torch-layernorm"](x),
                budget_s=1.0,
                seed=ctx.seed,
            )
        eager["time_vs_torch"], fused["time_vs_torch"] = paired.ratio, 1.0
        diff = float((outputs["layernorm"] - outputs["torch-layernorm"]).abs().max())
        return suite.Evidence(
            table=rows,
            claims=[
                suite.Claim.of(
                    "the eager LayerNorm dispatches {e:.0f} ATen ops and writes {w:.0f} tensors "
                    "the size of x; torch's dispatches {f:.0f} (native_layer_norm) and writes "
                    "{fw:.0f}",
                    holds=eager["aten_ops"] >= 6
                    and eager["x_sized_outputs"] >= 3
                    and fused["aten_ops"] == 1
                    and "native_layer_norm" in fused["ops"]
                    and fused["x_sized_outputs"] == 1,
                    e=eager["aten_ops"],
                    w=eager["x_sized_outputs"],
                    f=fused["aten_ops"],
                    fw=fused["x_sized_outputs"],
                ),
                suite.Claim.of(
                    "eager moves {e:.3g}x the minimum 2·numel·itemsize = {m:.3g} bytes, torch's "
                    "kernel {f:.3g}x; the outputs agree within {d:.2g}",
                    holds=eager["over_minimum"] > 3
                    and fused["over_minimum"] < 1.05
                    and diff < 1e-4,
                    e=eager["over_minimum"],
                    m=minimum,
                    f=fused["over_minimum"],
                    d=diff,
                ),
                suite.Claim.of(
                    "and it is not faster: eager takes {r:.3g}x torch's time (paired rounds, "
                    "median; measured now, on whatever load this machine has)",
                    holds=paired.ratio > 1,
                    r=paired.ratio,
                ),
            ],
            note=f"x of shape {tuple(shape)} float32, no grad; bytes counted per ATen op by a "
            "dispatch mode, time paired in alternating rounds on one thread",
        )


TOPICS: tuple[type[suite.Topic], ...] = (FlashAttentionMemory, LMHeadMemory, EagerVsFusedNorm)
