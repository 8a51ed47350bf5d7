"""The results file: the contract's `results.json`, written atomically after every finished cell.

Atomic means: the new document is written to a temporary file in the same folder, flushed to
disk, then renamed over the old one (`os.replace` is atomic on POSIX and Windows). A run killed
at any moment leaves either the previous or the next complete file, never half of one, so
`--resume` can trust what it reads and run only the cells that are missing.

Beyond the contract's keys, each row carries `reference` (the name of the component it is
compared with, or null) and `run` carries `benchmarks` (each benchmark's kind, summary and ratio
metric), so that `nlpsuite report` can re-render the tables without the plugins installed.

Every reader (`report`, `compare`, `explain --results`, `run --resume`) goes through
`load_results`, which checks the file against this schema before anything uses it, so that a
file with a wrong type inside fails with one line naming the path and the field
(`results[3].timing.median_ms must be a number or null, got 'fast'`) instead of being misread:

    document            object with `run` and `results`; other keys are ignored
    run                 object with every key of RUN_KEYS:
      id, started, suite_version, python, torch, device        string
      finished, device_name                                    string or null
      seed                                                     integer or null
      argv                                                     list of strings
      benchmarks        optional: object, name -> object of optional `kind`, `summary`
                        (strings), `ratio_metric` (string or null), `higher_is_better` (bool),
                        `plots` (list of strings: the figures it declares, `Benchmark.plots`)
      config            optional: object (the filters and options the run was started with)
      corpus            optional: null (each benchmark's built-in text), or object with
                        `path` (string), `bytes` (number), `sha256` (string)
      warnings          optional: list of strings (what the inputs could not give)
      resumes           optional: list of objects, one per `--resume` that ran something, of
                        optional `argv` (list of strings), `started`, `device`,
                        `device_name` (strings), `finished` (string or null)
    results[i]          object with every key of RESULT_KEYS:
      kind, component, benchmark                               string
      params                                                   object (any JSON values)
      status                                                   "ok", "error" or "skipped"
      error                                                    string or null
      metrics           object, name -> number or null (null is a NaN the writer replaced)
      timing            null, or object with `median_ms` (number or null) and optional
                        `iqr_ms`, `repeats` and further entries (number or null), except
                        `samples_ms` (list of numbers: the repeats, rounded),
                        `ratio_samples` (list of numbers: a paired timing's per-round
                        time ÷ reference time, rounded), `unstable` (bool) and
                        `unstable_reason` (string or null), see suite.noise
      memory            null, or object of optional `peak_bytes` and further entries
                        (number or null)
      reference         optional: string or null
      series            optional: list of curves (`suite.series`), each an object with
                        `name`, `plot` (strings), `x`, `y` (lists of numbers of equal length),
                        optional `x_label`, `y_label` (strings) and `auc` (number or null)

A number is a JSON integer or float, never `true`/`false`. Keys not named here are allowed, so
that files of later versions still load; files of earlier versions (without row `reference`
or `run.benchmarks`, `series`, `run.corpus`, `run.warnings`, `run.resumes`) are valid.
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
        # each row's JSON, made once: rewriting the whole file after every cell would otherwise
        # encode every earlier row again (seconds over a few hundred cells)
        self._encoded: dict[int, tuple[dict[str, Any], str]] = {}

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
        """Write the document, formatted as `json.dumps(document, indent=2)` would."""
        run = _indented(json.dumps(_json_safe(self.run), indent=2, allow_nan=False), 2)
        rows = ",\n".join(self._encoded_row(row) for row in self.results)
        results = f"[\n{rows}\n  ]" if rows else "[]"
        text = f'{{\n  "run": {run},\n  "results": {results}\n}}'
        atomic_write_text(self.path, text + "\n")

    def _encoded_row(self, row: dict[str, Any]) -> str:
        """`row` as JSON at the depth of a result (four spaces); rows are never changed after
        `append`, so the text is made once per row."""
        cached = self._encoded.get(id(row))
        if cached is not None and cached[0] is row:
            return cached[1]
        text = "    " + _indented(json.dumps(_json_safe(row), indent=2, allow_nan=False), 4)
        self._encoded[id(row)] = (row, text)
        return text


def _indented(text: str, spaces: int) -> str:
    """`text` with every line after the first indented by `spaces` more spaces."""
    return text.replace("\n", "\n" + " " * spaces)


class _SchemaError(Exception):
    """A field that breaks the schema; the message is the field's path and what is wrong."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expect(where: str, value: Any, what: str, ok: bool) -> None:
    if not ok:
        raise _SchemaError(f"{where} must be {what}, got {_shown(value)}")


def _string(where: str, value: Any, *, nullable: bool = False) -> None:
    ok = isinstance(value, str) or (nullable and value is None)
    _expect(where, value, "a string or null" if nullable else "a string", ok)


def _number_or_null(where: str, value: Any) -> None:
    _expect(where, value, "a number or null", value is None or _is_number(value))


def _object(where: str, value: Any) -> dict[str, Any]:
    _expect(where, value, "an object", isinstance(value, dict))
    return value  # type: ignore[no-any-return]


def _numbers(where: str, mapping: dict[str, Any]) -> None:
    for name, value in mapping.items():
        _number_or_null(f"{where}.{name}", value)


def _check_run(run: Any) -> None:
    run = _object("run", run)
    missing = [key for key in RUN_KEYS if key not in run]
    if missing:
        raise _SchemaError(f"'run' lacks {', '.join(missing)}")
    for key in ("id", "started", "suite_version", "python", "torch", "device"):
        _string(f"run.{key}", run[key])
    for key in ("finished", "device_name"):
        _string(f"run.{key}", run[key], nullable=True)
    seed = run["seed"]
    _expect("run.seed", seed, "an integer or null", seed is None or type(seed) is int)
    argv = run["argv"]
    _expect("run.argv", argv, "a list of strings", isinstance(argv, list))
    for index, arg in enumerate(argv):
        _string(f"run.argv[{index}]", arg)
    if "benchmarks" in run:
        for name, info in _object("run.benchmarks", run["benchmarks"]).items():
            info = _object(f"run.benchmarks.{name}", info)
            for key in ("kind", "summary"):
                if key in info:
                    _string(f"run.benchmarks.{name}.{key}", info[key])
            if "ratio_metric" in info:
                _string(f"run.benchmarks.{name}.ratio_metric", info["ratio_metric"], nullable=True)
            if "higher_is_better" in info:
                flag = info["higher_is_better"]
                _expect(
                    f"run.benchmarks.{name}.higher_is_better",
                    flag,
                    "true or false",
                    isinstance(flag, bool),
                )
            if "plots" in info:
                _strings(f"run.benchmarks.{name}.plots", info["plots"])
    _check_run_extras(run)


def _strings(where: str, value: Any) -> None:
    _expect(where, value, "a list of strings", isinstance(value, list))
    for index, item in enumerate(value):
        _string(f"{where}[{index}]", item)


def _check_run_extras(run: dict[str, Any]) -> None:
    """The optional `config`, `corpus`, `warnings` and `resumes` of `run`."""
    if "config" in run:
        _object("run.config", run["config"])
    if run.get("corpus") is not None:
        corpus = _object("run.corpus", run["corpus"])
        for key in ("path", "sha256"):
            if key in corpus:
                _string(f"run.corpus.{key}", corpus[key])
        if "bytes" in corpus:
            _number_or_null("run.corpus.bytes", corpus["bytes"])
    if "warnings" in run:
        _strings("run.warnings", run["warnings"])
    if "resumes" in run:
        resumes = run["resumes"]
        _expect("run.resumes", resumes, "a list", isinstance(resumes, list))
        for index, resume in enumerate(resumes):
            where = f"run.resumes[{index}]"
            resume = _object(where, resume)
            if "argv" in resume:
                _strings(f"{where}.argv", resume["argv"])
            for key in ("started", "device", "device_name"):
                if key in resume:
                    _string(f"{where}.{key}", resume[key])
            if "finished" in resume:
                _string(f"{where}.finished", resume["finished"], nullable=True)


def _check_timing(where: str, timing: dict[str, Any]) -> None:
    lists = ("samples_ms", "ratio_samples")
    special = {*lists, "unstable", "unstable_reason"}
    _numbers(where, {k: v for k, v in timing.items() if k not in special})
    for key in lists:
        samples = timing.get(key, [])
        _expect(f"{where}.{key}", samples, "a list of numbers", isinstance(samples, list))
        for index, value in enumerate(samples):
            _expect(f"{where}.{key}[{index}]", value, "a number", _is_number(value))
    flag = timing.get("unstable", False)
    _expect(f"{where}.unstable", flag, "true or false", isinstance(flag, bool))
    _string(f"{where}.unstable_reason", timing.get("unstable_reason"), nullable=True)


def _check_row(where: str, row: Any) -> None:
    row = _object(where, row)
    missing = [key for key in RESULT_KEYS if key not in row]
    if missing:
        raise _SchemaError(f"{where} lacks {', '.join(missing)}")
    for key in ("kind", "component", "benchmark"):
        _string(f"{where}.{key}", row[key])
    _object(f"{where}.params", row["params"])
    status = row["status"]
    _expect(f"{where}.status", status, f"one of {', '.join(STATUSES)}", status in STATUSES)
    _string(f"{where}.error", row["error"], nullable=True)
    _numbers(f"{where}.metrics", _object(f"{where}.metrics", row["metrics"]))
    if row["timing"] is not None:
        timing = _object(f"{where}.timing", row["timing"])
        if "median_ms" not in timing:
            raise _SchemaError(f"{where}.timing lacks median_ms")
        _check_timing(f"{where}.timing", timing)
    if row["memory"] is not None:
        _numbers(f"{where}.memory", _object(f"{where}.memory", row["memory"]))
    if "reference" in row:
        _string(f"{where}.reference", row["reference"], nullable=True)
    if "series" in row:
        _check_series(f"{where}.series", row["series"])


def _check_series(where: str, series: Any) -> None:
    _expect(where, series, "a list", isinstance(series, list))
    for index, curve in enumerate(series):
        at = f"{where}[{index}]"
        curve = _object(at, curve)
        missing = [key for key in ("name", "x", "y", "plot") if key not in curve]
        if missing:
            raise _SchemaError(f"{at} lacks {', '.join(missing)}")
        for key in ("name", "plot"):
            _string(f"{at}.{key}", curve[key])
        for key in ("x_label", "y_label"):
            if key in curve:
                _string(f"{at}.{key}", curve[key])
        for axis in ("x", "y"):
            values = curve[axis]
            _expect(f"{at}.{axis}", values, "a list of numbers", isinstance(values, list))
            for position, value in enumerate(values):
                _number_or_null(f"{at}.{axis}[{position}]", value)
        if len(curve["x"]) != len(curve["y"]):
            raise _SchemaError(f"{at}: x has {len(curve['x'])} points and y has {len(curve['y'])}")
        if "auc" in curve:
            _number_or_null(f"{at}.auc", curve["auc"])


def validate_document(document: Any) -> str | None:
    """Why `document` breaks the schema of the module docstring (one line), or `None`."""
    if not isinstance(document, dict):
        return f"expected an object with 'run' and 'results', got {type(document).__name__}"
    for key in ("run", "results"):
        if key not in document:
            return f"expected an object with 'run' and 'results'; '{key}' is missing"
    try:
        _check_run(document["run"])
        results = document["results"]
        _expect("results", results, "a list", isinstance(results, list))
        for index, row in enumerate(results):
            _check_row(f"results[{index}]", row)
    except _SchemaError as exc:
        return str(exc)
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
