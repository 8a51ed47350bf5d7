"""nlpsuite: implement the classic NLP building blocks, prove them right, measure them.

Public API: the component base classes, `Benchmark`, `Topic` (with `Evidence`, `Claim`), the `hookimpl` marker for plugins,
and the look-ups `components()`, `get()` and `benchmarks()` over every loaded plugin.
"""

from __future__ import annotations

__version__ = "0.1.0"

from suite.benchmark import Benchmark, Measurement, RunContext
from suite.hookspecs import hookimpl
from suite.kinds import (
    KINDS,
    PEFT,
    Attention,
    Collective,
    Component,
    Decoder,
    Loss,
    MoE,
    MoEOutput,
    Norm,
    PositionalEncoding,
    Tokenizer,
)
from suite.series import Series
from suite.timing import Timing
from suite.topics import Claim, Evidence, Topic, TopicContext

__all__ = [
    "KINDS",
    "PEFT",
    "Attention",
    "Benchmark",
    "Claim",
    "Collective",
    "Component",
    "Decoder",
    "Evidence",
    "Loss",
    "Measurement",
    "MoE",
    "MoEOutput",
    "Norm",
    "PositionalEncoding",
    "RunContext",
    "Series",
    "Timing",
    "Tokenizer",
    "Topic",
    "TopicContext",
    "__version__",
    "benchmarks",
    "components",
    "get",
    "hookimpl",
    "list_topics",
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


def list_topics(area: str | None = None) -> list[type[Topic]]:
    """Every registered interview topic (of `area` if given); `suite.topics` is the module."""
    from suite.plugins import get_host

    return get_host().registry.topics(area)
