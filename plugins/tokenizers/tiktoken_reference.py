"""tiktoken as a second reference for byte-level BPE *encoding*: the same merges, OpenAI's engine.

Interview question: "How does tiktoken encode, and why is it fast?"

Short answer: tiktoken does not store merges, only `mergeable_ranks` (token bytes -> rank,
which is also the token id). In each pre-token it repeatedly merges the adjacent pair whose
concatenation has the lowest rank, in Rust, with a regex pre-tokenizer in front. For a
GPT-2-style BPE, where every merge creates the next id, "the pair learned first" and "the pair
whose result has the lowest id" are the same pair, so the rank table *is* the merge list.

So `bbpe`'s vocabulary becomes a `tiktoken.Encoding` without retraining: ranks = bbpe's ids
(the 256 bytes are ids 0-255, merges follow in the order learned; the special token is left
out, as tiktoken's special tokens are separate), `pat_str` = bbpe's own GPT-2 pre-tokenizer
pattern. Nothing is fetched: the `Encoding` is built from the ranks, never `get_encoding`.

Why it is not a registered component: tiktoken cannot train, so a `tiktoken-bbpe` component
would have to train with bbpe's own trainer, checking bbpe against itself. It is a second
reference for encoding inside the `tokenizer-encode` cell of any tokenizer that can export
its ranks (`mergeable_ranks()` and `pretokenize_pattern`), where ids are compared first and
only then times; `hf-bbpe` stays bbpe's registered reference.

What it concedes: a vocabulary where one token was made by two different merges (`a + bc`
and `ab + c`) has no tiktoken form (one rank per token): `mergeable_ranks()` raises then.
Lone surrogates are not compared: tiktoken replaces them with U+FFFD, bbpe keeps their bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tiktoken

__all__ = ["first_difference", "tiktoken_twin"]


def tiktoken_twin(tok: Any) -> tiktoken.Encoding | None:
    """A `tiktoken.Encoding` with `tok`'s ranks and pattern, or None if `tok` cannot export them.

    Raises `ValueError` (from `tok.mergeable_ranks()`) when the vocabulary has no rank form.
    """
    export = getattr(tok, "mergeable_ranks", None)
    pattern = getattr(tok, "pretokenize_pattern", None)
    if export is None or pattern is None:
        return None
    return tiktoken.Encoding(
        name=f"{tok.name}-tiktoken", pat_str=pattern, mergeable_ranks=export(), special_tokens={}
    )


def first_difference(tok: Any, encoding: tiktoken.Encoding, texts: Sequence[str]) -> str | None:
    """Where `tok.encode` and tiktoken's `encode_ordinary` first disagree on `texts`, or None."""
    for number, text in enumerate(texts):
        mine, theirs = tok.encode(text), encoding.encode_ordinary(text)
        if mine != theirs:
            at = next(
                (i for i, (m, t) in enumerate(zip(mine, theirs)) if m != t),
                min(len(mine), len(theirs)),
            )
            return (
                f"text {number}, token {at}: {tok.name} {mine[at : at + 3]} != "
                f"tiktoken {theirs[at : at + 3]} ({len(mine)} vs {len(theirs)} ids)"
            )
    return None
