"""suite.threads: one intra-op thread inside the block, the previous count restored after."""

from __future__ import annotations

import pytest
import torch

from suite.threads import single_thread


def test_single_thread_restores_the_thread_count() -> None:
    before = torch.get_num_threads()
    with single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with single_thread(enabled=False):
        assert torch.get_num_threads() == before


def test_thread_count_is_restored_when_the_block_raises() -> None:
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), single_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
