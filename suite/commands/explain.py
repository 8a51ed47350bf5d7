"""`nlpsuite explain [TOPIC]`: interview topics proved on the spot, and component cards."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "interview topics: the card, and an experiment run now that proves its answer"
DESCRIPTION = """\
Without TOPIC, list the interview topics by area (and how to reach the component cards).

With a topic name, show its card (the short answer, the formula, the pitfalls, the follow-up
questions) and run its experiment now, on this machine: a small table and each claim with ✓
when it held or ✗ when it did not, with the numbers just measured. Nothing is typed in.

TOPIC may also be an area (lists its topics and the components of that kind), or a component
(`kind:name` or a bare name such as `focal`): its concept card with the figures a benchmark run
measured for it beside its reference. That run is chosen on purpose and named: --results FILE,
or for each benchmark the full-grid run that finished last among ./reports/**/results.json and
the project's committed runs.

Exit codes: 0 every claim held; 1 a claim did not hold or the experiment failed; 2 usage error.
"""
EPILOG = """\
examples:
  nlpsuite explain                          topics by area
  nlpsuite explain why-scale-by-sqrt-dk     card + experiment
  nlpsuite explain focal-loss --seed 3      the same experiment on another seed
  nlpsuite explain focal-loss --json        for scripts
  nlpsuite explain roc-vs-pr-under-imbalance --html card.html   with its plots
  nlpsuite explain loss:focal               a component's card and its benchmark figures
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topic", nargs="?", help="a topic name, an area, or a component")
    parser.add_argument("--no-run", action="store_true", help="show the card only, run nothing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the experiment (default 0)")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="cpu",
        help="where the experiment runs (default cpu; auto = cuda when available)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--html", type=Path, default=None, metavar="FILE", help="also write the card as a page"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="FILE",
        help="for a component card: take its figures from this results.json",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from suite.errors import UnknownComponentError, UsageError
    from suite.plugins import get_host

    registry = get_host().registry
    if args.topic is None:
        return _list_topics(registry, args)
    areas = {topic.area for topic in registry.topics()}
    try:
        topic = registry.get_topic(args.topic)
    except UnknownComponentError:
        topic = None
    if topic is not None:
        return explain_topic(topic, args)
    if args.topic in areas:
        return _list_topics(registry, args, area=args.topic)
    components = _resolve_components(args.topic, registry)
    if components is None:
        raise UsageError(
            f"no topic, area or component {args.topic!r}; "
            "`nlpsuite explain` lists the topics, `nlpsuite list` the components"
        )
    return _explain_components(components, args)


# --------------------------------------------------------------------------- topics


def resolve_device(name: str) -> Any:
    """`torch.device` for `--device`; a usage error when CUDA is asked for and absent."""
    import torch

    from suite.errors import UsageError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return torch.device(name)


def explain_topic(topic: Any, args: argparse.Namespace) -> int:
    from suite.cards import card_panel, evidence_renderables, render_topic_html
    from suite.console import console
    from suite.results import atomic_write_text
    from suite.topics import TopicContext, run_topic

    if args.no_run:
        if args.html is not None:
            from suite.errors import UsageError

            raise UsageError("--html needs the experiment; drop --no-run")
        if args.json:
            print(json.dumps({"name": topic.name, "card": topic.sections()}, indent=2))
        else:
            console.print(card_panel(topic))
        return 0
    device = resolve_device(args.device)
    if args.html is not None:
        _check_writable(args.html)  # before the experiment: a bad path costs no waiting
    if not args.json:
        console.print(card_panel(topic))
        with console.status(f"running the experiment of {topic.name} …"):
            outcome = run_topic(topic, TopicContext(seed=args.seed, device=device))
        for part in evidence_renderables(outcome):
            console.print(part)
    else:
        outcome = run_topic(topic, TopicContext(seed=args.seed, device=device))
        print(json.dumps(outcome.to_json(), indent=2))
    if args.html is not None:
        atomic_write_text(args.html, render_topic_html(outcome))
        if not args.json:
            console.print(f"wrote {args.html}")
    return 0 if outcome.holds else 1


def _check_writable(path: Path) -> None:
    from suite.errors import UsageError

    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--html {path}: is a folder; give a file name")
    if not parent.is_dir():
        raise UsageError(f"--html {path}: folder {parent} does not exist")


def _list_topics(registry: Any, args: argparse.Namespace, area: str | None = None) -> int:
    from rich.markup import escape

    from suite.cards import topic_index_table
    from suite.console import console
    from suite.kinds import KINDS

    topics = registry.topics(area)
    if args.json:
        rows = [
            {"name": t.name, "area": t.area, "question": t.question, "components": t.components}
            for t in topics
        ]
        print(json.dumps(rows, indent=2))
        return 0
    console.print(topic_index_table(topics))
    if area in KINDS:
        names = ", ".join(cls.name for cls in registry.components(area))
        console.print(
            f"[dim]component cards of this kind: {escape(names)} (explain {area}:NAME)[/]"
        )
    elif area is None:
        console.print(
            f"[dim]{len(topics)} topics. Component cards: `nlpsuite explain kind:name` "
            "(e.g. loss:focal); `nlpsuite quiz` asks the questions in random order.[/]"
        )
    return 0


# --------------------------------------------------------------------------- components


def _resolve_components(text: str, registry: Any) -> list[Any] | None:
    from suite.errors import UnknownComponentError

    if ":" in text:
        kind, _, name = text.partition(":")
        try:
            return [registry.get(kind, name)]
        except UnknownComponentError:
            return None
    matches = [cls for cls in registry.components() if cls.name == text]
    return matches or None


def _explain_components(classes: list[Any], args: argparse.Namespace) -> int:
    from rich.markdown import Markdown
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from suite.console import console
    from suite.evidence import component_evidence, quoted_time
    from suite.plugins import get_host
    from suite.reporting.formatting import format_param

    topics = get_host().registry.topics()
    payload = []
    for cls in classes:
        sources = component_evidence(cls, args.results)
        related = [t.name for t in topics if f"{cls.kind}:{cls.name}" in t.components]
        if args.json:
            payload.append(
                {
                    "kind": cls.kind,
                    "name": cls.name,
                    "reference": cls.reference,
                    "card": cls.concept_card(),
                    "topics": related,
                    "evidence": [
                        {
                            "benchmark": s.benchmark,
                            "run": s.run.get("id"),
                            "path": s.shown_path,
                            "rows": s.rows,
                        }
                        for s in sources
                    ],
                }
            )
            continue
        title = f"{cls.kind}: {cls.name}" + (
            f"  (checked against {cls.reference})" if cls.reference else "  (reference)"
        )
        console.print(Panel(Markdown(cls.concept_card()), title=escape(title), title_align="left"))
        if related:
            console.print(f"prove it now: nlpsuite explain {escape(' | '.join(related))}")
        if not sources:
            console.print(
                "[dim]no benchmark results for it yet: `nlpsuite run --quick` makes them[/]"
            )
        for source in sources:
            run_info = source.run
            table = Table(
                title=(
                    f"{source.benchmark}: run {run_info.get('id')} ({run_info.get('device')}, "
                    f"{'quick' if source.quick else 'full'} grid, finished {run_info.get('finished')})"
                ),
                caption=source.shown_path,
                title_justify="left",
            )
            for column in ("component", "params", "metrics", "median ms"):
                table.add_column(column, overflow="fold")
            for row in source.rows:
                metrics = ", ".join(f"{k}={format_param(v)}" for k, v in row["metrics"].items())
                params = ", ".join(f"{k}={format_param(v)}" for k, v in row["params"].items())
                table.add_row(
                    escape(row["component"]),
                    escape(params),
                    escape(metrics),
                    escape(quoted_time(row)),
                )
            console.print(table)
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    return 0
