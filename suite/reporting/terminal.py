"""Rich tables in the terminal: the first thing a user sees after `nlpsuite run` or `report`.

Every string that comes from a plugin or a results file goes into a `rich.text.Text`, never
through console markup, so a component named `[red]x` prints as written.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from suite.reporting.tables import Row, Table, build_tables, one_line, run_header, status_counts

__all__ = ["print_tables"]

NOTE_LIMIT = 120  # characters of an error shown in the terminal; the HTML report has it whole
_VERDICT_STYLES = {"better": "green", "worse": "yellow", "same": ""}
_HEADER_LABELS = ("run", "device", "torch", "seed", "finished")
_STATUS_STYLES = {"error": "red", "skipped": "dim"}


def _header_text(document: dict[str, Any]) -> Text:
    text = Text()
    pairs = [(label, value) for label, value in run_header(document) if label in _HEADER_LABELS]
    for index, (label, value) in enumerate(pairs):
        if index:
            text.append("  ·  ", style="dim")
        text.append(f"{label} ", style="dim")
        text.append(value, style="bold" if label == "run" else "")
    return text


def _summary_text(document: dict[str, Any]) -> Text:
    counts = status_counts(document)
    text = Text(f"{sum(counts.values())} cells: ")
    for index, (status, count) in enumerate(counts.items()):
        if index:
            text.append(", ")
        style = _STATUS_STYLES.get(status, "green") if count else ""
        text.append(f"{count} {status}", style=style)
    return text


def _row_texts(table: Table, row: Row) -> list[Text]:
    row_style = _STATUS_STYLES.get(row.status, "")
    texts = []
    for column, cell in zip(table.columns(), table.cells(row)):
        style = row_style
        if column.role == "component":
            cell = ("  " if row.role == "candidate" else "") + cell
            style = style or ("bold" if row.role == "reference" else "")
        elif column.role == "ratio":
            style = style or _VERDICT_STYLES.get(table.verdict(row), "")
        elif column.role == "error":
            cell = one_line(cell, NOTE_LIMIT)
        texts.append(Text(cell, style=style))
    return texts


def render_table(table: Table) -> RichTable:
    """The rich table of one kind × benchmark; a line between parameter points."""
    caption = "\n".join(table.notes)
    rich_table = RichTable(
        title=Text(f"{table.kind} · {table.benchmark}", style="bold"),
        title_justify="left",
        caption=Text(caption) if caption else None,
        caption_justify="left",
    )
    names = [len(row.component) + (2 if row.role == "candidate" else 0) for row in table.rows]
    for column in table.columns():
        numeric = column.role in ("ratio", "time", "metric", "memory")
        rich_table.add_column(
            Text(column.title),
            justify="right" if numeric else "left",
            overflow="fold",
            # component names stay whole (up to 32 characters); the number columns give way
            min_width=min(max(names, default=0), 32) if column.role == "component" else None,
        )
    for group in table.groups:
        for position, row in enumerate(group):
            rich_table.add_row(*_row_texts(table, row), end_section=position == len(group) - 1)
    return rich_table


def print_tables(document: dict[str, Any], console: Console) -> None:
    """Print a run header, one table per kind × benchmark, and the ok / error / skipped counts."""
    console.print(_header_text(document))
    tables = build_tables(document)
    if not tables:
        console.print(Text("no results in this run", style="yellow"))
    for table in tables:
        console.print(render_table(table))
    console.print(_summary_text(document))
