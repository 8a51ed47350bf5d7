"""`nlpsuite report`: re-rendering from a file, and one-line usage errors for bad files."""

from __future__ import annotations

import argparse
import json

import pytest
from reporting_samples import sample_document

from suite.cli import main
from suite.commands import report
from suite.errors import UsageError


def _args(path, out=None):
    return argparse.Namespace(results=path, out=out, no_files=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such results file"),
        ("{not json", "not valid JSON"),
        ('{"run": {}, "results": []}', "not an nlpsuite results file"),
    ],
)
def test_report_on_a_bad_file_is_a_usage_error(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        report.run(_args(path))


def test_report_rewrites_reports_next_to_the_file(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(sample_document()), encoding="utf-8")
    out = tmp_path / "elsewhere"
    assert main(["report", str(path), "--out", str(out), "--no-files"]) == 0
    assert not out.exists()
    assert main(["report", str(path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.md", "results.csv"]
    printed = capsys.readouterr().out
    assert "13 ok, 1 error, 1 skipped" in printed and f"wrote {out / 'report.html'}" in printed


def test_report_cli_bad_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("[]", encoding="utf-8")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an nlpsuite results file" in err


def test_out_that_is_a_file_is_a_usage_error(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(sample_document()), encoding="utf-8")
    with pytest.raises(UsageError, match="not a folder"):
        report.run(_args(path, out=path))


def _write_with_fast_median(tmp_path):
    document = sample_document()
    document["results"][3]["timing"]["median_ms"] = "fast"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        lambda path: ["report", str(path)],
        lambda path: ["compare", str(path), str(path)],
        lambda path: ["explain", "sdpa", "--results", str(path)],
    ],
    ids=["report", "compare", "explain"],
)
def test_a_wrong_type_inside_valid_json_exits_2_naming_the_field(tmp_path, capsys, argv):
    path = _write_with_fast_median(tmp_path)
    assert main(argv(path)) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert str(path) in captured.err
    assert "results[3].timing.median_ms must be a number or null, got 'fast'" in captured.err
