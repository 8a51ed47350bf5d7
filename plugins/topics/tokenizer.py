"""Interview topics of the area tokenizer: BPE by hand, WordPiece's score."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import suite
from plugins.tokenizers.merges import learn_merges, merge_pair
from plugins.tokenizers.pretokenize import count_pieces, word_pieces
from plugins.tokenizers.wordpiece_training import learn_wordpiece_merges
from plugins.topics._tokenizer_common import _bpe_base, _english_train, _slice, _tokenizer

__all__ = ["BPEVersusWordPiece", "BPEWorkedExample"]


Word = tuple[int, ...]


def _pair_counts(words: dict[Word, int]) -> Counter[tuple[int, int]]:
    """Adjacent pairs over the words, each weighted by the word's count."""
    counts: Counter[tuple[int, int]] = Counter()
    for word, n in words.items():
        for pair in pairwise(word):
            counts[pair] += n
    return counts


def _apply(words: dict[Word, int], merges: Sequence[tuple[int, int, int]]) -> dict[Word, int]:
    """The words after the given merges, in order."""
    out = dict(words)
    for a, b, new in merges:
        out = {tuple(merge_pair(w, a, b, new)): n for w, n in out.items()}
    return out


def _safe(text: str) -> str:
    """Text to embed in a Claim template: braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


class BPEWorkedExample(suite.Topic):
    """BPE starts from single symbols and repeatedly merges the adjacent pair that occurs most
    often in the corpus (each word weighted by its count), adding the merged symbol to the
    vocabulary. On low, lower, newest, widest the first merges are e+s and es+t (shared by
    newest and widest), then l+o and lo+w (low and lower). The unseen word lowest is then
    written with known pieces, low + est, instead of an unknown token: encoding replays
    the merges in the order they were learned.

    Formula: merge = argmax over adjacent pairs (a, b) of Σ_w count(w) · occurrences of a b in
    w; vocabulary = base symbols + one entry per merge.

    Pitfalls:
    - Encoding must apply merges by rank (first learned first), not greedily left to right.
    - Where the end-of-word mark goes changes the counts: glued to the last letter (w</w>),
      low at the end of a word and low inside a word are different pairs, and lowest comes out
      as lo + w + est</w> on this corpus.
    - Counting all pairs from scratch after every merge is quadratic; real trainers update
      only the words that contain the merged pair.

    Follow-up questions:
    - How are ties between equally frequent pairs broken, and does it matter?
    - Why does GPT-2 pre-tokenize with a regex before BPE?
    - How does the merge list differ from a WordPiece vocabulary at encoding time?
    """

    name = "bpe-worked-example"
    area = "tokenizer"
    question = "How does BPE learn its merges, and how does it split a word it has never seen?"
    components = ("tokenizer:bbpe", "tokenizer:bpe")

    corpus = {"low": 5, "lower": 2, "newest": 6, "widest": 3}

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        texts = [w for w, n in self.corpus.items() for _ in range(n)]
        tok = _tokenizer("bbpe")  # no end-of-word mark: ASCII bytes are the letters
        tok.train(texts, 256 + 1 + 10)
        show = tok.token_bytes
        words = {tuple(w.encode()): n for w, n in self.corpus.items()}
        rows, argmax_every_step = [], True
        for step, (a, b, _) in enumerate(tok._merges[:4]):
            counts = _pair_counts(_apply(words, tok._merges[:step]))
            runner_up = max(c for p, c in counts.items() if p != (a, b))
            argmax_every_step &= counts[a, b] == max(counts.values())
            merged = f"{show(a).decode()}+{show(b).decode()}"
            rows.append(
                {"step": step + 1, "merge": merged, "count": counts[a, b], "next_best": runner_up}
            )
        ids = tok.encode("lowest")
        pieces = [show(i).decode() for i in ids]
        glued = _tokenizer("bpe")
        glued.train(texts, _bpe_base(texts) + 10)
        glued_pieces = [glued.token(i) for i in glued.encode("lowest")]
        inside = sum(n for w, n in self.corpus.items() if "low" in w[:-1])
        at_end = sum(n for w, n in self.corpus.items() if w.endswith("low"))
        listed = ", ".join(f"{r['merge']} ({r['count']})" for r in rows)
        return suite.Evidence(
            table=[
                *rows,
                {"step": "lowest (bbpe)", "merge": " + ".join(pieces)},
                {"step": "lowest (bpe, </w>)", "merge": " + ".join(glued_pieces)},
            ],
            claims=[
                suite.Claim.of(
                    _safe(f"the first merges are {listed}: ")
                    + "each the most frequent pair when the counts are redone after the merges "
                    "before it (first: {c}, next best {r}; ties go to the smaller ids)",
                    holds=argmax_every_step and rows[0]["count"] >= rows[0]["next_best"],
                    c=rows[0]["count"],
                    r=rows[0]["next_best"],
                ),
                suite.Claim.of(
                    _safe(f"the unseen word lowest is encoded as {' + '.join(pieces)}")
                    + " ({n} tokens) and decodes back exactly",
                    holds=pieces == ["low", "est"] and tok.decode(ids) == "lowest",
                    n=len(ids),
                ),
                suite.Claim.of(
                    "with </w> glued to the last letter, low ends a word {e} times but sits "
                    "inside one only {i} times, so "
                    + _safe(f"lowest becomes {' + '.join(glued_pieces)}"),
                    holds=inside < at_end and "low" not in glued_pieces,
                    e=at_end,
                    i=inside,
                ),
            ],
            note="low x5, lower x2, newest x6, widest x3 (Sennrich et al.); 10 merges",
        )


def _merge_names(alphabet: Sequence[str], merges: Sequence[tuple[int, int, int]]) -> list[str]:
    """Token strings by id, merged tokens written as WordPiece does (t + ##h -> th)."""
    names = list(alphabet)
    for a, b, new in merges:
        if new == len(names):
            names.append(names[a] + names[b].removeprefix("##"))
    return names


class BPEVersusWordPiece(suite.Topic):
    """Both grow a vocabulary by merging adjacent symbols; they differ in which pair wins. BPE
    takes the most frequent pair. WordPiece takes the pair whose count is largest relative to
    the counts of its two parts, that is the pair that occurs together far more often than
    chance would predict. So BPE starts with pairs of common letters (t + h), WordPiece with
    pairs of rarer symbols that almost always come together (b + j in obj, e + x, q + u).

    Formula: BPE: argmax count(ab). WordPiece: argmax count(ab) / (count(a) · count(b)), a
    pointwise mutual information without the log; here both run on the same symbols, with the
    ## prefix that marks a piece continuing a word.

    Pitfalls:
    - The raw score loves noise: two symbols seen once, always together, get the best score;
      trainers ignore pairs below a minimum count (here m, as the suite's `wordpiece`).
    - HuggingFace's WordPieceTrainer picks merges by frequency, like BPE; only the encoding
      (greedy longest match, ## pieces) is WordPiece.
    - After a merge the parts become rarer, so the scores of other pairs holding them rise:
      a trainer must update those too.

    Follow-up questions:
    - Why does WordPiece encode by greedy longest match instead of replaying merges?
    - What does Unigram LM (SentencePiece) optimise instead?
    - Which scoring spends a small vocabulary better on held-out text, and why?
    """

    name = "bpe-vs-wordpiece-scoring"
    area = "tokenizer"
    question = "How does WordPiece choose its merges differently from BPE?"
    components = ("tokenizer:bpe", "tokenizer:wordpiece")

    min_pair_count = 20
    n_merges = 6

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        kb = ctx.pick(30, 10)
        texts = _slice(_english_train(), kb, ctx.seed)
        counted = count_pieces(texts, word_pieces)
        corpus: Counter[str] = Counter()
        for w, n in counted.items():
            if w.isascii() and w.isalpha():  # letters only, lowercased as BERT-uncased
                corpus[w.lower()] += n
        alphabet = sorted({w[0] for w in corpus}) + sorted(
            {"##" + c for w in corpus for c in w[1:]}
        )
        ids = {t: i for i, t in enumerate(alphabet)}
        words = {(ids[w[0]], *(ids["##" + c] for c in w[1:])): n for w, n in corpus.items()}
        size = len(alphabet) + self.n_merges
        freq = list(words.values())
        by_count = learn_merges([list(w) for w in words], freq, list(alphabet), size)
        by_score = learn_wordpiece_merges(
            [list(w) for w in words], freq, list(alphabet), size, min_pair_count=self.min_pair_count
        )
        names = {"bpe": _merge_names(alphabet, by_count), "wp": _merge_names(alphabet, by_score)}
        step = next((i for i, (x, y) in enumerate(zip(by_count, by_score)) if x[:2] != y[:2]), None)
        if step is None:
            raise RuntimeError(f"the first {self.n_merges} merges agree; use a larger corpus")
        state = _apply(words, by_count[:step])  # the shared merges before they part
        pairs = _pair_counts(state)
        symbols: Counter[int] = Counter()
        for word, n in state.items():
            for symbol in word:
                symbols[symbol] += n

        def score(pair: tuple[int, int]) -> float:
            return pairs[pair] / (symbols[pair[0]] * symbols[pair[1]])

        b, w = by_count[step][:2], by_score[step][:2]
        eligible = [p for p, c in pairs.items() if c >= self.min_pair_count]
        best_score = max(score(p) for p in eligible)
        rank = 1 + sum(c > pairs[w] for c in pairs.values())

        def label(pair: tuple[int, int], side: str) -> str:
            return f"{names[side][pair[0]]} + {names[side][pair[1]]}"

        table = [
            {
                "merge": i + 1,
                "bpe": label(x[:2], "bpe"),
                "wordpiece": label(y[:2], "wp"),
            }
            for i, (x, y) in enumerate(zip(by_count, by_score))
        ]
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "they part at merge {s}: BPE takes "
                    + _safe(label(b, "bpe"))
                    + ", seen {cb} times (no pair more often), WordPiece "
                    + _safe(label(w, "wp"))
                    + ", seen {cw} times (rank {r} by count)",
                    holds=pairs[b] == max(pairs.values()) and pairs[b] > pairs[w],
                    s=step + 1,
                    cb=pairs[b],
                    cw=pairs[w],
                    r=rank,
                ),
                suite.Claim.of(
                    "score count(ab)/(count(a)·count(b)): "
                    + _safe(label(w, "wp"))
                    + " = {cw}/({wa}·{wb}) = {sw:.3g}, the best of all pairs seen at least {m} "
                    "times and {x:.3g}x the {sb:.3g} of "
                    + _safe(label(b, "bpe"))
                    + " = {cb}/({ba}·{bb}), whose parts are common",
                    holds=score(w) == best_score and score(w) > 2 * score(b),
                    x=score(w) / score(b),
                    cw=pairs[w],
                    wa=symbols[w[0]],
                    wb=symbols[w[1]],
                    sw=score(w),
                    m=self.min_pair_count,
                    sb=score(b),
                    cb=pairs[b],
                    ba=symbols[b[0]],
                    bb=symbols[b[1]],
                ),
            ],
            note=f"{len(corpus)} distinct lowercased words from about {kb} KB of the English "
            "help-topics corpus; both trainers run on the same ## symbols",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    BPEWorkedExample,
    BPEVersusWordPiece,
)
