"""`nlpsuite list [KIND]`: the components and benchmarks of every loaded plugin, by kind."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "components and benchmarks, by kind"
DESCRIPTION = """\
List registered components and benchmarks. Each from-scratch component names the reference it
must agree with (PyTorch, HuggingFace tokenizers); references show '-'. KIND is one of
tokenizer, attention, norm, loss, moe.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", nargs="?", help="only this kind")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from suite.commands._shared import warn_failed_plugins
    from suite.console import console
    from suite.errors import UsageError
    from suite.kinds import KINDS
    from suite.plugins import get_host

    if args.kind is not None and args.kind not in KINDS:
        raise UsageError(f"unknown kind {args.kind!r}; kinds are {', '.join(KINDS)}")
    host = get_host()
    registry = host.registry
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        table = Table(title=f"{kind}: components", title_justify="left")
        for column in ("name", "reference", "summary", "plugin"):
            table.add_column(column, overflow="fold")
        for cls in registry.components(kind):
            owner = registry.owner.get(("component", f"{kind}:{cls.name}"), "?")
            table.add_row(
                escape(cls.name), escape(cls.reference or "-"), escape(cls.summary), escape(owner)
            )
        console.print(table)
        benchmarks = registry.benchmarks(kind)
        if benchmarks:
            btable = Table(title=f"{kind}: benchmarks", title_justify="left")
            for column in ("name", "summary", "quick grid", "full grid"):
                btable.add_column(column, overflow="fold")
            for bcls in benchmarks:
                bench = bcls()
                btable.add_row(
                    escape(bcls.name),
                    escape(bcls.summary),
                    str(len(bench.params(True))),
                    str(len(bench.params(False))),
                )
            console.print(btable)
    warn_failed_plugins(host)
    return 0
