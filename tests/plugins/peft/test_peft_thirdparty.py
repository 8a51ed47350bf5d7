"""A third-party method loaded as a plugin gets the kit, the CLI check and the benchmarks.

`tp-linear-unfreeze` makes base weights trainable while declaring `target_kind = "linear"`,
so the kit's frozen-base property (a method that targets layers must add its own parameters)
rightly fails it; every other property passes from its declarations alone.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from suite.cli import main
from suite.plugins import PluginHost
from suite.runner import RunConfig, build_matrix
from suite.testing import check_component, load_target

PLUGIN = Path(__file__).parent / "thirdparty_method.py"


def _plugin_host() -> PluginHost:
    host = PluginHost(entry_points=False).load()  # the built-in benchmarks
    spec = importlib.util.spec_from_file_location("tp_peft_plugin", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert host.register_plugin(module, "tp-peft").status == "ok"
    return host


def test_the_kit_judges_a_third_party_method_by_its_declarations() -> None:
    (cls,) = load_target(str(PLUGIN)).components
    report = check_component(cls, max_examples=5, timing=False)
    statuses = {r.property_id: r.status for r in report.results}
    assert statuses["peft.trainable-count"] == "passed"
    assert statuses["peft.identity-at-init"] == "passed"
    assert statuses["peft.merge"] == "passed"  # refuses to merge, as it declares
    assert statuses["peft.unknown-target"] == "passed"
    assert statuses["peft.frozen-base"] == "failed"
    assert "base weights received a gradient" in report.result("peft.frozen-base").message


def test_nlpsuite_check_runs_on_the_plugin_file() -> None:
    argv = [
        "check",
        str(PLUGIN),
        "--no-timing",
        "--only",
        "peft.trainable-count",
        "--examples",
        "3",
    ]
    assert main(argv) == 0


def test_the_runner_puts_it_in_the_peft_benchmarks_that_apply() -> None:
    host = _plugin_host()
    cells = build_matrix(host.registry, RunConfig(components=["tp-linear-unfreeze"], quick=True))
    names = {cell.benchmark.name for cell in cells}
    assert {"peft-parameters", "peft-finetune"} <= names
    assert "peft-merge" not in names and "peft-rank" not in names
