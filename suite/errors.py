"""Exceptions of nlpsuite: every error a user or a plugin author can meet has its own class here."""

from __future__ import annotations

__all__ = [
    "CellError",
    "ComponentInputError",
    "NLPSuiteError",
    "OptionError",
    "UnknownComponentError",
    "UsageError",
]


class NLPSuiteError(Exception):
    """Base class of every error raised on purpose by nlpsuite."""


class UsageError(NLPSuiteError):
    """A user mistake (bad flag, unknown name, unreadable file); the CLI prints one line and exits 2."""


class UnknownComponentError(KeyError, UsageError):
    """`suite.get(kind, name)` was asked for a name nobody registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ComponentInputError(ValueError, NLPSuiteError):
    """A component was called with inputs that break its contract (shapes, dtypes, ranges)."""


class OptionError(TypeError, UsageError):
    """A component was given an option it does not take; the message lists the ones it accepts."""


class CellError(NLPSuiteError):
    """A benchmark cell produced an invalid result (a NaN or infinite metric, a wrong type)."""


class SkipCell(NLPSuiteError):
    """Raised by a benchmark for a cell that does not apply (too large for this device, no CUDA):
    the runner records it as `skipped` with this message as the reason, not as an error."""
