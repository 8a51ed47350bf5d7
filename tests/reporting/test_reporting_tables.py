"""The shared table model: grouping beside the reference, ratios, tolerance of old files, formats."""

from __future__ import annotations

import math

import pytest
from reporting_samples import HOSTILE, cell, make_run

from suite.reporting.formatting import format_bytes, format_number, format_param, one_line
from suite.reporting.tables import build_tables, cell_value, status_counts


def _table(document, benchmark):
    return next(t for t in build_tables(document) if t.benchmark == benchmark)


def test_one_table_per_kind_and_benchmark(document):
    assert [(t.kind, t.benchmark) for t in build_tables(document)] == [
        ("attention", "attention-latency"),
        ("tokenizer", "tokenizer-throughput"),
    ]


def test_reference_first_then_its_candidates_per_params_point(document):
    table = _table(document, "attention-latency")
    first = table.groups[0]
    assert [row.component for row in first] == ["sdpa", "naive", "linear", HOSTILE]
    assert [row.role for row in first] == ["reference", "candidate", "candidate", "candidate"]
    assert [group[0].params["seq_len"] for group in table.groups] == [128, 256, 512, 1024]


def test_time_ratio_is_component_over_reference_at_same_params(document):
    table = _table(document, "attention-latency")
    ratios = {(row.component, row.params["seq_len"]): row.ratio for row in table.rows}
    assert ratios[("naive", 256)] == pytest.approx(6.0 / 3.0)
    assert ratios[("linear", 512)] == pytest.approx(5.0 / 10.0)
    assert ratios[(HOSTILE, 128)] == pytest.approx(1.5)
    assert ratios[("sdpa", 128)] is None  # the reference itself: shown as "ref"
    assert ratios[("naive", 1024)] is None  # an error row has no ratio
    assert table.ratio_header == "time ÷ sdpa"


def test_metric_ratio_uses_the_benchmark_ratio_metric(document):
    table = _table(document, "tokenizer-throughput")
    bpe = next(row for row in table.rows if row.component == "bpe")
    assert bpe.ratio == pytest.approx(2.0 / 8.0)  # encode_mb_per_s, not the time (5.0)
    assert table.ratio_header == "encode_mb_per_s ÷ hf-bpe"
    assert table.verdict(bpe) == "worse"  # higher is better, and 0.25 < 1
    assert "above 1 is better" in table.ratio_hint
    assert "own cell" not in table.ratio_hint


def test_time_ratio_says_it_divides_the_medians_of_separate_cells(document):
    # a benchmark may also report a paired ratio (moe-throughput's paired_time_vs_dense):
    # the caption must say which one the ratio column is
    hint = _table(document, "attention-latency").ratio_hint
    assert "median time" in hint and "each timed in its own cell" in hint
    assert "below 1 is better" in hint


def test_error_and_skipped_rows_keep_their_own_row_with_one_line_note(document):
    table = _table(document, "attention-latency")
    error = next(row for row in table.rows if row.status == "error")
    assert error.note == "RuntimeError: <b>& broke"
    header, cells = table.header(), table.cells(error)
    assert cells[header.index("error")] == "RuntimeError: <b>& broke"
    assert cells[header.index("median ms ± IQR")] == "—"
    skipped = next(
        row for row in _table(document, "tokenizer-throughput").rows if row.status == "skipped"
    )
    assert skipped.note == "needs a corpus"


def test_metric_columns_are_the_union_and_bytes_are_human_readable(document):
    table = _table(document, "tokenizer-throughput")
    assert table.metric_names == ["encode_mb_per_s", "model_bytes"]
    hf = next(row for row in table.rows if row.component == "hf-bpe")
    assert table.cells(hf)[table.header().index("model_bytes")] == "97.7 KiB"


def test_old_files_without_reference_or_benchmarks_show_no_ratio():
    rows = [cell("sdpa", 1.0), cell("naive", 2.0)]
    for row in rows:
        del row["reference"]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert [row.role for row in table.rows] == ["standalone", "standalone"]
    assert not table.has_ratio
    assert "time ÷" not in " ".join(table.header())


def test_missing_benchmark_info_defaults_to_time_ratio_and_null_metric_disables_it():
    rows = [cell("naive", 3.0, reference="sdpa"), cell("sdpa", 1.5)]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert [row.component for row in table.rows] == ["sdpa", "naive"]
    assert table.rows[1].ratio == pytest.approx(2.0)
    info = {"attention-latency": {"ratio_metric": None, "higher_is_better": False}}
    table = build_tables({"run": make_run(benchmarks=info), "results": rows})[0]
    assert table.rows[1].ratio is None and not table.has_ratio


def test_candidate_whose_reference_is_missing_stands_alone_and_zero_reference_gives_no_ratio():
    table = build_tables({"run": make_run(), "results": [cell("naive", 2.0, reference="sdpa")]})[0]
    assert table.rows[0].role == "standalone" and table.rows[0].ratio is None
    table = build_tables(
        {"run": make_run(), "results": [cell("sdpa", 0.0), cell("naive", 2.0, reference="sdpa")]}
    )[0]
    assert table.rows[1].ratio is None


def test_missing_timing_gives_no_value():
    row = cell("sdpa", None)
    assert cell_value(row, "median_ms") is None
    assert cell_value(cell("x", 1.0, metrics={"roc_auc": 0.9}), "roc_auc") == 0.9


def test_status_counts(document):
    assert status_counts(document) == {"ok": 13, "error": 1, "skipped": 1}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.0, "0"),
        (0.012345, "0.0123"),
        (12.345, "12.3"),
        (1234.5, "1,234"),
        (1e300, "1e+300"),
        (-2.5e-7, "-2.5e-07"),
        (10**40, "1e+40"),
        (1024, "1,024"),
        (8192.0, "8,192"),  # a whole float reads as the integer it is, never 8.19e+03
        (1048576.0, "1,048,576"),
        (True, "true"),
        (math.inf, "inf"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8192, "8192"),
        (8192.0, "8192"),
        (1048576.0, "1048576"),
        (1e20, "1e+20"),
        (1.0, "1"),
        (1.25, "1.25"),
        (0.123456, "0.123"),
        (1234.56, "1235"),
        (3e-4, "0.0003"),
        ("bfloat16", "bfloat16"),
        (None, "null"),
        (True, "true"),
    ],
)
def test_format_param_prints_whole_numbers_as_integers(value, text):
    assert format_param(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (512, "512 B"),
        (1536, "1.5 KiB"),
        (1000 * 1024, "0.977 MiB"),
        (3 * 1024**3, "3 GiB"),
        (10**30, "8.67e+11 EiB"),
    ],
)
def test_format_bytes(value, text):
    assert format_bytes(value) == text


def test_one_line_keeps_the_first_line_and_cuts():
    assert one_line("\n  first \nsecond") == "first"
    assert one_line("x" * 50, 10) == "x" * 9 + "…"


def test_parameters_constant_over_the_table_are_said_once(document):
    table = _table(document, "attention-latency")
    assert table.param_names == ["seq_len"]
    assert table.fixed_params == {"heads": 4}
    assert "at heads=4" in table.notes


def test_whole_float_params_read_as_integers_in_captions_and_cells():
    rows = [
        cell("sdpa", 1.0, params={"seq_len": float(n), "max_seq_len": 8192.0}) for n in (512, 4096)
    ]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert "at max_seq_len=8192" in table.notes
    assert [table.cells(row)[1] for row in table.rows] == ["512", "4096"]
