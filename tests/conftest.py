"""Shared fixtures: a fresh plugin host per test, so tests never leak registrations into each other."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from suite import plugins


@pytest.fixture
def fresh_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins.PluginHost]:
    """An empty `PluginHost` installed as the process-wide host for the test, then removed."""
    monkeypatch.delenv("NLPSUITE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("NLPSUITE_BLOCK_PLUGINS", raising=False)
    host = plugins.PluginHost(builtins=(), entry_points=False)
    plugins.reset(host)
    try:
        yield host
    finally:
        plugins.reset(None)


@pytest.fixture(autouse=True)
def _no_plugin_env_leak() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("NLPSUITE_LOAD_PLUGINS", "NLPSUITE_BLOCK_PLUGINS")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
