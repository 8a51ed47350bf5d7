"""Keep freed host memory in the process while benchmarks run, so CPU timings leave out page faults.

Why it exists: PyTorch's CPU tensors come from the C library's `malloc`. glibc serves a block
above the *mmap threshold* with a fresh `mmap` and gives it back with `munmap` when the tensor
dies; it also returns the top of the heap to the kernel once more than the *trim threshold* is
free. The next call then touches new pages: one page fault per 4 KiB and the kernel zeroing it,
on every call, for every multi-megabyte intermediate. Worse, glibc moves the mmap threshold up
as blocks are freed (from 128 KiB to at most 32 MiB) and trims the heap as it likes, so
whether a call pays depends on what the process allocated before, and a timing depended on
which cells had run first. A CUDA timing never sees this: PyTorch's caching allocator keeps
freed blocks for reuse, and PyTorch's CPU performance guide recommends a caching `malloc`
(jemalloc, tcmalloc) for the same reason.

What it does: `keep_freed_memory()` tells glibc, once per process and with `mallopt`, to serve
every block from the heap (`M_MMAP_MAX` = 0: no block gets an mmap of its own; the mmap
threshold is also pinned at its 32 MiB maximum, which stops it moving) and to keep up to 1 GiB
of free heap before trimming. A freed tensor's memory is then reused by the next one of any
size, as PyTorch's CUDA caching allocator reuses GPU memory. `nlpsuite` calls it before the
first cell runs, in the driver and in every Ray worker (and before a topic's experiment), so a
component and its reference are timed under the same allocator, and records what it did in
`results.json` (`run.allocator`).

What it concedes: the process holds on to freed memory (up to 1 GiB beyond what it uses)
while it runs; if the heap cannot grow, glibc still falls back to mmap. Other C libraries
(musl, macOS) are left as they are, and so is glibc when `NLPSUITE_MALLOC=system` is set:
`run.allocator` then says so, and timings are the allocator's as well as the kernel's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

from suite.errors import UsageError

__all__ = [
    "ALLOCATOR_VARIABLE",
    "MMAP_THRESHOLD_BYTES",
    "TRIM_THRESHOLD_BYTES",
    "keep_freed_memory",
]

ALLOCATOR_VARIABLE = "NLPSUITE_MALLOC"  # "keep" (default) or "system": leave malloc as it is
MMAP_THRESHOLD_BYTES = 32 * 1024**2  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 1024**3
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4

_applied: dict[str, object] | None = None


def keep_freed_memory() -> dict[str, object]:
    """Make glibc serve every block from a heap it keeps; idempotent.

    Returns what holds now, for `run.allocator`: `{"malloc": "glibc 2.36", "mmap_threshold":
    33554432, "mmap_max": 0, "trim_threshold": 1073741824}` when set, or `{"malloc": ...,
    "unchanged": why}`.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return dict(_applied)


def _apply() -> dict[str, object]:
    library, version = platform.libc_ver()
    name = f"{library} {version}".strip() or "unknown"
    wanted = os.environ.get(ALLOCATOR_VARIABLE, "").strip().lower()
    if wanted not in ("", "keep", "system"):
        raise UsageError(
            f"{ALLOCATOR_VARIABLE} must be 'keep' (the default) or 'system'; got {wanted!r}"
        )
    if wanted == "system":
        return {"malloc": name, "unchanged": f"{ALLOCATOR_VARIABLE}=system"}
    if library != "glibc":
        return {"malloc": name, "unchanged": "not glibc"}
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mmap_ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    trim_ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    no_mmap_ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
    if not (mmap_ok and trim_ok and no_mmap_ok):
        return {"malloc": name, "unchanged": "mallopt refused the settings"}
    return {
        "malloc": name,
        "mmap_threshold": MMAP_THRESHOLD_BYTES,
        "mmap_max": 0,
        "trim_threshold": TRIM_THRESHOLD_BYTES,
    }
