"""`nlpsuite plugins`: every plugin found, where it came from, and why it failed if it did."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "installed plugins: name, version, source, hooks, status and error"
DESCRIPTION = """\
List every plugin nlpsuite found: the built-ins (package `plugins`) and third-party packages
that declare an entry point in the `nlpsuite` group:

  [project.entry-points.nlpsuite]
  myplug = "my_pkg.plugin"

A plugin that fails to import, raises in a hook or registers something invalid is shown with
its error and skipped; the others keep working. NLPSUITE_LOAD_PLUGINS=a,b loads only the named
plugins; NLPSUITE_BLOCK_PLUGINS=c never loads c.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--json", action="store_true", help="print the list as JSON instead of a table"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from rich.markup import escape
    from rich.table import Table

    from suite.console import console
    from suite.plugins import get_host

    records = get_host().records
    if args.json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return 0
    table = Table(title="nlpsuite plugins", show_lines=False)
    for column in ("name", "version", "source", "status", "hooks", "registers", "error"):
        table.add_column(column, overflow="fold")
    for record in records:
        style = {"ok": "green", "error": "red", "blocked": "yellow"}.get(record.status, "")
        counts = (
            (len(record.components), "components"),
            (len(record.benchmarks), "benchmarks"),
            (len(record.topics), "topics"),
        )
        registers = (
            ", ".join(f"{count} {what}" for count, what in counts if count)
            if record.status == "ok"
            else ""
        )
        table.add_row(
            escape(record.name),
            escape(record.version),
            escape(record.source),
            f"[{style}]{record.status}[/]",
            ", ".join(record.hooks),
            registers,
            escape(record.error or ""),
        )
    console.print(table)
    return 0
