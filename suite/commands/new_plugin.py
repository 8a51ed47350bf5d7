"""`nlpsuite new-plugin NAME`: a ready-to-install third-party plugin package with its tests."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "create a ready-to-install plugin package: pyproject with the nlpsuite entry point, one component, its tests"
DESCRIPTION = """\
Create the folder nlpsuite-NAME/ holding an installable plugin package:

  pyproject.toml               [project.entry-points.nlpsuite] NAME = "nlpsuite_NAME.plugin"
  nlpsuite_NAME/plugin.py      one attention component, registered by register_components
  tests/test_plugin.py         registration test + the conformance kit (parametrize_with_checks)
  README.md

Then:  cd nlpsuite-NAME && pip install -e . && pytest && nlpsuite list attention
See docs/writing-a-plugin.md for the way from here to a published package.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "new-plugin",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "name", help="plugin and component name, lowercase with dashes (e.g. flash-tiles)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder to create (default: ./nlpsuite-NAME)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an existing folder, overwriting the generated files",
    )
    parser.set_defaults(handler=run)


def create_plugin(name: str, folder: Path | None = None, *, force: bool = False) -> Path:
    """Write the package and return its folder; `UsageError` for a bad or taken name."""
    from suite import __version__
    from suite.errors import UsageError
    from suite.plugins import get_host
    from suite.scaffolds import class_name_for, practice_reference, render, validate_name

    problem = validate_name(name)
    if problem:
        raise UsageError(problem)
    taken = _registered_attention_names()
    if name in taken:
        raise UsageError(
            f"attention {name!r} is already registered (by a built-in or an installed plugin); choose another name"
        )
    dist_name = name if name.startswith("nlpsuite-") else f"nlpsuite-{name}"
    folder = folder or Path(dist_name)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise UsageError(f"{folder} exists and is not empty; pass --force or choose --dir")
    module = dist_name.replace("-", "_")
    class_name = class_name_for(name)
    if not class_name.endswith("Attention"):
        class_name += "Attention"
    values = {
        "name": name,
        "kind": "attention",
        "module": module,
        "dist_name": dist_name,
        "class_name": class_name,
        "suite_version": __version__,
        "reference": repr(practice_reference(get_host().registry, "attention")),
    }
    files = {
        "pyproject.toml": "plugin_pyproject.toml.tmpl",
        "README.md": "plugin_readme.md.tmpl",
        f"{module}/__init__.py": "plugin_init.py.tmpl",
        f"{module}/plugin.py": "plugin_module.py.tmpl",
        "tests/test_plugin.py": "plugin_test.py.tmpl",
    }
    try:
        for relative, template in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(template, **values), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write into {folder}: {exc.strerror}") from None
    return folder


def _registered_attention_names() -> set[str]:
    from suite.plugins import get_host

    return {cls.name for cls in get_host().registry.components("attention")}


def run(args: argparse.Namespace) -> int:
    from suite.console import console

    folder = create_plugin(args.name, args.dir, force=args.force)
    console.print(f"created {folder}/ (plugin {args.name}, component attention:{args.name})")
    console.print(f"  cd {folder} && pip install -e . && pytest")
    console.print(f"  nlpsuite list attention    # shows {args.name} once installed")
    return 0
