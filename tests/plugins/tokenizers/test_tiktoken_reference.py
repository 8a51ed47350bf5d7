"""tiktoken built from bbpe's own ranks gives bbpe's ids; a disagreement is an error row."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.tokenizers import ByteLevelBPE, EncodeBenchmark
from plugins.tokenizers.data import default_corpus
from plugins.tokenizers.tiktoken_reference import first_difference, tiktoken_twin
from suite import RunContext
from suite.runner import Cell, run_cell

# Any assigned, non-surrogate character (tiktoken turns lone surrogates into U+FFFD).
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cn")), max_size=80)
# Whitespace runs, contractions, digits, accents, CJK and emoji (with skin tone and ZWJ).
TRICKY_PIECES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "'s", "'ll", "'"]
TRICKY_PIECES += [
    "a",
    "Ab",
    "é",
    "e\u0301",
    "ß",
    "12",
    "٣",
    "中文",
    "カタ",
    "🙂",
    "👍🏽",
    "👩\u200d💻",
    ".,!",
]
TRICKY_TEXT = st.lists(st.sampled_from(TRICKY_PIECES), max_size=40).map("".join)

CELL_PARAMS = {"vocab_size": 400, "train_kb": 20}
FAST_CTX = RunContext(quick=True, warmup=0, repeats=3, budget_s=0.05, adapt=1)


@pytest.fixture(scope="module")
def bbpe(small_corpus: list[str]) -> ByteLevelBPE:
    tok = ByteLevelBPE(progress=False)
    tok.train(small_corpus, 600)
    return tok


@pytest.fixture(scope="module")
def twin(bbpe: ByteLevelBPE):
    return tiktoken_twin(bbpe)


def test_ranks_are_bbpe_ids_without_the_special_token(bbpe):
    ranks = bbpe.mergeable_ranks()
    assert len(ranks) == bbpe.vocab_size - 1  # <|endoftext|> (id 256) left out
    assert all(ranks[bytes([b])] == b for b in range(256))
    assert sorted(ranks.values()) == [i for i in range(bbpe.vocab_size) if i != 256]
    assert all(bbpe.token_bytes(i) == data for data, i in ranks.items())


def test_same_ids_on_the_default_corpus(bbpe, twin, small_corpus):
    corpus = default_corpus()
    assert first_difference(bbpe, twin, list(corpus.heldout)) is None
    assert first_difference(bbpe, twin, small_corpus[:200]) is None


@settings(deadline=None, max_examples=150)
@given(text=ANY_TEXT | TRICKY_TEXT)
def test_same_ids_on_any_text(bbpe, twin, text):
    assert bbpe.encode(text) == twin.encode_ordinary(text)


def test_first_difference_names_the_text_and_token(bbpe, twin):
    class OffByOne(ByteLevelBPE):
        def encode(self, text: str) -> list[int]:
            ids = bbpe.encode(text)
            return ids[:1] + [i + 1 for i in ids[1:]]

    message = first_difference(OffByOne(), twin, ["fine", "the cat sat"])
    assert message is not None and message.startswith("text 0, token 1:")


class _SwappedRanks(ByteLevelBPE):
    """bbpe with two merged tokens' ranks swapped: tiktoken then applies merges in another order."""

    name = "bbpe-swapped-ranks"

    def mergeable_ranks(self) -> dict[bytes, int]:
        ranks = super().mergeable_ranks()
        first, second = (data for data, i in ranks.items() if i in (257, 258))
        ranks[first], ranks[second] = ranks[second], ranks[first]
        return ranks


class _ReusedToken(ByteLevelBPE):
    """A vocabulary where "abc" is made twice (ab + c, then a + bc): no tiktoken form."""

    name = "bbpe-reused-token"

    def train(self, texts, vocab_size):  # a fixed vocabulary, whatever the texts
        tokens = [*self._base_tokens(), b"ab", b"bc", b"abc"]
        a, b, c = b"abc"
        self._build(tokens, [(a, b, 257), (b, c, 258), (257, c, 259), (a, 258, 259)])


def _encode_row(cls: type[ByteLevelBPE]) -> dict:
    cell = Cell(component=cls, benchmark=EncodeBenchmark(), params=dict(CELL_PARAMS))
    return run_cell(cell, FAST_CTX)


def test_a_vocabulary_that_tiktoken_reads_differently_is_an_error_row():
    row = _encode_row(_SwappedRanks)
    assert row["status"] == "error"
    assert "tiktoken with bbpe-swapped-ranks's ranks disagrees" in row["error"]
    assert row["metrics"] == {} and row["timing"] is None


def test_a_vocabulary_without_a_rank_form_is_an_error_row():
    with pytest.raises(ValueError, match="existing token 259"):
        tiktoken_twin(_build_reused())
    row = _encode_row(_ReusedToken)
    assert row["status"] == "error" and "has no tiktoken form" in row["error"]


def _build_reused() -> _ReusedToken:
    tok = _ReusedToken()
    tok.train([], 260)
    return tok


def test_bbpe_encode_cell_reports_its_ratio_to_tiktoken():
    row = _encode_row(ByteLevelBPE)
    assert row["status"] == "ok", row["error"]
    metrics = row["metrics"]
    assert metrics["tiktoken_encode_ratio"] > 0
    assert metrics["tiktoken_encode_ratio_ci_low"] <= metrics["tiktoken_encode_ratio"]
    assert metrics["tiktoken_encode_ratio"] <= metrics["tiktoken_encode_ratio_ci_high"]
    assert metrics["tiktoken_encode_mb_per_s"] > 0


@pytest.mark.slow
def test_same_ids_at_vocab_4000_on_the_whole_corpus():
    corpus = default_corpus()
    tok = ByteLevelBPE(progress=False)
    tok.train(corpus.train, 4000)
    twin = tiktoken_twin(tok)
    assert first_difference(tok, twin, list(corpus.heldout) + list(corpus.train)) is None
