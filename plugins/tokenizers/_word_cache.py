"""What `bpe` and `wordpiece` share: `[UNK]` at id 0 and a per-word cache in front of `encode`."""

from __future__ import annotations

from abc import abstractmethod

from plugins.tokenizers.pretokenize import word_pieces
from suite import Tokenizer
from suite.errors import ComponentInputError

__all__ = ["WordCacheTokenizer"]

_CACHE_LIMIT = 200_000  # pre-tokens remembered by `encode` before the cache is cleared


class WordCacheTokenizer(Tokenizer):
    """A tokenizer over `word_pieces` that encodes each distinct word once, then reuses its ids.

    Subclasses keep `_tokens` (id -> token string, `[UNK]` alone until trained) and `_cache`, and
    implement `_encode_word`.
    """

    _tokens: list[str]
    _cache: dict[str, list[int]]

    @abstractmethod
    def _encode_word(self, word: str) -> list[int]:
        """The ids of one pre-token."""

    def encode(self, text: str) -> list[int]:
        if len(self._tokens) == 1:
            raise ComponentInputError(f"{self.name} is not trained: call train() or load() first")
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[int] = []
        for word in word_pieces(text):
            ids = cache.get(word)
            if ids is None:
                ids = cache[word] = self._encode_word(word)
            out += ids
        return out

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)
