"""Interview topic of the area kernels: eager from-scratch LayerNorm against the fused kernel."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import suite
from plugins.topics._kernels_common import OpTraffic
from suite.threads import single_thread
from suite.timing import time_paired

__all__ = ["EagerVsFusedNorm"]


class EagerVsFusedNorm(suite.Topic):
    """Because a norm is memory-bound and eager PyTorch runs one kernel per op. The from-scratch
    LayerNorm is a chain (means, subtractions, a square, rsqrt, multiplies, addcmul); each op
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
    - Fused is not automatically fast: Inductor inlines cheap per-row values (μ, 1/σ) into the
      loop that reads them and, on a CPU, recomputed a scalar square root for every vector of 8
      outputs until `LayerNorm.compile_options` told it to store them once per row.

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
            with torch.no_grad(), OpTraffic() as traffic:
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


TOPICS: tuple[type[suite.Topic], ...] = (EagerVsFusedNorm,)
