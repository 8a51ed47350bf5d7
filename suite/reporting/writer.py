"""`write_reports`: the files of a run folder besides `results.json`, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suite.results import atomic_write_text

__all__ = ["REPORT_FILES", "write_reports"]

REPORT_FILES = ("results.csv", "report.md", "report.html")


def write_reports(
    document: dict[str, Any], out_dir: str | Path, *, plots: bool = True
) -> list[Path]:
    """Write `results.csv`, `report.md` and `report.html` into `out_dir`; return their paths.

    `plots=False` leaves the plots out of the HTML page (matplotlib costs ~0.3 s per plot).

    Each file is complete or absent (temporary file, then rename), so a run killed while
    reporting never leaves half a report; `nlpsuite report results.json` writes them again.
    """
    from suite.reporting.frame import results_csv
    from suite.reporting.html import render_html
    from suite.reporting.markdown import render_markdown

    out_dir = Path(out_dir)
    texts = (results_csv(document), render_markdown(document), render_html(document, plots=plots))
    written = []
    for name, text in zip(REPORT_FILES, texts):
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)
    return written
