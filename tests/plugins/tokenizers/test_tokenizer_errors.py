"""Bad input gives one clear `ValueError` line, never a hang or an obscure traceback."""

from __future__ import annotations

import pytest
from tokenizer_helpers import ALL_TOKENIZERS, NAMES

from plugins.tokenizers.data import load_corpus, read_text_file
from suite.errors import ComponentInputError


@pytest.mark.parametrize("cls", ALL_TOKENIZERS, ids=NAMES)
@pytest.mark.parametrize("texts", [[], [""], ["   \n\t "]], ids=["no-text", "empty", "blank"])
def test_empty_corpus(cls, texts):
    if cls.lossless and texts == ["   \n\t "]:
        cls().train(texts, 300)  # whitespace is text for a byte-level tokenizer
        return
    with pytest.raises(ValueError, match="empty"):
        cls().train(texts, 300)


@pytest.mark.parametrize("cls", ALL_TOKENIZERS, ids=NAMES)
def test_vocab_smaller_than_the_alphabet(cls):
    with pytest.raises(ValueError, match=r"vocab_size 20 is smaller than the base alphabet"):
        cls().train(["the quick brown fox jumps over the lazy dog"] * 3, 20)


@pytest.mark.parametrize("name", NAMES)
def test_decode_rejects_ids_out_of_range(trained, name):
    tok = trained[name]
    for bad in ([tok.vocab_size], [-1], [0, 10**9]):
        with pytest.raises(ValueError, match="out of range"):
            tok.decode(bad)


@pytest.mark.parametrize(
    "cls",
    [c for c in ALL_TOKENIZERS if not c.lossless],
    ids=[c.name for c in ALL_TOKENIZERS if not c.lossless],
)
def test_untrained_encode_says_so(cls):
    with pytest.raises(ValueError, match="not trained"):
        cls().encode("hello")


def test_hf_rejects_lone_surrogate_clearly(trained):
    with pytest.raises(ComponentInputError, match="lone surrogate"):
        trained["hf-bbpe"].encode("a\ud800b")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ComponentInputError, match=r"not UTF-8 text \(byte 0xe9 at offset 3\)"):
        load_corpus(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ComponentInputError, match="cannot read"):
        read_text_file(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    with pytest.raises(ComponentInputError, match="empty"):
        load_corpus(empty)


@pytest.mark.parametrize("cls", ALL_TOKENIZERS, ids=NAMES)
def test_load_garbage(cls, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError):
        cls.load(path)
    with pytest.raises(ValueError):
        cls.load(tmp_path / "missing.json")


def test_load_refuses_another_tokenizers_file(trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained["bpe"].save(path)
    from plugins.tokenizers import WordPiece

    with pytest.raises(ComponentInputError, match="holds a 'bpe' tokenizer, not 'wordpiece'"):
        WordPiece.load(path)
