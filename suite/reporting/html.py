"""`report.html`: one self-contained page (inline CSS, plots as base64 PNG) to open or mail.

Every string that comes from a plugin or a results file (component and benchmark names, params,
metric names, errors) passes through `html.escape` before it reaches the page: a results file is
data, and a component named `<script>` must show as text, not run.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from suite.reporting.tables import Table, build_tables, run_header, status_counts

__all__ = ["render_html"]

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; white-space: nowrap; }
tbody.point { border-top: 2px solid #999; }
tr.reference td:first-child { font-weight: 600; }
tr.candidate td:first-child { padding-left: 1.4rem; }
tr.error td { color: #b00020; background: #fff3f3; }
tr.skipped td { color: #777; }
td.better { color: #1b7a2f; font-weight: 600; } td.worse { color: #a15c00; font-weight: 600; }
.summary span { margin-right: 1rem; } .muted { color: #666; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; }
dl.run dt { color: #666; } dl.run dd { margin: 0; font-family: ui-monospace, monospace; }
img.plot { max-width: 100%; border: 1px solid #eee; }
"""

_NUMERIC = ("ratio", "time", "metric", "memory")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table_html(table: Table, plot: bytes | None) -> str:
    anchor = _e(f"{table.kind}-{table.benchmark}")
    parts = [f'<h2 id="{anchor}">{_e(table.kind)} · {_e(table.benchmark)}</h2>']
    for text in table.notes:
        if text:
            parts.append(f'<p class="muted">{_e(text)}</p>')
    if plot:
        encoded = base64.b64encode(plot).decode("ascii")
        parts.append(
            f'<img class="plot" alt="{anchor} plot" src="data:image/png;base64,{encoded}">'
        )
    columns = table.columns()
    head = "".join(f"<th>{_e(column.title)}</th>" for column in columns)
    parts.append(f"<table><thead><tr>{head}</tr></thead>")
    for group in table.groups:
        parts.append('<tbody class="point">')
        for row in group:
            cells = []
            for column, text in zip(columns, table.cells(row)):
                classes = ["num"] if column.role in _NUMERIC else []
                if column.role == "ratio":
                    classes.append(table.verdict(row))
                attrs = f' class="{_e(" ".join(c for c in classes if c))}"' if any(classes) else ""
                if column.role == "error" and row.status != "ok":
                    full = row.result.get("error") or row.status
                    attrs += f' title="{_e(full)}"'
                cells.append(f"<td{attrs}>{_e(text)}</td>")
            parts.append(f'<tr class="{_e(row.role)} {_e(row.status)}">{"".join(cells)}</tr>')
        parts.append("</tbody>")
    parts.append("</table>")
    return "\n".join(parts)


def _plot_or_note(table: Table) -> tuple[bytes | None, str]:
    """The table's plot, or a note saying why it failed: a plot never sinks the report."""
    from suite.reporting.plots import plot_table

    try:
        return plot_table(table), ""
    except Exception as exc:  # a matplotlib failure on odd data; the table still renders
        return None, f'<p class="muted">plot failed: {_e(type(exc).__name__)}: {_e(exc)}</p>'


def render_html(document: dict[str, Any], *, plots: bool = True) -> str:
    """The whole report as one HTML page (plots embedded when `plots`)."""
    run = document.get("run") or {}
    title = f"nlpsuite run {run.get('id') or '?'}"
    body = [f"<h1>{_e(title)}</h1>", '<dl class="run">']
    body += [f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in run_header(document)]
    if run.get("argv"):
        body.append(f"<dt>command</dt><dd>{_e(' '.join(map(str, run['argv'])))}</dd>")
    body.append("</dl>")
    counts = status_counts(document)
    spans = "".join(f"<span>{count} {_e(status)}</span>" for status, count in counts.items())
    body.append(f'<p class="summary"><strong>{sum(counts.values())} cells</strong>: {spans}</p>')
    tables = build_tables(document)
    if not tables:
        body.append("<p>No results in this run.</p>")
    else:
        links = "".join(
            f'<li><a href="#{_e(f"{t.kind}-{t.benchmark}")}">{_e(t.kind)} · {_e(t.benchmark)}</a></li>'
            for t in tables
        )
        body.append(f"<ul>{links}</ul>")
    for table in tables:
        plot, note = _plot_or_note(table) if plots else (None, "")
        body.append(_table_html(table, plot) + note)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
