"""Interview topics of the area transformer (being written)."""

TOPICS: tuple[type, ...] = ()
