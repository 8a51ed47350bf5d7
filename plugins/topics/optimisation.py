"""Interview topics of the area optimisation (being written)."""

TOPICS: tuple[type, ...] = ()
