"""Interview topics of the area position (being written)."""

TOPICS: tuple[type, ...] = ()
