"""Registration through the hooks, the benchmarks on a user corpus, the quiet progress bar."""

from __future__ import annotations

import math

import pytest

from plugins.tokenizers import BPE, HFBPE, ByteLevelBPE
from plugins.tokenizers.benchmarks import (
    CompressionBenchmark,
    EncodeBenchmark,
    MixedScriptBenchmark,
    TrainBenchmark,
)
from plugins.tokenizers.data import default_corpus, mixed_script_sample, train_and_heldout
from plugins.tokenizers.progress import TrainingProgress, quiet_training
from suite import RunContext
from suite.plugins import PluginHost


def test_plugin_registers_every_tokenizer_and_benchmark():
    host = PluginHost(["plugins.tokenizers"], entry_points=False).load()
    assert [r.status for r in host.records] == ["ok"]
    names = {cls.name: cls for cls in host.registry.components("tokenizer")}
    assert set(names) == {"bpe", "wordpiece", "bbpe", "hf-bpe", "hf-wordpiece", "hf-bbpe"}
    for name in ("bpe", "wordpiece", "bbpe"):
        assert names[name].reference == "hf-" + name
        assert "Interview question" in names[name].concept_card()
    assert names["bbpe"].lossless and names["hf-bbpe"].lossless and not names["bpe"].lossless
    benchmarks = {cls.name for cls in host.registry.benchmarks("tokenizer")}
    assert benchmarks == {
        "tokenizer-train",
        "tokenizer-encode",
        "tokenizer-compression",
        "tokenizer-mixed-script",
    }


def test_default_corpus_split():
    corpus = default_corpus()
    train_kb = sum(len(t.encode()) for t in corpus.train) / 1e3
    heldout_kb = sum(len(t.encode()) for t in corpus.heldout) / 1e3
    assert 300 < train_kb < 460 and 25 < heldout_kb < 70
    assert not set(corpus.heldout) & set(corpus.train)
    assert set(mixed_script_sample()) == {"zh", "ja", "emoji", "code"}


@pytest.fixture
def user_corpus(tmp_path):
    path = tmp_path / "mine.txt"
    lines = [
        f"Line {i}: the tokenizer reads my own text, café and 東京 included." for i in range(60)
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_user_corpus_split(user_corpus):
    train, heldout = train_and_heldout(user_corpus)
    assert len(train) == 54 and len(heldout) == 6


@pytest.mark.parametrize("cls", [BPE, HFBPE, ByteLevelBPE], ids=["bpe", "hf-bpe", "bbpe"])
def test_benchmarks_on_a_user_corpus(cls, user_corpus):
    ctx = RunContext(quick=True, corpus_path=user_corpus, repeats=3, warmup=0)
    params = {"vocab_size": 300}
    train = TrainBenchmark().run(cls, params, ctx)
    assert train.metrics["vocab_size"] <= 300 and train.timing is not None
    encode = EncodeBenchmark().run(cls, params, ctx)
    assert encode.metrics["encode_mb_per_s"] > 0
    compression = CompressionBenchmark().run(cls, params, ctx)
    assert compression["roundtrip_exact"] == (1.0 if cls.lossless else 0.0)
    assert compression["unk_rate"] == 0.0 if cls.lossless else compression["unk_rate"] >= 0.0
    mixed = MixedScriptBenchmark().run(cls, params, ctx)
    if cls.lossless:  # byte-level: never unknown, Chinese costs up to its 3 bytes per character
        assert mixed["zh_unk_rate"] == 0.0 and mixed["roundtrip_exact"] == 1.0
        assert 1.0 <= mixed["zh_tokens_per_char"] <= 3.0
    else:
        assert mixed["zh_unk_rate"] > 0.5  # this corpus saw only two Chinese characters
    for metrics in (train.metrics, encode.metrics, compression, mixed):
        assert all(math.isfinite(v) for v in metrics.values())


def test_grids_name_vocab_size():
    for bench in (TrainBenchmark, EncodeBenchmark, CompressionBenchmark, MixedScriptBenchmark):
        assert all(
            "vocab_size" in p for p in bench().params(quick=True) + bench().params(quick=False)
        )
        assert {"vocab_size": 4000} in bench().params(quick=False)


def test_progress_bar_stays_silent_off_a_terminal(capfd):
    with TrainingProgress(1000, "merges", delay_s=0.0) as bar:
        for _ in range(1000):
            bar.advance()
    assert capfd.readouterr().err == ""


def test_progress_bar_is_quiet_inside_quiet_training(capfd):
    with quiet_training(), TrainingProgress(200, "merges", enabled=True, delay_s=0.0) as bar:
        for _ in range(200):
            bar.advance()
    assert capfd.readouterr().err == ""


def test_progress_bar_can_be_forced(capfd):
    with TrainingProgress(200, "merges", enabled=True, delay_s=0.0) as bar:
        for _ in range(200):
            bar.advance()
    assert bar.done == 200
    assert "merges" in capfd.readouterr().err


@pytest.mark.parametrize(
    "text",
    ["hello world, this is a single line\n", "one\n\ntwo\n\nthree four\n", "a b\n" * 12],
    ids=["one-line", "three-paragraphs", "twelve-lines"],
)
def test_heldout_text_is_never_training_text(tmp_path, text):
    from plugins.tokenizers.data import load_corpus

    path = tmp_path / "small.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.heldout and corpus.train
    assert not set(corpus.heldout) & set(corpus.train)
    assert all(h not in t for h in corpus.heldout for t in corpus.train if len(h) > 3)


def test_a_tiny_corpus_is_warned_about_and_skips_heldout_cells(tmp_path):
    from suite.errors import SkipCell

    path = tmp_path / "tiny.txt"
    path.write_bytes(b"hello\n")
    ctx = RunContext(quick=True, corpus_path=path, repeats=3, warmup=0)
    params = {"vocab_size": 1000, "train_kb": 100}
    warnings = TrainBenchmark().input_warnings(params, ctx)
    assert any("less than train_kb=100" in w for w in warnings)
    assert any("too small for vocab_size=1000" in w for w in warnings)
    assert any("too small to hold out text" in w for w in warnings)
    assert all("tiny.txt" in w for w in warnings)
    with pytest.raises(SkipCell, match="too small to hold out text"):
        CompressionBenchmark().run(BPE, params, ctx)


def test_the_default_corpus_has_no_warning():
    ctx = RunContext(quick=True)
    for params in TrainBenchmark().params(True) + TrainBenchmark().params(False):
        assert TrainBenchmark().input_warnings(params, ctx) == []
