"""Helpers shared by the loss topic modules."""

from __future__ import annotations

from typing import Any


def _sklearn_metrics() -> Any:
    """`sklearn.metrics`, imported when an experiment runs, not when the plugin loads."""
    from sklearn import metrics

    return metrics
