"""`nlpsuite compare OLD.json NEW.json`: per-cell ratios between two runs, regressions flagged."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "compare two results.json cell by cell; exit 1 on a regression beyond noise"
DESCRIPTION = """\
Match the cells of two runs by (kind, component, benchmark, params) and show, for each, new ÷
old of what was judged (below) and of each benchmark's ratio metric.

Two runs meet different loads, so a cell's time is judged on what both runs can compare:
  - a paired cell (component and reference timed in alternating rounds of the same cell:
    metrics.paired_ratio) on its paired ratio, which the load slows alike on both sides. It
    regressed when new_ratio / old_ratio > 1 + THRESHOLD AND a one-sided Mann–Whitney U test
    (p < 0.01) finds the new per-round ratios (timing.ratio_samples) larger than the old ones
    × (1 + THRESHOLD). Shown as "1.3× paired". Files without per-round ratios use the ratio's
    bootstrap 95% intervals instead: beyond THRESHOLD with the intervals apart;
  - a cell timed alone (a reference, a benchmark timing one function) on its repeats
    (timing.samples_ms), the same test, but only when both runs met a quiet machine: when
    the recorded load (run.load_before/load_after, 1-minute averages) changed notably or
    exceeded the threads the run timed with, it is "unjudged: load changed (x → y)" or
    "machine busy", never flagged. Files without repeats use the median rule:
    new_median - old_median > max(THRESHOLD × old_median, old_IQR + new_IQR).
A cell with fewer than 5 repeats or rounds, or spread too wide (IQR above 25% of the median;
for a paired cell, of its per-round ratios), or a paired cell whose reference itself took more
than 2× (or less than half) its old time (so heavy a load moves ratios too), is "unjudged"
with the reason, not flagged.
The bar is raised by the run-to-run noise that the other cells show: a run's own rounds do not
see how far two runs of unchanged code drift apart. Over the paired cells, and apart over the
cells timed alone, σ = 1.4826 × the median absolute deviation of log(new ÷ old); with 10 cells
or more in the group, its cells are judged beyond max(THRESHOLD, e^(3σ) − 1) instead (the
output names σ and the bar). A real change touches a few cells, so it does not move the median.
A cell is also flagged when its ratio metric, when it is not the time (e.g. encode_mb_per_s,
higher is better), moved the wrong way by more than THRESHOLD × |old|, or when it was ok and
now fails ("broke").
Cells found in one file only ("added", "removed") are counted in one line (listed with
--verbose) and skipped cells are listed; neither is flagged. The output says which test
judged how many cells.
Compare runs of the same device: a CPU run against a GPU run compares hardware, not code.
When the whole machine is slower one day, every cell's time moves together; the median
new/old time over all cells (the machine drift) is printed when it exceeds the threshold, and
--normalize scales the old times of the cells timed alone by it, so only those that moved
relative to the rest are flagged; the ratio shown is then new ÷ (old × drift), the one judged.
Paired ratios need no such correction.

exit status: 0 no regression, 1 a regression flagged, 2 a usage error (unreadable file).

examples:
  nlpsuite compare reports/before/results.json reports/after/results.json
  nlpsuite compare old.json new.json --threshold 0.25 --all
  nlpsuite compare yesterday.json today.json --normalize
  nlpsuite compare old.json new.json --md compare.md --html compare.html
"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.1, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a fraction >= 0 such as 0.1, got {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the baseline results.json")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the results.json to judge")
    parser.add_argument(
        "--threshold",
        type=_fraction,
        default=0.1,
        metavar="FRACTION",
        help="relative change below which a cell counts as unchanged (default: 0.1, i.e. 10%%)",
    )
    parser.add_argument("--all", action="store_true", help="also list the unchanged cells")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="list the cells found in one run only (default: one line counting them)",
    )
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="scale the old times of cells timed alone by the machine drift (median new/old "
        "over all cells) before judging, so a machine that is slower as a whole flags only the "
        "cells that moved more (paired ratios are judged as they are)",
    )
    parser.add_argument(
        "--md",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the comparison as Markdown (regressions first, the drift explained)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the comparison as one self-contained HTML page (sortable, regressions "
        "highlighted)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from suite.console import console
    from suite.reporting import compare_runs, print_comparison
    from suite.results import load_results

    old, new = load_results(args.old), load_results(args.new)
    comparison = compare_runs(old, new, threshold=args.threshold, normalize=args.normalize)
    print_comparison(comparison, console, show_all=args.all, verbose=args.verbose)
    _write_pages(comparison, args.md, args.html, console)
    return 1 if comparison.regressions else 0


def _write_pages(comparison: Any, md: Path | None, html: Path | None, console: Any) -> None:
    """Write the --md and --html pages; a folder that cannot take them is a usage error."""
    from suite.errors import UsageError
    from suite.reporting.compare_pages import render_comparison_html, render_comparison_markdown
    from suite.results import atomic_write_text

    for path, render in ((md, render_comparison_markdown), (html, render_comparison_html)):
        if path is None:
            continue
        try:
            atomic_write_text(path, render(comparison))
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        console.print(f"wrote {path}", highlight=False, markup=False, soft_wrap=True)
