"""Interview topics of the area regularisation (being written)."""

TOPICS: tuple[type, ...] = ()
