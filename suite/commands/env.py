"""`nlpsuite env`: what to check first when a number looks wrong: Python, torch, CUDA, the GPU."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "Python, torch and CUDA versions, whether CUDA is available, the GPU"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("env", help=HELP, description=HELP + ".")
    parser.set_defaults(handler=run)


def environment() -> dict[str, str]:
    """The facts `nlpsuite env` prints, as a dict (also useful in bug reports)."""
    import os
    import platform

    import torch

    from suite import __version__

    cuda = torch.cuda.is_available()
    facts = {
        "nlpsuite": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch cuda build": str(torch.version.cuda or "none (CPU build)"),
        "cuda available": "yes" if cuda else "no",
        "gpu": torch.cuda.get_device_name(0) if cuda else "none",
        "cpu threads (torch)": str(torch.get_num_threads()),
        "cpu count": str(os.cpu_count()),
    }
    if cuda:
        major, minor = torch.cuda.get_device_capability(0)
        facts["gpu capability"] = f"sm_{major}{minor}"
        facts["bf16 supported"] = "yes" if torch.cuda.is_bf16_supported() else "no"
    return facts


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from suite.console import console

    table = Table(show_header=False, title="nlpsuite env", title_justify="left")
    table.add_column("what")
    table.add_column("value")
    for key, value in environment().items():
        table.add_row(key, value)
    console.print(table)
    return 0
