"""`balanced-bmm`: its layout places every assignment exactly once with bounded padding, and
its result equals one matmul per expert, with and without autograd."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.moe.balanced_bmm import MIN_SURPLUS_ROWS, balanced_bmm, balanced_layout
from plugins.moe.reference import expert_activation

counts_lists = st.lists(st.integers(0, 80), min_size=1, max_size=9)
thread_counts = st.integers(1, 4)


@settings(max_examples=200, deadline=None)
@given(counts_lists, thread_counts, st.sampled_from([0, 8, MIN_SURPLUS_ROWS]))
def test_layout_places_each_assignment_once_and_pads_little(
    counts: list[int], threads: int, min_surplus: int
) -> None:
    layout = balanced_layout(counts, threads, min_surplus)
    covered = torch.zeros(layout.rows, dtype=torch.long)
    for block in layout.blocks:  # blocks tile the layout without overlap
        covered[block.start : block.start + block.batch * block.height] += 1
    assert bool((covered == 1).all())
    owner = torch.full((layout.rows,), -1)  # the expert whose weights each row meets
    for block in layout.blocks:
        for i in range(block.batch):
            expert = block.first if block.shared else block.first + i * block.step
            start = block.start + i * block.height
            owner[start : start + block.height] = expert
    for e, count in enumerate(counts):
        core = layout.core_length[e]
        assert 0 <= core <= count
        rows = list(range(layout.core_start[e], layout.core_start[e] + core))
        rows += range(layout.surplus_start[e], layout.surplus_start[e] + count - core)
        assert len(set(rows)) == count  # an expert's assignments get distinct rows...
        assert all(owner[r] == e for r in rows)  # ...that its own weights multiply
    padding = layout.rows - sum(counts)
    # tiled surpluses pad under one row per thread; a padded group under min_surplus per member
    assert padding <= len(counts) * max(threads - 1, min_surplus)


@settings(max_examples=40, deadline=None)
@given(counts_lists, thread_counts, st.booleans())
def test_balanced_bmm_equals_one_matmul_per_expert(
    counts: list[int], threads: int, with_grad: bool
) -> None:
    n_tokens, d_model, d_hidden, n_experts = 23, 8, 12, len(counts)
    gen = torch.Generator().manual_seed(sum(counts) + threads)
    x = torch.randn(n_tokens, d_model, generator=gen, dtype=torch.float64)
    total = sum(counts)
    token_index = torch.randint(n_tokens, (total,), generator=gen)
    weight = torch.rand(total, generator=gen, dtype=torch.float64)
    w_in = torch.randn(n_experts, d_model, d_hidden, generator=gen, dtype=torch.float64)
    w_out = torch.randn(n_experts, d_hidden, d_model, generator=gen, dtype=torch.float64)
    reference_w_in = w_in.clone().requires_grad_(with_grad)
    w_in.requires_grad_(with_grad)
    expected = torch.zeros(n_tokens, d_model, dtype=torch.float64)
    start = 0
    for e, count in enumerate(counts):
        picked = token_index[start : start + count]
        ys = expert_activation(x[picked] @ reference_w_in[e]) @ w_out[e]
        expected = expected.index_add(0, picked, ys * weight[start : start + count, None])
        start += count
    got = balanced_bmm(x, token_index, weight, counts, w_in, w_out, expert_activation, threads)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    if with_grad and total:
        probe = torch.randn(n_tokens, d_model, generator=gen, dtype=torch.float64)
        (got * probe).sum().backward()
        (expected * probe).sum().backward()
        torch.testing.assert_close(w_in.grad, reference_w_in.grad, rtol=1e-12, atol=1e-12)
