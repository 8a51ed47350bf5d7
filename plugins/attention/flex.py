"""FlexAttention backend for the sparse components: the same pattern, skipped block by block in one kernel.

`torch.nn.attention.flex_attention` takes a `mask_mod(b, h, q_idx, kv_idx) -> bool` and a
`BlockMask`: per query block of 128 rows, the list of key blocks that hold any allowed pair.
Compiled (`torch.compile`), it generates one fused kernel (Triton on CUDA, C++ on CPU) that
visits only the listed blocks, keeps FlashAttention's online softmax, and applies `mask_mod`
element-wise inside partial blocks. Uncompiled, it runs a reference implementation that
materialises every score: correct, and used in the CPU tests, but dense.

Two choices here:

* the `BlockMask` is built from the component's gathered layout (O(T·K) work, then a bool table
  of (T/128)² blocks), not with `create_block_mask`, which evaluates `mask_mod` on all T² pairs;
  it is cached per (Tq, Tk, causal, device) on the component, as the compiled function is cached
  once per process.
* key padding goes through `score_mod` (a padded key scores -inf), so one cached `BlockMask`
  serves every batch; a query with no key left gets zeros.

When does compiling pay off? On CUDA always (the eager path is dense). On CPU it depends on the
pattern: the first call compiles for seconds, and then on a 2-core CPU at T = 8192 the compiled
kernel beat gathering for a plain sliding window (its blocks are dense bands) but lost to it for
BigBird (random blocks scatter the work). Gathering never pays a compile and grows with the
pairs, so `backend="auto"` gathers on CPU and FlexAttention stays an explicit choice there
(`backend="flex", compile_flex=True`; inference
only, as compiled FlexAttention on CPU has no backward pass).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, flex_attention

if TYPE_CHECKING:
    from plugins.attention.block_sparse import BlockSparseAttention

__all__ = ["FLEX_BLOCK_SIZE", "compiled_flex_attention", "flex_block_mask", "flex_sparse_attention"]

FLEX_BLOCK_SIZE = 128
_RECOMPILE_LIMIT = 128  # patterns × lengths × dtypes × causal in one full benchmark run
_compiled: Callable[..., Any] | None = None


def compiled_flex_attention() -> Callable[..., Any]:
    """`torch.compile(flex_attention)`, created once per process (recompiles per shape only).

    Every pattern, length, dtype and causal flag is one more compilation of the same function;
    past torch's default limit of 8 it would silently fall back to the dense eager path, so the
    limit is raised once here (a process-wide setting of `torch._dynamo.config`).
    """
    global _compiled
    if _compiled is None:
        import torch._dynamo.config as dynamo_config

        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, _RECOMPILE_LIMIT)
        _compiled = torch.compile(flex_attention, dynamic=False)
    return _compiled


def flex_block_mask(
    att: BlockSparseAttention, tq: int, tk: int, *, causal: bool, device: torch.device
) -> BlockMask:
    """The component's pattern (with the causal mask) as a cached FlexAttention `BlockMask`."""
    key = ("block_mask", tq, tk, causal, str(device))
    if key in att.flex_cache:
        return att.flex_cache[key]
    fb = FLEX_BLOCK_SIZE
    nqf, nkf = math.ceil(tq / fb), math.ceil(tk / fb)
    layout = att.layout(tq, tk, causal=causal, device=device)
    b = layout.block_size
    qpos = torch.arange(layout.mask.shape[0] * b, device=device).view(-1, b)  # (nQ, b)
    pair_block = (qpos // fb).clamp(max=nqf - 1)[:, :, None] * nkf + (layout.key_index // fb)[
        :, None, :
    ]
    table = torch.zeros(nqf * nkf, dtype=torch.bool, device=device)
    table[pair_block[layout.mask]] = True
    table = table.view(nqf, nkf)
    g = att.n_global_queries(tq)
    if g:  # global query rows read every key block
        table[: math.ceil(g / fb)] = True
    kv_num_blocks = table.sum(dim=-1, dtype=torch.int32)  # (nQf,)
    kv_indices = table.to(torch.int32).argsort(dim=-1, descending=True, stable=True).to(torch.int32)
    allowed = att.predicate(tq, tk, device)

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        keep = allowed(q_idx, kv_idx)
        return keep & (kv_idx <= q_idx) if causal else keep

    block_mask = BlockMask.from_kv_blocks(
        kv_num_blocks[None, None],
        kv_indices[None, None],
        BLOCK_SIZE=fb,
        mask_mod=mask_mod,
        seq_lengths=(tq, tk),
    )
    att.flex_cache[key] = block_mask
    return block_mask


def flex_sparse_attention(
    att: BlockSparseAttention,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool,
    key_padding_mask: Tensor | None,
    attn_bias: Tensor | None = None,
) -> Tensor:
    """Run `att`'s pattern through FlexAttention; compiled on CUDA unless `att.compile_flex` says.

    `attn_bias` (broadcastable to `(B, H, Tq, Tk)`) is read per pair inside `score_mod`."""
    tq, tk = q.shape[2], k.shape[2]
    block_mask = flex_block_mask(att, tq, tk, causal=causal, device=q.device)
    score_mod = None
    real = key_padding_mask
    bias = None
    if attn_bias is not None:
        bias4 = attn_bias.reshape((1,) * (4 - attn_bias.dim()) + tuple(attn_bias.shape))
        bias = bias4.expand(q.shape[0], q.shape[1], tq, tk).to(q.dtype)
    if real is not None or bias is not None:

        def score_mod(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            if bias is not None:
                score = score + bias[b, h, q_idx, kv_idx]
            if real is not None:
                score = torch.where(real[b, kv_idx], score, -float("inf"))
            return score

    compile_it = att.compile_flex if att.compile_flex is not None else q.device.type == "cuda"
    gqa = k.shape[1] != q.shape[1]
    if compile_it:
        return compiled_flex_attention()(
            q, k, v, score_mod=score_mod, block_mask=block_mask, enable_gqa=gqa
        )
    with warnings.catch_warnings():  # the eager path warns that it is dense; we know
        warnings.simplefilter("ignore", UserWarning)
        return flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask, enable_gqa=gqa)
