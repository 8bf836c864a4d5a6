"""Small shared helpers: atomic file writes and formatted XLSX sheets with Chinese headers.

This module sits at the bottom of the layering (it imports nothing from the package except
errors), so any module may use it.

Examples
--------
>>> import pandas as pd
>>> from tuoyu_geo._xlsx import write_xlsx
>>> df = pd.DataFrame({"街道": ["湖南路街道"], "普惠托位占比": [0.42]})
>>> write_xlsx("out.xlsx", {"街道指标": df}, number_formats={"普惠托位占比": "0.0%"})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import OutputError

__all__ = ["atomic_path", "atomic_paths", "build_workbook", "display_width", "write_xlsx"]

_MAX_SHEET_NAME = 31
_MAX_COL_WIDTH = 60


def display_width(text: Any) -> int:
    """Terminal/Excel display width of ``text``: CJK and full-width characters count as 2."""
    s = "" if text is None else str(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _output_error(path: Path, exc: BaseException) -> OutputError:
    return OutputError(
        f"cannot write {path}: {type(exc).__name__}: {exc}. fix: check that the folder exists and is "
        f"writable, that there is free disk space, and that the file is not open in Excel/WPS")


@contextlib.contextmanager
def atomic_paths(paths: list[str | Path]) -> Iterator[list[Path]]:
    """Write several files all-or-nothing.

    Yields one temporary path per target, each in the target's own folder (so the final
    :func:`os.replace` is atomic on the same file system).  When the ``with`` block ends without an
    error every temporary file is moved onto its target; if the block (or a move) fails, every
    temporary file is removed, targets already moved by this call are removed again, and an
    :class:`~tuoyu_geo.OutputError` is raised.  Parent folders are created.

    Parameters
    ----------
    paths : list of str or Path
        Final file paths.

    Yields
    ------
    list of Path
        Temporary paths to write to (same order as ``paths``).
    """
    targets = [Path(p) for p in paths]
    temps: list[Path] = []
    moved: list[Path] = []
    try:
        for t in targets:
            t.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{t.name}.", suffix=".tmp", dir=t.parent)
            os.close(fd)
            temps.append(Path(name))
    except OSError as exc:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise _output_error(targets[len(temps)] if len(temps) < len(targets) else targets[-1], exc) from exc
    try:
        yield temps
        for tmp, t in zip(temps, targets, strict=True):
            os.replace(tmp, t)
            moved.append(t)
    except BaseException as exc:
        for tmp in temps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        for t in moved:
            with contextlib.suppress(OSError):
                t.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _output_error(targets[len(moved)] if len(moved) < len(targets) else targets[-1],
                                exc) from exc
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Write one file atomically: yields a temporary path in the same folder, then ``os.replace``.

    If the ``with`` block fails the temporary file is removed and the target is left untouched.
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


def _cell_value(v: Any) -> Any:
    """Convert a pandas/numpy value to something openpyxl writes (NaN/None → empty cell)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, (str, int, _dt.date, _dt.datetime)):
        return v
    return str(v)


def _per_sheet(option: Mapping[str, Any] | None, sheet: str) -> dict[str, Any]:
    """Option given either as ``{column: value}`` (all sheets) or ``{sheet: {column: value}}``."""
    if not option:
        return {}
    out: dict[str, Any] = {}
    for k, v in option.items():
        if isinstance(v, Mapping):
            if k == sheet:
                out.update(v)
        else:
            out[k] = v
    return out


def build_workbook(sheets: Mapping[str, pd.DataFrame], *,
                   number_formats: Mapping[str, Any] | None = None,
                   notes: Mapping[str, Any] | None = None) -> Any:
    """Build the formatted :class:`openpyxl.Workbook` that :func:`write_xlsx` saves.

    Use it to save a workbook as part of a larger all-or-nothing write (:func:`atomic_paths`);
    arguments as in :func:`write_xlsx`.
    """
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    names = list(sheets)
    for n in names:
        if not n or len(n) > _MAX_SHEET_NAME or any(c in n for c in "[]:*?/\\"):
            raise ValueError(f"invalid sheet name {n!r}: 1–31 characters, none of []:*?/\\")
    wb = Workbook()
    wb.remove(wb.active)
    head_font = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    head_align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for name in names:
        df = sheets[name]
        geom_cols = [c for c in df.columns if str(getattr(df[c], "dtype", "")) == "geometry"]
        df = pd.DataFrame(df.drop(columns=geom_cols))
        ws = wb.create_sheet(title=name)
        fmts = _per_sheet(number_formats, name)
        cnotes = _per_sheet(notes, name)
        cols = [str(c) for c in df.columns]
        ws.append(cols)
        for row in df.itertuples(index=False, name=None):
            ws.append([_cell_value(v) for v in row])
        widths = [display_width(c) for c in cols]
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=1, column=j)
            cell.font, cell.fill, cell.alignment = head_font, head_fill, head_align
            if col in cnotes and cnotes[col]:
                cell.comment = Comment(str(cnotes[col]), "tuoyu_geo", width=320, height=160)
            fmt = fmts.get(col)
            if fmt:
                for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    c.number_format = fmt
            vals = df.iloc[:, j - 1]
            if len(vals):
                sample = vals.head(2000)
                if pd.api.types.is_float_dtype(sample):
                    w = max(display_width(f"{v:,.2f}") for v in sample.fillna(0))
                else:
                    w = max(display_width(v) for v in sample)
                widths[j - 1] = max(widths[j - 1] // 2 + 1 if widths[j - 1] > 16 else widths[j - 1], w)
            ws.column_dimensions[get_column_letter(j)].width = min(_MAX_COL_WIDTH, widths[j - 1] + 2)
        ws.row_dimensions[1].height = 32
        ws.freeze_panes = "A2"
        if cols and len(df):
            ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(df) + 1}"
    if not names:
        wb.create_sheet(title="Sheet1")
    return wb


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame], *,
               number_formats: Mapping[str, Any] | None = None,
               notes: Mapping[str, Any] | None = None) -> Path:
    """Write data frames as formatted sheets of one XLSX workbook, atomically.

    Each sheet gets a bold, wrapped header row (the frame's column names, e.g. Chinese headers),
    frozen below the header, an auto-filter, and column widths fitted to the content (CJK
    characters count double).  The frame index is not written (reset it first if it matters);
    geometry columns are dropped; NaN becomes an empty cell.

    Parameters
    ----------
    path : str or Path
        Target ``.xlsx`` file.  It is written to a temporary file in the same folder and moved into
        place with :func:`os.replace`, so a failure never leaves a partial workbook.
    sheets : mapping of str to DataFrame
        Sheet name (≤ 31 characters) → data, in workbook order.
    number_formats : mapping, optional
        Excel number format per column header, e.g. ``{"普惠托位占比": "0.0%", "每千人口托位数":
        "0.00"}`` (applies on every sheet with that header), or nested by sheet:
        ``{"街道指标": {"托位数": "0"}}``.
    notes : mapping, optional
        Comment text per column header, attached to the header cell (hover in Excel/WPS), with the
        same two forms as ``number_formats``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    OutputError
        The file cannot be written (folder missing/not writable, file open in Excel, disk full).
    ValueError
        A sheet name is empty, too long or contains []:*?/\\.
    """
    path = Path(path)
    wb = build_workbook(sheets, number_formats=number_formats, notes=notes)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return path
