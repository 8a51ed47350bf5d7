"""The kit's quick timing: one small fixed workload per kind, the component beside its reference.

This is a sanity check ("is my attention 40× slower than SDPA?"), not a benchmark: one size,
a few repeats, the CPU. `nlpsuite run` measures properly over grids and devices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from suite.testing.properties._base import Subject
from suite.timing import time_function

__all__ = ["TimingComparison", "compare_timing"]


@dataclass
class TimingComparison:
    """Median milliseconds of the component and its reference on one workload, and the ratio."""

    workload: str
    component_ms: float | None
    reference: str | None = None
    reference_ms: float | None = None
    note: str = ""  # why a number is missing

    @property
    def ratio(self) -> float | None:
        if self.component_ms is None or not self.reference_ms:
            return None
        return self.component_ms / self.reference_ms


def _attention(cls: Any) -> Callable[[], Any]:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 128, 32, generator=g) for _ in range(3))  # (B, H, T, D)
    att = cls()
    return lambda: att(q, k, v, causal=True)


def _norm(cls: Any) -> Callable[[], Any]:
    x = torch.randn(16, 64, 128, generator=torch.Generator().manual_seed(0))  # (B, T, C)
    mod = cls().build(128)
    return lambda: mod(x)


def _loss(cls: Any) -> Callable[[], Any]:
    g = torch.Generator().manual_seed(0)
    task = cls.task
    inputs: tuple[torch.Tensor, ...]
    if task == "classification":
        inputs = (torch.randn(2048, 100, generator=g), torch.randint(0, 100, (2048,), generator=g))
    elif task == "contrastive":
        inputs = (torch.randn(256, 128, generator=g), torch.randn(256, 128, generator=g))
    elif task == "lm-head":  # hidden (N, D), weight (V, D), target (N,)
        inputs = (
            torch.randn(1024, 64, generator=g),
            torch.randn(4096, 64, generator=g) / 8.0,
            torch.randint(0, 4096, (1024,), generator=g),
        )
    else:
        inputs = (torch.randn(8192, generator=g), torch.randn(8192, generator=g))
    loss = cls()

    def step() -> None:
        leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
        loss(*leaves).backward()

    return step


def _moe(cls: Any) -> Callable[[], Any]:
    torch.manual_seed(0)
    mod = cls().build(64, 128, 8, 2)
    x = torch.randn(4, 64, 64, generator=torch.Generator().manual_seed(0))  # (B, T, C)
    return lambda: mod(x)


def _position(cls: Any) -> Callable[[], Any]:
    g = torch.Generator().manual_seed(0)
    b, t, d, h = 2, 512, 256, 8
    mod = cls().build(d, h, t)
    x = torch.randn(b, t, d, generator=g)  # (B, T, C)
    q, k = (torch.randn(b, h, t, d // h, generator=g) for _ in range(2))  # (B, H, T, D)
    positions = torch.arange(t).expand(b, t)

    def step() -> None:
        mod.embed(x, positions)
        mod.rotate(q, k, positions, positions)
        mod.bias(t, t)

    return step


def _peft(cls: Any) -> Callable[[], Any]:
    from suite.testing.properties.peft import kit_model

    method = cls()
    wrapped = method.apply(kit_model(32, 4, 4, 2, seed=0))
    ids = torch.randint(0, 11, (8, 32), generator=torch.Generator().manual_seed(0))  # (B, T)

    def step() -> None:
        with torch.enable_grad():
            wrapped(ids).square().mean().backward()

    return step


def _tokenizer(cls: Any) -> Callable[[], Any]:
    from suite.testing.strategies import SCRIPTS

    corpus = [text for text in SCRIPTS.values() for _ in range(10)]
    tok = cls()
    tok.train(corpus, 400)
    text = " ".join(corpus)
    return lambda: tok.encode(text)


def _decoding(cls: Any) -> Callable[[], Any]:
    from suite.lm import tiny_gpt2

    model = tiny_gpt2(vocab_size=64, n_layer=2, n_head=2, n_embd=32, n_positions=64)
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    dec = cls()
    return lambda: dec.generate(model, ids, 32, generator=torch.Generator().manual_seed(0))


_WORKLOADS: dict[str, tuple[str, Callable[[Any], Callable[[], Any]]]] = {
    "attention": ("q, k, v (2, 4, 128, 32), causal", _attention),
    "norm": ("x (16, 64, 128), train mode", _norm),
    "loss": (
        "forward + backward, N = 2048 (classification) / 256 / 8192 / 1024, V = 4096 (lm-head)",
        _loss,
    ),
    "moe": ("x (4, 64, 64), 8 experts, top-2", _moe),
    "tokenizer": ("encode 70 multi-script sentences", _tokenizer),
    "peft": ("forward + backward of a wrapped 2-layer encoder, d 32, ids (8, 32)", _peft),
    "position": ("embed, rotate and bias at T = 512, d_model 256, 8 heads", _position),
    "decoding": ("32 new tokens after prompts (2, 8), tiny random GPT-2", _decoding),
}


def _median_ms(cls: Any) -> tuple[float | None, str]:
    _, make = _WORKLOADS[cls.kind]
    try:
        with torch.no_grad() if cls.kind != "loss" else torch.enable_grad():
            fn = make(cls)
            return time_function(fn, warmup=1, repeats=5, budget_s=0.5).median_ms, ""
    except NotImplementedError:
        return None, "not implemented yet"
    except Exception as exc:
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


#: Kinds without an in-process workload, and why: a collective needs several processes, so
#: its timing (paired with the reference in the same process group) is the run's.
_NOT_TIMED: dict[str, str] = {
    "collective": "a collective runs across processes: `nlpsuite run --kind collective` times it",
}


def compare_timing(subject: Subject) -> TimingComparison:
    """Time the component and, when registered, its reference on the kind's fixed workload."""
    if subject.cls.kind in _NOT_TIMED:
        return TimingComparison("none", None, note=_NOT_TIMED[subject.cls.kind])
    workload, _ = _WORKLOADS[subject.cls.kind]
    component_ms, note = _median_ms(subject.cls)
    result = TimingComparison(workload, component_ms, note=note and f"component: {note}")
    if subject.reference is None:
        result.note = result.note or subject.reference_note
        return result
    result.reference = subject.reference.name
    result.reference_ms, ref_note = _median_ms(subject.reference)
    if ref_note:
        result.note = (result.note + "; " if result.note else "") + f"reference: {ref_note}"
    return result
