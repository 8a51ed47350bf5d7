"""Tokenizer benchmarks: training time, encoding speed, compression, and the cost of other scripts.

Every cell trains on the same text (the default corpus or `--corpus FILE`) with the same
`vocab_size`, so each from-scratch tokenizer is compared with its HuggingFace reference on
equal terms. A trained tokenizer is cached per (class, corpus, vocab size) and reused by the
later benchmarks of the same run; `tokenizer-train` times fresh trainings.

Metrics (per cell):
* `tokenizer-train`: `train_s` (median seconds per training), `train_kb`, `vocab_size`, and
  for a tokenizer with a reference `paired_ratio` (its training time ÷ the reference's, in
  alternating rounds of the cell).
* `tokenizer-encode`: `encode_mb_per_s` on the held-out documents, one `encode` call each
  (HuggingFace's single-text `encode`, no batching); `tokens_per_s`. The ratio to the
  registered reference (`hf-bbpe` for `bbpe`) is the table's. A tokenizer that exports
  tiktoken ranks (`bbpe`, see `tiktoken_reference`) is also compared with tiktoken built from
  its own merges, in the same cell: ids identical on every held-out document (else an error
  row), then both timed in alternating rounds: `tiktoken_encode_ratio` (median per-round
  time ratio, tokenizer ÷ tiktoken, with `_ci_low`/`_ci_high`) and `tiktoken_encode_mb_per_s`.
* `tokenizer-compression`: on held-out text, `bytes_per_token` (higher is better compression),
  `tokens_per_word` (fertility: tokens per whitespace-separated word), `unk_rate` (share of
  unknown tokens), `roundtrip_exact` (1.0 when `decode(encode(d)) == d` for every document).
* `tokenizer-mixed-script`: per script (zh, ja, emoji, code) of the held-out mixed sample,
  `<script>_tokens_per_char` and `<script>_unk_rate` (not for code), `zh_utf8_bytes_per_char`
  (3: what byte-level BPE starts from) and `roundtrip_exact` over the whole sample.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from plugins.tokenizers.data import Corpus, corpus_for, mixed_script_sample
from plugins.tokenizers.progress import quiet_training
from plugins.tokenizers.tiktoken_reference import first_difference, tiktoken_twin
from suite import Benchmark, Measurement, RunContext, Tokenizer
from suite.errors import CellError, SkipCell

__all__ = [
    "CompressionBenchmark",
    "EncodeBenchmark",
    "MixedScriptBenchmark",
    "TrainBenchmark",
    "trained_tokenizer",
]

_QUICK_GRID = {"vocab_size": [1000], "train_kb": [100]}  # a 100 KB slice: seconds on a CPU
_FULL_GRID = {"vocab_size": [1000, 4000]}  # the whole corpus; the targets are judged at 4000
_CACHE: OrderedDict[tuple[Any, ...], Tokenizer] = OrderedDict()
_CACHE_SIZE = 12


def _corpus(params: dict[str, Any], ctx: RunContext) -> Corpus:
    return corpus_for(ctx.corpus_path).sliced(params.get("train_kb"))


def _key(cls: type, corpus: Corpus, params: dict[str, Any]) -> tuple[Any, ...]:
    return (cls, corpus.name, params["vocab_size"])


def _remember(key: tuple[Any, ...], tok: Tokenizer) -> None:
    _CACHE[key] = tok
    _CACHE.move_to_end(key)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def trained_tokenizer(cls: type[Tokenizer], params: dict[str, Any], ctx: RunContext) -> Tokenizer:
    """A `cls` trained on the cell's corpus at `params["vocab_size"]` (cached for the run)."""
    corpus = _corpus(params, ctx)
    key = _key(cls, corpus, params)
    if key not in _CACHE:
        tok = cls()
        with quiet_training():
            tok.train(corpus.train, params["vocab_size"])
        _remember(key, tok)
    return _CACHE[key]


def _utf8_size(texts: Iterable[str]) -> int:
    """Total UTF-8 bytes of `texts`."""
    return sum(len(text.encode("utf-8")) for text in texts)


def _token_count(encoded: Iterable[list[int]]) -> int:
    """Total ids over the encoded texts."""
    return sum(len(ids) for ids in encoded)


def unk_id(tok: Tokenizer) -> int | None:
    """The id of the unknown token, when the tokenizer has one and says so (`unk_id`)."""
    value = getattr(tok, "unk_id", None)
    return value if isinstance(value, int) else None


def _heldout(params: dict[str, Any], ctx: RunContext) -> list[str]:
    """The held-out documents; a skipped cell when the corpus is too small to hold any out."""
    corpus = _corpus(params, ctx)
    if not corpus.heldout:
        raise SkipCell(f"corpus {corpus.name} is too small to hold out text")
    return list(corpus.heldout)


class _TokenizerBenchmark(Benchmark):
    kind: ClassVar[str] = "tokenizer"
    quick_grid: ClassVar[dict[str, list[Any]]] = _QUICK_GRID
    full_grid: ClassVar[dict[str, list[Any]]] = _FULL_GRID

    def input_warnings(self, params: dict[str, Any], ctx: RunContext) -> list[str]:
        """A corpus smaller than the slice asked, too small for the vocabulary or to hold out."""
        return _corpus(params, ctx).warnings(
            vocab_size=params.get("vocab_size"), train_kb=params.get("train_kb")
        )


class TrainBenchmark(_TokenizerBenchmark):
    """Wall-clock time of `train` on the corpus (median of a few fresh trainings).

    A tokenizer with a reference is trained in alternating rounds with it (`paired_ratio`,
    the median per-round time ratio, and its bootstrap interval), so the ratio holds up on a
    busy machine.
    """

    name: ClassVar[str] = "tokenizer-train"
    summary: ClassVar[str] = "training time on the corpus at a given vocabulary size"

    def run(
        self, component_cls: type[Tokenizer], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        corpus = _corpus(params, ctx)
        texts = list(corpus.train)
        last: list[Tokenizer] = []

        def train() -> None:
            tok = component_cls()
            tok.train(texts, params["vocab_size"])
            last[:] = [tok]

        warmup, repeats = (0, 3) if ctx.quick else (1, 5)
        paired_metrics: dict[str, float] = {}
        with quiet_training():
            if ctx.reference is None:
                timing = ctx.time(train, warmup=warmup, repeats=repeats)
            else:  # its reference trains in alternating rounds of this cell: a ratio under load
                reference_cls = ctx.reference

                def train_reference() -> None:
                    reference_cls().train(texts, params["vocab_size"])

                paired = ctx.time_paired(train, train_reference, rounds=repeats, warmup=warmup)
                timing, paired_metrics = paired.timing, paired.metrics()
        _remember(_key(component_cls, corpus, params), last[0])
        train_bytes = _utf8_size(texts)
        return Measurement(
            metrics={
                "train_s": timing.median_ms / 1e3,
                "train_kb": train_bytes / 1e3,
                "vocab_size": last[0].vocab_size,
                **paired_metrics,
            },
            timing=timing,
        )


class EncodeBenchmark(_TokenizerBenchmark):
    """Encoding throughput over the held-out documents, one `encode(text)` call per document."""

    name: ClassVar[str] = "tokenizer-encode"
    summary: ClassVar[str] = "encoding throughput (MB/s) on held-out text"
    ratio_metric: ClassVar[str | None] = "encode_mb_per_s"
    higher_is_better: ClassVar[bool] = True

    def run(
        self, component_cls: type[Tokenizer], params: dict[str, Any], ctx: RunContext
    ) -> Measurement:
        documents = _heldout(params, ctx)
        tok = trained_tokenizer(component_cls, params, ctx)
        n_bytes = _utf8_size(documents)
        n_tokens = sum(len(tok.encode(d)) for d in documents)
        encode = tok.encode

        def encode_all() -> None:
            for document in documents:
                encode(document)

        twin = _tiktoken_twin(tok)
        second: dict[str, float] = {}
        if twin is None:
            timing = ctx.time(encode_all)
        else:  # same ids first, then bbpe and tiktoken in alternating rounds
            different = first_difference(tok, twin, documents)
            if different is not None:
                raise CellError(f"tiktoken with {tok.name}'s ranks disagrees: {different}")
            twin_encode = twin.encode_ordinary

            def twin_encode_all() -> None:
                for document in documents:
                    twin_encode(document)

            paired = ctx.time_paired(encode_all, twin_encode_all)
            timing = paired.timing
            second = {
                "tiktoken_encode_ratio": paired.ratio,
                "tiktoken_encode_ratio_ci_low": paired.ci_low,
                "tiktoken_encode_ratio_ci_high": paired.ci_high,
                "tiktoken_encode_mb_per_s": n_bytes / 1e6 / (paired.b.median_ms / 1e3),
            }
        seconds = timing.median_ms / 1e3
        return Measurement(
            metrics={
                "encode_mb_per_s": n_bytes / 1e6 / seconds,
                "tokens_per_s": n_tokens / seconds,
                **second,
            },
            timing=timing,
        )


def _tiktoken_twin(tok: Tokenizer) -> Any:
    """tiktoken with `tok`'s ranks (None when `tok` exports none); a vocabulary without a rank
    form is an error row, not a silently missing comparison."""
    try:
        return tiktoken_twin(tok)
    except ValueError as exc:
        raise CellError(f"{tok.name} has no tiktoken form: {exc}") from None


def _unk_rate(tok: Tokenizer, encoded: Sequence[list[int]]) -> float | None:
    """Share of unknown tokens: 0 for a lossless tokenizer, `None` when it cannot be told."""
    unk = unk_id(tok)
    if unk is None:
        return 0.0 if tok.lossless else None
    return sum(ids.count(unk) for ids in encoded) / max(1, _token_count(encoded))


class CompressionBenchmark(_TokenizerBenchmark):
    """How many tokens held-out text takes, how many are unknown, and whether decode restores it."""

    name: ClassVar[str] = "tokenizer-compression"
    summary: ClassVar[str] = "bytes per token, tokens per word, unknown rate, exact round trip"
    ratio_metric: ClassVar[str | None] = "tokens_per_word"
    higher_is_better: ClassVar[bool] = False
    plots: ClassVar[tuple[str, ...]] = ("ratio", "metric:bytes_per_token")

    def run(
        self, component_cls: type[Tokenizer], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        documents = _heldout(params, ctx)
        tok = trained_tokenizer(component_cls, params, ctx)
        encoded = [tok.encode(d) for d in documents]
        n_tokens = max(1, _token_count(encoded))
        exact = sum(tok.decode(ids) == d for ids, d in zip(encoded, documents))
        metrics = {
            "bytes_per_token": _utf8_size(documents) / n_tokens,
            "tokens_per_word": n_tokens / max(1, sum(len(d.split()) for d in documents)),
            "roundtrip_exact": 1.0 if exact == len(documents) else 0.0,
        }
        unk = _unk_rate(tok, encoded)
        if unk is not None:
            metrics["unk_rate"] = unk
        return metrics


class MixedScriptBenchmark(_TokenizerBenchmark):
    """What a vocabulary learned on (mostly) English costs on Chinese, Japanese, emoji and code."""

    name: ClassVar[str] = "tokenizer-mixed-script"
    summary: ClassVar[str] = "tokens per character and unknown rate on zh, ja, emoji and code"
    ratio_metric: ClassVar[str | None] = "zh_tokens_per_char"
    higher_is_better: ClassVar[bool] = False
    plots: ClassVar[tuple[str, ...]] = ("metrics:_tokens_per_char",)  # one bar group per script

    def run(
        self, component_cls: type[Tokenizer], params: dict[str, Any], ctx: RunContext
    ) -> dict[str, float]:
        tok = trained_tokenizer(component_cls, params, ctx)
        metrics: dict[str, float] = {}
        exact = True
        for script, (_, heldout) in mixed_script_sample().items():
            encoded = [tok.encode(p) for p in heldout]
            chars = sum(len(p) for p in heldout)
            metrics[f"{script}_tokens_per_char"] = _token_count(encoded) / chars
            if script == "zh":  # what byte-level BPE starts from: 3 bytes per Chinese character
                metrics["zh_utf8_bytes_per_char"] = _utf8_size(heldout) / chars
            unk = _unk_rate(tok, encoded)
            if unk is not None and script != "code":
                metrics[f"{script}_unk_rate"] = unk
            exact = exact and all(tok.decode(ids) == p for ids, p in zip(encoded, heldout))
        metrics["roundtrip_exact"] = float(exact)
        return metrics
