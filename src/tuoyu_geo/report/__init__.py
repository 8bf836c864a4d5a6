"""Everything a person reads: labels, maps, exports, scorecard workbooks and figures.

The report layer consumes an :class:`~tuoyu_geo.pipeline.Assessment` and computes nothing of its
own; every file goes through :mod:`tuoyu_geo.writer`.

* :mod:`~tuoyu_geo.report.labels` — THE one table of Chinese headers, definitions, number formats.
* :mod:`~tuoyu_geo.report.maps` — :func:`coverage_map`, :func:`save_map` (and :func:`plot_scorecard`).
* :mod:`~tuoyu_geo.report.export` — :func:`export_plan` (GeoPackage/XLSX/CSV/GeoJSON + manifest).
* :mod:`~tuoyu_geo.report.scorecard` — :func:`write_scorecard` (the ``analyze`` bundle) and
  :func:`write_scorecard_file` (one file).
* :mod:`~tuoyu_geo.report.figures` — :func:`plot_scorecard`, :func:`cjk_font`.
* :mod:`~tuoyu_geo.report.fonts` — :func:`cjk_font_path` (the packaged Noto Sans SC, else a system
  CJK font; FontError otherwise), :func:`use_cjk_font` (registered with matplotlib).
* :mod:`~tuoyu_geo.report.document` — :func:`write_report` (the 专项规划 report, HTML + PDF);
  charts in :mod:`~tuoyu_geo.report.charts`, the PDF renderer in :mod:`~tuoyu_geo.report.pdf`,
  budget comparison files in :mod:`~tuoyu_geo.report.comparison`.
"""

from __future__ import annotations

from . import document, export, figures, fonts, labels, maps, scorecard
from .document import write_report
from .export import export_plan
from .figures import plot_scorecard
from .labels import definition, label
from .maps import coverage_map, save_map
from .scorecard import write_scorecard, write_scorecard_file

__all__ = [
    "coverage_map",
    "definition",
    "document",
    "export",
    "export_plan",
    "figures",
    "fonts",
    "label",
    "labels",
    "maps",
    "plot_scorecard",
    "save_map",
    "scorecard",
    "write_scorecard",
    "write_scorecard_file",
    "write_report",
]
