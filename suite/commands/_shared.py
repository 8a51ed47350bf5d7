"""Small helpers several commands share, so that they say the same thing the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["warn_failed_plugins"]


def warn_failed_plugins(host: Any) -> None:
    """One yellow line on stderr per plugin that failed to load: its name and its error."""
    from rich.markup import escape

    from suite.console import err_console

    for record in host.records:
        if record.status == "error":
            err_console.print(
                f"[yellow]plugin {escape(record.name)} skipped: {escape(record.error or '')}[/]",
                soft_wrap=True,
            )
