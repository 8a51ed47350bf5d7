"""Timings you can trust: paired rounds, noise marked and acted on, outputs checked before timing,
and `compare` that flags only a significant change.

The compare tests with real runs time sleeps (tests/reporting/sleepy_plugin.py): each candidate
is timed in alternating rounds with its reference, and the second time one candidate sleeps 30%
longer, so that its paired ratio, not the load, moves. The fast compare tests build the rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from rich.console import Console

from suite import plugins
from suite.benchmark import RunContext, check_output
from suite.cli import main
from suite.errors import CellError
from suite.noise import advice, bootstrap_median_interval, relative_spread, spread_problem
from suite.plugins import PluginHost
from suite.reporting import compare_runs, print_comparison
from suite.reporting.compare import INTERVAL_RULE, PAIRED, TEST_NAME, Comparison, method_line
from suite.reporting.tables import build_tables
from suite.results import load_results, validate_document
from suite.runner import Cell, RunConfig, run_cell, run_matrix
from suite.timing import Timing, time_function, time_paired

HERE = Path(__file__).parent
SLOWED = 1.3  # the slowed component's sleep, × its reference's
SLEEP_S = 0.06  # each sleep of the real-run compare tests: a late wake-up on a busy machine
# (tens of ms with 12 runnable processes on 2 cores) stays a fraction of it


@pytest.fixture
def timing_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """The built-in kinds that are timed, and the timing test plugin (sleepy and NaN components)."""
    monkeypatch.delenv("NLPSUITE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("NLPSUITE_BLOCK_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(HERE))
    import timing_plugin

    builtins = ("plugins.norms", "plugins.losses", "plugins.attention", "plugins.moe")
    host = PluginHost(builtins=builtins, entry_points=False).load()
    host.register_plugin(timing_plugin, "timing")
    plugins.reset(host)
    try:
        yield host
    finally:
        plugins.reset(None)


# --------------------------------------------------------------------------- statistics


def test_spread_and_bootstrap_interval() -> None:
    assert relative_spread([10.0, 10.0, 10.0]) == 0.0
    assert spread_problem([10.0, 10.1, 9.9, 10.0]) is None
    reason = spread_problem([5.0, 10.0, 20.0, 40.0, 8.0])
    assert reason is not None and "IQR" in reason and "5 repeats" in reason
    low, high = bootstrap_median_interval([1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02])
    assert 0.9 <= low <= 1.0 <= high <= 1.1
    assert bootstrap_median_interval([2.0]) == (2.0, 2.0)


def test_timing_keeps_rounded_samples_and_marks_spread() -> None:
    steady = Timing.from_samples([1.23456789, 1.2, 1.21])
    assert steady.to_dict()["samples_ms"] == [1.235, 1.2, 1.21]
    assert not steady.unstable and "unstable" not in steady.to_dict()
    noisy = Timing.from_samples([1.0, 3.0, 1.0, 3.0])
    assert noisy.unstable and noisy.to_dict()["unstable"] is True
    assert "IQR" in noisy.to_dict()["unstable_reason"]


def test_an_unstable_timing_gets_more_repeats_within_its_budget() -> None:
    durations = iter([0.002, 0.02] * 50)  # alternating 2 and 20 ms: IQR far above 25%, even
    # on a busy machine where a short sleep wakes up milliseconds late
    timing = time_function(
        lambda: time.sleep(next(durations)), warmup=0, repeats=4, max_repeats=12, budget_s=5.0
    )
    assert timing.repeats == 12 and timing.unstable
    steady = time_function(lambda: time.sleep(0.03), warmup=0, repeats=4, max_repeats=12)
    # stable at once: no extra repeats (unless a busy machine spread the first four)
    assert steady.repeats == 4 or spread_problem(list(steady.samples_ms[:4])) is not None


def test_paired_rounds_alternate_in_random_order_and_give_the_ratio() -> None:
    calls: list[str] = []

    def slow() -> None:
        calls.append("a")
        time.sleep(0.03)

    def fast() -> None:
        calls.append("b")
        time.sleep(0.015)

    paired = time_paired(slow, fast, warmup=0, rounds=8, seed=3)
    rounds = [calls[i : i + 2] for i in range(0, len(calls), 2)]
    assert all(sorted(pair) == ["a", "b"] for pair in rounds)  # one of each per round
    assert {tuple(pair) for pair in rounds} == {("a", "b"), ("b", "a")}  # order drawn per round
    assert paired.ci_low <= paired.ratio <= paired.ci_high
    # 30 ms ÷ 15 ms, give or take a late wake-up (tens of ms on a very busy machine: unstable)
    assert paired.unstable_reason is not None or 1.4 < paired.ratio < 2.6
    metrics = paired.metrics()
    assert set(metrics) == {"paired_ratio", "paired_ratio_ci_low", "paired_ratio_ci_high"}
    assert paired.timing.repeats == paired.rounds == len(paired.a.samples_ms)
    kept = paired.timing.to_dict()["ratio_samples"]  # what compare judges, one per round
    per_round = [a / b for a, b in zip(paired.a.samples_ms, paired.b.samples_ms)]
    assert kept == pytest.approx(per_round, rel=1e-3) and len(kept) == paired.rounds
    assert "ratio_samples" not in paired.a.to_dict()  # a timing alone has no ratios


def test_run_context_pairs_within_the_cell() -> None:
    ctx = RunContext(repeats=5, warmup=0, budget_s=1.0)
    paired = ctx.time_paired(lambda: time.sleep(0.001), lambda: time.sleep(0.001))
    assert paired.rounds >= 5
    assert paired.ci_low <= paired.ratio <= paired.ci_high


# --------------------------------------------------------------------------- output sanity


def test_check_output_refuses_nan_and_disagreement() -> None:
    check_output(torch.ones(3), torch.ones(3) + 1e-4)
    with pytest.raises(CellError, match="1 NaN/inf of 3 values: not timed"):
        check_output(torch.tensor([1.0, float("nan"), 2.0]))
    with pytest.raises(CellError, match=r"differs from the reference by up to 0\.5"):
        check_output(torch.ones(3), torch.tensor([1.0, 1.5, 1.0]))
    with pytest.raises(CellError, match="not a tensor"):
        check_output(None)


TIMED = {  # every timing benchmark, one parameter point each, and its NaN component
    "attention-latency": "nan-attention",
    "norm-throughput": "nan-norm",
    "loss-agreement": "nan-loss",
    "moe-throughput": "nan-moe",
}


@pytest.mark.parametrize("benchmark_name", sorted(TIMED))
def test_a_nan_component_is_an_error_row_in_every_timing_benchmark(
    timing_host: PluginHost, benchmark_name: str
) -> None:
    registry = timing_host.registry
    (benchmark_cls,) = [b for b in registry.benchmarks() if b.name == benchmark_name]
    benchmark = benchmark_cls()
    component = next(c for c in registry.components() if c.name == TIMED[benchmark_name])
    params = benchmark.params(quick=True)[0]
    ctx = RunContext(repeats=3, warmup=1, budget_s=0.2)
    row = run_cell(Cell(component, benchmark, params, registry.reference_of(component)), ctx)
    assert row["status"] == "error", row
    assert "NaN/inf" in row["error"] and "not timed" in row["error"]
    assert row["timing"] is None and row["metrics"] == {}


# --------------------------------------------------------------------------- compare


def _run(host: PluginHost, out: Path) -> Path:
    run_matrix(host.registry, RunConfig(out_dir=out, quick=True, benchmarks=["sleep-bench"]))
    return out / "results.json"


@pytest.fixture
def sleepy(monkeypatch: pytest.MonkeyPatch) -> object:
    """tests/reporting/sleepy_plugin.py: sleeps timed in pairs, one candidate slowed on request."""
    monkeypatch.syspath_prepend(str(HERE.parent / "reporting"))
    import sleepy_plugin

    return sleepy_plugin


def _verdicts(comparison: Comparison) -> list[tuple[str, str, list[str]]]:
    """Each cell's component, verdict and reasons: what a failing assertion shows."""
    return [(c.row["component"], c.verdict, c.reasons) for c in comparison.cells]


def _flagged(comparison: Comparison) -> list[tuple[str, int]]:
    return sorted((c.row["component"], c.row["params"]["size"]) for c in comparison.regressions)


@pytest.mark.slow
def test_back_to_back_runs_flag_nothing_and_a_slowed_component_is_flagged(
    sleepy: object, tmp_path: Path
) -> None:
    run = sleepy.run_sleepy  # type: ignore[attr-defined]
    first = run(tmp_path / "first", base_s=SLEEP_S, reports=False)
    second = run(tmp_path / "second", base_s=SLEEP_S, reports=False)
    slowed = run(tmp_path / "slowed", slow="sleepy-a", factor=SLOWED, base_s=SLEEP_S, reports=False)

    document = load_results(first)
    assert validate_document(document) is None
    paired = [row for row in document["results"] if "paired_ratio" in row["metrics"]]
    assert paired and all(len(row["timing"]["ratio_samples"]) >= 5 for row in paired)

    assert main(["compare", str(first), str(second)]) == 0
    comparison = compare_runs(load_results(first), load_results(slowed))
    assert _flagged(comparison) == [("sleepy-a", 4), ("sleepy-a", 8)], _verdicts(comparison)
    assert all(c.basis == PAIRED and c.method == TEST_NAME for c in comparison.regressions)
    assert all(c.p_value < 0.01 and c.time_ratio > 1.15 for c in comparison.regressions)
    assert main(["compare", str(first), str(slowed)]) == 1


def _row(component: str, samples: list[float] | None, **timing: object) -> dict:
    body: dict = {"median_ms": sorted(samples or [10.0])[len(samples or [10.0]) // 2]}
    body.update(iqr_ms=0.0, repeats=len(samples or [1]))
    if samples is not None:
        body["samples_ms"] = samples
    body.update(timing)
    return {
        "kind": "norm",
        "component": component,
        "benchmark": "b",
        "params": {},
        "status": "ok",
        "error": None,
        "metrics": {},
        "timing": body,
        "memory": None,
    }


def _document(*rows: dict) -> dict:
    run = {
        "id": "r",
        "started": "2024-01-01T00:00:00+00:00",
        "finished": None,
        "suite_version": "0",
        "python": "3",
        "torch": "2",
        "device": "cpu",
        "device_name": None,
        "seed": 0,
        "argv": [],
    }
    return {"run": run, "results": list(rows)}


def test_compare_says_which_cells_it_cannot_judge_and_counts_one_run_cells() -> None:
    steady = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 10.0]
    old = _document(
        _row("few", [10.0, 10.0, 10.0]),
        _row("shaky", steady, unstable=True, unstable_reason="IQR 40%"),
        _row("oldfile", None),
        _row("gone", steady),
    )
    new = _document(
        _row("few", [20.0, 20.0, 20.0]),
        _row("shaky", [20.0 * s / 10 for s in steady]),
        _row("oldfile", None, median_ms=20.0),
        _row("fresh", steady),
    )
    comparison = compare_runs(old, new)
    verdicts = {c.row["component"]: c.verdict for c in comparison.cells}
    assert verdicts == {
        "few": "unjudged",
        "shaky": "unjudged",
        "oldfile": "regressed",  # no samples: the median rule, said so
        "fresh": "added",
        "gone": "removed",
    }
    reasons = {c.row["component"]: " ".join(c.reasons) for c in comparison.cells}
    assert "3 repeats in the old run" in reasons["few"]
    assert "unstable in the old run (IQR 40%)" in reasons["shaky"]
    assert "median rule" in reasons["oldfile"]
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_comparison(comparison, console)
    text = console.file.getvalue()
    assert "1 cell(s) without samples (an older results file) by the median rule" in text
    assert "2 cell(s) not judged on their time" in text
    assert "1 cell(s) only in the old run (removed), 1 only in the new (added)" in text
    assert "fresh" not in text and "gone" not in text  # one line, not rows
    verbose = Console(file=io.StringIO(), width=200, color_system=None)
    print_comparison(comparison, verbose, verbose=True)
    assert "fresh" in verbose.file.getvalue() and "gone" in verbose.file.getvalue()


def test_a_change_inside_the_noise_is_not_flagged() -> None:
    old = [10.0, 12.0, 9.0, 11.0, 10.5, 9.5, 12.5]
    new = [11.5, 9.8, 12.6, 10.2, 11.9, 13.0, 10.1]  # median +10.5%, same distribution
    comparison = compare_runs(_document(_row("a", old)), _document(_row("a", new)), threshold=0.05)
    (cell,) = comparison.cells
    assert cell.method == TEST_NAME and cell.p_value > 0.01
    assert cell.verdict == "same" and "not significant" in cell.reasons[0]


def test_normalized_compare_shows_the_judged_ratio() -> None:
    names = "abcdef"
    steady = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 10.0]
    old = _document(*(_row(n, steady) for n in names))
    new = _document(
        *(_row(n, [s * 1.5 for s in steady]) for n in names[:-1]),
        _row("f", [s * 3 for s in steady]),
    )
    comparison = compare_runs(old, new, normalize=True)
    ratios = {c.row["component"]: c.time_ratio for c in comparison.cells}
    assert ratios["a"] == pytest.approx(1.0) and ratios["f"] == pytest.approx(2.0)
    assert [c.row["component"] for c in comparison.regressions] == ["f"]


OFFSETS = [-0.03, -0.01, 0.0, 0.01, 0.02, -0.02, 0.03]  # 7 tight repeats or rounds


def _paired_row(component: str, time_ms: float, ratio: float, **timing: object) -> dict:
    """A candidate timed in pairs: its repeats and per-round ratios within ±3%."""
    row = _row(component, [time_ms * (1 + d) for d in OFFSETS], **timing)
    row["timing"]["ratio_samples"] = [ratio * (1 + d) for d in reversed(OFFSETS)]
    row["metrics"] = {
        "paired_ratio": ratio,
        "paired_ratio_ci_low": ratio * 0.98,
        "paired_ratio_ci_high": ratio * 1.02,
    }
    row["reference"] = "ref"
    return row


def _loaded_pair(scale: float) -> tuple[dict, dict]:
    """Run 2 met a busier machine: every absolute time × `scale`, every paired ratio unchanged,
    except `slowed`, whose own ratio rose 30% (its reference, like every other, × `scale`)."""
    old = _document(
        _row("ref", [10.0 * (1 + d) for d in OFFSETS]),
        _row("alone", [8.0 * (1 + d) for d in OFFSETS]),
        _paired_row("fast", 5.0, 0.5),
        _paired_row("twice", 20.0, 2.0),
        _paired_row("slowed", 12.0, 1.2),
    )
    new = _document(
        _row("ref", [10.0 * scale * (1 + d) for d in OFFSETS]),
        _row("alone", [8.0 * scale * (1 + d) for d in OFFSETS]),
        _paired_row("fast", 5.0 * scale, 0.5 * 1.01),
        _paired_row("twice", 20.0 * scale, 2.0, unstable=True, unstable_reason="time IQR 40%"),
        _paired_row("slowed", 12.0 * scale * 1.3, 1.2 * 1.3),
    )
    old["run"].update(load_before=[1.0, 1.0, 1.0], load_after=[1.2, 1.1, 1.0], cpu_threads=2)
    new["run"].update(load_before=[3.5, 2.0, 1.2], load_after=[3.8, 2.5, 1.4], cpu_threads=2)
    return old, new


@pytest.mark.parametrize("normalize", [False, True])
def test_a_load_shift_flags_nothing_and_a_slowed_ratio_is_flagged(normalize: bool) -> None:
    old, new = _loaded_pair(1.5)
    comparison = compare_runs(old, new, normalize=normalize)
    cells = {c.row["component"]: c for c in comparison.cells}
    assert [c.row["component"] for c in comparison.regressions] == ["slowed"]
    slowed = cells["slowed"]
    assert slowed.basis == PAIRED and slowed.method == TEST_NAME and slowed.p_value < 0.01
    assert slowed.time_ratio == pytest.approx(1.3)  # the paired ratio's change, not ×1.95
    assert "paired ratio 1.2 → 1.56" in slowed.reasons[0]
    for name in ("fast", "twice"):  # ×1.5 in time, the same ratio; "twice" unstable in time only
        assert cells[name].verdict == "same" and cells[name].basis == PAIRED
        assert cells[name].time_ratio == pytest.approx(1.0, abs=0.02)
    for name in ("ref", "alone"):  # timed alone: the time moved with the load, and it is said
        assert cells[name].verdict == "unjudged"
        assert "load changed (1.2 → 3.8)" in cells[name].reasons[0]
    console = Console(file=io.StringIO(), width=250, color_system=None)
    print_comparison(comparison, console)
    text = console.file.getvalue()
    assert "3 cell(s) judged on their paired ratio" in text and "1.3× paired" in text
    assert "load changed (1.2 → 3.8): cells timed alone" in text
    assert "1 regression(s) flagged" in text
    from suite.reporting.compare_pages import render_comparison_html, render_comparison_markdown

    markdown = render_comparison_markdown(comparison)
    assert "**Load.** load changed (1.2 → 3.8)" in markdown and "| 1.3× paired |" in markdown
    assert "1.3× paired" in render_comparison_html(comparison)


def test_a_reference_three_times_slower_leaves_its_ratios_unjudged() -> None:
    """A load that slows the reference 3× does not slow every component alike: nothing is
    flagged, and every cell says why it was not judged."""
    old, new = _loaded_pair(3.0)
    comparison = compare_runs(old, new)
    assert comparison.regressions == [] and comparison.counts() == {"unjudged": 5}
    cells = {c.row["component"]: c for c in comparison.cells}
    for name in ("fast", "twice", "slowed"):
        assert re.search(
            r"the reference itself took ×(2\.9\d*|3) its old time", cells[name].reasons[0]
        )


def test_without_a_load_the_drift_judges_times_and_busy_runs_leave_them_unjudged() -> None:
    old, new = _loaded_pair(3.0)
    for run in (old["run"], new["run"]):  # an older file: no load recorded
        del run["load_before"], run["load_after"]
    plain = {c.row["component"]: c.verdict for c in compare_runs(old, new).cells}
    assert plain["ref"] == "regressed"  # ×3 and nothing says why: flagged
    assert compare_runs(old, new, normalize=True).cells[0].verdict == "same"  # ÷ drift 3
    old["run"].update(load_before=[2.6, 2, 2], load_after=[2.7, 2, 2])  # steady, but above
    new["run"].update(load_before=[2.8, 2, 2], load_after=[2.6, 2, 2])  # the 2 threads timed
    (ref, *_) = compare_runs(old, new).cells
    assert ref.verdict == "unjudged" and "machine busy (load 2.7 → 2.8" in ref.reasons[0]


def test_a_paired_ratio_is_judged_on_its_own_spread_and_older_files_on_intervals() -> None:
    steady = _paired_row("c", 10.0, 1.0)
    spread = _paired_row("c", 10.0, 1.2)
    spread["timing"]["ratio_samples"] = [0.6, 1.9, 0.8, 1.6, 1.2, 0.7, 1.8]
    (cell,) = compare_runs(_document(steady), _document(spread)).cells
    assert cell.verdict == "unjudged" and "paired ratio IQR" in cell.reasons[0]
    few = _paired_row("c", 10.0, 1.5)
    few["timing"]["ratio_samples"] = [1.5, 1.5, 1.5]
    (cell,) = compare_runs(_document(steady), _document(few)).cells
    assert cell.verdict == "unjudged" and "3 rounds in the new run" in cell.reasons[0]

    def older(ratio: float, low: float, high: float) -> dict:  # no per-round ratios kept
        row = _paired_row("c", 10.0, ratio)
        del row["timing"]["ratio_samples"]
        row["metrics"].update(paired_ratio_ci_low=low, paired_ratio_ci_high=high)
        return row

    base = older(1.0, 0.97, 1.03)
    (cell,) = compare_runs(_document(base), _document(older(1.3, 1.26, 1.34))).cells
    assert cell.verdict == "regressed" and cell.method == INTERVAL_RULE
    (cell,) = compare_runs(_document(base), _document(older(1.12, 1.02, 1.2))).cells
    assert cell.verdict == "same" and "not significant (needs intervals apart)" in cell.reasons[0]


def test_ratio_samples_are_validated() -> None:
    row = _paired_row("c", 10.0, 1.0)
    assert validate_document(_document(row)) is None
    row["timing"]["ratio_samples"] = [1.0, "fast"]
    problem = validate_document(_document(row))
    assert problem is not None and "results[0].timing.ratio_samples[1]" in problem


# --------------------------------------------------------------------------- reports


def test_unstable_cells_are_marked_counted_and_never_a_win(tmp_path: Path) -> None:
    from suite.reporting.html import render_html
    from suite.reporting.markdown import render_markdown
    from suite.reporting.terminal import print_tables

    reference = _row("ref", [10.0, 10.1, 9.9, 10.0, 10.0])
    reference["reference"] = None
    candidate = _row("cand", [2.0, 6.0, 2.0, 6.0, 4.0], unstable=True, unstable_reason="IQR")
    candidate["reference"] = "ref"
    candidate["metrics"] = {
        "paired_ratio": 0.4,
        "paired_ratio_ci_low": 0.2,
        "paired_ratio_ci_high": 0.6,
    }
    document = _document(reference, candidate)
    document["run"]["load_before"], document["run"]["load_after"] = [6.1, 5.0, 4.0], [5.9, 5, 4]
    assert validate_document(document) is None
    (table,) = build_tables(document)
    row = next(r for r in table.rows if r.component == "cand")
    assert row.unstable and row.ratio == pytest.approx(0.4)  # the paired ratio, not 4 ÷ 10
    assert table.verdict(row) == "unstable"  # never "better"
    cells = dict(zip(table.header(), table.cells(row)))
    assert cells["time ÷ ref"].startswith("~") and cells["median ms ± IQR"].startswith("~")
    assert "paired" in table.ratio_hint
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_tables(document, console)
    assert "1 with unstable timing" in console.file.getvalue()
    assert "1 with unstable timing" in render_markdown(document)
    page = render_html(document, plots=False)
    assert 'candidate ok unstable"' in page and "unstable timing" in page
    line = advice(document)
    assert line is not None and "load 6.1 → 5.9" in line and "--threads 1" in line
    assert "OMP_WAIT_POLICY=PASSIVE" in line and "--benchmark b" in line


# --------------------------------------------------------------------------- under load


@contextlib.contextmanager
def _cpu_burners() -> Iterator[None]:
    """One CPU-bound subprocess per core while the block runs."""
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.5)
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_under_a_synthetic_cpu_load_nothing_is_flagged_falsely(
    timing_host: PluginHost, tmp_path: Path
) -> None:
    """Busy subprocesses on every core: two runs are judged the same or not judged, never
    flagged; a paired ratio of one function with itself stays near 1 or is marked unstable."""
    with _cpu_burners():
        first = _run(timing_host, tmp_path / "first")
        second = _run(timing_host, tmp_path / "second")
        assert main(["compare", str(first), str(second)]) == 0
        run = json.loads(first.read_text())["run"]
        assert run["load_after"][0] > 0

        def work() -> None:
            torch.randn(256, 256).matmul(torch.randn(256, 256))

        paired = time_paired(work, work, rounds=9, max_rounds=36, budget_s=4.0)
        assert paired.unstable_reason is not None or 0.75 < paired.ratio < 1.33
        assert paired.unstable_reason is not None or paired.ci_low <= 1.0 <= paired.ci_high * 1.1


@pytest.mark.slow
def test_a_cpu_load_in_the_second_run_flags_only_the_slowed_component(
    sleepy: object, tmp_path: Path
) -> None:
    """A CPU-burning process per core during the second runs only: every absolute time meets
    another machine, yet identical runs compare clean (exit 0) and a candidate slowed by 30%
    is flagged alone (exit 1), through its paired ratio."""
    run = sleepy.run_sleepy  # type: ignore[attr-defined]
    first = run(tmp_path / "first", base_s=SLEEP_S, reports=False)
    with _cpu_burners():
        second = run(tmp_path / "second", base_s=SLEEP_S, reports=False)
        slowed = run(
            tmp_path / "slowed", slow="sleepy-a", factor=SLOWED, base_s=SLEEP_S, reports=False
        )
    assert main(["compare", str(first), str(second)]) == 0
    comparison = compare_runs(load_results(first), load_results(slowed))
    assert _flagged(comparison) == [("sleepy-a", 4), ("sleepy-a", 8)], _verdicts(comparison)
    assert all(c.basis == PAIRED for c in comparison.regressions)
    assert main(["compare", str(first), str(slowed)]) == 1


def test_explain_quotes_only_stable_timings(
    timing_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from suite.evidence import component_evidence, quoted_time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("suite.evidence.committed_runs_folder", lambda: tmp_path / "none")
    steady = [10.0, 10.1, 9.9, 10.0, 10.0]
    for run_id, finished, unstable in (
        ("shaky", "2026-06-02", True),
        ("calm", "2026-06-01", False),
    ):
        cand = _row(
            "sleepy",
            steady,
            **({"unstable": True, "unstable_reason": "IQR 60%"} if unstable else {}),
        )
        document = _document(cand, _row("sleepy-ref", steady))
        document["run"].update(id=run_id, finished=finished)
        folder = tmp_path / "reports" / run_id
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(document))
    sleepy = next(c for c in timing_host.registry.components() if c.name == "sleepy")
    (source,) = component_evidence(sleepy)
    assert (
        source.run["id"] == "calm"
    )  # the later run's timing is unstable: the stable one is quoted
    shaky = load_results(tmp_path / "reports" / "shaky" / "results.json")["results"][0]
    assert quoted_time(shaky) == "not measured reliably (IQR 60%)"
    assert quoted_time(source.rows[0]) == "10"


def test_the_run_to_run_noise_of_the_other_cells_raises_the_bar() -> None:
    """Two runs of unchanged code move paired ratios by several percent, "significantly" by
    their own tight rounds: the spread over all cells sets the bar, so a 20% move amid ±8%
    noise is not flagged and a 60% one is; with too few cells the bare threshold applies."""
    jitter = [0.92, 1.08, 0.95, 1.05, 1.0] * 4  # 20 unchanged cells, run-to-run noise
    old = _document(
        *(_paired_row(f"c{i}", 10.0, 1.0) for i in range(len(jitter))),
        _paired_row("moved20", 10.0, 1.0),
        _paired_row("moved60", 10.0, 1.0),
    )
    new = _document(
        *(_paired_row(f"c{i}", 10.0 * j, j) for i, j in enumerate(jitter)),
        _paired_row("moved20", 12.0, 1.2),
        _paired_row("moved60", 16.0, 1.6),
    )
    comparison = compare_runs(old, new)
    assert [c.row["component"] for c in comparison.regressions] == ["moved60"]
    assert "run-to-run noise of the paired ratios" in method_line(comparison)
    alone = compare_runs(_document(*old["results"][-2:]), _document(*new["results"][-2:]))
    assert [c.row["component"] for c in alone.regressions] == ["moved20", "moved60"]
