"""The references: HuggingFace `tokenizers`, configured like the from-scratch tokenizers.

Each wrapper uses the same pre-tokenization (`Whitespace()`, or `ByteLevel` with the GPT-2
regex), the same special tokens, the same vocabulary size and the same word-end or
continuation markers as its from-scratch twin, and otherwise the trainer's defaults (all
cores, `min_frequency=0`). So a difference in the tables is a difference in the algorithm or
the implementation, not in the setup. Files are HuggingFace's own `tokenizer.json`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from plugins.tokenizers.common import check_ids, check_vocab_size, empty_corpus_error
from plugins.tokenizers.progress import is_quiet
from suite import Tokenizer
from suite.errors import ComponentInputError

__all__ = ["HFBPE", "HFByteLevelBPE", "HFWordPiece"]


class _HFTokenizer(Tokenizer):
    """Shared plumbing: train from an iterator, encode one text, decode with special tokens."""

    special_tokens: ClassVar[tuple[str, ...]] = ("[UNK]",)

    def __init__(self, *, progress: bool | None = None) -> None:
        self.progress = progress
        self._tok: HFTokenizer | None = None

    def _pipeline(self) -> HFTokenizer:
        raise NotImplementedError

    def _trainer(self, vocab_size: int, show_progress: bool) -> Any:
        raise NotImplementedError

    def _has_pretokens(self, text: str) -> bool:
        return bool(text) and not text.isspace()  # Whitespace() drops whitespace

    def train(self, texts: Iterable[str], vocab_size: int) -> None:
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"training texts must be str, got {type(text).__name__}")
        check_vocab_size(vocab_size, len(self.special_tokens) + 1, "special tokens + 1 symbol")
        if not any(self._has_pretokens(text) for text in texts):
            raise empty_corpus_error(self.name)
        show = bool(self.progress) if self.progress is not None else sys.stderr.isatty()
        tok = self._pipeline()
        tok.train_from_iterator(texts, self._trainer(vocab_size, show and not is_quiet()))
        if tok.get_vocab_size() > vocab_size:
            raise ComponentInputError(
                f"vocab_size {vocab_size} is smaller than the base alphabet of "
                f"{tok.get_vocab_size()} (special tokens and the characters of the corpus)"
            )
        self._tok = tok

    def _trained(self) -> HFTokenizer:
        if self._tok is None:
            raise ComponentInputError(f"{self.name} is not trained: call train() or load() first")
        return self._tok

    def encode(self, text: str) -> list[int]:
        tok = self._trained()
        try:
            return tok.encode(text, add_special_tokens=False).ids
        except TypeError:  # the Rust side takes only valid Unicode: say where it is not
            if not isinstance(text, str):
                raise
            bad = next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
            if bad is None:
                raise
            raise ComponentInputError(
                f"{self.name} cannot encode a lone surrogate ({text[bad]!r} at index {bad})"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        tok = self._trained()
        return tok.decode(list(check_ids(ids, tok.get_vocab_size())), skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return 0 if self._tok is None else self._tok.get_vocab_size()

    @property
    def unk_id(self) -> int | None:
        """Id of `[UNK]`, or None when the model has no unknown token (byte level)."""
        return None if self._tok is None else self._tok.token_to_id("[UNK]")

    def save(self, path: str | Path) -> None:
        self._trained().save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> _HFTokenizer:
        tok = cls()
        try:
            tok._tok = HFTokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exception
            raise ComponentInputError(f"cannot load {cls.name} from {str(path)!r}: {exc}") from None
        return tok


class HFBPE(_HFTokenizer):
    """HuggingFace BPE: `models.BPE` + `BpeTrainer`, `Whitespace()` pre-tokenizer, `</w>` suffix.

    The reference for `bpe`. Trainer: most frequent pair first, ties to the smaller pair of
    ids; the alphabet is every character of the corpus (plus its `</w>` form).
    """

    name: ClassVar[str] = "hf-bpe"
    summary: ClassVar[str] = "HuggingFace tokenizers BPE (Whitespace pre-tokenizer, </w>, [UNK])"
    practice_target: ClassVar[bool] = True  # `nlpsuite practice tokenizer` is graded against it

    def _pipeline(self) -> HFTokenizer:
        tok = HFTokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.decoder = decoders.BPEDecoder(suffix="</w>")
        return tok

    def _trainer(self, vocab_size: int, show_progress: bool) -> Any:
        return trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(self.special_tokens),
            end_of_word_suffix="</w>",
            show_progress=show_progress,
        )


class HFWordPiece(_HFTokenizer):
    """HuggingFace WordPiece: `models.WordPiece` + `WordPieceTrainer`, `##` continuations.

    The reference for `wordpiece`. Note: HF's `WordPieceTrainer` is its BPE trainer with a
    `##` prefix, so it picks merges by pair *frequency*, not by the WordPiece score; encoding
    is greedy longest-match-first as in BERT.
    """

    name: ClassVar[str] = "hf-wordpiece"
    summary: ClassVar[str] = (
        "HuggingFace tokenizers WordPiece (Whitespace pre-tokenizer, ##, [UNK])"
    )

    def _pipeline(self) -> HFTokenizer:
        tok = HFTokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok

    def _trainer(self, vocab_size: int, show_progress: bool) -> Any:
        return trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            special_tokens=list(self.special_tokens),
            show_progress=show_progress,
        )


class HFByteLevelBPE(_HFTokenizer):
    """HuggingFace byte-level BPE, as GPT-2: `ByteLevel` pre-tokenizer and decoder, 256 bytes.

    The reference for `bbpe`. The initial alphabet is all 256 bytes (shown as printable
    characters), so no input is ever unknown and `decode(encode(s)) == s`.
    """

    name: ClassVar[str] = "hf-bbpe"
    summary: ClassVar[str] = (
        "HuggingFace tokenizers byte-level BPE (GPT-2 regex, 256-byte alphabet)"
    )
    lossless: ClassVar[bool] = True
    special_tokens: ClassVar[tuple[str, ...]] = ("<|endoftext|>",)

    def _has_pretokens(self, text: str) -> bool:
        return bool(text)  # ByteLevel keeps whitespace

    def train(self, texts: Iterable[str], vocab_size: int) -> None:
        check_vocab_size(vocab_size, 256 + len(self.special_tokens), "256 bytes + <|endoftext|>")
        super().train(texts, vocab_size)

    def _pipeline(self) -> HFTokenizer:
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        return tok

    def _trainer(self, vocab_size: int, show_progress: bool) -> Any:
        return trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(self.special_tokens),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
