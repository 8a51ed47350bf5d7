"""`nlpsuite check`, `practice` and `new-plugin`: exit codes, messages, and the files they write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite.cli import main
from suite.commands.new_plugin import create_plugin
from suite.commands.practice import write_practice
from suite.plugins import PluginHost
from suite.scaffolds import PRACTICE_KINDS
from suite.testing import check_component, load_target

HERE = Path(__file__).parent
CORRECT_ATTENTION = str(HERE / "correct" / "attention_impls.py")
BROKEN_ATTENTION = str(HERE / "broken" / "attention_impls.py")


def test_check_passes_a_correct_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", CORRECT_ATTENTION, "--examples", "5", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "attention:kit-blockwise" in out and "conforms" in out and "failed" not in out


def test_check_fails_a_broken_file_with_the_sentence_and_reproduction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "check",
            BROKEN_ATTENTION,
            "--only",
            "attention.causal-no-leak",
            "--examples",
            "10",
            "--no-timing",
            "--json",
        ]
    )
    assert code == 1
    reports = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    leak = reports["broken-causal-leak"]["results"][0]
    assert leak["status"] == "failed" and "future token leaked into position" in leak["message"]
    assert "--only attention.causal-no-leak --example" in leak["reproduction"]
    assert reports["broken-missing-scale"]["results"][0]["status"] == "passed"


def test_check_replays_an_example_from_the_reproduction_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = {
        "batch": 1,
        "heads": 1,
        "kv_heads": 1,
        "tq": 2,
        "tk": 2,
        "head_dim": 4,
        "causal": True,
        "mask": None,
        "magnitude": 0.5,
        "seed": 0,
        "pivot": 0,
    }
    code = main(
        [
            "check",
            BROKEN_ATTENTION,
            "--only",
            "attention.causal-no-leak",
            "--example",
            json.dumps(example),
            "--json",
        ]
    )
    assert code == 1
    reports = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert reports["broken-causal-leak"]["results"][0]["examples_run"] == 1


def test_check_kind_name_and_xfail(capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{BROKEN_ATTENTION}"
    code = main(
        [
            "check",
            target,
            "--only",
            "attention.scale",
            "--examples",
            "10",
            "--no-timing",
            "--xfail",
            "attention.scale=no scale on purpose",
        ]
    )
    out = capsys.readouterr().out
    assert (
        "xfailed" in out and "xpassed" in out
    )  # the missing-scale one fails as declared, the others pass
    assert code == 1  # an xpass means the declaration is stale


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["check", "no_such_file.py"], "no such file"),
        (["check", "attention:no-such-thing"], "no attention named"),
        (["check", "not_a_module_anywhere"], "not a file, an importable module, or kind:name"),
        (["check", CORRECT_ATTENTION, "--only", "attention.nope"], "unknown property"),
        (["check", CORRECT_ATTENTION, "--example", "{}"], "exactly one --only"),
        (
            ["check", CORRECT_ATTENTION, "--only", "attention.scale", "--example", "{oops"],
            "not valid JSON",
        ),
        (["check", CORRECT_ATTENTION, "--xfail", "attention.scale"], "ID=REASON"),
        (["check", CORRECT_ATTENTION, "--only", "norm.train-eval"], "has the properties asked for"),
        (["practice", "transformer"], "unknown kind"),
        (["practice", "attention", "Bad_Name"], "lowercase"),
        (["new-plugin", "taken-name"], "already registered"),
        (["new-plugin", "Bad Name"], "lowercase"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written into the project even if a check is wrong
    monkeypatch.setattr(
        "suite.commands.new_plugin._registered_attention_names", lambda: {"taken-name"}
    )
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_check_a_file_that_fails_to_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import suite\nraise RuntimeError('boom')\n")
    assert main(["check", str(bad)]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_file_without_hook_is_checked_by_its_classes(tmp_path: Path) -> None:
    source = Path(CORRECT_ATTENTION).read_text().split("@suite.hookimpl")[0]
    path = tmp_path / "no_hook.py"
    path.write_text(source)
    loaded = load_target(str(path))
    assert loaded.source == "classes" and {c.name for c in loaded.components} == {
        "kit-blockwise",
        "kit-local-window",
    }


@pytest.mark.parametrize("kind", sorted(PRACTICE_KINDS))
def test_unfilled_practice_scaffold_fails_cleanly(kind: str, tmp_path: Path) -> None:
    path = write_practice(kind, out=tmp_path / f"my_{kind}.py")
    text = path.read_text()
    assert (
        "NotImplementedError" in text
        and f'name = "my-{kind}"' in text
        and "register_components" in text
    )
    (cls,) = load_target(str(path)).components
    report = check_component(cls, max_examples=3, timing=True)
    assert not report.ok
    ran = [r for r in report.results if r.status != "skipped"]
    assert ran and all(
        r.status == "failed" and r.message.startswith("not implemented yet") for r in ran
    )
    assert report.timing.component_ms is None and "not implemented yet" in report.timing.note


def test_new_plugin_refuses_a_nonempty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pkg"
    assert main(["new-plugin", "kit-twice", "--dir", str(folder)]) == 0
    assert main(["new-plugin", "kit-twice", "--dir", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_practice_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine.py"
    assert main(["practice", "loss", "--out", str(out)]) == 0
    assert main(["practice", "loss", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["practice", "loss", "--out", str(out), "--force"]) == 0


def test_new_plugin_generates_a_package_that_registers(tmp_path: Path) -> None:
    folder = create_plugin("kit-demo", tmp_path / "nlpsuite-kit-demo")
    pyproject = (folder / "pyproject.toml").read_text()
    assert '[project.entry-points.nlpsuite]\nkit-demo = "nlpsuite_kit_demo.plugin"' in pyproject
    module_path = folder / "nlpsuite_kit_demo" / "plugin.py"
    loaded = load_target(str(module_path))
    assert [c.name for c in loaded.components] == ["kit-demo"] and loaded.source == "hook"
    host = PluginHost(builtins=(), entry_points=False)
    import importlib.util

    spec = importlib.util.spec_from_file_location("kit_demo_plugin", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert host.register_plugin(module, "kit-demo").status == "ok"
    report = check_component(loaded.components[0], max_examples=5, timing=False)
    assert report.ok, report.failed()


SOLUTIONS = {
    "attention": (
        'raise NotImplementedError("write forward(): softmax(q kᵀ/√d) v with the causal and padding masks")',
        """import math
        import torch
        g = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool)
        allowed = (allowed.tril() if causal else allowed)[None, None]
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        return torch.softmax(scores.masked_fill(~allowed, -math.inf), -1).nan_to_num(0.0) @ v""",
    ),
    "loss": (
        'raise NotImplementedError("write forward(): mean of -α_t (1 - p_t)^γ log p_t, from log_softmax")',
        """import torch
        log_pt = torch.log_softmax(logits, -1).gather(1, target[:, None])[:, 0]
        one_minus_pt = (-torch.expm1(log_pt)).clamp_min(torch.finfo(log_pt.dtype).tiny)
        loss = -one_minus_pt.pow(self.gamma) * log_pt  # unclamped: NaN gradient at p_t = 1
        if self.alpha is not None:
            loss = loss * torch.tensor(self.alpha)[target]
        return loss.mean()""",
    ),
}


@pytest.mark.parametrize("kind", sorted(SOLUTIONS))
def test_filled_practice_scaffold_passes(kind: str, tmp_path: Path) -> None:
    path = write_practice(kind, out=tmp_path / f"solved_{kind}.py")
    placeholder, solution = SOLUTIONS[kind]
    text = path.read_text()
    assert placeholder in text
    path.write_text(text.replace(placeholder, solution))
    (cls,) = load_target(str(path)).components
    report = check_component(cls, max_examples=8, timing=False)
    assert report.ok, [(r.property_id, r.message) for r in report.results if not r.ok]


SCALE_EXAMPLE = {
    "batch": 1,
    "heads": 1,
    "kv_heads": 1,
    "tq": 2,
    "tk": 2,
    "head_dim": 4,
    "causal": False,
    "mask": None,
    "magnitude": 0.5,
    "seed": 0,
}


@pytest.mark.parametrize(
    ("example", "words"),
    [
        ({"batch": 1}, "--example lacks heads, kv_heads, tq, tk, head_dim"),
        ({**SCALE_EXAMPLE, "colour": 1}, "--example has unknown key colour"),
    ],
    ids=["missing", "unknown"],
)
def test_malformed_example_is_a_usage_error_naming_the_keys(
    example: dict, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", CORRECT_ATTENTION, "--only", "attention.scale", "--example"]
    assert main([*argv, json.dumps(example)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert words in err and "attention.scale examples have batch, causal, dtype" in err


NAN_ATTENTION = '''
import suite


class AlwaysNan(suite.Attention):
    """Returns NaN everywhere, mask or no mask."""

    name = "always-nan"
    summary = "NaN everywhere"
    reference = "sdpa"

    def forward(self, q, k, v, *, causal=False, key_padding_mask=None):
        return q * float("nan")
'''


def test_nan_message_depends_on_a_query_without_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nan_attention.py"
    path.write_text(NAN_ATTENTION)
    argv = ["check", str(path), "--no-timing", "--json", "--only", "attention.scale", "--example"]
    assert main([*argv, json.dumps(SCALE_EXAMPLE)]) == 1
    message = json.loads(capsys.readouterr().out)[0]["results"][0]["message"]
    assert "every query has a key to attend to" in message
    assert "no key to attend to must give zeros" not in message
    padded = {**SCALE_EXAMPLE, "batch": 2, "mask": [[True, True], [False, False]]}
    argv[-2] = "attention.padding-ignored"
    assert main([*argv, json.dumps(padded)]) == 1
    message = json.loads(capsys.readouterr().out)[0]["results"][0]["message"]
    assert "a query with no key to attend to must give zeros" in message
