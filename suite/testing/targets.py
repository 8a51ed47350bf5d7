"""What `nlpsuite check TARGET` and `pytest --nlpsuite-check TARGET` accept, turned into classes.

* `kind:name`: a registered component (built-in or installed plugin), `kind:*` all of a kind;
* `path/to/file.py`: the file is imported, then registered as a plugin into a fresh
  `PluginHost`, so its `register_components` hook is called exactly as nlpsuite would;
* `package.module`: imported and registered the same way.

A file or module without a `register_components` hook is accepted too: its component classes
(subclasses of the five base classes defined in that module, with a `name`) are collected, so
the file `nlpsuite practice` writes can be checked before it grows a hook.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from suite.errors import UnknownComponentError, UsageError
from suite.kinds import KINDS, Component, base_class_for, validate_component_class

__all__ = ["LoadedTarget", "load_target", "module_components"]


@dataclass
class LoadedTarget:
    """The component classes a target provides, and where they came from."""

    target: str
    components: list[type[Component]]
    source: str  # "registry", "hook", "classes"


def load_target(target: str) -> LoadedTarget:
    """Resolve TARGET (see the module docstring); `UsageError` with one line when it cannot."""
    kind, sep, name = target.partition(":")
    if sep and kind in KINDS and not Path(target).exists():
        return LoadedTarget(target, _registered(kind, name), "registry")
    if target.endswith(".py") or Path(target).is_file():
        module = _import_file(Path(target))
    else:
        module = _import_module(target)
    components, source = module_components(module)
    if not components:
        raise UsageError(
            f"{target} registers no components: add a register_components hook or define a subclass of suite.Attention, suite.Tokenizer, ..."
        )
    return LoadedTarget(target, components, source)


def module_components(module: ModuleType) -> tuple[list[type[Component]], str]:
    """The classes `module` registers through its hook, else the component classes it defines."""
    from suite.plugins import PluginHost

    host = PluginHost(builtins=(), entry_points=False)
    record = host.register_plugin(module, name=module.__name__, source="checked target")
    if record.status == "error":
        raise UsageError(f"{module.__name__}: {record.error}")
    if "register_components" in record.hooks:
        return host.registry.components(), "hook"
    bases = {base_class_for(kind) for kind in KINDS}
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Component)
        and obj not in bases
        and obj.__module__ == module.__name__
        and "name" in vars(obj)
        and validate_component_class(obj) is None
    ]
    return found, "classes"


def _registered(kind: str, name: str) -> list[type[Component]]:
    import suite

    if name in ("*", "all"):
        found = suite.components(kind)
        if not found:
            raise UsageError(f"no {kind} components are registered")
        return found
    try:
        return [suite.get(kind, name)]
    except UnknownComponentError as exc:
        raise UsageError(str(exc)) from None


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]  # two files, one stem
    module_name = f"_nlpsuite_target_{path.stem.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise UsageError(
            f"cannot import {path}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UsageError(
                f"{name!r} is not a file, an importable module, or kind:name (kinds: {', '.join(KINDS)})"
            ) from None
        raise UsageError(f"cannot import {name}: ModuleNotFoundError: {_first_line(exc)}") from None
    except Exception as exc:
        raise UsageError(
            f"cannot import {name}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""
