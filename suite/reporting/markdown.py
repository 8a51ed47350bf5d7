"""`report.md`: the terminal tables as Markdown, to paste into an issue, a PR or a notebook.

Cells are escaped for CommonMark: a backslash before `|` (which would split the cell) and
before the characters that would start HTML, emphasis, code or links, so that a component named
`<script>` shows as text wherever the file is rendered.
"""

from __future__ import annotations

import re
from typing import Any

from suite.reporting.formatting import one_line
from suite.reporting.tables import Table, build_tables, run_header, summary_line

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


def render_markdown(document: dict[str, Any]) -> str:
    """The whole report: run header, one table per kind × benchmark, the summary line."""
    run_id = (document.get("run") or {}).get("id") or "?"
    lines = [f"# nlpsuite run {escape_markdown(run_id)}", ""]
    lines += [f"- **{label}**: {escape_markdown(value)}" for label, value in run_header(document)]
    lines += ["", escape_markdown(summary_line(document)), ""]
    tables = build_tables(document)
    if not tables:
        lines += ["No results in this run.", ""]
    for table in tables:
        lines += _table_markdown(table)
    return "\n".join(lines)
