"""Fixtures of the tokenizer tests: a small English corpus and tokenizers trained on it once."""

from __future__ import annotations

import pytest
from tokenizer_helpers import ALL_TOKENIZERS, SMALL_VOCAB

from plugins.tokenizers.data import default_corpus


@pytest.fixture(scope="session")
def small_corpus() -> list[str]:
    """About 40 KB of the default training text, taken evenly across it."""
    return list(default_corpus().sliced(40).train)


@pytest.fixture(scope="session")
def trained(small_corpus: list[str]) -> dict[str, object]:
    """Every built-in tokenizer trained on `small_corpus` at `SMALL_VOCAB`, by name."""
    out = {}
    for cls in ALL_TOKENIZERS:
        tok = cls()
        tok.train(small_corpus, SMALL_VOCAB)
        out[cls.name] = tok
    return out
