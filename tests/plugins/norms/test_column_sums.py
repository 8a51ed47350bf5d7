"""`column_sums`: BatchNorm's two-stage column reduction equals `sum(dim=0)` for every row count."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.norms.batchnorm import column_sums


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(1, 24), st.sampled_from([1, 4, 16, 64]))
def test_column_sums_equal_a_plain_column_sum(n_rows: int, n_cols: int, block_rows: int) -> None:
    gen = torch.Generator().manual_seed(n_rows * 31 + n_cols)
    flat = torch.randn(n_rows, n_cols, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        column_sums(flat, block_rows), flat.sum(dim=0), rtol=1e-12, atol=1e-12
    )
