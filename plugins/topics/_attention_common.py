"""Helpers shared by the attention topic modules."""

from __future__ import annotations

import suite


def _attention(name: str, **options: object) -> suite.Attention:
    return suite.get("attention", name)(**options)
