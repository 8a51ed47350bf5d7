"""`nlpsuite explain [TOPIC]`: concept cards, with the suite's own measurements as evidence."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suite.kinds import Component

HELP = "concept cards: the interview points, and the suite's own evidence for them"
DESCRIPTION = """\
Show the concept card of a component (its docstring: the question an interviewer asks, the
short answer, the formula, the pitfalls) and the figures the suite measured for it in the
newest results file under reports/ (or --results FILE), beside its reference.

TOPIC is a kind (tokenizer, attention, norm, loss, moe), a component name, or kind:name.
Without TOPIC, list the topics.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topic", nargs="?", help="a kind, a component name, or kind:name")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="FILE",
        help="take the evidence from this results.json",
    )
    parser.set_defaults(handler=run)


def resolve_topic(topic: str, registry: Any) -> list[type[Component]]:
    """The component classes a topic names; a `UsageError` listing the topics when none."""
    from suite.errors import UsageError
    from suite.kinds import KINDS

    if topic in KINDS:
        return registry.components(topic)
    if ":" in topic:
        kind, _, name = topic.partition(":")
        return [registry.get(kind, name)]
    matches = [cls for cls in registry.components() if cls.name == topic]
    if not matches:
        names = ", ".join(sorted({cls.name for cls in registry.components()}))
        raise UsageError(
            f"no topic {topic!r}; topics are the kinds ({', '.join(KINDS)}) and components ({names})"
        )
    return matches


def candidate_results(explicit: Path | None) -> list[dict[str, Any]]:
    """Results documents to quote, newest first: `explicit` alone, else every reports/**/results.json."""
    from suite.results import load_results

    if explicit is not None:
        return [load_results(explicit)]
    paths = sorted(
        Path("reports").glob("**/results.json"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    documents = []
    for path in paths:
        try:
            documents.append(load_results(path))
        except Exception:
            continue
    return documents


def evidence_rows(document: dict[str, Any], component: type[Component]) -> list[dict[str, Any]]:
    """The ok rows of `component` and of its reference, so the two can be read side by side."""
    names = {component.name, component.reference} - {None}
    return [
        row
        for row in document["results"]
        if row["kind"] == component.kind and row["component"] in names and row["status"] == "ok"
    ]


def run(args: argparse.Namespace) -> int:
    from rich.markdown import Markdown
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from suite.console import console
    from suite.plugins import get_host

    registry = get_host().registry
    if args.topic is None:
        table = Table(title="topics (nlpsuite explain TOPIC)", title_justify="left")
        for column in ("kind", "name", "summary"):
            table.add_column(column)
        for cls in registry.components():
            table.add_row(cls.kind, escape(cls.name), escape(cls.summary))
        console.print(table)
        return 0
    classes = resolve_topic(args.topic, registry)
    documents = candidate_results(args.results)
    for cls in classes:
        title = f"{cls.kind}: {cls.name}" + (
            f"  (checked against {cls.reference})" if cls.reference else "  (reference)"
        )
        console.print(Panel(Markdown(cls.concept_card()), title=escape(title), title_align="left"))
        found = next(((doc, rows) for doc in documents if (rows := evidence_rows(doc, cls))), None)
        if found is None:
            console.print(
                "[dim]no results for it yet: run `nlpsuite run --quick` for the evidence[/]"
            )
            continue
        document, rows = found
        table = Table(
            title=f"evidence from run {document['run']['id']} ({document['run']['device']})",
            title_justify="left",
        )
        for column in ("benchmark", "component", "params", "metrics", "median ms"):
            table.add_column(column, overflow="fold")
        for row in rows:
            metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in row["metrics"].items())
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
            median = _fmt(row["timing"]["median_ms"]) if row.get("timing") else "-"
            table.add_row(
                escape(row["benchmark"]),
                escape(row["component"]),
                escape(params),
                escape(metrics),
                median,
            )
        console.print(table)
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
