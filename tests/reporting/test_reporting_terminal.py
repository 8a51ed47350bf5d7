"""print_tables: what the terminal shows after a run."""

from __future__ import annotations

import io

from reporting_samples import HOSTILE, cell, make_run
from rich.console import Console

from suite.reporting import print_tables


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
