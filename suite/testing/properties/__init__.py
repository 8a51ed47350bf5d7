"""One module of property checks per kind; see `_base` for what a property is."""

from __future__ import annotations

from suite.testing.properties._base import (
    Example,
    Property,
    PropertyFailure,
    PropertySkip,
    Subject,
    all_properties,
    fail,
    get_property,
    properties_for,
    register_property,
)

__all__ = [
    "Example",
    "Property",
    "PropertyFailure",
    "PropertySkip",
    "Subject",
    "all_properties",
    "fail",
    "get_property",
    "properties_for",
    "register_property",
]
