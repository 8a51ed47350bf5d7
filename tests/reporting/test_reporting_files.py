"""write_reports: CSV columns, Markdown and HTML escaping, plots, and robustness on odd runs."""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
import pytest
from reporting_samples import cell, make_run
from rich.console import Console

from suite.reporting import print_tables, write_reports
from suite.reporting.frame import results_csv
from suite.reporting.html import SORT_SCRIPT, render_html
from suite.reporting.markdown import escape_markdown, render_markdown
from suite.reporting.plots import metric_sweep, plot_table, sweep_parameter
from suite.reporting.tables import build_tables


def test_write_reports_writes_three_files(document, tmp_path):
    written = write_reports(document, tmp_path / "run")
    assert [path.name for path in written] == ["results.csv", "report.md", "report.html"]
    assert all(path.is_file() and path.stat().st_size > 0 for path in written)
    assert not list((tmp_path / "run").glob(".*.tmp"))  # no temporary file left behind


def test_csv_has_one_row_per_cell_and_flattened_columns(document):
    frame = pd.read_csv(io.StringIO(results_csv(document)))
    assert len(frame) == len(document["results"])
    for column in (
        "kind",
        "component",
        "benchmark",
        "status",
        "error",
        "params.seq_len",
        "params.vocab_size",
        "metrics.encode_mb_per_s",
        "timing.median_ms",
        "timing.iqr_ms",
        "memory.peak_bytes",
        "ratio",
    ):
        assert column in frame.columns, column
    naive = frame[(frame.component == "naive") & (frame["params.seq_len"] == 256)]
    assert naive["ratio"].item() == pytest.approx(2.0)
    assert naive["timing.median_ms"].item() == pytest.approx(6.0)
    bpe = frame[frame.component == "bpe"]
    assert (
        bpe["ratio"].item() == pytest.approx(0.25)
        and bpe["ratio_metric"].item() == "encode_mb_per_s"
    )
    failed = frame[frame.status == "error"]
    assert failed["error"].item().startswith("RuntimeError: <b>&")
    assert failed["timing.median_ms"].isna().all()


def test_html_escapes_every_hostile_string(document):
    document["run"]["id"] = "<i>run</i>"
    document["results"][0]["params"]["<p>"] = "<img src=x onerror=alert(1)>"
    document["results"][0]["metrics"]["<em>metric"] = 1.0
    page = render_html(document, plots=False)
    own_script = f"<script>{SORT_SCRIPT}</script>"
    assert page.count("<script") == 1 and page.count(own_script) == 1  # the sort script only
    page = page.replace(own_script, "")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "RuntimeError: &lt;b&gt;&amp; broke" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<i>run</i>" not in page and "<em>metric" not in page and "<p>" not in page
    # the only tags are the report's own
    tags = set(re.findall(r"<([a-zA-Z0-9]+)", page))
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "section",
        "div",
        "details",
        "summary",
        "code",
        "dl",
        "dt",
        "dd",
        "p",
        "strong",
        "span",
        "ul",
        "li",
        "a",
        "img",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }


def test_html_is_self_contained_with_embedded_plots(document):
    page = render_html(document)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2  # a sweep over seq_len and a tokenizer bar chart
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page and "<link" not in page


def test_markdown_has_the_ratio_and_escapes(document):
    text = render_markdown(document)
    assert "| time ÷ sdpa |" in text and "| 2× |" in text and "0.25×" in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert "**error**: RuntimeError: \\<b\\>\\& broke" in text
    assert escape_markdown("a|b\nc") == "a\\|b"


def test_sweep_detection_and_line_plot(document):
    tables = build_tables(document)
    assert sweep_parameter(tables[0]) == "seq_len"  # heads is constant
    assert sweep_parameter(tables[1]) is None
    assert plot_table(tables[0]).startswith(b"\x89PNG")


def test_a_sweep_inside_one_cell_is_plotted_from_its_sized_metrics():
    def scaling(component, exponent, reference=None):
        metrics = {f"time_ms_t{t}": (t / 1024) ** exponent for t in (1024, 2048, 4096)}
        metrics["growth_exponent"] = exponent
        return cell(
            component,
            None,
            benchmark="attention-scaling",
            params={"heads": 2},
            reference=reference,
            metrics=metrics,
        )

    rows = [scaling("sdpa", 2.0), scaling("sliding-window", 1.0, reference="sdpa")]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert metric_sweep(table) == "time_ms"
    assert plot_table(table).startswith(b"\x89PNG")
    two_points = [
        cell("sdpa", None, params={"heads": 2}, metrics={"time_ms_t1": 1.0, "time_ms_t2": 2.0})
    ]
    assert metric_sweep(build_tables({"run": make_run(), "results": two_points})[0]) is None


def test_a_sweep_left_with_one_size_after_picking_the_common_point_is_drawn_as_bars(
    monkeypatch: pytest.MonkeyPatch,
):
    import suite.reporting.plots as plots

    # three points of (batch, width): batch varies, but only together with width
    points = [{"batch": 256, "width": 64, "variant": v} for v in ("a", "b")]
    points.append({"batch": 2048, "width": 4096, "variant": "a"})
    rows = [cell(name, 1.0 + i, params=p) for p in points for i, name in enumerate(("x", "y"))]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert sweep_parameter(table) == "batch"
    bars: list[str] = []
    real_bars = plots._bar_plot
    monkeypatch.setattr(plots, "MAX_SERIES", 2)  # forces keeping the most common other point
    monkeypatch.setattr(plots, "_bar_plot", lambda t, m: bars.append(m) or real_bars(t, m))
    assert plot_table(table).startswith(b"\x89PNG")
    assert bars, "a line through one x value was drawn instead of bars"


def test_dollar_signs_in_names_do_not_break_plots():
    rows = [cell("$x^$", 1.0, params={"seq_len": n}) for n in (64, 128)] + [
        cell("a$b", 2.0, params={"seq_len": 64})
    ]
    table = build_tables({"run": make_run(), "results": rows})[0]
    assert plot_table(table).startswith(b"\x89PNG")


ODD_DOCUMENTS = {
    "empty": [],
    "all errors": [
        cell("sdpa", None, status="error", error="boom"),
        cell("naive", None, status="error", error=""),
    ],
    "no timing": [
        cell("sdpa", None, metrics={"roc_auc": 0.5}),
        cell("naive", None, reference="sdpa", metrics={"roc_auc": 0.7}),
    ],
    "huge numbers": [
        cell("sdpa", 1e300, params={"seq_len": n}, peak_bytes=10**30, metrics={"n": 10**40})
        for n in (1, 10**12)
    ]
    + [cell("naive", 1e-300, reference="sdpa", params={"seq_len": 1}, metrics={"n": -(10**40)})],
    "odd params": [
        cell("sdpa", 1.0, params={}),
        cell("naive", 2.0, reference="sdpa", params={}),
        cell("x", 1.0, params={"shape": [1, 2], "flag": True, "dtype": "float32"}),
    ],
}


@pytest.mark.parametrize("name", list(ODD_DOCUMENTS))
def test_odd_runs_render_without_crashing(name, tmp_path):
    document = {"run": make_run(finished=None), "results": ODD_DOCUMENTS[name]}
    console = Console(file=io.StringIO(), width=120)
    print_tables(document, console)
    assert "cells:" in console.file.getvalue()
    written = write_reports(document, tmp_path, plots=name == "huge numbers")
    assert len(written) == 3
    assert "in progress" in (tmp_path / "report.md").read_text(encoding="utf-8")
