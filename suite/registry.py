"""The registry of components and benchmarks, filled by plugins through the `register_*` hooks."""

from __future__ import annotations

from collections.abc import Sequence

from suite.benchmark import Benchmark, validate_benchmark_class
from suite.errors import UnknownComponentError
from suite.kinds import KINDS, Component, validate_component_class
from suite.topics import AREAS, Topic, validate_topic_class

__all__ = ["Registry"]


class Registry:
    """Components by `(kind, name)` and benchmarks by `name`, each remembering its plugin."""

    def __init__(self) -> None:
        self._components: dict[tuple[str, str], type[Component]] = {}
        self._benchmarks: dict[str, type[Benchmark]] = {}
        self._topics: dict[str, type[Topic]] = {}
        self.owner: dict[
            tuple[str, str], str
        ] = {}  # ("component"|"benchmark", kind:name) -> plugin

    # ------------------------------------------------------------------ registration
    def check(
        self, components: Sequence[type], benchmarks: Sequence[type], topics: Sequence[type] = ()
    ) -> str | None:
        """Why this batch of registrations is invalid (first problem), or `None`."""
        seen: set[tuple[str, str]] = set()
        for cls in components:
            problem = validate_component_class(cls)
            if problem is not None:
                return problem
            key = (cls.kind, cls.name)  # type: ignore[attr-defined]
            if key in self._components or key in seen:
                owner = self.owner.get(("component", f"{key[0]}:{key[1]}"), "the same plugin")
                return f"{key[0]} {key[1]!r} is already registered by {owner}"
            seen.add(key)
        names: set[str] = set()
        for cls in benchmarks:
            problem = validate_benchmark_class(cls)
            if problem is not None:
                return problem
            name = cls.name  # type: ignore[attr-defined]
            if name in self._benchmarks or name in names:
                owner = self.owner.get(("benchmark", name), "the same plugin")
                return f"benchmark {name!r} is already registered by {owner}"
            names.add(name)
        topic_names: set[str] = set()
        for cls in topics:
            problem = validate_topic_class(cls)
            if problem is not None:
                return problem
            name = cls.name  # type: ignore[attr-defined]
            if name in self._topics or name in topic_names:
                owner = self.owner.get(("topic", name), "the same plugin")
                return f"topic {name!r} is already registered by {owner}"
            topic_names.add(name)
        return None

    def commit(
        self,
        components: Sequence[type],
        benchmarks: Sequence[type],
        owner: str,
        topics: Sequence[type] = (),
    ) -> None:
        for cls in components:
            key = (cls.kind, cls.name)  # type: ignore[attr-defined]
            self._components[key] = cls  # type: ignore[assignment]
            self.owner[("component", f"{key[0]}:{key[1]}")] = owner
        for cls in benchmarks:
            self._benchmarks[cls.name] = cls  # type: ignore[attr-defined]
            self.owner[("benchmark", cls.name)] = owner  # type: ignore[attr-defined]
        for cls in topics:
            self._topics[cls.name] = cls  # type: ignore[attr-defined]
            self.owner[("topic", cls.name)] = owner  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ look-up
    def components(self, kind: str | None = None) -> list[type[Component]]:
        """Registered component classes, references first within each kind, in kind order."""
        if kind is not None and kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        found = [cls for (k, _), cls in self._components.items() if kind is None or k == kind]
        return sorted(found, key=lambda c: (KINDS.index(c.kind), c.reference is not None, c.name))

    def get(self, kind: str, name: str) -> type[Component]:
        if kind not in KINDS:
            raise UnknownComponentError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            return self._components[(kind, name)]
        except KeyError:
            known = ", ".join(sorted(n for k, n in self._components if k == kind)) or "none"
            raise UnknownComponentError(f"no {kind} named {name!r}; known: {known}") from None

    def benchmarks(self, kind: str | None = None) -> list[type[Benchmark]]:
        found = [cls for cls in self._benchmarks.values() if kind is None or cls.kind == kind]
        return sorted(found, key=lambda c: (KINDS.index(c.kind), c.name))

    def reference_of(self, cls: type[Component]) -> type[Component] | None:
        """The registered component `cls.reference` names (same kind), or `None`: when `cls` is
        itself a reference, names itself, or names a component this registry does not hold."""
        name = cls.reference
        if name is None:
            return None
        found = self._components.get((cls.kind, name))
        return None if found is None or found is cls else found

    def topics(self, area: str | None = None) -> list[type[Topic]]:
        """Registered topics (of `area` if given), the built-in areas first, then by name."""
        found = [cls for cls in self._topics.values() if area is None or cls.area == area]
        return sorted(found, key=lambda c: (_area_rank(c.area), c.area, c.name))

    def get_topic(self, name: str) -> type[Topic]:
        try:
            return self._topics[name]
        except KeyError:
            known = ", ".join(sorted(self._topics)) or "none"
            raise UnknownComponentError(f"no topic named {name!r}; known: {known}") from None


def _area_rank(area: str) -> int:
    return AREAS.index(area) if area in AREAS else len(AREAS)
