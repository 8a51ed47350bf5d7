"""`nlpsuite report RESULTS.json`: the tables and report files again, from a results file alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "re-render the tables and reports of a results.json"
DESCRIPTION = """\
Print the tables of a finished (or still running) run and rewrite its reports, from its
results.json alone: no plugin needs to be installed, nothing is measured again.

Tables: one per kind × benchmark, rows grouped per parameter point, each reference followed by
the from-scratch components compared with it; the ratio column is component ÷ reference on the
benchmark's ratio metric (time unless the benchmark says otherwise), at the same parameters.
Files written: results.csv (one row per cell, params.* / metrics.* / timing.* / memory.*
columns for pandas), report.md (the tables in Markdown), report.html (one self-contained page
with plots: time against the swept size on log-log axes, where a slope of 2 means O(n²)).

examples:
  nlpsuite report reports/20250101-120000/results.json
  nlpsuite report results.json --out shared-report  write the files elsewhere
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results",
        type=Path,
        metavar="RESULTS.json",
        help="a results.json written by `nlpsuite run`",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the report files (default: the folder of RESULTS.json)",
    )
    parser.add_argument(
        "--no-files", action="store_true", help="only print the tables; write no report file"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from suite.console import console
    from suite.errors import UsageError
    from suite.folders import prepare_output_folder
    from suite.reporting import print_tables, write_reports
    from suite.results import load_results

    document = load_results(args.results)
    print_tables(document, console)
    if args.no_files:
        return 0
    out_dir = args.out if args.out is not None else args.results.parent
    prepare_output_folder(out_dir, option="--out" if args.out is not None else "results folder")
    try:
        written = write_reports(document, out_dir)
    except OSError as exc:
        raise UsageError(
            f"cannot write the reports into {out_dir}: {exc.strerror or exc}"
        ) from None
    for path in written:
        console.print(f"wrote {path}", highlight=False, markup=False, soft_wrap=True)
    return 0
