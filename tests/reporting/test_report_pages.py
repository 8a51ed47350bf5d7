"""Series in results.json, the figures each benchmark declares, the page's summary and notes,
and the comparison pages of `nlpsuite compare --md/--html`."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sleepy_plugin
from reporting_samples import cell, make_run, sample_document
from rich.console import Console
from sklearn.metrics import average_precision_score, roc_auc_score

from suite.benchmark import Benchmark, Measurement, validate_benchmark_class
from suite.cli import main
from suite.reporting import print_tables
from suite.reporting.figures import figures, plot_names
from suite.reporting.html import SORT_SCRIPT, render_html
from suite.reporting.markdown import render_markdown
from suite.reporting.tables import build_tables, headline
from suite.results import validate_document
from suite.series import MAX_POINTS, Series, downsample, pr_series, roc_series

# --------------------------------------------------------------------------- series


def test_downsample_keeps_endpoints_and_at_most_max_points():
    x = list(range(1000))
    y = [v * 2 for v in x]
    xs, ys = downsample(x, y, 200)
    assert len(xs) == 200 and xs[0] == 0 and xs[-1] == 999
    assert ys == [v * 2 for v in xs] and xs == sorted(xs)
    assert downsample([1, 2], [3, 4], 200) == ([1, 2], [3, 4])


def test_series_is_checked_and_stored_small():
    with pytest.raises(ValueError, match="plot must be one of"):
        Series("s", [1], [1], plot="pie")
    with pytest.raises(ValueError, match="x has 2 points and y has 1"):
        Series("s", [1, 2], [1])
    with pytest.raises(ValueError, match="not a finite number"):
        Series("s", [1, 2], [1, float("nan")])
    record = Series("loss", range(5000), [1 / (i + 1) for i in range(5000)]).to_dict()
    assert len(record["x"]) == MAX_POINTS and record["x"][-1] == 4999
    assert all(value == float(f"{value:.6g}") for value in record["y"])  # 6 significant digits
    assert record["y"][0] == 1.0 and record["y"][-1] == pytest.approx(1 / 5000)


def test_roc_and_pr_series_carry_the_areas_scikit_learn_computes():
    rng = np.random.default_rng(0)
    labels = (rng.random(2000) < 0.1).astype(int)
    scores = labels + rng.normal(0, 1, 2000)
    roc, pr = roc_series(labels, scores), pr_series(labels, scores)
    assert roc.auc == pytest.approx(roc_auc_score(labels, scores))
    assert pr.auc == pytest.approx(average_precision_score(labels, scores))
    assert roc.x[0] == 0 and roc.y[-1] == 1 and pr.x[0] <= pr.x[-1]
    assert len(roc.to_dict()["x"]) <= MAX_POINTS


def test_schema_accepts_series_and_run_notes_and_names_a_bad_field():
    document = sample_document()
    assert validate_document(document) is None  # a file without any of the new keys
    document["results"][0]["series"] = [Series("c", [0, 1], [0, 1], plot="roc", auc=0.5).to_dict()]
    document["run"].update(
        corpus={"path": "/c.txt", "bytes": 10, "sha256": "ab"},
        warnings=["too small"],
        resumes=[{"argv": ["run"], "started": "t", "finished": None, "device": "cpu"}],
        config={"quick": True},
    )
    assert validate_document(document) is None
    bad = copy.deepcopy(document)
    bad["results"][0]["series"][0]["y"] = [0, "high"]
    assert (
        validate_document(bad) == "results[0].series[0].y[1] must be a number or null, got 'high'"
    )
    bad = copy.deepcopy(document)
    bad["results"][0]["series"][0]["x"] = [0]
    assert "x has 1 points and y has 2" in validate_document(bad)
    bad = copy.deepcopy(document)
    bad["run"]["warnings"] = "one"
    assert validate_document(bad) == "run.warnings must be a list of strings, got 'one'"


def test_runner_writes_the_series_a_benchmark_attaches(tmp_path):
    results = sleepy_plugin.run_sleepy(tmp_path / "run")
    document = json.loads(results.read_text())
    row = document["results"][0]
    assert [s["name"] for s in row["series"]] == ["repeat times", "asked and measured"]
    assert document["run"]["benchmarks"]["sleepy-time"]["plots"] == ["ratio", "line", "bars"]


# --------------------------------------------------------------------------- declared plots


def test_plots_must_be_known_names():
    class Bad(Benchmark):
        name = "bad-plots"
        kind = "norm"
        quick_grid = {"a": [1]}
        plots = ("ratio", "pie")

    assert "unknown plot 'pie'" in validate_benchmark_class(Bad)
    Bad.plots = ("metric:bytes_per_token", "metrics:_per_char", "roc", "memory")
    assert validate_benchmark_class(Bad) is None


def test_built_in_benchmarks_declare_their_figures():
    from plugins.attention.benchmarks import AttentionLatency, AttentionListOps, AttentionScaling
    from plugins.losses.benchmarks_tasks import LossImbalanced, LossRetrieval
    from plugins.moe.benchmarks import MoEClusterAccuracy, MoELoadBalance
    from plugins.tokenizers.benchmarks import CompressionBenchmark, MixedScriptBenchmark

    assert {"roc", "pr"} <= set(LossImbalanced.plots) and {"roc", "pr"} <= set(LossRetrieval.plots)
    assert "line" in AttentionListOps.plots and "line" in MoEClusterAccuracy.plots
    assert MoELoadBalance.plots == ("bars",) and AttentionScaling.plots == ("loglog",)
    assert "memory" in AttentionLatency.plots
    assert any(p.startswith("metric:") for p in CompressionBenchmark.plots)
    assert any(p.startswith("metrics:") for p in MixedScriptBenchmark.plots)


def _curve(component, kind, reference=None, params=None, **series):
    row = cell(
        component,
        None,
        benchmark="curves",
        params=params or {"model": "a"},
        reference=reference,
        metrics={"f1": 0.5},
    )
    row["series"] = [{"x_label": "x", "y_label": "y", **series}]
    return row


def test_figures_follow_the_declaration_not_the_metric_names():
    roc = {"name": "ROC", "plot": "roc", "x": [0, 0.2, 1], "y": [0, 0.8, 1], "auc": 0.8}
    rows = [_curve("ref", "roc", **roc), _curve("cand", "roc", reference="ref", **roc)]
    run = make_run(benchmarks={"curves": {"ratio_metric": "f1", "plots": ["roc"]}})
    table = build_tables({"run": run, "results": rows})[0]
    assert plot_names(table) == ["roc"]  # no ratio plot: it was not declared
    images, notes = figures(table)
    assert [title for title, _ in images] == ["attention · curves: ROC"]
    assert images[0][1].startswith(b"\x89PNG") and notes == []
    # nothing declared: the ratio plot, then one figure per kind of attached series
    run = make_run(benchmarks={"curves": {"ratio_metric": "f1"}})
    table = build_tables({"run": run, "results": rows})[0]
    assert plot_names(table) == ["ratio", "roc"]


def test_many_curves_split_into_one_figure_per_parameter_point():
    line = {"name": "loss", "plot": "line", "x": [1, 2, 3], "y": [3, 2, 1]}
    rows = [
        _curve(name, "line", params={"model": model}, **line)
        for name in ("a", "b", "c")
        for model in ("linear", "mlp")
    ]
    run = make_run(benchmarks={"curves": {"plots": ["line"]}})
    images, _ = figures(build_tables({"run": run, "results": rows})[0])
    assert [title for title, _ in images] == [
        "attention · curves: loss at model=linear",
        "attention · curves: loss at model=mlp",
    ]


def test_a_failing_figure_is_a_note_not_a_broken_report(monkeypatch):
    import suite.reporting.curves

    def broken(plan):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(suite.reporting.curves, "draw", broken)
    rows = [_curve(n, "bars", name="load", plot="bars", x=[0, 1], y=[1, 2]) for n in "ab"]
    run = make_run(benchmarks={"curves": {"plots": ["bars", "metric:f1"]}})
    page = render_html({"run": run, "results": rows})
    assert "plot &#x27;bars&#x27; failed: RuntimeError: no canvas" in page
    assert page.count("data:image/png;base64,") == 1  # metric:f1 still drawn


# --------------------------------------------------------------------------- the page


def _noted_document():
    document = sample_document()
    document["run"].update(
        corpus=None,
        warnings=["corpus <tiny> is 2 KiB, smaller than the 100 KiB asked"],
        resumes=[{"argv": ["run", "--resume"], "started": "S", "finished": "F", "device": "cuda"}],
    )
    return document


def test_page_has_summary_links_notes_and_the_sort_script():
    document = _noted_document()
    page = render_html(document, plots=False)
    assert '<meta name="viewport"' in page and "overflow-x: auto" in page
    assert page.count(f"<script>{SORT_SCRIPT}</script>") == 1
    assert (
        'id="summary"' in page and 'id="kind-attention"' in page and 'id="kind-tokenizer"' in page
    )
    assert 'href="#attention-attention-latency"' in page
    assert '<table class="sortable">' in page and 'data-v="2.0"' in page
    assert "corpus &lt;tiny&gt; is 2 KiB" in page and 'class="warnings"' in page
    assert "built-in text of each benchmark" in page
    assert "resumed once (--resume)" in page and "cells come from different devices" in page
    table = build_tables(document)[0]
    line = headline(table)
    assert line is not None and line.text() in html_unescape(page)
    # the error row's whole message, not only its first line
    assert "Traceback line two" in page


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_headline_is_the_geometric_mean_per_candidate_best_first():
    table = build_tables(sample_document())[0]
    line = headline(table)
    assert line is not None
    names = [name for name, _, _ in line.ratios]
    ratios = [ratio for _, ratio, _ in line.ratios]
    assert ratios == sorted(ratios) and "naive" in names
    naive = [row.ratio for row in table.rows if row.component == "naive" and row.ratio]
    expected = float(np.exp(np.mean(np.log(naive))))
    assert dict((n, r) for n, r, _ in line.ratios)["naive"] == pytest.approx(expected)


def test_markdown_and_terminal_show_corpus_warnings_and_resume():
    document = _noted_document()
    text = render_markdown(document)
    assert "> **Warning** (1 about the inputs):" in text and "corpus \\<tiny\\>" in text
    assert "**corpus**: built-in text of each benchmark" in text and "resumed once" in text
    assert "## Summary" in text and "| attention | attention-latency |" in text
    console = Console(file=io.StringIO(), width=160)
    print_tables(document, console)
    out = console.file.getvalue()
    assert "warning: corpus <tiny>" in out and "corpus: built-in text" in out
    assert "resume: resumed once" in out


def test_an_old_file_without_the_new_keys_still_renders(tmp_path):
    from suite.results import load_results

    data = json.loads(Path("reports/committed/cpu-tokenizer-full/results.json").read_text())
    for key in ("config", "corpus", "executor", "load_after", "load_before", "warnings"):
        data["run"].pop(key, None)  # what a file written before these keys existed lacks
    for row in data["results"]:
        row.pop("series", None)
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    old = load_results(tmp_path / "old.json")
    page = render_html(old, plots=False)
    assert "corpus" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S).split("Summary")[0]
    assert 'id="summary"' in page


# --------------------------------------------------------------------------- compare pages


def test_compare_pages_highlight_exactly_the_slowed_component(tmp_path):
    old = sleepy_plugin.run_sleepy(tmp_path / "old")
    new = sleepy_plugin.run_sleepy(tmp_path / "new", slow="sleepy-a")
    md, page = tmp_path / "out" / "compare.md", tmp_path / "out" / "compare.html"
    code = main(
        ["compare", str(old), str(new), "--threshold", "0.5", "--md", str(md), "--html", str(page)]
    )
    assert code == 1  # exit code as without the pages
    text = page.read_text(encoding="utf-8")
    flagged = re.findall(r'<tr class="flagged">(.*?)</tr>', text)
    assert len(flagged) == 2 and all("sleepy-a" in row for row in flagged)
    assert "sleepy-ref" not in "".join(flagged) and "sleepy-b" not in "".join(flagged)
    assert "Machine drift is the median" in text and '<table class="sortable">' in text
    markdown = md.read_text(encoding="utf-8")
    regressions = markdown.split("## Regressions")[1].split("## Every cell")[0]
    assert regressions.count("**regressed**") == 2 and "sleepy-a" in regressions
    assert "sleepy-b" not in regressions and "**Drift.**" in markdown
    same = tmp_path / "same.html"
    assert main(["compare", str(old), str(old), "--html", str(same)]) == 0
    assert "no regression beyond noise" in same.read_text(encoding="utf-8")


def test_compare_page_escapes_and_reports_an_unwritable_file(tmp_path, capsys):
    base = sample_document()
    base["results"][0]["component"] = "<script>x</script>"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(base))
    page = tmp_path / "c.html"
    main(["compare", str(old), str(old), "--html", str(page), "--all"])
    text = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script>x" not in text
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["compare", str(old), str(old), "--md", str(folder)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_measurement_has_series_by_default():
    assert Measurement().series == []
