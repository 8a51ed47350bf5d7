"""Reporting: the results document as terminal tables, CSV, Markdown and HTML, and run comparison.

`print_tables(document, console)` prints one rich table per kind × benchmark, each from-scratch
component beside its reference with the ratio; `write_reports(document, out_dir)` writes
`results.csv`, `report.md` and `report.html`; `compare_runs(old, new)` matches the cells of two
runs and flags regressions beyond noise. pandas and matplotlib are imported only when used.
"""

from __future__ import annotations

from suite.reporting.compare import Comparison, compare_runs, print_comparison
from suite.reporting.tables import Table, build_tables
from suite.reporting.terminal import print_tables
from suite.reporting.writer import REPORT_FILES, write_reports

__all__ = [
    "REPORT_FILES",
    "Comparison",
    "Table",
    "build_tables",
    "compare_runs",
    "print_comparison",
    "print_tables",
    "write_reports",
]
