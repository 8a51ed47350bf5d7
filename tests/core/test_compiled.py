"""`compile=True` on every norm, loss and MoE component, and `suite.compiled`.

The fast tests replace `torch.compile` with a recorder (the plumbing: option accepted, forward
routed through the compiled function, input checks outside it); the slow ones compile for real
and compare outputs and gradients with eager.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import suite
import suite.compiled as compiled_module
from plugins.norms.benchmarks import NormThroughput
from plugins.norms.layernorm import LayerNorm
from plugins.norms.reference import TorchLayerNorm
from suite.benchmark import RunContext
from suite.errors import ComponentInputError, OptionError
from suite.kinds import Loss, MoE, Norm

_SPEC = importlib.util.spec_from_file_location(
    "thirdparty_impls", Path(__file__).parents[1] / "kit" / "thirdparty_impls.py"
)
assert _SPEC is not None and _SPEC.loader is not None
tp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tp)
_THIRD_PARTY = (tp.TokenStandardiser, tp.PolyLoss, tp.OneExpert)


def _components() -> list[type[suite.Component]]:
    built_in = [cls for kind in ("norm", "loss", "moe") for cls in suite.components(kind)]
    return [*built_in, *_THIRD_PARTY]


_COMPONENTS = _components()
_IDS = [f"{cls.kind}:{cls.name}" for cls in _COMPONENTS]


def _loss_inputs(task: str) -> tuple[Tensor, ...] | None:
    gen = torch.Generator().manual_seed(0)
    if task == "classification":
        return 3 * torch.randn(6, 5, generator=gen), torch.randint(0, 5, (6,), generator=gen)
    if task == "contrastive":
        anchors = torch.randn(6, 8, generator=gen)
        return anchors, anchors + 0.5 * torch.randn(6, 8, generator=gen)
    if task == "ranking":
        return torch.randn(6, generator=gen), torch.randn(6, generator=gen)
    return None  # a task this test does not know how to feed


def _run(cls: type[suite.Component], compile: bool) -> tuple[list[Tensor], list[Tensor]]:
    """Outputs and input gradients of one small forward and backward, eager or compiled."""
    options = {"compile": True} if compile else {}
    torch.manual_seed(0)
    if issubclass(cls, Norm):
        module = cls(**options).build(8)
        x = torch.randn(3, 4, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
        y = module(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        return [y.detach()], [x.grad]  # type: ignore[list-item]
    if issubclass(cls, MoE):
        layer = cls(**options).build(8, 16, 4, 2)
        x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = layer(x)
        (out.output.square().sum() + out.aux_loss).backward()
        return [out.output.detach(), out.aux_loss.detach()], [x.grad]  # type: ignore[list-item]
    assert issubclass(cls, Loss)
    inputs = _loss_inputs(cls.task)
    if inputs is None:
        pytest.skip(f"no inputs for loss task {cls.task!r} here")
    leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
    value = cls(**options)(*leaves)
    value.backward()
    return [value.detach()], [t.grad for t in leaves if t.grad is not None]


def _assert_close(
    got: list[Tensor], want: list[Tensor], rtol: float = 1.3e-6, atol: float = 1e-5
) -> None:
    """Float32 tolerances (`torch.testing.assert_close` costs seconds to import on first use)."""
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, f"output {index}: {tuple(a.shape)} vs {tuple(b.shape)}"
        error = float((a.double() - b.double()).abs().max()) if a.numel() else 0.0
        assert torch.allclose(a, b, rtol=rtol, atol=atol), f"output {index}: max error {error:.3g}"


@pytest.fixture
def recorded_compile(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """`torch.compile` replaced by a recorder that returns a function calling the original."""
    compiled: list[Callable[..., Any]] = []

    def fake_compile(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
        assert kwargs.get("dynamic") is False  # specialised per shape: one cached graph each
        calls: list[int] = []

        def run(*args: Any, **kw: Any) -> Any:
            calls.append(1)
            return fn(*args, **kw)

        run.calls = calls  # type: ignore[attr-defined]
        run.options = kwargs.get("options")  # type: ignore[attr-defined]
        compiled.append(run)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    return compiled


@pytest.mark.parametrize("cls", _COMPONENTS, ids=_IDS)
def test_compile_option_routes_forward_through_torch_compile(
    cls: type[suite.Component], recorded_compile: list[Any]
) -> None:
    eager_out, eager_grads = _run(cls, compile=False)
    assert not recorded_compile
    out, grads = _run(cls, compile=True)
    assert len(recorded_compile) == 1 and recorded_compile[0].calls, "forward was not compiled"
    _assert_close([*out, *grads], [*eager_out, *eager_grads])


def test_input_checks_stay_outside_the_compiled_forward(recorded_compile: list[Any]) -> None:
    module = LayerNorm(compile=True).build(8)
    with pytest.raises(ComponentInputError, match="8"):
        module(torch.randn(2, 3, 7))
    assert not recorded_compile[0].calls  # the pre-hook refused it before the compiled code
    loss = tp.PolyLoss(compile=True, epsilon=0.5)
    assert loss.compile and loss.epsilon == 0.5  # type: ignore[attr-defined]
    with pytest.raises(ComponentInputError):
        loss(torch.randn(4, 3), torch.randint(0, 3, (5,)))


def test_compile_options_reach_inductor_for_that_component_only(
    recorded_compile: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.norms.batchnorm import BatchNorm
    from plugins.norms.rmsnorm import RMSNorm

    for cls in (LayerNorm, BatchNorm, RMSNorm):
        cls(compile=True).build(8)(torch.randn(2, 3, 8))
    layernorm, batchnorm, rmsnorm = (run.options for run in recorded_compile)
    assert layernorm == batchnorm == {"realize_reads_threshold": 0}
    assert rmsnorm is None  # no settings of its own: Inductor's defaults
    monkeypatch.setattr(compiled_module, "COMPILE_BACKEND", "eager")
    LayerNorm(compile=True).build(8)(torch.randn(2, 3, 8))
    assert recorded_compile[-1].options is None  # other backends take no Inductor settings


def test_unknown_option_is_still_an_option_error() -> None:
    with pytest.raises(OptionError, match=r"'compiled'.*accepts: bias, compile, eps"):
        LayerNorm(compiled=True)  # type: ignore[call-arg]
    with pytest.raises(OptionError, match="compile"):
        tp.PolyLoss(compile=True, gamma=1.0)  # type: ignore[call-arg]
    assert LayerNorm.accepted_options() == {"eps": 1e-5, "bias": True}  # its own __init__'s


def test_missing_compiler_gives_a_reason_and_an_eager_cell(
    monkeypatch: pytest.MonkeyPatch, recorded_compile: list[Any]
) -> None:
    monkeypatch.setattr(compiled_module, "_cpp_compiler", lambda: None)
    reason = compiled_module.compile_unavailable_reason("cpu")
    assert reason is not None and "C++ compiler" in reason
    module = LayerNorm(compile=True).build(8)
    with pytest.raises(OptionError, match="C\\+\\+ compiler"):
        module(torch.randn(2, 3, 8))
    assert not recorded_compile[0].calls
    ctx = RunContext(quick=False, reference=TorchLayerNorm, warmup=0, repeats=3, budget_s=0.05)
    params = {"mode": "train", "shape": (2, 4, 8), "dtype": "float32"}
    benchmark = NormThroughput()
    assert any("C++ compiler" in line for line in benchmark.input_warnings(params, ctx))
    metrics = benchmark.run(LayerNorm, params, ctx).metrics  # type: ignore[union-attr]
    assert "paired_ratio" in metrics and "compiled_paired_ratio" not in metrics


def test_missing_triton_gives_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_module.importlib.util, "find_spec", lambda name: None)
    reason = compiled_module.compile_unavailable_reason("cuda")
    assert reason is not None and "Triton" in reason


def test_benchmark_times_the_compiled_component_in_the_same_cell(
    monkeypatch: pytest.MonkeyPatch, recorded_compile: list[Any]
) -> None:
    monkeypatch.setattr(compiled_module, "_cpp_compiler", lambda: "g++")
    ctx = RunContext(quick=False, reference=TorchLayerNorm, warmup=0, repeats=3, budget_s=0.05)
    params = {"mode": "eval", "shape": (2, 4, 8), "dtype": "float32"}
    assert NormThroughput().input_warnings(params, ctx) == []
    metrics = NormThroughput().run(LayerNorm, params, ctx).metrics  # type: ignore[union-attr]
    assert recorded_compile and len(recorded_compile[0].calls) >= 4  # first call + paired rounds
    for name in ("compiled_paired_ratio", "compiled_paired_ratio_ci_low", "compile_time_s"):
        assert metrics[name] >= 0
    assert NormThroughput().compiles({"shape": [4, 128, 256]}, RunContext(quick=True)) is False


# --------------------------------------------------------------------------- real compiles


@pytest.mark.slow
@pytest.mark.parametrize("cls", _COMPONENTS, ids=_IDS)
def test_compiled_component_equals_eager(
    cls: type[suite.Component], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inductor for norms and losses; AOTAutograd without code generation for the MoE layers,
    whose routing splits into many graphs that take minutes to generate code for."""
    if issubclass(cls, MoE):
        monkeypatch.setattr(compiled_module, "COMPILE_BACKEND", "aot_eager")
    elif compiled_module.compile_unavailable_reason("cpu"):
        pytest.skip(compiled_module.compile_unavailable_reason("cpu"))
    eager_out, eager_grads = _run(cls, compile=False)
    out, grads = _run(cls, compile=True)
    _assert_close([*out, *grads], [*eager_out, *eager_grads], rtol=1e-4, atol=1e-5)
