"""Built-in positional encodings: sinusoidal, learned, RoPE, ALiBi, none; references; benchmarks.

The interview questions this kind answers with measured numbers: what positions add to
attention (without them an encoder is permutation-equivariant), why sinusoids (a shift is a
fixed linear map), how RoPE makes scores relative, and which methods read past the training
length (`position-extrapolation`); that each from-scratch method is the function HuggingFace
runs (`position-agreement`); and what each costs on top of attention (`position-overhead`).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.positions.alibi import ALiBiPosition
from plugins.positions.benchmarks import (
    PositionAgreement,
    PositionExtrapolation,
    PositionOverhead,
)
from plugins.positions.learned import LearnedPosition
from plugins.positions.none import NoPosition
from plugins.positions.reference import HFALiBi, HFRotary, SinusoidalFloat64
from plugins.positions.rope import RotaryPosition
from plugins.positions.sinusoidal import SinusoidalPosition

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "ALiBiPosition",
    "HFALiBi",
    "HFRotary",
    "LearnedPosition",
    "NoPosition",
    "PositionAgreement",
    "PositionExtrapolation",
    "PositionOverhead",
    "RotaryPosition",
    "SinusoidalFloat64",
    "SinusoidalPosition",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.PositionalEncoding], ...] = (
    SinusoidalPosition,
    LearnedPosition,
    RotaryPosition,
    ALiBiPosition,
    NoPosition,
    HFRotary,
    HFALiBi,
    SinusoidalFloat64,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (
    PositionAgreement,
    PositionExtrapolation,
    PositionOverhead,
)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
