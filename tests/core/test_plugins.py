"""Plugin discovery and isolation: each failure mode is reported on its own row and skipped."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

import suite
from suite import hookspecs
from suite.errors import UnknownComponentError
from suite.plugins import DEFAULT_PLUGINS, PluginHost


def _plugin(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


GOOD = """
import suite
from torch import nn

class Good(suite.Norm):
    name = "good-norm"
    summary = "identity"
    reference = None
    def build(self, num_features):
        return nn.Identity()

@suite.hookimpl
def register_components(register):
    register(Good)
"""


def test_builtins_are_listed_as_plugins() -> None:
    assert DEFAULT_PLUGINS == (
        "plugins.tokenizers",
        "plugins.attention",
        "plugins.norms",
        "plugins.losses",
        "plugins.moe",
        "plugins.peft",
        "plugins.positions",
        "plugins.decoding",
        "plugins.collectives",
        "plugins.topics",
    )


def test_good_plugin_registers_components(fresh_host: PluginHost) -> None:
    record = fresh_host.register_plugin(_plugin("good", GOOD), "good")
    assert record.status == "ok", record.error
    assert record.components == ["norm:good-norm"]
    assert suite.get("norm", "good-norm").name == "good-norm"
    assert [c.name for c in suite.components("norm")] == ["good-norm"]


def test_unknown_name_error_lists_known_names(fresh_host: PluginHost) -> None:
    fresh_host.register_plugin(_plugin("good", GOOD), "good")
    with pytest.raises(KeyError, match="known: good-norm"):
        suite.get("norm", "nope")
    with pytest.raises(UnknownComponentError, match="unknown kind"):
        suite.get("nokind", "x")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "raise ImportError('missing dependency foo')",
            "import failed: ImportError: missing dependency foo",
        ),
        (
            "import suite\n@suite.hookimpl\ndef register_components(register):\n    raise ValueError('bad day')",
            "register_components raised ValueError: bad day",
        ),
        (
            "import suite\n@suite.hookimpl\ndef register_componentz(register):\n    pass",
            "invalid hooks: unknown hook 'register_componentz'",
        ),
        (
            "import suite\nclass X(suite.Norm):\n    summary='no name'\n@suite.hookimpl\ndef register_components(register):\n    register(X)",
            "needs a `name`",
        ),
        (
            "import suite\nclass X(suite.Norm):\n    name='x'\n    kind='colour'\n@suite.hookimpl\ndef register_components(register):\n    register(X)",
            "unknown kind 'colour'",
        ),
        (
            "import suite\n@suite.hookimpl\ndef register_components(register):\n    register(42)",
            "expected a class",
        ),
        (
            "import suite\nclass X(suite.Loss):\n    name='x'\n    task='regression'\n@suite.hookimpl\ndef register_components(register):\n    register(X)",
            "`task` must be one of",
        ),
        (
            "import suite\nclass B(suite.Benchmark):\n    name='b'\n    kind='norm'\n    quick_grid={'n': []}\n@suite.hookimpl\ndef register_benchmarks(register):\n    register(B)",
            "quick_grid is empty",
        ),
    ],
    ids=[
        "import-error",
        "hook-raises",
        "misspelled-hook",
        "no-name",
        "unknown-kind",
        "not-a-class",
        "bad-task",
        "empty-grid",
    ],
)
def test_broken_plugin_is_reported_and_skipped(
    fresh_host: PluginHost, source: str, expected: str
) -> None:
    def loader() -> types.ModuleType:
        return _plugin("broken", source)

    broken = fresh_host.records
    fresh_host._load_one(suite.plugins.PluginRecord("broken", "test", "0"), loader)
    good = fresh_host.register_plugin(_plugin("good", GOOD), "good")
    assert broken[0].status == "error"
    assert expected in (broken[0].error or "")
    assert good.status == "ok"
    assert [c.name for c in suite.components()] == ["good-norm"]


def test_duplicate_name_fails_the_second_plugin_only(fresh_host: PluginHost) -> None:
    first = fresh_host.register_plugin(_plugin("first", GOOD), "first")
    second = fresh_host.register_plugin(_plugin("second", GOOD), "second")
    assert first.status == "ok"
    assert second.status == "error"
    assert second.error == "norm 'good-norm' is already registered by first"


def test_partial_registrations_of_a_failing_plugin_are_rolled_back(fresh_host: PluginHost) -> None:
    source = (
        GOOD
        + "\n@suite.hookimpl\ndef register_benchmarks(register):\n    raise RuntimeError('late failure')\n"
    )
    record = fresh_host.register_plugin(_plugin("half", source), "half")
    assert record.status == "error"
    assert suite.components() == []


def test_every_hook_is_documented_and_tested() -> None:
    """Meta-test (as datasette's): each hookspec has a docstring and appears in this test module."""
    this_file = Path(__file__).read_text()
    specs = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert specs == ["register_benchmarks", "register_components", "register_topics"]
    for name in specs:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
        assert f"def {name}(register)" in this_file or name in GOOD + this_file, (
            f"hook {name} is not tested"
        )


def test_register_topics_adds_a_third_party_topic(toy_host: PluginHost) -> None:
    # the toy plugin's `def register_topics(register)` registers one topic, beside its components
    record = next(r for r in toy_host.records if r.name == "toy")
    assert record.topics == ["toy-mean-spread"]
    assert [t.name for t in suite.list_topics("statistics")] == ["toy-mean-spread"]


def test_an_invalid_topic_fails_its_plugin_only(fresh_host: PluginHost) -> None:
    source = GOOD + textwrap.dedent(
        """
        class NoExperiment(suite.Topic):
            name = "no-experiment"
            area = "attention"
            question = "Why?"

        @suite.hookimpl
        def register_topics(register):
            register(NoExperiment)
        """
    )
    record = fresh_host.register_plugin(_plugin("topicless", source), "topicless")
    assert record.status == "error"
    assert "does not implement experiment" in (record.error or "")
    assert suite.components() == []


def _write_distribution(root: Path, dist: str, entry_name: str, module: str, source: str) -> None:
    """A minimal installed distribution (dist-info + module) that importlib.metadata can find."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[nlpsuite]\n{entry_name} = {module}\n")


def test_entry_point_plugins_are_discovered_and_isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(tmp_path, "good_dist", "goodplug", "goodplug_mod", GOOD)
    _write_distribution(
        tmp_path, "bad_dist", "badplug", "badplug_mod", "raise RuntimeError('cannot import me')"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("goodplug_mod", "badplug_mod"):
        sys.modules.pop(module, None)
    host = PluginHost(builtins=(), entry_points=True).load()
    records = {r.name: r for r in host.records}
    assert records["goodplug"].status == "ok"
    assert records["goodplug"].source == "entry point (good_dist)"
    assert records["goodplug"].version == "1.2.3"
    assert records["badplug"].status == "error"
    assert "cannot import me" in (records["badplug"].error or "")
    assert host.registry.get("norm", "good-norm").name == "good-norm"


def test_load_plugins_env_allow_and_block_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(tmp_path, "good_dist", "goodplug", "goodplug_mod", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NLPSUITE_LOAD_PLUGINS", "plugins.norms")
    host = PluginHost(builtins=("plugins.norms", "plugins.attention"), entry_points=True).load()
    status = {r.name: r.status for r in host.records}
    assert status["plugins.attention"] == "blocked"
    assert status["goodplug"] == "blocked"
    monkeypatch.delenv("NLPSUITE_LOAD_PLUGINS")
    monkeypatch.setenv("NLPSUITE_BLOCK_PLUGINS", "goodplug")
    host = PluginHost(builtins=(), entry_points=True).load()
    assert {r.name: r.status for r in host.records}["goodplug"] == "blocked"


def test_load_is_idempotent(fresh_host: PluginHost) -> None:
    fresh_host.load()
    fresh_host.load()
    assert fresh_host.records == []
