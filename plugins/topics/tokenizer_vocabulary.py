"""Interview topics of the area tokenizer: byte-level BPE, vocabulary size."""

from __future__ import annotations

from itertools import pairwise

import suite
from plugins.tokenizers.data import default_corpus, mixed_script_sample
from plugins.tokenizers.pretokenize import count_pieces, word_pieces
from plugins.topics._tokenizer_common import _bpe_base, _english_train, _slice, _tokenizer

__all__ = ["ByteLevelBPE", "VocabularySize"]


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
    ByteLevelBPE,
    VocabularySize,
)
