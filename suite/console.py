"""The rich consoles every command prints through (stdout for results, stderr for progress).

A terminal sets the width. Output sent to a file or a pipe has no width of its own, and rich
would assume 80 columns and crop the wide result tables; there the width is 200 columns, unless
the COLUMNS environment variable says otherwise.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

__all__ = ["console", "err_console"]

_PIPED_WIDTH = 200


def _width_for(stream: object) -> int | None:
    is_terminal = getattr(stream, "isatty", lambda: False)()
    return None if is_terminal or "COLUMNS" in os.environ else _PIPED_WIDTH


console = Console(highlight=False, width=_width_for(sys.stdout))
err_console = Console(stderr=True, highlight=False, width=_width_for(sys.stderr))
