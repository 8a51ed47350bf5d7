"""`nlpsuite compare --md FILE --html FILE`: a comparison as a page to attach to a PR or an issue.

The same judgement as the terminal (`suite.reporting.compare`), laid out for reading later:

* the two runs (id, device, versions) and a warning when their devices differ;
* the machine drift explained: what it is (the median new ÷ old time over the cells timed in
  both runs), what it says about this pair of runs, and what was done about it (`--normalize`);
* how the times were judged (`method_line`: paired ratios, repeats, older files' rules), why
  the unpaired times were not judged when the load changed (`load_line`), and the counts;
* the flagged cells first, highlighted, each with why;
* then every cell with the new ÷ old ratio that was judged (a paired ratio's change, marked
  "paired", or the time's) and the metric ratios, in a table sortable by any column
  (HTML) so the worst ratio is one click away.

Both are one self-contained file; every string from a results file is escaped (HTML through
`html.escape`, Markdown through `escape_markdown`), as in the run reports.
"""

from __future__ import annotations

from typing import Any

from suite.reporting.compare import (
    CellComparison,
    Comparison,
    judged_ratio_text,
    load_line,
    method_line,
    ratio_title,
)
from suite.reporting.formatting import format_param, format_ratio, one_line
from suite.reporting.html import escape, page, sortable_table
from suite.reporting.markdown import escape_markdown

__all__ = ["drift_explanation", "render_comparison_html", "render_comparison_markdown"]

_ORDER = ("broke", "regressed", "failing", "unjudged", "improved", "fixed", "skipped", "same")


def _run_line(label: str, run: dict[str, Any]) -> str:
    device = str(run.get("device") or "?")
    if run.get("device_name"):
        device += f" ({run['device_name']})"
    versions = f"torch {run.get('torch', '?')}, nlpsuite {run.get('suite_version', '?')}"
    return f"{label}: run {run.get('id', '?')} on {device}, {versions}, started {run.get('started', '?')}"


def _device_warning(comparison: Comparison) -> str | None:
    old, new = comparison.old_run, comparison.new_run
    if (old.get("device"), old.get("device_name")) != (new.get("device"), new.get("device_name")):
        return "The runs used different devices: time ratios compare hardware, not code."
    return None


def drift_explanation(comparison: Comparison) -> str:
    """What the machine drift is, its value for these runs, and what it changed (one paragraph)."""
    drift = comparison.machine_drift
    what = (
        "Machine drift is the median, over the cells timed in both runs, of new time ÷ old "
        "time: when the whole machine is slower (another job, a throttled CPU), every cell "
        "moves together and the drift shows it."
    )
    if drift is None:
        return what + " Too few cells were timed in both runs (fewer than 5) to estimate it."
    value = f" Here it is {format_ratio(drift)}"
    if comparison.normalized:
        return (
            what + value + ": the old times of the cells timed alone were multiplied by it "
            "before judging (--normalize), so such a flagged cell moved relative to the rest of "
            "the run, and their time ratios shown are new ÷ (old × drift); paired ratios are "
            "judged as measured."
        )
    if abs(drift - 1) > comparison.threshold:
        return (
            what + value + ", beyond the threshold of "
            f"{comparison.threshold:.0%}: the machine itself moved, so cells may be flagged "
            "that no code change slowed. Rerun both on a quiet machine, or pass --normalize to "
            "judge each cell against the drift."
        )
    return (
        what + value + f", within the threshold of {comparison.threshold:.0%}: "
        "the machine ran alike in both runs and the cells were judged as measured."
    )


def _params(cell: CellComparison) -> str:
    params = cell.row.get("params") or {}
    return ", ".join(f"{k}={format_param(v)}" for k, v in params.items())


def _why(cell: CellComparison) -> str:
    return "; ".join(one_line(reason) for reason in cell.reasons)


def _sorted_cells(comparison: Comparison) -> list[CellComparison]:
    rank = {verdict: index for index, verdict in enumerate(_ORDER)}
    return sorted(comparison.cells, key=lambda cell: rank.get(cell.verdict, len(_ORDER)))


def _counts_line(comparison: Comparison) -> str:
    counts = ", ".join(
        f"{count} {verdict}" for verdict, count in sorted(comparison.counts().items())
    )
    flagged = len(comparison.regressions)
    verdict = f"{flagged} regression(s) flagged" if flagged else "no regression beyond noise"
    return f"{len(comparison.cells)} cells: {counts or 'none'}. {verdict}."


def _title(comparison: Comparison) -> str:
    return (
        f"nlpsuite compare {comparison.old_run.get('id', '?')} → "
        f"{comparison.new_run.get('id', '?')}"
    )


def render_comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown: header, drift, method, regressions, then every cell."""
    lines = [f"# {escape_markdown(_title(comparison))}", ""]
    lines += [f"- {escape_markdown(_run_line('old', comparison.old_run))}"]
    lines += [f"- {escape_markdown(_run_line('new', comparison.new_run))}", ""]
    warning = _device_warning(comparison)
    if warning:
        lines += [f"> **Warning**: {escape_markdown(warning)}", ""]
    lines += [f"**Drift.** {escape_markdown(drift_explanation(comparison))}", ""]
    lines += [f"**Method.** {escape_markdown(method_line(comparison))}", ""]
    load = load_line(comparison)
    if load:
        lines += [f"**Load.** {escape_markdown(load)}", ""]
    lines += [f"**{escape_markdown(_counts_line(comparison))}**", ""]
    flagged = comparison.regressions
    if flagged:
        lines += ["## Regressions", ""]
        for cell in flagged:
            row = cell.row
            lines.append(
                f"- **{escape_markdown(cell.verdict)}**: {escape_markdown(row.get('kind', '?'))} · "
                f"{escape_markdown(row.get('benchmark', '?'))} · "
                f"**{escape_markdown(row.get('component', '?'))}** "
                f"{escape_markdown(_params(cell))} — {escape_markdown(_why(cell))}"
            )
        lines.append("")
    time_title = ratio_title(comparison)
    lines += [
        "## Every cell",
        "",
        f"| kind · benchmark | component | params | {time_title} | metric new÷old | verdict | why |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for cell in _sorted_cells(comparison):
        row = cell.row
        metric = (
            f"{format_ratio(cell.metric_ratio)} {cell.metric}"
            if cell.metric and cell.metric_ratio is not None
            else ""
        )
        verdict = escape_markdown(cell.verdict)
        cells = [
            escape_markdown(f"{row.get('kind', '?')} · {row.get('benchmark', '?')}"),
            escape_markdown(row.get("component", "?")),
            escape_markdown(_params(cell)),
            escape_markdown(judged_ratio_text(cell)),
            escape_markdown(metric),
            f"**{verdict}**" if cell.flagged else verdict,
            escape_markdown(_why(cell)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _data(value: float | None) -> str:
    return "" if value is None else f' data-v="{escape(repr(float(value)))}"'


def render_comparison_html(comparison: Comparison) -> str:
    """The comparison as one self-contained, sortable HTML page."""
    title = _title(comparison)
    body = [f"<h1>{escape(title)}</h1>"]
    body.append(
        '<dl class="run">'
        + "".join(
            f"<dt>{label}</dt><dd>{escape(_run_line(label, run).split(': ', 1)[1])}</dd>"
            for label, run in (("old", comparison.old_run), ("new", comparison.new_run))
        )
        + "</dl>"
    )
    warning = _device_warning(comparison)
    if warning:
        body.append(f'<div class="warnings" role="alert"><strong>{escape(warning)}</strong></div>')
    body.append(
        f'<p class="note"><strong>Drift.</strong> {escape(drift_explanation(comparison))}</p>'
    )
    body.append(f'<p class="muted"><strong>Method.</strong> {escape(method_line(comparison))}</p>')
    load = load_line(comparison)
    if load:
        body.append(f'<p class="note"><strong>Load.</strong> {escape(load)}</p>')
    flagged = comparison.regressions
    box = "alert" if flagged else "note"
    body.append(f'<p class="{box}"><strong>{escape(_counts_line(comparison))}</strong></p>')
    if flagged:
        items = "".join(
            f'<li><strong class="{escape(cell.verdict)}">{escape(cell.verdict)}</strong>: '
            f"{escape(cell.row.get('kind', '?'))} · {escape(cell.row.get('benchmark', '?'))} · "
            f"<strong>{escape(cell.row.get('component', '?'))}</strong> "
            f"{escape(_params(cell))} — {escape(_why(cell))}</li>"
            for cell in flagged
        )
        body.append(f'<h2 id="regressions">Regressions</h2><ul class="regressions">{items}</ul>')
    rows = []
    cells = _sorted_cells(comparison)
    for cell in cells:
        row = cell.row
        verdict_class = cell.verdict + (" flagged" if cell.flagged else "")
        metric = (
            f"{format_ratio(cell.metric_ratio)} {cell.metric}"
            if cell.metric and cell.metric_ratio is not None
            else ""
        )
        rows.append(
            [
                ("", "", escape(f"{row.get('kind', '?')} · {row.get('benchmark', '?')}")),
                ("", "", escape(row.get("component", "?"))),
                ("", "", escape(_params(cell))),
                (
                    "num",
                    _data(cell.time_ratio),
                    escape(judged_ratio_text(cell)),
                ),
                ("num", _data(cell.metric_ratio), escape(metric)),
                (verdict_class, "", escape(cell.verdict)),
                ("", "", escape(_why(cell))),
            ]
        )
    time_title = ratio_title(comparison)
    body.append('<h2 id="cells">Every cell</h2>')
    body.append(
        sortable_table(
            [
                "kind · benchmark",
                "component",
                "params",
                time_title,
                "metric new÷old",
                "verdict",
                "why",
            ],
            rows,
            ["flagged" if cell.flagged else "" for cell in cells],
        )
    )
    return page(title, body)
