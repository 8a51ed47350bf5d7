"""Rich tables in the terminal: the first thing a user sees after `nlpsuite run` or `report`.

Every string that comes from a plugin or a results file goes into a `rich.text.Text`, never
through console markup, so a component named `[red]x` prints as written.

A table must fit the console's width, and rich left alone does that badly: it folds headers
mid-word ("precis/ion") and, when even that is not enough, crops the right-hand columns without
a word. So the widths are chosen here (`fit_columns`) and handed to rich fixed:

* numbers and component names never wrap: a column is at least as wide as its longest cell;
* headers wrap only between words, or after the `_` or `-` inside a metric or component name
  (`max_abs_` / `error`), never inside a word; spare width first makes the header rows as
  few as it can, then keeps names whole, then lets error text wrap less;
* when the columns still do not fit, the least important are left out (the last metrics first,
  then peak memory, the time, the ratio's own metric and the error; never the component, its
  parameters or the ratio), and a line under the table names them: "left out for width: …;
  all are in results.csv".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from suite.noise import unstable_count
from suite.reporting.tables import (
    Row,
    Table,
    build_tables,
    one_line,
    run_header,
    run_notes,
    status_counts,
)

__all__ = ["ColumnFit", "fit_columns", "print_tables", "render_table", "wrap_header"]

NOTE_LIMIT = 120  # characters of an error shown in the terminal; the HTML report has it whole
NAME_LIMIT = 32  # a longer component name or parameter value may fold; shorter ones stay whole
ERROR_MIN_WIDTH = 16  # the error column wraps its text; narrower than this it is unreadable
_NUMERIC_ROLES = ("ratio", "time", "metric", "memory")
_TEXT_ROLES = ("component", "param", "error")  # cells that may wrap (at spaces) or fold
_VERDICT_STYLES = {"better": "green", "worse": "yellow", "same": "", "unstable": "dim"}
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
    unstable = unstable_count(document)
    if unstable:
        text.append(f"; {unstable} with unstable timing (~)", style="dim")
    return text


def _row_texts(table: Table, row: Row) -> list[Text]:
    row_style = _STATUS_STYLES.get(row.status, "")
    texts = []
    for column, cell in zip(table.columns(), _cell_strings(table, row)):
        style = row_style
        if column.role == "component":
            style = style or ("bold" if row.role == "reference" else "")
        elif column.role == "ratio":
            style = style or _VERDICT_STYLES.get(table.verdict(row), "")
        elif column.role == "time" and row.unstable:
            style = style or "dim"
        texts.append(Text(cell, style=style))
    return texts


# --------------------------------------------------------------------------- column widths


def _word_pieces(word: str) -> list[str]:
    """`max_abs_error` -> `max_abs_`, `error`: the places a name may break, its `_` and `-`."""
    return re.findall(r"[^_-]*[_-]+|[^_-]+", word)


def wrap_header(title: str, width: int) -> list[str]:
    """`title` in lines of at most `width`, broken between words, else after a `_` or `-`.

    A word that fits on a line of its own is never split; a longer name is split after its `_`
    or `-`. A piece wider than `width` (only when `width` is below `header_min_width`) stays
    whole on its own line.
    """
    lines: list[str] = []
    line = ""
    for word in title.split():
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if len(word) <= width:
            lines.append(line)
            line = word
            continue
        for index, piece in enumerate(_word_pieces(word)):
            joined = f"{line} {piece}" if line and index == 0 else line + piece
            if line and len(joined) > width:
                lines.append(line)
                line = piece
            else:
                line = joined
    if line or not lines:
        lines.append(line)
    return lines


def header_min_width(title: str) -> int:
    """The narrowest width at which `title` wraps without splitting a word (its longest piece)."""
    return max((len(p) for word in title.split() for p in _word_pieces(word)), default=0)


@dataclass(frozen=True)
class ColumnFit:
    """One column as the terminal shows it: where it is in `Table.columns()`, its width, header."""

    index: int
    width: int  # characters of content, without rich's padding and borders
    header: list[str]  # the title's lines at `width`


@dataclass
class _Candidate:
    index: int
    role: str
    title: str
    minimum: int
    natural: int
    width: int = 0

    def header_lines(self, width: int | None = None) -> int:
        return len(wrap_header(self.title, self.width if width is None else width))


def _table_width(widths: list[int]) -> int:
    """Characters rich needs for columns of these content widths: padding 1 + 1, borders."""
    return sum(widths) + 3 * len(widths) + 1


def _candidates(table: Table, cells: list[list[str]]) -> list[_Candidate]:
    candidates = []
    for index, column in enumerate(table.columns()):
        texts = [row[index] for row in cells]
        longest = max((len(text) for text in texts), default=0)
        if column.role in _TEXT_ROLES:  # wraps at spaces; a long token may fold
            tokens = [len(token) for text in texts for token in text.split()]
            cell_min = min(max(tokens, default=0), NAME_LIMIT)
            if column.role == "component":
                cell_min = min(longest, NAME_LIMIT)
            if column.role == "error":
                cell_min = min(longest, ERROR_MIN_WIDTH)
        else:  # numbers are never wrapped
            cell_min = longest
        minimum = max(header_min_width(column.title), cell_min, 1)
        natural = max(len(column.title), longest, minimum)
        candidates.append(_Candidate(index, column.role, column.title, minimum, natural))
    return candidates


def _leave_out_order(table: Table, candidates: list[_Candidate]) -> list[_Candidate]:
    """The columns that may be left out, least important first."""
    by_role: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_role.setdefault(candidate.role, []).append(candidate)
    metrics = by_role.get("metric", [])
    ratio_metric = [c for c in metrics if c.title == table.ratio_metric]
    others = [c for c in metrics if c.title != table.ratio_metric]
    return [
        *reversed(others),
        *by_role.get("memory", []),
        *by_role.get("time", []),  # when the ratio is on the time, the ratio column says it
        *ratio_metric,
        *by_role.get("error", []),
    ]


def fit_columns(table: Table, width: int) -> tuple[list[ColumnFit], list[str]]:
    """Widths that fit `width` (see the module docstring); also the titles left out."""
    cells = [_cell_strings(table, row) for row in table.rows]
    candidates = _candidates(table, cells)
    kept = list(candidates)
    left_out: list[_Candidate] = []
    for candidate in _leave_out_order(table, candidates):
        if _table_width([c.minimum for c in kept]) <= width:
            break
        kept.remove(candidate)
        left_out.append(candidate)
    if _table_width([c.natural for c in kept]) <= width:
        for candidate in kept:
            candidate.width = candidate.natural
    else:
        _spread(kept, width)
    fits = [ColumnFit(c.index, c.width, wrap_header(c.title, c.width)) for c in kept]
    return fits, [c.title for c in sorted(left_out, key=lambda c: c.index)]


def _narrowest(column: _Candidate, lines: int) -> int:
    """The narrowest width (from the column's minimum) at which its header takes `lines` lines."""
    for width in range(column.minimum, column.natural + 1):
        if column.header_lines(width) <= lines:
            return width
    return column.natural


def _spread(columns: list[_Candidate], width: int) -> None:
    """Widen the columns from their minimum within `width`: first the fewest header lines for
    the table as a whole, then whole words where a name was split at its `_`, then the text."""
    tallest = max(column.header_lines(column.minimum) for column in columns)
    for lines in range(1, tallest + 1):
        widths = [_narrowest(column, lines) for column in columns]
        if _table_width(widths) <= width:
            break
    for column, column_width in zip(columns, widths):
        column.width = column_width
    spare = width - _table_width(widths)
    longest_word = {id(c): max((len(w) for w in c.title.split()), default=0) for c in columns}
    for column in sorted(columns, key=lambda c: longest_word[id(c)] - c.width):
        whole = min(max(longest_word[id(column)], column.width), column.natural)
        if whole - column.width <= spare and column.header_lines(whole) <= lines:
            spare -= whole - column.width
            column.width = whole
    for column in columns:  # what is left: less wrapping of error and parameter text
        if column.role in _TEXT_ROLES and spare > 0:
            extra = min(spare, column.natural - column.width)
            column.width += extra
            spare -= extra


def _cell_strings(table: Table, row: Row) -> list[str]:
    """The cells of `row` as the terminal shows them: candidates indented, errors cut."""
    cells = []
    for column, cell in zip(table.columns(), table.cells(row)):
        if column.role == "component":
            cell = ("  " if row.role == "candidate" else "") + cell
        elif column.role == "error":
            cell = one_line(cell, NOTE_LIMIT)
        cells.append(cell)
    return cells


# --------------------------------------------------------------------------- rendering


def render_table(table: Table, width: int = 200) -> RichTable:
    """The rich table of one kind × benchmark in `width` columns; a line between param points."""
    fits, left_out = fit_columns(table, width)
    notes = list(table.notes)
    if left_out:
        notes.append(f"left out for width: {', '.join(left_out)}; all are in results.csv")
    caption = "\n".join(notes)
    rich_table = RichTable(
        title=Text(f"{table.kind} · {table.benchmark}", style="bold"),
        title_justify="left",
        caption=Text(caption) if caption else None,
        caption_justify="left",
    )
    columns = table.columns()
    for fit in fits:
        role = columns[fit.index].role
        numeric = role in _NUMERIC_ROLES
        rich_table.add_column(
            Text("\n".join(fit.header)),
            justify="right" if numeric else "left",
            width=fit.width,
            no_wrap=numeric,
            overflow="ellipsis" if numeric else "fold",
        )
    for group in table.groups:
        for position, row in enumerate(group):
            texts = _row_texts(table, row)
            rich_table.add_row(
                *(texts[fit.index] for fit in fits), end_section=position == len(group) - 1
            )
    return rich_table


_NOTE_STYLES = {"warning": "bold yellow", "resume": "cyan", "corpus": ""}


def _notes_text(document: dict[str, Any]) -> list[Text]:
    """The run's corpus, warnings (prominent) and resume note, one line each."""
    lines = []
    for note in run_notes(document):
        text = Text(f"{note.level}: ", style="dim" if note.level == "corpus" else "bold")
        text.append(note.text, style=_NOTE_STYLES.get(note.level, ""))
        lines.append(text)
    return lines


def print_tables(document: dict[str, Any], console: Console) -> None:
    """Print a run header, one table per kind × benchmark, and the ok / error / skipped counts."""
    console.print(_header_text(document))
    for line in _notes_text(document):
        console.print(line)
    tables = build_tables(document)
    if not tables:
        console.print(Text("no results in this run", style="yellow"))
    for table in tables:
        console.print(render_table(table, console.width))
    console.print(_summary_text(document))
