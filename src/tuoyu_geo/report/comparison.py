"""Files of a budget comparison (:class:`~tuoyu_geo.scenarios.BudgetComparison`): a table and a chart.

:func:`write_comparison` writes ``budget_comparison.csv`` (UTF-8 with BOM, Chinese headers),
``budget_comparison.xlsx`` (Chinese headers, number formats, the definition of each column as a
header note) and ``budget_frontier.png`` (:func:`tuoyu_geo.report.charts.frontier_chart`),
all-or-nothing through :mod:`tuoyu_geo.writer`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..writer import FORMATS, atomic_paths
from .charts import frontier_chart
from .labels import SOLVER_STATUS_ZH, definition, label, number_formats
from .scorecard import zh

log = logging.getLogger(__name__)

__all__ = ["COMPARISON_FILES", "comparison_table", "write_comparison"]

#: file name per output of :func:`write_comparison`
COMPARISON_FILES = {"csv": "budget_comparison.csv", "xlsx": "budget_comparison.xlsx", "png": "budget_frontier.png"}


def comparison_table(comparison: Any):
    """``comparison.table`` for people: Chinese headers, the solver status in Chinese."""
    t = comparison.table.assign(solver_status=lambda d: d["solver_status"].map(lambda s: SOLVER_STATUS_ZH.get(s, s)))
    return zh(t)


def write_comparison(comparison: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write the comparison table (CSV, XLSX) and the frontier chart (PNG) to ``out_dir``.

    Returns
    -------
    dict
        ``{"csv": Path, "xlsx": Path, "png": Path}``.

    Raises
    ------
    OutputError
        A file cannot be written; none of the three is left behind.
    """
    out = Path(out_dir)
    paths = {k: out / name for k, name in COMPARISON_FILES.items()}
    table = comparison_table(comparison)
    cols = list(comparison.table.columns)
    notes = {label(c): d for c in cols if (d := definition(c))}
    png = frontier_chart(comparison)
    with atomic_paths(list(paths.values())) as (t_csv, t_xlsx, t_png):
        FORMATS["csv"].write(table, t_csv)
        FORMATS["xlsx"].write({"预算情景比较": table}, t_xlsx, number_formats={"预算情景比较": number_formats(cols)},
                              notes={"预算情景比较": notes})
        FORMATS["png"].write(png, t_png)
    log.info("budget comparison written to %s", out)
    return paths
