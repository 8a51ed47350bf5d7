"""Interview topics of the area norm (being written)."""

TOPICS: tuple[type, ...] = ()
