"""Helpers shared by the decoding topic modules."""

from __future__ import annotations

import suite


def _decoder(name: str, **options: object) -> suite.Decoder:
    return suite.get("decoding", name)(**options)  # type: ignore[return-value]
