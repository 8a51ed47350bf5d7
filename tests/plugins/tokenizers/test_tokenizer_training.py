"""The fast trainers learn exactly what the naive recount-everything trainers learn."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_naive_training import naive_bpe, naive_wordpiece

from plugins.tokenizers.merges import learn_merges
from plugins.tokenizers.pretokenize import count_pieces, word_pieces
from plugins.tokenizers.wordpiece_training import learn_wordpiece_merges

# Small corpora over a tiny alphabet, so that pairs repeat, overlap ("aaa") and tie often.
WORDS = st.lists(st.text(alphabet="abcd", min_size=1, max_size=8), min_size=1, max_size=30)


def _as_ids(words: list[str], prefix: str = "") -> tuple[list[list[int]], list[int], list[str]]:
    distinct = sorted(set(words))
    counts = [words.count(w) for w in distinct]
    if prefix:
        tokens = ["a", "b", "c", "d"] + [prefix + c for c in "abcd"]
        ids = {t: i for i, t in enumerate(tokens)}
        encoded = [[ids[w[0]], *(ids[prefix + c] for c in w[1:])] for w in distinct]
    else:
        tokens = ["a", "b", "c", "d"]
        encoded = [[tokens.index(c) for c in w] for w in distinct]
    return encoded, counts, tokens


@settings(deadline=None, max_examples=150)
@given(words=WORDS, extra=st.integers(1, 25))
def test_bpe_merges_match_naive(words, extra):
    encoded, counts, tokens = _as_ids(words)
    fast_tokens, slow_tokens = list(tokens), list(tokens)
    target = len(tokens) + extra
    fast = learn_merges([list(w) for w in encoded], counts, fast_tokens, target)
    slow = naive_bpe(encoded, counts, slow_tokens, target)
    assert fast == slow
    assert fast_tokens == slow_tokens


@settings(deadline=None, max_examples=150)
@given(words=WORDS, extra=st.integers(1, 25), min_pair_count=st.sampled_from([1, 2, 3, 8]))
def test_wordpiece_merges_match_naive(words, extra, min_pair_count):
    encoded, counts, tokens = _as_ids(words, prefix="##")
    fast_tokens, slow_tokens = list(tokens), list(tokens)
    target = len(tokens) + extra
    fast = learn_wordpiece_merges(
        [list(w) for w in encoded], counts, fast_tokens, target, min_pair_count=min_pair_count
    )
    slow = naive_wordpiece(encoded, counts, slow_tokens, target, min_pair_count)
    assert fast == slow
    assert fast_tokens == slow_tokens


# Few distinct words, each seen many times: scores tie, the threshold halves (min_pair_count
# up to 20), symbols run out ("q" always before "##u"), and a merged string can recur
# ("a" + "##bc" after "ab" + "##c"), all of which the per-symbol heap must get right.
WEIGHTED = st.lists(
    st.tuples(st.text(alphabet="abcd", min_size=1, max_size=10), st.integers(1, 40)),
    min_size=1,
    max_size=25,
)


@settings(deadline=None, max_examples=60)
@given(weighted=WEIGHTED, extra=st.integers(1, 60), min_pair_count=st.sampled_from([1, 5, 20]))
def test_wordpiece_merges_match_naive_on_weighted_corpora(weighted, extra, min_pair_count):
    encoded, counts, tokens = _as_ids([w for w, n in weighted for _ in range(n)], prefix="##")
    fast_tokens, slow_tokens = list(tokens), list(tokens)
    target = len(tokens) + extra
    fast = learn_wordpiece_merges(
        [list(w) for w in encoded], counts, fast_tokens, target, min_pair_count=min_pair_count
    )
    slow = naive_wordpiece(encoded, counts, slow_tokens, target, min_pair_count)
    assert fast == slow
    assert fast_tokens == slow_tokens


def test_wordpiece_merges_match_naive_on_the_default_corpus(small_corpus):
    from plugins.tokenizers import WordPiece

    tok = WordPiece(progress=False)
    tok.train(small_corpus[:100], 220)
    words = count_pieces(small_corpus[:100], word_pieces)
    alphabet = tok._tokens[: len(tok._tokens) - len({m[2] for m in tok._merges})]
    ids = {t: i for i, t in enumerate(alphabet)}
    encoded = [[ids[w[0]], *(ids["##" + c] for c in w[1:])] for w in words]
    slow = naive_wordpiece(encoded, list(words.values()), list(alphabet), 220, 20)
    assert tok._merges == slow
