"""`report.md`: the terminal tables as Markdown, to paste into an issue, a PR or a notebook.

Cells are escaped for CommonMark: a backslash before `|` (which would split the cell) and
before the characters that would start HTML, emphasis, code or links, so that a component named
`<script>` shows as text wherever the file is rendered.
"""

from __future__ import annotations

import re
from typing import Any

from suite.reporting.formatting import one_line
from suite.reporting.tables import (
    Table,
    build_tables,
    headline,
    run_header,
    run_notes,
    summary_line,
)

__all__ = ["render_markdown"]

_SPECIAL = re.compile(r"([\\|<>*`\[\]&~])")


def escape_markdown(text: Any) -> str:
    """One line of `text` with every Markdown-active character backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", one_line(text))


def _table_markdown(table: Table) -> list[str]:
    lines = [f"## {escape_markdown(table.kind)} · {escape_markdown(table.benchmark)}", ""]
    for part in table.notes:
        if part:
            lines += [escape_markdown(part), ""]
    columns = table.columns()
    lines.append("| " + " | ".join(escape_markdown(column.title) for column in columns) + " |")
    numeric = ("ratio", "time", "metric", "memory")
    lines.append(
        "|" + "|".join("---:" if column.role in numeric else "---" for column in columns) + "|"
    )
    for row in table.rows:
        cells = [escape_markdown(cell) for cell in table.cells(row)]
        if row.role == "reference":
            cells[0] = f"**{cells[0]}**"
        elif row.role == "candidate":
            cells[0] = f"↳ {cells[0]}"
        if row.status != "ok":
            cells[-1] = f"**{row.status}**: {cells[-1]}"
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _summary_markdown(tables: list[Table]) -> list[str]:
    """One line per benchmark: its cells by status and its headline ratio."""
    lines = ["## Summary", "", "| kind | benchmark | ok | error | skipped | headline ratio |"]
    lines.append("|---|---|---:|---:|---:|---|")
    for table in tables:
        statuses = [row.status for row in table.rows]
        line = headline(table)
        cells = [
            escape_markdown(table.kind),
            escape_markdown(table.benchmark),
            *(str(statuses.count(status)) for status in ("ok", "error", "skipped")),
            escape_markdown(line.text()) if line else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(document: dict[str, Any]) -> str:
    """The whole report: run header, one table per kind × benchmark, the summary line."""
    run_id = (document.get("run") or {}).get("id") or "?"
    lines = [f"# nlpsuite run {escape_markdown(run_id)}", ""]
    notes = run_notes(document)
    warnings = [note.text for note in notes if note.level == "warning"]
    if warnings:
        lines += [f"> **Warning** ({len(warnings)} about the inputs):", ">"]
        lines += [f"> - {escape_markdown(text)}" for text in warnings]
        lines.append("")
    lines += [f"> **Note**: {escape_markdown(n.text)}\n" for n in notes if n.level == "resume"]
    lines += [f"- **{label}**: {escape_markdown(value)}" for label, value in run_header(document)]
    lines += [f"- **corpus**: {escape_markdown(n.text)}" for n in notes if n.level == "corpus"]
    lines += ["", escape_markdown(summary_line(document)), ""]
    tables = build_tables(document)
    if not tables:
        lines += ["No results in this run.", ""]
    else:
        lines += _summary_markdown(tables)
    for table in tables:
        lines += _table_markdown(table)
    return "\n".join(lines)
