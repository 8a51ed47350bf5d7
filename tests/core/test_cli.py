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
