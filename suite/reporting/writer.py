"""`write_reports`: the files of a run folder besides `results.json`, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suite.results import atomic_write_text

__all__ = ["REPORT_FILES", "write_reports"]

REPORT_FILES = ("results.csv", "report.md", "report.html")


def write_reports(document: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write `results.csv`, `report.md` and `report.html` into `out_dir`; return their paths.

    Each file is complete or absent (temporary file, then rename), so a run killed while
    reporting never leaves half a report; `nlpsuite report results.json` writes them again.
    """
    from suite.reporting.frame import results_csv
    from suite.reporting.html import render_html
    from suite.reporting.markdown import render_markdown

    out_dir = Path(out_dir)
    renderers = (results_csv, render_markdown, render_html)
    written = []
    for name, render in zip(REPORT_FILES, renderers):
        path = out_dir / name
        atomic_write_text(path, render(document))
        written.append(path)
    return written
