"""Built-in decoders: greedy, beam search, sampling, transformers' generate as references, benchmarks.

The interview questions this kind answers with measured numbers: is greedy decoding optimal
(`decoding-search-quality`: a chain built so that it is not, beam widths 1 to 8), what the KV
cache buys and costs (`decoding-kv-cache`: time per token, growth exponents, bytes against
2·layers·Hkv·head_dim·T·bytes), what temperature and top-p do (`decoding-sampling`), and
that each from-scratch decoder is transformers' (`decoding-agreement`).
"""

from __future__ import annotations

from collections.abc import Callable

import suite
from plugins.decoding.beam import BeamSearch
from plugins.decoding.benchmarks import (
    DecodingAgreement,
    DecodingKVCache,
    DecodingSampling,
    DecodingSearchQuality,
)
from plugins.decoding.greedy import Greedy
from plugins.decoding.reference import HFBeam, HFGreedy, HFSample
from plugins.decoding.sample import Sample

__all__ = [
    "BENCHMARKS",
    "COMPONENTS",
    "BeamSearch",
    "DecodingAgreement",
    "DecodingKVCache",
    "DecodingSampling",
    "DecodingSearchQuality",
    "Greedy",
    "HFBeam",
    "HFGreedy",
    "HFSample",
    "Sample",
    "register_benchmarks",
    "register_components",
]

COMPONENTS: tuple[type[suite.Decoder], ...] = (
    Greedy,
    BeamSearch,
    Sample,
    HFGreedy,
    HFBeam,
    HFSample,
)
BENCHMARKS: tuple[type[suite.Benchmark], ...] = (
    DecodingAgreement,
    DecodingSearchQuality,
    DecodingKVCache,
    DecodingSampling,
)


@suite.hookimpl
def register_components(register: Callable[[type], None]) -> None:
    for cls in COMPONENTS:
        register(cls)


@suite.hookimpl
def register_benchmarks(register: Callable[[type], None]) -> None:
    for cls in BENCHMARKS:
        register(cls)
