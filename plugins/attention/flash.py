"""`flash`: exact attention in tiles with an online softmax; the T×T score matrix never exists."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

import suite
from plugins.attention.common import group_bias
from suite.dtypes import compute_dtype

__all__ = ["FlashAttention"]


class FlashAttention(suite.Attention):
    """FlashAttention's algorithm in PyTorch operations: tiles of q and k, an online softmax.

    Interview question: "What does FlashAttention change, if it computes the same attention?"

    Short answer: memory, not arithmetic. Standard attention writes the score matrix
    `S = q kᵀ / √d` (B·H·Tq·Tk numbers) to main memory (HBM on a GPU), reads it back for the
    mask and the softmax, writes the probabilities P, and reads them again for `P v`. That is
    O(T²) memory and O(T²) memory traffic for O(T² d) FLOPs: at long T the GPU waits on HBM, not
    on its tensor cores. FlashAttention cuts q into query blocks and k, v into key blocks, and
    for each query block walks the key blocks once, keeping for each query row a running
    maximum `m`, a running denominator `ℓ` and an unnormalised output `acc`. Only one
    `block_q × block_k` tile of scores exists at a time: O(T) memory.

    The online softmax (Milakov and Gimelshein, 2018), for one query row and the scores `s` of
    the next key block:

        m' = max(m, max_j s_j)
        ℓ' = e^(m − m') · ℓ + Σ_j e^(s_j − m')
        acc' = e^(m − m') · acc + Σ_j e^(s_j − m') v_j
        out = acc / ℓ        (after the last block)

    Why it is exact, not an approximation: every term ever added was scaled by e^(−m) for the
    max m current at the time; multiplying by e^(m − m') when the max grows rewrites the whole
    sum as if m' had been subtracted from the start. After the last block m is the row's true
    max, so `acc / ℓ = Σ_j e^(s_j − m) v_j / Σ_j e^(s_j − m) = softmax(s) v`, identical in exact
    arithmetic and within rounding in floating point (the max subtraction keeps it stable).

    Backward with recomputation: the forward keeps only the output and the log-sum-exp
    `L = m + log ℓ` per row (O(T)). The backward walks the same tiles, recomputes
    `P = e^(S − L)` from q and k, and uses `dS = P ∘ (dP − rowsum(dO ∘ O))` with `dP = dO vᵀ`:
    extra FLOPs to avoid storing P, a good trade when memory bandwidth is the bottleneck.

    Why the real kernel is faster than this one: FlashAttention is *one fused kernel*; a tile
    lives in on-chip SRAM (or registers) from `q kᵀ` through the exponentials to `P v`, and
    the key blocks stream through it. Here each tile is a dozen separate PyTorch operations,
    each a kernel launch with its own pass over the tile in memory and, on a CPU, a trip through
    the Python interpreter. This version keeps the memory saving (peak grows with T, not T²)
    but pays a per-tile overhead, so bigger tiles (fewer of them) run faster until the tile
    itself stops fitting in cache. It is exact; `sdpa` calls the fused kernels.

    Masks, as every attention here: `causal` is top-left aligned (query i sees keys j ≤ i) and
    key blocks wholly above the diagonal are skipped, not masked; `key_padding_mask` and
    `attn_bias` are applied per tile; grouped-query attention stacks the H / Hkv query heads of
    a group into one matmul against their shared key block, with no copy of k or v; a query
    with no key to attend to gives zeros (its `ℓ` stays 0 and masked scores are -inf, never
    NaN), in the forward and the backward pass.

    Pitfalls:
    * a row that has seen no key yet (padding, a -inf bias) has m = -inf, and e^(s − m) is then
      e^(−inf + inf) = NaN: subtract 0 instead for such rows. Do not clamp m itself to 0: a row
      whose scores all lie below about −104 would then underflow (float32) to ℓ = 0, zeros.
    * causal alignment: here and in SDPA's `is_causal`, top-left; a decoder step with a KV cache
      (Tq < Tk) needs bottom-right alignment, a different set of skipped blocks.
    * on a CPU with several intra-op threads every small operation ends in a barrier; on a busy
      machine each barrier can wait a whole time slice, which hurts a loop of many small ops far
      more than one fused call.

    Options: `block_q` (query rows per tile, default 256) and `block_k` (keys per tile, default
    256). Bigger tiles mean fewer Python-level steps; square ones waste least on the diagonal
    tiles of a causal mask (half of each is computed and then masked).
    """

    name: ClassVar[str] = "flash"
    summary: ClassVar[str] = (
        "tiled online softmax (FlashAttention in torch ops), exact, O(T) memory"
    )
    reference: ClassVar[str | None] = "sdpa"
    exact: ClassVar[bool] = True
    materializes_scores: ClassVar[bool] = False
    supports_bias: ClassVar[bool] = True

    def __init__(self, *, block_q: int = 256, block_k: int = 256) -> None:
        for label, value in (("block_q", block_q), ("block_k", block_k)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"flash: {label} must be a positive integer, got {value!r}")
        self.block_q = block_q
        self.block_k = block_k

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor:
        tiles = _Tiles(self.block_q, self.block_k, causal, key_padding_mask)
        inputs = (q, k, v) if attn_bias is None else (q, k, v, attn_bias)
        if torch.is_grad_enabled() and any(x.requires_grad for x in inputs):
            return _FlashFunction.apply(tiles, q, k, v, attn_bias)  # type: ignore[no-any-return]
        return _forward(tiles, q, k, v, attn_bias, keep_lse=False)[0]


class _Tiles:
    """Tile sizes and masks of one call; yields the key blocks a query block must visit."""

    def __init__(
        self, block_q: int, block_k: int, causal: bool, key_padding_mask: Tensor | None
    ) -> None:
        self.block_q, self.block_k, self.causal = block_q, block_k, causal
        # (B, 1, 1, 1, Tk), True = a pad key: inverted once, not per tile
        self.padded = None if key_padding_mask is None else ~key_padding_mask[:, None, None, None]

    def key_blocks(self, i0: int, i1: int, tk: int) -> range:
        end = min(tk, i1) if self.causal else tk  # causal: keys after the last query are skipped
        return range(0, end, self.block_k)

    def hidden(self, i0: int, i1: int, j0: int, j1: int, device: torch.device) -> Tensor | None:
        """Bool, broadcastable to the `(B, Hkv, G, i1-i0, j1-j0)` tile, True where a pair is
        masked out; None when the whole tile is visible."""
        hidden = None
        if self.causal and j1 - 1 > i0:  # the tile crosses the diagonal
            cols = torch.arange(j0, j1, device=device)[None, :]
            hidden = cols > torch.arange(i0, i1, device=device)[:, None]  # (n, bk)
        if self.padded is not None:
            pad = self.padded[..., j0:j1]  # (B, 1, 1, 1, bk)
            hidden = pad if hidden is None else hidden | pad
        return hidden

    def may_hide_rows(self, bias: Tensor | None) -> bool:
        """Whether a row's running max can still be -inf after a tile: padding, or a bias holding
        -inf (causal alone cannot: the first key block holds key 0, which every query sees)."""
        return self.padded is not None or bias is not None


def _bias_tile(bias: Tensor | None, i0: int, i1: int, j0: int, j1: int) -> Tensor | None:
    """The slice of a grouped bias `(B|1, Hkv|1, G|1, Tq|1, Tk|1)` for one tile."""
    if bias is None:
        return None
    rows = slice(i0, i1) if bias.shape[-2] > 1 else slice(None)
    cols = slice(j0, j1) if bias.shape[-1] > 1 else slice(None)
    return bias[..., rows, cols]


def _scores(
    tiles: _Tiles, qb: Tensor, k: Tensor, bias: Tensor | None, i0: int, i1: int, j0: int, j1: int
) -> Tensor:
    """Scaled, biased, masked scores of one tile: `(B, Hkv, G·n, bk)`, masked ones -inf."""
    b, hkv = qb.shape[:2]
    s = qb @ k[:, :, j0:j1].to(qb.dtype).transpose(-1, -2)  # (B, Hkv, G·n, bk)
    s5 = s.view(b, hkv, -1, i1 - i0, j1 - j0)  # (B, Hkv, G, n, bk)
    bias_tile = _bias_tile(bias, i0, i1, j0, j1)
    if bias_tile is not None:
        s5 += bias_tile
    hidden = tiles.hidden(i0, i1, j0, j1, s.device)
    if hidden is not None:
        s5.masked_fill_(hidden, -math.inf)
    return s


def _query_block(q: Tensor, hkv: int, i0: int, i1: int, scale: float) -> Tensor:
    """Rows i0..i1 of q, scaled, the G heads of a group stacked: `(B, Hkv, G·n, D)`, contiguous
    whatever q's strides (q is often a transposed view of `(B, T, H, D)` projections)."""
    b, h, _, d = q.shape
    block = q.view(b, hkv, h // hkv, -1, d)[:, :, :, i0:i1]  # (B, Hkv, G, n, D), a view
    scaled = torch.empty(block.shape, dtype=compute_dtype(q), device=q.device)
    return torch.mul(block.to(scaled.dtype), scale, out=scaled).view(b, hkv, -1, d)


def _forward(
    tiles: _Tiles, q: Tensor, k: Tensor, v: Tensor, attn_bias: Tensor | None, *, keep_lse: bool
) -> tuple[Tensor, Tensor | None]:
    """Output `(B, H, Tq, D)` and, if asked, the log-sum-exp `(B, Hkv, G, Tq, 1)` of each row."""
    b, h, tq, d = q.shape
    hkv, tk = k.shape[1], k.shape[2]
    dtype = compute_dtype(q)
    bias = None if attn_bias is None else group_bias(attn_bias.to(dtype), hkv)
    out = torch.empty(b, hkv, h // hkv, tq, d, dtype=q.dtype, device=q.device)
    lse = torch.empty(b, hkv, h // hkv, tq, 1, dtype=dtype, device=q.device) if keep_lse else None
    safe_rows = tiles.may_hide_rows(bias)
    with torch.no_grad():
        for i0 in range(0, tq, tiles.block_q):
            i1 = min(i0 + tiles.block_q, tq)
            qb = _query_block(q, hkv, i0, i1, 1.0 / math.sqrt(d))  # (B, Hkv, G·n, D)
            m = torch.full((*qb.shape[:3], 1), -math.inf, dtype=dtype, device=q.device)
            ell = torch.zeros_like(m)  # running denominator ℓ
            acc = torch.zeros(qb.shape, dtype=dtype, device=q.device)  # unnormalised output
            for j0 in tiles.key_blocks(i0, i1, tk):
                j1 = min(j0 + tiles.block_k, tk)
                s = _scores(tiles, qb, k, bias, i0, i1, j0, j1)
                m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # m' (-inf: no key yet)
                shift = m_new
                if safe_rows:  # a row with no key yet: e^(-inf - 0) = 0, not e^(-inf + inf) = NaN
                    shift = m_new.masked_fill(m_new == -math.inf, 0.0)
                p = s.sub_(shift).exp_()  # in place: one tile-sized buffer per step
                alpha = (m - shift).exp_()  # e^(m − m'): rescales what was summed so far
                ell.mul_(alpha).add_(p.sum(dim=-1, keepdim=True))
                acc.mul_(alpha)
                acc.view(-1, *acc.shape[2:]).baddbmm_(
                    p.view(-1, *p.shape[2:]), v[:, :, j0:j1].to(dtype).reshape(-1, j1 - j0, d)
                )
                m = m_new
            acc.div_(ell.masked_fill(ell == 0, 1.0))  # ℓ = 0 only for a row with no key: zeros
            out[:, :, :, i0:i1] = acc.view(b, hkv, -1, i1 - i0, d)
            if lse is not None:  # +inf for an empty row: e^(s − L) = 0 in the backward pass
                lse[:, :, :, i0:i1] = (
                    (m + ell.log()).masked_fill(ell == 0, math.inf).view(b, hkv, -1, i1 - i0, 1)
                )
    return out.view(b, h, tq, d), lse


class _FlashFunction(torch.autograd.Function):
    """Forward keeps the output and the per-row log-sum-exp; backward recomputes each tile."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, tiles: _Tiles, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None
    ) -> Tensor:
        out, lse = _forward(tiles, q, k, v, bias, keep_lse=True)
        ctx.tiles = tiles  # type: ignore[attr-defined]
        assert lse is not None
        ctx.save_for_backward(q, k, v, bias, out, lse)  # type: ignore[arg-type]  # None is allowed
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dout: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, bias, out, lse = ctx.saved_tensors
        grads = _backward(ctx.tiles, q, k, v, bias, out, lse, dout, ctx.needs_input_grad[4])
        return (None, *grads)


def _backward(
    tiles: _Tiles,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_bias: Tensor | None,
    out: Tensor,
    lse: Tensor,
    dout: Tensor,
    bias_grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """FlashAttention-2's backward: per tile P = e^(S − L), dV += Pᵀ dO, dS = P ∘ (dO vᵀ − Δ)."""
    b, h, tq, d = q.shape
    hkv, tk, g = k.shape[1], k.shape[2], h // k.shape[1]
    dtype, scale = compute_dtype(q), 1.0 / math.sqrt(d)
    bias = None if attn_bias is None else group_bias(attn_bias.to(dtype), hkv)
    dbias = (
        torch.zeros(bias.shape, dtype=dtype, device=q.device)
        if bias_grad and bias is not None
        else None
    )
    dq = torch.empty(b, hkv, g, tq, d, dtype=dtype, device=q.device)
    dk = torch.zeros(b, hkv, tk, d, dtype=dtype, device=q.device)
    dv = torch.zeros_like(dk)
    do5 = dout.reshape(b, hkv, g, tq, d).to(dtype)
    delta = (do5 * out.view(b, hkv, g, tq, d).to(dtype)).sum(
        dim=-1, keepdim=True
    )  # Δ = rowsum(dO ∘ O)
    for i0 in range(0, tq, tiles.block_q):
        i1 = min(i0 + tiles.block_q, tq)
        qb = _query_block(q, hkv, i0, i1, scale)  # (B, Hkv, G·n, D)
        dob = do5[:, :, :, i0:i1].reshape(b, hkv, -1, d)
        lse_b = lse[:, :, :, i0:i1].reshape(b, hkv, -1, 1)
        delta_b = delta[:, :, :, i0:i1].reshape(b, hkv, -1, 1)
        dqb = torch.zeros_like(qb)
        for j0 in tiles.key_blocks(i0, i1, tk):
            j1 = min(j0 + tiles.block_k, tk)
            kb, vb = k[:, :, j0:j1].to(dtype), v[:, :, j0:j1].to(dtype)
            p = _scores(tiles, qb, k, bias, i0, i1, j0, j1).sub_(lse_b).exp_()  # P, recomputed
            dv[:, :, j0:j1] += p.transpose(-1, -2) @ dob
            ds = (dob @ vb.transpose(-1, -2)).sub_(delta_b).mul_(p)  # dS = P ∘ (dP − Δ)
            if dbias is not None:
                _add_reduced(_bias_tile(dbias, i0, i1, j0, j1), ds.view(b, hkv, g, i1 - i0, -1))
            dqb += ds @ kb
            dk[:, :, j0:j1] += ds.transpose(-1, -2) @ qb  # sums over the G heads of a group
        dq[:, :, :, i0:i1] = (dqb * scale).view(b, hkv, g, i1 - i0, d)
    dbias_out = None
    if dbias is not None and attn_bias is not None:
        dbias_out = dbias.reshape(attn_bias.shape).to(attn_bias.dtype)
    return (
        dq.view(b, h, tq, d).to(q.dtype),
        dk.to(k.dtype),
        dv.to(v.dtype),
        dbias_out,
    )


def _add_reduced(target: Tensor | None, grad: Tensor) -> None:
    """`target += grad` summed over the dimensions where `target` broadcasts (size 1)."""
    assert target is not None
    dims = [i for i, (t, s) in enumerate(zip(target.shape, grad.shape)) if t == 1 and s != 1]
    target += grad.sum(dim=dims, keepdim=True) if dims else grad
