"""A training progress bar that stays out of the way.

It appears only once training has taken more than a moment (`delay_s`), only when stderr is a
terminal, and never inside `quiet_training()` (the benchmarks use it, since the runner draws its
own bar). Passing `enabled=True` forces it on (after the delay), `enabled=False` off. Test logs
and pipes therefore never see it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from types import TracebackType

__all__ = ["TrainingProgress", "is_quiet", "quiet_training"]

_quiet_depth = 0


@contextlib.contextmanager
def quiet_training() -> Iterator[None]:
    """Within this block no training progress bar is drawn, whatever the terminal."""
    global _quiet_depth
    _quiet_depth += 1
    try:
        yield
    finally:
        _quiet_depth -= 1


def is_quiet() -> bool:
    """True inside `quiet_training()`."""
    return _quiet_depth > 0


class TrainingProgress:
    """`with TrainingProgress(total, "bpe merges") as bar: ... bar.advance()` per merge."""

    def __init__(
        self, total: int, description: str, *, enabled: bool | None = None, delay_s: float = 0.75
    ) -> None:
        self.total = total
        self.description = description
        self.enabled = enabled
        self.delay_s = delay_s
        self.done = 0
        self._start = 0.0
        self._bar = None  # rich.progress.Progress, created lazily
        self._task = None
        self._next_check = 0

    def __enter__(self) -> TrainingProgress:
        self._start = time.perf_counter()
        return self

    def _allowed(self) -> bool:
        if _quiet_depth or self.enabled is False:
            return False
        return bool(self.enabled) or sys.stderr.isatty()

    def advance(self, steps: int = 1) -> None:
        """Count `steps` more units of work; cheap: the clock is read every 64 units."""
        self.done += steps
        if self.done < self._next_check:
            return
        self._next_check = self.done + 64
        if self._bar is None:
            if time.perf_counter() - self._start < self.delay_s or not self._allowed():
                return
            from rich.console import Console
            from rich.progress import Progress

            console = Console(stderr=True, force_terminal=True if self.enabled else None)
            self._bar = Progress(console=console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        self._bar.update(self._task, completed=self.done)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
