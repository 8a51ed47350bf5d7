"""compare_runs: the noise rule, status transitions, and the exit codes of `nlpsuite compare`."""

from __future__ import annotations

import copy
import io
import json

import pytest
from reporting_samples import BENCHMARKS, cell, make_run
from rich.console import Console

from suite.cli import main
from suite.reporting import compare_runs, print_comparison


def _doc(*rows, run_id="r"):
    return {"run": make_run(id=run_id, benchmarks=copy.deepcopy(BENCHMARKS)), "results": list(rows)}


def _verdict(old_row, new_row, threshold=0.1):
    comparison = compare_runs(_doc(old_row), _doc(new_row), threshold=threshold)
    assert len(comparison.cells) == 1
    return comparison.cells[0]


@pytest.mark.parametrize(
    ("old_ms", "old_iqr", "new_ms", "new_iqr", "verdict"),
    [
        (10.0, 0.1, 10.9, 0.1, "same"),  # +9 %: under the 10 % threshold
        (10.0, 0.1, 11.2, 0.1, "regressed"),  # +12 %: over 10 % and over the IQRs (0.2 ms)
        (10.0, 1.0, 11.9, 1.0, "same"),  # +19 %, but the runs' own spread is 2 ms
        (10.0, 1.0, 12.1, 1.0, "regressed"),  # beyond both
        (10.0, 0.1, 8.5, 0.1, "improved"),
    ],
)
def test_time_regression_needs_threshold_and_iqr(old_ms, old_iqr, new_ms, new_iqr, verdict):
    result = _verdict(cell("sdpa", old_ms, iqr_ms=old_iqr), cell("sdpa", new_ms, iqr_ms=new_iqr))
    assert result.verdict == verdict
    assert result.time_ratio == pytest.approx(new_ms / old_ms)
    assert result.flagged == (verdict == "regressed")


def test_threshold_is_configurable():
    assert _verdict(cell("sdpa", 10.0), cell("sdpa", 12.0), threshold=0.25).verdict == "same"
    assert _verdict(cell("sdpa", 10.0), cell("sdpa", 12.0), threshold=0.1).verdict == "regressed"
    with pytest.raises(ValueError, match="threshold"):
        compare_runs(_doc(), _doc(), threshold=-1)


def test_ratio_metric_regression_respects_direction():
    def tok(rate, ms=1.0):
        return cell(
            "bpe",
            ms,
            kind="tokenizer",
            benchmark="tokenizer-throughput",
            metrics={"encode_mb_per_s": rate},
        )

    slower = _verdict(tok(10.0), tok(8.0))  # throughput down 20 %, higher is better
    assert slower.verdict == "regressed" and slower.metric == "encode_mb_per_s"
    assert slower.metric_ratio == pytest.approx(0.8)
    assert _verdict(tok(10.0), tok(12.0)).verdict == "improved"
    assert _verdict(tok(10.0), tok(10.5)).verdict == "same"


def test_status_transitions_and_cells_in_one_file_only():
    old = _doc(
        cell("a", 1.0),
        cell("b", None, status="error", error="x"),
        cell("c", 1.0),
        cell("gone", 1.0),
    )
    new = _doc(
        cell("a", None, status="error", error="boom\nmore"),
        cell("b", 1.0),
        cell("c", None, status="error", error="e"),
        cell("fresh", 1.0),
    )
    old["results"][2]["status"], old["results"][2]["error"] = "error", "e0"
    comparison = compare_runs(old, new)
    verdicts = {c.row["component"]: c.verdict for c in comparison.cells}
    assert verdicts == {
        "a": "broke",
        "b": "fixed",
        "c": "failing",
        "fresh": "added",
        "gone": "removed",
    }
    assert [c.row["component"] for c in comparison.regressions] == ["a"]
    assert comparison.cells[0].reasons == ["boom"]


def test_cells_are_matched_by_params():
    old = _doc(cell("a", 1.0, params={"seq_len": 64}), cell("a", 1.0, params={"seq_len": 128}))
    new = _doc(cell("a", 5.0, params={"seq_len": 128}), cell("a", 1.0, params={"seq_len": 64}))
    cells = {c.row["params"]["seq_len"]: c for c in compare_runs(old, new).cells}
    assert cells[128].verdict == "regressed" and cells[64].verdict == "same"


def test_print_comparison_hides_unchanged_and_warns_on_device_change():
    old, new = _doc(cell("a", 1.0), cell("b", 1.0)), _doc(cell("a", 1.0), cell("b", 2.0))
    new["run"]["device"] = "cuda"
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_comparison(compare_runs(old, new), console)
    text = console.file.getvalue()
    assert "different devices" in text and "regressed" in text and "1 unchanged not shown" in text
    assert "1 regression(s) flagged" in text


def _write(path, document):
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_cli_exit_codes(tmp_path, capsys):
    base = _write(tmp_path / "old.json", _doc(cell("a", 10.0)))
    same = _write(tmp_path / "same.json", _doc(cell("a", 10.5)))
    slow = _write(tmp_path / "slow.json", _doc(cell("a", 20.0)))
    assert main(["compare", base, same]) == 0
    assert main(["compare", base, slow]) == 1
    assert main(["compare", base, slow, "--threshold", "2"]) == 0
    assert main(["compare", base, str(tmp_path / "missing.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", base, same, "--threshold", "-0.5"])
    assert exit_info.value.code == 2


def _drifted_runs():
    """Six cells all 1.5× slower in the new run, and one 3× slower: only that one moved."""
    names = ["a", "b", "c", "d", "e", "f", "g"]
    old = [cell(n, 10.0, params={"seq_len": 128}) for n in names]
    new = [cell(n, 15.0, params={"seq_len": 128}) for n in names[:-1]] + [
        cell("g", 30.0, params={"seq_len": 128})
    ]
    return _doc(*old, run_id="old"), _doc(*new, run_id="new")


def test_machine_drift_is_the_median_slowdown_and_is_reported():
    old, new = _drifted_runs()
    comparison = compare_runs(old, new)
    assert comparison.machine_drift == pytest.approx(1.5)
    assert len(comparison.regressions) == 7
    buffer = io.StringIO()
    print_comparison(comparison, Console(file=buffer, width=200))
    assert "the whole machine moved" in buffer.getvalue()


def test_normalize_flags_only_the_cell_that_moved_against_the_drift():
    old, new = _drifted_runs()
    comparison = compare_runs(old, new, normalize=True)
    assert comparison.normalized
    assert [c.row["component"] for c in comparison.regressions] == ["g"]


def test_too_few_cells_give_no_drift():
    comparison = compare_runs(_doc(cell("sdpa", 10.0)), _doc(cell("sdpa", 20.0)), normalize=True)
    assert comparison.machine_drift is None and not comparison.normalized
    assert comparison.regressions


def test_cli_a_malformed_file_exits_2_not_unchanged(tmp_path, capsys):
    base = _write(tmp_path / "old.json", _doc(cell("a", 10.0)))
    fast = _doc(cell("a", 10.0))
    fast["results"][0]["timing"]["median_ms"] = "fast"  # used to count as "unchanged", exit 0
    bad = _write(tmp_path / "bad.json", fast)
    assert main(["compare", base, bad]) == 2
    assert main(["compare", bad, base]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2
    assert f"{bad} is not an nlpsuite results file: results[0].timing.median_ms" in err


def test_a_rate_metric_is_not_judged_when_the_load_changed():
    def tok(rate, load):
        document = _doc(
            cell(
                "bpe",
                1.0,
                kind="tokenizer",
                benchmark="tokenizer-throughput",
                metrics={"encode_mb_per_s": rate, "model_bytes": 100},
            )
        )
        document["run"].update(load_before=[load, 1, 1], load_after=[load, 1, 1])
        return document

    (quiet,) = compare_runs(tok(10.0, 0.5), tok(6.0, 0.6)).cells
    assert quiet.verdict == "regressed"  # same load: a 40% slower encoder is flagged
    (loaded,) = compare_runs(tok(10.0, 0.5), tok(6.0, 4.0)).cells
    assert loaded.verdict == "unjudged" and not loaded.flagged
    assert "load changed (0.5 → 4.0)" in loaded.reasons[1]
    assert "encode_mb_per_s 10 → 6 is computed from times" in loaded.reasons[1]
