"""Interview topic of the area kernels: why the LM head's loss dominates memory, and chunking."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import suite
from plugins.topics._kernels_common import fastest_seconds, peak_bytes
from suite.threads import single_thread

__all__ = ["LMHeadMemory"]


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
                peak = peak_bytes(step)
                seconds = fastest_seconds(step, repeats=2)
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


TOPICS: tuple[type[suite.Topic], ...] = (LMHeadMemory,)
