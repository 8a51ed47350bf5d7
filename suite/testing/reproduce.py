"""Replaying a failure: the one-line shell reproduction, and the same from Python.

Examples are JSON dicts (shapes, a seed, masks, texts), so the shrunk falsifying example the
kit prints replays exactly, anywhere: the check rebuilds its tensors from the example's seed.

    nlpsuite check my_attention.py --only attention.causal-no-leak --example '{"batch": 1, ...}'

    from suite.testing.reproduce import replay
    replay("my_attention.py", "attention.causal-no-leak", {"batch": 1, ...})  # PropertyResult
"""

from __future__ import annotations

import json
import shlex
from typing import Any

__all__ = ["replay", "reproduction_command"]


def reproduction_command(target: str, property_id: str, example: dict[str, Any]) -> str:
    """`nlpsuite check TARGET --only ID --example 'JSON'`, shell-quoted, on one line."""
    payload = json.dumps(example, ensure_ascii=False, separators=(",", ":"))
    return f"nlpsuite check {shlex.quote(target)} --only {property_id} --example {shlex.quote(payload)}"


def replay(target: str, property_id: str, example: dict[str, Any]) -> Any:
    """Run one property once on `example` for the component(s) of `target` with that kind.

    Returns the `PropertyResult` (or a list of them when the target holds several components
    of the property's kind); raises `suite.errors.UsageError` for an unloadable target.
    """
    from suite.testing.kit import make_subject, run_property
    from suite.testing.properties import get_property
    from suite.testing.targets import load_target

    prop = get_property(property_id)
    classes = [cls for cls in load_target(target).components if cls.kind == prop.kind]
    results = [
        run_property(make_subject(cls), prop, example=example, target=target) for cls in classes
    ]
    return results[0] if len(results) == 1 else results
