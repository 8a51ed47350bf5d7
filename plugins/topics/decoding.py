"""Interview topics of the area decoding (being written)."""

TOPICS: tuple[type, ...] = ()
