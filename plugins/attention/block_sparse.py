"""Block-sparse attention by gathering: the engine under `sliding-window`, `strided` and `bigbird`.

Why it exists: a sparse pattern only saves time if the work skips the pairs it does not attend.
Building the dense T×T mask and calling dense attention computes every pair and throws most
away. Here queries are cut into blocks of `block_size`; each block gathers only the keys some of
its queries may attend (a short list, `K` wide, fixed per pattern); scores, softmax and the
weighted sum run on `(T/b) × b × K` entries. Time and memory grow with T·K, the attended pairs
rounded up to the block, not with T².

What it concedes: the gathered keys are copied (`K/b` times the size of k), and a block's list
is the union over its queries, so a band of width 2w+1 costs b+2w keys per block.

What made it fast on a CPU (`attention-scaling` at T = 8192 measures it against SDPA): keys are
copied as whole rows with one `index_select` (advanced indexing `k[:, :, index]` was ten times
slower), the mask is a cached additive tensor added in one pass (`masked_fill_` with a
broadcast bool mask was ten times slower), and a run of query blocks whose kept rows read every
gathered key (BigBird's interior blocks) skips the mask altogether. What is left is the two
batched matmuls and the softmax, which is why unfused gathering still costs about twice what
fused SDPA pays per score. On CUDA,
`backend="auto"` hands the same pattern to FlexAttention (see `plugins.attention.flex`), which
skips whole blocks inside one fused kernel instead.

A subclass gives three things, all from the same `predicate`, so that the dense `pattern` used
by the tests, the gathered mask and the FlexAttention `mask_mod` cannot drift apart:

* `predicate(tq, tk, device)`: an elementwise `(qi, kj) -> bool` on broadcastable index tensors;
* `candidate_keys(tq, tk, device)`: `(nQ, C)` key indices per query block, a superset of the
  allowed keys (duplicates and out-of-range entries are fine, they are cleaned here);
* `n_global_queries(tq)`: leading query rows that attend to every key (BigBird's global tokens),
  computed as a few dense rows (O(g·T)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

import suite
from suite.dtypes import compute_dtype
from suite.oracles import attended_pairs, dense_attention

__all__ = ["BACKENDS", "BlockSparseAttention", "GatherLayout", "gather_attention"]

BACKENDS: tuple[str, ...] = ("auto", "gather", "flex")
Predicate = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class GatherLayout:
    """Which keys each query block reads, and which of those pairs count."""

    key_index: Tensor  # (nQ, K) long: key positions per query block (0 where unused)
    mask: Tensor  # (nQ, block, K) bool: query (block row) may attend this gathered key
    block_size: int
    # (nQ, block) bool: the rows the caller keeps (not padding past T, not BigBird's global
    # rows, which are computed densely)
    kept_rows: Tensor
    # derived once per layout, not per call: the rows with a key, whether a kept row has none
    # (False: every row without a key is thrown away, so the output needs no zeroing pass), and
    # the additive mask per dtype
    has_key: Tensor = field(init=False, repr=False)  # (nQ, block, 1) bool
    zero_empty_rows: bool = field(init=False)
    _additive: dict[torch.dtype, Tensor] = field(init=False, repr=False, default_factory=dict)
    _needs_mask: dict[tuple[Any, Any], bool] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_key", self.mask.any(dim=-1, keepdim=True))
        kept_without_key = self.kept_rows & ~self.has_key[..., 0]
        object.__setattr__(self, "zero_empty_rows", bool(kept_without_key.any()))

    @property
    def pairs(self) -> int:
        return int(self.mask.sum())

    def needs_mask(self, blocks: slice) -> bool:
        """Whether some kept row of these query blocks may not read some gathered key. When
        none does (interior blocks of BigBird, whose window, global and random key blocks are
        read whole), the mask is skipped, as FlexAttention skips `mask_mod` on its full blocks."""
        key = (blocks.start, blocks.stop)
        if key not in self._needs_mask:
            kept_blocked = ~self.mask[blocks] & self.kept_rows[blocks][:, :, None]
            self._needs_mask[key] = bool(kept_blocked.any())
        return self._needs_mask[key]

    def additive_mask(self, dtype: torch.dtype) -> Tensor:
        """`(nQ, block, K)`: 0 where a pair counts, `blocked_score(dtype)` where it does not.

        Adding it to the scores is one streaming pass; `masked_fill_` with the same mask
        broadcast over batch and heads took about ten times as long on a CPU.
        """
        if dtype not in self._additive:
            zeros = torch.zeros(self.mask.shape, dtype=dtype, device=self.mask.device)
            self._additive[dtype] = zeros.masked_fill_(~self.mask, blocked_score(dtype))
        return self._additive[dtype]


def blocked_score(dtype: torch.dtype) -> float:
    """The score added to a pair that does not count: exp(it − row max) is exactly 0, and two of
    them plus any real score stay finite, so a row with no key is uniform, never NaN."""
    return torch.finfo(dtype).min / 4


class BlockSparseAttention(suite.Attention):
    """Base of the sparse components; see the module docstring. Not registered itself."""

    name: ClassVar[str] = "block-sparse"
    summary: ClassVar[str] = "gathers only the key blocks each query block attends"
    reference: ClassVar[str | None] = "sdpa"
    supports_bias: ClassVar[bool] = True  # the bias of each gathered pair is gathered too

    def __init__(
        self, *, block_size: int = 64, backend: str = "auto", compile_flex: bool | None = None
    ) -> None:
        if block_size < 1:
            raise ValueError(f"{self.name}: block_size must be >= 1, got {block_size}")
        if backend not in BACKENDS:
            raise ValueError(
                f"{self.name}: backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        self.block_size = block_size  # query rows per gathered block
        self.backend = backend  # auto: FlexAttention on CUDA, gathering elsewhere
        self.compile_flex = compile_flex  # None: compile FlexAttention on CUDA only
        self._layouts: dict[tuple[Any, ...], GatherLayout] = {}
        self.flex_cache: dict[
            tuple[Any, ...], Any
        ] = {}  # block masks, filled by plugins.attention.flex

    # ------------------------------------------------------------------ subclass API
    def predicate(self, tq: int, tk: int, device: torch.device) -> Predicate:
        raise NotImplementedError

    def candidate_keys(self, tq: int, tk: int, device: torch.device) -> Tensor:
        raise NotImplementedError

    def n_global_queries(self, tq: int) -> int:
        return 0

    # ------------------------------------------------------------------ contract
    def pattern(self, tq: int, tk: int) -> Tensor:
        device = torch.device("cpu")
        allowed = self.predicate(tq, tk, device)(
            torch.arange(tq, device=device)[:, None], torch.arange(tk, device=device)[None, :]
        )
        g = self.n_global_queries(tq)
        if g:
            allowed[:g] = True
        return allowed

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
        if self.resolved_backend(q.device) == "flex":
            from plugins.attention.flex import flex_sparse_attention

            return flex_sparse_attention(
                self, q, k, v, causal=causal, key_padding_mask=key_padding_mask, attn_bias=attn_bias
            )
        tq, tk = q.shape[2], k.shape[2]
        layout = self.layout(tq, tk, causal=causal, device=q.device)
        out = gather_attention(q, k, v, layout, key_padding_mask, attn_bias=attn_bias)
        g = min(self.n_global_queries(tq), tq)
        if g:  # global query rows read every key: g dense rows, O(g·T)
            rows = _global_rows(q[:, :, :g], k, v, causal, key_padding_mask, attn_bias)
            out = torch.cat([rows.to(out.dtype), out[:, :, g:]], dim=2)
        return out

    def resolved_backend(self, device: torch.device) -> str:
        if self.backend == "auto":
            return "flex" if device.type == "cuda" else "gather"
        return self.backend

    def attended_pairs(self, tq: int, tk: int, *, causal: bool = False) -> int:
        """Pairs this pattern computes (before padding): what a TFLOP/s figure should count."""
        g = min(self.n_global_queries(tq), tq)
        return self.layout(
            tq, tk, causal=causal, device=torch.device("cpu")
        ).pairs + attended_pairs(None, g, tk, causal=causal)

    # ------------------------------------------------------------------ layout
    def layout(self, tq: int, tk: int, *, causal: bool, device: torch.device) -> GatherLayout:
        """The gathered key lists and their mask for this shape, built once and cached."""
        key = (tq, tk, causal, str(device))
        if key not in self._layouts:
            self._layouts[key] = self._build_layout(tq, tk, causal, device)
        return self._layouts[key]

    def _build_layout(self, tq: int, tk: int, causal: bool, device: torch.device) -> GatherLayout:
        b = self.block_size
        nq = math.ceil(tq / b)
        qpos = torch.arange(nq * b, device=device).view(nq, b)  # (nQ, b)
        cand = self.candidate_keys(tq, tk, device).to(device)  # (nQ, C)
        out_of_range = (cand < 0) | (cand >= tk)
        if causal:  # keys after the block's last query can never count
            out_of_range |= cand > qpos[:, -1:]
        cand = cand.masked_fill(out_of_range, tk).sort(dim=1).values  # sentinel tk sorts last
        duplicate = torch.zeros_like(cand, dtype=torch.bool)
        duplicate[:, 1:] = cand[:, 1:] == cand[:, :-1]
        cand = cand.masked_fill(duplicate, tk).sort(dim=1).values
        width = max(int((cand < tk).sum(dim=1).max()), 1)
        key_index = cand[:, :width]  # (nQ, K)
        valid = key_index < tk
        key_index = key_index.masked_fill(~valid, 0)
        allowed = self.predicate(tq, tk, device)(qpos[:, :, None], key_index[:, None, :])
        mask = allowed & valid[:, None, :] & (qpos < tq)[:, :, None]  # (nQ, b, K)
        if causal:
            mask &= key_index[:, None, :] <= qpos[:, :, None]
        g = self.n_global_queries(tq)
        if g:
            mask &= qpos[:, :, None] >= g  # those rows are computed densely
        kept_rows = (qpos >= g) & (qpos < tq)  # (nQ, b): rows the caller keeps
        return GatherLayout(key_index=key_index, mask=mask, block_size=b, kept_rows=kept_rows)


def gather_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    layout: GatherLayout,
    key_padding_mask: Tensor | None,
    *,
    chunk_elements: int = 1 << 20,
    attn_bias: Tensor | None = None,
) -> Tensor:
    """Attention over the gathered keys of `layout`; rows with no key give zeros.

    `attn_bias` (broadcastable to `(B, H, Tq, Tk)`) is read at the gathered pairs only, chunk
    by chunk: O(T·K) reads, never a dense copy.

    Query heads sharing a key/value head (GQA) are stacked inside each block, so k and v are
    gathered once per key/value head, not once per query head. Query blocks are processed in
    chunks of about `chunk_elements` scores, so that the working set stays in cache and the
    peak memory is bounded whatever T: time grows with the pairs, not faster.
    """
    bsz, h, tq, d = q.shape
    hkv = k.shape[1]
    g = h // hkv
    b = layout.block_size
    nq, width = layout.key_index.shape
    if nq * b != tq:
        q = torch.nn.functional.pad(q, (0, 0, 0, nq * b - tq))
    q = q * (1.0 / math.sqrt(d))  # scale the T·D queries, not the T·K scores
    qg = q.view(bsz, hkv, g, nq, b, d).transpose(2, 3).reshape(bsz, hkv, nq, g * b, d)
    step = max(1, chunk_elements // (bsz * h * b * width))
    bias = None if attn_bias is None else _as_4d(attn_bias)
    pieces = [
        _gather_chunk(
            qg[:, :, i : i + step], k, v, layout, key_padding_mask, slice(i, i + step), bias, tq
        )
        for i in range(0, nq, step)
    ]
    out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)  # (B, Hkv, nQ, G*b, D)
    out = out.view(bsz, hkv, nq, g, b, d).transpose(2, 3).reshape(bsz, h, nq * b, d)
    return out[:, :, :tq]


def _gather_chunk(
    qg: Tensor,
    k: Tensor,
    v: Tensor,
    layout: GatherLayout,
    key_padding_mask: Tensor | None,
    blocks: slice,
    attn_bias: Tensor | None = None,
    tq: int = 0,
) -> Tensor:
    """One chunk of query blocks: qg `(B, Hkv, n, G*b, D)` -> `(B, Hkv, n, G*b, D)`."""
    bsz, hkv, n, gb, d = qg.shape
    b = layout.block_size
    key_index = layout.key_index[blocks]  # (n, K)
    width = key_index.shape[1]
    rows = _flat_rows(bsz * hkv, k.shape[2], key_index)
    kg = _take_rows(k, rows, key_index.shape)  # (B, Hkv, n, K, D)
    vg = _take_rows(v, rows, key_index.shape)
    scores = (qg @ kg.transpose(-1, -2)).view(
        bsz, hkv, n, gb // b, b, width
    )  # (B, Hkv, n, G, b, K)
    scores = scores.to(compute_dtype(scores))
    # pairs that do not count get a huge negative score, so exp(score - max) = 0 exactly; a row
    # with no key comes out uniform and is zeroed below (or left so where the caller drops it)
    if layout.needs_mask(blocks):
        scores += layout.additive_mask(scores.dtype)[blocks][None, None, :, None]  # (1,1,n,1,b,K)
    has_key: Tensor | None = None
    if key_padding_mask is not None:
        real = key_padding_mask[:, key_index]  # (B, n, K)
        padded = torch.zeros(real.shape, dtype=scores.dtype, device=real.device)
        scores += padded.masked_fill_(~real, blocked_score(scores.dtype))[:, None, :, None, None, :]
        mask = layout.mask[blocks][None, None, :, None] & real[:, None, :, None, None, :]
        has_key = mask.any(dim=-1, keepdim=True)  # (B, 1, n, 1, b, 1)
    elif layout.zero_empty_rows:  # the layout's own row test, cached
        has_key = layout.has_key[blocks][None, None, :, None]  # (1, 1, n, 1, b, 1)
    if attn_bias is not None:
        scores += _gather_bias(attn_bias, layout, blocks, hkv, tq, k.shape[2]).to(scores.dtype)
    probs = scores.softmax(dim=-1).to(v.dtype)
    out = probs.view(bsz, hkv, n, gb, width) @ vg  # (B, Hkv, n, G*b, D)
    if has_key is None:  # every kept row has a key: nothing to zero
        return out
    out = torch.where(has_key, out.view(bsz, hkv, n, gb // b, b, d), 0.0)
    return out.view(bsz, hkv, n, gb, d)


def _flat_rows(heads: int, t: int, index: Tensor) -> Tensor:
    """`(heads·n·K,)`: the rows of a flattened `(heads·T, D)` tensor that `index` `(n, K)` picks
    in every head."""
    offsets = torch.arange(0, heads * t, t, device=index.device)[:, None]  # (heads, 1)
    return (offsets + index.reshape(1, -1)).reshape(-1)


def _take_rows(x: Tensor, rows: Tensor, index_shape: torch.Size) -> Tensor:
    """`x[:, :, index]` for x `(B, H, T, D)`, given `_flat_rows(B·H, T, index)`: `(B, H, n, K, D)`.

    One `index_select` of whole D-wide rows of the flattened `(B·H·T, D)` tensor, copied with
    memcpy; the advanced-indexing form `x[:, :, index]` ran about ten times slower on a CPU.
    """
    bsz, h, t, d = x.shape
    picked = x.reshape(bsz * h * t, d).index_select(0, rows)
    return picked.view(bsz, h, *index_shape, d)


def _global_rows(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool,
    key_padding_mask: Tensor | None,
    attn_bias: Tensor | None,
) -> Tensor:
    """The first g query rows against every key. Without padding or bias this is plain (GQA)
    SDPA, whose causal mask is aligned top-left, as ours is for rows 0 … g−1; with them, the
    masked oracle, which keeps a row without a real key at exactly zero."""
    if key_padding_mask is None and attn_bias is None and q.dtype == compute_dtype(q):
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=causal, enable_gqa=k.shape[1] != q.shape[1]
        )
    bias = None if attn_bias is None else _as_4d(attn_bias)[:, :, : q.shape[2]]
    return dense_attention(
        q,
        k,
        v,
        causal=causal,
        key_padding_mask=key_padding_mask,
        dtype=compute_dtype(q),
        attn_bias=bias,
    )


def _as_4d(attn_bias: Tensor) -> Tensor:
    """A bias broadcastable to `(B, H, Tq, Tk)` with its leading ones written out."""
    return attn_bias.reshape((1,) * (4 - attn_bias.dim()) + tuple(attn_bias.shape))


def _gather_bias(
    bias: Tensor, layout: GatherLayout, blocks: slice, hkv: int, tq: int, tk: int
) -> Tensor:
    """The bias of a chunk's gathered pairs, laid out as its scores `(B|1, Hkv|1, n, G|1, b, K)`."""
    b = layout.block_size
    key_index = layout.key_index[blocks]  # (n, K)
    n = key_index.shape[0]
    first = (blocks.start or 0) * b
    qpos = torch.arange(first, first + n * b, device=key_index.device).view(n, b)
    bb, bh = bias.shape[0], bias.shape[1]
    full = bias.expand(bb, bh, tq, tk)  # a view: nothing copied
    picked = full[
        :, :, qpos.clamp(max=tq - 1)[:, :, None], key_index[:, None, :]
    ]  # (B|1, H|1, n, b, K)
    if bh == 1:
        return picked[:, :, :, None]  # (B|1, 1, n, 1, b, K)
    return picked.view(bb, hkv, bh // hkv, n, b, -1).transpose(2, 3)  # (B|1, Hkv, n, G, b, K)
