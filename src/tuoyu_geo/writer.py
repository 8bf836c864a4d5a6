"""Every file the package writes goes through here: atomic writes and one writer per format.

* :func:`atomic_write` / :func:`atomic_paths` — write to temporary files in the target's own folder
  and move them into place with :func:`os.replace` only when everything was written; on any failure
  the temporary files are removed and the targets are left as they were.  Write failures (``OSError``,
  GDAL/pyogrio errors such as "Failed to commit transaction", disk full inside openpyxl) become one
  :class:`~tuoyu_geo.OutputError` that names the path and says how to fix it.
* :data:`FORMATS` — the format registry (``csv``, ``xlsx``, ``gpkg``, ``geojson``, ``json``,
  ``html``, ``png``); :func:`write_table` / :func:`write_file` write one object atomically in the
  format given by ``fmt`` or by the file suffix.
* :func:`write_xlsx` — THE XLSX writer: bold filled header, frozen header row, auto-filter, widths
  by display width (CJK counts double), number formats, header comments, booleans as 是/否, text
  starting with ``=`` stays text (never a formula).

This module is in the core layer: it imports only :mod:`tuoyu_geo._errors`; openpyxl and pyogrio
are imported inside the functions that need them (matplotlib figures are passed in).

Examples
--------
>>> import pandas as pd
>>> from tuoyu_geo.writer import write_table, write_xlsx
>>> df = pd.DataFrame({"街道": ["湖南路街道"], "普惠托位占比": [0.42], "有普惠机构": [True]})
>>> write_table(df, "out/table.csv")                                           # doctest: +SKIP
>>> write_xlsx("out/t.xlsx", {"街道指标": df}, number_formats={"普惠托位占比": "0.0%"})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import enum
import json
import logging
import math
import os
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ._errors import OutputError

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "NO",
    "YES",
    "Format",
    "atomic_paths",
    "atomic_write",
    "clean_frame",
    "display_width",
    "format_of",
    "jsonable",
    "output_error",
    "sha256_file",
    "write_file",
    "write_table",
    "write_xlsx",
]

#: how booleans are written in every XLSX sheet
YES, NO = "是", "否"
#: characters that make a spreadsheet treat a CSV cell as a formula (neutralised with a leading ')
FORMULA_START = ("=", "+", "-", "@")
_MAX_SHEET_NAME = 31
_MAX_COL_WIDTH = 60
_FIX = ("choose a folder you can write to (e.g. --out ./outputs), check its permissions and free "
        "disk space, and close the file if it is open in Excel/WPS/QGIS")


# ------------------------------------------------------------------------------ errors & helpers

def display_width(text: Any) -> int:
    """Terminal/Excel display width of ``text``: CJK and full-width characters count as 2.

    >>> display_width("徐汇ab")
    6
    """
    s = "" if text is None else str(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def output_error(path: str | Path, exc: BaseException | str) -> OutputError:
    """The :class:`OutputError` for a failed write of ``path`` (names the path and the fix)."""
    why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return OutputError(f"cannot write {path}: {why}\n  fix: {_FIX}")


def _is_write_error(exc: BaseException) -> bool:
    """OSError (incl. disk full inside openpyxl/zipfile) or a GDAL error raised by pyogrio."""
    if isinstance(exc, OSError):
        return True
    from pyogrio.errors import DataLayerError, DataSourceError

    return isinstance(exc, (DataSourceError, DataLayerError))


def _temp_name(target: Path) -> Path:
    """A fresh hidden name in the target's folder, keeping the suffix (drivers look at it)."""
    return target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:10]}{target.suffix}")


def _remove(tmp: Path) -> None:
    """Remove a temporary file and any side files a driver left next to it (-journal, -wal …)."""
    with contextlib.suppress(OSError):
        for p in tmp.parent.iterdir():  # not glob: the name may hold [ ] * ?
            if p.name.startswith(tmp.name):
                p.unlink(missing_ok=True)


def _make_parents(targets: Sequence[Path]) -> list[Path]:
    """Create missing parent folders; return those created (outermost first)."""
    created: list[Path] = []
    for t in targets:
        folder = t.parent.absolute()
        for p in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
            try:
                p.mkdir()
            except OSError as exc:
                _remove_dirs(created)
                raise output_error(t, exc) from exc
            created.append(p)
    return created


def _remove_dirs(created: Sequence[Path]) -> None:
    for p in reversed(created):
        with contextlib.suppress(OSError):
            p.rmdir()


# ------------------------------------------------------------------------------------ atomicity

@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Write several files all-or-nothing.

    Yields one temporary path per target (not yet created), each in its target's folder and with
    its suffix.  When the ``with`` block ends without error every target that already exists is
    set aside, every temporary file is moved onto its target, and the set-aside files are deleted.
    If the block, or any move, fails: temporary files are removed, targets already moved are
    restored to their old content (or removed if they did not exist), folders created by this call
    are removed, and the error is raised — write failures as :class:`OutputError`.

    Parameters
    ----------
    paths : sequence of str or Path
        Final file paths (distinct).

    Yields
    ------
    list of Path
        Temporary paths to write to, in the order of ``paths``.

    Raises
    ------
    OutputError
        A folder cannot be created, a file cannot be written or moved (OSError or a GDAL error),
        nothing was written to a temporary path, or a target is an existing folder.
    """
    targets = [Path(p) for p in paths]
    for t in targets:
        if t.is_dir():
            raise output_error(t, "a folder of that name exists")
    created = _make_parents(targets)
    temps = [_temp_name(t) for t in targets]
    try:
        yield temps
        for tmp, t in zip(temps, targets, strict=True):
            if not tmp.exists():
                raise output_error(t, "nothing was written")
        _move_all(temps, targets)
    except BaseException as exc:
        for tmp in temps:
            _remove(tmp)
        _remove_dirs(created)
        if isinstance(exc, OutputError) or not _is_write_error(exc):
            raise
        where = targets[0] if len(targets) == 1 else \
            f"{targets[0].parent} ({', '.join(t.name for t in targets)})"
        raise output_error(where, exc) from exc


def _move_all(temps: Sequence[Path], targets: Sequence[Path]) -> None:
    """Move temps onto targets; on failure restore every target moved so far, then re-raise."""
    done: list[tuple[Path, Path | None]] = []  # (target, its set-aside old file)
    try:
        for tmp, t in zip(temps, targets, strict=True):
            backup = None
            if t.exists():
                backup = t.with_name(f".{t.name}.old-{uuid.uuid4().hex[:10]}")
                os.replace(t, backup)
            done.append((t, backup))
            os.replace(tmp, t)
    except BaseException:
        for t, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None and backup.exists():
                    os.replace(backup, t)
                elif backup is None:
                    t.unlink(missing_ok=True)
        raise
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write one file atomically.

    Yields a temporary path (not yet created) in the same folder with the same suffix; when the
    block finishes without error it replaces ``path`` in one :func:`os.replace`.  On any error the
    temporary file is removed and ``path`` is untouched.  See :func:`atomic_paths`.

    Raises
    ------
    OutputError
        The folder cannot be created or the file cannot be written (names the path and the fix).

    Examples
    --------
    >>> with atomic_write("out/table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


def sha256_file(path: str | Path) -> str | None:
    """Hex SHA-256 of a file, or None when it does not exist."""
    import hashlib

    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON types (dataclasses, mappings, numpy, enums, paths; NaN → None)."""
    if isinstance(v, enum.Enum):
        return jsonable(v.value)
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: jsonable(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset, pd.Index, np.ndarray, pd.Series)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if v is None or isinstance(v, (str, int)):
        return v
    if isinstance(v, (_dt.date, _dt.datetime, pd.Timestamp)):
        return v.isoformat()
    return str(v)


# ------------------------------------------------------------------------------------- XLSX

def _cell_value(v: Any) -> Any:
    """A pandas/numpy value as openpyxl writes it: bool → 是/否, NaN/None → empty cell."""
    if isinstance(v, enum.Enum):
        v = v.value
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return YES if v else NO
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, (str, int, _dt.date, _dt.datetime)):
        return v
    return str(v)


def _per_sheet(option: Mapping[str, Any] | None, sheet: str) -> dict[str, Any]:
    """Option given as ``{column: value}`` (every sheet) or ``{sheet: {column: value}}``."""
    out: dict[str, Any] = {}
    for k, v in (option or {}).items():
        if isinstance(v, Mapping):
            if k == sheet:
                out.update(v)
        else:
            out[k] = v
    return out


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A frame without geometry columns (and not a GeoDataFrame)."""
    geom = [c for c in df.columns if str(getattr(df[c], "dtype", "")) == "geometry"]
    return pd.DataFrame(df.drop(columns=geom))


def _column_width(header: str, values: pd.Series) -> float:
    """Column width from the display width of the header and of (a sample of) the values."""
    head = display_width(header)
    head = head // 2 + 1 if head > 16 else head  # long headers wrap onto two lines
    w = head
    sample = values.head(2000)
    if len(sample):
        if pd.api.types.is_float_dtype(sample):
            w = max(w, max(display_width(f"{v:,.2f}") for v in sample.fillna(0)))
        else:
            w = max(w, max(display_width(_cell_value(v)) for v in sample))
    return min(_MAX_COL_WIDTH, max(6, w) + 2)


def _fill_sheet(ws: Any, df: pd.DataFrame, fmts: Mapping[str, str], notes: Mapping[str, Any]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    cols = [str(c) for c in df.columns]
    ws.append(cols)
    for row in df.itertuples(index=False, name=None):
        ws.append([_cell_value(v) for v in row])
    for row in ws.iter_rows(min_row=2):
        for cell in row:  # a text cell starting with "=" stays text, never a formula
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    head_align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font, cell.fill, cell.alignment = head_font, head_fill, head_align
        if notes.get(col):
            cell.comment = Comment(str(notes[col]), "tuoyu_geo", width=320, height=160)
        if fmts.get(col):
            for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                c.number_format = fmts[col]
        ws.column_dimensions[get_column_letter(j)].width = _column_width(col, df.iloc[:, j - 1])
    ws.row_dimensions[1].height = 32
    ws.freeze_panes = "A2"
    if cols and len(df):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(df) + 1}"


def _workbook(sheets: Mapping[str, pd.DataFrame], number_formats: Mapping[str, Any] | None,
              notes: Mapping[str, Any] | None) -> Any:
    from openpyxl import Workbook

    for n in sheets:
        if not n or len(n) > _MAX_SHEET_NAME or any(c in n for c in "[]:*?/\\"):
            raise ValueError(f"invalid sheet name {n!r}: 1–31 characters, none of []:*?/\\")
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        _fill_sheet(wb.create_sheet(title=name), _plain(df), _per_sheet(number_formats, name),
                    _per_sheet(notes, name))
    if not sheets:
        wb.create_sheet(title="Sheet1")
    return wb


def _save_xlsx(obj: Mapping[str, pd.DataFrame] | pd.DataFrame, path: Path, *, sheet: str | None = None,
               number_formats: Mapping[str, Any] | None = None,
               notes: Mapping[str, Any] | None = None) -> None:
    sheets = {sheet or "Sheet1": obj} if isinstance(obj, pd.DataFrame) else obj
    _workbook(sheets, number_formats, notes).save(path)


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame], *,
               number_formats: Mapping[str, Any] | None = None,
               notes: Mapping[str, Any] | None = None) -> Path:
    """Write data frames as formatted sheets of one XLSX workbook, atomically.

    Each sheet gets a bold, filled, wrapped header row (the frame's column names), the header row
    frozen, an auto-filter and column widths fitted to the content (CJK characters count double).
    Booleans are written as 是/否; NaN/None as empty cells; text starting with ``=`` stays text.
    The index and geometry columns are not written.

    Parameters
    ----------
    path : str or Path
        Target ``.xlsx`` file (written atomically).
    sheets : mapping of str to DataFrame
        Sheet name (≤ 31 characters, none of ``[]:*?/\\``) → data, in workbook order.
    number_formats : mapping, optional
        Excel number format per column header, for every sheet (``{"普惠托位占比": "0.0%"}``) or
        per sheet (``{"街道指标": {"托位数": "#,##0"}}``).
    notes : mapping, optional
        Comment text per column header (hover in Excel/WPS), same two forms.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The file cannot be written (folder missing/not writable, file open in Excel, disk full).
    ValueError
        An invalid sheet name.
    """
    wb = _workbook(sheets, number_formats, notes)
    with atomic_write(path) as tmp:
        wb.save(tmp)
    return Path(path)


# ------------------------------------------------------------------------------ other formats

def _csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_object_dtype(out[c].dtype) or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype(object).map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


def _save_csv(df: pd.DataFrame, path: Path, *, index: bool = False) -> None:
    """UTF-8 with BOM (Excel/WPS detect the encoding), no geometry, formulas neutralised."""
    _csv_safe(_plain(df)).to_csv(path, index=index, encoding="utf-8-sig")


def clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Plain column types GDAL takes: categorical/object → str (None kept), nullable numbers → float."""
    out = df.copy()
    geom = getattr(out, "_geometry_column_name", None)
    for c in out.columns:
        s = out[c]
        if c == geom or str(s.dtype) == "geometry":
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(str)
        elif pd.api.types.is_bool_dtype(s.dtype) and pd.api.types.is_extension_array_dtype(s.dtype):
            out[c] = s.astype(object)
        elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            out[c] = s.astype(object).map(_text_or_none)
        elif pd.api.types.is_extension_array_dtype(s.dtype) and pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype(float)
    return out


def _text_or_none(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, enum.Enum):
        v = v.value
    return v if isinstance(v, (str, bool, np.bool_)) else str(v)


def _save_gpkg(obj: Any, path: Path, *, layer: str | None = None) -> None:
    """One layer (a GeoDataFrame) or several (mapping/sequence of (layer name, GeoDataFrame))."""
    import pyogrio

    layers = [(layer or "layer", obj)] if hasattr(obj, "geometry") else list(dict(obj).items())
    for name, gdf in layers:
        g = clean_frame(gdf.reset_index(drop=True))
        if g.crs is None:
            raise ValueError(f"layer {name!r} has no CRS; fix: set_crs('EPSG:4326') before writing")
        pyogrio.write_dataframe(g, path, layer=name, driver="GPKG")


def _save_geojson(gdf: Any, path: Path) -> None:
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    path.write_text(clean_frame(g).to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")


def _save_json(obj: Any, path: Path, *, indent: int | None = 2) -> None:
    data = obj.to_dict(orient="records") if isinstance(obj, pd.DataFrame) else obj
    path.write_text(json.dumps(jsonable(data), ensure_ascii=False, indent=indent), encoding="utf-8")


def _save_html(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")


def _save_png(obj: Any, path: Path, *, dpi: int = 150) -> None:
    """A matplotlib figure (saved as PNG) or PNG bytes."""
    if isinstance(obj, (bytes, bytearray)):
        path.write_bytes(bytes(obj))
    else:
        obj.savefig(path, dpi=dpi, format="png")


@dataclass(frozen=True)
class Format:
    """One output format: name, file suffixes, whether it holds a table, and its writer.

    ``write(obj, path, **options)`` writes ``obj`` to ``path`` (not atomic by itself: call it on a
    temporary path from :func:`atomic_write`/:func:`atomic_paths`, or use :func:`write_file`).
    """

    name: str
    suffixes: tuple[str, ...]
    table: bool
    write: Callable[..., None]
    description: str


#: the format registry: name → :class:`Format`
FORMATS: Mapping[str, Format] = MappingProxyType({f.name: f for f in (
    Format("csv", (".csv",), True, _save_csv, "UTF-8 with BOM, no geometry, formulas neutralised"),
    Format("xlsx", (".xlsx",), True, _save_xlsx, "formatted workbook (write_xlsx); bool → 是/否"),
    Format("gpkg", (".gpkg",), True, _save_gpkg, "GeoPackage, one or more layers"),
    Format("geojson", (".geojson",), True, _save_geojson, "GeoJSON FeatureCollection, EPSG:4326"),
    Format("json", (".json",), True, _save_json, "JSON (data frames as a list of records)"),
    Format("html", (".html", ".htm"), False, _save_html, "HTML text"),
    Format("png", (".png",), False, _save_png, "PNG image (matplotlib figure or bytes)"),
)})


def format_of(path: str | Path, fmt: str | None = None) -> Format:
    """The :class:`Format` named ``fmt``, or the one of the suffix of ``path``.

    Raises
    ------
    ValueError
        Unknown format or suffix.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return FORMATS[fmt]
    suffix = Path(path).suffix.lower()
    for f in FORMATS.values():
        if suffix in f.suffixes:
            return f
    raise ValueError(f"cannot tell the format of {path} from its suffix {suffix!r}; "
                     f"use one of {', '.join(s for f in FORMATS.values() for s in f.suffixes)}")


def write_file(obj: Any, path: str | Path, *, fmt: str | None = None, **options: Any) -> Path:
    """Write ``obj`` atomically in ``fmt`` (default: from the suffix of ``path``).

    ``options`` go to the format's writer (``sheet``/``number_formats``/``notes`` for xlsx,
    ``layer`` for gpkg, ``dpi`` for png, ``index`` for csv).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The file cannot be written; the old file (if any) is untouched.
    """
    f = format_of(path, fmt)
    if f.name == "gpkg" and hasattr(obj, "geometry"):
        options.setdefault("layer", Path(path).stem)  # one frame: the layer is named after the file
    with atomic_write(path) as tmp:
        f.write(obj, tmp, **options)
    log.debug("wrote %s (%s)", path, f.name)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | Path, *, fmt: str | None = None, **options: Any) -> Path:
    """Write a table atomically as csv, xlsx, gpkg, geojson or json (default: from the suffix).

    Parameters
    ----------
    df : DataFrame or GeoDataFrame
        The table (gpkg/geojson need a GeoDataFrame with a CRS).
    path : str or Path
    fmt : {"csv", "xlsx", "gpkg", "geojson", "json"}, optional
    **options
        ``sheet``, ``number_formats``, ``notes`` (xlsx); ``layer`` (gpkg); ``index`` (csv).

    Returns
    -------
    Path
    """
    f = format_of(path, fmt)
    if not f.table:
        raise ValueError(f"{f.name} is not a table format; use one of "
                         f"{', '.join(n for n, x in FORMATS.items() if x.table)}")
    return write_file(df, path, fmt=f.name, **options)
