"""nlpsuite: implement the classic NLP building blocks, prove them right, measure them.

Public API: the five component base classes, `Benchmark`, the `hookimpl` marker for plugins,
and the look-ups `components()`, `get()` and `benchmarks()` over every loaded plugin.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Imported eagerly on purpose: the function `components()` below must be defined after the
# submodule `suite.components` is loaded, or the import system would replace it with the module.
from suite.benchmark import Benchmark, Measurement, RunContext
from suite.components import KINDS, Attention, Component, Loss, MoE, MoEOutput, Norm, Tokenizer
from suite.hookspecs import hookimpl
from suite.timing import Timing

__all__ = [
    "KINDS",
    "Attention",
    "Benchmark",
    "Component",
    "Loss",
    "Measurement",
    "MoE",
    "MoEOutput",
    "Norm",
    "RunContext",
    "Timing",
    "Tokenizer",
    "__version__",
    "benchmarks",
    "components",
    "get",
    "hookimpl",
]


def components(kind: str | None = None) -> list[type[Component]]:
    """Every registered component class (of `kind` if given), references first within a kind."""
    from suite.plugins import get_host

    return get_host().registry.components(kind)


def get(kind: str, name: str) -> type[Component]:
    """The component class `name` of `kind`; a `KeyError` naming the known names when absent."""
    from suite.plugins import get_host

    return get_host().registry.get(kind, name)


def benchmarks(kind: str | None = None) -> list[type[Benchmark]]:
    """Every registered benchmark class (of `kind` if given)."""
    from suite.plugins import get_host

    return get_host().registry.benchmarks(kind)
