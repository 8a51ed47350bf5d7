"""Pre-tokenization: cut text into the pieces that subword merges may never cross.

Interview point: BPE and WordPiece never learn a token that spans two pre-tokens, so the
pre-tokenizer decides what a "word" is. Splitting on whitespace and punctuation keeps merges
inside words (no token for "dog." next to "dog"); the GPT-2 pattern also keeps the leading
space with the word (" dog"), so that the spaces survive and byte-level BPE can round-trip.

Both patterns below are written to match their HuggingFace `tokenizers` counterparts, so that
a from-scratch tokenizer and its reference see the same pieces:

* `WORD_PATTERN` is HF's `pre_tokenizers.Whitespace()`: runs of word characters, or runs of
  characters that are neither word characters nor whitespace. Whitespace itself is dropped.
* `GPT2_PATTERN` is the pattern of HF's `pre_tokenizers.ByteLevel(use_regex=True)` and of
  OpenAI's GPT-2: English contractions, an optional space plus letters, numbers or other
  symbols, and whitespace runs (a run before a word gives its last space to that word).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import regex

__all__ = ["GPT2_PATTERN", "WORD_PATTERN", "count_pieces", "gpt2_pieces", "word_pieces"]

WORD_PATTERN = regex.compile(r"\w+|[^\w\s]+")
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

#: `word_pieces("Hello, world!")` -> `["Hello", ",", "world", "!"]`
word_pieces: Callable[[str], list[str]] = WORD_PATTERN.findall
#: `gpt2_pieces("Hello, world!")` -> `["Hello", ",", " world", "!"]`
gpt2_pieces: Callable[[str], list[str]] = GPT2_PATTERN.findall


def count_pieces(texts: Iterable[str], split: Callable[[str], list[str]]) -> Counter[str]:
    """How often each pre-token occurs in `texts`: the only statistics a BPE trainer needs."""
    counts: Counter[str] = Counter()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"training texts must be str, got {type(text).__name__}")
        counts.update(split(text))
    return counts
