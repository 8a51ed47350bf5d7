"""The per-layout caches of the gathering engine: the zeroing pass runs exactly when it must."""

from __future__ import annotations

import torch

from plugins.attention.bigbird import BigBirdAttention
from plugins.attention.sliding_window import SlidingWindowAttention
from plugins.attention.strided import StridedAttention

CPU = torch.device("cpu")


def _masked_reference(att, q, k, v):
    allowed = att.pattern(q.shape[2], k.shape[2])  # (Tq, Tk)
    scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    probs = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    return torch.nan_to_num(probs) @ v  # a row with no key gives zeros


def test_square_layouts_skip_the_zeroing_pass_and_still_agree() -> None:
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 100, 8, dtype=torch.float64) for _ in range(3))
    for att in (
        SlidingWindowAttention(window=5, block_size=16),
        BigBirdAttention(block_size=16),
        StridedAttention(block_size=16),
    ):
        layout = att.layout(100, 100, causal=False, device=CPU)
        assert not layout.zero_empty_rows  # rows past T and global rows are thrown away
        additive = layout.additive_mask(torch.float64)
        assert bool((additive[layout.mask] == 0).all()) and bool(
            (additive[~layout.mask] < -1e300).all()
        )
        torch.testing.assert_close(att(q, k, v), _masked_reference(att, q, k, v))


def test_kept_rows_without_keys_are_zeroed() -> None:
    torch.manual_seed(1)
    q = torch.randn(1, 2, 40, 8, dtype=torch.float64)
    k, v = (torch.randn(1, 2, 8, 8, dtype=torch.float64) for _ in range(2))
    att = SlidingWindowAttention(window=2, block_size=16)  # queries past 10 see no key
    assert att.layout(40, 8, causal=False, device=CPU).zero_empty_rows
    out = att(q, k, v)
    assert bool((out[:, :, 11:] == 0).all())
    torch.testing.assert_close(out, _masked_reference(att, q, k, v))


def test_bigbird_draws_its_random_blocks_outside_the_window_and_the_global_tokens() -> None:
    att = BigBirdAttention(block_size=8, window_blocks=1, n_global=8, n_random=2, seed=4)
    table = att.random_blocks(96, 96, CPU)  # 12 query blocks x 12 key blocks
    qb, kb = torch.meshgrid(torch.arange(12), torch.arange(12), indexing="ij")
    assert not bool((table & ((qb - kb).abs() <= 1)).any())  # never a window block
    assert not bool(table[:, 0].any())  # never the global block
    assert table.sum(dim=1).tolist() == [2] * 12  # enough blocks are left to draw from
    few = BigBirdAttention(block_size=8, window_blocks=1, n_global=8, n_random=5)
    assert few.random_blocks(32, 32, CPU).sum(dim=1).max() <= 2  # 4 blocks: at most 2 left


def test_only_query_blocks_with_a_blocked_kept_pair_pay_for_the_mask() -> None:
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 1024, 8, dtype=torch.float64) for _ in range(3))
    big = BigBirdAttention(block_size=64)
    layout = big.layout(1024, 1024, causal=False, device=CPU)
    assert not layout.needs_mask(slice(4, 12))  # interior blocks read whole key blocks
    assert layout.needs_mask(slice(0, 16))  # block 1: its window holds the global block twice
    band = SlidingWindowAttention(window=64, block_size=64).layout(
        1024, 1024, causal=False, device=CPU
    )
    assert band.needs_mask(slice(4, 12))
    torch.testing.assert_close(big(q, k, v), _masked_reference(big, q, k, v))
