"""Which committed or local run a component card quotes, chosen on purpose and named.

A component card (`nlpsuite explain kind:name`) shows the figures a benchmark run measured for
the component beside its reference. Which run is a decision, not an accident of file times:

* `--results FILE` names the run: only that file is read;
* otherwise every `results.json` under `./reports/` and under the project's committed runs
  (`reports/committed/` beside the installed package, so a fresh clone shows the same figures
  from any directory) is a candidate, and for each benchmark the card picks the run that
  measured it on the full grid rather than `--quick`, then the one that finished last by its
  recorded `run.finished` (never the file's modification time).

Each table then says which run and file it came from.

Only stable timings are quoted: a row whose timing is marked unstable (its repeats spread too
much, see `suite.noise`) shows why instead of a time (`quoted_time`), and among runs of equal
grid a run whose timings of the component are all stable is preferred to a later shaky one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.kinds import Component
from suite.noise import is_unstable
from suite.results import load_results

__all__ = [
    "EvidenceSource",
    "candidate_paths",
    "committed_runs_folder",
    "component_evidence",
    "quoted_time",
]


@dataclass
class EvidenceSource:
    """The rows of one benchmark for a component and its reference, and the run they came from."""

    benchmark: str
    path: Path
    run: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def shown_path(self) -> str:
        """The path relative to the current folder when it lies under it."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    @property
    def quick(self) -> bool:
        return "--quick" in (self.run.get("argv") or [])


def committed_runs_folder() -> Path:
    """`reports/committed/` of the source checkout the package runs from (may not exist)."""
    import suite

    return Path(suite.__file__).resolve().parent.parent / "reports" / "committed"


def candidate_paths(explicit: Path | None = None) -> list[Path]:
    """`explicit` alone, else the results files under ./reports and the committed runs."""
    if explicit is not None:
        return [explicit]
    found: dict[Path, None] = {}
    for root in (Path("reports"), committed_runs_folder()):
        if root.is_dir():
            for path in sorted(root.glob("**/results.json")):
                found[path.resolve()] = None
    return list(found)


def component_evidence(
    component: type[Component], explicit: Path | None = None
) -> list[EvidenceSource]:
    """Per benchmark, the chosen run's ok rows for `component` and its reference.

    An explicit file that cannot be read is the user's error (raised); a candidate found by
    searching that is not a valid results file is skipped.
    """
    names = {component.name, component.reference} - {None}
    best: dict[str, EvidenceSource] = {}
    for path in candidate_paths(explicit):
        try:
            document = load_results(path)
        except Exception:
            if explicit is not None:
                raise
            continue
        by_benchmark: dict[str, list[dict[str, Any]]] = {}
        for row in document["results"]:
            wanted = row["kind"] == component.kind and row["component"] in names
            if wanted and row["status"] == "ok":
                by_benchmark.setdefault(row["benchmark"], []).append(row)
        for benchmark, rows in by_benchmark.items():
            if not any(row["component"] == component.name for row in rows):
                continue
            source = EvidenceSource(benchmark, path, document["run"], rows)
            current = best.get(benchmark)
            if current is None or _preference(source) > _preference(current):
                best[benchmark] = source
    return [best[name] for name in sorted(best)]


def _preference(source: EvidenceSource) -> tuple[bool, bool, str]:
    """Full-grid runs before quick ones, then runs whose timings are all stable, then the
    latest recorded finish (ISO-8601 sorts)."""
    stable = not any(is_unstable(row) for row in source.rows)
    return (not source.quick, stable, str(source.run.get("finished") or ""))


def quoted_time(row: dict[str, Any]) -> str:
    """A row's median time as evidence: the number, or why it is not quoted."""
    from suite.reporting.formatting import format_number

    timing = row.get("timing") or {}
    if is_unstable(row):
        reason = timing.get("unstable_reason") or "repeats spread too much"
        return f"not measured reliably ({reason})"
    return format_number(timing.get("median_ms"))
