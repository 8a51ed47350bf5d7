"""The `nlpsuite` command line: a thin layer over the library; each command lives in `suite.commands`.

Exit codes: 0 all done; 1 some cells failed or checks did not pass; 2 a usage error (bad flag,
unknown kind or name, unreadable file), printed as one line without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from suite.errors import UsageError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "suite.commands.plugins",
    "suite.commands.list",
    "suite.commands.run",
    "suite.commands.report",
    "suite.commands.compare",
    "suite.commands.explain",
    "suite.commands.quiz",
    "suite.commands.check",
    "suite.commands.practice",
    "suite.commands.new_plugin",
    "suite.commands.env",
)

DESCRIPTION = """\
Implement the classic NLP building blocks, prove them right against a reference, measure them.

Components come in eight kinds (tokenizer, attention, norm, loss, moe, position, decoding,
peft), each from-scratch one checked against a real reference (PyTorch, HuggingFace tokenizers,
transformers and peft), and interview topics prove their answers on the spot. Start with:

  nlpsuite list                 what is installed
  nlpsuite run --quick          the quick matrix on this machine, tables + reports/<run-id>/
  nlpsuite explain              interview topics by area; `explain NAME` proves one now
  nlpsuite quiz attention       random questions, each answer with its evidence
  nlpsuite practice attention   a file to fill in; then `nlpsuite check my_attention.py`
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nlpsuite",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from suite import __version__

    parser.add_argument("--version", action="version", version=f"nlpsuite {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except (
            ImportError
        ) as exc:  # a command whose optional part is missing must not break the rest
            if exc.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except UsageError as exc:
        print(f"nlpsuite: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nlpsuite: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
