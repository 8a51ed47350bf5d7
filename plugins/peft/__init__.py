"""Built-in parameter-efficient fine-tuning methods: LoRA, adapters, BitFit, prefix and prompt tuning, full fine-tuning.

The interview questions this kind answers with measured numbers: how many parameters each
method trains and what that saves in optimiser state (`peft-parameters`), how close each gets
to full fine-tuning on a related task (`peft-finetune`), how LoRA's rank trades parameters for
accuracy (`peft-rank`), and why a merged LoRA costs nothing at inference (`peft-merge`).
References: HuggingFace `peft` (`peft-lora`, `peft-prefix`, `peft-prompt`; see `reference.py`
for what each one takes from peft).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.peft.adapter import Adapter
from plugins.peft.benchmarks import PeftFinetune, PeftMerge, PeftParameters, PeftRank
from plugins.peft.bitfit import BitFit
from plugins.peft.full import FullFineTuning
from plugins.peft.lora import LoRA
from plugins.peft.prefix import PrefixTuning
from plugins.peft.prompt import PromptTuning
from plugins.peft.reference import PeftLoRA, PeftPrefix, PeftPrompt

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "Adapter",
    "BitFit",
    "FullFineTuning",
    "LoRA",
    "PeftFinetune",
    "PeftLoRA",
    "PeftMerge",
    "PeftParameters",
    "PeftPrefix",
    "PeftPrompt",
    "PeftRank",
    "PrefixTuning",
    "PromptTuning",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.PEFT], ...] = (
    LoRA,
    Adapter,
    BitFit,
    PrefixTuning,
    PromptTuning,
    FullFineTuning,
    PeftLoRA,
    PeftPrefix,
    PeftPrompt,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (PeftParameters, PeftFinetune, PeftRank, PeftMerge)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
