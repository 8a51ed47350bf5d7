"""Every registered topic runs its experiment and every claim holds, on several seeds.

A claim true only on some seeds is a wrong claim (or needs a bigger experiment): the fast set
runs each topic at its smallest size on two seeds, the slow set at full size on five.
"""

from __future__ import annotations

import re

import pytest

import suite
from suite.topics import CARD_SECTIONS, TopicContext, run_topic

TOPICS = suite.list_topics()
BUILTIN_TOPICS = [t for t in TOPICS if t.__module__.startswith("plugins.topics")]


def _claims_hold(topic: type[suite.Topic], ctx: TopicContext) -> None:
    run = run_topic(topic, ctx)
    assert run.error is None, f"{topic.name} (seed {ctx.seed}): {run.error}"
    assert run.evidence is not None
    failing = [claim.statement for claim in run.evidence.claims if not claim.holds]
    assert not failing, f"{topic.name} (seed {ctx.seed}): {failing}"


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_every_claim_holds_at_the_smallest_size(topic: type[suite.Topic], seed: int) -> None:
    _claims_hold(topic, TopicContext(seed=seed, small=True))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_every_claim_holds_at_full_size(topic: type[suite.Topic], seed: int) -> None:
    _claims_hold(topic, TopicContext(seed=seed))


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_every_card_answers_with_a_formula_pitfalls_and_follow_ups(
    topic: type[suite.Topic],
) -> None:
    sections = topic.sections()
    assert topic.question.strip().endswith("?"), f"{topic.name}: the question is not a question"
    assert len(sections["answer"]) > 80, f"{topic.name}: the card has no short answer"
    first_line = sections["answer"].splitlines()[0].strip()
    assert first_line != topic.question.strip(), f"{topic.name}: the card repeats the question"
    for heading in CARD_SECTIONS:
        key = heading[:-1].lower()
        assert sections.get(key), f"{topic.name}: the card has no '{heading}' section"


@pytest.mark.parametrize("topic", BUILTIN_TOPICS, ids=lambda t: t.name)
def test_no_card_quotes_a_typed_in_figure(topic: type[suite.Topic]) -> None:
    """Measured numbers belong in claims; a card writes constants as fractions (1/4, 1/(1-p))."""
    typed = re.findall(r"\d+\.\d+|\d+(?:\.\d+)?\s*%", topic.card())
    assert not typed, f"{topic.name}: figures typed into the card: {typed}"


def test_components_named_by_topics_exist() -> None:
    for topic in TOPICS:
        for reference in topic.components:
            kind, _, name = reference.partition(":")
            suite.get(kind, name)


def test_there_are_at_least_35_builtin_topics_in_the_main_areas() -> None:
    assert len(BUILTIN_TOPICS) >= 35
    assert {t.area for t in BUILTIN_TOPICS} >= {
        "attention",
        "tokenizer",
        "norm",
        "regularisation",
        "loss",
        "metrics",
        "contrastive",
        "alignment",
        "moe",
    }
