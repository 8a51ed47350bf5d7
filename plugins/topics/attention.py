"""Interview topics of the area attention (being written)."""

TOPICS: tuple[type, ...] = ()
