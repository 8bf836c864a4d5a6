"""GIS hand-off: ASCII field names, Chinese aliases and default QGIS styles in a GeoPackage, and a
zipped Shapefile whose field names survive the 10-byte limit.

* :func:`ascii_names` — English columns as GeoPackage field names: ASCII letters, digits and ``_``,
  lower case, never starting with a digit, unique (``cover7.5_any`` → ``cover7_5_any``).
* :func:`shapefile_names` — the same as ≤ 10-byte Shapefile (DBF) names, unique
  (``places_per_1000_after`` → ``pl_k_a``); the mapping is written next to the data.
* :func:`add_schema` — post-processes a GeoPackage written by GDAL (in its temporary file, before
  the atomic rename): the Chinese header of every field as its alias in ``gpkg_data_columns``
  (GeoPackage schema extension, registered in ``gpkg_extensions`` as ``gpkg_schema``; GDAL ≥ 3.3
  reads ``name`` as the field's *alternative name* and ``description`` as its comment) and one
  default QGIS style per layer in ``layer_styles`` (the table QGIS reads when it opens a layer).
* :func:`qml` — a small QGIS style: a single symbol, or categories of one field; field aliases
  and optional labels.  :func:`write_shapefile_zip` puts the same styles next to each ``.shp`` as
  ``<layer>.qml``, which QGIS loads as the default style.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ..writer import clean_frame

__all__ = [
    "DBF_MAX_BYTES",
    "LayerSchema",
    "Style",
    "add_schema",
    "ascii_name",
    "ascii_names",
    "qml",
    "shapefile_names",
    "truncate_utf8",
    "write_shapefile_zip",
]

#: longest text a DBF field holds (bytes); longer text is cut at a character boundary
DBF_MAX_BYTES = 254
_SHP_MAX = 10
#: abbreviations for Shapefile names (whole ``_``-separated words)
_ABBR = {
    "before": "b", "after": "a", "places": "pl", "place": "pl", "puhui": "ph", "per": "", "1000": "k",
    "institutions": "inst", "share": "sh", "status": "st", "street": "str", "name": "nm", "population": "pop",
    "infants": "inf", "target": "tgt", "cover": "cv", "within": "w", "residential": "res", "missing": "mis",
    "mean": "mn", "new": "n", "sites": "site", "unmet": "un", "reasons": "rsn", "nearest": "nr",
    "covered": "cov", "newly": "nw", "distance": "dist", "runner": "r", "up": "u", "classes": "cls",
    "infant": "inf", "small": "sm", "large": "lg", "mixed": "mx", "floor": "fl", "area": "ar",
    "cgcs2000": "cgcs", "east": "e", "north": "n", "one": "1", "any": "any",
    "gap": "gap", "has": "has", "order": "ord", "cost": "cost", "year": "yr", "minutes": "min",
    "district": "dist", "kind": "kind", "reason": "rsn", "carers": "carer", "community": "comm",
}
_NOW = "%Y-%m-%dT%H:%M:%S.000Z"


# ---------------------------------------------------------------------------------- field names

def ascii_name(col: str) -> str:
    """A column name as a portable field name: ``[a-z0-9_]``, not starting with a digit.

    >>> ascii_name("cover7.5_any"), ascii_name("15min"), ascii_name("街道")
    ('cover7_5_any', 'f_15min', 'f')
    """
    s = re.sub(r"[^0-9a-z_]+", "_", str(col).lower()).strip("_")
    if not s or s[0].isdigit():
        s = f"f_{s}".rstrip("_")
    return s


def _unique(names: Sequence[str], *, max_len: int | None = None) -> list[str]:
    """Make names unique (case-insensitive) by a numeric tail, keeping each within ``max_len``."""
    out: list[str] = []
    seen: set[str] = set()
    for n in names:
        cand, i = n, 1
        while cand.lower() in seen:
            tail = str(i)
            cand = (n[: max_len - len(tail)] if max_len else n) + tail
            i += 1
        seen.add(cand.lower())
        out.append(cand)
    return out


def ascii_names(columns: Sequence[str]) -> dict[str, str]:
    """``{column: field name}`` by :func:`ascii_name`, unique within the layer (``fid``/``geom`` avoided)."""
    cols = list(columns)
    base = [ascii_name(c) for c in cols]
    names = _unique(["fid", "geom", *base])[2:]
    return dict(zip(cols, names, strict=True))


def _shp_name(col: str) -> str:
    name = ascii_name(col)
    if len(name) <= _SHP_MAX:
        return name
    words = [_ABBR[w] if w in _ABBR else "".join(_ABBR.get(x, x) for x in re.findall(r"[a-z]+|\d+", w))
             for w in name.split("_")]
    short = "_".join(w for w in words if w)
    if len(short) > _SHP_MAX:
        short = short.replace("_", "")
    return short[:_SHP_MAX] or "f"


def shapefile_names(columns: Sequence[str]) -> dict[str, str]:
    """``{column: Shapefile field name}``: ASCII, ≤ 10 bytes, unique (case-insensitive).

    >>> shapefile_names(["places_per_1000_after", "status_after", "east_gk4528"])
    {'places_per_1000_after': 'pl_k_a', 'status_after': 'st_a', 'east_gk4528': 'e_gk4528'}
    """
    cols = list(columns)
    return dict(zip(cols, _unique([_shp_name(c) for c in cols], max_len=_SHP_MAX), strict=True))


def truncate_utf8(text: Any, max_bytes: int = DBF_MAX_BYTES) -> Any:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary (other values unchanged)."""
    if not isinstance(text, str):
        return text
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", errors="ignore")


# ---------------------------------------------------------------------------------- QGIS style

@dataclass(frozen=True)
class Style:
    """A simple QGIS style for one layer (colours as ``"r,g,b,a"``; columns are English names).

    ``field`` and ``categories`` ((value, legend label, colour), …) make a categorized renderer,
    else one symbol of ``color``; ``label_field`` labels the features.
    """

    geometry: str  # "point" or "polygon"
    color: str = "31,120,180,255"
    field: str | None = None
    categories: tuple[tuple[str, str, str], ...] = ()
    marker: str = "circle"
    size_mm: float = 2.0
    label_field: str | None = None
    outline: str = "35,35,35,255"
    description: str = ""


def _symbol(parent: ET.Element, name: str, style: Style, color: str) -> None:
    point = style.geometry == "point"
    sym = ET.SubElement(parent, "symbol", {"type": "marker" if point else "fill", "name": name, "alpha": "1",
                                           "clip_to_extent": "1", "force_rhr": "0"})
    layer = ET.SubElement(sym, "layer", {"class": "SimpleMarker" if point else "SimpleFill", "enabled": "1",
                                         "locked": "0", "pass": "0"})
    props = {"color": color, "outline_color": style.outline, "outline_style": "solid",
             "outline_width": "0.2" if point else "0.3", "outline_width_unit": "MM"}
    if point:
        props |= {"name": style.marker, "size": f"{style.size_mm:g}", "size_unit": "MM"}
    else:
        props |= {"style": "solid", "joinstyle": "bevel"}
    opt = ET.SubElement(layer, "Option", {"type": "Map"})  # QGIS ≥ 3.26
    for k, v in props.items():
        ET.SubElement(opt, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():  # older QGIS 3.x
        ET.SubElement(layer, "prop", {"k": k, "v": v})


def qml(style: Style, fields: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> str:
    """QGIS style (QML) text.

    Parameters
    ----------
    style : Style
    fields : mapping
        English column → field name in the file (``style.field``/``label_field`` are looked up here).
    aliases : mapping, optional
        Field name → alias shown in QGIS (the Chinese header).
    """
    root = ET.Element("qgis", {"version": "3.28.0", "styleCategories": "Symbology|Labeling|Fields",
                               "labelsEnabled": "1" if style.label_field else "0"})
    if style.field and style.categories:
        r = ET.SubElement(root, "renderer-v2", {"type": "categorizedSymbol", "attr": fields[style.field],
                                                "symbollevels": "0", "enableorderby": "0", "forceraster": "0"})
        cats = ET.SubElement(r, "categories")
        syms = ET.SubElement(r, "symbols")
        for i, (value, text, color) in enumerate(style.categories):
            ET.SubElement(cats, "category", {"value": value, "label": text, "symbol": str(i), "render": "true"})
            _symbol(syms, str(i), style, color)
        _symbol(ET.SubElement(r, "source-symbol"), "0", style, style.color)
    else:
        r = ET.SubElement(root, "renderer-v2", {"type": "singleSymbol", "symbollevels": "0", "enableorderby": "0",
                                                "forceraster": "0"})
        _symbol(ET.SubElement(r, "symbols"), "0", style, style.color)
    if style.label_field:
        lab = ET.SubElement(root, "labeling", {"type": "simple"})
        settings = ET.SubElement(lab, "settings", {"calloutType": "simple"})
        text = ET.SubElement(settings, "text-style", {"fieldName": fields[style.label_field], "isExpression": "0",
                                                      "fontSize": "9", "fontSizeUnit": "Point",
                                                      "textColor": "50,50,50,255"})
        ET.SubElement(text, "text-buffer", {"bufferDraw": "1", "bufferSize": "0.8", "bufferSizeUnits": "MM",
                                            "bufferColor": "255,255,255,255"})
        ET.SubElement(settings, "placement", {"placement": "1" if style.geometry == "polygon" else "6"})
    al = ET.SubElement(root, "aliases")
    for f, a in (aliases or {}).items():
        ET.SubElement(al, "alias", {"field": f, "name": a})
    ET.SubElement(root, "layerGeometryType").text = "0" if style.geometry == "point" else "2"
    body = ET.tostring(root, encoding="unicode")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"


# ---------------------------------------------------------------------------------- GeoPackage

@dataclass(frozen=True)
class LayerSchema:
    """What :func:`add_schema` adds for one GeoPackage layer.

    ``aliases``: field name → (alias, description); ``style``: QML text of the default style.
    """

    aliases: Mapping[str, tuple[str, str]]
    style: str
    style_name: str = "tuoyu_geo"
    description: str = ""


_DDL = """
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
  mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name));
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC,
  min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, f_table_catalog TEXT(256), f_table_schema TEXT(256),
  f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
  useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
"""
_SCHEMA_EXT = "http://www.geopackage.org/spec/#extension_schema"


def _unique_aliases(aliases: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """gpkg_data_columns has UNIQUE (table_name, name): a repeated alias gets its field name appended."""
    seen: dict[str, int] = {}
    for a, _ in aliases.values():
        seen[a] = seen.get(a, 0) + 1
    return {f: ((f"{a}（{f}）" if seen[a] > 1 else a), d) for f, (a, d) in aliases.items()}


def add_schema(path: str | Path, layers: Mapping[str, LayerSchema]) -> None:
    """Add field aliases and default QGIS styles to a GeoPackage GDAL has written (in place).

    Call it on the temporary file inside :func:`tuoyu_geo.writer.atomic_paths`, so a failure
    leaves no partly described file behind.  Writes ``gpkg_data_columns`` (``name`` and ``title`` =
    the alias, ``description``), creates ``gpkg_data_column_constraints`` and registers both in
    ``gpkg_extensions`` (``gpkg_schema``, read-write) as the GeoPackage standard requires; creates
    ``layer_styles`` (QGIS's schema, registered in ``gpkg_contents`` as an attributes table, as
    QGIS does) with one row per layer, ``useAsDefault`` = 1.
    """
    now = datetime.now(timezone.utc).strftime(_NOW)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.executescript(_DDL)
        geom = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            con.execute("INSERT OR REPLACE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', ?, 'read-write')",
                        (table, _SCHEMA_EXT))
        if not con.execute("SELECT 1 FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone():
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                        "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', ?)", (now,))
        for layer, schema in layers.items():
            if layer not in geom:
                raise ValueError(f"layer {layer!r} is not a feature table of {path}")
            con.executemany("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, "
                            "description) VALUES (?, ?, ?, ?, ?)",
                            [(layer, f, a, a, d or None) for f, (a, d) in _unique_aliases(schema.aliases).items()])
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?", (layer, schema.style_name))
            con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                        "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                        "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, 'tuoyu_geo', NULL, ?)",
                        (layer, geom[layer], schema.style_name, schema.style, schema.description, now))


# ---------------------------------------------------------------------------------- Shapefile

def _field_rows(layer: str, gdf: gpd.GeoDataFrame, names: Mapping[str, str], aliases: Mapping[str, str],
                truncated: Mapping[str, int]) -> list[list[Any]]:
    return [[layer, names[c], c, aliases.get(c, c), truncated.get(c, 0)]
            for c in gdf.columns if c != gdf.geometry.name]


def write_shapefile_zip(layers: Mapping[str, tuple[gpd.GeoDataFrame, Style | None]], path: str | Path, *,
                        aliases: Mapping[str, str]) -> dict[str, Any]:
    """Write layers as Shapefiles (UTF-8 with ``.cpg``) into one ZIP at ``path``.

    Each layer ``<name>.shp`` gets field names from :func:`shapefile_names`, text cut to
    :data:`DBF_MAX_BYTES` at a character boundary (counted per field), and ``<name>.qml`` (its
    style with the Chinese aliases, loaded by QGIS as the default style).  ``field_names.csv``
    (UTF-8 with BOM) maps layer, Shapefile field, full column name, Chinese header and the number
    of cut values.  GDAL/QGIS open the ZIP directly (``.shp.zip``) or after unzipping.

    Parameters
    ----------
    layers : mapping
        ASCII layer name → (GeoDataFrame with English columns and a CRS, style or None).
    path : path
        The ZIP to write (a temporary path of :func:`tuoyu_geo.writer.atomic_paths`).
    aliases : mapping
        English column → Chinese header.

    Returns
    -------
    dict
        ``{layer: {"fields": {column: shapefile name}, "truncated": {column: n}}}`` for the manifest.
    """
    import pyogrio

    info: dict[str, Any] = {}
    rows: list[list[Any]] = [["layer", "shp_field", "column", "label_zh", "values_cut_to_254_bytes"]]
    with tempfile.TemporaryDirectory(prefix="tuoyu-shp-") as tmp:
        folder = Path(tmp)
        for layer, (gdf, style) in layers.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", layer):
                raise ValueError(f"Shapefile layer name {layer!r} must be lower-case ASCII")
            geom = gdf.geometry.name
            cols = [c for c in gdf.columns if c != geom]
            names = shapefile_names(cols)
            g = clean_frame(gdf.reset_index(drop=True))
            truncated: dict[str, int] = {}
            for c in cols:
                if pd.api.types.is_object_dtype(g[c].dtype) or pd.api.types.is_string_dtype(g[c].dtype):
                    cut = g[c].map(truncate_utf8)
                    n = int((cut.astype(object).ne(g[c].astype(object)) & g[c].notna()).sum())
                    if n:
                        truncated[c] = n
                    g[c] = cut
            g = g.rename(columns=names)
            pyogrio.write_dataframe(g, folder / f"{layer}.shp", driver="ESRI Shapefile", encoding="UTF-8")
            if style is not None:
                (folder / f"{layer}.qml").write_text(
                    qml(style, names, {names[c]: aliases.get(c, c) for c in cols}), encoding="utf-8")
            rows += _field_rows(layer, gdf, names, aliases, truncated)
            info[layer] = {"fields": names, "truncated": truncated}
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        (folder / "field_names.csv").write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(folder.iterdir()):
                zf.write(p, p.name)
    return info
