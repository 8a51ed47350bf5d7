"""Fixtures for the engine tests: the toy plugin, in-process and as an installed entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from suite.plugins import PluginHost

HERE = Path(__file__).parent


@pytest.fixture
def toy_host(fresh_host: PluginHost) -> Iterator[PluginHost]:
    """The process-wide host with only the toy plugin registered."""
    sys.path.insert(0, str(HERE))
    try:
        import toy_plugin

        fresh_host.register_plugin(toy_plugin, "toy")
        yield fresh_host
    finally:
        sys.path.remove(str(HERE))


@pytest.fixture
def toy_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess `python -m suite` that sees the toy plugin as an installed entry point."""
    site = tmp_path / "site"
    info = site / "toy_dist-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy_dist\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[nlpsuite]\ntoy = toy_plugin\n")
    env = dict(os.environ)
    root = HERE.parent.parent
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(HERE), str(root), env.get("PYTHONPATH", "")]
    )
    env["NLPSUITE_LOAD_PLUGINS"] = "toy"
    env["COLUMNS"] = "200"
    return env
