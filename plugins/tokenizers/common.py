"""What the three from-scratch tokenizers share: input checks, id checks and JSON files.

Every error here is a one-line `ComponentInputError` (a `ValueError`) naming the bad value,
so the CLI can print it instead of a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from suite.errors import ComponentInputError

__all__ = [
    "FORMAT",
    "check_ids",
    "check_vocab_size",
    "empty_corpus_error",
    "read_tokenizer_json",
    "write_tokenizer_json",
]

FORMAT = "nlpsuite-tokenizer"  # the "format" field of every saved tokenizer


def check_vocab_size(vocab_size: object, base: int, what: str) -> int:
    """`vocab_size` as an int; an error when it cannot even hold the `base` symbols."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ComponentInputError(f"vocab_size must be an int, got {vocab_size!r}")
    if vocab_size < base:
        raise ComponentInputError(
            f"vocab_size {vocab_size} is smaller than the base alphabet of {base} ({what})"
        )
    return vocab_size


def empty_corpus_error(name: str) -> ComponentInputError:
    return ComponentInputError(f"{name}: the training corpus is empty (no pre-token in any text)")


def check_ids(ids: Iterable[int], size: int) -> Sequence[int]:
    """`ids` as a sequence; an error naming the first id outside `range(size)`."""
    ids = ids if isinstance(ids, (list, tuple)) else list(ids)
    for token_id in ids:
        if not isinstance(token_id, int) or not 0 <= token_id < size:
            raise ComponentInputError(
                f"token id {token_id!r} is out of range for a vocabulary of {size} (0..{size - 1})"
            )
    return ids


def write_tokenizer_json(path: str | Path, name: str, payload: dict[str, Any]) -> None:
    """Write `payload` with a small header (`format`, `name`, `version`) as UTF-8 JSON."""
    document = {"format": FORMAT, "name": name, "version": 1, **payload}
    Path(path).write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")


def read_tokenizer_json(path: str | Path, name: str) -> dict[str, Any]:
    """The payload written by `write_tokenizer_json` for tokenizer `name`; clear errors otherwise."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ComponentInputError(
            f"cannot read tokenizer file {str(path)!r}: {exc.strerror}"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ComponentInputError(f"{str(path)!r} is not a JSON tokenizer file ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ComponentInputError(f"{str(path)!r} is not an nlpsuite tokenizer file")
    if document.get("name") != name:
        raise ComponentInputError(
            f"{str(path)!r} holds a {document.get('name')!r} tokenizer, not {name!r}"
        )
    return document
