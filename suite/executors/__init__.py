"""Executors: where the cells of a run execute, while the driver alone writes `results.json`.

The runner hands an executor the cells a run still misses and appends each row it yields to the
results file (atomically, as it always does), so `--resume`, `report` and `compare` never know
which executor ran a cell. Two ship:

* `local` (the default): one cell after another in this process.
* `ray`: each cell is a task on a Ray cluster (`--address ADDR`, `auto` to join the running
  one, none to start a local instance), holding one GPU for a CUDA run or `--threads` CPUs
  (default 1) otherwise; rows come back as they finish. Ray is the optional extra
  `pip install 'nlpsuite[ray]'`.

`--cell-timeout SECONDS` turns a cell that runs longer into an error row ("timed out after
N s") under both; a cell whose Ray worker dies becomes an error row naming it. Either way the
run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from suite.errors import UsageError

if TYPE_CHECKING:
    import torch

    from suite.benchmark import RunContext
    from suite.registry import Registry
    from suite.runner import Cell

__all__ = ["EXECUTORS", "RAY_INSTALL_HINT", "Executor", "get_executor"]

EXECUTORS: tuple[str, ...] = ("local", "ray")
RAY_INSTALL_HINT = "--executor ray needs Ray, an optional extra: pip install 'nlpsuite[ray]'"


class Executor(Protocol):
    """Runs cells and yields their results rows as they finish; never writes a file itself.

    The runner calls `pick_device` while validating the run, `start` once the cells to run are
    known (a check that may raise `UsageError`: nothing is written before it passes), then
    `run`, then `close` (also when the run is interrupted).
    """

    name: str

    def pick_device(self, requested: str) -> torch.device:
        """`auto`, `cpu` or `cuda`, checked against where the cells will run."""
        ...

    def start(self, registry: Registry, cells: Sequence[Cell], ctx: RunContext) -> dict[str, Any]:
        """Get ready to run `cells`; returns what the run records about the executor
        (`name`, and for example the cluster address and the number of runners)."""
        ...

    def device_name(self) -> str | None:
        """The name of the device the cells run on, once started (None: the driver's)."""
        ...

    def run(
        self, cells: Sequence[Cell], ctx: RunContext, on_start: Callable[[Cell], None]
    ) -> Iterator[dict[str, Any]]:
        """One results row per cell, in the order they finish; `on_start(cell)` when a cell
        begins. An exception inside a cell, a time-out or a dead worker is an error row."""
        ...

    def close(self) -> None:
        """Release what `start` took (processes, cluster connections); idempotent."""
        ...


def get_executor(
    name: str,
    *,
    address: str | None = None,
    cell_timeout: float | None = None,
    threads: int | None = None,
) -> Executor:
    """The executor called `name`; a usage error for an unknown one, for `address` outside
    Ray, or for `ray` when Ray is not installed (the message says how to install it)."""
    if cell_timeout is not None and not cell_timeout > 0:
        raise UsageError(f"--cell-timeout must be a positive number of seconds, got {cell_timeout}")
    if name == "local":
        if address is not None:
            raise UsageError("--address applies to --executor ray only")
        from suite.executors.local import LocalExecutor

        return LocalExecutor(cell_timeout=cell_timeout)
    if name == "ray":
        try:
            from suite.executors.ray_executor import RayExecutor
        except ImportError as exc:
            if (exc.name or "").split(".")[0] != "ray":
                raise
            raise UsageError(RAY_INSTALL_HINT) from None
        return RayExecutor(address=address, cell_timeout=cell_timeout, threads=threads)
    raise UsageError(f"unknown executor {name!r}; executors are {', '.join(EXECUTORS)}")
