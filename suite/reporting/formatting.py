"""Number and text formatting shared by every report: 3 significant digits, binary byte units."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "MISSING",
    "format_bytes",
    "format_metric",
    "format_number",
    "format_param",
    "format_ratio",
    "one_line",
]

MISSING = "—"


def format_number(value: Any) -> str:
    """3 significant digits for floats, thousands separators for big values, `—` for None."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < 10**15 else f"{value:.3g}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        magnitude = abs(value)
        if magnitude == 0:
            return "0"
        if magnitude >= 1e6 or magnitude < 1e-3:
            return f"{value:.3g}"
        if magnitude >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return one_line(str(value))


def format_bytes(value: Any) -> str:
    """Bytes in binary units with 3 significant digits: `1.5 MiB`."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return format_number(value)
    if not math.isfinite(value):
        return str(value)
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(amount) < 1000:
            return f"{int(amount)} B" if unit == "B" else f"{amount:.3g} {unit}"
        amount /= 1024
    return f"{amount:.3g} EiB"


def format_ratio(ratio: float | None) -> str:
    return MISSING if ratio is None else f"{format_number(ratio)}×"


def format_metric(name: str, value: Any) -> str:
    return (
        format_bytes(value) if name == "bytes" or name.endswith("_bytes") else format_number(value)
    )


def format_param(value: Any) -> str:
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return one_line(json.dumps(value, default=str))


def one_line(text: Any, limit: int | None = None) -> str:
    """The first non-empty line of `text`, cut to `limit` characters with an ellipsis."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line
