"""`results.csv`: one row per cell, nested fields flattened, for pandas, spreadsheets and plots.

`pandas.json_normalize` turns `{"params": {"seq_len": 128}}` into a `params.seq_len` column, and
likewise `metrics.*`, `timing.*`, `memory.*`. Two computed columns are added: `ratio_metric`
and `ratio` (the cell's value ÷ its reference's at the same params, as in the tables), so that
`pd.read_csv("results.csv")` is enough to redo any table or plot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from suite.reporting.tables import build_tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BASE_COLUMNS", "results_csv", "results_frame"]

BASE_COLUMNS = ("kind", "benchmark", "component", "reference", "status", "error")
_NESTED = ("params", "metrics", "timing", "memory")


def _ratios(document: dict[str, Any]) -> dict[int, tuple[str | None, float | None]]:
    """id(result) -> (ratio metric, ratio) for every row placed in a table."""
    ratios: dict[int, tuple[str | None, float | None]] = {}
    for table in build_tables(document):
        for row in table.rows:
            ratios[id(row.result)] = (table.ratio_metric, row.ratio)
    return ratios


def results_frame(document: dict[str, Any]) -> pd.DataFrame:
    """The results as a flat DataFrame; columns: base, params.*, ratio, metrics.*, timing.*, memory.*."""
    import pandas as pd

    results = document.get("results") or []
    ratios = _ratios(document)
    records = []
    for result in results:
        record = {key: result.get(key) for key in BASE_COLUMNS}
        for key in _NESTED:  # null timing/memory: no columns rather than a column of None
            value = result.get(key)
            record[key] = value if isinstance(value, dict) else {}
        record["ratio_metric"], record["ratio"] = ratios.get(id(result), (None, None))
        records.append(record)
    frame = pd.json_normalize(records, sep=".") if records else pd.DataFrame()
    groups = [[c for c in frame.columns if c.startswith(f"{key}.")] for key in _NESTED]
    ordered = [*BASE_COLUMNS, *groups[0], "ratio_metric", "ratio"]
    for group in groups[1:]:
        ordered += group
    return frame.reindex(columns=ordered).convert_dtypes()  # nullable ints: 128, not 128.0


def results_csv(document: dict[str, Any]) -> str:
    """`results_frame(document)` as CSV text (UTF-8, no index)."""
    return results_frame(document).to_csv(index=False, lineterminator="\n")
