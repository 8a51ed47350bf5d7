"""Interview topics of the area contrastive (being written)."""

TOPICS: tuple[type, ...] = ()
