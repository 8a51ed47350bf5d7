"""Text for the tokenizer benchmarks: a train part, a held-out part, and a mixed-script sample.

* Default: the English prose of Python's own help topics (`pydoc_data.topics`, shipped with
  every CPython, about 465 KB), cut into distinct paragraphs; every 10th one is held out.
* `--corpus FILE`: the user's UTF-8 text, cut the same way (by paragraphs, else by lines, else
  into 2,000-character chunks). The held-out part is never training text: a text of fewer than
  ten units holds out its last unit, a text of one unit its last tenth (cut at a space), and a
  text of one word holds out nothing (`heldout` is empty; the benchmarks that need it skip and
  the run warns, see `Corpus.warnings`).
* `data/mixed_script.txt`: Chinese, Japanese, emoji and code written for this project. Half of
  each section joins the default training text; the other half measures what a vocabulary
  learned mostly on English costs on other scripts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from suite.errors import ComponentInputError

__all__ = [
    "Corpus",
    "corpus_for",
    "default_corpus",
    "load_corpus",
    "mixed_script_sample",
    "read_text_file",
    "train_and_heldout",
]

HELDOUT_EVERY = 10  # every 10th unit (paragraph, line or chunk) is held out
SPECIAL_TOKENS_ALLOWANCE = 8  # [UNK], [PAD], <|endoftext|>…: room in the vocabulary bound
CHUNK_CHARS = 2_000  # unit size for a text with too few paragraphs and lines
MIXED_SCRIPT_PATH = Path(__file__).with_name("data") / "mixed_script.txt"


@dataclass(frozen=True)
class Corpus:
    """Training and held-out texts (each a tuple of documents)."""

    name: str
    train: tuple[str, ...]
    heldout: tuple[str, ...]

    @functools.cached_property
    def train_bytes(self) -> int:
        """UTF-8 size of the training part."""
        return sum(len(t.encode("utf-8")) for t in self.train)

    @functools.cached_property
    def max_vocab_size(self) -> int:
        """An upper bound of the vocabulary any subword tokenizer can learn from the train part.

        Every merge joins two pieces of one whitespace-separated word, so a word of n bytes
        gives at most n - 1 merges; on top of at most 256 byte tokens (or the distinct
        characters, if more), plus a few special tokens. Generous on purpose: a corpus under
        this bound cannot reach the vocabulary asked, whatever the tokenizer.
        """
        words = {word for text in self.train for word in text.split()}
        merges = sum(len(word.encode("utf-8")) - 1 for word in words)
        alphabet = len({char for text in self.train for char in text})
        return max(256, alphabet) + merges + SPECIAL_TOKENS_ALLOWANCE

    def warnings(self, *, vocab_size: int | None = None, train_kb: int | None = None) -> list[str]:
        """Why this corpus cannot give what the parameters ask, one line each (or none)."""
        found = []
        size = f"{self.train_bytes:,} bytes of training text"
        if train_kb and self.train_bytes < 0.9 * train_kb * 1000:
            found.append(
                f"corpus {self.name} has only {size}, less than train_kb={train_kb} asks for"
            )
        if vocab_size and self.max_vocab_size < vocab_size:
            found.append(
                f"corpus {self.name} is too small for vocab_size={vocab_size}: its {size} allow"
                f" at most about {self.max_vocab_size} tokens, so training stops short"
            )
        if not self.heldout:
            found.append(
                f"corpus {self.name} is too small to hold out text (one word): the cells that"
                " measure held-out text are skipped"
            )
        return found

    def sliced(self, train_kb: int | None) -> Corpus:
        """A corpus whose train part is about `train_kb` KB, taken evenly across the documents."""
        if not train_kb:
            return self
        stride = max(1, round(self.train_bytes / (train_kb * 1000)))
        if stride == 1:  # the whole train part: keep the name, it is not a slice
            return self
        return Corpus(f"{self.name}[{train_kb}kb]", self.train[::stride], self.heldout)


def _units(text: str) -> list[str]:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if len(paragraphs) >= 2 * HELDOUT_EVERY:
        return paragraphs
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) >= 2 * HELDOUT_EVERY:
        return lines
    return [
        text[i : i + CHUNK_CHARS]
        for i in range(0, len(text), CHUNK_CHARS)
        if text[i : i + CHUNK_CHARS].strip()
    ]


def _split(name: str, text: str) -> Corpus:
    # Repeated units are kept once: the help topics repeat whole paragraphs across topics, and
    # a held-out paragraph that also sits in the training part would not be held out.
    units = list(dict.fromkeys(_units(text)))
    if not units:
        raise ComponentInputError(f"corpus {name!r} is empty (no non-blank text)")
    if len(units) == 1:
        return Corpus(name, *_cut_one(units[0]))
    heldout = tuple(u for i, u in enumerate(units) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1)
    train = tuple(u for i, u in enumerate(units) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1)
    if not heldout:  # fewer than HELDOUT_EVERY units: hold out the last one
        return Corpus(name, tuple(units[:-1]), (units[-1],))
    return Corpus(name, train, heldout)


def _cut_one(unit: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(train, heldout)` of a one-unit text: its last tenth or so, cut at a space, is held out;
    a text without a space inside holds out nothing."""
    text = unit.strip()
    target = len(text) - max(1, len(text) // HELDOUT_EVERY)
    spaces = [match.start() for match in re.finditer(r"\s+", text)]
    if not spaces:
        return (text,), ()
    cut = max((p for p in spaces if p <= target), default=spaces[0])
    return (text[:cut],), (text[cut:].lstrip(),)


def read_text_file(path: str | Path) -> str:
    """The UTF-8 text of `path`; a one-line `ComponentInputError` when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ComponentInputError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ComponentInputError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=4)
def load_corpus(path: str | Path) -> Corpus:
    """The user's text file split into train and held-out parts."""
    return _split(Path(path).name, read_text_file(path))


@functools.lru_cache(maxsize=1)
def mixed_script_sample() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """`{script: (train paragraphs, held-out paragraphs)}` for zh, ja, emoji and code."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in read_text_file(MIXED_SCRIPT_PATH).split("\n"):
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    sample = {}
    for script, lines in sections.items():
        paragraphs = [p.strip("\n") for p in "\n".join(lines).split("\n\n") if p.strip()]
        sample[script] = (tuple(paragraphs[0::2]), tuple(paragraphs[1::2]))
    return sample


@functools.lru_cache(maxsize=1)
def default_corpus() -> Corpus:
    """Python's help topics (English prose and some code), plus half of the mixed-script sample."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key] for key in sorted(topics))
    english = _split("pydoc-topics", text)
    mixed_train = tuple(p for train, _ in mixed_script_sample().values() for p in train)
    return Corpus("pydoc-topics+mixed", english.train + mixed_train, english.heldout)


def corpus_for(path: str | Path | None = None) -> Corpus:
    """The user's corpus when `path` is given (`--corpus FILE`), else the default one."""
    return default_corpus() if path is None else load_corpus(str(path))


def train_and_heldout(path: str | Path | None = None) -> tuple[list[str], list[str]]:
    """`(train_texts, heldout_texts)` of the default corpus or of the user's file."""
    corpus = corpus_for(path)
    return list(corpus.train), list(corpus.heldout)
