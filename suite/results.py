"""The results file: the contract's `results.json`, written atomically after every finished cell.

Atomic means: the new document is written to a temporary file in the same folder, flushed to
disk, then renamed over the old one (`os.replace` is atomic on POSIX and Windows). A run killed
at any moment leaves either the previous or the next complete file, never half of one, so
`--resume` can trust what it reads and run only the cells that are missing.

Beyond the contract's keys, each row carries `reference` (the name of the component it is
compared with, or null) and `run` carries `benchmarks` (each benchmark's kind, summary and ratio
metric), so that `nlpsuite report` can re-render the tables without the plugins installed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from suite.errors import UsageError

__all__ = [
    "RESULT_KEYS",
    "RUN_KEYS",
    "ResultsStore",
    "atomic_write_text",
    "cell_key",
    "load_results",
    "validate_document",
]

RUN_KEYS = (
    "id",
    "started",
    "finished",
    "suite_version",
    "python",
    "torch",
    "device",
    "device_name",
    "seed",
    "argv",
)
RESULT_KEYS = (
    "kind",
    "component",
    "benchmark",
    "params",
    "status",
    "error",
    "metrics",
    "timing",
    "memory",
)
STATUSES = ("ok", "error", "skipped")


def cell_key(kind: str, component: str, benchmark: str, params: dict[str, Any]) -> str:
    """A stable identity of one cell of the matrix (params in canonical JSON)."""
    return json.dumps([kind, component, benchmark, params], sort_keys=True, default=str)


def row_key(row: dict[str, Any]) -> str:
    return cell_key(row["kind"], row["component"], row["benchmark"], row["params"])


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


class ResultsStore:
    """`results.json` of one run folder, rewritten atomically on every `append`."""

    def __init__(
        self, path: Path, run: dict[str, Any], results: Iterable[dict[str, Any]] = ()
    ) -> None:
        self.path = path
        self.run = run
        self.results: list[dict[str, Any]] = list(results)
        self._done = {row_key(row) for row in self.results}

    @classmethod
    def open(cls, path: Path, run: dict[str, Any], *, resume: bool) -> ResultsStore:
        """A store for `path`; with `resume`, keep the finished rows and the original run id."""
        if resume and path.exists():
            document = load_results(path)
            merged = {
                **document["run"],
                **{k: v for k, v in run.items() if k not in ("id", "started")},
            }
            merged["benchmarks"] = {
                **document["run"].get("benchmarks", {}),
                **run.get("benchmarks", {}),
            }
            return cls(path, merged, document["results"])
        return cls(path, run)

    def done(self, key: str) -> bool:
        return key in self._done

    def append(self, row: dict[str, Any]) -> None:
        self.results.append(row)
        self._done.add(row_key(row))
        self.flush()

    def document(self) -> dict[str, Any]:
        return {"run": self.run, "results": self.results}

    def flush(self) -> None:
        text = json.dumps(_json_safe(self.document()), indent=2, allow_nan=False)
        atomic_write_text(self.path, text + "\n")


def validate_document(document: Any) -> str | None:
    """Why `document` is not a results document, or `None` when it is."""
    if not isinstance(document, dict) or "run" not in document or "results" not in document:
        return "expected an object with 'run' and 'results'"
    run = document["run"]
    if not isinstance(run, dict):
        return "'run' must be an object"
    missing = [key for key in RUN_KEYS if key not in run]
    if missing:
        return f"'run' lacks {', '.join(missing)}"
    if not isinstance(document["results"], list):
        return "'results' must be a list"
    for index, row in enumerate(document["results"]):
        if not isinstance(row, dict):
            return f"results[{index}] is not an object"
        missing = [key for key in RESULT_KEYS if key not in row]
        if missing:
            return f"results[{index}] lacks {', '.join(missing)}"
        if row["status"] not in STATUSES:
            return f"results[{index}] has status {row['status']!r}; expected one of {', '.join(STATUSES)}"
    return None


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file; a `UsageError` with one line when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such results file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    problem = validate_document(document)
    if problem is not None:
        raise UsageError(f"{path} is not an nlpsuite results file: {problem}")
    return document
