"""Built-in tokenizers: BPE, WordPiece and byte-level BPE from scratch, beside HuggingFace's.

Registered exactly as a third-party plugin would register them, through the two hooks below.
tiktoken is not registered: it cannot train, so it is a second reference for encoding inside
the `tokenizer-encode` cell of `bbpe`, built from bbpe's own merges (`tiktoken_reference`).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.tokenizers.benchmarks import (
    CompressionBenchmark,
    EncodeBenchmark,
    MixedScriptBenchmark,
    TrainBenchmark,
)
from plugins.tokenizers.bpe import BPE
from plugins.tokenizers.byte_level_bpe import ByteLevelBPE
from plugins.tokenizers.reference import HFBPE, HFByteLevelBPE, HFWordPiece
from plugins.tokenizers.wordpiece import WordPiece

__all__ = [
    "BPE",
    "HFBPE",
    "ByteLevelBPE",
    "CompressionBenchmark",
    "EncodeBenchmark",
    "HFByteLevelBPE",
    "HFWordPiece",
    "MixedScriptBenchmark",
    "TrainBenchmark",
    "WordPiece",
    "register_benchmarks",
    "register_components",
]


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in (HFBPE, HFWordPiece, HFByteLevelBPE, BPE, WordPiece, ByteLevelBPE):
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in (TrainBenchmark, EncodeBenchmark, CompressionBenchmark, MixedScriptBenchmark):
        register(cls)
