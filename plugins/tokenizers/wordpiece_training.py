"""WordPiece training: merge the pair with the best score count(a, b) / (count(a) * count(b)).

Same bookkeeping as `merges.learn_merges` (pair counts, pair-to-words index, lazy max-heap,
only the words holding the merged pair are rewritten), with one twist. A BPE count only ever
goes down for old pairs, so a stale heap entry over-estimates and can be fixed when popped.
The WordPiece score of a pair also depends on the counts of its two parts, and merging
(a, b) lowers count(a) and count(b): every other pair holding `a` or `b` *gains* score.

So the heap holds *symbols*, not pairs: one live entry per symbol, its best pair and score
(`rescan`: one pass over `pairs_of[s]`, the symbol's pairs above the count threshold). The
invariant: every pair is covered by a live entry of one of its two symbols whose score is at
least the pair's current score. After merging (a, b) into `new`, only pairs holding a, b
(rarer now) or `new` (born) can have gained score, so rescanning those three symbols keeps
it; a pair whose count fell (a neighbouring merge took some of its occurrences) leaves an
over-estimate, which is rescanned when it reaches the top. So the popped entry whose pair
still has exactly that score is the best pair, ties going to the smaller pair of ids. A
merge costs three rescans and three pushes, where pushing every pair that gained score
costs dozens of pushes (a frequent continuation such as `##e` has hundreds of pairs).

A pair is one int, `a * stride + b` (stride = the final vocabulary size), which orders as the
tuple `(a, b)` and hashes faster; symbol counts and `pairs_of` are lists indexed by id.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise

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
    `##t` + `##h` -> `##th`). `words` (the distinct pre-tokens as ids, `counts[i]` the
    occurrences of word i) is rewritten in place. Returns `(a, b, new_id)` per merge in the
    order learned.

    Pairs seen fewer than `min_pair_count` times wait: the score is a pointwise mutual
    information (without the log), which overrates rare events (two symbols seen once, always
    together, score the maximum, 1), so, as collocation finders do, it is only trusted above a
    minimum count. When no pair is left above it, the threshold is halved, down to 1, so the
    vocabulary still fills.
    """
    stride = max(vocab_size, len(tokens))  # every id stays below it
    symbol_counts = [0] * stride
    pair_counts: dict[int, int] = defaultdict(int)
    where: dict[int, set[int]] = defaultdict(set)  # pair -> indices of the words holding it
    for index, word in enumerate(words):
        count = counts[index]
        for symbol in word:
            symbol_counts[symbol] += count
        for left, right in pairwise(word):
            key = left * stride + right
            pair_counts[key] += count
            where[key].add(index)

    # symbol -> {pair: the pair's other symbol} for its pairs at or above the threshold
    pairs_of: list[dict[int, int]] = [{} for _ in range(stride)]
    best_score = [0.0] * stride  # symbol -> score of its live heap entry (-1.0: none)
    best_pair = [-1] * stride  # symbol -> pair of its live heap entry (-1: none)
    push, pop = heapq.heappush, heapq.heappop
    heap: list[tuple[float, int, int]] = []  # (-score, pair, symbol): that symbol's best pair
    threshold = max(1, min_pair_count)

    def rescan(symbol: int) -> None:
        """Find the symbol's best pair now (dropping pairs below the threshold) and push it."""
        top, top_pair, dead = 0.0, -1, []
        own, get = symbol_counts[symbol], pair_counts.get
        pairs = pairs_of[symbol]
        for pair, other in pairs.items():
            count = get(pair, 0)
            if count < threshold:
                dead.append(pair)
                continue
            score = count / (own * symbol_counts[other])  # = count(ab) / (count(a) count(b))
            if score > top or (score == top and pair < top_pair):
                top, top_pair = score, pair
        for pair in dead:
            del pairs[pair]
        best_score[symbol], best_pair[symbol] = (top, top_pair) if top_pair >= 0 else (-1.0, -1)
        if top_pair >= 0:
            push(heap, (-top, top_pair, symbol))

    def build_heap() -> None:
        heap.clear()
        for pairs in pairs_of:
            pairs.clear()
        for key, count in pair_counts.items():
            if count >= threshold:
                left, right = divmod(key, stride)
                pairs_of[left][key] = right
                pairs_of[right][key] = left
        for symbol in range(stride):
            if pairs_of[symbol]:
                rescan(symbol)

    build_heap()
    merges: list[tuple[int, int, int]] = []
    known = {token: i for i, token in enumerate(tokens)}
    while len(tokens) < vocab_size:
        if not heap:  # no pair left at this threshold: halve it, so the vocabulary still fills
            if threshold == 1:
                break
            threshold = max(1, threshold // 2)
            build_heap()
            continue
        negative, key, owner = pop(heap)
        if key != best_pair[owner] or -negative != best_score[owner]:
            continue  # superseded by a later rescan of its symbol
        count = pair_counts.get(key, 0)
        a, b = key // stride, key % stride
        if count < threshold or count / (symbol_counts[a] * symbol_counts[b]) != -negative:
            rescan(owner)  # its count fell since: this symbol's best pair may be another now
            continue
        tail = tokens[b]
        string = tokens[a] + (tail[2:] if tail.startswith("##") else tail)
        new = known.get(string, len(tokens))
        if new == len(tokens):
            known[string] = new
            tokens.append(string)
            if progress is not None:
                progress.advance()
        merges.append((a, b, new))
        born = _merge_everywhere(
            words, counts, a, b, new, stride, pair_counts, where, symbol_counts
        )
        del pair_counts[key]
        for fresh in born:
            if pair_counts[fresh] >= threshold:
                left, right = divmod(fresh, stride)
                pairs_of[left][fresh] = right
                pairs_of[right][fresh] = left
        # Only pairs holding a or b (rarer now) or `new` (born) can have gained score.
        for symbol in {a, b, new}:
            rescan(symbol)
    return merges


def _merge_everywhere(
    words: list[list[int]],
    counts: Sequence[int],
    a: int,
    b: int,
    new: int,
    stride: int,
    pair_counts: dict[int, int],
    where: dict[int, set[int]],
    symbol_counts: list[int],
) -> set[int]:
    """Rewrite every word holding the pair `a b` with `new`; return the pairs born.

    Around each merge site `p a b n` -> `p new n`: (p, a) and (b, n) lose the word's count,
    (p, new) and (new, n) gain it (as `merges.merge_in_word`, with int pairs); `p` is read
    from the rewritten word, so `a b a b` -> `new new` nets out. Each site also moves one
    occurrence of `a` and one of `b` into `new` in `symbol_counts`.
    """
    born: set[int] = set()
    moved = 0
    stride_new = new * stride
    for index in where.pop(a * stride + b):
        word = words[index]
        todo = word.count(a)  # the a's left to look at; word.index jumps to each in C
        if not todo:  # stale index: an earlier merge took the pair out of this word
            continue
        count = counts[index]
        out: list[int] = []
        start = search = 0  # word[:start] is in `out`; the next a is at or after `search`
        last = len(word) - 1
        while todo:
            i = word.index(a, search)
            todo -= 1
            search = i + 1
            if i == last or word[i + 1] != b:
                continue
            out += word[start:i]
            moved += count
            if out:
                left = out[-1] * stride
                pair_counts[left + a] -= count
                fresh = left + new
                pair_counts[fresh] += count
                where[fresh].add(index)
                born.add(fresh)
            if i + 2 <= last:
                right = word[i + 2]
                pair_counts[b * stride + right] -= count
                fresh = stride_new + right
                pair_counts[fresh] += count
                where[fresh].add(index)
                born.add(fresh)
            out.append(new)
            start = search = i + 2
            if a == b:
                todo -= 1  # the b just merged was an a too
        if start:
            out += word[start:]
            words[index] = out
    symbol_counts[a] -= moved
    symbol_counts[b] -= moved
    symbol_counts[new] += moved
    return born
