"""Architecture rules checked on the source: the engine never imports the built-ins, and
`import suite.runner` stays off scikit-learn (a heavy import a run does not need)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from suite.plugins import DEFAULT_PLUGINS

SUITE = Path(__file__).resolve().parents[2] / "suite"
_PLUGIN_MODULE = re.compile(
    r"^plugins(\.\w+)+$"
)  # a module name as a string (not the `plugins` command)


def _plugin_references(path: Path) -> list[str]:
    """`plugins` imports, and `plugins.x` module-name strings, outside `DEFAULT_PLUGINS`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed: set[int] = set()  # ids of the string nodes inside the DEFAULT_PLUGINS assignment
    for node in ast.walk(tree):
        targets = (
            [node.target]
            if isinstance(node, ast.AnnAssign)
            else node.targets
            if isinstance(node, ast.Assign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "DEFAULT_PLUGINS" for t in targets):
            allowed |= {id(sub) for sub in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in allowed
        ):
            names = [node.value] if _PLUGIN_MODULE.match(node.value) else []
        else:
            continue
        found += [
            f"{path.relative_to(SUITE.parent)}:{node.lineno}: {name}"
            for name in names
            if name == "plugins" or name.startswith("plugins.")
        ]
    return found


def test_suite_never_imports_the_builtin_plugins_outside_default_plugins() -> None:
    offenders = [ref for path in sorted(SUITE.rglob("*.py")) for ref in _plugin_references(path)]
    assert not offenders, "suite/ must reach plugins/ only through DEFAULT_PLUGINS:\n" + "\n".join(
        offenders
    )
    assert DEFAULT_PLUGINS and all(name.startswith("plugins.") for name in DEFAULT_PLUGINS)


def test_the_rule_sees_an_import(tmp_path: Path) -> None:
    global SUITE
    saved, SUITE = SUITE, tmp_path
    try:
        module = tmp_path / "bad.py"
        module.write_text("from plugins.norms import LayerNorm\nNAME = 'plugins.losses'\n")
        assert len(_plugin_references(module)) == 2
    finally:
        SUITE = saved


def test_importing_the_runner_does_not_import_sklearn() -> None:
    code = (
        "import sys, suite.runner; "
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SUITE.parent
    ).stdout.strip()
    assert out == "[]", f"import suite.runner pulled in scikit-learn: {out[:200]}"


def test_loading_every_builtin_plugin_does_not_import_sklearn() -> None:
    """Start-up of every command loads the plugins; scikit-learn (~1.5 s) waits for a cell."""
    code = (
        "import sys; from suite.plugins import get_host; get_host(); "
        "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SUITE.parent
    ).stdout.strip()
    assert out == "[]", f"loading the plugins pulled in scikit-learn: {out[:200]}"
