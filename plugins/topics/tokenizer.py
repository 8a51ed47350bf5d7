"""Interview topics of the area tokenizer (being written)."""

TOPICS: tuple[type, ...] = ()
