"""Number and text formatting shared by every report: 3 significant digits, binary byte units.

An integral value reads as an integer wherever it comes from: JSON has one number type, so a
benchmark's `8192` often arrives as the float `8192.0`, and `8.19e+03` is no way to show a
sequence length. Floats that are not integral keep 3 significant digits.
"""

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


_EXACT_LIMIT = 10**15  # integers below this print in full; above, 3 significant digits


def _integral(value: float) -> int | None:
    """`value` as an int when it is a finite whole number of printable size, else None."""
    if math.isfinite(value) and value.is_integer() and abs(value) < _EXACT_LIMIT:
        return int(value)
    return None


def format_number(value: Any) -> str:
    """Integers (and whole floats) in full with thousands separators, 3 significant digits for
    other floats, `—` for None."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and _integral(value) is not None:
        value = _integral(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) < _EXACT_LIMIT else f"{value:.3g}"
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
    """A parameter value as it would be typed: `8192` (also for `8192.0`), `0.05`, `1.25`.

    No thousands separators, since params are listed as `a=8192, b=4`; floats that are not
    integral get 3 significant digits (whole digits from 1000 up, never an exponent below 1e15).
    """
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        whole = _integral(value)
        if whole is not None:
            return str(whole)
        if math.isfinite(value) and 1000 <= abs(value) < _EXACT_LIMIT:
            return f"{value:.0f}"
        return f"{value:.3g}"
    return one_line(json.dumps(value, default=str))


def one_line(text: Any, limit: int | None = None) -> str:
    """The first non-empty line of `text`, cut to `limit` characters with an ellipsis."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line
