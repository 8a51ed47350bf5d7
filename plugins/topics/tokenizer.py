"""Interview topics of the area tokenizer: BPE by hand, WordPiece's score, bytes, vocabulary size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import suite
from plugins.tokenizers.data import default_corpus, mixed_script_sample
from plugins.tokenizers.merges import learn_merges, merge_pair
from plugins.tokenizers.pretokenize import count_pieces, word_pieces
from plugins.tokenizers.wordpiece_training import learn_wordpiece_merges

__all__ = ["BPEVersusWordPiece", "BPEWorkedExample", "ByteLevelBPE", "VocabularySize"]

Word = tuple[int, ...]


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


class ByteLevelBPE(suite.Topic):
    """Byte-level BPE (GPT-2) runs BPE over the UTF-8 bytes of the text. All 256 byte values
    are in the vocabulary before any merge, so every string, in any script, with emoji or
    control characters, has an encoding and decodes back exactly; no unknown token exists.
    The price: a character the merges never saw costs its bytes, three tokens for a Chinese
    character when the tokenizer was trained on English. A character-level vocabulary
    (WordPiece, classic BPE) maps unseen characters to [UNK] and loses them.

    Formula: UTF-8 length: 1 byte below U+0080, 2 below U+0800, 3 below U+10000 (CJK), 4
    above (most emoji); vocabulary = 256 bytes + special tokens + merges.

    Pitfalls:
    - A slice of the ids may end inside a character: decode whole sequences, or buffer bytes
      when streaming.
    - Lossless needs a pre-tokenizer that keeps the spaces (GPT-2 attaches them to the next
      word); whitespace-splitting pre-tokenizers lose them even with bytes.
    - Tokens per character depend on the training mix: a mostly English corpus makes other
      scripts several times more expensive per character.

    Follow-up questions:
    - Why does WordPiece turn a whole word into [UNK] when one character is unknown?
    - What does SentencePiece's byte fallback do?
    - How would you make Chinese cheaper without retraining from scratch?
    """

    name = "byte-level-bpe"
    area = "tokenizer"
    question = "Why does a byte-level BPE never produce an unknown token, and what does it cost?"
    components = ("tokenizer:bbpe", "tokenizer:wordpiece")

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        kb, merges = ctx.pick((30, 400), (10, 150))
        train = _slice(_english_train(), kb, ctx.seed)
        heldout = default_corpus().heldout
        texts = {"en": [heldout[ctx.seed % len(heldout)]]}
        texts |= {script: list(held) for script, (_, held) in mixed_script_sample().items()}
        texts.pop("code", None)
        bbpe, wp = _tokenizer("bbpe"), _tokenizer("wordpiece")
        bbpe.train(train, 256 + 1 + merges)
        words = count_pieces(train, word_pieces)
        wp_base = 1 + len({c for w in words for c in w}) + len({c for w in words for c in w[1:]})
        wp.train(train, wp_base + merges)
        table, exact, flagged, unk, foreign = [], 0, 0, 0, 0
        for script, docs in texts.items():
            chars = sum(len(d) for d in docs)
            byte_ids = [bbpe.encode(d) for d in docs]
            wp_ids = [wp.encode(d) for d in docs]
            n_unk = sum(ids.count(wp.unk_id) for ids in wp_ids)
            back = sum(bbpe.decode(ids) == d for ids, d in zip(byte_ids, docs))
            exact += back
            table.append(
                {
                    "script": script,
                    "texts": len(docs),
                    "utf8_bytes_per_char": sum(len(d.encode()) for d in docs) / chars,
                    "bbpe_tokens_per_char": sum(map(len, byte_ids)) / chars,
                    "bbpe_exact": back,
                    "wordpiece_unk": n_unk,
                    "wordpiece_tokens": sum(map(len, wp_ids)),
                }
            )
            if script != "en":
                flagged += sum(wp.unk_id in ids for ids in wp_ids)
                unk += n_unk
                foreign += len(docs)
        n_texts = sum(map(len, texts.values()))
        hanzi = [c for d in texts["zh"] for c in d if "\u4e00" <= c <= "\u9fff"]
        per_hanzi = sum(len(c.encode()) for c in hanzi) / len(hanzi)
        zh_ids = [i for d in texts["zh"] for i in bbpe.encode(d)]
        per_char_zh = len(zh_ids) / sum(len(d) for d in texts["zh"])
        wp_back = sum(
            wp.decode(wp.encode(d)) == d for s, ds in texts.items() if s != "en" for d in ds
        )
        return suite.Evidence(
            table=table,
            claims=[
                suite.Claim.of(
                    "byte-level BPE has no unknown token and decode(encode(s)) == s on {k} of "
                    "{n} held-out texts (English, Chinese, Japanese, emoji)",
                    holds=bbpe.unk_id is None and exact == n_texts,
                    k=exact,
                    n=n_texts,
                ),
                suite.Claim.of(
                    "a Chinese character is {b:.3g} bytes in UTF-8, and the English-trained "
                    "byte-level BPE spends {t:.3g} tokens per character of Chinese text",
                    holds=per_hanzi == 3 and 2 < per_char_zh <= 3,
                    b=per_hanzi,
                    t=per_char_zh,
                ),
                suite.Claim.of(
                    "WordPiece trained on the same text puts [UNK] in {k} of {m} non-English "
                    "texts ({u} unknown tokens) and restores {r} of them",
                    holds=flagged == foreign and wp_back == 0,
                    k=flagged,
                    m=foreign,
                    u=unk,
                    r=wp_back,
                ),
            ],
            note=f"bbpe and wordpiece, {merges} merges each, trained on about {kb} KB of English "
            "(help topics); tested on a held-out English paragraph and the held-out "
            "zh/ja/emoji sample",
        )


class VocabularySize(suite.Topic):
    """A larger vocabulary holds longer pieces, so the same text takes fewer tokens: whole
    frequent words become single tokens. The gain shrinks quickly: the first merges capture
    very frequent pairs, later ones rare words that seldom occur in new text. Meanwhile the
    embedding and output matrices grow linearly with the vocabulary, and rare tokens get
    few training updates, hence vocabularies of tens of thousands rather than millions.

    Formula: fertility = tokens / words on held-out text; it falls with the vocabulary V,
    roughly linearly in log V at first, then flattens; embedding parameters = V · d (twice
    when input and output embeddings are untied).

    Pitfalls:
    - Measure on held-out text: on the training text a big vocabulary memorises.
    - Fewer tokens per word means shorter sequences (cheaper attention) but a bigger, slower
      softmax and more rarely seen embeddings.
    - The optimum depends on the languages of the corpus: a multilingual model needs more.

    Follow-up questions:
    - How does vocabulary size interact with model size in scaling laws?
    - Why do multilingual models use vocabularies of hundreds of thousands?
    - What is the cost of the output softmax at V = 256k, and how is it reduced?
    """

    name = "vocabulary-size"
    area = "tokenizer"
    question = "How does the vocabulary size change the number of tokens per word?"
    components = ("tokenizer:bpe",)

    def experiment(self, ctx: suite.TopicContext) -> suite.Evidence:
        kb, top, n_held = ctx.pick((60, 3200, 150), (20, 1600, 60))
        train = _slice(_english_train(), kb, ctx.seed)
        held = default_corpus().heldout[:n_held]
        n_words = sum(len(d.split()) for d in held)
        base = _bpe_base(train)
        extras = [0, 50, *(100 * 2**i for i in range(top.bit_length()) if 100 * 2**i <= top)]
        sizes, fertility = [], []
        for extra in extras:
            tok = _tokenizer("bpe")
            tok.train(train, base + extra)
            sizes.append(tok.vocab_size)
            fertility.append(sum(len(tok.encode(d)) for d in held) / n_words)
        gains = [
            (a - b) / (vb - va) for a, b, va, vb in zip(fertility, fertility[1:], sizes, sizes[1:])
        ]
        first, last = gains[0] * 100, gains[-1] * 100
        return suite.Evidence(
            table=[{"vocab_size": v, "tokens_per_word": f} for v, f in zip(sizes, fertility)],
            claims=[
                suite.Claim.of(
                    "tokens per held-out word fall at every step, from {a:.3g} with the "
                    "alphabet alone ({va} symbols) to {b:.3g} at a vocabulary of {vb}",
                    holds=all(y < x for x, y in pairwise(fertility)),
                    a=fertility[0],
                    va=sizes[0],
                    b=fertility[-1],
                    vb=sizes[-1],
                ),
                suite.Claim.of(
                    "diminishing returns: each of the first 50 entries saves {g1:.3g} tokens per "
                    "100 words, each of the last {n} only {g2:.3g}, {r:.3g}x less",
                    holds=all(y < x for x, y in pairwise(gains[1:])) and first > 10 * last,
                    g1=first,
                    n=sizes[-1] - sizes[-2],
                    g2=last,
                    r=first / last,
                ),
            ],
            series=[
                suite.Series(
                    "bpe", sizes, fertility, "vocabulary size", "tokens per word", plot="loglog"
                )
            ],
            note=f"bpe trained on about {kb} KB of English help topics at each size; "
            f"tokens per whitespace word on {n_held} held-out paragraphs",
        )


TOPICS: tuple[type[suite.Topic], ...] = (
    BPEWorkedExample,
    BPEVersusWordPiece,
    ByteLevelBPE,
    VocabularySize,
)
