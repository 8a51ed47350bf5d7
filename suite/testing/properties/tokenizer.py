"""Properties of tokenizers: ids in range, vocabulary size, determinism, save/load, round trip.

Each example trains a tokenizer on a small multi-script corpus (training is cached per corpus
and vocabulary size within a run, since it dominates the cost) and probes it with texts from
the sample scripts, which the corpus may not contain: `encode` must cope with unseen characters
(an unknown token or byte fallback), never raise. The round trip is demanded only from
tokenizers that promise it (`lossless = True`, e.g. byte-level BPE), on any Unicode text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from suite.testing import strategies
from suite.testing.properties._base import Example, Property, Subject, fail, register_property
from suite.testing.properties._tensors import call_component

__all__: list[str] = []

COST = 0.4  # share of --examples: every example trains a tokenizer


def _train(subject: Subject, ex: Example, *, fresh: bool = False) -> Any:
    key = ("trained", tuple(ex["corpus"]), ex["vocab_size"])
    if not fresh and key in subject.cache:
        return subject.cache[key]
    tok = call_component(f"{subject.cls.__name__}()", subject.cls)
    call_component(
        f"train({len(ex['corpus'])} texts, vocab_size={ex['vocab_size']})",
        tok.train,
        list(ex["corpus"]),
        ex["vocab_size"],
    )
    if not fresh:
        subject.cache[key] = tok
    return tok


def _encode(tok: Any, text: str) -> list[int]:
    ids = call_component(f"encode({text!r})", tok.encode, text)
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        fail(
            f"encode({text!r}) must return a list of ints, got {type(ids).__name__} {str(ids)[:60]}"
        )
    return ids


def _vocab_size(tok: Any) -> int:
    size = call_component("vocab_size", lambda: tok.vocab_size)
    if not isinstance(size, int) or size <= 0:
        fail(f"vocab_size must be a positive int, got {size!r}")
    return size


def _short(ids: list[int]) -> str:
    return str(ids) if len(ids) <= 8 else f"[{', '.join(map(str, ids[:8]))}, … ({len(ids)} ids)]"


def _texts(ex: Example) -> list[str]:
    return [*ex["probes"], *ex["corpus"][:2]]


# --------------------------------------------------------------------------- checks


def check_ids_in_range(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex)
    size = _vocab_size(tok)
    for text in _texts(ex):
        ids = _encode(tok, text)
        bad = [i for i in ids if not 0 <= i < size]
        if bad:
            fail(f"encode({text!r}) returned id {bad[0]} outside range(vocab_size = {size})")
        if text and not ids:
            fail(f"encode({text!r}) returned no ids for a non-empty text")


def check_vocab_size(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex)
    size = _vocab_size(tok)
    if size > ex["vocab_size"]:
        fail(f"trained with vocab_size={ex['vocab_size']} but has {size} entries")


def check_deterministic(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex)
    for text in _texts(ex):
        first, second = _encode(tok, text), _encode(tok, text)
        if first != second:
            fail(f"encode({text!r}) gave {_short(first)} then {_short(second)}")
        once = call_component("decode", tok.decode, first)
        twice = call_component("decode", tok.decode, first)
        if once != twice:
            fail(f"decode({_short(first)}) gave {once!r} then {twice!r}")


def check_reproducible(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex, fresh=True)
    again = _train(subject, ex, fresh=True)  # back to back: any hidden randomness shows
    if _vocab_size(again) != _vocab_size(tok):
        fail(
            f"training twice on the same corpus gave vocab sizes {_vocab_size(tok)} and {_vocab_size(again)}"
        )
    for text in _texts(ex):
        first, other = _encode(tok, text), _encode(again, text)
        if first != other:
            fail(
                f"two tokenizers trained on the same corpus encode {text!r} as {_short(first)} and {_short(other)}: break frequency ties by a fixed rule, not by hash or set order"
            )


def _from_scratch_only(subject: Subject) -> str | None:
    if subject.cls.reference is None:
        return "references are taken as they are (HuggingFace trainers break frequency ties in hash order)"
    return None


def check_save_load(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tokenizer.json"
        call_component(f"save({path.name!r})", tok.save, path)
        loaded = call_component(
            f"{subject.cls.__name__}.load({path.name!r})", subject.cls.load, path
        )
    if _vocab_size(loaded) != _vocab_size(tok):
        fail(f"vocab_size is {_vocab_size(tok)} before save and {_vocab_size(loaded)} after load")
    for text in _texts(ex):
        before, after = _encode(tok, text), _encode(loaded, text)
        if before != after:
            fail(
                f"after save/load, encode({text!r}) changed from {_short(before)} to {_short(after)}"
            )
        decoded_before = call_component("decode", tok.decode, before)
        decoded_after = call_component("decode", loaded.decode, before)
        if decoded_before != decoded_after:
            fail(
                f"after save/load, decode({_short(before)}) changed from {decoded_before!r} to {decoded_after!r}"
            )


def check_round_trip(subject: Subject, ex: Example) -> None:
    tok = _train(subject, ex)
    for text in _texts(ex):
        ids = _encode(tok, text)
        back = call_component(f"decode({ids})", tok.decode, ids)
        if back != text:
            first = next(
                (i for i, (a, b) in enumerate(zip(text, back)) if a != b), min(len(text), len(back))
            )
            fail(
                f"decode(encode(s)) != s for s = {text!r}: got {back!r} (first difference at character {first})"
            )


def _lossless_only(subject: Subject) -> str | None:
    if not subject.cls.lossless:
        return "the tokenizer does not promise a round trip (lossless = False)"
    return None


def _corpora(any_unicode: bool = False) -> Any:
    return lambda s: strategies.tokenizer_corpora(any_unicode_probe=any_unicode)


for _prop in (
    Property(
        "tokenizer.ids-in-range",
        "tokenizer",
        "every id encode returns, for seen and unseen characters, lies in range(vocab_size)",
        _corpora(),
        check_ids_in_range,
        cost=COST,
    ),
    Property(
        "tokenizer.vocab-size",
        "tokenizer",
        "training with vocab_size=V yields at most V entries",
        _corpora(),
        check_vocab_size,
        cost=COST,
    ),
    Property(
        "tokenizer.deterministic",
        "tokenizer",
        "encode and decode give the same result every time they are called",
        _corpora(),
        check_deterministic,
        cost=COST,
    ),
    Property(
        "tokenizer.reproducible-training",
        "tokenizer",
        "training twice on one corpus gives the same vocabulary and the same ids",
        _corpora(),
        check_reproducible,
        applies=_from_scratch_only,
        cost=COST,
    ),
    Property(
        "tokenizer.save-load",
        "tokenizer",
        "load(save(tok)) has the same vocabulary size, encodings and decodings",
        _corpora(),
        check_save_load,
        cost=COST,
    ),
    Property(
        "tokenizer.round-trip",
        "tokenizer",
        "decode(encode(s)) == s for any Unicode s, when the tokenizer promises it (lossless)",
        _corpora(any_unicode=True),
        check_round_trip,
        applies=_lossless_only,
        cost=COST,
    ),
):
    register_property(_prop)
