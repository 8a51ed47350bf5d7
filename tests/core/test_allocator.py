"""`suite.allocator`: once a run starts glibc serves every block from a heap it keeps, and says so.

Each check runs in a fresh Python process: the setting is process-wide and glibc's own moving
threshold depends on what the process allocated before, which is the point of the module.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from suite.allocator import ALLOCATOR_VARIABLE, MMAP_THRESHOLD_BYTES, keep_freed_memory

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

# mallinfo2().hblks: how many blocks glibc holds as separate mmaps; a tensor of 16 MiB (above
# glibc's initial 128 KiB threshold) or 64 MiB (above any threshold) is one of them or not
_PROBE = textwrap.dedent(
    """
    import ctypes, json, sys
    import torch
    from suite.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    setting = keep_freed_memory() if sys.argv[1] == "keep" else None
    before = libc.mallinfo2().hblks
    tensor = torch.ones(int(sys.argv[2]) * 1024**2 // 4)  # argv[2] MiB
    during = libc.mallinfo2().hblks
    del tensor
    print(json.dumps({"mapped_blocks_added": during - before, "setting": setting}))
    """
)


def _probe(mode: str, mib: int = 16, **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, str(mib)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=120,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@glibc_only
@pytest.mark.parametrize("mib", [16, 64])
def test_a_large_tensor_is_mapped_afresh_by_default_and_taken_from_the_heap_once_kept(
    mib: int,
) -> None:
    assert _probe("default", mib)["mapped_blocks_added"] == 1
    kept = _probe("keep", mib)
    assert kept["mapped_blocks_added"] == 0
    assert kept["setting"] == {
        "malloc": f"glibc {platform.libc_ver()[1]}",
        "mmap_threshold": MMAP_THRESHOLD_BYTES,
        "mmap_max": 0,
        "trim_threshold": 1024**3,
    }


@glibc_only
def test_system_setting_leaves_glibc_alone_and_says_so() -> None:
    probe = _probe("keep", **{ALLOCATOR_VARIABLE: "system"})
    assert probe["mapped_blocks_added"] == 1
    assert probe["setting"]["unchanged"] == f"{ALLOCATOR_VARIABLE}=system"  # type: ignore[index]


def test_keep_freed_memory_is_idempotent_and_recorded_by_a_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert keep_freed_memory() == keep_freed_memory()
    from suite.cli import main

    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--quick",
            "--component",
            "layernorm",
            "--benchmark",
            "norm-agreement",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    run = json.loads((out / "results.json").read_text())["run"]
    assert run["allocator"] == keep_freed_memory()
    assert "malloc" in run["allocator"]


def test_an_unknown_setting_is_a_one_line_usage_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "suite",
            "run",
            "--quick",
            "--benchmark",
            "norm-agreement",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, ALLOCATOR_VARIABLE: "sytem"},
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"nlpsuite: error: {ALLOCATOR_VARIABLE} must be 'keep' (the default) or 'system'; "
        "got 'sytem'"
    ]
    assert not (tmp_path / "run" / "results.json").exists()
