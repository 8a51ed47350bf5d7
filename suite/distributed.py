"""Run a job on N local processes joined in a `torch.distributed` process group, safely.

The engine's part of the collective kind: the benchmarks and the conformance kit both start
their process groups here.

Why it exists: a collective needs several processes, and a benchmark cell or a test must get
their results back as plain dicts, or one clear error, never a hang. `launch(job, world_size=2)`
starts one process per rank, each joins the group (gloo on CPU, NCCL on CUDA, rank r on GPU r),
calls `job(rank, world_size, device, **kwargs)` and sends back what it returns. A rank that
raises, dies, or does not answer within `timeout_s` (a collective whose peer never came) makes
the launcher kill every rank and raise `LaunchError` naming the rank and the reason.

What it concedes: processes start from a fork server that imported torch once (the first launch
of a Python process pays that import); where the platform has no fork server, plain spawn. The
ranks then stay alive, waiting for the next job of the same world size and device (the last
few groups are kept), so a run of many cells starts them once; a failed or hung job discards
its group. Components travel to the ranks as `ClassRef`s, so a
class loaded from a file (`nlpsuite check file.py`) is loaded again from that file in the rank.
"""

from __future__ import annotations

import atexit
import datetime as dt
import importlib
import importlib.util
import multiprocessing as mp
import os
import queue
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from suite.errors import CellError

__all__ = [
    "ClassRef",
    "LaunchError",
    "backend_for",
    "call_op",
    "close_group",
    "free_port",
    "launch",
    "rank_data",
]

#: Imported once by the fork server, so that no rank pays for them: torch, what distributed
#: training uses of it (DDP, FSDP, ZeroRedundancyOptimizer), and the suite.
_PRELOAD = [
    "torch",
    "torch.distributed",
    "torch.distributed.fsdp",
    "torch.distributed.optim",
    "torch.nn.parallel",
    "suite",
]


class LaunchError(CellError):
    """A rank of a launched process group raised, died or hung; the message names it."""


@dataclass(frozen=True)
class ClassRef:
    """A class by module, qualified name and source file, to rebuild it in another process."""

    module: str
    qualname: str
    file: str | None

    @classmethod
    def of(cls, target: type) -> ClassRef:
        module = sys.modules.get(target.__module__)
        return cls(target.__module__, target.__qualname__, getattr(module, "__file__", None))

    def load(self) -> Any:
        module = sys.modules.get(self.module)
        if module is None:
            try:
                module = importlib.import_module(self.module)
            except ImportError:
                if self.file is None:
                    raise
                spec = importlib.util.spec_from_file_location(self.module, self.file)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {self.module} from {self.file}") from None
                module = importlib.util.module_from_spec(spec)
                sys.modules[self.module] = module
                spec.loader.exec_module(module)
        target: Any = module
        for part in self.qualname.split("."):
            target = getattr(target, part)
        return target


def backend_for(device: str) -> str:
    """gloo for CPU tensors, NCCL for CUDA tensors."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it: bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return mp.get_context("spawn")


#: The collectives' own time limit inside a group; `launch`'s `timeout_s` kills a hung job sooner.
_GROUP_TIMEOUT = dt.timedelta(minutes=30)


def _describe(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:]
    at = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}{at}"


def _rank_main(rank: int, world_size: int, port: int, device: str, jobs: Any, answers: Any) -> None:
    """One rank: join the group, then run jobs from `jobs` until it yields None."""
    import warnings

    import torch.distributed as dist

    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notes of c10d
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    if torch.device(device).type == "cuda":
        torch.cuda.set_device(rank)
        device = f"cuda:{rank}"
    try:
        dist.init_process_group(
            backend_for(device), rank=rank, world_size=world_size, timeout=_GROUP_TIMEOUT
        )
    except BaseException as exc:  # the parent turns it into one LaunchError
        answers.put((rank, "error", _describe(exc)))
        return
    while True:
        try:
            item = jobs.get()
            if item is None:
                break
            job, kwargs = item
            answers.put((rank, "ok", job(rank, world_size, device, **kwargs)))
        except BaseException as exc:
            answers.put((rank, "error", _describe(exc)))
    dist.destroy_process_group()


@dataclass
class _Group:
    """Ranks kept alive between launches, each waiting on its own job queue."""

    key: tuple[int, str]
    ranks: list[Any]
    jobs: list[Any]
    answers: Any

    @classmethod
    def start(cls, world_size: int, device: str) -> _Group:
        context = _context()
        port, answers = free_port(), context.Queue()
        jobs = [context.Queue() for _ in range(world_size)]
        ranks = [
            context.Process(
                target=_rank_main,
                args=(rank, world_size, port, device, jobs[rank], answers),
                daemon=True,
            )
            for rank in range(world_size)
        ]
        for process in ranks:
            process.start()
        return cls((world_size, device), ranks, jobs, answers)

    def alive(self) -> bool:
        return all(process.is_alive() for process in self.ranks)

    def close(self) -> None:
        if self.alive():
            for queue_ in self.jobs:
                queue_.put(None)
            for process in self.ranks:
                process.join(timeout=2)
        for process in self.ranks:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
        for queue_ in (*self.jobs, self.answers):
            queue_.close()


#: Live groups by (world size, device), the most recently used last; at most `_KEEP` of them.
_GROUPS: dict[tuple[int, str], _Group] = {}
_KEEP = 3
_LOCK = threading.Lock()


def close_group(key: tuple[int, str] | None = None) -> None:
    """Stop the ranks kept for reuse: the group of `key`, or all (at exit; safe any time)."""
    for found in [key] if key is not None else list(_GROUPS):
        group = _GROUPS.pop(found, None)
        if group is not None:
            group.close()


atexit.register(close_group)


def launch(
    job: Callable[..., dict[str, Any]],
    *,
    world_size: int = 2,
    device: str = "cpu",
    timeout_s: float = 60.0,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """`job(rank, world_size, device, **kwargs)` on `world_size` processes in one group; the
    dicts they return, by rank. `job` must be importable (a module-level function).

    The ranks stay alive for the next launch of the same size and device (starting processes is
    the slow part; the last few groups are kept); a job that fails or hangs on any rank kills
    all of its group, so the next launch starts a clean one."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if torch.device(device).type == "cuda" and torch.cuda.device_count() < world_size:
        raise LaunchError(
            f"{world_size} ranks on CUDA need {world_size} GPUs, this machine has {torch.cuda.device_count()}"
        )
    key = (world_size, device)
    with _LOCK:
        group = _GROUPS.pop(key, None)
        if group is not None and not group.alive():
            group.close()
            group = None
        _GROUPS[key] = group = group or _Group.start(world_size, device)  # most recent last
        while len(_GROUPS) > _KEEP:
            close_group(next(iter(_GROUPS)))
        for jobs in group.jobs:
            jobs.put((job, kwargs))
        try:
            return _collect(group.ranks, group.answers, timeout_s)
        except BaseException:
            close_group(key)  # ranks may be stuck in a collective: never reuse them
            raise


def _collect(ranks: list[Any], answers: Any, timeout_s: float) -> list[dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    dead_since: dict[int, float] = {}
    while len(results) < len(ranks):
        try:
            rank, status, payload = answers.get(timeout=0.05)
        except queue.Empty:
            now = time.monotonic()
            for rank, process in enumerate(ranks):
                if rank in results or process.exitcode is None:
                    continue
                # an exited rank's answer may still be in the pipe: give it a moment
                if now - dead_since.setdefault(rank, now) > 1.0:
                    raise LaunchError(
                        f"rank {rank} of {len(ranks)} exited with code {process.exitcode} "
                        "without an answer"
                    ) from None
            if now > deadline:
                missing = sorted(set(range(len(ranks))) - set(results))
                raise LaunchError(
                    f"ranks {missing} of {len(ranks)} gave no answer within {timeout_s:g} s "
                    "(a collective waiting for a peer?): killed"
                ) from None
            continue
        if status != "ok":
            raise LaunchError(f"rank {rank} of {len(ranks)}: {payload}")
        results[rank] = payload
    return [results[rank] for rank in range(len(ranks))]


def rank_data(
    n: int, seed: int, rank: int, *, integer: bool, device: str = "cpu", offset: int = 0
) -> Tensor:
    """Rank `rank`'s float32 tensor of `n` values: small integers (sums exact in any order) or
    standard normal floats."""
    g = torch.Generator().manual_seed(seed * 100_003 + rank * 1_009 + offset)
    values = (
        torch.randint(-1000, 1000, (n,), generator=g).float()
        if integer
        else torch.randn(n, generator=g)
    )
    return values.to(device)


def call_op(collective: Any, op: str, tensor: Tensor) -> Tensor:
    """Run `op` of `collective` on `tensor` (in place for all-reduce and broadcast from rank 0);
    the result."""
    if op == "all-reduce":
        return collective.all_reduce(tensor)
    if op == "all-gather":
        return collective.all_gather(tensor)
    if op == "reduce-scatter":
        return collective.reduce_scatter(tensor)
    if op == "broadcast":
        return collective.broadcast(tensor, src=0)
    raise KeyError(f"unknown collective {op!r}")
