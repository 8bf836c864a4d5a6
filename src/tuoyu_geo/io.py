"""Reading and validating study-area layers (the data contract of DESIGN.md).

A study area is a folder with one file per layer and an ``area.toml``::

    name = "上海市徐汇区"
    crs = "wgs84"                 # input CRS: wgs84 | gcj02 | bd09 | EPSG code
    policy = "wuxi-2025"          # shipped profile name or a TOML path (relative to the folder)
    attribution = "© OpenStreetMap contributors (ODbL)"

    [layers]
    streets = "streets.geojson"
    communities = "communities.geojson"
    institutions = "institutions.csv"
    candidates = "candidates.gpkg"
    network = "walk.graphml"      # optional

Every layer is validated; all problems of all layers are collected and raised as one
:class:`~tuoyu_geo.DataError` naming the file, the row ids and the fix.  Nothing is written.
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import Point

from . import crs as _crs
from ._errors import DataError, NetworkError, Problem
from .policy import Policy, load_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = [
    "CANDIDATE_KINDS",
    "CATEGORIES",
    "LAYERS",
    "PUHUI_CATEGORIES",
    "StudyArea",
    "datum_check",
    "load_area",
    "make_area",
    "read_layer",
]

#: institution categories (DESIGN.md) and accepted aliases
CATEGORIES = ("公办", "普惠", "民办", "幼儿园托班", "用人单位", "社区托育点", "家庭托育点", "综合服务中心")
_CATEGORY_ALIASES = {"民办普惠": "普惠", "普惠性": "普惠", "民办(营利)": "民办", "民办（营利）": "民办",
                     "营利": "民办", "托班": "幼儿园托班", "单位办": "用人单位"}
#: categories that count as 普惠 when the ``puhui`` column is absent or empty
PUHUI_CATEGORIES = ("公办", "普惠", "社区托育点", "综合服务中心")
CANDIDATE_KINDS = ("社区服务中心", "日间照料中心", "幼儿园富余", "存量用地", "国企房屋", "新建小区配建", "其他")

LAYERS: dict[str, dict[str, Any]] = {
    "streets": {"id": "street_id", "required": ("street_id", "name", "population"),
                "numeric": ("population", "infants"), "geom": ("Polygon", "MultiPolygon")},
    "communities": {"id": "community_id", "required": ("community_id", "name", "population"),
                    "numeric": ("population", "infants", "households"),
                    "geom": ("Point", "Polygon", "MultiPolygon")},
    "institutions": {"id": "institution_id", "required": ("institution_id", "name", "category", "places"),
                     "numeric": ("places",), "geom": ("Point",)},
    "candidates": {"id": "site_id", "required": ("site_id", "name", "kind", "max_places"),
                   "numeric": ("max_places", "min_places", "fixed_cost", "cost_per_place"),
                   "geom": ("Point",)},
}

_LON = ("lon", "lng", "longitude", "经度", "x", "point_x")
_LAT = ("lat", "latitude", "纬度", "y", "point_y")


@dataclass(frozen=True)
class StudyArea:
    """A validated study area.  All layers are WGS-84 (EPSG:4326), indexed by their id.

    Attributes
    ----------
    name : str
        Display name (e.g. ``上海市徐汇区``).
    streets, communities, institutions, candidates : geopandas.GeoDataFrame
        Layers in EPSG:4326 with the contract columns; the index equals the id column
        (``street_id``, ``community_id``, ``institution_id``, ``site_id``; ids are strings).
        ``communities``, ``institutions`` and ``candidates`` always carry ``street_id``;
        ``infants`` is always filled; ``institutions.puhui`` is a bool.
    policy : Policy
        The area's default policy profile.
    graph : networkx.MultiDiGraph or None
        Walk graph projected to ``metric_crs`` (edge ``length`` in metres), if the area has one.
    metric_crs : str
        Local metric CRS (UTM zone of the area) used for every distance.
    input_crs : str
        Coordinate system the files were written in (converted to WGS-84 on load).
    folder : Path or None
        Folder the area was read from.
    files : mapping
        Layer name → file path (for manifests / hashes).
    attribution : str
        Data sources and licences to show on maps and exports.
    """

    name: str
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    institutions: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    policy: Policy
    graph: Any = None
    metric_crs: str = "EPSG:32651"
    input_crs: str = "wgs84"
    folder: Path | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    attribution: str = ""

    def metric(self, layer: str) -> gpd.GeoDataFrame:
        """A copy of ``layer`` projected to :attr:`metric_crs`."""
        return getattr(self, layer).to_crs(self.metric_crs)

    def points(self, layer: str) -> gpd.GeoSeries:
        """Representative points of ``layer`` in :attr:`metric_crs` (polygons → inner point)."""
        g = self.metric(layer).geometry
        return g.where(g.geom_type == "Point", g.representative_point())

    def summary(self) -> pd.DataFrame:
        """Per-街道 summary: population, infants, communities, institutions, places, 普惠, candidates."""
        s = self.streets
        out = pd.DataFrame({"street_id": s["street_id"], "name": s["name"],
                            "population": s["population"], "infants": s["infants"]}, index=s.index)
        out["communities"] = self.communities.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        inst = self.institutions
        out["institutions"] = inst.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        out["places"] = inst.groupby("street_id")["places"].sum().reindex(s.index).fillna(0).astype(int)
        pu = inst[inst["puhui"]]
        out["puhui_institutions"] = pu.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        out["puhui_places"] = pu.groupby("street_id")["places"].sum().reindex(s.index).fillna(0).astype(int)
        out["candidates"] = self.candidates.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        return out

    def replace(self, **changes: Any) -> StudyArea:
        """A copy with some fields replaced (layers are re-validated by :func:`make_area`)."""
        kw = {k: getattr(self, k) for k in ("name", "streets", "communities", "institutions",
                                            "candidates", "policy", "graph", "metric_crs",
                                            "input_crs", "folder", "files", "attribution")}
        kw.update(changes)
        return make_area(**kw)

    def __repr__(self) -> str:
        return (f"StudyArea({self.name!r}: {len(self.streets)} streets, {len(self.communities)} "
                f"communities, {len(self.institutions)} institutions, {len(self.candidates)} candidates, "
                f"graph={'yes' if self.graph is not None else 'no'})")


# ----------------------------------------------------------------------------------------- reading

#: common Chinese (and English) spellings of contract columns, used when the contract name is absent
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "street_id": ("街道编号", "街道代码", "街道id"),
    "community_id": ("小区编号", "社区编号", "小区id", "社区id"),
    "institution_id": ("机构编号", "机构id", "机构代码"),
    "site_id": ("站点编号", "点位编号", "候选编号"),
    "name": ("名称", "机构名称", "小区名称", "社区名称", "街道名称", "站点名称", "点位名称"),
    "population": ("人口", "常住人口", "人口数", "pop"),
    "infants": ("婴幼儿数", "0-3岁人口", "0～3岁人口", "0-3岁", "婴幼儿"),
    "places": ("托位", "托位数", "核定托位", "capacity"),
    "category": ("类别", "机构类别", "机构类型", "性质"),
    "kind": ("站点类型", "点位类型", "候选类型"),
    "max_places": ("最大托位", "最大托位数", "可设托位"),
    "district": ("区", "区县"),
    "built_year": ("建成年份", "竣工年份"),
}


def _known_header_names() -> set[str]:
    names = {c for spec in LAYERS.values() for c in spec["required"]} | set(_LON) | set(_LAT)
    names |= {a.lower() for al in COLUMN_ALIASES.values() for a in al} | set(COLUMN_ALIASES)
    return names


def _apply_aliases(df: pd.DataFrame) -> pd.DataFrame:
    """Rename alias columns (e.g. 人口 → population) when the contract column is absent."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    ren = {}
    for target, aliases in COLUMN_ALIASES.items():
        if target in df.columns:
            continue
        hits = [lower[a.lower()] for a in aliases if a.lower() in lower]
        if len(hits) == 1 and hits[0] not in ren:
            ren[hits[0]] = target
    return df.rename(columns=ren) if ren else df


def _header_index(rows: list[list[Any]]) -> int | None:
    """Index of the first row (of the first 10) holding ≥ 2 contract/alias column names."""
    known = _known_header_names()
    for i, row in enumerate(rows[:10]):
        vals = [str(v).strip().lower() for v in row if v is not None and str(v) != "nan"]
        if sum(v in known for v in vals) >= 2:
            return i
    return None


def _read_table(path: Path) -> pd.DataFrame:
    suf = path.suffix.lower()
    if suf in (".xlsx", ".xls"):
        raw = pd.read_excel(path, header=None, dtype=object)
        return _header_from_raw(raw, path)
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
        import csv
        import io as _stdio

        lines = text.splitlines()[:10]
        try:
            dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;")
            sep = dialect.delimiter
        except csv.Error:
            sep = ","
        skip = _header_index(list(csv.reader(lines, delimiter=sep))) or 0  # title rows above the header
        return pd.read_csv(_stdio.StringIO(text), sep=sep, skiprows=skip, dtype=str, keep_default_na=False)
    raise DataError("cannot decode the CSV as UTF-8, GBK or UTF-16", file=path.name,
                    fix="save the file as UTF-8 (Excel: 另存为 ▸ CSV UTF-8)")


def _header_from_raw(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Find the header row of a sheet that may have merged title rows above it, and merge a
    two-row header (e.g. a merged 坐标 cell above ``lon``/``lat``)."""
    rows = [raw.iloc[i].tolist() for i in range(min(len(raw), 12))]
    i = _header_index(rows)
    if i is None:
        raise DataError("no header row with the contract column names found in the first 10 rows",
                        file=path.name, fix="put the column names (e.g. institution_id, name, lon, lat) in one row")

    def cell(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()

    known = _known_header_names()
    head = [cell(v) for v in rows[i]]
    start = i + 1
    if i + 1 < len(rows):
        sub = [cell(v) for v in rows[i + 1]]
        if any(v.lower() in known for v in sub):  # a second header row below merged group cells
            head = [b if b.lower() in known or (b and not a) else a for a, b in zip(head, sub, strict=True)]
            start = i + 2
    cols = [h if h else f"unnamed_{j}" for j, h in enumerate(head)]
    df = raw.iloc[start:].copy()
    df.columns = cols
    df = df.dropna(how="all").reset_index(drop=True)
    return df.astype(object).where(df.notna(), "").astype(str)


def _points_from_table(df: pd.DataFrame, path: Path) -> gpd.GeoDataFrame:
    lower = {c.lower().strip(): c for c in df.columns}
    lon = next((lower[c] for c in _LON if c in lower), None)
    lat = next((lower[c] for c in _LAT if c in lower), None)
    if lon is None or lat is None:
        raise DataError("no lon/lat columns found", file=path.name,
                        fix="name the coordinate columns lon and lat (or lng/longitude/经度, latitude/纬度)")
    x = pd.to_numeric(df[lon].replace("", np.nan), errors="coerce")
    y = pd.to_numeric(df[lat].replace("", np.nan), errors="coerce")
    geom = [Point(a, b) if np.isfinite(a) and np.isfinite(b) else None for a, b in zip(x, y, strict=True)]
    out = gpd.GeoDataFrame(df.drop(columns=[lon, lat]), geometry=geom, crs="EPSG:4326")
    return out


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
    if any("\ufffd" in str(c) for c in gdf.columns):
        return True
    return False


#: every contract column (required and optional) of every layer
CONTRACT_COLUMNS = ("street_id", "name", "population", "district", "infants", "is_town", "community_id",
                    "households", "built_year", "is_new", "institution_id", "category", "places", "puhui",
                    "is_demonstration", "status", "site_id", "kind", "max_places", "min_places",
                    "fixed_cost", "cost_per_place", "available_year")


def _untruncate(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Restore contract column names cut to 10 characters by the Shapefile (dBASE) format."""
    ren = {}
    for c in gdf.columns:
        if len(c) == 10 and c not in CONTRACT_COLUMNS:
            full = [k for k in CONTRACT_COLUMNS if len(k) > 10 and k[:10] == c and k not in gdf.columns]
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


def read_layer(path: str | Path, *, input_crs: str = "wgs84", layer: str | None = None) -> gpd.GeoDataFrame:
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
        Layer name inside a GeoPackage.

    Raises
    ------
    DataError
        File missing or unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}", file=path.name,
                        fix="check the file name in area.toml [layers]")
    suf = path.suffix.lower()
    try:
        if suf in (".csv", ".txt", ".xlsx", ".xls"):
            gdf = _points_from_table(_read_table(path), path)
            if "geometry" in gdf:
                pass
        else:
            kw: dict[str, Any] = {"layer": layer} if layer else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gdf = gpd.read_file(path, engine="pyogrio", **kw)
                if suf in (".shp", ".dbf") and _looks_garbled(gdf):
                    gdf = _reread_encoded(path, kw)
                if suf in (".shp", ".dbf"):
                    gdf = _untruncate(gdf)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes a clear DataError
        raise DataError(f"cannot read the file ({type(exc).__name__}: {exc})", file=path.name,
                        fix="check that it is a valid GeoJSON/GeoPackage/Shapefile/CSV/XLSX") from None
    if isinstance(gdf, pd.DataFrame):
        gdf = _apply_aliases(gdf)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataError("the file has no geometry", file=path.name,
                        fix="give point coordinates as lon/lat columns or use a GIS format")
    src = _crs.parse_crs(input_crs, file=path.name)
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
    gdf.attrs["source_file"] = path.name
    return gdf


# -------------------------------------------------------------------------------------- validation

def _ids_str(s: pd.Series) -> pd.Series:
    def f(v: Any) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    return s.map(f).astype(object)


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped strings, missing → "" (pandas ≥ 3 keeps NaN through ``astype(str)``)."""
    return s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                 else str(v).strip()).astype(object)


def _validate(gdf: gpd.GeoDataFrame, layer: str, fname: str, problems: list[Problem]) -> gpd.GeoDataFrame | None:
    spec = LAYERS[layer]
    idc = spec["id"]
    if len(gdf) == 0:
        problems.append(Problem(fname, f"the {layer} layer is empty", (), f"add at least one {layer[:-1]} row"))
        return None
    missing = [c for c in spec["required"] if c not in gdf.columns]
    if missing:
        have = ", ".join(c for c in gdf.columns if c != "geometry")
        problems.append(Problem(fname, f"missing required column(s): {', '.join(missing)}", (),
                                f"add or rename the column(s); the file has: {have}"))
        return None
    gdf = gdf.copy()
    gdf[idc] = _ids_str(gdf[idc])
    blank = gdf.index[gdf[idc] == ""]
    if len(blank):
        problems.append(Problem(fname, f"{len(blank)} row(s) without {idc}",
                                tuple(f"row {i + 1}" for i in range(len(gdf)) if gdf[idc].iloc[i] == ""),
                                f"give every row a unique {idc}"))
    dup = gdf[idc][gdf[idc].duplicated(keep=False) & (gdf[idc] != "")]
    if len(dup):
        problems.append(Problem(fname, f"duplicate {idc}", tuple(dict.fromkeys(dup)),
                                f"make {idc} unique (each row one {layer[:-1]})"))
    ids = gdf[idc].where(gdf[idc] != "", [f"row {i + 1}" for i in range(len(gdf))])
    for col in spec["numeric"]:
        if col not in gdf.columns:
            continue
        raw = gdf[col]
        empty = raw.isna() | _text(raw).isin(["", "nan", "NaN", "None"])
        num = pd.to_numeric(raw.where(~empty, np.nan), errors="coerce")
        required = col in spec["required"]
        text = ~empty & num.isna()
        if text.any():
            problems.append(Problem(fname, f"{col} is not a number", tuple(ids[text]),
                                    f"write {col} as a number (no units or text)"))
        if required and empty.any():
            problems.append(Problem(fname, f"{col} is missing (empty or NaN)", tuple(ids[empty]),
                                    f"fill {col}; use 0 if there really is none"))
        inf = np.isinf(num)
        neg = (num < 0) | inf
        if neg.any():
            problems.append(Problem(fname, f"{col} is negative or infinite", tuple(ids[neg]),
                                    f"{col} must be a finite number ≥ 0"))
        gdf[col] = num.astype(float)
    geom = gdf.geometry
    nogeom = geom.isna() | geom.is_empty
    if nogeom.any():
        problems.append(Problem(fname, "empty or missing geometry", tuple(ids[nogeom]),
                                "give every row a geometry (lon/lat for points)"))
    ok = ~nogeom
    wrong = ok & ~geom.geom_type.isin(spec["geom"])
    if wrong.any():
        kinds = ", ".join(sorted(set(geom[wrong].geom_type)))
        problems.append(Problem(fname, f"wrong geometry type ({kinds}); expected {' or '.join(spec['geom'])}",
                                tuple(ids[wrong]), f"use {' or '.join(spec['geom'])} geometries for {layer}"))
    invalid = ok & ~wrong & ~geom.is_valid
    if invalid.any():
        problems.append(Problem(fname, "invalid geometry (self-intersection or similar)", tuple(ids[invalid]),
                                "repair it, e.g. QGIS ▸ Vector ▸ Geometry Tools ▸ Fix Geometries"))
    good = ok & ~wrong
    if good.any():
        b = geom[good].bounds
        bad_range = (b.minx < -180) | (b.maxx > 180) | (b.miny < -90) | (b.maxy > 90)
        cx, cy = (b.minx + b.maxx) / 2, (b.miny + b.maxy) / 2
        swapped = (cy > 70) & (cy < 140) & (cx > 0) & (cx < 56)
        if swapped.any():
            problems.append(Problem(fname, "longitude and latitude look swapped", tuple(ids[good][swapped]),
                                    "swap the lon/lat columns (lon ≈ 73–135 °E, lat ≈ 18–54 °N in China)"))
        rng = bad_range & ~swapped
        if rng.any():
            problems.append(Problem(fname, "coordinates out of range for degrees", tuple(ids[good][rng]),
                                    "give lon/lat in degrees or set crs in area.toml to the projected EPSG code"))
    return gdf


def _category(gdf: gpd.GeoDataFrame, fname: str, problems: list[Problem]) -> None:
    cat = _text(gdf["category"]).replace(_CATEGORY_ALIASES)
    bad = ~cat.isin(CATEGORIES)
    if bad.any():
        vals = ", ".join(sorted({v or "<empty>" for v in _text(gdf.loc[bad, "category"])}))
        problems.append(Problem(fname, f"unknown category ({vals})", tuple(gdf.loc[bad, "institution_id"]),
                                f"use one of {', '.join(CATEGORIES)}"))
    gdf["category"] = cat
    if "puhui" in gdf.columns:
        raw = _text(gdf["puhui"]).str.lower()
        truthy = raw.isin(["true", "1", "1.0", "yes", "y", "是", "普惠"])
        falsy = raw.isin(["false", "0", "0.0", "no", "n", "否", ""]) | gdf["puhui"].isna() | raw.isin(["nan", "none"])
        unknown = ~(truthy | falsy)
        if unknown.any():
            problems.append(Problem(fname, "puhui is not a yes/no value", tuple(gdf.loc[unknown, "institution_id"]),
                                    "write puhui as true/false (or 是/否)"))
        given = ~(raw.isin(["", "nan", "none"]) | gdf["puhui"].isna())
        gdf["puhui"] = np.where(given, truthy, cat.isin(PUHUI_CATEGORIES))
    else:
        gdf["puhui"] = cat.isin(PUHUI_CATEGORIES)
    gdf["puhui"] = gdf["puhui"].astype(bool)
    for col in ("is_demonstration",):
        if col in gdf.columns:
            gdf[col] = _text(gdf[col]).str.lower().isin(["true", "1", "1.0", "yes", "是"])
        else:
            gdf[col] = False


def _bool_col(gdf: pd.DataFrame, col: str) -> None:
    if col in gdf.columns:
        gdf[col] = _text(gdf[col]).str.lower().isin(["true", "1", "1.0", "yes", "是"])
    else:
        gdf[col] = False


#: two 街道 polygons overlap when their intersection exceeds this share of the smaller one
#: (digitising slivers along shared boundaries are far smaller)
STREET_OVERLAP_SHARE = 0.05


def _check_overlaps(streets: gpd.GeoDataFrame, fname: str, problems: list[Problem]) -> None:
    import shapely

    c = streets.geometry.union_all().centroid
    g = streets.geometry.to_crs(_crs.utm_crs(c.x, c.y)).values
    area = shapely.area(g)
    a, b = shapely.STRtree(g).query(g, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return
    inter = shapely.area(shapely.intersection(g[a], g[b]))
    bad = inter > STREET_OVERLAP_SHARE * np.minimum(area[a], area[b])
    if bad.any():
        ids = streets["street_id"].to_numpy()
        pairs = [f"{ids[i]}/{ids[j]}" for i, j in zip(a[bad], b[bad], strict=True)]
        problems.append(Problem(fname, f"街道 polygons overlap by more than {STREET_OVERLAP_SHARE:.0%} of the "
                                "smaller one (a duplicated or mis-drawn 街道)", tuple(pairs),
                                "remove the duplicate or fix the boundaries so each place is in one 街道"))


def _datum_hint(pts: gpd.GeoSeries, streets: gpd.GeoDataFrame, declared: str) -> str | None:
    """The Chinese datum under which ALL of ``pts`` (outside every 街道) would fall inside one."""
    if declared not in _crs.CRS_NAMES:
        return None
    union = streets.geometry.union_all()
    raw = _crs.convert(pts.x.to_numpy(), pts.y.to_numpy(), "wgs84", declared)
    for alt in _crs.CRS_NAMES:
        if alt == declared:
            continue
        x, y = _crs.convert(*raw, alt, "wgs84")
        if len(x) and all(union.contains(Point(a, b)) for a, b in zip(x, y, strict=True)):
            return alt
    return None


def _assign_streets(gdf: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, layer: str, fname: str,
                    problems: list[Problem], declared: str = "wgs84") -> None:
    idc = LAYERS[layer]["id"]
    pts = gdf.geometry.where(gdf.geometry.geom_type == "Point", gdf.geometry.representative_point())
    ptg = gpd.GeoDataFrame({"_i": np.arange(len(gdf))}, geometry=pts.values, crs="EPSG:4326")
    j = gpd.sjoin(ptg, streets[["street_id", "geometry"]].reset_index(drop=True), how="left",
                  predicate="within")
    j = j.sort_values("_i").drop_duplicates("_i")
    found = pd.Series(j["street_id"].values, index=gdf.index)
    if "street_id" in gdf.columns:
        given = _ids_str(gdf["street_id"])
        unknown = (given != "") & ~given.isin(streets["street_id"])
        if unknown.any():
            problems.append(Problem(fname, "street_id not in the streets layer",
                                    tuple(gdf.loc[unknown, idc]),
                                    "use a street_id of the streets layer or leave it empty to assign by location"))
        gdf["street_id"] = given.where(given != "", found)
    else:
        gdf["street_id"] = found
    outside = gdf["street_id"].isna() | _text(gdf["street_id"]).isin(["", "nan"])
    if outside.any():
        alt = _datum_hint(pts[outside.to_numpy()], streets, declared)
        if alt is not None:
            problems.append(Problem(
                fname, f"{layer} outside every 街道 polygon; all of them would fall inside one if read as "
                f"{_DATUM_LABEL[alt]} — check whether the file holds {alt} coordinates declared as {declared}",
                tuple(gdf.loc[outside, idc]),
                f'if every layer is {alt}, set crs = "{alt}" in area.toml; if only this file is, convert it '
                f'first: tuoyu_geo.crs.convert_geoseries(gdf, "{alt}", "{declared}")'))
        else:
            problems.append(Problem(fname, f"{layer} outside every 街道 polygon", tuple(gdf.loc[outside, idc]),
                                    "check their coordinates and CRS (GCJ-02/BD-09 data must be declared so "
                                    "in area.toml), or remove them / add the missing 街道"))
    gdf["street_id"] = gdf["street_id"].astype(object)


def make_area(*, streets: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
              institutions: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame,
              policy: Policy | str = "national-2025", graph: Any = None, name: str = "study area",
              metric_crs: str | None = None, input_crs: str = "wgs84", folder: Path | None = None,
              files: Mapping[str, str] | None = None, attribution: str = "",
              file_names: Mapping[str, str] | None = None) -> StudyArea:
    """Validate in-memory layers and build a :class:`StudyArea`.

    Parameters
    ----------
    streets, communities, institutions, candidates : GeoDataFrame
        Layers following the data contract, in EPSG:4326 (or any CRS, reprojected to WGS-84).
    policy : Policy or str
        Policy profile or its name.
    graph : networkx.MultiDiGraph, optional
        Walk graph; projected to ``metric_crs`` if it is not already.
    metric_crs : str, optional
        Metric CRS; default the UTM zone of the streets' centre.
    file_names : mapping, optional
        Layer → file name used in error messages.

    Raises
    ------
    DataError
        With every problem of every layer.
    """
    pol = load_policy(policy)
    names = {k: (file_names or {}).get(k, k) for k in LAYERS}
    problems: list[Problem] = []
    layers: dict[str, gpd.GeoDataFrame | None] = {}
    for key, gdf in (("streets", streets), ("communities", communities),
                     ("institutions", institutions), ("candidates", candidates)):
        if gdf is None:
            problems.append(Problem(names[key], f"no {key} layer given", (), f"add layers.{key} to area.toml"))
            layers[key] = None
            continue
        if not isinstance(gdf, gpd.GeoDataFrame):
            problems.append(Problem(names[key], "not a GeoDataFrame", (), "pass a geopandas.GeoDataFrame"))
            layers[key] = None
            continue
        g = gdf
        if g.crs is None:
            g = g.set_crs("EPSG:4326")
        elif not g.crs.equals(pyproj.CRS.from_epsg(4326)):
            g = g.to_crs("EPSG:4326")
        layers[key] = _validate(g.reset_index(drop=True), key, names[key], problems)
    st = layers["streets"]
    if st is not None:
        if "infants" not in st.columns:
            st["infants"] = np.nan
        st["infants"] = st["infants"].fillna(st["population"] * pol.infant_share)
        for c in ("district",):
            if c not in st.columns:
                st[c] = ""
        _bool_col(st, "is_town")
    valid_streets = st is not None and not any(p.file == names["streets"] for p in problems)
    if valid_streets:
        _check_overlaps(st, names["streets"], problems)
        valid_streets = not any(p.file == names["streets"] for p in problems)
    for key in ("communities", "institutions", "candidates"):
        g = layers[key]
        if g is None:
            continue
        if key == "institutions":
            _category(g, names[key], problems)
            if np.isfinite(g["places"].to_numpy(dtype=float)).all() and (g["places"] >= 0).all():
                g["places"] = g["places"].round().astype(int)
            if "status" not in g.columns:
                g["status"] = "运营"
        if key == "candidates":
            kind = _text(g["kind"])
            bad = ~kind.isin(CANDIDATE_KINDS)
            if bad.any():
                problems.append(Problem(names[key], f"unknown kind ({', '.join(sorted({v or '<empty>' for v in kind[bad]}))})",
                                        tuple(g.loc[bad, "site_id"]), f"use one of {', '.join(CANDIDATE_KINDS)}"))
            g["kind"] = kind
            for c, d in (("min_places", 0.0), ("fixed_cost", 0.0), ("cost_per_place", 0.0)):
                if c not in g.columns:
                    g[c] = d
                g[c] = pd.to_numeric(g[c], errors="coerce").fillna(d)
            if "available_year" not in g.columns:
                g["available_year"] = pol.target_year - 1
            g["available_year"] = pd.to_numeric(g["available_year"], errors="coerce").fillna(
                pol.target_year - 1).astype(int)
            badmin = g["min_places"] > g["max_places"]
            if badmin.any():
                problems.append(Problem(names[key], "min_places > max_places", tuple(g.loc[badmin, "site_id"]),
                                        "make min_places ≤ max_places"))
        if key == "communities":
            if "infants" not in g.columns:
                g["infants"] = np.nan
            g["infants"] = g["infants"].fillna(g["population"] * pol.infant_share)
            _bool_col(g, "is_new")
            if "built_year" not in g.columns:
                g["built_year"] = np.nan
            g["built_year"] = pd.to_numeric(g["built_year"], errors="coerce")
        if valid_streets:
            geomok = ~(g.geometry.isna() | g.geometry.is_empty)
            if geomok.all():
                _assign_streets(g, st, key, names[key], problems, str(input_crs).lower())
    DataError.collect(problems)
    assert st is not None
    for key, idc in (("streets", "street_id"), ("communities", "community_id"),
                     ("institutions", "institution_id"), ("candidates", "site_id")):
        g = layers[key]
        g.index = pd.Index(g[idc].astype(str).values, name=None)
        layers[key] = g
    if metric_crs is None:
        c = st.geometry.union_all().centroid
        metric_crs = _crs.utm_crs(c.x, c.y).to_string()
    if graph is not None:
        graph = _project_graph(graph, metric_crs)
    return StudyArea(name=name, streets=st, communities=layers["communities"],
                     institutions=layers["institutions"], candidates=layers["candidates"], policy=pol,
                     graph=graph, metric_crs=metric_crs, input_crs=input_crs, folder=folder,
                     files=MappingProxyType(dict(files or {})), attribution=attribution)


def _project_graph(graph: Any, metric_crs: str) -> Any:
    import osmnx as ox

    gcrs = graph.graph.get("crs")
    if gcrs is not None and pyproj.CRS.from_user_input(gcrs).equals(pyproj.CRS.from_user_input(metric_crs)):
        return graph
    return ox.project_graph(graph, to_crs=metric_crs)


def load_area(folder: str | Path, *, policy: str | Policy | None = None, load_graph: bool = True) -> StudyArea:
    """Read and validate a study-area folder (see module docstring for ``area.toml``).

    Parameters
    ----------
    folder : str or Path
        Folder holding ``area.toml`` and the layer files.
    policy : str or Policy, optional
        Override the profile named in ``area.toml``.
    load_graph : bool
        Read the walk network (``layers.network``) if given.

    Returns
    -------
    StudyArea

    Raises
    ------
    DataError
        Missing ``area.toml``/files, unknown CRS, or any layer breaking the data contract; with a
        network, also layers that fit the network clearly better under another Chinese datum
        (e.g. GCJ-02 coordinates declared as WGS-84; rule in :func:`_check_datum`).
    NetworkError
        Unreadable network, or points farther than the largest walking threshold from every edge
        or next to a small disconnected island of the network.
    PolicyError
        The named policy profile/file is unknown or malformed.

    Notes
    -----
    The datum and reach checks need the network; :func:`make_area` (in-memory layers) does not run them.
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() == ".toml":  # the area.toml itself was given
        folder = folder.parent
    toml = folder / "area.toml"
    if not toml.exists():
        raise DataError(f"no area.toml in {folder}", file=str(toml),
                        fix="create area.toml naming the layer files, crs and policy (see README)")
    try:
        with open(toml, "rb") as fh:
            conf = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"area.toml is not valid TOML: {exc}", file=str(toml),
                        fix="fix the TOML syntax") from None
    known = {"name", "crs", "policy", "attribution", "layers", "metric_crs", "description"}
    unknown = sorted(set(conf) - known)
    if unknown:
        raise DataError(f"unknown key(s) in area.toml: {', '.join(unknown)}", file="area.toml",
                        fix=f"allowed keys: {', '.join(sorted(known))}")
    _check_toml_types(conf)
    input_crs = _crs.parse_crs(conf.get("crs"), file="area.toml")
    pol_name = policy if policy is not None else conf.get("policy", "national-2025")
    if isinstance(pol_name, str) and pol_name.endswith(".toml") and not Path(pol_name).is_absolute():
        pol_name = str(folder / pol_name)
    pol = load_policy(pol_name)
    lay = conf.get("layers", {})
    problems: list[Problem] = []
    frames: dict[str, gpd.GeoDataFrame | None] = {}
    files: dict[str, str] = {}
    for key in LAYERS:
        fname = lay.get(key)
        if not fname:
            problems.append(Problem("area.toml", f"layers.{key} is not given", (),
                                    f'add {key} = "<file>" under [layers]'))
            frames[key] = None
            continue
        files[key] = str(folder / fname)
        try:
            frames[key] = read_layer(folder / fname, input_crs=input_crs if isinstance(input_crs, str)
                                     else input_crs.to_string())
        except DataError as e:
            problems.extend(e.problems)
            frames[key] = None
    DataError.collect(problems)
    graph = None
    if load_graph and lay.get("network"):
        npath = folder / lay["network"]
        files["network"] = str(npath)
        graph = _read_network(npath)
    fnames = {k: Path(v).name for k, v in files.items()}
    area = make_area(streets=frames["streets"], communities=frames["communities"],
                     institutions=frames["institutions"], candidates=frames["candidates"], policy=pol,
                     graph=graph, name=conf.get("name", folder.name), metric_crs=conf.get("metric_crs"),
                     input_crs=str(conf.get("crs")), folder=folder, files=files,
                     attribution=conf.get("attribution", ""), file_names=fnames)
    if area.graph is not None:
        if isinstance(input_crs, str):
            _check_datum(area, input_crs, fnames)
        _check_network_reach(area, fnames)
    return area


def _check_toml_types(conf: Mapping[str, Any]) -> None:
    """area.toml values must be strings (``crs`` may be an EPSG number) and [layers] a table of file
    names; ``metric_crs`` must be a projected (metric) CRS."""
    problems = []
    for key in ("name", "policy", "attribution", "description", "metric_crs", "crs"):
        v = conf.get(key)
        if v is not None and not isinstance(v, str) and not (key == "crs" and isinstance(v, int)
                                                             and not isinstance(v, bool)):
            problems.append(Problem("area.toml", f"{key} = {v!r} is not a string", (key,),
                                    f'write it in quotes, e.g. {key} = "…"'))
    lay = conf.get("layers", {})
    if not isinstance(lay, Mapping):
        problems.append(Problem("area.toml", "layers is not a table", ("layers",),
                                'write a [layers] section with lines like streets = "streets.geojson"'))
    else:
        for k, v in lay.items():
            if k not in (*LAYERS, "network"):
                problems.append(Problem("area.toml", f"unknown layer layers.{k}", (f"layers.{k}",),
                                        f"layers are: {', '.join((*LAYERS, 'network'))}"))
            elif not isinstance(v, str) or not v.strip():
                problems.append(Problem("area.toml", f"layers.{k} = {v!r} is not a file name", (f"layers.{k}",),
                                        f'write {k} = "<file name>" (relative to the area folder)'))
    mc = conf.get("metric_crs")
    if isinstance(mc, str):
        try:
            c = pyproj.CRS.from_user_input(mc)
            ok = c.is_projected and c.axis_info[0].unit_name in ("metre", "meter")
        except pyproj.exceptions.CRSError:
            ok = False
        if not ok:
            problems.append(Problem("area.toml", f"metric_crs = {mc!r} is not a projected CRS in metres",
                                    ("metric_crs",), 'remove it (the UTM zone is chosen) or use e.g. "EPSG:32651"'))
    DataError.collect(problems)


def _read_network(path: Path) -> Any:
    if not path.exists():
        raise NetworkError(f"network file not found: {path}", file=path.name,
                           fix="check layers.network in area.toml, or remove it to skip the network")
    suf = path.suffix.lower()
    try:
        if suf == ".graphml":
            import osmnx as ox

            G = ox.load_graphml(path)
        else:
            from .network import graph_from_lines  # lazy: road lines need the network module

            G = graph_from_lines(read_layer(path))
    except (DataError, NetworkError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise NetworkError(f"cannot read the network ({type(exc).__name__}: {exc})", file=path.name,
                           fix="give an osmnx GraphML file or a road-line GeoPackage/Shapefile") from None
    if G.number_of_edges() == 0:
        raise NetworkError("the network has no edges", file=path.name, fix="give a walk network covering the area")
    return G


# ------------------------------------------------------------------ checks against the walk network

_DATUM_LABEL = {"wgs84": "WGS-84 (GPS/OpenStreetMap)", "gcj02": "GCJ-02 (AMap/Tencent)",
                "bd09": "BD-09 (Baidu)"}
#: a probe set "clearly prefers" datum A over the declared datum D when
#: median_A <= DATUM_RATIO * median_D and median_D - median_A >= DATUM_MIN_GAIN_M
DATUM_RATIO = 0.5
DATUM_MIN_GAIN_M = 10.0
#: ... and the other probe set does not contradict it: median_A <= 1.25 * median_D + 5 m
DATUM_TOLERANCE = (1.25, 5.0)
#: the check only runs where the network covers the area: >= 75 % of the probes within 300 m of an
#: edge under the declared datum and under the alternative (else the reach check reports the gap)
DATUM_COVER_M = 300.0
DATUM_MIN_COVER = 0.75
#: Calibration (bundled 徐汇区 network, 42 areas of 1, 2 or 4 街道 with their real points): 0 false
#: alarms on the real WGS-84 layers; GCJ-02-as-WGS-84, BD-09-as-GCJ-02 and BD-09-as-WGS-84 mix-ups
#: detected in 98 of 126 cases (all on the whole district).  Looser settings (2× + 10 m, 75 %)
#: detected more but raised false alarms on single 街道, so they were not used.
#: boundary sampling step (m) of the 街道 polygons used as probes
DATUM_BOUNDARY_STEP_M = 50.0


def _edge_tree(graph: Any) -> tuple[Any, np.ndarray]:
    """STRtree over the graph's edge lines (metric CRS) and the first node of every edge."""
    import shapely
    from shapely.geometry import LineString

    xy = {n: (float(d["x"]), float(d["y"])) for n, d in graph.nodes(data=True)}
    lines, us = [], []
    for u, v, d in graph.edges(data=True):
        g = d.get("geometry")
        lines.append(g if g is not None else LineString([xy[u], xy[v]]))
        us.append(u)
    return shapely.STRtree(np.asarray(lines, dtype=object)), np.asarray(us, dtype=object)


def _nearest(tree: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    pts = shapely.points(x, y)
    idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(idx[0], kind="stable")
    return idx[1][order], dist[order]


def _probes(area: StudyArea) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """WGS-84 lon/lat of the probe sets: 街道 boundary samples and all point-layer points."""
    import shapely

    b = area.streets.to_crs(area.metric_crs).boundary
    coords = shapely.get_coordinates(shapely.segmentize(b.values, DATUM_BOUNDARY_STEP_M))
    tr = pyproj.Transformer.from_crs(area.metric_crs, "EPSG:4326", always_xy=True)
    bx, by = tr.transform(coords[:, 0], coords[:, 1])
    out = {"streets": (np.asarray(bx), np.asarray(by))}
    px, py = [], []
    for layer in ("communities", "institutions", "candidates"):
        g = getattr(area, layer).geometry
        g = g.where(g.geom_type == "Point", g.representative_point())
        px.append(g.x.to_numpy())
        py.append(g.y.to_numpy())
        out[layer] = (px[-1], py[-1])
    out["points"] = (np.concatenate(px), np.concatenate(py))
    return out


def datum_check(area: StudyArea, declared: str = "wgs84") -> pd.DataFrame:
    """How well the layers fit the walk network under each Chinese datum hypothesis.

    The layers of ``area`` are stored in WGS-84 after conversion from the ``declared`` datum.  For
    each hypothesis ``h`` in (wgs84, gcj02, bd09) the raw file coordinates are re-interpreted as
    ``h`` and the median distance (m) to the nearest network edge is computed for two probe sets:
    the 街道 boundaries (sampled every 50 m; boundaries usually follow roads) and the points of
    the community/institution/candidate layers.

    Returns
    -------
    DataFrame
        Index: hypotheses; columns ``streets_m`` and ``points_m`` (median distances), the same
        per point layer (``communities_m``, ``institutions_m``, ``candidates_m``), the share of a
        layer's points that are closer than under the declared datum (``<layer>_closer``) and
        ``covered`` (share of all probes within 300 m of an edge).
    """
    if area.graph is None:
        raise ValueError("the area has no walk network")
    tree, _ = _edge_tree(area.graph)
    tr = pyproj.Transformer.from_crs("EPSG:4326", area.metric_crs, always_xy=True)
    rows = {}
    probes = _probes(area)
    dists: dict[str, dict[str, np.ndarray]] = {}
    for h in _crs.CRS_NAMES:
        row = {}
        near = []
        dists[h] = {}
        for key, (lon, lat) in probes.items():
            rx, ry = _crs.convert(lon, lat, "wgs84", declared)
            hx, hy = _crs.convert(rx, ry, h, "wgs84")
            mx, my = tr.transform(hx, hy)
            dist = _nearest(tree, np.asarray(mx), np.asarray(my))[1]
            dists[h][key] = dist
            row[f"{key}_m"] = float(np.median(dist)) if len(dist) else float("nan")
            if key in ("streets", "points"):
                near.append(dist <= DATUM_COVER_M)
        row["covered"] = float(np.concatenate(near).mean())
        rows[h] = row
    for h in _crs.CRS_NAMES:
        for layer in ("communities", "institutions", "candidates"):
            a, d = dists[h][layer], dists[declared][layer]
            rows[h][f"{layer}_closer"] = float((a < d).mean()) if len(a) else 0.0
    return pd.DataFrame.from_dict(rows, orient="index")


def _check_datum(area: StudyArea, declared: str, fnames: Mapping[str, str]) -> None:
    """Raise DataError when the layers clearly fit the network better under another datum.

    Rule: an alternative datum A is chosen over the declared datum D when, for one probe set
    (街道 boundaries or points), ``median_A <= 0.5 * median_D`` and ``median_D - median_A >= 10 m``,
    and for the other probe set ``median_A <= 1.25 * median_D + 5 m`` (no contradiction).  It is
    skipped unless the network covers the area (≥ 75 % of the probes within 300 m of an edge under
    both datums).
    """
    t = datum_check(area, declared)
    d = t.loc[declared]
    if d.covered < DATUM_MIN_COVER:
        return
    ratio, tol = DATUM_RATIO, DATUM_TOLERANCE

    def better(md: float, ma: float) -> bool:
        return ma <= ratio * md and md - ma >= DATUM_MIN_GAIN_M

    def not_worse(md: float, ma: float) -> bool:
        return ma <= tol[0] * md + tol[1]

    hits = []
    for alt in t.index:
        if alt == declared:
            continue
        a = t.loc[alt]
        if a.covered < DATUM_MIN_COVER:
            continue
        if ((better(d.streets_m, a.streets_m) and not_worse(d.points_m, a.points_m))
                or (better(d.points_m, a.points_m) and not_worse(d.streets_m, a.streets_m))):
            hits.append((a.streets_m + a.points_m, alt))
    if not hits:
        _check_layer_datum(area, t, declared, fnames)
        return
    alt = min(hits)[1]
    a = t.loc[alt]
    files = tuple(fnames.get(k, k) for k in LAYERS)
    raise DataError([Problem(
        "area.toml",
        f"looks like {_DATUM_LABEL[alt]} coordinates declared as {_DATUM_LABEL[declared].split(' (')[0]}: "
        f"median distance to the walk network is {d.streets_m:.0f} m (街道 boundaries) / "
        f"{d.points_m:.0f} m (points) as declared, but {a.streets_m:.0f} m / {a.points_m:.0f} m if the "
        f"files are {alt}", files,
        f'set crs = "{alt}" in area.toml (or convert the files to {declared} first)')])


#: single-layer rule (stricter: it has no second probe set): ≥ 20 points, median_A ≤ 0.3 × median_D,
#: median_D − median_A ≥ 15 m and ≥ 90 % of the layer's points closer to the network under A.  On the
#: bundled 徐汇区 network (sparse, median 40 m) random subsets of real WGS-84 points of 20 give a false
#: alarm rate ≤ 0.1 % (0 in 20,000 draws for 40 points); the 5/10-point rates were 1–3 %, hence the 20.
DATUM_MIN_LAYER_POINTS = 20
DATUM_LAYER_RATIO = 0.3
DATUM_LAYER_MIN_GAIN_M = 15.0
DATUM_LAYER_CLOSER = 0.9


def _check_layer_datum(area: StudyArea, t: pd.DataFrame, declared: str, fnames: Mapping[str, str]) -> None:
    """One point layer in another datum than the rest (e.g. AMap POIs in GCJ-02 among WGS-84
    layers), by the single-layer rule above (DATUM_LAYER_*)."""
    d = t.loc[declared]
    problems = []
    for layer in ("communities", "institutions", "candidates"):
        col = f"{layer}_m"
        n = len(getattr(area, layer))
        if n < DATUM_MIN_LAYER_POINTS or col not in t:
            continue
        best = None
        for alt in t.index:
            if alt == declared or t.loc[alt, "covered"] < DATUM_MIN_COVER:
                continue
            md, ma = d[col], t.loc[alt, col]
            if (ma <= DATUM_LAYER_RATIO * md and md - ma >= DATUM_LAYER_MIN_GAIN_M
                    and t.loc[alt, f"{layer}_closer"] >= DATUM_LAYER_CLOSER and (best is None or ma < best[1])):
                best = (alt, ma)
        if best is None:
            continue
        alt, ma = best
        ids = tuple(getattr(area, layer).index[:10])
        problems.append(Problem(
            fnames.get(layer, layer),
            f"{layer} look like {_DATUM_LABEL[alt]} coordinates while the other layers are "
            f"{_DATUM_LABEL[declared].split(' (')[0]}: median distance to the walk network {d[col]:.0f} m as "
            f"declared, {ma:.0f} m as {alt}", ids,
            f"convert this file to {declared} first (tuoyu_geo.crs.convert_geoseries(gdf, \"{alt}\", "
            f"\"{declared}\")); crs in area.toml applies to every layer"))
    DataError.collect(problems)


def _check_network_reach(area: StudyArea, fnames: Mapping[str, str]) -> None:
    """Raise NetworkError for points with no network edge within the largest walking threshold
    or whose nearest edge lies on a small disconnected part (island) of the network."""
    import networkx as nx

    tree, us = _edge_tree(area.graph)
    comps = sorted(nx.weakly_connected_components(area.graph), key=len, reverse=True)
    label = {n: i for i, c in enumerate(comps) for n in c}
    max_m = max(area.policy.circle_m.values()) if area.policy.circle_m else 1000.0
    problems = []
    for layer in ("communities", "institutions", "candidates"):
        pts = area.points(layer)
        edge, dist = _nearest(tree, pts.x.to_numpy(), pts.y.to_numpy())
        ids = getattr(area, layer).index.to_numpy()
        fname = fnames.get(layer, layer)
        far = dist > max_m
        if far.any():
            problems.append(Problem(fname, f"{layer} farther than {max_m:.0f} m from every road of the "
                                    "walk network (nothing is reachable from them)", tuple(ids[far]),
                                    "extend the network to cover them (a larger download area) or check "
                                    "their coordinates"))
        island = ~far & np.array([label[u] != 0 for u in us[edge]], dtype=bool)
        if island.any():
            sizes = sorted({len(comps[label[u]]) for u in us[edge][island]})
            problems.append(Problem(
                fname, f"{layer} lie next to a disconnected island of the walk network "
                f"({', '.join(map(str, sizes))} nodes; the main network has {len(comps[0])})",
                tuple(ids[island]),
                "connect the island's roads to the main network, or keep only the largest connected "
                "component (osmnx.truncate.largest_component) and check these points"))
    if problems:
        raise NetworkError(problems)
