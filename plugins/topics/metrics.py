"""Interview topics of the area metrics (being written)."""

TOPICS: tuple[type, ...] = ()
