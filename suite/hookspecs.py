"""The hooks a plugin may implement. Both pluggy markers live here.

A plugin is a module (or object) with functions decorated by `suite.hookimpl` whose names match
the specs below. Hooks receive a `register` callback, so that the host validates, de-duplicates
and attributes every registration in one place, and one bad plugin never hides the others.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "nlpsuite"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "register_benchmarks",
    "register_components",
    "register_topics",
]


@hookspec
def register_components(register: Callable[[type], None]) -> None:
    """Called once when plugins load. Call `register(cls)` once per component class.

    `cls` subclasses one of `suite.Tokenizer`, `suite.Attention`, `suite.Norm`, `suite.Loss`,
    `suite.MoE` and sets `kind`, `name`, `summary` and `reference`. A class with a missing or
    duplicate name or an unknown kind makes the whole plugin fail to load, with that error shown
    by `nlpsuite plugins`.
    """


@hookspec
def register_benchmarks(register: Callable[[type], None]) -> None:
    """Called once when plugins load. Call `register(cls)` once per `suite.Benchmark` subclass.

    A benchmark declares the component `kind` it applies to, a `quick_grid` and a `full_grid` of
    parameter points, and measures one component at one point in `run`.
    """


@hookspec
def register_topics(register: Callable[[type], None]) -> None:
    """Called once when plugins load. Call `register(cls)` once per `suite.Topic` subclass.

    A topic is an interview question with a card (its docstring) and an `experiment(ctx)` that
    proves the answer on the spot; `nlpsuite explain NAME` runs it and `nlpsuite quiz` asks it.
    """
