"""The plugins a remote worker must load to run a run's cells, and loading them there.

The driver's registry cannot travel to a worker (its classes come from plugins the worker must
import itself), so the driver names, for every plugin owning a component, a reference or a
benchmark of the cells, what to import: a built-in's module, an entry point's target
(`my_pkg.plugin` or `my_pkg.plugin:obj`), or the module of a plugin registered in-process. The
worker imports each, registers it in a registry of its own through the same checks as the
driver, and looks the cells up there by name. A plugin the worker cannot import is named with
its error, so that the user knows what to install on the cluster.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from suite.errors import UsageError

if TYPE_CHECKING:
    from suite.benchmark import Benchmark
    from suite.plugins import PluginHost
    from suite.registry import Registry
    from suite.runner import Cell

__all__ = ["PluginSpec", "WorkerRegistry", "cell_spec", "plugin_specs"]


@dataclass(frozen=True)
class PluginSpec:
    """What a worker imports to load one plugin: `target` is `module` or `module:attribute`."""

    name: str
    target: str
    source: str  # as `nlpsuite plugins` shows it: built-in, entry point (dist), in-process


def cell_spec(cell: Cell) -> dict[str, Any]:
    """The cell by names, as it travels to a worker."""
    return {
        "kind": cell.component.kind,
        "component": cell.component.name,
        "benchmark": cell.benchmark.name,
        "params": dict(cell.params),
    }


def plugin_specs(host: PluginHost, registry: Registry, cells: Sequence[Cell]) -> list[PluginSpec]:
    """The plugins owning what `cells` use, in loading order; a usage error for one that a
    worker could not import by name (registered in-process from `__main__`, or not by a plugin)."""
    needed: dict[str, str] = {}  # plugin name -> what needs it
    for cell in cells:
        wanted: list[tuple[str, Any]] = [
            ("component", cell.component),
            ("benchmark", cell.benchmark),
        ]
        if cell.reference is not None:
            wanted.append(("component", cell.reference))
        for what, item in wanted:
            label = f"{item.kind}:{item.name}" if what == "component" else item.name
            owner = registry.owner.get((what, label))
            if owner is None:
                raise UsageError(
                    f"{what} {label!r} was not registered by a plugin, so remote workers cannot"
                    " load it; register it from a plugin module (see `nlpsuite plugins`)"
                )
            needed.setdefault(owner, f"{what} {label!r}")
    loaded = [record for record in host.records if record.status == "ok"]
    missing = [name for name in needed if name not in {record.name for record in loaded}]
    if missing:
        raise UsageError(
            f"{needed[missing[0]]} comes from {missing[0]!r}, which is not a loaded plugin here,"
            " so remote workers cannot load it"
        )
    specs = [
        _spec(host, record.name, record.source, needed[record.name])
        for record in loaded
        if record.name in needed
    ]
    return specs


def _spec(host: PluginHost, name: str, source: str, needed_for: str) -> PluginSpec:
    if source == "built-in":
        return PluginSpec(name, name, source)
    if source.startswith("entry point"):
        for ep in importlib.metadata.entry_points(group="nlpsuite", name=name):
            return PluginSpec(name, ep.value, source)
    plugin = host.pm.get_plugin(name)
    if isinstance(plugin, types.ModuleType):
        target = plugin.__name__
    else:
        module = getattr(plugin, "__module__", None)
        qualname = getattr(plugin, "__qualname__", None)
        target = f"{module}:{qualname}" if module and qualname else ""
    if not target or target.startswith("__main__") or "<locals>" in target:
        raise UsageError(
            f"plugin {name!r} (for {needed_for}) was registered in-process as an object remote"
            " workers cannot import; make it an installed plugin module"
        )
    return PluginSpec(name, target, source)


def _import_target(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in attribute.strip().split(".") if attribute.strip() else []:
        obj = getattr(obj, part)
    return obj


class WorkerRegistry:
    """The registry a worker builds from `PluginSpec`s; `problems` names each plugin that failed."""

    def __init__(self, specs: Sequence[PluginSpec]) -> None:
        from suite.plugins import PluginHost

        self.host = PluginHost(builtins=(), entry_points=False)
        self.problems: list[str] = []
        self._benchmarks: dict[str, Benchmark] = {}
        for spec in specs:
            try:
                plugin = _import_target(spec.target)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                self.problems.append(
                    f"plugin {spec.name!r} ({spec.source}: {spec.target}) cannot be imported on"
                    f" the worker: {type(exc).__name__}: {first}"
                )
                continue
            record = self.host.register_plugin(plugin, spec.name, spec.source)
            if record.status != "ok":
                self.problems.append(f"plugin {spec.name!r} failed on the worker: {record.error}")

    def cell(self, spec: dict[str, Any]) -> Cell:
        """The cell `spec` names, with its reference resolved here; a `LookupError` naming the
        plugin problems when its component or benchmark is not here."""
        from suite.runner import Cell

        registry = self.host.registry
        try:
            component = registry.get(spec["kind"], spec["component"])
            benchmark = self._benchmarks.get(spec["benchmark"])
            if benchmark is None:
                found = [b for b in registry.benchmarks() if b.name == spec["benchmark"]]
                if not found:
                    raise KeyError(f"no benchmark named {spec['benchmark']!r}")
                benchmark = self._benchmarks.setdefault(spec["benchmark"], found[0]())
        except KeyError as exc:
            why = "; ".join(self.problems) or "its plugin registered something else here"
            what = str(exc).strip("'")
            raise LookupError(f"{what} on the worker: {why}") from None
        return Cell(component, benchmark, spec["params"], registry.reference_of(component))
