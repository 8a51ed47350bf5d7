"""Correct tokenizers written differently from the built-ins: a character tokenizer with an
unknown token (not lossless), and a byte-level tokenizer with greedy longest-match over learned
byte n-grams (lossless: every byte is in the vocabulary)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import suite


class CharTokenizer(suite.Tokenizer):
    """The most frequent characters, ties broken by code point; everything else is [UNK] (id 0)."""

    name = "kit-char"
    summary = "characters plus [UNK]"
    reference = "hf-bpe"

    def __init__(self, chars: list[str] | None = None) -> None:
        self.chars = chars or []
        self.index = {ch: i + 1 for i, ch in enumerate(self.chars)}

    def train(self, texts, vocab_size: int) -> None:
        counts = Counter(ch for text in texts for ch in text)
        ranked = sorted(counts, key=lambda ch: (-counts[ch], ch))
        self.__init__(ranked[: vocab_size - 1])

    def encode(self, text: str) -> list[int]:
        return [self.index.get(ch, 0) for ch in text]

    def decode(self, ids) -> str:
        return "".join("\N{REPLACEMENT CHARACTER}" if i == 0 else self.chars[i - 1] for i in ids)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def save(self, path) -> None:
        Path(path).write_text(
            json.dumps({"chars": self.chars}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["chars"])


class ByteNgramTokenizer(suite.Tokenizer):
    """256 single bytes, then the most frequent byte bigrams and trigrams; greedy longest match."""

    name = "kit-byte-ngram"
    summary = "bytes plus frequent byte n-grams, greedy longest match"
    reference = "hf-bbpe"
    lossless = True

    def __init__(self, pieces: list[str] | None = None) -> None:
        self.pieces = [bytes([b]) for b in range(256)] + [bytes.fromhex(p) for p in (pieces or [])]
        self.index = {piece: i for i, piece in enumerate(self.pieces)}

    def train(self, texts, vocab_size: int) -> None:
        counts: Counter[bytes] = Counter()
        for text in texts:
            data = text.encode("utf-8")
            for size in (2, 3):
                counts.update(data[i : i + size] for i in range(len(data) - size + 1))
        ranked = sorted(counts, key=lambda p: (-counts[p], p))[: max(vocab_size - 256, 0)]
        self.__init__([p.hex() for p in ranked])

    def encode(self, text: str) -> list[int]:
        data, ids, i = text.encode("utf-8"), [], 0
        while i < len(data):
            for size in (3, 2, 1):
                piece = data[i : i + size]
                if len(piece) == size and piece in self.index:
                    ids.append(self.index[piece])
                    i += size
                    break
        return ids

    def decode(self, ids) -> str:
        return b"".join(self.pieces[i] for i in ids).decode("utf-8", errors="replace")

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def save(self, path) -> None:
        Path(path).write_text(
            json.dumps({"pieces": [p.hex() for p in self.pieces[256:]]}), encoding="utf-8"
        )

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["pieces"])


@suite.hookimpl
def register_components(register):
    register(CharTokenizer)
    register(ByteNgramTokenizer)
