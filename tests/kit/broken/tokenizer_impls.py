"""Deliberately broken tokenizers, one bug each, built on the correct character tokenizer."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "kit_correct_tokenizers", Path(__file__).parents[1] / "correct" / "tokenizer_impls.py"
)
_correct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_correct)
CharTokenizer = _correct.CharTokenizer


class UnkOutOfRange(CharTokenizer):
    """Unknown characters get id vocab_size (one past the end) instead of a real [UNK] id."""

    name = "broken-tok-unk-out-of-range"
    summary = "unknown characters map to id vocab_size"

    def encode(self, text: str) -> list[int]:
        return [self.index.get(ch, self.vocab_size) for ch in text]


class OverfullVocabulary(_correct.ByteNgramTokenizer):
    """Adds two special tokens after training, beyond the vocabulary size it was given."""

    name = "broken-tok-overfull"
    summary = "special tokens added beyond vocab_size"
    reference = "hf-bbpe"

    def train(self, texts, vocab_size: int) -> None:
        super().train(texts, vocab_size)
        self.__init__([p.hex() for p in self.pieces[256:]] + [b"<s>".hex(), b"</s>".hex()])


class RandomTies(CharTokenizer):
    """Breaks frequency ties at random, so two trainings on one corpus disagree."""

    name = "broken-tok-random-ties"
    summary = "ties in frequency broken at random"

    def train(self, texts, vocab_size: int) -> None:
        chars = sorted({ch for text in texts for ch in text})
        random.shuffle(chars)
        self.__init__(chars[: vocab_size - 1])


class LossySave(CharTokenizer):
    """Saves the characters as a set: their order, hence the ids, change on load."""

    name = "broken-tok-lossy-save"
    summary = "save loses the order of the vocabulary"

    def save(self, path) -> None:
        Path(path).write_text(
            json.dumps({"chars": sorted(self.chars, reverse=True)}), encoding="utf-8"
        )


class FalseLossless(CharTokenizer):
    """Claims `lossless = True` but maps unseen characters to [UNK]."""

    name = "broken-tok-false-lossless"
    summary = "claims a round trip it cannot keep"
    lossless = True


EXPECTED = {
    UnkOutOfRange: "tokenizer.ids-in-range",
    OverfullVocabulary: "tokenizer.vocab-size",
    RandomTies: "tokenizer.reproducible-training",
    LossySave: "tokenizer.save-load",
    FalseLossless: "tokenizer.round-trip",
}
