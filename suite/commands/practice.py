"""`nlpsuite practice KIND [NAME]`: write a file to fill in, which `nlpsuite check` then grades."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "write a practice scaffold for KIND; fill it in, then grade it with `nlpsuite check FILE`"
DESCRIPTION = """\
Write a Python file with one component of KIND to implement: the class, the contract's
signatures, docstrings that state the task and the interview question, and NotImplementedError
where your code goes. `nlpsuite check FILE` grades it property by property (an unfilled
scaffold fails every property with "not implemented yet").

KIND: attention (SDPA with masks and GQA), tokenizer (BPE), norm (batch norm with a mask),
loss (focal loss), moe (top-k mixture of experts), position (rotary embedding, RoPE),
peft (LoRA), decoding (temperature, top-k and top-p sampling).
NAME defaults to my-KIND.

examples:
  nlpsuite practice attention                 writes my_attention.py
  nlpsuite practice loss focal-from-memory    writes focal_from_memory.py
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "practice",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "kind", help="attention, tokenizer, norm, loss, moe, position, peft or decoding"
    )
    parser.add_argument(
        "name",
        nargs="?",
        default=None,
        help="component name, lowercase with dashes (default: my-KIND)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write (default: NAME with underscores, .py, in the current folder)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=run)


def write_practice(
    kind: str, name: str | None = None, out: Path | None = None, *, force: bool = False
) -> Path:
    """Write the scaffold and return its path; `UsageError` for a bad kind, name or existing file."""
    from suite.errors import UsageError
    from suite.plugins import get_host
    from suite.scaffolds import (
        PRACTICE_KINDS,
        class_name_for,
        practice_reference,
        render,
        validate_name,
    )

    if kind not in PRACTICE_KINDS:
        raise UsageError(f"unknown kind {kind!r}; kinds are {', '.join(PRACTICE_KINDS)}")
    name = name or f"my-{kind}"
    problem = validate_name(name)
    if problem:
        raise UsageError(problem)
    path = out or Path(name.replace("-", "_") + ".py")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it or --out to write elsewhere")
    text = render(
        f"practice_{kind}.py.tmpl",
        name=name,
        class_name=class_name_for(name),
        reference=repr(practice_reference(get_host().registry, kind)),
        filename=path.name,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return path


def run(args: argparse.Namespace) -> int:
    from suite.console import console

    path = write_practice(args.kind, args.name, args.out, force=args.force)
    console.print(f"wrote {path}: fill in the parts that raise NotImplementedError, then run")
    console.print(f"  nlpsuite check {path}")
    return 0
