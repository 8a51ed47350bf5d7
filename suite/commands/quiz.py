"""`nlpsuite quiz [AREA]`: interview questions in random order, each answer proved on the spot."""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

HELP = "ask interview questions, wait, then show the answer and run its evidence"
DESCRIPTION = """\
Ask N random interview questions (of AREA, if given). For each, think of your answer, press
Enter, and the short answer is shown with its experiment run now: each claim with ✓ or ✗ and
the numbers just measured. When the input is not a terminal (piped, scripted) nothing waits.

Exit codes: 0 every claim held; 1 some claim did not hold or an experiment failed; 2 usage error.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "quiz",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("area", nargs="?", help="only questions of this area (see `explain`)")
    parser.add_argument("--n", type=int, default=3, metavar="N", help="how many questions (3)")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="fixes the order of the questions and the experiments' seed (default: random order, seed 0)",
    )
    parser.add_argument("--no-run", action="store_true", help="show answers without experiments")
    parser.set_defaults(handler=run)


def choose_questions(topics: list[Any], n: int, seed: int | None) -> list[Any]:
    """`n` distinct topics in random order (all of them when there are fewer)."""
    chooser = random.Random(seed)
    return chooser.sample(topics, min(n, len(topics)))


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.rule import Rule

    from suite.cards import card_panel, evidence_renderables
    from suite.console import console
    from suite.errors import UsageError
    from suite.plugins import get_host
    from suite.topics import TopicContext, run_topic

    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    registry = get_host().registry
    topics = registry.topics(args.area)
    if not topics:
        areas = sorted({t.area for t in registry.topics()})
        raise UsageError(f"no topics in area {args.area!r}; areas are {', '.join(areas)}")
    interactive = sys.stdin.isatty()
    all_held = True
    chosen = choose_questions(topics, args.n, args.seed)
    for number, topic in enumerate(chosen, start=1):
        console.print(Rule(f"question {number} of {len(chosen)} · {escape(topic.area)}"))
        console.print(f"[bold]{escape(topic.question)}[/]")
        if interactive:
            try:
                input("(think of your answer, then press Enter) ")
            except EOFError:
                interactive = False
        console.print(card_panel(topic, answer_only=True))
        if args.no_run:
            continue
        with console.status(f"running the experiment of {topic.name} …"):
            outcome = run_topic(topic, TopicContext(seed=args.seed or 0))
        for part in evidence_renderables(outcome):
            console.print(part)
        console.print(f"[dim]the whole card: nlpsuite explain {escape(topic.name)}[/]")
        all_held = all_held and outcome.holds
    return 0 if all_held else 1
