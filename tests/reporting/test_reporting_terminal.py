"""print_tables: what the terminal shows after a run."""

from __future__ import annotations

import io
import itertools
import re

import pytest
from reporting_samples import HOSTILE, cell, make_run, sample_document, wide_document
from rich.console import Console

from suite.reporting import build_tables, print_tables
from suite.reporting.terminal import wrap_header


def _render(document, width=220):
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_tables(document, console)
    return console.file.getvalue()


def test_header_tables_ratio_and_summary(document):
    text = _render(document)
    assert (
        "run 20250101-000000" in text
        and "device cpu (test cpu)" in text
        and "torch 2.4.0" in text
        and "seed 0" in text
    )
    assert "attention · attention-latency" in text and "tokenizer · tokenizer-throughput" in text
    assert "time ÷ sdpa" in text and "encode_mb_per_s ÷ hf-bpe" in text
    assert "0.25×" in text and "ref" in text
    assert "RuntimeError: <b>& broke" in text and "Traceback line two" not in text
    assert HOSTILE in text
    assert "15 cells: 13 ok, 1 error, 1 skipped" in text


def test_candidate_rows_follow_their_reference(document):
    lines = [line for line in _render(document).splitlines() if "│ 256" in line or " 256 " in line]
    names = [line.split("│")[1].strip() for line in lines]
    assert names == ["sdpa", "naive", "linear"]


def test_markup_in_plugin_strings_is_printed_literally():
    document = {
        "run": make_run(),
        "results": [cell("[red]x[/red]", 1.0, status="error", error="[bold]boom")],
    }
    text = _render(document)
    assert "[red]x[/red]" in text and "[bold]boom" in text


def test_error_rows_are_red():
    document = {
        "run": make_run(),
        "results": [
            cell("sdpa", 1.0),
            cell("naive", None, reference="sdpa", status="error", error="boom"),
        ],
    }
    console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system="standard")
    print_tables(document, console)
    red_line = next(line for line in console.file.getvalue().splitlines() if "boom" in line)
    assert "\x1b[31m" in red_line


def test_empty_run_says_so():
    assert "no results in this run" in _render({"run": make_run(), "results": []})


def _shown_tables(document, width):
    """Per table title: its header fragments per column (top to bottom), its lines (border to
    border), and the columns its caption says were left out."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_tables(document, console)
    lines = console.export_text().splitlines()
    shown = {}
    for top, line in enumerate(lines):
        if not line.startswith("┏"):
            continue
        header_end = next(i for i in range(top, len(lines)) if lines[i].startswith("┡"))
        bottom = next(i for i in range(top, len(lines)) if lines[i].startswith("└"))
        edges = [i for i, char in enumerate(line) if char in "┏┳┓"]
        fragments = [[] for _ in edges[1:]]
        for header_line in lines[top + 1 : header_end]:
            for column, (left, right) in enumerate(itertools.pairwise(edges)):
                if piece := header_line[left + 1 : right].strip():
                    fragments[column].append(piece)
        caption = []
        for after in lines[bottom + 1 :]:
            if " · " in after or re.match(r"\d+ cells: ", after):  # next title, or the summary
                break
            caption.append(after.strip())
        note = " ".join(caption)
        left_out = []
        if "left out for width: " in note:
            named = note.split("left out for width: ")[1].split("; all are in results.csv")[0]
            left_out = named.split(", ")
        shown[lines[top - 1].strip()] = (fragments, lines[top : bottom + 1], left_out)
    return shown


def _rejoined(fragments):
    """The header text with each line break undone: a space between words, none after `_`/`-`."""
    text = fragments[0]
    for fragment in fragments[1:]:
        text += fragment if text.endswith(("_", "-")) else " " + fragment
    return text


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("make", [sample_document, wide_document])
def test_tables_fit_the_width_without_splitting_words_or_cutting_columns(width, make):
    document = make()
    shown = _shown_tables(document, width)
    tables = build_tables(document)
    assert len(shown) == len(tables)
    for table in tables:
        fragments, lines, left_out = shown[f"{table.kind} · {table.benchmark}"]
        assert all(len(line) <= width for line in lines)
        assert lines[0].endswith("┓") and all(
            line[-1] in "┃│┤┩┘" for line in lines[1:-1] if line.startswith(("┃", "│", "├", "┡"))
        )
        headers = [_rejoined(column) for column in fragments]
        # every header is a title of the table, rejoined exactly: no word was split
        assert [h for h in table.header() if h not in left_out] == headers
        # every column is either shown or named in the note under the table
        assert set(headers) | set(left_out) == set(table.header())
        assert not set(left_out) & {"component", *table.param_names}


def test_left_out_columns_are_named_under_the_table():
    text = _render(wide_document(), width=80)
    assert "left out for width: " in text and "; all are in results.csv" in text
    # the least important go first: the last metrics, never the component, params or ratio
    note = text.split("left out for width: ")[1]
    assert "cpu_growth_exponent" in note and "f1 ÷ torch-cross-entropy" not in note
    assert "all are in results.csv" not in _render(wide_document(), width=220)


def test_wrap_header_breaks_between_words_then_after_underscores():
    assert wrap_header("median ms ± IQR", 9) == ["median ms", "± IQR"]
    assert wrap_header("max_abs_error", 9) == ["max_abs_", "error"]
    assert wrap_header("time ÷ torch-cross-entropy", 12) == ["time ÷", "torch-cross-", "entropy"]
    assert wrap_header("precision", 5) == ["precision"]  # a word is never cut
