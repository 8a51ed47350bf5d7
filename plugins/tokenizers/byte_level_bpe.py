"""Byte-level BPE, as GPT-2: BPE over the UTF-8 bytes of GPT-2-style pre-tokens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from plugins.tokenizers.common import (
    check_ids,
    check_vocab_size,
    empty_corpus_error,
    read_tokenizer_json,
    write_tokenizer_json,
)
from plugins.tokenizers.merges import apply_merges, learn_merges, replay_merges
from plugins.tokenizers.pretokenize import GPT2_PATTERN, count_pieces, gpt2_pieces
from plugins.tokenizers.progress import TrainingProgress
from suite import Tokenizer
from suite.errors import ComponentInputError

__all__ = ["ByteLevelBPE", "bytes_to_unicode"]

_CACHE_LIMIT = 200_000


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each byte to a printable character, used only to write readable files.

    Printable Latin-1 bytes map to themselves; the 68 others (control bytes, space, ...) are
    shifted to U+0100 and up, so the space byte shows as "Ġ" and newline as "Ċ".
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


class ByteLevelBPE(Tokenizer):
    """Byte-level BPE: the base alphabet is the 256 byte values, so nothing is ever unknown.

    Interview question: "Why does GPT-2's tokenizer never produce an unknown token?"

    Short answer: it runs BPE over the UTF-8 *bytes* of the text, not its characters. Every
    string is a sequence of bytes and all 256 bytes are in the vocabulary from the start, so any
    script, emoji or control character can be encoded, and `decode(encode(s)) == s` exactly
    (the GPT-2 pre-tokenizer keeps spaces, attached to the following word: " world").

    Formula: same training rule as BPE (merge argmax count(a, b)), over byte sequences; the
    vocabulary is 256 bytes + special tokens + one token per merge.

    What it costs: a character outside the training distribution falls back to its bytes.
    UTF-8 needs 1 byte for ASCII, 2 for most Latin/Greek/Cyrillic accents, 3 for Chinese and
    Japanese, 4 for emoji. Trained on English, a Chinese character costs up to 3 tokens where a
    character-level vocabulary would spend one (or emit `[UNK]`). The `tokenizer-mixed-script`
    benchmark measures it on the default corpus (which holds a little Chinese): byte-level BPE
    spends between one and three tokens per Chinese character with no unknown token and an exact
    round trip, where character-level `bpe` spends one token per character but many of them are
    `[UNK]`, and `wordpiece` turns each unspaced Chinese sentence into a single `[UNK]`.

    Pitfalls:
    * A token may hold part of a character; decoding a slice of ids can give invalid UTF-8
      (shown here as U+FFFD). Decode whole sequences.
    * The regex pre-tokenizer matters: without it BPE learns "dog." and "dog!" as tokens.
    * The JSON file writes bytes through GPT-2's byte-to-character table (`bytes_to_unicode`):
      readable text instead of escapes, nothing more.
    """

    name: ClassVar[str] = "bbpe"
    summary: ClassVar[str] = "Byte-level BPE from scratch: GPT-2 regex, 256-byte base, lossless"
    reference: ClassVar[str | None] = "hf-bbpe"
    lossless: ClassVar[bool] = True

    special_tokens: ClassVar[tuple[str, ...]] = ("<|endoftext|>",)
    #: the pre-tokenizer regex, for `mergeable_ranks` users (tiktoken's `pat_str`)
    pretokenize_pattern: ClassVar[str] = GPT2_PATTERN.pattern

    def __init__(self, *, progress: bool | None = None) -> None:
        self.progress = progress  # None: a bar only on a terminal and after a moment
        self._bytes: list[bytes] = []  # id -> bytes (special tokens as their UTF-8 text)
        self._merges: list[tuple[int, int, int]] = []
        self._ranks: dict[tuple[int, int], tuple[int, int]] = {}
        self._cache: dict[str, list[int]] = {}
        self._build([], [])

    def _base_tokens(self) -> list[bytes | str]:
        # Specials stay `str` so that no merged byte string can ever collide with them.
        return [bytes([b]) for b in range(256)] + list(self.special_tokens)

    def _build(self, tokens: list[bytes | str], merges: Sequence[tuple[int, int, int]]) -> None:
        tokens = tokens or self._base_tokens()
        self._bytes = [t.encode("utf-8") if isinstance(t, str) else t for t in tokens]
        self._merges = list(merges)
        self._ranks = {(a, b): (rank, new) for rank, (a, b, new) in enumerate(merges)}
        self._cache = {}

    # ------------------------------------------------------------------ training
    def train(self, texts: Iterable[str], vocab_size: int) -> None:
        base = self._base_tokens()
        check_vocab_size(vocab_size, len(base), "256 bytes + <|endoftext|>")
        counts = count_pieces(texts, gpt2_pieces)
        if not counts:
            raise empty_corpus_error(self.name)
        words = [list(_utf8(piece)) for piece in counts]
        tokens = list(base)
        with TrainingProgress(
            vocab_size - len(tokens), "bbpe merges", enabled=self.progress
        ) as bar:
            merges = learn_merges(words, list(counts.values()), tokens, vocab_size, progress=bar)
        self._build(tokens, merges)

    # ------------------------------------------------------------------ encoding
    def encode(self, text: str) -> list[int]:
        cache, ranks = self._cache, self._ranks
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[int] = []
        for piece in gpt2_pieces(text):
            ids = cache.get(piece)
            if ids is None:
                ids = cache[piece] = apply_merges(list(_utf8(piece)), ranks)
            out += ids
        return out

    def decode(self, ids: Sequence[int]) -> str:
        table = self._bytes
        data = b"".join(table[i] for i in check_ids(ids, len(table)))
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # a slice that cuts a character: show U+FFFD, as GPT-2 does
            return data.decode("utf-8", "replace")

    # ------------------------------------------------------------------ vocabulary and files
    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    @property
    def unk_id(self) -> None:
        """None: every byte is in the vocabulary, so there is no unknown token."""
        return None

    def mergeable_ranks(self) -> dict[bytes, int]:
        """tiktoken's form of this vocabulary: token bytes -> rank, rank = id (specials left out).

        Exact only because every merge made the next id: then the pair learned first is the
        pair whose token has the lowest id. A merge that reused an existing token (`a + bc`
        after `ab + c`) has no such form, and raises `ValueError`.
        """
        first = len(self._base_tokens())
        for rank, (_, _, new) in enumerate(self._merges):
            if new != first + rank:
                raise ValueError(
                    f"merge {rank} gives existing token {new}: no one-rank-per-token form"
                )
        specials = range(256, first)
        return {data: i for i, data in enumerate(self._bytes) if i not in specials}

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token id."""
        return self._bytes[check_ids([token_id], len(self._bytes))[0]]

    def save(self, path: str | Path) -> None:
        table = bytes_to_unicode()

        def show(token_id: int) -> str:
            return "".join(table[b] for b in self._bytes[token_id])

        write_tokenizer_json(
            path,
            self.name,
            {
                "special_tokens": list(self.special_tokens),
                "merges": [[show(a), show(b)] for a, b, _ in self._merges],
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> ByteLevelBPE:
        document = read_tokenizer_json(path, cls.name)
        tok = cls()
        back = {c: b for b, c in bytes_to_unicode().items()}
        tokens = tok._base_tokens()
        known: dict[bytes | str, int] = {t: i for i, t in enumerate(tokens)}
        try:
            if list(document["special_tokens"]) != list(cls.special_tokens):
                raise ValueError(f"special tokens {document['special_tokens']!r}")
            pairs = (
                (bytes(back[c] for c in a_text), bytes(back[c] for c in b_text))
                for a_text, b_text in document["merges"]
            )
            merges = replay_merges(pairs, tokens, known)
        except (KeyError, TypeError, ValueError) as exc:
            raise ComponentInputError(
                f"{str(path)!r} is a damaged {cls.name} file ({exc!r})"
            ) from None
        tok._build(tokens, merges)
        return tok


def _utf8(text: str) -> bytes:
    # "surrogatepass": a lone surrogate (not valid Unicode, but a legal Python str) still
    # round-trips instead of raising.
    return text.encode("utf-8", "surrogatepass")
