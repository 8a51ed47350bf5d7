"""Built-in interview topics: every classic question as a card whose answer is proved on the spot.

Each module holds the topics of one area and lists them in `TOPICS`; this package registers
them through `register_topics`, the same hook a third-party plugin uses. `nlpsuite explain`
lists them by area, `nlpsuite explain NAME` runs one, `nlpsuite quiz` asks them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import suite

__all__ = ["AREA_MODULES", "register_topics"]

#: The modules of each area, its first module first (a few hold two close areas); each defines
#: `TOPICS`. This order is the registration order, which `explain` and `quiz` follow.
AREA_MODULES: tuple[str, ...] = (
    "plugins.topics.attention",
    "plugins.topics.attention_properties",
    "plugins.topics.attention_cost",
    "plugins.topics.transformer",
    "plugins.topics.position",
    "plugins.topics.tokenizer",
    "plugins.topics.tokenizer_vocabulary",
    "plugins.topics.norm",
    "plugins.topics.regularisation",
    "plugins.topics.regularisation_penalties",
    "plugins.topics.optimisation",
    "plugins.topics.loss",
    "plugins.topics.loss_classification",
    "plugins.topics.metrics",
    "plugins.topics.contrastive",
    "plugins.topics.alignment",
    "plugins.topics.moe",
    "plugins.topics.peft",
    "plugins.topics.peft_methods",
    "plugins.topics.decoding",
    "plugins.topics.decoding_kv_cache",
    "plugins.topics.decoding_exposure_bias",
    "plugins.topics.distributed",
    "plugins.topics.kernels",
    "plugins.topics.kernels_lm_head",
    "plugins.topics.kernels_norm_fusion",
)


@suite.hookimpl
def register_topics(register: Callable[[type], None]) -> None:
    for module_name in AREA_MODULES:
        for cls in importlib.import_module(module_name).TOPICS:
            register(cls)
