"""Character-level BPE with an end-of-word marker, as in Sennrich et al. (2016)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from plugins.tokenizers._word_cache import WordCacheTokenizer
from plugins.tokenizers.common import (
    check_ids,
    check_vocab_size,
    empty_corpus_error,
    read_tokenizer_json,
    write_tokenizer_json,
)
from plugins.tokenizers.merges import apply_merges, learn_merges, replay_merges
from plugins.tokenizers.pretokenize import count_pieces, word_pieces
from plugins.tokenizers.progress import TrainingProgress
from suite.errors import ComponentInputError

__all__ = ["BPE"]


class BPE(WordCacheTokenizer):
    """Byte-pair encoding over characters: merge the most frequent adjacent pair, again and again.

    Interview question: "Implement BPE. How does it split a word it has never seen?"

    Short answer: start from single characters (the word's last one tagged `</w>`, so that
    "est" at the end of a word differs from "est" inside one). Count every adjacent pair over
    the pre-tokenized corpus, weighted by word frequency; merge the most frequent pair into a
    new symbol; repeat until the vocabulary is full. To encode, replay the merges on each word
    in the order they were learned (lowest rank first).

    Worked example (after the paper's): train on "low" x5, "lower" x2, "lowly" x3, "newest" x6,
    "widest" x3. The first merges are `l o` (10), `e s` (9), `es t</w>` (9), later `lo w`, so
    the unseen word "lowest" becomes `low` + `est</w>`: a new word built from known pieces,
    not an unknown token. (Here `</w>` sticks to the last character, as in HuggingFace, so
    "low</w>" and mid-word "low" are different tokens.)

    Formula: merge = argmax over pairs (a, b) of count(a, b) = sum over words w of
    freq(w) * occurrences of "a b" in w.

    Pitfalls:
    * Recounting all pairs after each merge is O(merges x corpus). Keep pair counts, a
      pair-to-words index and a lazy max-heap, and touch only the words that hold the merged
      pair (see `plugins.tokenizers.merges`).
    * Encoding must apply merges by rank, not in a left-to-right greedy scan, or it will not
      reproduce the segmentation seen in training.
    * The alphabet is the characters seen in training; any other character becomes `[UNK]`
      (one per character). Byte-level BPE (`bbpe`) removes that failure mode.
    * Whitespace is dropped by the pre-tokenizer and punctuation split off, so `decode` gives
      words joined by single spaces ("Hello , world"), not the original text.
    """

    name: ClassVar[str] = "bpe"
    summary: ClassVar[str] = (
        "BPE from scratch: frequency merges over characters, </w> suffix, [UNK]"
    )
    reference: ClassVar[str | None] = "hf-bpe"

    unk_token: ClassVar[str] = "[UNK]"
    suffix: ClassVar[str] = "</w>"

    def __init__(self, *, progress: bool | None = None) -> None:
        self.progress = progress  # None: a bar only on a terminal and after a moment
        self._tokens: list[str] = [self.unk_token]  # id -> token string
        self._ids: dict[str, int] = {self.unk_token: 0}
        self._n_base = 1  # special tokens and alphabet come first, merged tokens after
        self._merges: list[tuple[int, int, int]] = []
        self._ranks: dict[tuple[int, int], tuple[int, int]] = {}
        self._cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ training
    def train(self, texts: Iterable[str], vocab_size: int) -> None:
        counts = count_pieces(texts, word_pieces)
        if not counts:
            raise empty_corpus_error(self.name)
        # As HuggingFace: every character of the corpus, then each word-final one + "</w>".
        chars = sorted({c for word in counts for c in word})
        final = sorted({word[-1] + self.suffix for word in counts})
        alphabet = [self.unk_token, *chars, *final]
        check_vocab_size(vocab_size, len(alphabet), "[UNK], characters and characters + </w>")
        ids = {token: i for i, token in enumerate(alphabet)}
        words = [[ids[c] for c in word[:-1]] + [ids[word[-1] + self.suffix]] for word in counts]
        tokens = list(alphabet)
        with TrainingProgress(vocab_size - len(tokens), "bpe merges", enabled=self.progress) as bar:
            merges = learn_merges(words, list(counts.values()), tokens, vocab_size, progress=bar)
        self._build(tokens, len(alphabet), merges)

    def _build(
        self, tokens: list[str], n_base: int, merges: Sequence[tuple[int, int, int]]
    ) -> None:
        self._tokens = tokens
        self._n_base = n_base
        self._ids = {token: i for i, token in enumerate(tokens)}
        self._merges = list(merges)
        self._ranks = {(a, b): (rank, new) for rank, (a, b, new) in enumerate(merges)}
        self._cache = {}

    # ------------------------------------------------------------------ encoding
    def _encode_word(self, word: str) -> list[int]:
        ids, unk = self._ids, 0
        symbols = [ids.get(c, unk) for c in word[:-1]]
        symbols.append(ids.get(word[-1] + self.suffix, unk))
        return apply_merges(symbols, self._ranks)

    def decode(self, ids: Sequence[int]) -> str:
        tokens = self._tokens
        text = "".join(tokens[i] for i in check_ids(ids, len(tokens)))
        return text.replace(self.suffix, " ").rstrip(" ")

    # ------------------------------------------------------------------ vocabulary and files
    @property
    def unk_id(self) -> int:
        """Id of `[UNK]`, emitted once per character never seen in training."""
        return 0

    def token(self, token_id: int) -> str:
        """The string of one token id (`</w>` marks a word end)."""
        return self._tokens[check_ids([token_id], len(self._tokens))[0]]

    def save(self, path: str | Path) -> None:
        write_tokenizer_json(
            path,
            self.name,
            {
                "alphabet": self._tokens[: self._n_base],
                "merges": [[self._tokens[a], self._tokens[b]] for a, b, _ in self._merges],
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> BPE:
        document = read_tokenizer_json(path, cls.name)
        tok = cls()
        try:
            tokens = [str(token) for token in document["alphabet"]]
            n_base = len(tokens)
            ids = {token: i for i, token in enumerate(tokens)}
            merges = replay_merges(document["merges"], tokens, ids)
        except (KeyError, TypeError, ValueError) as exc:
            raise ComponentInputError(
                f"{str(path)!r} is a damaged {cls.name} file ({exc!r})"
            ) from None
        tok._build(tokens, n_base, merges)
        return tok
