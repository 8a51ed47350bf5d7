"""Helpers shared by the tokenizer topic modules."""

from __future__ import annotations

from collections.abc import Sequence

import suite
from plugins.tokenizers.data import default_corpus, mixed_script_sample
from plugins.tokenizers.pretokenize import count_pieces, word_pieces


def _tokenizer(name: str) -> suite.Tokenizer:
    return suite.get("tokenizer", name)(progress=False)


def _english_train() -> tuple[str, ...]:
    """The English part of the default training text (the mixed-script paragraphs left out)."""
    n_mixed = sum(len(train) for train, _ in mixed_script_sample().values())
    return default_corpus().train[:-n_mixed]


def _slice(texts: Sequence[str], kb: int, seed: int) -> list[str]:
    """About `kb` KB of `texts`, every stride-th document from an offset set by the seed."""
    stride = max(1, round(sum(len(t) for t in texts) / (kb * 1000)))
    return list(texts[seed % stride :: stride])


def _bpe_base(texts: Sequence[str]) -> int:
    """Size of `bpe`'s alphabet on `texts`: [UNK], every character, every word-final one + </w>."""
    words = count_pieces(texts, word_pieces)
    return 1 + len({c for w in words for c in w}) + len({w[-1] for w in words})
