"""WordPiece training: merge the pair with the best score count(a, b) / (count(a) * count(b)).

Same bookkeeping as `merges.learn_merges` (pair counts, pair-to-words index, lazy max-heap,
only the words holding the merged pair are rewritten), with one twist. A BPE count only ever
goes down for old pairs, so a stale heap entry over-estimates and can be fixed when popped.
The WordPiece score of a pair also depends on the counts of its two parts, and merging
(a, b) lowers count(a) and count(b): every other pair holding `a` or `b` *gains* score. So
after each merge those pairs are pushed again with their new scores (found through a
symbol-to-pairs index), and a popped entry is used only when its score is still current.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise

from plugins.tokenizers.merges import merge_in_word
from plugins.tokenizers.progress import TrainingProgress

__all__ = ["learn_wordpiece_merges"]


def learn_wordpiece_merges(
    words: list[list[int]],
    counts: Sequence[int],
    tokens: list[str],
    vocab_size: int,
    *,
    min_pair_count: int = 20,
    progress: TrainingProgress | None = None,
) -> list[tuple[int, int, int]]:
    """Learn merges by WordPiece score until `tokens` holds `vocab_size` entries.

    `tokens` holds the base symbols (`x` starts a word, `##x` continues one) and is extended
    in place; a merged token drops the `##` of its right part (`t` + `##h` -> `th`,
    `##t` + `##h` -> `##th`). Returns `(a, b, new_id)` per merge in the order learned.

    Pairs seen fewer than `min_pair_count` times wait: the score is a pointwise mutual
    information (without the log), which overrates rare events (two symbols seen once, always
    together, score the maximum, 1), so, as collocation finders do, it is only trusted above a
    minimum count. When no pair is left above it, the threshold is halved, down to 1, so the
    vocabulary still fills.
    """
    symbol_counts: dict[int, int] = defaultdict(int)
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for index, word in enumerate(words):
        count = counts[index]
        for symbol in word:
            symbol_counts[symbol] += count
        for pair in pairwise(word):
            pair_counts[pair] += count
            where[pair].add(index)

    def score(pair: tuple[int, int]) -> float:
        return pair_counts[pair] / (symbol_counts[pair[0]] * symbol_counts[pair[1]])

    # pairs_of[s]: the pairs holding symbol s whose count has reached the threshold (a pair
    # below it can only rise when it holds a new symbol, and those are added as they appear).
    pairs_of: dict[int, set[tuple[int, int]]] = defaultdict(set)
    # Heap entries are (-score, pair, version); only the latest version of a pair is live,
    # so a pair pushed again (its score rose) leaves no duplicate behind.
    version: dict[tuple[int, int], int] = defaultdict(int)
    push, pop = heapq.heappush, heapq.heappop

    def build_heap(threshold: int) -> list[tuple[float, tuple[int, int], int]]:
        pairs_of.clear()
        heap = []
        for pair, count in pair_counts.items():
            if count >= threshold:
                version[pair] += 1
                heap.append((-score(pair), pair, version[pair]))
                pairs_of[pair[0]].add(pair)
                pairs_of[pair[1]].add(pair)
        heapq.heapify(heap)
        return heap

    threshold = max(1, min_pair_count)
    heap = build_heap(threshold)
    rebuild_at = 2 * len(heap) + 4096
    merges: list[tuple[int, int, int]] = []
    known = {token: i for i, token in enumerate(tokens)}
    while len(tokens) < vocab_size:
        if not heap:  # no pair left at this threshold: halve it, so the vocabulary still fills
            if threshold == 1:
                break
            threshold = max(1, threshold // 2)
            heap = build_heap(threshold)
            continue
        negative, pair, pushed = pop(heap)
        if pushed != version[pair]:  # superseded by a later push
            continue
        count = pair_counts.get(pair, 0)
        if count < threshold:
            continue
        current = count / (symbol_counts[pair[0]] * symbol_counts[pair[1]])
        if current != -negative:  # its count fell since the push: requeue at the new score
            version[pair] = pushed + 1
            push(heap, (-current, pair, pushed + 1))
            continue
        a, b = pair
        right = tokens[b]
        string = tokens[a] + (right[2:] if right.startswith("##") else right)
        new = known.get(string, len(tokens))
        if new == len(tokens):
            known[string] = new
            tokens.append(string)
            if progress is not None:
                progress.advance()
        merges.append((a, b, new))
        touched: set[tuple[int, int]] = set()
        for index in where.pop(pair):
            words[index], sites = merge_in_word(
                words[index], pair, new, counts[index], index, pair_counts, where, touched
            )
            symbol_counts[a] -= sites * counts[index]
            symbol_counts[b] -= sites * counts[index]
            symbol_counts[new] += sites * counts[index]
        del pair_counts[pair]
        touched = {p for p in touched if pair_counts[p] >= threshold}
        for fresh in touched:
            pairs_of[fresh[0]].add(fresh)
            pairs_of[fresh[1]].add(fresh)
        # a and b became rarer: every pair holding them now scores higher; push it again.
        for symbol in {a, b}:
            live = {p for p in pairs_of[symbol] if pair_counts.get(p, 0) >= threshold}
            pairs_of[symbol] = live
            touched |= live
        for fresh in touched:
            version[fresh] += 1
            push(heap, (-score(fresh), fresh, version[fresh]))
        if len(heap) > rebuild_at:  # mostly superseded entries: drop them in one pass
            heap = [entry for entry in heap if entry[2] == version[entry[1]]]
            heapq.heapify(heap)
            rebuild_at = 2 * len(heap) + 4096
    return merges
