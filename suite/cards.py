"""Render an interview topic: its card, and the evidence its experiment just measured.

Three outputs from the same `TopicRun`: rich renderables for the terminal (`explain`, `quiz`),
a JSON object for scripts (`explain --json`), and a self-contained HTML page with the curves
the experiment returned as plots (`explain --html FILE`). Everything a topic says (its card,
its claims, its table, a plugin's error) is escaped before it reaches markup.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from suite.reporting.formatting import format_number
from suite.series import Series
from suite.topics import Claim, Evidence, Topic, TopicRun

__all__ = [
    "card_panel",
    "claim_lines",
    "evidence_renderables",
    "evidence_table",
    "render_topic_html",
    "topic_index_table",
]

CHECK, CROSS = "✓", "✗"


def card_panel(topic: type[Topic], *, answer_only: bool = False) -> Panel:
    """The card in a panel titled with the question; `answer_only` shows the short answer alone."""
    text = topic.sections()["answer"] if answer_only else topic.card()
    title = f"{topic.area} · {topic.name}"
    body: list[RenderableType] = [Text(topic.question, style="bold"), Text(""), Markdown(text)]
    if topic.components:
        body += [Text(""), Text("uses " + ", ".join(topic.components), style="dim")]
    return Panel(Group(*body), title=escape(title), title_align="left")


def claim_lines(claims: Iterable[Claim]) -> Text:
    """One line per claim: ✓ in green when it held, ✗ in red when it did not."""
    text = Text()
    for claim in claims:
        mark, style = (CHECK, "green") if claim.holds else (CROSS, "bold red")
        text.append(f"{mark} ", style=style)
        text.append(claim.statement + "\n")
    return text


def cell_text(value: Any) -> str:
    """A table cell: integers as written (1024, not 1,024), other numbers to 3 significant digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**9:
        return str(value)
    return format_number(value)


def evidence_table(rows: Sequence[dict[str, Any]], title: str = "") -> Table | None:
    """The experiment's table, numbers to 3 significant digits; `None` when it has no rows."""
    if not rows:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = Table(title=title or None, title_justify="left")
    for column in columns:
        numeric = any(isinstance(row.get(column), int | float) for row in rows)
        table.add_column(escape(column), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(escape(cell_text(row.get(column))) for column in columns))
    return table


def evidence_renderables(run: TopicRun) -> list[RenderableType]:
    """What `explain` prints under the card: the table, the claims, timing, or the error."""
    if run.evidence is None:
        return [Text(f"{CROSS} the experiment failed: {run.error}", style="bold red")]
    evidence = run.evidence
    parts: list[RenderableType] = []
    heading = f"evidence, measured now (seed {run.seed}, {run.seconds:.1f} s)"
    table = evidence_table(evidence.table, heading)
    if table is not None:
        parts.append(table)
    else:
        parts.append(Text(heading, style="italic"))
    if evidence.note:
        parts.append(Text(evidence.note, style="dim"))
    parts.append(claim_lines(evidence.claims))
    if evidence.series:
        parts.append(Text("curves: add --html FILE to see them plotted", style="dim"))
    return parts


def topic_index_table(topics: Sequence[type[Topic]]) -> Table:
    """Topics grouped by area: area, name, the interviewer's question."""
    table = Table(title="interview topics (nlpsuite explain NAME)", title_justify="left")
    table.add_column("area", style="bold")
    table.add_column("topic", no_wrap=True)
    table.add_column("question", overflow="fold")
    previous = None
    for topic in topics:
        area = topic.area if topic.area != previous else ""
        if area and previous is not None:
            table.add_section()
        previous = topic.area
        table.add_row(escape(area), escape(topic.name), escape(topic.question))
    return table


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 900px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.8rem; }
pre.card { white-space: pre-wrap; background: #f8f8f8; padding: .8rem 1rem; border-radius: 4px; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; } th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; } li.holds::marker { content: "✓  "; color: #1b7a2f; }
li.fails::marker { content: "✗  "; color: #b00020; } li.fails { color: #b00020; }
img.plot { max-width: 100%; border: 1px solid #eee; } .muted { color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            css = ' class="num"' if numeric else ""
            cells.append(f"<td{css}>{_e(cell_text(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def series_plots(series: Sequence[Series]) -> list[bytes]:
    """One PNG per figure (series grouped by `figure`, else by y label), via matplotlib.

    `loglog` series are drawn on log-log axes with their fitted slope (the growth exponent) in
    the legend, `bars` as bars; a sweep over powers of x (16 → 1024) gets a log x axis.
    """
    from matplotlib.figure import Figure

    from suite.reporting.curves import fitted_slope

    groups: dict[str, list[Series]] = {}
    for item in series:
        groups.setdefault(item.figure or item.y_label, []).append(item)
    images = []
    for group in groups.values():
        figure = Figure(figsize=(6.4, 3.6), dpi=100)
        axes = figure.add_subplot()
        loglog = any(item.plot == "loglog" for item in group)
        for index, item in enumerate(group):
            xs, ys = list(item.x), list(item.y)
            label = item.name
            if item.plot == "loglog":
                slope = fitted_slope(xs, ys)
                label += f" (slope {slope:.2f})" if slope is not None else ""
            if item.plot == "bars":
                width = 0.8 / len(group)
                axes.bar([x + index * width for x in xs], ys, width=width, label=label)
            else:
                axes.plot(xs, ys, marker="o", markersize=3, label=label)
        xs_all = [x for item in group for x in item.x]
        if loglog or (xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 50):
            axes.set_xscale("log")
        if loglog:
            axes.set_yscale("log")
        axes.set_xlabel(group[0].x_label)
        axes.set_ylabel(group[0].y_label)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        images.append(buffer.getvalue())
    return images


def render_topic_html(run: TopicRun) -> str:
    """A self-contained page: the question, the card, the evidence table, claims and plots."""
    topic = run.topic
    body = [
        f"<h1>{_e(topic.question)}</h1>",
        f'<p class="muted">{_e(topic.area)} · {_e(topic.name)}'
        + (f" · uses {_e(', '.join(topic.components))}" if topic.components else "")
        + "</p>",
        f'<pre class="card">{_e(topic.card())}</pre>',
        f"<h2>Evidence, measured when this page was made (seed {run.seed}, {run.seconds:.1f} s)</h2>",
    ]
    evidence: Evidence | None = run.evidence
    if evidence is None:
        body.append(f'<p class="fails">The experiment failed: {_e(run.error)}</p>')
    else:
        if evidence.note:
            body.append(f'<p class="muted">{_e(evidence.note)}</p>')
        items = "".join(
            f'<li class="{"holds" if c.holds else "fails"}">{_e(c.statement)}</li>'
            for c in evidence.claims
        )
        body.append(f"<ul>{items}</ul>")
        if evidence.table:
            body.append(_html_table(evidence.table))
        for index, png in enumerate(series_plots(evidence.series)):
            encoded = base64.b64encode(png).decode("ascii")
            body.append(
                f'<img class="plot" alt="{_e(topic.name)} plot {index + 1}" '
                f'src="data:image/png;base64,{encoded}">'
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(topic.name)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
