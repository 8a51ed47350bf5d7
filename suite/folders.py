"""Output folders: create one, or say in one line why it cannot be written into.

`nlpsuite run --out DIR` and `nlpsuite report --out DIR` both write files into a folder the user
names. A file in the way (`DIR` itself, or one of its parents), a read-only place or a missing
permission is a usage error (exit 2, one line), not a traceback from deep inside a write.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from suite.errors import UsageError

__all__ = ["prepare_output_folder"]


def prepare_output_folder(path: Path, *, option: str = "--out") -> Path:
    """Create `path` (with its parents) and check that files can be written into it.

    `option` names where the path came from in the message (`--out`, `run folder`). Returns
    `path`; raises `UsageError` with one line naming the path and the reason.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option}: {path} exists and is not a folder")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(f"{option}: cannot create {path}: {parent} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # permissions, read-only file systems, quotas
            pass
    except OSError as exc:
        raise UsageError(f"{option}: cannot write into {path}: {exc.strerror or exc}") from None
    return path
