"""`linear`: kernelised linear attention (Katharopoulos et al., 2020), an approximation of softmax."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

import suite
from plugins.attention.common import group_queries, ungroup_queries

__all__ = ["FEATURE_MAPS", "LinearAttention"]

FEATURE_MAPS = {
    "elu": lambda x: F.elu(x) + 1.0,  # positive, smooth, the paper's choice
    "relu": F.relu,
}


class LinearAttention(suite.Attention):
    """Replace exp(q·k) by φ(q)·φ(k) and reorder the products: O(T d²) instead of O(T² d).

    Interview question: "Can attention be linear in the sequence length without sparsity?"

    Short answer: softmax attention is `out_i = Σ_j sim(q_i, k_j) v_j / Σ_j sim(q_i, k_j)` with
    `sim = exp(q·k/√d)`. Pick a feature map with `sim(q, k) ≈ φ(q)·φ(k)` (here φ(x) = elu(x) + 1,
    positive so the normaliser cannot vanish) and associativity does the rest:
    `out_i = φ(q_i)ᵀ (Σ_j φ(k_j) v_jᵀ) / φ(q_i)ᵀ (Σ_j φ(k_j))`. The d×d state `Σ φ(k) vᵀ` is
    computed once: O(T d²) time, O(d²) memory per head. Causal: prefix sums of the state, which
    makes it an RNN at inference (one d×d update per token, no KV cache).

    Causal prefix sums here are chunked: inside a chunk of C tokens the masked C×C products are
    computed directly, across chunks a running state is carried; no (T, d, d) tensor is stored.

    Pitfalls:
    * it is an *approximation*: φ(q)·φ(k) is not exp(q·k), attention is less peaked, and quality
      usually drops (recall-heavy tasks suffer most). `exact = False`, and the agreement
      benchmark reports the error against softmax attention rather than hiding it.
    * no 1/√d: the feature map, not the scale, sets the sharpness.
    * padding must zero φ(k) of pad keys; a query with no real key divides 0 by 0 (guarded).
    * no additive score bias (ALiBi, T5): exp(s + b) does not factor through φ(q)·φ(k) for a
      general b, so `supports_bias = False` and `attn_bias` is refused with a clear error.
    * the d² state makes it slower than softmax attention below T ≈ d, and memory-bound kernels
      often lose to FlashAttention until T is in the many thousands.

    Options: `feature_map` (`elu` or `relu`, default `elu`), `chunk_size` (64).
    """

    name: ClassVar[str] = "linear"
    summary: ClassVar[str] = "kernelised φ(q)(φ(k)ᵀv), causal prefix sums; approximate, O(T·d²)"
    reference: ClassVar[str | None] = "sdpa"
    exact: ClassVar[bool] = False

    def __init__(self, *, feature_map: str = "elu", chunk_size: int = 64) -> None:
        if feature_map not in FEATURE_MAPS:
            raise ValueError(
                f"linear: feature_map must be one of {sorted(FEATURE_MAPS)}, got {feature_map!r}"
            )
        if chunk_size < 1:
            raise ValueError(f"linear: chunk_size must be >= 1, got {chunk_size}")
        self.feature_map = feature_map  # φ: elu(x) + 1 keeps every similarity positive
        self.chunk_size = chunk_size  # tokens per chunk of the causal prefix sum

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool = False,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        phi = FEATURE_MAPS[self.feature_map]
        dtype = q.dtype if q.dtype in (torch.float32, torch.float64) else torch.float32
        h, hkv, tq = q.shape[1], k.shape[1], q.shape[2]
        fq, fk, v = phi(q.to(dtype)), phi(k.to(dtype)), v.to(dtype)
        if key_padding_mask is not None:
            fk = fk * key_padding_mask[:, None, :, None].to(dtype)  # pad keys contribute nothing
        if causal:
            num, den = self._causal(fq, fk, v)
        else:
            fqg = group_queries(fq, hkv)  # (B, Hkv, G*Tq, D)
            num = fqg @ (fk.transpose(-1, -2) @ v)  # (B, Hkv, G*Tq, D): state (D, D) first
            den = fqg @ fk.sum(dim=2).unsqueeze(-1)  # (B, Hkv, G*Tq, 1)
            num, den = ungroup_queries(num, h), ungroup_queries(den, h)
        out = num / den.masked_fill(den == 0, 1.0)  # a query with no real key: 0 / 1
        return out[:, :, :tq].to(q.dtype)

    def flops_per_head(self, tq: int, tk: int, head_dim: int, *, causal: bool = False) -> float:
        """Multiply-adds ×2 of one head: the d×d state (2·Tk·d²) and its read-out (2·Tq·d²)."""
        chunk = 2 * tq * self.chunk_size * head_dim if causal else 0  # intra-chunk products
        return 2.0 * (tk + tq) * head_dim * head_dim + chunk

    def _causal(self, fq: Tensor, fk: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Chunked prefix sums; query i sees keys j <= i (top-left, as the other components)."""
        bsz, h, tq, d = fq.shape
        hkv, tk = fk.shape[1], fk.shape[2]
        if tk > tq:  # keys past the last query are never visible
            fk, v = fk[:, :, :tq], v[:, :, :tq]
        c = self.chunk_size
        n = -(-tq // c)
        fq = F.pad(fq, (0, 0, 0, n * c - tq))
        fk = F.pad(fk, (0, 0, 0, n * c - fk.shape[2]))  # zero φ(k): invisible keys
        v = F.pad(v, (0, 0, 0, n * c - v.shape[2]))
        g = h // hkv
        fq = fq.view(bsz, hkv, g, n, c, d)  # (B, Hkv, G, n, C, D)
        fk = fk.view(bsz, hkv, 1, n, c, d)
        v = v.view(bsz, hkv, 1, n, c, v.shape[-1])
        state = fk.transpose(-1, -2) @ v  # (B, Hkv, 1, n, D, Dv): one chunk's Σ φ(k) vᵀ
        state = state.cumsum(dim=3) - state  # exclusive prefix: chunks strictly before
        norm = fk.sum(dim=4)  # (B, Hkv, 1, n, D)
        norm = (norm.cumsum(dim=3) - norm).unsqueeze(-1)  # (B, Hkv, 1, n, D, 1)
        tril = torch.ones(c, c, dtype=torch.bool, device=fq.device).tril()
        local = (fq @ fk.transpose(-1, -2)) * tril  # (B, Hkv, G, n, C, C)
        num = local @ v + fq @ state  # (B, Hkv, G, n, C, Dv)
        den = local.sum(dim=-1, keepdim=True) + fq @ norm  # (B, Hkv, G, n, C, 1)
        return num.reshape(bsz, h, n * c, -1), den.reshape(bsz, h, n * c, 1)
