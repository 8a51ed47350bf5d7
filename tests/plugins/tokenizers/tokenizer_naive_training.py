"""Slow, obviously-correct trainers: recount every pair after every merge.

The fast trainers must learn exactly the same merges (same pair, same order) on any corpus:
that proves the incremental bookkeeping (pair counts, pair-to-words index, lazy heaps).
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise


def _merge(word: list[int], a: int, b: int, new: int) -> list[int]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _pairs(words: list[list[int]], counts: list[int]) -> Counter[tuple[int, int]]:
    pairs: Counter[tuple[int, int]] = Counter()
    for word, count in zip(words, counts):
        for pair in pairwise(word):
            pairs[pair] += count
    return pairs


def naive_bpe(words, counts, tokens, vocab_size):
    """Most frequent pair first, ties to the smaller pair; same id reuse rule as the fast one."""
    words = [list(w) for w in words]
    known = {t: i for i, t in enumerate(tokens)}
    merges = []
    while len(tokens) < vocab_size:
        pairs = {p: c for p, c in _pairs(words, counts).items() if c > 0}
        if not pairs:
            break
        a, b = min(pairs, key=lambda p: (-pairs[p], p))
        new = known.setdefault(tokens[a] + tokens[b], len(tokens))
        if new == len(tokens):
            tokens.append(tokens[a] + tokens[b])
        merges.append((a, b, new))
        words = [_merge(w, a, b, new) for w in words]
    return merges


def naive_wordpiece(words, counts, tokens, vocab_size, min_pair_count):
    """Best count(ab) / (count(a) count(b)) among pairs at or above the threshold (halved when none)."""
    words = [list(w) for w in words]
    known = {t: i for i, t in enumerate(tokens)}
    merges = []
    threshold = min_pair_count
    while len(tokens) < vocab_size:
        symbols: Counter[int] = Counter()
        for word, count in zip(words, counts):
            for s in word:
                symbols[s] += count
        pairs = {p: c for p, c in _pairs(words, counts).items() if c >= threshold}
        if not pairs:
            if threshold == 1:
                break
            threshold = max(1, threshold // 2)
            continue

        scores = {p: c / (symbols[p[0]] * symbols[p[1]]) for p, c in pairs.items()}
        a, b = min(pairs, key=lambda p: (-scores[p], p))
        right = tokens[b][2:] if tokens[b].startswith("##") else tokens[b]
        new = known.setdefault(tokens[a] + right, len(tokens))
        if new == len(tokens):
            tokens.append(tokens[a] + right)
        merges.append((a, b, new))
        words = [_merge(w, a, b, new) for w in words]
    return merges
