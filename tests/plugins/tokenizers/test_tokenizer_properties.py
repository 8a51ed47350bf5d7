"""Hypothesis properties every tokenizer must keep, and hand-checkable BPE / WordPiece cases."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_helpers import ALL_TOKENIZERS, NAMES, SMALL_VOCAB

from plugins.tokenizers import BPE, ByteLevelBPE, WordPiece
from plugins.tokenizers.merges import apply_merges

# Text a user may type: any Unicode character, and text biased towards the training script.
ANY_TEXT = st.text(max_size=200)
ENGLISH_ISH = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ,.'\n"))
    | st.characters(exclude_categories=("Cs",)),
    max_size=200,
)


@settings(deadline=None, max_examples=150)
@given(text=ANY_TEXT)
def test_bbpe_round_trip_on_arbitrary_unicode(trained, text):
    for name in ("bbpe", "hf-bbpe"):
        tok = trained[name]
        assert tok.decode(tok.encode(text)) == text


def test_bbpe_round_trip_edge_cases(trained):
    tok = trained["bbpe"]
    for text in [
        "",
        " ",
        "\x00\x01\x7f",
        "\r\n\t",
        "👨‍👩‍👧‍👦🇯🇵",
        "中文 日本語",
        "a\ud800b",
        "<|endoftext|>",
    ]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("") == []


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=40)
@given(text=ENGLISH_ISH)
def test_ids_in_range_and_deterministic(trained, name, text):
    tok = trained[name]
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.encode(text) == ids
    assert tok.decode(ids) == tok.decode(list(ids))


@pytest.mark.parametrize("cls", ALL_TOKENIZERS[:3], ids=NAMES[:3])
def test_training_is_deterministic(cls, small_corpus):
    # (HuggingFace's trainers are not: some ids follow the order of a hash map.)
    texts = small_corpus[:60]
    first, second = cls(), cls()
    first.train(texts, 400)
    second.train(texts, 400)
    sample = " ".join(texts[:5])
    assert first.encode(sample) == second.encode(sample)
    assert first.vocab_size == second.vocab_size <= 400


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=25)
@given(text=ENGLISH_ISH)
def test_save_load_identity(trained, name, text, tmp_path_factory):
    tok = trained[name]
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(path)
    again = type(tok).load(path)
    assert again.vocab_size == tok.vocab_size
    assert again.encode(text) == tok.encode(text)
    assert again.decode(tok.encode(text)) == tok.decode(tok.encode(text))


def test_vocab_size_is_what_was_asked(trained):
    for tok in trained.values():
        assert tok.vocab_size == SMALL_VOCAB


def test_merges_apply_in_rank_order_aaabdaaabac():
    # The textbook example: aa -> Z (4 times), then ab (2, tie with "aa a" broken by the smaller
    # pair of ids: 97 98 < 257 97), then Z + ab -> X, leaving X d X a c.
    tok = ByteLevelBPE()
    tok.train(["aaabdaaabac"], 256 + 1 + 3)
    z, y, x = 257, 258, 259
    assert [m[:2] for m in tok._merges] == [(97, 97), (97, 98), (z, y)]
    assert tok.encode("aaabdaaabac") == [x, ord("d"), x, ord("a"), ord("c")]
    assert tok.token_bytes(x) == b"aaab"


def test_apply_merges_uses_rank_not_position():
    # ranks: (b, c) first, then (a, b): "abc" -> a + bc, although "ab" comes first left to right.
    ranks = {(2, 3): (0, 10), (1, 2): (1, 11)}
    assert apply_merges([1, 2, 3], ranks) == [1, 10]
    assert apply_merges([1, 2, 4], ranks) == [11, 4]


def test_bpe_lowest_becomes_low_plus_est():
    corpus = ["low " * 5 + "lower " * 2 + "lowly " * 3 + "newest " * 6 + "widest " * 3]
    tok = BPE()
    tok.train(corpus, 10_000)  # until no pair is left
    pieces = [tok.token(i) for i in tok.encode("lowest")]
    assert pieces == ["low", "est</w>"]
    first = [tok.token(new) for _, _, new in tok._merges[:3]]
    assert first == ["lo", "es", "est</w>"]


def test_bpe_unknown_character_costs_one_unk(trained):
    tok = trained["bpe"]
    ids = tok.encode("the ☃ snow")
    assert ids.count(tok.unk_id) == 1


def test_wordpiece_greedy_longest_match_and_whole_word_unk(tmp_path):
    vocab = [
        "[UNK]",
        "u",
        "n",
        "a",
        "f",
        "b",
        "l",
        "e",
        "un",
        "##a",
        "##f",
        "##fa",
        "##ffa",
        "##ble",
        "##b",
        "##l",
        "##e",
    ]
    path = tmp_path / "wp.json"
    document = {"format": "nlpsuite-tokenizer", "name": "wordpiece", "version": 1, "vocab": vocab}
    path.write_text(json.dumps(document), encoding="utf-8")
    tok = WordPiece.load(path)
    assert [tok.token(i) for i in tok.encode("unaffable")] == ["un", "##a", "##ffa", "##ble"]
    assert tok.encode("unaffable zebra") == [*tok.encode("unaffable"), tok.unk_id]
    assert tok.decode(tok.encode("unaffable")) == "unaffable"


def test_wordpiece_prefers_the_best_score_over_the_most_frequent_pair():
    # "th" is the most frequent pair, but "q ##u" binds tighter: q is always followed by u.
    tok = WordPiece(min_pair_count=1)
    tok.train(["the " * 40 + "this " * 20 + "quiz " * 3 + "other " * 10], 200)
    a, b, new = tok._merges[0]
    assert (tok.token(a), tok.token(b), tok.token(new)) == ("q", "##u", "qu")
