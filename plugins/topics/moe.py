"""Interview topics of the area moe (being written)."""

TOPICS: tuple[type, ...] = ()
