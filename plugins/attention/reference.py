"""`sdpa`: PyTorch's fused scaled dot-product attention, the reference every component must match."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

import suite
from plugins.attention.common import combine_masks

__all__ = ["SDPAAttention"]


class SDPAAttention(suite.Attention):
    """`torch.nn.functional.scaled_dot_product_attention`: the same maths, fused kernels.

    Interview question: "What does FlashAttention change, if the FLOPs are the same?"

    Short answer: memory traffic. The naive version writes the T×T score matrix to memory and
    reads it back three times (mask, softmax, matmul). Flash attention tiles q, k and v into
    on-chip SRAM and keeps a running max and running sum per row (the *online softmax*), so the
    matrix never exists: O(T) memory instead of O(T²), and the kernel becomes compute-bound.
    SDPA picks a backend at run time: flash, memory-efficient (xformers-style), cuDNN, or the
    plain math version, depending on device, dtype, head size and mask.

    Pitfalls:
    * an explicit `attn_mask` rules out the flash backend on CUDA; pass `is_causal=True` for a
      plain causal mask instead of building one.
    * a row whose mask is all False returns NaN from some backends; this wrapper lets such rows
      attend to everything and zeroes them afterwards, which keeps the backward pass finite.
    * `is_causal=True` is top-left aligned (query i sees keys j ≤ i); a decoder with a KV cache
      wants bottom-right alignment when Tq < Tk.
    * GQA: `enable_gqa=True` shares each key/value head between H / Hkv query heads without a copy.
    """

    name: ClassVar[str] = "sdpa"
    summary: ClassVar[str] = "torch.nn.functional.scaled_dot_product_attention (reference)"
    reference: ClassVar[str | None] = None
    practice_target: ClassVar[bool] = True  # `nlpsuite practice attention` is graded against it
    supports_bias: ClassVar[bool] = True  # a float `attn_mask` is added to the scaled scores

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
        gqa = k.shape[1] != q.shape[1]
        bias = None if attn_bias is None else attn_bias.to(q.dtype)
        if key_padding_mask is None and (bias is None or not causal):
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, is_causal=causal, enable_gqa=gqa
            )
        tq, tk = q.shape[2], k.shape[2]
        mask = combine_masks(
            None, tq, tk, causal=causal, key_padding_mask=key_padding_mask, device=q.device
        )
        assert mask is not None
        mask = mask.expand(q.shape[0], 1, tq, tk)  # (B, 1, Tq, Tk)
        has_key = mask.any(dim=-1, keepdim=True)  # (B, 1, Tq, 1)
        safe = mask | ~has_key  # empty rows attend everywhere, then are zeroed
        attn_mask = safe if bias is None else torch.where(safe, bias, float("-inf"))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, enable_gqa=gqa)
        return out * has_key.to(out.dtype)
