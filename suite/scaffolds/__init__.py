"""Templates for `nlpsuite practice` (one file to fill in per kind) and `nlpsuite new-plugin`.

Templates are `string.Template` files (`$name`, `$class_name`, `$module`) shipped as package
data; `render` fills one in. Practice files hold the contract's signatures and docstrings that
state the task, and raise `NotImplementedError` where the user writes the solution. The
reference a scaffold names comes from the registry: the component of the kind that declares
`practice_target = True`.
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

from suite.registry import Registry

__all__ = ["PRACTICE_KINDS", "class_name_for", "practice_reference", "render", "validate_name"]

#: the kinds with a practice template (`practice_<kind>.py.tmpl`)
PRACTICE_KINDS: tuple[str, ...] = (
    "attention",
    "tokenizer",
    "norm",
    "loss",
    "moe",
    "position",
    "peft",
    "decoding",
)


def practice_reference(registry: Registry, kind: str) -> str | None:
    """The name of the component of `kind` that declares `practice_target = True` (the first, by
    name, if several do), or `None` when no loaded plugin declares one."""
    targets = [cls for cls in registry.components(kind) if cls.practice_target]
    return min(targets, key=lambda cls: cls.name).name if targets else None


_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def validate_name(name: str) -> str | None:
    """Why `name` cannot be a component or plugin name, or None."""
    if not _NAME.match(name):
        return f"name {name!r} must be lowercase words of letters and digits joined by dashes, starting with a letter (e.g. my-attention)"
    return None


def class_name_for(name: str) -> str:
    """`flash-attention` -> `FlashAttention`."""
    return "".join(part.capitalize() for part in name.split("-"))


def render(template: str, **values: str) -> str:
    """The text of `template` (a file in this package) with `$key` replaced by `values[key]`."""
    text = resources.files(__name__).joinpath(template).read_text(encoding="utf-8")
    return Template(text).substitute(values)
