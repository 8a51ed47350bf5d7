"""Interview topics of the area loss (being written)."""

TOPICS: tuple[type, ...] = ()
