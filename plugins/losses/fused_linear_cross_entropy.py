"""Fused linear + cross-entropy: the LM head's loss in chunks of tokens, never the full logits.

A language model's last layer multiplies `N` hidden states by a `(V, D)` output matrix and
feeds the `(N, V)` logits to cross-entropy. At a large vocabulary those logits, and what
autograd keeps of them for the backward pass, are most of the training step's activation
memory. This module computes the same loss and the same gradients one chunk of tokens at a
time, and computes each chunk's gradient in the forward pass, so that the logits of a chunk die
before the next one is made. The arithmetic is the unfused version's (nothing is recomputed);
it concedes double backward, a Python loop of smaller matrix products, and `(N, D) + (V, D)`
gradient buffers kept from the forward pass to the backward pass, even when the loss is then
never backpropagated.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from plugins.losses.reference import linear_cross_entropy_closed_form
from suite.dtypes import compute_dtype
from suite.kinds import Loss

__all__ = ["FusedLinearCrossEntropy", "chunked_linear_cross_entropy"]


def chunked_linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    target: Tensor,
    *,
    chunk_size: int,
    ignore_index: int,
    grad_hidden: bool = False,
    grad_weight: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Mean cross-entropy of `hidden @ weight.T` against `target`, chunk by chunk of tokens,
    and (where asked) its gradients with respect to `hidden` and `weight`.

    Per chunk of c tokens: logits `z = h Wᵀ` (c, V), `lse = log Σ_v exp z_v`, loss terms
    `lse - z_y`; then `z` is overwritten in place by `(softmax(z) - onehot(y)) / M` (M the
    number of targets that are not ignored; ignored rows zero), which is dL/dz, and
    `dL/dh = dL/dz · W` (c, D), `dL/dW += dL/dzᵀ · h` (V, D). Arithmetic in float32 for
    half-precision inputs; the gradients come back in the inputs' dtypes.
    """
    n, _ = hidden.shape  # (N, D)
    dtype = compute_dtype(hidden)
    weight_c = weight.to(dtype)  # (V, D); a copy only for half-precision inputs
    keep = target != ignore_index  # (N,) bool
    n_valid = keep.sum()
    # 1/M for the gradient; 0 when every target is ignored (PyTorch's gradient is 0 there too)
    row_scale = keep.to(dtype) / n_valid.clamp_min(1).to(dtype)  # (N,)
    safe_target = torch.where(keep, target, torch.zeros_like(target)).long()  # (N,)
    total = torch.zeros((), dtype=dtype, device=hidden.device)
    d_hidden = torch.empty_like(hidden) if grad_hidden else None  # (N, D)
    d_weight = torch.zeros_like(weight_c) if grad_weight else None  # (V, D), accumulated
    for start in range(0, n, chunk_size):
        rows = slice(start, min(start + chunk_size, n))
        total = total + _chunk(
            hidden[rows].to(dtype),
            weight_c,
            safe_target[rows],
            keep[rows],
            row_scale[rows],
            d_hidden=None if d_hidden is None else d_hidden[rows],
            d_weight=d_weight,
        )
    loss = (total / n_valid).to(hidden.dtype)  # 0/0 = NaN when every target is ignored
    return loss, d_hidden, None if d_weight is None else d_weight.to(weight.dtype)


def _chunk(
    h: Tensor,
    weight: Tensor,
    target: Tensor,
    keep: Tensor,
    scale: Tensor,
    *,
    d_hidden: Tensor | None,
    d_weight: Tensor | None,
) -> Tensor:
    """The summed loss of one chunk of c tokens; writes its `dL/dh` into `d_hidden` (c, D) and
    adds its `dL/dW` to `d_weight` (V, D). A function of its own so that the chunk's logits are
    freed on return, before the next chunk's are made."""
    rows = torch.arange(h.shape[0], device=h.device)
    logits = h @ weight.T  # (c, V): the only chunk-sized tensor, reused in place below
    target_logit = logits[rows, target]  # (c,), copied out before `logits` is overwritten
    row_max = logits.amax(dim=1, keepdim=True)  # (c, 1)
    probs = logits.sub_(row_max).exp_()  # (c, V) unnormalised, in place
    sums = probs.sum(dim=1, keepdim=True)  # (c, 1)
    lse = row_max.squeeze(1) + sums.squeeze(1).log()  # (c,)
    loss_sum = ((lse - target_logit) * keep).sum()
    if d_hidden is None and d_weight is None:
        return loss_sum
    grad_logits = probs.mul_(scale[:, None] / sums)  # (c, V): softmax / M, in place
    grad_logits[rows, target] -= scale  # (softmax - onehot) / M = dL/dz; 0 on ignored rows
    if d_hidden is not None:
        d_hidden.copy_(grad_logits @ weight)  # (c, D), cast to the dtype of hidden
    if d_weight is not None:
        d_weight.addmm_(grad_logits.T, h)  # (V, D) += (V, c) @ (c, D)
    return loss_sum


class _FusedLinearCrossEntropyFunction(torch.autograd.Function):
    """Forward computes the loss and both gradients chunk by chunk; backward only scales them."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        hidden: Tensor,
        weight: Tensor,
        target: Tensor,
        chunk_size: int,
        ignore_index: int,
    ) -> Tensor:
        needs_hidden, needs_weight = ctx.needs_input_grad[:2]  # type: ignore[attr-defined]
        loss, d_hidden, d_weight = chunked_linear_cross_entropy(
            hidden,
            weight,
            target,
            chunk_size=chunk_size,
            ignore_index=ignore_index,
            grad_hidden=needs_hidden,
            grad_weight=needs_weight,
        )
        ctx.save_for_backward(d_hidden, d_weight)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        d_hidden, d_weight = ctx.saved_tensors
        # Out of place, so that a graph kept with retain_graph=True can be backpropagated again;
        # the copies ((N + V) · D values) stay below the forward pass's peak.
        scale = grad_output.to(compute_dtype(grad_output))
        return (
            None if d_hidden is None else (d_hidden * scale).to(d_hidden.dtype),
            None if d_weight is None else (d_weight * scale).to(d_weight.dtype),
            None,
            None,
            None,
        )


class FusedLinearCrossEntropy(Loss):
    """Fused linear + cross-entropy: the LM head's loss without the `(N, V)` logits in memory.

    Interview question: "Your 7B model trains fine at a 32k vocabulary but runs out of memory at
    256k with the same batch. Where does the memory go, and how do you fix it without a smaller
    batch?"

    Short answer: into the logits. The head turns N tokens into an `(N, V)` float32 matrix of
    `N · V · 4` bytes (8192 tokens at V = 2^18: 8192 · 2^18 · 4 B = 8 GiB); the unfused
    backward keeps a log-softmax of the same size and makes gradients of the same size, while
    the hidden states are only `N · D`. Chunking over tokens computes c rows of logits at a
    time, reduces them at once to the loss and to the gradients of `hidden` and `weight`, and
    throws them away: the peak becomes `c · V` plus the `N · D` and `V · D` gradients. Same
    FLOPs, same result; it trades a Python loop of N/c matrix products (smaller, less
    efficient GEMMs when c is small) and an autograd Function that computes the backward
    during the forward (no double backward) for the memory. Liger-Kernel's fused linear
    cross-entropy does this; Apple's Cut Cross-Entropy goes further, in a Triton kernel that
    never writes a block of logits to GPU memory at all.

    Why the gradient is simple enough to fuse: with p = softmax(z) and loss `-log p_y =
    logsumexp(z) - z_y`, dloss/dz_v = exp(z_v) / Σ exp(z) - [v = y] = p_v - onehot(y)_v. So one
    pass over the chunk's logits gives the loss (through the log-sum-exp) and the logit
    gradient (softmax minus one-hot, divided by the number of counted targets M), and then
    `dL/dh = (p - onehot) W` and `dL/dW = (p - onehot)ᵀ h`.

    Formula, over the M tokens whose target is not `ignore_index`:

        loss = 1/M Σ_i [ log Σ_v exp(h_i · w_v) - h_i · w_{y_i} ]

    Pitfalls:
    * Plain autograd over chunks saves nothing: every chunk's logits stay alive until backward.
      The gradients must be computed in the forward pass and only scaled by `grad_output` later.
    * Divide by M, the count over the whole batch, not per chunk: a chunk mean is wrong when
      chunks have different numbers of padded tokens.
    * Accumulate in float32 for bfloat16 inputs: a bfloat16 log-sum-exp over 32k terms loses
      the small probabilities, and a bfloat16 `dL/dW` summed over chunks loses the small updates.
    * If every target is ignored the mean is 0/0 = NaN, as in PyTorch (the gradients are 0).
    """

    name: ClassVar[str] = "fused-linear-cross-entropy"
    summary: ClassVar[str] = (
        "LM-head loss in token chunks: gradients made in the forward pass, no (N, V) logits kept"
    )
    reference: ClassVar[str | None] = "torch-linear-cross-entropy"
    task: ClassVar[str] = "lm-head"

    def __init__(self, *, chunk_size: int = 1024, ignore_index: int = -100) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        self.chunk_size = chunk_size  # tokens per chunk: peak memory ~ chunk_size · V floats
        self.ignore_index = int(ignore_index)  # target id of padded positions, not counted

    def forward(self, hidden: Tensor, weight: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
            loss: Tensor = _FusedLinearCrossEntropyFunction.apply(
                hidden, weight, target, self.chunk_size, self.ignore_index
            )
            return loss
        value, _, _ = chunked_linear_cross_entropy(
            hidden, weight, target, chunk_size=self.chunk_size, ignore_index=self.ignore_index
        )
        return value

    def closed_form(self, hidden: Tensor, weight: Tensor, target: Tensor) -> float:  # type: ignore[override]
        return linear_cross_entropy_closed_form(
            hidden, weight, target, ignore_index=self.ignore_index
        )

    @classmethod
    def option_choices(cls, num_classes: int) -> dict[str, list[Any]]:
        return {"chunk_size": [1, 3, 5, 1024]}  # 3, 5: chunks that do not divide N
