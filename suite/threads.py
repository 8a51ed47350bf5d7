"""One intra-op thread for small CPU work, restored afterwards.

Benchmarks that train toy models (ListOps, the MoE cluster task, the loss tasks) and the
conformance kit run kernels of microseconds to a millisecond. At that size a second intra-op
thread saves nothing, and on a machine whose cores are busy with other work, waiting for it to
be scheduled costs whole time slices (tens of milliseconds): timings become noise and training
loops run many times slower. One thread measures the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["single_thread"]


@contextmanager
def single_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block with one intra-op thread (when `enabled`), then restore the previous count."""
    previous = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if enabled:
            torch.set_num_threads(previous)
