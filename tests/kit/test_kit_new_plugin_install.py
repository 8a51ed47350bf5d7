"""End to end: `nlpsuite new-plugin`, pip-installed into a fresh virtual environment, passes its
own generated tests and shows in `nlpsuite list` and `nlpsuite plugins`. Slow (a venv and a pip
install); nothing is downloaded: the venv sees this environment's packages, and pip installs the
plugin alone (--no-deps, --no-build-isolation)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from suite.commands.new_plugin import create_plugin

REPO = Path(__file__).resolve().parents[2]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


@pytest.mark.slow
def test_new_plugin_installs_passes_its_tests_and_is_listed(tmp_path: Path) -> None:
    folder = create_plugin("kit-installed", tmp_path / "nlpsuite-kit-installed")
    venv = tmp_path / "venv"
    _run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        tmp_path,
    )
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
        ).stdout.strip()
    )
    # see this environment's packages (torch, pytest, pip, setuptools, nlpsuite) and the project's sources
    here = sysconfig.get_paths()["purelib"]
    (site / "_nlpsuite_parent_env.pth").write_text(
        f"import site; site.addsitedir({here!r})\n{REPO}\n"
    )
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--quiet",
    ]
    _run([*pip, "-e", str(REPO)], tmp_path)  # nlpsuite's current metadata: the pytest11 entry point
    _run([*pip, "-e", str(folder)], tmp_path)

    tests = _run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests",
            "--nlpsuite-examples",
            "10",
        ],
        folder,
    )
    assert "failed" not in tests.stdout and "skipped" not in tests.stdout, tests.stdout
    listed = _run([str(python), "-m", "suite", "list", "attention"], tmp_path)
    assert "kit-installed" in listed.stdout
    plugins = _run([str(python), "-m", "suite", "plugins", "--json"], tmp_path)
    assert '"name": "kit-installed"' in plugins.stdout and '"status": "ok"' in plugins.stdout
    checked = _run(
        [
            str(python),
            "-m",
            "suite",
            "check",
            "attention:kit-installed",
            "--examples",
            "5",
            "--no-timing",
        ],
        tmp_path,
    )
    assert "conforms" in checked.stdout
