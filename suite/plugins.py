"""Plugin discovery: built-ins from `DEFAULT_PLUGINS`, third parties from the `nlpsuite` entry points.

Each plugin is loaded and called on its own, so a plugin that fails to import, raises in a hook,
or registers something invalid is recorded with its error and skipped; the others keep working.

Environment variables:

* `NLPSUITE_LOAD_PLUGINS`: comma-separated plugin names (built-in module names such as
  `plugins.attention`, or entry-point names); only these load. Set but empty: none load.
* `NLPSUITE_BLOCK_PLUGINS`: comma-separated plugin names never to load.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pluggy

from suite import hookspecs
from suite.registry import Registry

__all__ = ["DEFAULT_PLUGINS", "PluginHost", "PluginRecord", "get_host", "reset"]

DEFAULT_PLUGINS: tuple[str, ...] = (
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


@dataclass
class PluginRecord:
    """One row of `nlpsuite plugins`."""

    name: str
    source: str  # "built-in" or "entry point (dist-name)"
    version: str
    status: str = "ok"  # ok | error | blocked
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # "kind:name"
    benchmarks: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginHost:
    """A plugin manager plus the registry it fills; `get_host()` holds the process-wide one."""

    def __init__(
        self, builtins: Iterable[str] = DEFAULT_PLUGINS, *, entry_points: bool = True
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.records: list[PluginRecord] = []
        self._builtins = tuple(builtins)
        self._entry_points = entry_points
        self._loaded = False

    # ------------------------------------------------------------------ loading
    def load(self) -> PluginHost:
        """Import and call every allowed plugin once; idempotent."""
        if self._loaded:
            return self
        self._loaded = True
        allowed = _names_from_env("NLPSUITE_LOAD_PLUGINS")
        blocked = _names_from_env("NLPSUITE_BLOCK_PLUGINS") or set()
        from suite import __version__

        for module_name in self._builtins:
            record = PluginRecord(module_name, "built-in", __version__)
            if self._skip(record, allowed, blocked):
                continue
            self._load_one(record, functools.partial(importlib.import_module, module_name))
        if self._entry_points:
            for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
                dist = getattr(ep, "dist", None)
                version = dist.version if dist is not None else "?"
                source = f"entry point ({dist.name})" if dist is not None else "entry point"
                record = PluginRecord(ep.name, source, version)
                if self._skip(record, allowed, blocked):
                    continue
                self._load_one(record, ep.load)
        return self

    def register_plugin(
        self, plugin: object, name: str, source: str = "in-process", version: str = ""
    ) -> PluginRecord:
        """Register an already imported plugin object (tests, notebooks, `nlpsuite check file.py`)."""
        self._loaded = True
        record = PluginRecord(name, source, version)
        self._load_one(record, lambda: plugin)
        return record

    def _skip(self, record: PluginRecord, allowed: set[str] | None, blocked: set[str]) -> bool:
        if record.name in blocked or (allowed is not None and record.name not in allowed):
            record.status = "blocked"
            record.error = "not loaded: excluded by NLPSUITE_LOAD_PLUGINS / NLPSUITE_BLOCK_PLUGINS"
            self.records.append(record)
            return True
        return False

    def _load_one(self, record: PluginRecord, loader: Callable[[], object]) -> None:
        self.records.append(record)
        try:
            plugin = loader()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(record, f"import failed: {type(exc).__name__}: {exc}")
            return
        try:
            self.pm.register(plugin, name=record.name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(record, f"invalid hooks: {exc}")
            return
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        error = self._call_register_hooks(plugin, record)
        if error is not None:
            self.pm.unregister(plugin)
            self._fail(record, error)

    def _call_register_hooks(self, plugin: object, record: PluginRecord) -> str | None:
        """Call this plugin's register_* hooks; commit its registrations only if all are valid."""
        staged_components: list[type] = []
        staged_benchmarks: list[type] = []
        staged_topics: list[type] = []
        for hook_name, staged in (
            ("register_components", staged_components),
            ("register_benchmarks", staged_benchmarks),
            ("register_topics", staged_topics),
        ):
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    impl.function(register=staged.append)
                except Exception as exc:
                    return f"{hook_name} raised {type(exc).__name__}: {exc}"
        problem = self.registry.check(staged_components, staged_benchmarks, staged_topics)
        if problem is not None:
            return problem
        self.registry.commit(
            staged_components, staged_benchmarks, owner=record.name, topics=staged_topics
        )
        record.components = [f"{cls.kind}:{cls.name}" for cls in staged_components]  # type: ignore[attr-defined]
        record.benchmarks = [f"{cls.kind}:{cls.name}" for cls in staged_benchmarks]  # type: ignore[attr-defined]
        record.topics = [cls.name for cls in staged_topics]  # type: ignore[attr-defined]
        return None

    @staticmethod
    def _fail(record: PluginRecord, message: str) -> None:
        record.status = "error"
        record.error = message.splitlines()[0] if message else "unknown error"


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide host, loading plugins on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host.load()


def reset(host: PluginHost | None = None) -> None:
    """Replace the process-wide host (tests); `None` means a fresh one on next use."""
    global _host
    _host = host
