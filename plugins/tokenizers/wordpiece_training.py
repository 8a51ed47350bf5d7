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

from plugins.tokenizers.progress import TrainingProgress

__all__ = ["learn_wordpiece_merges"]


def learn_wordpiece_merges(
    words: list[list[int]],
    counts: Sequence[int],
    tokens: list[str],
    vocab_size: int,
    *,
    min_pair_count: int = 2,
    progress: TrainingProgress | None = None,
) -> list[tuple[int, int, int]]:
    """Learn merges by WordPiece score until `tokens` holds `vocab_size` entries.

    `tokens` holds the base symbols (`x` starts a word, `##x` continues one) and is extended
    in place; a merged token drops the `##` of its right part (`t` + `##h` -> `th`,
    `##t` + `##h` -> `##th`). Pairs seen fewer than `min_pair_count` times are not merged:
    their score (1 / (count(a) * count(b)) at best) rewards pairs of rare symbols, and a pair
    seen once is noise. Returns `(a, b, new_id)` per merge in the order learned.
    """
    symbol_counts: dict[int, int] = defaultdict(int)
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    pairs_of: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for index, word in enumerate(words):
        count = counts[index]
        for symbol in word:
            symbol_counts[symbol] += count
        for pair in zip(word, word[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    for a, b in pair_counts:
        pairs_of[a].add((a, b))
        pairs_of[b].add((a, b))

    def score(pair: tuple[int, int]) -> float:
        return pair_counts[pair] / (symbol_counts[pair[0]] * symbol_counts[pair[1]])

    heap = [(-score(pair), pair) for pair, count in pair_counts.items() if count >= min_pair_count]
    heapq.heapify(heap)
    merges: list[tuple[int, int, int]] = []
    known = {token: i for i, token in enumerate(tokens)}
    while len(tokens) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) < min_pair_count:
            continue
        current = score(pair)
        if current != -negative:  # stale: pushed again whenever the score went up
            if current < -negative:
                heapq.heappush(heap, (-current, pair))
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
            word = words[index]
            count = counts[index]
            out: list[int] = []
            i, last = 0, len(word) - 1
            while i <= last:
                if i < last and word[i] == a and word[i + 1] == b:
                    symbol_counts[a] -= count
                    symbol_counts[b] -= count
                    symbol_counts[new] += count
                    if out:
                        left = out[-1]
                        pair_counts[left, a] -= count
                        fresh = (left, new)
                        pair_counts[fresh] += count
                        where[fresh].add(index)
                        touched.add(fresh)
                    if i + 2 <= last:
                        following = word[i + 2]
                        pair_counts[b, following] -= count
                        fresh = (new, following)
                        pair_counts[fresh] += count
                        where[fresh].add(index)
                        touched.add(fresh)
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[index] = out
        del pair_counts[pair]
        for fresh in touched:
            pairs_of[fresh[0]].add(fresh)
            pairs_of[fresh[1]].add(fresh)
        # a and b became rarer: every live pair holding them now scores higher.
        for symbol in {a, b}:
            live = {p for p in pairs_of[symbol] if pair_counts.get(p, 0) > 0}
            pairs_of[symbol] = live
            touched |= live
        for fresh in touched:
            if pair_counts[fresh] >= min_pair_count:
                heapq.heappush(heap, (-score(fresh), fresh))
    return merges
