"""`report.html`: one self-contained page (inline CSS and script, plots as base64 PNG) to open or mail.

The top of the page answers "what ran and how did it go" before any table: the run, device and
versions, the corpus, the warnings the run recorded (prominent), a note when `--resume`
completed it, the ok / error / skipped counts, and one summary line per benchmark with its
headline ratio (best and worst component against the reference) and a link to its section;
then every error and skip with its whole message. Below, one section per kind, one part per
benchmark: its notes, its figures (as declared by the benchmark, `suite.reporting.figures`),
its table. Tables sort by clicking a header (a few lines of inline script, no network; numbers
sort by their value, not their text) and scroll sideways on a narrow screen; the page reads on
a laptop and on a phone (viewport meta, one column below 700 px).

Every string that comes from a plugin or a results file (component and benchmark names, params,
metric names, errors, warnings) passes through `html.escape` before it reaches the page: a
results file is data, and a component named `<script>` must show as text, not run. The only
script on the page is `SORT_SCRIPT`, written here.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from suite.noise import unstable_count
from suite.reporting.formatting import format_param
from suite.reporting.tables import (
    TIME_METRIC,
    Row,
    Table,
    build_tables,
    cell_value,
    headline,
    run_header,
    run_notes,
    status_counts,
)

__all__ = [
    "CSS",
    "SORT_SCRIPT",
    "escape",
    "page",
    "render_html",
    "run_summary",
    "sortable_table",
]

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.45rem; margin-bottom: .4rem; } h2 { font-size: 1.25rem; margin-top: 2.4rem; border-bottom: 2px solid #ddd; }
h3 { font-size: 1.05rem; margin-top: 1.8rem; }
a { color: #0b57d0; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; margin: .5rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25rem .55rem; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e8eefc; }
th[aria-sort=ascending]::after { content: " \\25B2"; font-size: .7em; }
th[aria-sort=descending]::after { content: " \\25BC"; font-size: .7em; }
td.num { text-align: right; white-space: nowrap; }
td.msg { white-space: pre-wrap; max-width: 40rem; font-family: ui-monospace, monospace; font-size: .85em; }
tbody.point { border-top: 2px solid #999; }
td:first-child { white-space: nowrap; }
tr.reference td:first-child { font-weight: 600; }
tr.candidate td:first-child { padding-left: 1.4rem; }
tr.error td { color: #b00020; background: #fff3f3; }
tr.skipped td { color: #777; }
td.better { color: #1b7a2f; font-weight: 600; } td.worse { color: #a15c00; font-weight: 600; }
tr.unstable td.num, td.unstable { color: #888; font-weight: normal; font-style: italic; }
td.regressed, td.broke { color: #b00020; font-weight: 700; } tr.flagged td { background: #fff0f0; }
td.improved, td.fixed { color: #1b7a2f; font-weight: 600; }
.muted { color: #666; }
.counts span { display: inline-block; margin-right: .8rem; padding: .1rem .5rem; border-radius: .6rem; background: #eef5ee; }
.counts span.error { background: #fde7e9; color: #8a0015; } .counts span.skipped { background: #eee; color: #555; }
.counts span.none { background: #f6f6f6; color: #888; }
dl.run { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: .5rem 0; }
dl.run dt { color: #666; } dl.run dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.warnings { border-left: 5px solid #d97706; background: #fff7e6; padding: .5rem 1rem; margin: .8rem 0; }
.warnings strong { color: #92400e; } .warnings ul { margin: .3rem 0; padding-left: 1.2rem; }
.note { border-left: 5px solid #3b82f6; background: #eef4ff; padding: .4rem 1rem; margin: .6rem 0; }
.alert { border-left: 5px solid #b00020; background: #fff0f0; padding: .4rem 1rem; margin: .6rem 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: .6rem; margin: .6rem 0; }
img.plot { width: 100%; height: auto; border: 1px solid #eee; }
details { margin: .6rem 0; } summary { cursor: pointer; font-weight: 600; }
@media (max-width: 700px) {
  body { margin: .6rem auto; padding: 0 .6rem; font-size: 14px; }
  dl.run { grid-template-columns: 1fr; } dl.run dd { margin-bottom: .3rem; }
  .plots { grid-template-columns: 1fr; }
  th, td { padding: .2rem .35rem; }
}
"""

# Click a header to sort its table, again to reverse; numbers by `data-v`, text naturally,
# empty cells last. The parameter-point groups (one tbody each) merge into one while sorted.
SORT_SCRIPT = """
(function () {
  function key(cell) {
    if (!cell) return [2, ""];
    var v = cell.getAttribute("data-v");
    if (v !== null && v !== "" && !isNaN(Number(v))) return [0, Number(v)];
    var t = cell.textContent.trim();
    return t ? [1, t] : [2, ""];
  }
  function sortBy(table, th, col) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    var rows = [];
    for (var b = 0; b < table.tBodies.length; b++) rows = rows.concat(Array.prototype.slice.call(table.tBodies[b].rows));
    rows.sort(function (ra, rb) {
      var x = key(ra.cells[col]), y = key(rb.cells[col]);
      if (x[0] !== y[0]) return x[0] - y[0];
      if (x[0] === 0) return (x[1] - y[1]) * dir;
      return String(x[1]).localeCompare(String(y[1]), undefined, {numeric: true}) * dir;
    });
    var body = table.tBodies[0];
    rows.forEach(function (r) { body.appendChild(r); });
    while (table.tBodies.length > 1) table.removeChild(table.tBodies[1]);
    body.className = "sorted";
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th, col); });
    });
  });
})();
"""

_NUMERIC = ("ratio", "time", "metric", "memory")


def escape(value: Any) -> str:
    """`value` as text safe inside HTML content and attribute values."""
    return html.escape(str(value), quote=True)


_e = escape


def page(title: str, body: list[str]) -> str:
    """A whole self-contained page: viewport meta, inline CSS, `body`, the sort script last."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )


def _sort_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f' data-v="{_e(repr(float(value)))}"'


def sortable_table(
    header: list[str],
    rows: list[list[tuple[str, str, str]]],
    row_classes: list[str] | None = None,
) -> str:
    """A sortable table; each cell is (class, data-v attribute text or "", escaped content)."""
    head = "".join(f"<th>{_e(title)}</th>" for title in header)
    body = []
    for index, cells in enumerate(rows):
        tds = "".join(
            f"<td{f' class={chr(34)}{_e(cls)}{chr(34)}' if cls else ''}{data}>{content}</td>"
            for cls, data, content in cells
        )
        row_class = row_classes[index] if row_classes else ""
        body.append(f'<tr class="{_e(row_class)}">{tds}</tr>' if row_class else f"<tr>{tds}</tr>")
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _anchor(table: Table) -> str:
    return f"{table.kind}-{table.benchmark}"


def _raw_value(table: Table, row: Row, role: str, title: str) -> Any:
    """The number behind a formatted cell, for sorting."""
    result = row.result
    if role == "ratio":
        return row.ratio
    if role == "time":
        return cell_value(result, TIME_METRIC)
    if role == "metric":
        return (result.get("metrics") or {}).get(title)
    if role == "memory":
        return (result.get("memory") or {}).get("peak_bytes")
    if role == "param":
        return row.params.get(title)
    return None


def _table_html(table: Table, images: list[tuple[str, bytes]], notes: list[str]) -> str:
    anchor = _e(_anchor(table))
    parts = [f'<h3 id="{anchor}">{_e(table.benchmark)}</h3>']
    for text in table.notes:
        parts.append(f'<p class="muted">{_e(text)}</p>')
    if images:
        parts.append('<div class="plots">')
        for title, image in images:
            encoded = base64.b64encode(image).decode("ascii")
            parts.append(
                f'<img class="plot" alt="{_e(title)}" title="{_e(title)}" '
                f'src="data:image/png;base64,{encoded}">'
            )
        parts.append("</div>")
    for text in notes:
        parts.append(f'<p class="muted">{_e(text)}</p>')
    columns = table.columns()
    head = "".join(f"<th>{_e(column.title)}</th>" for column in columns)
    parts.append(f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>')
    for group in table.groups:
        parts.append('<tbody class="point">')
        for row in group:
            cells = []
            for column, text in zip(columns, table.cells(row)):
                classes = ["num"] if column.role in _NUMERIC else []
                if column.role == "ratio":
                    classes.append(table.verdict(row))
                content = _e(text)
                if column.role == "error" and row.status != "ok":
                    classes = ["msg"]
                    content = _e(row.result.get("error") or row.status)
                attrs = f' class="{_e(" ".join(c for c in classes if c))}"' if any(classes) else ""
                attrs += _sort_value(_raw_value(table, row, column.role, column.title))
                cells.append(f"<td{attrs}>{content}</td>")
            unstable = " unstable" if row.unstable else ""
            parts.append(
                f'<tr class="{_e(row.role)} {_e(row.status)}{unstable}">{"".join(cells)}</tr>'
            )
        parts.append("</tbody>")
    parts.append("</table></div>")
    return "\n".join(parts)


def _figures(table: Table) -> tuple[list[tuple[str, bytes]], list[str]]:
    from suite.reporting.figures import figures

    try:
        return figures(table)
    except Exception as exc:  # never sink the report over a plot
        return [], [f"plots failed: {type(exc).__name__}: {exc}"]


def _counts_html(counts: dict[str, int]) -> str:
    spans = "".join(
        f'<span class="{_e(status) if count else "none"}">{count} {_e(status)}</span>'
        for status, count in counts.items()
    )
    return f'<p class="counts"><strong>{sum(counts.values())} cells</strong> {spans}</p>'


def run_summary(document: dict[str, Any]) -> list[str]:
    """The header of a run: identity, corpus, warnings, resume note, counts."""
    run = document.get("run") or {}
    notes = run_notes(document)
    body = []
    warnings = [note.text for note in notes if note.level == "warning"]
    if warnings:
        items = "".join(f"<li>{_e(text)}</li>" for text in warnings)
        body.append(
            f'<div class="warnings" role="alert"><strong>{len(warnings)} warning'
            f"{'s' if len(warnings) != 1 else ''} about the inputs</strong><ul>{items}</ul></div>"
        )
    for note in notes:
        if note.level == "resume":
            body.append(f'<p class="note">{_e(note.text)}</p>')
    body.append('<dl class="run">')
    body += [f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in run_header(document)]
    for note in notes:
        if note.level == "corpus":
            body.append(f"<dt>corpus</dt><dd>{_e(note.text)}</dd>")
    if run.get("argv"):
        body.append(f"<dt>command</dt><dd>{_e(' '.join(map(str, run['argv'])))}</dd>")
    body.append("</dl>")
    body.append(_counts_html(status_counts(document)))
    unstable = unstable_count(document)
    if unstable:
        body.append(
            f'<p class="muted">{unstable} cell{"s" if unstable != 1 else ""} with unstable '
            "timing, marked ~ and greyed: neither better nor worse</p>"
        )
    return body


def _overview(tables: list[Table]) -> str:
    rows = []
    for table in tables:
        counts = {"ok": 0, "error": 0, "skipped": 0}
        for row in table.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        line = headline(table)
        link = f'<a href="#{_e(_anchor(table))}">{_e(table.benchmark)}</a>'
        best = line.ratios[0][1] if line else None
        rows.append(
            [
                ("", "", f'<a href="#kind-{_e(table.kind)}">{_e(table.kind)}</a>'),
                ("", "", link),
                ("num", _sort_value(counts["ok"]), str(counts["ok"])),
                ("num", _sort_value(counts["error"]), str(counts["error"])),
                ("num", _sort_value(counts["skipped"]), str(counts["skipped"])),
                ("", _sort_value(best), _e(line.text() if line else "")),
                ("", "", _e(table.summary)),
            ]
        )
    return sortable_table(
        ["kind", "benchmark", "ok", "error", "skipped", "headline ratio", "measures"], rows
    )


def _errors(tables: list[Table]) -> str:
    failed = [(table, row) for table in tables for row in table.rows if row.status != "ok"]
    if not failed:
        return ""
    errors = sum(1 for _, row in failed if row.status == "error")
    items = []
    for table, row in failed:
        params = ", ".join(f"{k}={format_param(v)}" for k, v in row.params.items())
        items.append(
            f'<li><a href="#{_e(_anchor(table))}">{_e(table.kind)} · {_e(table.benchmark)}</a> · '
            f"<strong>{_e(row.component)}</strong> {_e(params)} — {_e(row.status)}: "
            f"<code>{_e(row.result.get('error') or row.status)}</code></li>"
        )
    label = f"{errors} error(s), {len(failed) - errors} skipped"
    return f"<details open><summary>{_e(label)}</summary><ul>{''.join(items)}</ul></details>"


def render_html(document: dict[str, Any], *, plots: bool = True) -> str:
    """The whole report as one HTML page (plots embedded when `plots`)."""
    run = document.get("run") or {}
    title = f"nlpsuite run {run.get('id') or '?'}"
    body = [f"<h1>{_e(title)}</h1>", *run_summary(document)]
    tables = build_tables(document)
    if not tables:
        body.append("<p>No results in this run.</p>")
    else:
        body.append('<h2 id="summary">Summary</h2>')
        body.append(_overview(tables))
        body.append(_errors(tables))
    kinds: dict[str, list[Table]] = {}
    for table in tables:
        kinds.setdefault(table.kind, []).append(table)
    for kind, members in kinds.items():
        body.append(f'<section id="kind-{_e(kind)}"><h2>{_e(kind)}</h2>')
        for table in members:
            images, notes = _figures(table) if plots else ([], [])
            body.append(_table_html(table, images, notes))
        body.append("</section>")
    return page(title, body)
