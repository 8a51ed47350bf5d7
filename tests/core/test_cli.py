"""The CLI: usage errors exit 2 with one line and no traceback; the commands print what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from suite.cli import main
from suite.plugins import PluginHost


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--kind", "colour"], "unknown kind 'colour'"),
        (["run", "--component", "nope"], "unknown component 'nope'"),
        (["run", "--benchmark", "nope"], "unknown benchmark 'nope'"),
        (["run", "--corpus", "does-not-exist.txt"], "--corpus: no such file"),
        (["list", "colour"], "unknown kind 'colour'"),
        (["explain", "nope"], "no topic, area or component 'nope'"),
        (["run", "--resume", "--out", "nowhere-at-all"], "no results.json"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nlpsuite: error: ")
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_non_utf8_corpus_is_a_usage_error(
    toy_host: PluginHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("café".encode("latin-1"))
    assert main(["run", "--corpus", str(corpus)]) == 2
    assert "is not UTF-8" in capsys.readouterr().err


def test_bad_flag_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-flag"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unrecognized arguments: --no-such-flag" in err[0]


def test_device_choice_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--device", "tpu"])
    assert "invalid choice" in capsys.readouterr().err


def test_plugins_json_lists_status(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["name"] == "toy" and records[0]["status"] == "ok"
    assert records[0]["components"] == ["norm:toy-ref", "norm:toy-scratch"]


def test_list_shows_components_with_their_reference(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "norm"]) == 0
    out = capsys.readouterr().out
    assert "toy-scratch" in out and "toy-ref" in out and "toy-bench" in out


def test_explain_prints_the_concept_card(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "toy-scratch"]) == 0
    assert "(x - mean) / sqrt(var + eps)" in capsys.readouterr().out


def test_env_reports_torch_and_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "cuda available" in out


def test_python_dash_m_suite_is_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "suite", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert "nlpsuite" in done.stdout and "run" in done.stdout


def test_broken_entry_point_does_not_stop_any_command(
    tmp_path: Path, toy_env: dict[str, str]
) -> None:
    site = Path(toy_env["PYTHONPATH"].split(":")[0])
    info = site / "broken_dist-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken_dist\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[nlpsuite]\nbroken = module_that_is_not_there\n")
    env = {**toy_env, "NLPSUITE_LOAD_PLUGINS": "toy,broken"}
    for argv in (
        ["plugins"],
        ["list"],
        [
            "run",
            "--quick",
            "--benchmark",
            "toy-bench",
            "--component",
            "toy-scratch",
            "--out",
            str(tmp_path / "r"),
        ],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "suite", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), (argv, done.stderr)
        if argv == ["plugins"]:
            assert "module_that_is_not_there" in done.stdout and "toy" in done.stdout


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_run_out_that_is_a_file_exits_2_with_one_line(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a-file").write_text("not a folder")
    out = "a-file" if where == "file" else "a-file/run"
    assert main(["run", "--quick", "--benchmark", "toy-slow", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nlpsuite: error: --out: ")
    assert "not a folder" in err[0]


def test_run_and_report_share_the_output_folder_check(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    assert main(["run", "--quick", "--benchmark", "toy-slow", "--out", "r"]) == 0
    Path("a-file").write_text("not a folder")
    capsys.readouterr()
    assert main(["report", "r/results.json", "--out", "a-file/sub"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1]
        == "nlpsuite: error: --out: cannot create a-file/sub: a-file is a file, not a folder"
    )


def test_run_header_names_the_corpus_and_warns(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    Path("tiny.txt").write_bytes(b"hello\n")
    bench_cls = next(b for b in toy_host.registry.benchmarks("norm") if b.name == "toy-slow")
    monkeypatch.setattr(
        bench_cls, "input_warnings", lambda self, params, ctx: ["tiny input"], raising=False
    )
    argv = ["run", "--quick", "--benchmark", "toy-slow", "--corpus", "tiny.txt", "--out", "r"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"corpus {tmp_path / 'tiny.txt'} (6 bytes, sha256 5891b5b522d5)" in err
    assert err.count("warning: tiny input") == 1


def test_resume_of_a_complete_run_says_nothing_to_do(
    toy_host: PluginHost,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOY_SLEEP_S", "0")
    assert main(["run", "--quick", "--benchmark", "toy-slow", "--out", "r"]) == 0
    before = Path("r/results.json").read_bytes()
    capsys.readouterr()
    assert main(["run", "--resume", "--out", "r"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert Path("r/results.json").read_bytes() == before


def test_list_names_a_plugin_that_failed(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    import suite

    class Broken:
        @suite.hookimpl
        def register_components(self, register: object) -> None:
            raise RuntimeError("cannot find my weights")

    toy_host.register_plugin(Broken(), "broken-plugin")
    assert main(["list", "norm"]) == 0
    err = capsys.readouterr().err
    assert "plugin broken-plugin skipped" in err and "cannot find my weights" in err


def test_component_and_benchmark_of_different_kinds_exit_2(
    toy_host: PluginHost, capsys: pytest.CaptureFixture[str]
) -> None:
    import suite

    class LossThing(suite.Benchmark):
        name = "loss-thing"
        kind = "loss"
        summary = "a loss benchmark"
        quick_grid = {"n": [1]}

    toy_host.registry.commit([], [LossThing], owner="test")
    assert main(["run", "--component", "toy-scratch", "--benchmark", "loss-thing"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "component 'toy-scratch' is a norm but benchmark 'loss-thing' measures losses" in err[0]
