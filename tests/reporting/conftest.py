"""Fixtures of the reporting tests; the documents themselves live in `reporting_samples`."""

from __future__ import annotations

from typing import Any

import pytest
from reporting_samples import sample_document


@pytest.fixture
def document() -> dict[str, Any]:
    return sample_document()
