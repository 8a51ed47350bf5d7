"""The local executor: every cell in this process, one after another (the default).

`--cell-timeout` is enforced with a POSIX interval timer (SIGALRM) around each cell: when it
fires, the cell is abandoned at the next Python instruction and becomes an error row. A cell
stuck inside one long native call (a single huge matmul) is stopped only when that call
returns; under Ray the worker process is killed instead, which stops anything.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from suite.errors import UsageError

if TYPE_CHECKING:
    import torch

    from suite.benchmark import RunContext
    from suite.registry import Registry
    from suite.runner import Cell

__all__ = ["LocalExecutor", "timed_out_message"]


def timed_out_message(seconds: float) -> str:
    """The error of a row whose cell ran past `--cell-timeout`."""
    return f"timed out after {seconds:g} s (--cell-timeout)"


class _CellTimedOut(BaseException):
    """Raised into a cell by the timer; a BaseException so that a benchmark's own
    `except Exception` cannot swallow it."""


class LocalExecutor:
    """Runs each cell in this process, in matrix order."""

    name = "local"

    def __init__(self, *, cell_timeout: float | None = None) -> None:
        if cell_timeout is not None and not hasattr(signal, "setitimer"):
            raise UsageError(
                "--cell-timeout with --executor local needs POSIX signals; use --executor ray"
            )
        self.cell_timeout = cell_timeout

    def pick_device(self, requested: str) -> torch.device:
        from suite.runner import pick_device

        return pick_device(requested)

    def start(self, registry: Registry, cells: Sequence[Cell], ctx: RunContext) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name}
        if self.cell_timeout is not None:
            record["cell_timeout_s"] = self.cell_timeout
        return record

    def device_name(self) -> str | None:
        return None

    def run(
        self, cells: Sequence[Cell], ctx: RunContext, on_start: Callable[[Cell], None]
    ) -> Iterator[dict[str, Any]]:
        from suite.runner import error_row, run_cell

        for cell in cells:
            on_start(cell)
            try:
                with self._time_limit():
                    row = run_cell(cell, ctx)
            except _CellTimedOut:
                assert self.cell_timeout is not None
                row = error_row(cell, timed_out_message(self.cell_timeout))
            except SystemExit as exc:  # a plugin calling sys.exit must not end the run
                row = error_row(cell, f"SystemExit: the cell called exit({exc.code!r})")
            yield row

    def close(self) -> None:
        return None

    @contextlib.contextmanager
    def _time_limit(self) -> Iterator[None]:
        if self.cell_timeout is None:
            yield
            return
        if threading.current_thread() is not threading.main_thread():
            raise UsageError("--cell-timeout with --executor local works from the main thread only")

        def expire(signum: int, frame: object) -> None:
            raise _CellTimedOut

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
