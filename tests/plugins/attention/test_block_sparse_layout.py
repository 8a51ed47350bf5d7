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
        assert torch.equal(layout.blocked, ~layout.mask)
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
