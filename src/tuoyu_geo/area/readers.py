"""Reading one layer file: GeoJSON/GeoPackage/Shapefile (UTF-8 or GBK) and CSV/XLSX point tables.

Tables may carry a BOM, title rows above the header, a two-row header under merged group cells
and Chinese column names (:data:`~tuoyu_geo.area.schema.COLUMN_ALIASES`).  Everything is returned
in WGS-84; GCJ-02/BD-09 coordinates are converted.
"""

from __future__ import annotations

import csv
import io as _stdio
import logging
import math
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
from shapely.geometry import Point

from .. import crs as _crs
from .._errors import DataError, Problem
from .schema import COLUMN_ALIASES, CONTRACT_COLUMNS, LAT_NAMES, LAYERS, LON_NAMES

__all__ = ["MAX_LAYER_BYTES", "read_layer"]

#: the largest layer file read (bytes); a study area's layers are far smaller
MAX_LAYER_BYTES = 2 * 2**30

log = logging.getLogger(__name__)


def _known_header_names(extra: tuple[str, ...] = ()) -> set[str]:
    names = {c for spec in LAYERS.values() for c in spec["required"]} | set(LON_NAMES) | set(LAT_NAMES)
    names |= {a.lower() for al in COLUMN_ALIASES.values() for a in al} | set(COLUMN_ALIASES)
    return names | {e.strip().lower() for e in extra}


def _apply_aliases(df: pd.DataFrame) -> pd.DataFrame:
    """Rename alias columns (e.g. 人口 → population) and contract names in another case
    (``POPULATION`` from an ArcGIS Shapefile) when the contract column is absent."""
    have = set(df.columns)
    upper = {c: k for k in CONTRACT_COLUMNS if k not in have
             for c in df.columns if isinstance(c, str) and c != "geometry" and c.lower() == k}
    if upper and len(set(upper.values())) == len(upper):
        df = df.rename(columns=upper)
    lower = {str(c).strip().lower(): c for c in df.columns}
    ren = {}
    for target, aliases in COLUMN_ALIASES.items():
        if target in df.columns:
            continue
        hits = [lower[a.lower()] for a in aliases if a.lower() in lower]
        if len(hits) == 1 and hits[0] not in ren:
            ren[hits[0]] = target
    return df.rename(columns=ren) if ren else df


def _header_index(rows: list[list[Any]], extra: tuple[str, ...] = ()) -> int | None:
    """Index of the first row (of the first 10) holding ≥ 2 contract/alias column names (or
    names mapped in area.toml ``[columns]``, ``extra``)."""
    known = _known_header_names(extra)
    for i, row in enumerate(rows[:10]):
        vals = [str(v).strip().lower() for v in row if v is not None and str(v) != "nan"]
        if sum(v in known for v in vals) >= 2:
            return i
    return None


def _read_sheet(path: Path, sheet: str | None) -> pd.DataFrame:
    """The raw cells of one sheet: ``sheet`` (area.toml ``layer =``; it must exist), else the first
    (a warning names it when other sheets hold data too)."""
    sheets = pd.read_excel(path, header=None, dtype=object, sheet_name=None)
    names = list(sheets)
    if sheet is not None:
        if sheet not in sheets:
            raise DataError(f"no sheet {sheet!r} in the workbook (sheets: {', '.join(names)})", file=path.name,
                            fix=f'write layer = "<sheet name>" with one of: {", ".join(names)}')
        return sheets[sheet]
    full = [n for n, df in sheets.items() if df.dropna(how="all").shape[0] > 1]
    if len(full) > 1:
        log.warning("%s: reading the first sheet %r; the sheets %s also hold data (choose one with "
                    '{ file = "%s", layer = "<sheet name>" } in area.toml [layers])', path.name, names[0],
                    ", ".join(repr(n) for n in full if n != names[0]), path.name)
    return sheets[names[0]]


def _read_table(path: Path, extra: tuple[str, ...] = (), sheet: str | None = None) -> pd.DataFrame:
    suf = path.suffix.lower()
    if suf in (".xlsx", ".xls"):
        return _header_from_raw(_read_sheet(path, sheet), path, extra)
    if sheet is not None:
        raise DataError(f"layer = {sheet!r} is given, but {path.name} is a text table with no layers or sheets",
                        file=path.name, fix="remove layer = from area.toml [layers] (it names a GeoPackage layer "
                                            "or an XLSX sheet)")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel "Unicode 文本" export: UTF-16, tab separated
        encs: tuple[str, ...] = ("utf-16",)
    else:
        encs = ("utf-8-sig", "gb18030")
    for enc in encs:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        lines = text.splitlines()[:10]
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;")
            sep = dialect.delimiter
        except csv.Error:
            sep = ","
        skip = _header_index(list(csv.reader(lines, delimiter=sep)), extra) or 0  # title rows above the header
        df = pd.read_csv(_stdio.StringIO(text), sep=sep, skiprows=skip, dtype=str, keep_default_na=False)
        if len(df.columns):  # empty rows (e.g. trailing ",,,," lines) are not rows
            df = df[~df.apply(lambda col: col.str.strip() == "").all(axis=1)].reset_index(drop=True)
        return df
    raise DataError("cannot decode the CSV as UTF-8, GBK or UTF-16", file=path.name,
                    fix="save the file as UTF-8 (Excel: 另存为 ▸ CSV UTF-8)")


def _cell(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()


def _header_from_raw(raw: pd.DataFrame, path: Path, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Find the header row of a sheet that may have merged title rows above it, and merge a
    two-row header (e.g. a merged 坐标 cell above ``lon``/``lat``)."""
    rows = [raw.iloc[i].tolist() for i in range(min(len(raw), 12))]
    i = _header_index(rows, extra)
    if i is None:
        raise DataError("no header row with the contract column names found in the first 10 rows",
                        file=path.name, fix="put the column names (e.g. institution_id, name, lon, lat) in one row")
    known = _known_header_names(extra)
    head = [_cell(v) for v in rows[i]]
    start = i + 1
    if i + 1 < len(rows):
        sub = [_cell(v) for v in rows[i + 1]]
        if any(v.lower() in known for v in sub):  # a second header row below merged group cells
            head = [b if b.lower() in known or (b and not a) else a for a, b in zip(head, sub, strict=True)]
            start = i + 2
    cols = [h if h else f"unnamed_{j}" for j, h in enumerate(head)]
    df = raw.iloc[start:].copy()
    df.columns = cols
    df = df.dropna(how="all").reset_index(drop=True)
    return df.astype(object).where(df.notna(), "").astype(str)


def _points_from_table(df: pd.DataFrame, path: Path, columns: Mapping[str, str] | None = None,
                       table: str = "columns") -> gpd.GeoDataFrame:
    lower = {c.lower().strip(): c for c in df.columns}
    given = {k: v for k, v in (columns or {}).items() if k in ("lon", "lat")}
    DataError.collect(_missing_mapped(df, given, path, table))
    lon = given.get("lon") or next((lower[c] for c in LON_NAMES if c in lower), None)
    lat = given.get("lat") or next((lower[c] for c in LAT_NAMES if c in lower), None)
    if lon is None or lat is None:
        raise DataError("no lon/lat columns found", file=path.name,
                        fix="name the coordinate columns lon and lat (or lng/longitude/经度, latitude/纬度)")
    x = pd.to_numeric(df[lon].replace("", np.nan), errors="coerce")
    y = pd.to_numeric(df[lat].replace("", np.nan), errors="coerce")
    geom = [Point(a, b) if np.isfinite(a) and np.isfinite(b) else None for a, b in zip(x, y, strict=True)]
    return gpd.GeoDataFrame(df.drop(columns=[lon, lat]), geometry=geom, crs="EPSG:4326")


def _looks_garbled(gdf: pd.DataFrame) -> bool:
    for c in gdf.columns:
        if c == "geometry":
            continue
        if gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c]):
            s = gdf[c].dropna().astype(str)
            if s.str.contains("\ufffd").any():
                return True
            # GBK bytes decoded as latin-1 give many chars in U+0080–U+00FF
            if s.str.count(r"[\u0080-\u00ff]").sum() > max(3, 0.2 * s.str.len().sum()):
                return True
    return any("\ufffd" in str(c) for c in gdf.columns)


def _untruncate(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Restore contract column names cut to 10 characters by the Shapefile (dBASE) format."""
    ren = {}
    for c in gdf.columns:
        if len(c) == 10 and c not in CONTRACT_COLUMNS:
            full = [k for k in CONTRACT_COLUMNS if len(k) > 10 and k[:10] == c.lower() and k not in gdf.columns]
            if len(full) == 1:
                ren[c] = full[0]
    return gdf.rename(columns=ren) if ren else gdf


def _reread_encoded(path: Path, kw: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """Re-read a Shapefile without a usable .cpg: UTF-8 if it decodes, else GBK (GB18030)."""
    for enc in ("utf-8", "gb18030"):
        try:
            gdf = gpd.read_file(path, engine="pyogrio", encoding=enc, **kw)
        except UnicodeDecodeError:
            continue
        if not _looks_garbled(gdf):
            return gdf
    raise DataError("the text in the Shapefile is neither UTF-8 nor GBK", file=path.name,
                    fix=f"add {path.with_suffix('.cpg').name} containing the encoding name (e.g. UTF-8 or GBK)")


_UTF8_NAMES = {"utf-8", "utf8", "65001"}
_GBK_NAMES = {"gbk", "gb2312", "gb18030", "cp936", "936", "ansi 936", "euc-cn"}


def _dbf_encoding(path: Path) -> str | None:
    """The encoding of a Shapefile's text, read from the .dbf bytes (UTF-8 if they decode as
    UTF-8, else GB18030), or None when the text is plain ASCII or the .dbf is unreadable.

    A .cpg that names another encoding is overridden with a logged warning (a UTF-8 .dbf whose
    .cpg says GBK would otherwise come out as mojibake)."""
    dbf = path.with_suffix(".dbf") if path.with_suffix(".dbf").exists() else path.with_suffix(".DBF")
    try:
        data = dbf.read_bytes()
        head = int.from_bytes(data[8:10], "little")
    except (OSError, IndexError):
        return None
    recs = data[head:] + data[32:head]  # records and field descriptors (names may be Chinese)
    if recs.isascii():
        return None
    enc = None
    for cand in ("UTF-8", "GB18030"):
        try:
            data[head:].decode(cand)
        except UnicodeDecodeError:
            continue
        enc = cand
        break
    if enc is None:
        return None
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        said = cpg.read_text(encoding="ascii", errors="replace").strip().lower()
        fam = "UTF-8" if said in _UTF8_NAMES else "GB18030" if said in _GBK_NAMES else None
        if fam is not None and fam != enc:
            log.warning("%s: %s says %s but the text is %s; read as %s", path.name, cpg.name, said.upper(),
                        enc, enc)
    return enc


def _read_any(path: Path, layer: str | None, columns: Mapping[str, str] | None = None,
              table: str = "columns") -> pd.DataFrame:
    """The raw frame of a table or GIS file (no CRS handling yet)."""
    suf = path.suffix.lower()
    try:
        if suf in (".csv", ".txt", ".xlsx", ".xls"):
            extra = tuple((columns or {}).values())
            return _points_from_table(_read_table(path, extra, layer), path, columns, table)
        if columns and {"lon", "lat"} & set(columns):
            raise DataError([Problem("area.toml", f"[{table}] maps lon/lat, but {path.name} is not a CSV/XLSX "
                                     "table (its geometry is used)", (f"{table}.lon",),
                                     f"remove lon/lat from [{table}]")])
        kw: dict[str, Any] = {"layer": layer} if layer else {}
        _check_layers(path, layer)
        if suf in (".shp", ".dbf"):
            enc = _dbf_encoding(path)
            if enc is not None:
                kw["encoding"] = enc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = gpd.read_file(path, engine="pyogrio", **kw)
            if suf in (".shp", ".dbf") and _looks_garbled(gdf):
                gdf = _reread_encoded(path, kw)
            if suf in (".shp", ".dbf"):
                gdf = _untruncate(gdf)
        return gdf
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes a clear DataError
        raise DataError(f"cannot read the file ({type(exc).__name__}: {exc})", file=path.name,
                        fix="check that it is a valid GeoJSON/GeoPackage/Shapefile/CSV/XLSX") from None


def _check_layers(path: Path, layer: str | None) -> None:
    """A file with several layers (GeoPackage) needs ``layer``; a given layer must exist."""
    multi = path.suffix.lower() in (".gpkg", ".sqlite", ".gdb")
    if not multi and layer is None:
        return
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # noqa: BLE001 - unreadable: reported by the reader with its own message
        return
    if multi and layer is None and len(names) > 1:
        raise DataError(f"the file has {len(names)} layers ({', '.join(names)}); which one to read is not given",
                        file=path.name, fix=f'name the layer in area.toml [layers], e.g. candidates = {{ file = '
                        f'"{path.name}", layer = "{names[0]}" }}  (layers: {", ".join(names)})')
    if layer is not None and layer not in names:
        raise DataError(f"no layer {layer!r} in the file (layers: {', '.join(names)})", file=path.name,
                        fix=f"use one of {', '.join(names)}")


def _missing_mapped(df: pd.DataFrame, columns: Mapping[str, str], path: Path, table: str) -> list[Problem]:
    """A problem for every ``[columns]`` entry naming a column the file does not have."""
    have = [str(c) for c in df.columns if c != "geometry"]
    out = []
    for key, src in columns.items():
        if src.strip() not in have:
            shown = ", ".join(have[:25]) + (" …" if len(have) > 25 else "")
            out.append(Problem("area.toml", f'[{table}] {key} = "{src}": {path.name} has no column "{src}" '
                               f"(its columns: {shown})", (f"{table}.{key}",),
                               f"write the header exactly as it is in {path.name}, or remove the line"))
    return out


def _map_columns(gdf: pd.DataFrame, columns: Mapping[str, str], path: Path, table: str) -> pd.DataFrame:
    """Rename the file's columns named in area.toml ``[columns.<layer>]`` (contract name = file
    column) to the contract names."""
    columns = {k: v.strip() for k, v in columns.items() if k not in ("lon", "lat")}
    problems = _missing_mapped(gdf, columns, path, table)
    for key, src in columns.items():
        if key in gdf.columns and key != src and key not in columns.values() and src in gdf.columns:
            problems.append(Problem("area.toml", f'[{table}] {key} = "{src}", but {path.name} also has a column '
                                    f'"{key}"', (f"{table}.{key}",),
                                    f'remove the line to use "{key}", or rename the column "{key}" in the file'))
    DataError.collect(problems)
    ren = {src: key for key, src in columns.items() if src != key}
    return gdf.rename(columns=ren) if ren else gdf  # all at once: swapped names are fine


def _strip_headers(gdf: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Column names without surrounding whitespace (``population `` → ``population``)."""
    geo = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    names = {c: str(c).strip().replace("\ufeff", "") for c in gdf.columns if c != geo}
    seen: dict[str, list[str]] = {}
    for c, n in names.items():
        seen.setdefault(n, []).append(repr(str(c)))
    dup = {n: v for n, v in seen.items() if len(v) > 1}
    if dup:
        raise DataError("columns with the same name apart from spaces: " + "; ".join(
            " and ".join(v) for v in dup.values()), file=path.name, fix="keep one of each column")
    ren = {c: n for c, n in names.items() if n != c}
    return gdf.rename(columns=ren) if ren else gdf


def _to_wgs84(gdf: gpd.GeoDataFrame, input_crs: str, fname: str) -> gpd.GeoDataFrame:
    """Declared input CRS → WGS-84 (reprojection, or the GCJ-02/BD-09 conversion)."""
    src = _crs.parse_crs(input_crs, file=fname)
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326", allow_override=True)
    elif isinstance(src, pyproj.CRS) or not gdf.crs.is_geographic:
        if isinstance(src, pyproj.CRS) and gdf.crs.equals(pyproj.CRS.from_epsg(4326)) and not src.is_geographic:
            gdf = gdf.set_crs(src, allow_override=True)
        gdf = gdf.to_crs("EPSG:4326")
    if isinstance(src, str) and src != "wgs84":
        ok = ~(gdf.geometry.isna() | gdf.geometry.is_empty)
        conv = _crs.convert_geoseries(gdf.geometry[ok], src, "wgs84")
        geo = gdf.geometry.copy()
        geo[ok] = conv
        gdf = gdf.set_geometry(geo)
    return gdf


def read_layer(path: str | Path, *, input_crs: str = "wgs84", layer: str | None = None,
               columns: Mapping[str, str] | None = None, columns_table: str = "columns") -> gpd.GeoDataFrame:
    """Read one layer file into a GeoDataFrame in WGS-84.

    Parameters
    ----------
    path : str or Path
        GeoJSON, GeoPackage, Shapefile (UTF-8 or GBK; the encoding is detected) or CSV/XLSX with
        lon/lat columns (a BOM and merged title rows above the header are handled).
    input_crs : str
        ``wgs84``, ``gcj02``, ``bd09`` or an EPSG code; GCJ-02/BD-09 are converted to WGS-84.
        Files that carry their own projected CRS are reprojected.
    layer : str, optional
        Layer name inside a GeoPackage, or the sheet of an XLSX workbook (an error for a CSV).
    columns : mapping, optional
        Contract column → the file's column (area.toml ``[columns.<layer>]``), e.g.
        ``{"street_id": "code", "population": "常住人口"}``; ``lon``/``lat`` name the coordinate
        columns of a CSV/XLSX table.  Applied before the Chinese aliases.
    columns_table : str
        Name of the mapping in error messages (``columns.streets`` from :func:`load_area`).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326; ``attrs["source_file"]`` is the file name.

    Raises
    ------
    DataError
        File missing or unreadable; a ``columns`` entry names no column of the file.
    """
    path = Path(path)
    try:
        exists, folder = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a file name too long for the file system
        raise DataError(f"cannot use the path ({exc.strerror or exc})", file=path.name[:80],
                        fix="use a shorter file name in area.toml [layers]") from None
    if not exists:
        raise DataError(f"file not found: {path}", file=path.name,
                        fix="check the file name in area.toml [layers]")
    if folder:
        raise DataError(f"{path} is a folder, not a layer file", file=path.name,
                        fix="name the file itself in area.toml [layers] (e.g. streets = \"data/streets.shp\")")
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):  # a FIFO, a device (/dev/zero) or a link to one: never read it
        raise DataError(f"{path} is not a regular file", file=path.name,
                        fix="name an ordinary layer file in area.toml [layers]")
    if st.st_size > MAX_LAYER_BYTES:
        raise DataError(f"the file is {st.st_size / 2**30:.1f} GB, above the {MAX_LAYER_BYTES / 2**30:.0f} GB "
                        "limit for one layer", file=path.name,
                        fix="clip the layer to the study area first (e.g. QGIS ▸ Vector ▸ Geoprocessing ▸ Clip)")
    gdf = _strip_headers(_read_any(path, layer, columns, columns_table), path)
    if columns:
        gdf = _map_columns(gdf, columns, path, columns_table)
    if isinstance(gdf, pd.DataFrame):
        gdf = _apply_aliases(gdf)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataError("the file has no geometry", file=path.name,
                        fix="give point coordinates as lon/lat columns or use a GIS format")
    gdf = _to_wgs84(gdf, input_crs, path.name)
    gdf.attrs["source_file"] = path.name
    return gdf
