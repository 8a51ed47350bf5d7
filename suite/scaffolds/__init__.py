"""Templates for `nlpsuite practice` (one file to fill in per kind) and `nlpsuite new-plugin`.

Templates are `string.Template` files (`$name`, `$class_name`, `$module`) shipped as package
data; `render` fills one in. Practice files hold the contract's signatures and docstrings that
state the task, and raise `NotImplementedError` where the user writes the solution.
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

__all__ = ["PRACTICE_REFERENCES", "class_name_for", "render", "validate_name"]

#: kind -> the reference its practice component is graded against
PRACTICE_REFERENCES: dict[str, str] = {
    "attention": "sdpa",
    "tokenizer": "hf-bpe",
    "norm": "torch-batchnorm",
    "loss": "focal",
    "moe": "dense-ffn",
}

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
