"""`nlpsuite check TARGET`: the conformance kit on a user's component, property by property."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "check a component against its kind's contract: hypothesis properties, then timing"
DESCRIPTION = """\
Run the conformance kit on the components TARGET registers: every property of their kind,
each on hypothesis-generated examples (shrunk to a minimal failing one), then a quick timing
beside the reference. Exit 0 only if every property passes (or fails as declared by --xfail).

TARGET is one of:
  my_attention.py        a file: its register_components hook, or the component classes it defines
  my_pkg.plugin          an importable module, the same way
  attention:sdpa         a registered component (attention:* for all of a kind)

examples:
  nlpsuite practice attention && nlpsuite check my_attention.py
  nlpsuite check norm:masked-batchnorm --examples 100
  nlpsuite check my_attention.py --only attention.causal-no-leak --example '{"batch": 1, ...}'
  nlpsuite check my_loss.py --xfail loss.reduction='sums on purpose'
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", help="a .py file, an importable module, or kind:name")
    parser.add_argument(
        "--examples",
        type=int,
        default=None,
        metavar="N",
        help="hypothesis examples per property (default: 25; tokenizer properties run 40%%)",
    )
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default: 0)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="only this property (repeatable), e.g. attention.scale",
    )
    parser.add_argument(
        "--example",
        default=None,
        metavar="JSON",
        help="replay one example (from a failure's reproduction line) instead of generating; needs one --only",
    )
    parser.add_argument(
        "--xfail",
        action="append",
        default=[],
        metavar="ID=REASON",
        help="declare a property expected to fail (repeatable)",
    )
    parser.add_argument(
        "--no-timing", action="store_true", help="skip the timing against the reference"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the reports as JSON instead of tables"
    )
    parser.set_defaults(handler=run)


def _parse_xfail(items: list[str]) -> dict[str, str]:
    from suite.errors import UsageError

    declared = {}
    for item in items:
        property_id, sep, reason = item.partition("=")
        if not sep or not reason.strip():
            raise UsageError(f"--xfail needs ID=REASON, got {item!r}")
        declared[property_id.strip()] = reason.strip()
    return declared


def _parse_example(text: str | None, only: list[str]) -> dict[str, Any] | None:
    import json

    from suite.errors import UsageError

    if text is None:
        return None
    if len(only) != 1:
        raise UsageError(
            f"--example replays one property: give exactly one --only (got {len(only)})"
        )
    try:
        example = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--example is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(example, dict):
        raise UsageError(f"--example must be a JSON object, got {type(example).__name__}")
    return example


class _MissingExampleKey(Exception):
    """An example key the property reads that neither the example nor a generated one has."""


class _ExampleProbe(dict[str, Any]):
    """The user's example, completed from a generated one; records which keys it had to add."""

    def __init__(self, given: dict[str, Any], sample: dict[str, Any]) -> None:
        super().__init__(given)
        self.sample = sample
        self.added: list[str] = []

    def __missing__(self, key: str) -> Any:
        if key not in self.sample:
            raise _MissingExampleKey(key)
        self.added.append(key)
        return self.sample[key]


def _generated_examples(prop: Any, subject: Any, count: int = 10) -> list[dict[str, Any]]:
    """A few examples of the property's own strategy (deterministic), to learn its keys."""
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(prop.strategy(subject))
    def collect(example: dict[str, Any]) -> None:
        drawn.append(dict(example))

    collect()
    return drawn


def _check_example_keys(property_id: str, example: dict[str, Any], cls: type) -> None:
    """A usage error naming the missing or unknown keys of a replayed `--example`.

    Unknown: keys no generated example has. Missing: keys the check reads (found by running it
    once on the example completed from a generated one) that the example lacks; keys the check
    reads with a default may be left out.
    """
    from suite.errors import UsageError
    from suite.testing import get_property, make_subject

    prop = get_property(property_id)
    subject = make_subject(cls)
    drawn = _generated_examples(prop, subject)
    if not drawn:
        return
    known = set().union(*(set(ex) for ex in drawn))
    expected = f"{property_id} examples have {', '.join(sorted(known))}"
    unknown = sorted(set(example) - known)
    if unknown:
        raise UsageError(
            f"--example has unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; {expected}"
        )
    if known <= set(example):
        return
    probe = _ExampleProbe(example, drawn[0])
    try:
        prop.check(subject, probe)
    except _MissingExampleKey as exc:
        probe.added.append(str(exc.args[0]))
    except Exception:  # the component's own failure: judged by the real run, not here
        pass
    if probe.added:
        missing = list(dict.fromkeys(probe.added))
        raise UsageError(f"--example lacks {', '.join(missing)}; {expected}")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from suite.console import console
    from suite.errors import UsageError
    from suite.testing import DEFAULT_EXAMPLES, all_properties, check_component, load_target
    from suite.testing.render import render_reports

    examples = DEFAULT_EXAMPLES if args.examples is None else args.examples
    if examples < 1:
        raise UsageError(f"--examples must be at least 1, got {examples}")
    known = {prop.id: prop.kind for prop in all_properties()}
    xfail = _parse_xfail(args.xfail)
    for property_id in [*args.only, *xfail]:
        if property_id not in known:
            raise UsageError(f"unknown property {property_id!r}; known: {', '.join(known)}")
    example = _parse_example(args.example, args.only)
    loaded = load_target(args.target)
    if example is not None:
        matching = [cls for cls in loaded.components if cls.kind == known[args.only[0]]]
        if matching:
            _check_example_keys(args.only[0], example, matching[0])
    reports = []
    for cls in loaded.components:
        only = [pid for pid in args.only if known[pid] == cls.kind]
        if args.only and not only:
            continue
        reports.append(
            check_component(
                cls,
                max_examples=examples,
                seed=args.seed,
                only=only,
                xfail={pid: reason for pid, reason in xfail.items() if known[pid] == cls.kind},
                example=example,
                timing=not args.no_timing,
                target=args.target,
            )
        )
    if not reports:
        raise UsageError(
            f"{args.target}: none of its components ({', '.join(c.kind + ':' + c.name for c in loaded.components)}) has the properties asked for"
        )
    if args.json:
        print(
            json.dumps(
                [asdict(report) for report in reports], indent=2, ensure_ascii=False, default=str
            )
        )
    else:
        render_reports(reports, console)
    return 0 if all(report.ok for report in reports) else 1
