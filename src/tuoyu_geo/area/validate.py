"""Validation of in-memory layers against the data contract; every problem is collected.

Each function appends :class:`~tuoyu_geo.Problem` objects (file, message, row ids, fix) to a list;
:func:`tuoyu_geo.area.make_area` raises them together as one :class:`~tuoyu_geo.DataError`.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point

from .. import crs as _crs
from .. import settings
from .._errors import DataError, Problem
from .columns import INSTITUTION_CLOSED, INSTITUTION_OPEN, MAX_SITE_PLACES, bool_word, check_typed
from .points import representative_points
from .schema import (
    BIRTHS_PREFIX,
    CANDIDATE_KINDS,
    CATEGORIES,
    CATEGORY_ALIASES,
    DATUM_LABEL,
    INFANTS_SOURCES,
    LAYERS,
    PUHUI_CATEGORIES,
)

__all__ = ["BORDER_TOLERANCE_M", "JUST_OUTSIDE_M", "MIN_STREET_POPULATION", "STREET_OVERLAP_SHARE", "birth_columns",
           "births_infants", "check_detour_factor"]

log = logging.getLogger(__name__)

#: two 街道 polygons overlap when their intersection exceeds this share of the smaller one
#: (digitising slivers along shared boundaries are far smaller)
STREET_OVERLAP_SHARE = 0.05
#: a point within this distance (m) of a 街道 polygon stands in it: a point on a border shared by
#: two 街道 belongs to either (its ``street_id`` may name either; without one it gets the first)
BORDER_TOLERANCE_M = 1.0
#: more vertices than this in one geometry (or :data:`MAX_LAYER_VERTICES` in a layer) is refused
#: before any geometry work: a 街道 boundary digitised every metre along 100 km has 100,000
MAX_GEOMETRY_VERTICES = 200_000
MAX_LAYER_VERTICES = 5_000_000
#: a 街道/乡镇 with fewer residents than this (and more than 0) has its population in 万人
MIN_STREET_POPULATION = 100
#: points outside every 街道 but within this distance (m) of one are reported as a boundary gap
#: (GCJ-02/BD-09 mix-ups move points by hundreds of metres, so they are not blamed on the datum)
JUST_OUTSIDE_M = 50.0

#: a births column: ``births_<year>`` or ``births<year>`` (any case); group 1 = what follows
_BIRTHS = re.compile(r"births_?(.*)", re.IGNORECASE)


def ids_str(s: pd.Series) -> pd.Series:
    """Ids as strings: missing → "", 12.0 → "12", stripped."""
    def f(v: Any) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    return s.map(f).astype(object)


def text(s: pd.Series) -> pd.Series:
    """Values as stripped strings, missing → "" (pandas ≥ 3 keeps NaN through ``astype(str)``)."""
    return s.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                 else str(v).strip()).astype(object)


def bool_values(s: pd.Series) -> pd.Series:
    """Yes/no cells as bools (:func:`~tuoyu_geo.area.columns.bool_word`); blank or unknown → False.

    Lenient: for columns already checked (:func:`~tuoyu_geo.area.columns.check_typed`) or written
    by the package itself (``infants_estimated``)."""
    def f(v: Any) -> bool:
        try:
            return bool(bool_word(v))
        except KeyError:
            return False
    return s.map(f).astype(bool)


def bool_col(gdf: pd.DataFrame, col: str) -> None:
    """Make ``col`` a bool column in place (False when absent)."""
    gdf[col] = bool_values(gdf[col]) if col in gdf.columns else False


# ------------------------------------------------------------------------------ one layer

def _check_ids(gdf: gpd.GeoDataFrame, layer: str, fname: str, problems: list[Problem]) -> pd.Series:
    """Normalise the id column in place; report blank and duplicate ids.  Returns row labels."""
    idc = LAYERS[layer]["id"]
    gdf[idc] = ids_str(gdf[idc])
    blank = gdf.index[gdf[idc] == ""]
    if len(blank):
        problems.append(Problem(fname, f"{len(blank)} row(s) without {idc}",
                                tuple(f"row {i + 1}" for i in range(len(gdf)) if gdf[idc].iloc[i] == ""),
                                f"give every row a unique {idc}"))
    dup = gdf[idc][gdf[idc].duplicated(keep=False) & (gdf[idc] != "")]
    if len(dup):
        problems.append(Problem(fname, f"duplicate {idc}", tuple(dict.fromkeys(dup)),
                                f"make {idc} unique (each row one {layer[:-1]})"))
    if "name" in gdf.columns:  # a blank name would show as nothing in every table, map and report
        nm = gdf["name"]
        no_name = (nm.isna() | (nm.astype(str).str.strip() == "")).to_numpy()
        if no_name.any() and idc in gdf.columns:
            log.warning("%s: %d row(s) without a name (%s); their %s is shown instead", fname, int(no_name.sum()),
                        ", ".join(gdf[idc][no_name].astype(str).head(10)), idc)
            gdf["name"] = nm.astype(object).where(~no_name, gdf[idc])
    return gdf[idc].where(gdf[idc] != "", [f"row {i + 1}" for i in range(len(gdf))])


def _check_geometry(gdf: gpd.GeoDataFrame, layer: str, fname: str, ids: pd.Series,
                    problems: list[Problem]) -> bool:
    """Missing, wrong-type, invalid, swapped or out-of-range geometries; False when the layer has
    too many vertices to be checked further (nothing more is done with it)."""
    spec = LAYERS[layer]
    geom = gdf.geometry
    nogeom = geom.isna() | geom.is_empty
    if nogeom.any():
        problems.append(Problem(fname, "empty or missing geometry", tuple(ids[nogeom]),
                                "give every row a geometry (lon/lat for points)"))
    ok = ~nogeom
    nverts = pd.Series(shapely.get_num_coordinates(np.asarray(geom.values)), index=gdf.index)
    huge = ok & (nverts > MAX_GEOMETRY_VERTICES)
    if huge.any() or int(nverts.sum()) > MAX_LAYER_VERTICES:
        problems.append(Problem(fname, f"too many vertices ({int(nverts.max()):,} in one geometry, "
                                f"{int(nverts.sum()):,} in the layer; at most {MAX_GEOMETRY_VERTICES:,} "
                                f"and {MAX_LAYER_VERTICES:,})", tuple(ids[huge]) if huge.any() else (),
                                "simplify the geometries to about 1 m, e.g. QGIS ▸ Vector ▸ Geometry Tools ▸ "
                                "Simplify (tolerance 0.00001°)"))
        return False
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
    return True


def validate_layer(gdf: gpd.GeoDataFrame, layer: str, fname: str,
                   problems: list[Problem]) -> gpd.GeoDataFrame | None:
    """A checked copy of one layer (ids as str, numbers as float), or None when unusable."""
    spec = LAYERS[layer]
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
    ids = _check_ids(gdf, layer, fname, problems)
    check_typed(gdf, layer, fname, ids, problems)
    if layer in ("streets", "communities"):
        _check_units(gdf, layer, fname, ids, problems)
        gdf = _check_births(gdf, fname, ids, problems)
    if not _check_geometry(gdf, layer, fname, ids, problems):
        return None
    return gdf


def _check_units(gdf: gpd.GeoDataFrame, layer: str, fname: str, ids: pd.Series, problems: list[Problem]) -> None:
    """Population in persons: a 街道 below :data:`MIN_STREET_POPULATION` looks like 万人; given
    infants above the population are impossible."""
    pop = pd.to_numeric(gdf["population"], errors="coerce")
    if layer == "streets":
        small = (pop > 0) & (pop < MIN_STREET_POPULATION)
        if small.any():
            vals = ", ".join(f"{v:g}" for v in pop[small][:6])
            problems.append(Problem(fname, f"population below {MIN_STREET_POPULATION} for a 街道/乡镇 ({vals}) — "
                                    "looks like 万人 (ten thousands), not persons", tuple(ids[small]),
                                    "give population in persons: multiply a column in 万人 by 10000 (3.2 万人 → "
                                    "32000)"))
    if "infants" in gdf.columns:
        inf = pd.to_numeric(gdf["infants"], errors="coerce")
        over = (inf > pop) & (pop >= 0)
        if over.any():
            problems.append(Problem(fname, "infants (aged 0–3) exceed the population", tuple(ids[over]),
                                    "check both columns are in persons (not 万人) and belong to the same row"))


def warn_population_units(streets: pd.DataFrame, communities: pd.DataFrame, fname: str) -> None:
    """Log a warning when the communities hold under 1/1000 of the 街道 population (a layer in 万人)."""
    s, c = float(streets["population"].sum()), float(communities["population"].sum())
    if c > 0 and s / c > 1000:
        log.warning("%s: the communities hold %g residents, under 1/1000 of the 街道 population (%g) — is "
                    "the communities' population in 万人? Multiply it by 10000 if so", fname, c, s)


# ------------------------------------------------------------------------------ births and infants

def _check_births(gdf: gpd.GeoDataFrame, fname: str, ids: pd.Series, problems: list[Problem]) -> gpd.GeoDataFrame:
    """Births columns (``births_<year>``/``births<year>``) → float columns named ``births_<year>``.

    Reports a year that is not a four-digit whole number, the same year twice, text cells, negative
    or infinite births (empty cells are allowed: that year is not known for that row).
    """
    ren: dict[Any, str] = {}
    for col in gdf.columns:
        m = _BIRTHS.fullmatch(str(col).strip()) if col != "geometry" else None
        if m is None:
            continue
        year = m.group(1)
        if not re.fullmatch(r"\d{4}", year):
            problems.append(Problem(
                fname, f"column {col!r}: the year after births_ is not a four-digit whole number", (str(col),),
                "name births columns births_<year>, e.g. births_2024 (a Shapefile cuts column names to 10 "
                "characters: write births2024 there, or use a GeoPackage/GeoJSON)"))
            continue
        name = f"{BIRTHS_PREFIX}{year}"
        if name in ren.values():
            problems.append(Problem(fname, f"births of {year} are given in two columns", (name,),
                                    f"keep one births column for {year}"))
            continue
        raw = gdf[col]
        empty = raw.isna() | text(raw).isin(["", "nan", "NaN", "None"])
        num = pd.to_numeric(raw.where(~empty, np.nan), errors="coerce")
        txt = ~empty & num.isna()
        if txt.any():
            problems.append(Problem(fname, f"{name} is not a number", tuple(ids[txt]),
                                    f"write {name} as the number of births in {year} (no units or text), "
                                    "or leave it empty if unknown"))
        neg = (num < 0) | np.isinf(num)
        if neg.any():
            problems.append(Problem(fname, f"{name} is negative or infinite", tuple(ids[neg]),
                                    f"{name} must be a finite number of births ≥ 0"))
        gdf[col] = num.astype(float)
        ren[col] = name
    return gdf.rename(columns=ren) if ren else gdf


def birth_columns(gdf: pd.DataFrame) -> dict[int, str]:
    """``{year: column}`` of the (validated) ``births_<year>`` columns, by year."""
    out = {}
    for c in gdf.columns:
        m = re.fullmatch(re.escape(BIRTHS_PREFIX) + r"(\d{4})", str(c))
        if m:
            out[int(m.group(1))] = str(c)
    return dict(sorted(out.items()))


def births_infants(gdf: pd.DataFrame, infant_survival: float) -> tuple[pd.Series, pd.Series]:
    """Infants estimated from births: Σ births of the row's last three years present × survival.

    For each row, the births columns with a value are taken in year order and the latest three of
    them are summed (fewer when fewer are given — an under-estimate, logged as a warning).

    Returns
    -------
    (infants, years) : tuple of pandas.Series
        ``infants`` is NaN for a row without any births; ``years`` is how many years were summed.
    """
    cols = list(birth_columns(gdf).values())
    if not cols:
        return pd.Series(np.nan, index=gdf.index), pd.Series(0, index=gdf.index)
    b = gdf[cols].to_numpy(dtype=float)
    present = np.isfinite(b)
    from_right = np.cumsum(present[:, ::-1], axis=1)[:, ::-1]  # present values at or after each year
    use = present & (from_right <= 3)
    n = use.sum(axis=1)
    total = np.where(use, b, 0.0).sum(axis=1) * float(infant_survival)
    return (pd.Series(np.where(n > 0, total, np.nan), index=gdf.index),
            pd.Series(n, index=gdf.index))


# ------------------------------------------------------------------------- per-layer columns

def fill_infants(gdf: pd.DataFrame, policy: Any) -> None:
    """Estimate missing ``infants`` in place and say where each value comes from.

    A row whose ``infants`` is empty is estimated from its births when it has any
    (:func:`births_infants`: Σ births of its last three years present × ``policy.infant_survival``),
    else as ``population × policy.infant_share``.  ``infants_estimated`` flags the estimated rows
    and ``infants_source`` is one of :data:`~tuoyu_geo.area.schema.INFANTS_SOURCES` ("given",
    "births", "population share").  Rows flagged estimated in existing ``infants_estimated`` /
    ``infants_source`` columns (an area's layer passed back to :func:`make_area`, or
    :meth:`StudyArea.with_policy`) are re-estimated too, so a new policy never keeps an old estimate.
    """
    if "infants" not in gdf.columns:
        gdf["infants"] = np.nan
    est = gdf["infants"].isna()
    if "infants_estimated" in gdf.columns:
        est = est | bool_values(gdf["infants_estimated"])
    if "infants_source" in gdf.columns:
        est = est | text(gdf["infants_source"]).isin(INFANTS_SOURCES[1:])
    births, years = births_infants(gdf, policy.infant_survival)
    use_births = est & births.notna()
    few = use_births & (years < 3)
    if few.any():
        idc = next((c for c in ("community_id", "street_id") if c in gdf.columns), None)
        names = gdf[idc] if idc is not None else pd.Series(gdf.index, index=gdf.index)
        log.warning("infants of %d row(s) estimated from fewer than three years of births (an under-estimate): %s",
                    int(few.sum()), ", ".join(map(str, names[few][:10])))
    estimate = births.where(use_births, gdf["population"] * policy.infant_share)
    gdf["infants_estimated"] = est.to_numpy(dtype=bool)
    gdf["infants"] = gdf["infants"].where(~est, estimate)
    gdf["infants_source"] = np.where(~est.to_numpy(), INFANTS_SOURCES[0],
                                     np.where(use_births.to_numpy(), INFANTS_SOURCES[1], INFANTS_SOURCES[2]))
    gdf["infants_source"] = gdf["infants_source"].astype(object)


def finish_streets(st: gpd.GeoDataFrame, policy: Any) -> None:
    """Streets' optional columns in place: infants (estimated where missing, :func:`fill_infants`),
    district, is_town."""
    fill_infants(st, policy)
    if "district" not in st.columns:
        st["district"] = ""
    bool_col(st, "is_town")


def finish_communities(g: gpd.GeoDataFrame, policy: Any) -> None:
    """Communities' optional columns in place: infants (estimated where missing, :func:`fill_infants`),
    is_new, built_year."""
    fill_infants(g, policy)
    bool_col(g, "is_new")
    if "built_year" not in g.columns:
        g["built_year"] = np.nan
    g["built_year"] = pd.to_numeric(g["built_year"], errors="coerce")


def finish_institutions(g: gpd.GeoDataFrame, fname: str, problems: list[Problem]) -> gpd.GeoDataFrame:
    """Institutions: category/puhui/is_demonstration, places as int, status (blank → 运营).

    Rows whose ``status`` is a closed word (:data:`~tuoyu_geo.area.columns.INSTITUTION_CLOSED`:
    停业, 已注销, 关闭, closed …) are dropped with a logged warning — their places do not count; an
    unknown status word is a problem.  Returns the (possibly shorter) frame; the other columns are
    changed in place.
    """
    category(g, fname, problems)
    if np.isfinite(g["places"].to_numpy(dtype=float)).all() and (g["places"] >= 0).all():
        g["places"] = g["places"].round().astype(int)
    if "status" not in g.columns:
        g["status"] = "运营"
    status = text(g["status"])
    word = status.str.lower()
    closed = word.isin(INSTITUTION_CLOSED)
    unknown = ~(closed | word.isin(INSTITUTION_OPEN) | (word == ""))
    if unknown.any():
        vals = ", ".join(sorted(set(status[unknown])))
        problems.append(Problem(fname, f"unknown status ({vals})", tuple(g.loc[unknown, "institution_id"]),
                                f"use an operating word ({', '.join(sorted(INSTITUTION_OPEN))}) or a closed one "
                                f"({', '.join(sorted(INSTITUTION_CLOSED))}); a blank status means 运营"))
    g["status"] = status.where(status != "", "运营")
    if closed.any():
        if closed.all():
            problems.append(Problem(fname, "every institution is closed (status 停业/注销/关闭 …)",
                                    tuple(g.loc[closed, "institution_id"]),
                                    "give at least one operating institution (blank status = 运营)"))
            return g
        log.warning("%s: %d closed institution(s) excluded, their places are not counted: %s", fname,
                    int(closed.sum()), ", ".join(f"{i} ({w})" for i, w in
                                                  zip(g.loc[closed, "institution_id"][:10], status[closed][:10],
                                                      strict=False)))
        g = g.loc[~closed.to_numpy()].reset_index(drop=True)
    return g


def finish_candidates(g: gpd.GeoDataFrame, fname: str, problems: list[Problem], default_year: int) -> None:
    """Candidates in place: kind checked, cost/min_places defaults, available_year (default
    ``default_year``), min_places ≤ max_places."""
    kind = text(g["kind"])
    bad = ~kind.isin(CANDIDATE_KINDS)
    if bad.any():
        problems.append(Problem(fname, f"unknown kind ({', '.join(sorted({v or '<empty>' for v in kind[bad]}))})",
                                tuple(g.loc[bad, "site_id"]), f"use one of {', '.join(CANDIDATE_KINDS)}"))
    g["kind"] = kind
    for c in ("min_places", "fixed_cost", "cost_per_place"):  # absent column: 0 (blank cells: check_typed)
        if c not in g.columns:
            g[c] = 0.0
        g[c] = pd.to_numeric(g[c], errors="coerce").astype(float)
    if "available_year" not in g.columns:
        g["available_year"] = np.nan
    year = pd.to_numeric(g["available_year"], errors="coerce")  # blank: available from the start
    g["available_year"] = year.where(np.isfinite(year), default_year).round().astype(int)
    badmin = g["min_places"] > g["max_places"]
    if badmin.any():
        problems.append(Problem(fname, "min_places > max_places", tuple(g.loc[badmin, "site_id"]),
                                "make min_places ≤ max_places"))


def warn_unusable_candidates(g: pd.DataFrame, policy: Any, fname: str) -> None:
    """Log a warning naming the candidates that cannot hold one whole class: no total of whole
    classes of the profile's ``class_types`` lies between max(min_places, 1) and max_places (the
    plan can never open them)."""
    sizes = sorted({int(policy.class_sizes[k]) for k in policy.class_types if k in policy.class_sizes})
    lo = np.maximum(pd.to_numeric(g["min_places"], errors="coerce").fillna(0).to_numpy(), 1)
    hi = pd.to_numeric(g["max_places"], errors="coerce").to_numpy()
    if not sizes or not np.isfinite(hi).all() or len(hi) == 0:
        return
    top = int(min(max(hi.max(), 0), MAX_SITE_PLACES))
    reach = np.zeros(top + 1, dtype=bool)
    reach[0] = True
    for t in range(1, top + 1):
        reach[t] = any(t >= k and reach[t - k] for k in sizes)
    totals = np.flatnonzero(reach)
    bad = [i for i in range(len(g)) if not ((totals >= lo[i]) & (totals <= hi[i])).any()]
    if bad:
        log.warning("%s: %d candidate(s) cannot hold one whole class between min_places and max_places "
                    "(class sizes %s), so a plan never opens them: %s", fname, len(bad),
                    "/".join(map(str, sizes)), ", ".join(f"{g['site_id'].iloc[i]} ({lo[i]:g}–{hi[i]:g})"
                                                        for i in bad[:10]))


def category(gdf: gpd.GeoDataFrame, fname: str, problems: list[Problem]) -> None:
    """Institution ``category`` (aliases resolved), ``puhui`` and ``is_demonstration`` in place."""
    cat = text(gdf["category"]).replace(CATEGORY_ALIASES)
    bad = ~cat.isin(CATEGORIES)
    if bad.any():
        vals = ", ".join(sorted({v or "<empty>" for v in text(gdf.loc[bad, "category"])}))
        problems.append(Problem(fname, f"unknown category ({vals})", tuple(gdf.loc[bad, "institution_id"]),
                                f"use one of {', '.join(CATEGORIES)}"))
    gdf["category"] = cat
    derived = cat.isin(PUHUI_CATEGORIES)
    if "puhui" in gdf.columns:  # parsed by check_typed: True/False, None where blank
        given = gdf["puhui"].astype(object)
        gdf["puhui"] = np.where(given.isna().to_numpy(), derived.to_numpy(), given.to_numpy())
    else:
        gdf["puhui"] = derived
    gdf["puhui"] = gdf["puhui"].astype(bool)
    bool_col(gdf, "is_demonstration")


# ------------------------------------------------------------------------------ across layers

def check_overlaps(streets: gpd.GeoDataFrame, fname: str, problems: list[Problem]) -> None:
    """Report 街道 polygons overlapping by more than :data:`STREET_OVERLAP_SHARE`."""
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


def datum_hint(pts: gpd.GeoSeries, streets: gpd.GeoDataFrame, declared: str) -> str | None:
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


def _street_points(gdf: gpd.GeoDataFrame, metric_crs: Any) -> gpd.GeoSeries:
    """WGS-84 representative points (:func:`representative_points`; points kept exactly)."""
    g = gdf.geometry
    poly = (g.geom_type != "Point").to_numpy()
    if not poly.any():
        return g
    out = g.copy()
    out[poly] = representative_points(g[poly], metric_crs).to_crs("EPSG:4326").values
    return out


def _streets_of_points(pts: gpd.GeoSeries, streets: gpd.GeoDataFrame, metric_crs: Any) -> tuple[pd.Series, list[set]]:
    """For each point: the 街道 it stands in, and every 街道 within :data:`BORDER_TOLERANCE_M`.

    A point inside a polygon or on its boundary (distance ≤ the tolerance, in ``metric_crs``) stands
    in it; a point on a border shared by two 街道 is near both and is given the first of them (in
    the order of the streets layer).  Points near no 街道 get None.
    """
    pm = np.asarray(pts.to_crs(metric_crs).values)
    sm = np.asarray(streets.geometry.to_crs(metric_crs).values)
    a, b = shapely.STRtree(sm).query(pm, predicate="dwithin", distance=BORDER_TOLERANCE_M)
    sid = streets["street_id"].to_numpy()
    near: list[set] = [set() for _ in range(len(pm))]
    first: list[Any] = [None] * len(pm)
    dist = shapely.distance(pm[a], sm[b]) if len(a) else np.array([])
    for k in np.lexsort((b, np.round(dist, 6), a)):  # by point, then distance, then street order
        if first[a[k]] is None:
            first[a[k]] = sid[b[k]]
        near[a[k]].add(sid[b[k]])
    return pd.Series(first, index=pts.index, dtype=object), near


def assign_streets(gdf: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, layer: str, fname: str,
                   problems: list[Problem], *, metric_crs: Any, declared: str = "wgs84") -> None:
    """Fill/check ``street_id`` in place: given ids must exist and agree with the location (the
    街道 the point stands in, borders counting for both neighbours); missing ones come from
    location."""
    idc = LAYERS[layer]["id"]
    pts = _street_points(gdf, metric_crs)
    found, near = _streets_of_points(pts, streets, metric_crs)
    found.index = gdf.index
    if "street_id" in gdf.columns:
        given = ids_str(gdf["street_id"])
        unknown = (given != "") & ~given.isin(streets["street_id"])
        if unknown.any():
            problems.append(Problem(fname, "street_id not in the streets layer",
                                    tuple(gdf.loc[unknown, idc]),
                                    "use a street_id of the streets layer or leave it empty to assign by location"))
        other = np.array([g != "" and not u and f is not None and g not in nr
                          for g, u, f, nr in zip(given, unknown, found, near, strict=True)], dtype=bool)
        if other.any():
            sname = dict(zip(streets["street_id"], text(streets["name"]), strict=True))
            problems.append(Problem(
                fname, f"{layer} whose street_id names another 街道 than the one they stand in",
                tuple(f"{i} (street_id {g}, stands in {f} {sname.get(f, '')})".replace(" )", ")")
                      for i, g, f in zip(gdf.loc[other, idc], given[other], found[other], strict=True)),
                "correct street_id (a site or community counts for the 街道 it stands in), or leave it empty to "
                "assign it by location; if the point is wrong, fix its coordinates"))
        gdf["street_id"] = given.where(given != "", found)
        gdf.loc[found.isna() & (given != ""), "street_id"] = None  # outside every 街道: reported below
    else:
        gdf["street_id"] = found
    outside = gdf["street_id"].isna() | text(gdf["street_id"]).isin(["", "nan"])
    if outside.any():
        _report_outside(gdf, pts[outside.to_numpy()], streets, layer, fname, outside, problems, declared,
                        metric_crs)
    gdf["street_id"] = gdf["street_id"].astype(object)


def _report_outside(gdf: gpd.GeoDataFrame, pts: gpd.GeoSeries, streets: gpd.GeoDataFrame, layer: str,
                    fname: str, outside: pd.Series, problems: list[Problem], declared: str,
                    metric_crs: Any) -> None:
    idc = LAYERS[layer]["id"]
    union = streets.geometry.to_crs(metric_crs).union_all()
    gap = pd.Series(shapely.distance(np.asarray(pts.to_crs(metric_crs).values), union), index=outside.index[outside])
    close = gap <= JUST_OUTSIDE_M
    if close.any():  # a digitising gap, not a datum mix-up (GCJ-02 moves points by hundreds of metres)
        problems.append(Problem(
            fname, f"{layer} just outside the 街道 polygons (≤ {JUST_OUTSIDE_M:.0f} m from a boundary)",
            tuple(f"{i} ({d:.1f} m)" for i, d in zip(gdf.loc[close.index[close], idc], gap[close], strict=True)),
            "move the point inside its 街道 or correct the 街道 boundary (a gap between neighbouring 街道?)"))
        outside = outside.copy()
        outside[close.index[close]] = False
        pts = pts[~close.to_numpy()]
        if not outside.any():
            return
    alt = datum_hint(pts, streets, declared)
    if alt is not None:
        problems.append(Problem(
            fname, f"{layer} outside every 街道 polygon; all of them would fall inside one if read as "
            f"{DATUM_LABEL[alt]} — check whether the file holds {alt} coordinates declared as {declared}",
            tuple(gdf.loc[outside, idc]),
            f'if every layer is {alt}, set crs = "{alt}" in area.toml; if only this file is, convert it '
            f'first: tuoyu_geo.crs.convert_geoseries(gdf, "{alt}", "{declared}")'))
    else:
        problems.append(Problem(fname, f"{layer} outside every 街道 polygon", tuple(gdf.loc[outside, idc]),
                                "check their coordinates and CRS (GCJ-02/BD-09 data must be declared so "
                                "in area.toml), or remove them / add the missing 街道"))


def check_detour_factor(value: Any, *, file: str = "area.toml", key: str = "detour_factor") -> float:
    """The detour factor as a float; DataError naming ``file`` unless it is a finite number ≥ 1.

    Parameters
    ----------
    value : Any
        The factor as given (a number from 1 to ``settings.MAX_DETOUR_FACTOR``; a bool or a string is refused).
    file, key : str
        Where it was given, for the message (e.g. ``area.toml`` / ``detour_factor``).
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not (ok and math.isfinite(v) and 1.0 <= v <= settings.MAX_DETOUR_FACTOR):
        raise DataError(f"{key} = {value!r} is not a detour factor (a number from 1 to "
                        f"{settings.MAX_DETOUR_FACTOR:g}: walking distance = straight-line distance × factor)", file=file,
                        fix=f"write e.g. {key} = {settings.DETOUR_FACTOR:g} (the average of 25 Chinese cities), or "
                            "remove it to use that default")
    return v
