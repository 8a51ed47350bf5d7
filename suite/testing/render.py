"""Rich tables of the kit's reports, for `nlpsuite check` (pytest prints its own summary)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from suite.testing.kit import ComponentReport

__all__ = ["render_reports", "summary_counts"]

_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "xfailed": "cyan",
    "xpassed": "bold red",
}


def summary_counts(reports: Sequence[ComponentReport]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for report in reports:
        for result in report.results:
            counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def render_reports(reports: Sequence[ComponentReport], console: Any) -> None:
    """One table per component: property, verdict, and the failing sentence, example, reproduction."""
    from rich.table import Table
    from rich.text import Text

    for report in reports:
        verdict = "[green]conforms[/]" if report.ok else "[bold red]does not conform[/]"
        reference = report.reference or "none (a reference itself)"
        table = Table(
            title=f"{report.label}  (reference: {reference})  {verdict}",
            title_justify="left",
            show_lines=True,
        )
        table.add_column("property", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("details", overflow="fold")
        for result in report.results:
            details = Text(result.message if result.status != "passed" else result.statement)
            if result.example is not None:
                details.append("\nfalsifying example (shrunk): ", style="dim")
                details.append(json.dumps(result.example, ensure_ascii=False))
            if result.reproduction:
                details.append("\nreproduce: ", style="dim")
                details.append(result.reproduction, style="bold")
            status = f"[{_STYLE.get(result.status, '')}]{result.status}[/]"
            if result.status in ("passed", "failed"):
                status += f"\n[dim]{result.examples_run} ex, {result.seconds:.1f}s[/]"
            table.add_row(result.property_id, status, details)
        console.print(table)
        timing = report.timing
        if timing is not None:
            console.print(_timing_line(timing))
    counts = summary_counts(reports)
    parts = [
        f"{counts[s]} {s}"
        for s in ("passed", "failed", "xfailed", "xpassed", "skipped")
        if counts.get(s)
    ]
    console.print(
        f"[bold]{len(reports)} component(s): {', '.join(parts) or 'no properties run'}[/]"
    )


def _timing_line(timing: Any) -> str:
    line = f"timing ({timing.workload}): "
    line += (
        f"{timing.component_ms:.3g} ms"
        if timing.component_ms is not None
        else "component not timed"
    )
    if timing.reference is not None and timing.reference_ms is not None:
        line += f", reference {timing.reference} {timing.reference_ms:.3g} ms"
        if timing.ratio is not None:
            line += f" ({timing.ratio:.2f}× the reference's time)"
    if timing.note:
        line += f"  [dim]({timing.note})[/]"
    return line
