"""The launcher: results come back by rank; a rank that raises, dies or hangs is an error, fast."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import torch
import torch.distributed as dist

from suite.distributed import ClassRef, LaunchError, free_port, launch


def sum_of_ranks_job(rank: int, world_size: int, device: str, *, scale: int) -> dict[str, Any]:
    x = torch.tensor([float(rank * scale)])
    dist.all_reduce(x)
    return {"rank": rank, "world": world_size, "device": device, "sum": float(x)}


def failing_job(rank: int, world_size: int, device: str) -> dict[str, Any]:
    if rank == 1:
        raise ValueError("rank one refuses")
    return {"rank": rank}


def hanging_job(rank: int, world_size: int, device: str) -> dict[str, Any]:
    if rank == 0:  # waits for a peer that never sends
        dist.recv(torch.zeros(1), src=1)
    else:
        time.sleep(120)
    return {"rank": rank}


def dying_job(rank: int, world_size: int, device: str) -> dict[str, Any]:
    if rank == 1:
        os._exit(3)
    time.sleep(120)
    return {"rank": rank}


def test_results_come_back_by_rank() -> None:
    results = launch(sum_of_ranks_job, world_size=2, timeout_s=60, scale=10)
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["sum"] == 10.0 and r["world"] == 2 and r["device"] == "cpu" for r in results)


def test_a_rank_that_raises_is_named() -> None:
    with pytest.raises(LaunchError, match="rank 1 of 2: ValueError: rank one refuses"):
        launch(failing_job, world_size=2, timeout_s=60)


@pytest.mark.slow
def test_a_hung_collective_is_killed_at_the_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(LaunchError, match=r"gave no answer within 3 s"):
        launch(hanging_job, world_size=2, timeout_s=3)
    assert time.monotonic() - start < 30


@pytest.mark.slow
def test_a_rank_that_dies_is_an_error_not_a_hang() -> None:
    start = time.monotonic()
    with pytest.raises(LaunchError, match="rank 1 of 2 exited with code 3"):
        launch(dying_job, world_size=2, timeout_s=60)
    assert time.monotonic() - start < 30


def test_more_cuda_ranks_than_gpus_is_refused() -> None:
    if torch.cuda.device_count() >= 64:
        pytest.skip("a machine with 64 GPUs")
    with pytest.raises(LaunchError, match="64 ranks on CUDA need 64 GPUs"):
        launch(sum_of_ranks_job, world_size=64, device="cuda", scale=1)


def test_class_refs_reload_classes_and_ports_are_free() -> None:
    assert ClassRef.of(LaunchError).load() is LaunchError
    assert 0 < free_port() < 65536


def pid_job(rank: int, world_size: int, device: str) -> dict[str, Any]:
    return {"pid": os.getpid()}


def test_ranks_are_reused_until_a_job_fails() -> None:
    first = [r["pid"] for r in launch(pid_job, world_size=2)]
    assert [r["pid"] for r in launch(pid_job, world_size=2)] == first
    with pytest.raises(LaunchError):
        launch(failing_job, world_size=2)
    assert set(r["pid"] for r in launch(pid_job, world_size=2)).isdisjoint(first)
