"""Hypothesis strategies for the inputs of each kind, as small JSON-able examples.

Every strategy returns a dict of plain values: shapes, a `seed` from which the check draws its
tensors, masks as lists of booleans (True = real token), texts. Keeping tensors out of the
examples makes a shrunk falsifying example short enough to print and to replay from the shell.
Sizes stay small on purpose: the properties are about logic (masks, scales, routing), which
small shapes exercise as well as big ones, and the kit must run in seconds on a CPU.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = [
    "SCRIPTS",
    "attention_inputs",
    "classification_inputs",
    "contrastive_inputs",
    "decoding_inputs",
    "lm_head_inputs",
    "mask_rows",
    "moe_inputs",
    "norm_inputs",
    "peft_inputs",
    "position_inputs",
    "ranking_inputs",
    "seeds",
    "texts",
    "tokenizer_corpora",
]

seeds = st.integers(min_value=0, max_value=2**31 - 1)

#: Sample text of several scripts, so tokenizers meet more than ASCII: Latin with accents,
#: Cyrillic, Greek, Arabic (right to left), Devanagari (combining marks), CJK (no spaces), emoji
#: (astral plane, multi-codepoint sequences).
SCRIPTS: dict[str, str] = {
    "latin": "the quick brown fox jumps over the lazy dog; naïve café déjà vu",
    "cyrillic": "съешь же ещё этих мягких французских булок",
    "greek": "ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
    "arabic": "نص حكيم له سر قاطع وذو شأن عظيم",
    "devanagari": "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण",
    "cjk": "我能吞下玻璃而不伤身体。日本語の文章も少し",
    "emoji": "tokens 🙂🚀 and 👩‍💻 flags 🇫🇷 ok",
}


def _script_alphabet() -> str:
    return "".join(sorted(set("".join(SCRIPTS.values()))))


def texts(*, any_unicode: bool = False, max_size: int = 40) -> st.SearchStrategy[str]:
    """Texts built from the sample scripts' characters, or from any Unicode (no surrogates)."""
    if any_unicode:
        alphabet = st.characters(codec="utf-8", exclude_categories=["Cs"])
        return st.one_of(
            st.text(alphabet, max_size=max_size), st.sampled_from(list(SCRIPTS.values()))
        )
    pieces = st.text(st.sampled_from(_script_alphabet()), max_size=max_size)
    return st.one_of(pieces, st.sampled_from(list(SCRIPTS.values())))


@st.composite
def tokenizer_corpora(draw: Any, *, any_unicode_probe: bool = False) -> dict[str, Any]:
    """A training corpus (two or more sample scripts plus drawn texts), a vocabulary size, probes.

    Vocabulary sizes start at 300, above the 256 byte tokens of a byte-level tokenizer and the
    few hundred characters of the sample scripts, so that every correct tokenizer can honour it.
    """
    scripts = draw(
        st.lists(st.sampled_from(sorted(SCRIPTS)), min_size=2, max_size=len(SCRIPTS), unique=True)
    )
    extra = draw(st.lists(texts(max_size=30), max_size=4))
    corpus = [SCRIPTS[name] for name in scripts] + [text for text in extra if text]
    vocab_size = draw(st.integers(min_value=300, max_value=420))
    probes = draw(st.lists(texts(any_unicode=any_unicode_probe), min_size=1, max_size=3))
    return {"corpus": corpus, "vocab_size": vocab_size, "probes": probes}


def mask_rows(
    batch: int, length: int, *, min_real: int = 1, max_real: int | None = None
) -> st.SearchStrategy[list[list[bool]]]:
    """`batch` rows of `length` booleans (True = real) with between min_real and max_real True.

    Rows are drawn freely and then repaired (the last positions switched on or the first ones
    off) rather than filtered, so generation never rejects and shrinking stays cheap.
    """
    top = length if max_real is None else min(max_real, length)
    low = min(min_real, top)

    def repair(row: list[bool]) -> list[bool]:
        row = list(row)
        for j in reversed(range(length)):
            if sum(row) >= low:
                break
            row[j] = True
        for j in range(length):
            if sum(row) <= top:
                break
            row[j] = False
        return row

    row = st.lists(st.booleans(), min_size=length, max_size=length).map(repair)
    return st.lists(row, min_size=batch, max_size=batch)


@st.composite
def attention_inputs(
    draw: Any,
    *,
    causal: bool | None = None,
    padding: bool | None = None,
    min_group: int = 1,
    max_group: int = 4,
    dtypes: tuple[str, ...] = ("float32",),
    max_t: int = 16,
    long_t: int = 160,
    fully_padded_row: bool = False,
    same_length: bool = False,
    head_dims: tuple[int, ...] = (4, 8, 16, 32),
) -> dict[str, Any]:
    """Shapes of q (B, H, Tq, D) and k, v (B, Hkv, Tk, D), causal, a padding mask, a seed.

    `min_group` > 1 forces grouped-query attention (H = Hkv x group), `max_group` = 1 forbids it;
    `fully_padded_row` makes
    the last batch row padding only; `same_length` forces Tq = Tk (causal masks need it).
    `dtypes` are the torch dtype names q, k, v may take (float32 unless asked).
    Half the lengths are short (1..max_t), half long (long_t/2..long_t), so that sparse patterns
    with windows, strides or blocks of 64 become sparse rather than dense.
    """
    batch = draw(st.integers(1, 3))
    kv_heads = draw(st.sampled_from([1, 2]))
    group = draw(st.sampled_from([g for g in (1, 2, 4) if min_group <= g <= max_group]))
    is_causal = draw(st.booleans()) if causal is None else causal
    lengths = st.integers(1, max_t) | st.integers(long_t // 2, long_t)
    tq = draw(lengths)
    tk = tq if (same_length or is_causal) else draw(lengths)
    use_padding = draw(st.booleans()) if padding is None else padding
    mask = None
    if fully_padded_row:
        mask = draw(mask_rows(batch - 1, tk)) if batch > 1 else []
        mask.append([False] * tk)
    elif use_padding:
        mask = draw(mask_rows(batch, tk))
    return {
        "batch": batch,
        "heads": kv_heads * group,
        "kv_heads": kv_heads,
        "tq": tq,
        "tk": tk,
        "head_dim": draw(st.sampled_from(head_dims)),
        "causal": is_causal,
        "mask": mask,
        "magnitude": draw(st.sampled_from([0.5, 1.0, 2.0])),
        "dtype": draw(st.sampled_from(dtypes)),
        "seed": draw(seeds),
    }


@st.composite
def norm_inputs(
    draw: Any, *, padding: bool = False, min_batch: int = 1, train_steps: bool = False
) -> dict[str, Any]:
    """x (B, T, C) as `randn * scale + offset`, an optional mask with >= 2 real tokens, a seed."""
    batch = draw(st.integers(min_batch, 4))
    length = draw(st.integers(1 if batch > 1 else 2, 6))
    mask = None
    if padding:
        length = max(length, 3)
        mask = draw(mask_rows(batch, length, min_real=2 if batch == 1 else 1, max_real=length - 1))
    return {
        "batch": batch,
        "length": length,
        "features": draw(st.sampled_from([2, 3, 8, 16])),
        "scale": draw(st.sampled_from([0.1, 1.0, 10.0])),
        "offset": draw(st.sampled_from([0.0, 1.0, -5.0])),
        "mask": mask,
        "train_steps": draw(st.integers(1, 3)) if train_steps else 0,
        "seed": draw(seeds),
    }


@st.composite
def classification_inputs(draw: Any, *, max_scale: float = 10.0) -> dict[str, Any]:
    """logits (N, C) and class-imbalanced targets: one majority class takes share `majority`."""
    classes = draw(st.integers(2, 8))
    return {
        "n": draw(st.integers(1, 12)),
        "classes": classes,
        "majority": draw(st.sampled_from([1.0 / classes, 0.5, 0.9])),
        "scale": draw(st.sampled_from(sorted({0.1, 1.0, 5.0, max_scale}))),
        "seed": draw(seeds),
    }


@st.composite
def contrastive_inputs(draw: Any, *, max_scale: float = 10.0) -> dict[str, Any]:
    """anchors and positives (N, D): positives are noisy copies of the anchors."""
    return {
        "n": draw(st.integers(1, 10)),
        "dim": draw(st.sampled_from([2, 4, 16])),
        "noise": draw(st.sampled_from([0.1, 1.0])),
        "scale": draw(st.sampled_from(sorted({0.01, 1.0, max_scale}))),
        "seed": draw(seeds),
    }


@st.composite
def ranking_inputs(draw: Any, *, max_scale: float = 10.0) -> dict[str, Any]:
    """chosen and rejected rewards (N,)."""
    return {
        "n": draw(st.integers(1, 12)),
        "scale": draw(st.sampled_from(sorted({0.1, 1.0, 5.0, max_scale}))),
        "seed": draw(seeds),
    }


@st.composite
def lm_head_inputs(draw: Any, *, max_scale: float = 10.0) -> dict[str, Any]:
    """hidden (N, D), weight (V, D) and targets (N,): a language model's head on a few tokens.
    The hidden states carry the scale; the weight is N(0, 1/D), so logits are about `scale`."""
    return {
        "n": draw(st.integers(1, 16)),
        "dim": draw(st.sampled_from([1, 2, 4, 8])),
        "vocab": draw(st.integers(2, 12)),
        "scale": draw(st.sampled_from(sorted({0.1, 1.0, 5.0, max_scale}))),
        "seed": draw(seeds),
    }


@st.composite
def moe_inputs(draw: Any, *, capacity: bool | None = None) -> dict[str, Any]:
    """x (B, T, C), the layer's sizes (experts, top-k, capacity factor) and a seed."""
    experts = draw(st.integers(1, 6))
    use_capacity = draw(st.booleans()) if capacity is None else capacity
    return {
        "batch": draw(st.integers(1, 3)),
        "length": draw(st.integers(1, 6)),
        "d_model": draw(st.sampled_from([4, 8])),
        "d_hidden": draw(st.sampled_from([8, 16])),
        "n_experts": experts,
        "top_k": draw(st.integers(1, min(2, experts))),
        "capacity_factor": draw(st.sampled_from([0.5, 1.0, 1.25, 2.0])) if use_capacity else None,
        "seed": draw(seeds),
    }


@st.composite
def position_inputs(draw: Any, *, min_len: int = 1) -> dict[str, Any]:
    """Sizes of a positional encoding (heads, an even head size, key/value heads), query and key
    lengths (Tq <= Tk: queries are the last Tq keys), a start position per batch row (left
    padding, a KV cache), a shift for the offset properties, and a seed."""
    batch = draw(st.integers(1, 3))
    heads = draw(st.sampled_from([1, 2, 3, 4, 6, 8]))
    kv_heads = draw(st.sampled_from([d for d in (1, 2, 3, 4, 6, 8) if heads % d == 0]))
    tk = draw(st.integers(min_len, 24))
    return {
        "batch": batch,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": draw(st.sampled_from([2, 4, 6, 8, 16])),
        "tq": draw(st.integers(1, tk)),
        "tk": tk,
        "starts": draw(st.lists(st.integers(0, 40), min_size=batch, max_size=batch)),
        "shift": draw(st.integers(1, 50)),
        "seed": draw(seeds),
    }


@st.composite
def decoding_inputs(
    draw: Any,
    *,
    options: dict[str, list[Any]] | None = None,
    models: tuple[str, ...] = ("gpt2", "suite"),
    max_new: int = 8,
) -> dict[str, Any]:
    """A tiny random causal LM (`gpt2`: HuggingFace GPT-2, `suite`: `suite.lm.TinyCausalLM`),
    prompts (B, T), a token budget, an EOS id or none, one value per option, a seed."""
    vocab = draw(st.integers(6, 40))
    return {
        "model": draw(st.sampled_from(list(models))),
        "vocab": vocab,
        "layers": draw(st.integers(1, 2)),
        "heads": draw(st.sampled_from([1, 2])),
        "width": draw(st.sampled_from([8, 16])),
        "batch": draw(st.integers(1, 3)),
        "prompt": draw(st.integers(1, 5)),
        "new_tokens": draw(st.integers(1, max_new)),
        "eos": draw(st.none() | st.integers(0, vocab - 1)),
        "options": {key: draw(st.sampled_from(values)) for key, values in (options or {}).items()},
        "seed": draw(seeds),
    }


@st.composite
def peft_inputs(draw: Any) -> dict[str, Any]:
    """A small `suite.nn` encoder (width, heads, key/value heads, layers, causal or not), token
    ids `(B, T)` from a seed, an optional padding mask, and whether to target every other
    candidate submodule instead of all of them."""
    heads = draw(st.sampled_from([1, 2, 4]))
    batch, length = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    return {
        "d_model": draw(st.sampled_from([8, 16])),
        "heads": heads,
        "kv_heads": draw(st.sampled_from([d for d in (1, 2, 4) if heads % d == 0])),
        "layers": draw(st.integers(1, 2)),
        "causal": draw(st.booleans()),
        "batch": batch,
        "length": length,
        "mask": draw(st.none() | mask_rows(batch, length)),
        "every_other": draw(st.booleans()),
        "seed": draw(seeds),
    }
