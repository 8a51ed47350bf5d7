"""Message sizes and bandwidths of collectives, as nccl-tests defines them.

nccl-tests reports two bandwidths. Algorithm bandwidth: the message size over the time,
`algbw = S / t`, where S is the whole buffer (all-reduce and broadcast: the tensor;
all-gather: the gathered output; reduce-scatter: the input before scattering). Bus bandwidth:
`busbw = algbw × factor(op, N)`, the rate the busiest link must carry, so that one figure can be
set against the hardware's link speed whatever the number of ranks N.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "BUS_FACTORS",
    "algorithm_bandwidth",
    "bus_bandwidth",
    "bus_factor",
    "message_elements",
    "size_label",
]

#: busbw / algbw per op (nccl-tests, doc/PERFORMANCE.md): what each rank must send or receive
#: as a share of S. All-reduce moves 2(N−1)/N · S per rank (reduce-scatter then all-gather).
BUS_FACTORS: dict[str, Callable[[int], float]] = {
    "all-reduce": lambda n: 2 * (n - 1) / n,
    "all-gather": lambda n: (n - 1) / n,
    "reduce-scatter": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}


def bus_factor(op: str, world_size: int) -> float:
    """busbw / algbw for `op` over `world_size` ranks."""
    if op not in BUS_FACTORS:
        raise KeyError(f"unknown collective {op!r}; ops are {', '.join(BUS_FACTORS)}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    return BUS_FACTORS[op](world_size)


def algorithm_bandwidth(size_bytes: int, seconds: float) -> float:
    """algbw in GB/s (10⁹ bytes per second, as nccl-tests)."""
    return size_bytes / seconds / 1e9


def bus_bandwidth(op: str, size_bytes: int, seconds: float, world_size: int) -> float:
    """busbw in GB/s: algbw × the op's factor."""
    return algorithm_bandwidth(size_bytes, seconds) * bus_factor(op, world_size)


def message_elements(op: str, size_bytes: int, world_size: int, element_size: int = 4) -> int:
    """Elements of each rank's input tensor for a message of `size_bytes` (S, as above):
    all-gather inputs are S/N, reduce-scatter inputs S rounded down to a multiple of N."""
    total = size_bytes // element_size
    if op == "all-gather":
        return max(1, total // world_size)
    if op == "reduce-scatter":
        return max(world_size, total - total % world_size)
    return max(1, total)


def size_label(size_bytes: int) -> str:
    """1024 -> '1 KiB', 67108864 -> '64 MiB'."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= scale and size_bytes % scale == 0:
            return f"{size_bytes // scale} {unit}"
    return f"{size_bytes} B"
