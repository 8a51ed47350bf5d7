"""Interview topics: a question, a card that answers it, and an experiment that proves the answer now.

A topic is a class registered through the `register_topics` hook, exactly like a component:

* `name`: unique, lowercase words joined by dashes (`why-scale-by-sqrt-dk`);
* `area`: one lowercase word (`attention`, `norm`, `loss`, ... or a new one);
* `question`: the interviewer's question, one line;
* `components`: the `kind:name` components the experiment uses (may be empty);
* the docstring is the card: a short answer first, then the sections `Formula:`, `Pitfalls:`
  and `Follow-up questions:` (see `card_sections`);
* `experiment(ctx)` runs in seconds on a CPU and returns `Evidence`: a small table and claims,
  and curves (`suite.Series`, the same class benchmarks attach to their cells) where a plot
  says more than the table.

A claim is a sentence whose numbers are filled in from what was just measured, and whether it
held. Nothing on a card is typed in: `Claim.of("entropy falls to {h:.2f}", holds=h < 1, h=h)`
formats the sentence from the measured values, so a claim that fails on some seed shows as
failing, with its numbers.
"""

from __future__ import annotations

import inspect
import random
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch

from suite.allocator import keep_freed_memory
from suite.series import Series

__all__ = [
    "AREAS",
    "CARD_SECTIONS",
    "Claim",
    "Evidence",
    "Series",
    "Topic",
    "TopicContext",
    "TopicRun",
    "card_sections",
    "run_topic",
    "validate_topic_class",
]

#: The areas the built-in topics use, in the order `nlpsuite explain` lists them; plugins may add
#: new ones (any single lowercase word).
AREAS: tuple[str, ...] = (
    "attention",
    "transformer",
    "position",
    "tokenizer",
    "norm",
    "regularisation",
    "optimisation",
    "loss",
    "metrics",
    "contrastive",
    "alignment",
    "moe",
    "peft",
    "decoding",
    "distributed",
    "kernels",
)
_TOPIC_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_AREA = re.compile(r"^[a-z]+$")

#: Card section headings, each on a line of its own in the docstring; the text before the first
#: heading is the short answer.
CARD_SECTIONS: tuple[str, ...] = ("Formula:", "Pitfalls:", "Follow-up questions:")


@dataclass(frozen=True)
class Claim:
    """One sentence of evidence: what was measured (`values`) and whether the point held."""

    statement: str
    values: dict[str, float]
    holds: bool

    @classmethod
    def of(cls, template: str, *, holds: bool, **values: float) -> Claim:
        """A claim whose sentence is `template` formatted with the measured `values`.

        `Claim.of("scaled entropy stays at {h:.2f} nats", holds=abs(h - h0) < 0.1, h=h)`.
        """
        clean = {key: _plain_number(value) for key, value in values.items()}
        return cls(template.format(**clean), clean, bool(holds))


@dataclass
class Evidence:
    """What a topic's experiment returns: a small table (rows of dicts), claims, optional curves."""

    table: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    note: str = ""  # one line on how the experiment was set up (sizes, steps)

    @property
    def holds(self) -> bool:
        return bool(self.claims) and all(claim.holds for claim in self.claims)

    def to_json(self) -> dict[str, Any]:
        return {
            "table": [{k: _plain_number(v) for k, v in row.items()} for row in self.table],
            "claims": [asdict(claim) for claim in self.claims],
            "series": [series.to_dict() for series in self.series],
            "note": self.note,
        }


@dataclass
class TopicContext:
    """What an experiment may use: a seed, a device, and whether to run at the smallest size."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    small: bool = False  # the tests run every topic at the smallest size that still proves it

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the context (plus `offset`, for independent streams)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)

    def pick(self, default: Any, small: Any) -> Any:
        """`small` when running at the smallest size, else `default`."""
        return small if self.small else default


class Topic:
    """Base class of interview topics; subclass it, set the class attributes, write `experiment`."""

    name: ClassVar[str]
    area: ClassVar[str]
    question: ClassVar[str] = ""
    components: ClassVar[tuple[str, ...]] = ()

    def experiment(self, ctx: TopicContext) -> Evidence:
        """Measure, now, the numbers that prove the card's answer."""
        raise NotImplementedError(f"{type(self).__name__} must implement experiment()")

    @classmethod
    def card(cls) -> str:
        """The docstring, dedented."""
        return inspect.getdoc(cls) or ""

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The card split into `answer`, `formula`, `pitfalls`, `follow-up questions`."""
        return card_sections(cls.card())


def card_sections(card: str) -> dict[str, str]:
    """Split a card at the `CARD_SECTIONS` headings; the text before them is the `answer`."""
    sections: dict[str, list[str]] = {"answer": []}
    current = "answer"
    for line in card.splitlines():
        stripped = line.strip()
        heading = next((h for h in CARD_SECTIONS if stripped.startswith(h)), None)
        if heading is not None:
            current = heading[:-1].lower()
            sections[current] = []
            rest = stripped[len(heading) :].strip()
            if rest:
                sections[current].append(rest)
            continue
        sections[current].append(line)
    return {key: "\n".join(lines).strip() for key, lines in sections.items()}


def validate_topic_class(cls: object) -> str | None:
    """Why `cls` cannot be registered as a topic, or `None` when it can."""
    if not isinstance(cls, type) or not issubclass(cls, Topic):
        return f"expected a subclass of suite.Topic, got {cls!r}"
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not _TOPIC_NAME.match(name):
        return (
            f"{cls.__qualname__} needs a `name` of lowercase words joined by dashes, got {name!r}"
        )
    area = getattr(cls, "area", None)
    if not isinstance(area, str) or not _AREA.match(area):
        return f"topic {name!r}: `area` must be one lowercase word, got {area!r}"
    if not isinstance(cls.question, str) or not cls.question.strip() or "\n" in cls.question:
        return f"topic {name!r}: `question` must be one non-empty line"
    components = cls.components
    if not isinstance(components, tuple) or not all(
        isinstance(c, str) and c.count(":") == 1 for c in components
    ):
        return f"topic {name!r}: `components` must be a tuple of 'kind:name', got {components!r}"
    if cls.experiment is Topic.experiment:
        return f"topic {name!r} does not implement experiment(ctx)"
    return None


@dataclass
class TopicRun:
    """The outcome of running one topic's experiment: its evidence, or the error it raised."""

    topic: type[Topic]
    seed: int
    evidence: Evidence | None
    error: str | None
    seconds: float

    @property
    def holds(self) -> bool:
        return self.evidence is not None and self.evidence.holds

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.topic.name,
            "area": self.topic.area,
            "question": self.topic.question,
            "components": list(self.topic.components),
            "card": self.topic.sections(),
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "holds": self.holds,
            "evidence": None if self.evidence is None else self.evidence.to_json(),
        }


def run_topic(topic: type[Topic], ctx: TopicContext) -> TopicRun:
    """Seed everything from `ctx`, run the experiment, and catch what it raises as one line."""
    random.seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    keep_freed_memory()  # timings in experiments leave out page faults, as in a run
    start = time.perf_counter()
    try:
        evidence = topic().experiment(ctx)
        if not isinstance(evidence, Evidence):
            raise TypeError(f"experiment returned {type(evidence).__name__}, not suite.Evidence")
        if not evidence.claims:
            raise ValueError("experiment returned no claims")
        error = None
    except Exception as exc:  # a broken experiment is reported, never a traceback
        evidence = None
        message = str(exc).splitlines()[0] if str(exc) else ""
        error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return TopicRun(topic, ctx.seed, evidence, error, time.perf_counter() - start)


def _plain_number(value: Any) -> Any:
    """Python numbers from tensors and numpy scalars, so that cards and JSON show plain values."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if type(value).__module__ == "numpy":
        return value.item() if getattr(value, "size", 1) == 1 else value.tolist()
    return value
