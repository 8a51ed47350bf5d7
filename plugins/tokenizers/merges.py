"""The two halves of byte-pair encoding shared by `bpe` and `bbpe`: learn merges, apply merges.

Learning (Sennrich et al. 2016) repeats: count every adjacent pair of symbols over the words
(weighted by how often each word occurs), merge the most frequent pair everywhere into a new
symbol. The naive loop recounts the whole corpus per merge: O(merges x corpus). Here the
counts are kept up to date instead:

* `pair_counts[(a, b)]`: weighted occurrences of the pair;
* `where[(a, b)]`: the ids of the (distinct) words that contain it, so a merge only rewrites
  those words and only adjusts the counts of the pairs in them;
* a lazy max-heap of `(-count, pair)`. Counts of old pairs only ever go down, so a popped entry
  whose count is stale is pushed back with its current count; pairs that contain the new
  symbol are pushed when they appear. Ties go to the smaller pair of ids, as HuggingFace does.

Applying merges (encoding) uses their rank: in a word, the adjacent pair that was learned
first is merged first, again and again, until no pair of the word is a learned merge. That
replays training exactly. Results are cached per pre-token by the tokenizers.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

from plugins.tokenizers.progress import TrainingProgress

__all__ = ["apply_merges", "learn_merges", "merge_in_word", "merge_pair", "replay_merges"]


def merge_pair(word: Sequence[int], a: int, b: int, new: int) -> list[int]:
    """`word` with every non-overlapping `a, b` (left to right) replaced by `new`."""
    out: list[int] = []
    append = out.append
    i, last = 0, len(word) - 1
    while i <= last:
        if i < last and word[i] == a and word[i + 1] == b:
            append(new)
            i += 2
        else:
            append(word[i])
            i += 1
    return out


def learn_merges(
    words: list[list[int]],
    counts: Sequence[int],
    tokens: list[Any],
    vocab_size: int,
    *,
    progress: TrainingProgress | None = None,
) -> list[tuple[int, int, int]]:
    """Learn merges by pair frequency until `tokens` holds `vocab_size` entries.

    `words` (the distinct pre-tokens as symbol ids) is rewritten in place; `counts[i]` is how
    often word `i` occurs; `tokens` (id -> str or bytes) is extended with each new token. A merge
    whose string already exists (`a + bc` after `ab + c`) reuses that id and costs no slot, as
    in HuggingFace. Returns `(a, b, new_id)` per merge, in rank order; stops early when no
    adjacent pair is left.
    """
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for index, word in enumerate(words):
        count = counts[index]
        for pair in pairwise(word):
            pair_counts[pair] += count
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int, int]] = []
    known = {token: i for i, token in enumerate(tokens)}
    while len(tokens) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current <= 0:
            continue
        if current != -negative:  # stale entry: its count went down since it was pushed
            heapq.heappush(heap, (-current, pair))
            continue
        a, b = pair
        string = tokens[a] + tokens[b]
        new = known.get(string, len(tokens))
        if new == len(tokens):
            known[string] = new
            tokens.append(string)
            if progress is not None:
                progress.advance()
        merges.append((a, b, new))
        born: set[tuple[int, int]] = set()
        for index in where.pop(pair):
            words[index], _ = merge_in_word(
                words[index], pair, new, counts[index], index, pair_counts, where, born
            )
        del pair_counts[pair]
        for fresh in born:
            heapq.heappush(heap, (-pair_counts[fresh], fresh))
    return merges


def merge_in_word(
    word: list[int],
    pair: tuple[int, int],
    new: int,
    count: int,
    index: int,
    pair_counts: dict[tuple[int, int], int],
    where: dict[tuple[int, int], set[int]],
    born: set[tuple[int, int]],
) -> tuple[list[int], int]:
    """`word` with every adjacent `pair` merged into `new`, and the number of merge sites.

    Only the pairs around each merge site change: with `p a b n` -> `p new n`, (p, a) and (b, n)
    lose `count` (the word's frequency), (p, new) and (new, n) gain it and are added to `born`
    and to `where` (pair -> indices of the words holding it). `p` is read from the rewritten
    word, so `a b a b` -> `new new` nets out. Shared by BPE and WordPiece training.
    """
    a, b = pair
    out: list[int] = []
    sites = 0
    i, last = 0, len(word) - 1
    while i <= last:
        if i < last and word[i] == a and word[i + 1] == b:
            sites += 1
            if out:
                left = out[-1]
                pair_counts[left, a] -= count
                fresh = (left, new)
                pair_counts[fresh] += count
                where[fresh].add(index)
                born.add(fresh)
            if i + 2 <= last:
                right = word[i + 2]
                pair_counts[b, right] -= count
                fresh = (new, right)
                pair_counts[fresh] += count
                where[fresh].add(index)
                born.add(fresh)
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out, sites


def apply_merges(symbols: list[int], ranks: dict[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Merge `symbols` by rank: `ranks[(a, b)] = (rank, new_id)`, lowest rank first."""
    while len(symbols) >= 2:
        best = None
        for pair in pairwise(symbols):
            found = ranks.get(pair)
            if found is not None and (best is None or found[0] < best[0]):
                best, best_pair = found, pair
        if best is None:
            break
        symbols = merge_pair(symbols, best_pair[0], best_pair[1], best[1])
    return symbols


def replay_merges(
    pairs: Iterable[tuple[Any, Any]], tokens: list[Any], known: dict[Any, int]
) -> list[tuple[int, int, int]]:
    """Rebuild saved merges `(a, b)` (token strings or bytes), in rank order, as `(a, b, new_id)`.

    `tokens` (id -> token) and `known` (token -> id) start with the base symbols and are extended
    with each new token; a merge whose token already exists reuses its id, as in training.
    """
    merges = []
    for a, b in pairs:
        new = known.setdefault(a + b, len(tokens))
        if new == len(tokens):
            tokens.append(a + b)
        merges.append((known[a], known[b], new))
    return merges
