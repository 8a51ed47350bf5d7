"""What a run records about its own configuration, and what `--resume` may do with it.

`results.json` records the configuration a run was started with (`run.config`: the filters,
`--quick`, `--seed`, `--device` and the corpus) and the corpus it measured (`run.corpus`: path,
size in bytes, sha256 prefix). One results file holds one configuration, so `--resume` runs the
missing cells of *that* configuration:

* an option left at its default takes the recorded value (`--resume --out DIR` is enough);
* an option given with another value is a usage error naming the difference, and so is a
  corpus whose content changed since (its sha256 differs);
* each resume that runs something is recorded in `run.resumes` (its argv, start, end, device);
  the original `argv`, `started` and `finished` are never rewritten (`finished` is set once,
  when the run first becomes complete);
* a resume with nothing left to run changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.errors import UsageError

if TYPE_CHECKING:
    from suite.runner import RunConfig

__all__ = ["config_record", "describe_corpus", "resumed_config"]

SHA256_PREFIX = 12  # hex digits of the corpus digest kept in the metadata

#: RunConfig field -> (the flag that sets it, the key in `run.config`)
_FIELDS = {
    "kinds": ("--kind", "kinds"),
    "components": ("--component", "components"),
    "benchmarks": ("--benchmark", "benchmarks"),
    "device": ("--device", "device"),
    "quick": ("--quick", "quick"),
    "seed": ("--seed", "seed"),
    "corpus_path": ("--corpus", "corpus"),
}


def describe_corpus(path: Path | None) -> dict[str, Any] | None:
    """`{"path", "bytes", "sha256"}` of a `--corpus` file (None for none); a usage error when
    the file is missing, unreadable, not UTF-8 or blank."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"--corpus: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"--corpus: {path} is a folder, not a text file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--corpus: {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    except OSError as exc:
        raise UsageError(f"--corpus: cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise UsageError(f"--corpus: {path} is empty")
    return {
        "path": str(path.resolve()),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest()[:SHA256_PREFIX],
    }


def config_record(config: RunConfig) -> dict[str, Any]:
    """The part of `config` that decides the cells and their data, as JSON for `run.config`."""
    return {
        "kinds": list(config.kinds),
        "components": list(config.components),
        "benchmarks": list(config.benchmarks),
        "device": config.device,
        "quick": config.quick,
        "seed": config.seed,
        "corpus": str(config.corpus_path.resolve()) if config.corpus_path is not None else None,
    }


def _as_config_value(field_name: str, recorded: Any) -> Any:
    if field_name == "corpus_path":
        return Path(recorded) if recorded is not None else None
    if field_name in ("kinds", "components", "benchmarks"):
        return list(recorded)
    return recorded


def _is_default(given: Any, default: Any) -> bool:
    if isinstance(default, list | tuple):
        return list(given) == list(default)
    return bool(given == default)


def _same(field_name: str, given: Any, recorded: Any) -> bool:
    if field_name == "corpus_path":
        return given is not None and recorded is not None and given.resolve() == recorded.resolve()
    if field_name in ("kinds", "components", "benchmarks"):
        return sorted(given) == sorted(recorded)
    return bool(given == recorded)


def _flag_text(flag: str, value: Any) -> str:
    if isinstance(value, bool):
        return flag if value else f"no {flag}"
    if isinstance(value, list):
        return " ".join(f"{flag} {item}" for item in value) if value else f"no {flag}"
    return f"no {flag}" if value is None else f"{flag} {value}"


def resumed_config(config: RunConfig, run: dict[str, Any], results_path: Path) -> RunConfig:
    """The configuration `run` was started with, for resuming it; see the module docstring.

    Files written before `run.config` existed record only `quick` and `seed`; the other options
    are then taken from `config`.
    """
    from suite.runner import RunConfig

    recorded = run.get("config")
    if not isinstance(recorded, dict):
        recorded = {key: run[key] for key in ("quick", "seed") if key in run}
    defaults = RunConfig()
    changes: dict[str, Any] = {}
    differences: list[str] = []
    for field_name, (flag, key) in _FIELDS.items():
        if key not in recorded:
            continue
        value = _as_config_value(field_name, recorded[key])
        given = getattr(config, field_name)
        if not _is_default(given, getattr(defaults, field_name)) and not _same(
            field_name, given, value
        ):
            differences.append(f"{_flag_text(flag, given)} (recorded: {_flag_text(flag, value)})")
        changes[field_name] = value
    if differences:
        raise UsageError(
            f"--resume: {results_path} was started with other options: {'; '.join(differences)};"
            " resume without them, or start a new run with another --out"
        )
    resumed = dataclasses.replace(config, **changes)
    before = run.get("corpus")
    if isinstance(before, dict) and resumed.corpus_path is not None:
        now = describe_corpus(resumed.corpus_path)
        if now is not None and before.get("sha256") not in (None, now["sha256"]):
            raise UsageError(
                f"--resume: the corpus {resumed.corpus_path} changed since the run started"
                f" (sha256 {before['sha256']} then, {now['sha256']} now)"
            )
    return resumed
