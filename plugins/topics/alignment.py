"""Interview topics of the area alignment (being written)."""

TOPICS: tuple[type, ...] = ()
