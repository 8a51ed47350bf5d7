"""Benchmarks: one class measures one component at one parameter point and returns metrics.

A benchmark declares the component `kind` it applies to, a `quick_grid` (seconds on a CPU) and
a `full_grid` (for a GPU), and implements `run(component_cls, params, ctx)`; `ctx.reference` is
the component's reference class, resolved by the runner from the run's registry. It returns a
`Measurement` (metrics plus optional timing and peak memory) or a plain `dict` of metrics. The
runner seeds everything before each cell, catches every exception, and rejects NaN metrics,
so a benchmark only has to measure.

`ratio_metric` names the number the tables put side by side with the reference as a ratio
(`median_ms` by default: the cell's timing); `higher_is_better` says how to read it.

A timing benchmark whose figure is a ratio to the reference times both in the same cell with
`ctx.time_paired(fn, reference_fn)` (alternating rounds, see `suite.timing`) and reports
`paired.metrics()`; the tables then show that paired ratio. Before it times anything it passes
the component's output through `check_output` (NaN/inf, and agreement with the reference at a
loose tolerance where that is cheap): a wrong output is an error row, never a fast result.

`plots` declares the figures the HTML report draws for the benchmark, in order (recorded in
`run.benchmarks`, so that `nlpsuite report` draws them without the plugin):

    "ratio"           the ratio metric against the swept parameter (log-log when it spans
                      sizes), or bars per component when nothing is swept
    "memory"          peak memory, the same way: the figure to put beside a timing sweep
    "metric:<name>"   a metric of the cell, the same way (`metric:bytes_per_token`)
    "metrics:<prefix>" bars of every metric named `<prefix>…`, per component
                      (`metrics:tokens_per_char` for one bar per script)
    a series kind     the series the cells attach with that `plot` (`suite.series.PLOT_KINDS`:
                      "roc", "pr", "line", "loglog", "bars")

Empty (the default) means "ratio" followed by the kinds of whatever series the cells attach.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from suite.errors import CellError
from suite.kinds import KINDS, NAME_PATTERN, Component
from suite.series import PLOT_KINDS, Series
from suite.timing import PairedTiming, Timing, measure_peak_memory, time_function, time_paired

__all__ = [
    "Benchmark",
    "Measurement",
    "RunContext",
    "check_output",
    "expand_grid",
    "is_plot_name",
    "validate_benchmark_class",
]


@dataclass
class Measurement:
    """What one cell measured. Metric names are snake_case with their unit (`encode_mb_per_s`)."""

    metrics: dict[str, float] = field(default_factory=dict)
    timing: Timing | None = None
    peak_bytes: int | None = None
    #: Curves beside the metrics (ROC, a training loss, the load per expert): `suite.series`.
    series: list[Series] = field(default_factory=list)


@dataclass
class RunContext:
    """What a benchmark may use: the device, the seed, the grid size, user options, timing helpers."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    quick: bool = True
    corpus_path: Path | None = None  # --corpus FILE: the user's own text for text benchmarks
    #: The component's reference class, resolved once per cell by the runner from the run's
    #: registry (`Registry.reference_of`); `None` for a reference or an unregistered one.
    reference: type[Component] | None = None
    warmup: int = 2
    repeats: int = 7
    budget_s: float = 2.0  # stop repeating once a cell's timing has taken this long (min 3 repeats)
    adapt: int = 4  # an unstable timing gets up to adapt × repeats, within budget_s

    def time(
        self, fn: Callable[[], Any], *, repeats: int | None = None, warmup: int | None = None
    ) -> Timing:
        """Median time of `fn()` on this device: warm-up, repeats, synchronised (see suite.timing)."""
        repeats = self.repeats if repeats is None else repeats
        return time_function(
            fn,
            device=self.device,
            warmup=self.warmup if warmup is None else warmup,
            repeats=repeats,
            budget_s=self.budget_s,
            max_repeats=repeats * self.adapt,
        )

    def time_paired(
        self,
        fn: Callable[[], Any],
        reference_fn: Callable[[], Any],
        *,
        rounds: int | None = None,
        warmup: int | None = None,
    ) -> PairedTiming:
        """`fn` and `reference_fn` timed in alternating rounds of this cell (see suite.timing):
        `.timing` is fn's, `.metrics()` the median per-round ratio and its bootstrap interval."""
        rounds = self.repeats if rounds is None else rounds
        return time_paired(
            fn,
            reference_fn,
            device=self.device,
            warmup=self.warmup if warmup is None else warmup,
            rounds=rounds,
            budget_s=2 * self.budget_s,  # two functions per round
            max_rounds=rounds * self.adapt,
            seed=self.seed,
        )

    def peak_memory(self, fn: Callable[[], Any]) -> int | None:
        """Peak bytes allocated while `fn()` runs once (GPU allocator or process RSS growth)."""
        return measure_peak_memory(fn, device=self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run seed, so every component sees the same data."""
        return torch.Generator().manual_seed(self.seed + offset)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tensors(item)]
    return []


def check_output(
    output: Any,
    expected: Any = None,
    *,
    what: str = "output",
    rtol: float = 1e-2,
    atol: float = 1e-2,
) -> None:
    """Raise `CellError` when `output` (a tensor or a sequence of them) holds NaN/inf, or, with
    `expected`, differs from it beyond `atol + rtol·|expected|`: a timing benchmark calls this
    before timing, so that a broken component becomes an error row and not a fast result."""
    outputs = _tensors(output)
    if not outputs:
        raise CellError(f"{what} is {type(output).__name__}, not a tensor")
    for index, tensor in enumerate(outputs):
        shown = what if len(outputs) == 1 else f"{what}[{index}]"
        bad = int((~torch.isfinite(tensor.detach())).sum()) if tensor.is_floating_point() else 0
        if bad:
            raise CellError(f"{shown} has {bad} NaN/inf of {tensor.numel()} values: not timed")
    for index, (got, want) in enumerate(zip(outputs, _tensors(expected))):
        shown = what if len(outputs) == 1 else f"{what}[{index}]"
        if got.shape != want.shape:
            raise CellError(
                f"{shown} has shape {tuple(got.shape)}, the reference {tuple(want.shape)}: not timed"
            )
        got64, want64 = got.detach().double(), want.detach().double().to(got.device)
        error = (got64 - want64).abs()
        if got.numel() and bool((error > atol + rtol * want64.abs()).any()):
            raise CellError(
                f"{shown} differs from the reference by up to {float(error.max()):.3g} "
                f"(tolerance {atol:g} + {rtol:g}·|ref|): not timed"
            )


class Benchmark:
    """Base class of every benchmark; subclass it and register it with `register_benchmarks`."""

    name: ClassVar[str]
    kind: ClassVar[str]
    summary: ClassVar[str] = ""
    quick_grid: ClassVar[Mapping[str, Iterable[Any]] | list[dict[str, Any]]] = {}
    full_grid: ClassVar[Mapping[str, Iterable[Any]] | list[dict[str, Any]] | None] = None
    ratio_metric: ClassVar[str | None] = "median_ms"
    higher_is_better: ClassVar[bool] = False
    plots: ClassVar[tuple[str, ...]] = ()  # the report's figures; see the module docstring

    def applies_to(self, component_cls: type[Component]) -> bool:
        """Whether this benchmark can measure `component_cls` (e.g. a loss of the right task)."""
        return True

    def input_warnings(self, params: dict[str, Any], ctx: RunContext) -> list[str]:
        """One-line warnings about the inputs at this parameter point, before anything runs.

        For what the parameters ask and the inputs cannot give (a `--corpus` too small for the
        vocabulary or the slice asked, no text left to hold out). The runner prints each
        distinct line once and records it in `run.warnings`. Default: none.
        """
        return []

    def params(self, quick: bool) -> list[dict[str, Any]]:
        """The parameter points of the quick or the full grid."""
        grid = self.quick_grid if quick or self.full_grid is None else self.full_grid
        return expand_grid(grid)

    def run(
        self, component_cls: type[Component], params: dict[str, Any], ctx: RunContext
    ) -> Measurement | dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")


def expand_grid(grid: Mapping[str, Iterable[Any]] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`{"a": [1, 2], "b": [3]}` -> `[{"a": 1, "b": 3}, {"a": 2, "b": 3}]`; a list passes through."""
    if isinstance(grid, list):
        return [dict(point) for point in grid]
    keys = list(grid)
    values = [list(grid[key]) for key in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def validate_benchmark_class(cls: object) -> str | None:
    """Why `cls` cannot be registered as a benchmark, or `None` when it can."""
    if not isinstance(cls, type) or not issubclass(cls, Benchmark):
        return f"expected a subclass of suite.Benchmark, got {cls!r}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return (
            f"{cls.__qualname__} needs a `name` of lowercase words joined by dashes, got {name!r}"
        )
    if getattr(cls, "kind", None) not in KINDS:
        return f"benchmark {name!r} has unknown kind {getattr(cls, 'kind', None)!r}; kinds are {', '.join(KINDS)}"
    try:
        points = expand_grid(cls.quick_grid)
    except Exception as exc:
        return f"benchmark {name!r}: quick_grid is not a grid ({exc})"
    if not points:
        return f"benchmark {name!r}: quick_grid is empty"
    plots = getattr(cls, "plots", ())
    if not isinstance(plots, tuple) or not all(isinstance(p, str) for p in plots):
        return f"benchmark {name!r}: plots must be a tuple of strings, got {plots!r}"
    for plot in plots:
        if not is_plot_name(plot):
            return (
                f"benchmark {name!r}: unknown plot {plot!r}; plots are ratio, memory, "
                f"metric:<name>, metrics:<prefix> or a series kind ({', '.join(PLOT_KINDS)})"
            )
    return None


def is_plot_name(plot: str) -> bool:
    """Whether `plot` is one of the names `Benchmark.plots` accepts (module docstring)."""
    head, _, tail = plot.partition(":")
    if head in ("metric", "metrics"):
        return bool(tail)
    return not tail and (plot in ("ratio", "memory") or plot in PLOT_KINDS)
