"""Coverage maps of an :class:`~tuoyu_geo.pipeline.Assessment` (folium/Leaflet HTML; by default
self-contained, for offline intranets).

>>> a = tg.pipeline.assess(area, policy, plan=tg.plan.PlanOptions())     # doctest: +SKIP
>>> save_map(coverage_map(a), "maps/coverage.html")                       # doctest: +SKIP

The map draws what the assessment holds — scorecards before/after, community coverage from
``assessment.access``/``access_after``, the service areas ``assessment.isochrones`` — and computes
none of it.  Every string that comes from the input data (names, addresses, reasons) is
HTML-escaped before it reaches a popup, a tooltip, the legend or the title.  Offline maps (the
default) inline Leaflet 1.9.4 (vendored in ``tuoyu_geo/_static``) and draw no internet tiles.

Size: 街道 outlines and service areas are simplified in the metric CRS (``STREET_TOLERANCE_M``,
``ISO_TOLERANCE_M``), coordinates rounded to ``DECIMALS`` places, and each feature carries only
what differs from its layer (popup values, not the row labels; the after-plan community colours
reuse the same data).  The bundled 徐汇区 demo map: 2.97 MB before this, about 1.2 MB now.

City size (issue 17; ``benchmarks/bench_city.py``): above ``settings.ISO_MERGE_ABOVE`` facilities of
one kind the assessment holds their service areas merged per 街道 and they are drawn as they are
(above :data:`ISO_DISSOLVE_ABOVE` per-facility areas of one kind they are merged here,
:func:`dissolve_by_street`), and
above :data:`COMMUNITY_CANVAS_ABOVE` communities the map draws on a canvas (Leaflet
``preferCanvas``) with compact community features (coverage class as a palette index, radius) —
same colours, sizes and popups.  Smaller maps are unchanged.  Synthetic S2 city (20,000
communities, 1,984 recommended sites, 2,383 facilities' service areas merged into 293): 5.5 MB,
written in ≈2 s of CPU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import crs as _crs
from .. import settings
from ..writer import NO, YES, write_file
from ._assessment import require
from ._leaflet import (
    LEAFLET_CDN,
    Attribution,
    Controls,
    FeatureLayer,
    InlineLeaflet,
    LayerControl,
    Legend,
    MapSetup,
    StreetLabels,
    inline_assets,
    remote_references,
)
from ._leaflet import escape as _e
from .figures import cjk_font, plot_scorecard
from .labels import ISO_MERGED_ZH, SUFFIXES_ZH, distance_model_label, label, minute_key

log = logging.getLogger(__name__)

__all__ = [
    "CATEGORY_COLORS",
    "COVERAGE_COLORS",
    "LEAFLET_CDN",
    "COMMUNITY_CANVAS_ABOVE",
    "DECIMALS",
    "ISO_DISSOLVE_ABOVE",
    "TILES",
    "Attribution",
    "FeatureLayer",
    "StreetLabels",
    "cjk_font",
    "coverage_map",
    "inline_assets",
    "dissolve_by_street",
    "is_tile_url",
    "plot_scorecard",
    "remote_references",
    "save_map",
    "scenario_names",
    "simplify_polygons",
]

#: fill colour per institution category
CATEGORY_COLORS: Mapping[str, str] = {
    "普惠": "#006d2c", "公办": "#2c7bb6", "幼儿园托班": "#7b3294", "民办": "#8c510a",
    "用人单位": "#fdae61", "社区托育点": "#008837", "家庭托育点": "#f781bf", "综合服务中心": "#4dac26",
}
_OTHER_COLOR = "#666666"

#: community colour by coverage class
COVERAGE_COLORS: Mapping[str, str] = {
    "puhui": "#1a9850",   # within the circle of a 普惠 institution
    "any": "#fdae61",     # only of a non-普惠 institution
    "none": "#d73027",    # of none
}
_COVERAGE_LABELS = {"puhui": "{m}分钟内有普惠托育", "any": "{m}分钟内仅有非普惠托育", "none": "{m}分钟内无托育机构"}

# places per 1000 residents relative to the target / 普惠 coverage share: class edges and colours
_RATIO_BINS = [(0.25, "#3f007d", "< 25%"), (0.5, "#6a51a3", "25–50%"), (0.75, "#9e9ac8", "50–75%"),
               (1.0, "#dadaeb", "75–100%"), (math.inf, "#a1d99b", "≥ 100%（达标）")]
_SHARE_BINS = [(0.25, "#f7fbff", "< 25%"), (0.5, "#c6dbef", "25–50%"), (0.75, "#6baed6", "50–75%"),
               (math.inf, "#2171b5", "≥ 75%")]
_FILL = 0.4  # fill opacity of the 街道 choropleths (legend swatches use the same)
#: decimal places of drawn coordinates (1e-5° ≈ 1.1 m north–south, ≈ 0.95 m east–west at 31° N)
DECIMALS = 5
#: simplification tolerances (metres) of the drawn 街道 outlines and service areas
STREET_TOLERANCE_M, ISO_TOLERANCE_M = 3.0, 8.0
#: above this many service areas of one kind they are drawn merged per 街道 (a city's 2,000
#: overlapping areas would be ~30 MB of HTML and unreadable anyway); an assessment made with
#: ``settings.ISO_MERGE_ABOVE`` (the same number) already holds them merged and they are drawn as they are
ISO_DISSOLVE_ABOVE = settings.ISO_MERGE_ABOVE
#: above this many communities the map is drawn on a canvas (Leaflet ``preferCanvas``) and the
#: communities carry compact properties (coverage class index, radius) instead of style objects
COMMUNITY_CANVAS_ABOVE = 3000
_ISO_STYLE = {
    "existing_puhui": ({"color": "#1a9641", "weight": 1, "fillColor": "#1a9641", "fillOpacity": 0.10,
                        "dashArray": "4 3"}, "现有普惠机构"),
    "recommended": ({"color": "#c51b7d", "weight": 0.8, "fillColor": "#de77ae", "fillOpacity": 0.15},
                    "推荐站点"),
}

#: background tiles: key → (url, attribution, subdomains, datum, layer name)
TILES: Mapping[str, tuple[str, str, str, str, str]] = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "&copy; OpenStreetMap contributors", "abc",
            "wgs84", "OpenStreetMap 底图"),
    "amap": ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
             "&copy; 高德地图 AutoNavi (GCJ-02)", "1234", "gcj02", "高德底图"),
    "tencent": ("https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector&styleid=3",
                "&copy; 腾讯地图 Tencent (GCJ-02)", "0123", "gcj02", "腾讯底图"),
}


# ------------------------------------------------------------------------------------ helpers

def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "—" if math.isnan(v) else fmt.format(v)


def _pct(value: Any) -> str:
    return _num(value, "{:.0%}")


def _yes(value: Any) -> str:
    return YES if bool(value) else NO


def _table(title: str, values: Iterable[str | None]) -> list[str | None]:
    """Popup data: the escaped title, then one already-escaped value per row of the layer's heads
    (``None`` drops the row)."""
    return [_e(title), *values]


def _round(geom: Any) -> Any:
    """Coordinates rounded to :data:`DECIMALS` places (≈ 1 m); polygons stay valid."""
    if geom.geom_type == "Point":
        return shapely.Point(round(geom.x, DECIMALS), round(geom.y, DECIMALS))
    return shapely.set_precision(geom, 10.0 ** -DECIMALS)


def _geom_json(geom: Any) -> dict[str, Any]:
    return shapely.geometry.mapping(_round(geom))


def _feature(geom: Any, *, style: Mapping[str, Any] | None = None, popup: list[str | None] | None = None,
             tip: str = "", after: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A GeoJSON feature with the compact properties of :class:`FeatureLayer`."""
    props: dict[str, Any] = {}
    if style:
        props["_s"] = dict(style)
    if after:
        props["_a"] = dict(after)
    if popup:
        props["_p"] = popup
    if tip:
        props["_t"] = tip
    return {"type": "Feature", "geometry": _geom_json(geom), "properties": props}


def simplify_polygons(gdf: gpd.GeoDataFrame, metric_crs: Any, *, tolerance_m: float,
                      coverage: bool = True) -> gpd.GeoSeries:
    """Polygons simplified for drawing, in EPSG:4326.

    Simplified in ``metric_crs`` (so the tolerance is in metres).  A set of polygons that tile
    without overlaps (a valid coverage, e.g. 街道 boundaries) is simplified as a coverage, so
    shared borders stay shared; otherwise each polygon on its own, topology preserved.  Never adds
    vertices.  ``coverage=False`` skips the coverage test (for polygons that overlap anyway, such
    as service areas: the test costs seconds for a few hundred large polygons).
    """
    return _simplified(gdf.geometry.to_crs(metric_crs), tolerance_m, coverage=coverage).to_crs("EPSG:4326")


def _simplified(metric: gpd.GeoSeries, tolerance_m: float, *, coverage: bool) -> gpd.GeoSeries:
    geoms = metric.to_numpy()
    if (coverage and hasattr(shapely, "coverage_simplify") and len(geoms) > 1
            and bool(shapely.coverage_is_valid(geoms))):
        simple = shapely.coverage_simplify(geoms, tolerance_m)
    else:
        simple = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    keep = shapely.is_valid(simple) & ~shapely.is_empty(simple)
    simple = np.where(keep, simple, geoms)  # never lose a polygon to simplification
    return gpd.GeoSeries(simple, index=metric.index, crs=metric.crs)


def _bin(value: float, bins: list[tuple[float, str, str]]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "#cccccc"
    for edge, color, _ in bins:
        if value < edge:
            return color
    return bins[-1][1]


def _g(row: Mapping[str, Any], key: str, default: Any = float("nan")) -> Any:
    try:
        v = row[key]
    except (KeyError, IndexError):
        return default
    return default if v is None else v


def is_tile_url(tiles: str | None) -> bool:
    """True for a tile URL template of one's own (``{z}``, ``{x}``, ``{y}``), e.g. an intranet server."""
    return isinstance(tiles, str) and all(k in tiles for k in ("{z}", "{x}", "{y}"))


def _datum_for(tiles: str | None, offline: bool) -> str:
    if tiles not in (None, "none") and tiles not in TILES and not is_tile_url(tiles):
        raise ValueError(f"unknown tiles {tiles!r}; use one of {', '.join(TILES)}, none, "
                         "or a URL template with {z}/{x}/{y}")
    if offline or tiles in (None, "none") or is_tile_url(tiles):
        return "wgs84"
    return TILES[tiles][3]


def _shift(gdf: gpd.GeoDataFrame | gpd.GeoSeries, datum: str) -> Any:
    """Layers in EPSG:4326, shifted to GCJ-02 when the tiles are GCJ-02."""
    if gdf is None or len(gdf) == 0:
        return gdf
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    return _crs.convert_geoseries(g, "wgs84", datum) if datum != "wgs84" else g


def _points(area: Any, layer: str, datum: str) -> gpd.GeoSeries:
    """The area's representative points of ``layer`` (EPSG:4326, shifted to ``datum``)."""
    return _shift(area.points(layer).to_crs("EPSG:4326"), datum)


def _coverage_class(acc_comm: pd.DataFrame, mk: str) -> pd.Series:
    cp, ca = f"within{mk}_puhui", f"within{mk}_any"
    missing = [c for c in (cp, ca) if c not in acc_comm.columns]
    if missing:
        raise ValueError(f"access has no columns {missing}; fix: assess(..., plan=PlanOptions(minutes={mk})) "
                         f"or compute_access(..., minutes=(..., {mk}))")
    cls = pd.Series("none", index=acc_comm.index, dtype=object)
    cls[acc_comm[ca].astype(bool)] = "any"
    cls[acc_comm[cp].astype(bool)] = "puhui"
    return cls


# ------------------------------------------------------------------------------------- layers

class _Target:
    """Where the layers go: straight onto the map, or (with a plan) into the before/after groups
    that the layer control switches between (radio buttons)."""

    def __init__(self, m: folium.Map, *, plan_sites: int | None) -> None:
        self.map = m
        self.before: folium.Map | folium.FeatureGroup = m
        self.after: folium.Map | folium.FeatureGroup | None = None
        if plan_sites is not None:
            before_name, after_name = scenario_names(plan_sites)
            self.before = folium.FeatureGroup(name=before_name, overlay=False, show=False).add_to(m)
            self.after = folium.FeatureGroup(name=after_name, overlay=False, show=True).add_to(m)


def scenario_names(n_sites: int) -> tuple[str, str]:
    """Names of the before/after layer groups of a map of a plan with ``n_sites`` new sites."""
    return (f"{SUFFIXES_ZH['_before']}（现状）", f"{SUFFIXES_ZH['_after']}（新增{n_sites}处推荐站点）")


def _street_heads(mk: str) -> list[str]:
    return [_e(h) for h in (
        label("street_id"), label("population"), label("infants"), "托育机构 / 普惠", "托位 / 普惠托位",
        "每千人口托位数 / 目标", label("place_gap"), "普惠占比 / 目标", label("has_puhui"),
        f"{mk}分钟覆盖（任一 / 普惠）", label("status"), label("places_per_1000_after"), label("place_gap_after"),
        label(f"cover{mk}_puhui_after"), label("status_after"))]


def _street_popup(row: Mapping[str, Any], after: Mapping[str, Any] | None, mk: str) -> list[str | None]:
    values: list[str | None] = [
        _e(_g(row, "street_id", "")), _num(_g(row, "population")), _num(_g(row, "infants")),
        f"{_num(_g(row, 'institutions'))} / {_num(_g(row, 'puhui_institutions'))}",
        f"{_num(_g(row, 'places'))} / {_num(_g(row, 'puhui_places'))}",
        f"{_num(_g(row, 'places_per_1000'), '{:.2f}')} / {_num(_g(row, 'target_per_1000'), '{:.2f}')}",
        _num(_g(row, "place_gap")), f"{_pct(_g(row, 'puhui_share'))} / {_pct(_g(row, 'puhui_target'))}",
        _yes(_g(row, "has_puhui", False)),
        f"{_pct(_g(row, f'cover{mk}_any'))} / {_pct(_g(row, f'cover{mk}_puhui'))}", _e(_g(row, "status", "")),
    ]
    if after is not None:
        values += [_num(_g(after, "places_per_1000"), "{:.2f}"), _num(_g(after, "place_gap")),
                   _pct(_g(after, f"cover{mk}_puhui")), _e(_g(after, "status", ""))]
    return _table(str(_g(row, "name", "")), values)


def _ratio(row: Mapping[str, Any]) -> tuple[float, float, float]:
    target, ppk = float(_g(row, "target_per_1000")), float(_g(row, "places_per_1000"))
    ratio = ppk / target if target > 0 else float("nan")
    return ratio, ppk, target


def _street_layers(to: _Target, a: Any, datum: str, mk: str) -> gpd.GeoSeries:
    """Choropleths: places per 1000 vs target (before; after, with a plan), 普惠 coverage share.
    Returns the drawn (simplified, shifted) 街道 outlines."""
    geoms = _shift(simplify_polygons(a.streets, a.area.metric_crs, tolerance_m=STREET_TOLERANCE_M), datum)
    after = a.streets_after
    base = {"color": "#333", "weight": 1.8, "fillOpacity": _FILL}
    ratio_f, cover_f, after_f = [], [], []
    for sid, row in a.streets.iterrows():
        arow = after.loc[sid] if after is not None and sid in after.index else None
        popup, geom = _street_popup(row, arow, mk), geoms.loc[sid]
        name = _e(_g(row, "name", ""))
        ratio, ppk, target = _ratio(row)
        ratio_f.append(_feature(geom, style={"fillColor": _bin(ratio, _RATIO_BINS)}, popup=popup,
                                tip=f"{name}：每千人口托位 {_num(ppk, '{:.2f}')}（目标 {_num(target, '{:.1f}')}）"))
        share = float(_g(row, f"cover{mk}_puhui"))
        cover_f.append(_feature(geom, style={"fillColor": _bin(share, _SHARE_BINS)}, popup=popup,
                                tip=f"{name}：{mk}分钟普惠覆盖 {_pct(share)}"))
        if arow is not None:
            ratio, ppk, target = _ratio(arow)
            after_f.append(_feature(geom, style={"fillColor": _bin(ratio, _RATIO_BINS)},
                                    popup=popup, tip=f"{name}：方案后每千人口托位 {_num(ppk, '{:.2f}')}"
                                                     f"（目标 {_num(target, '{:.1f}')}）"))
    heads = _street_heads(mk)
    FeatureLayer(ratio_f, name="街道：每千人口托位数（对比目标）", style=base, heads=heads, pane="streets").add_to(to.before)
    if to.after is not None and after_f:
        FeatureLayer(after_f, name="街道：方案后每千人口托位数", style=base, heads=heads,
                     pane="streets").add_to(to.after)
    FeatureLayer(cover_f, name=f"街道：{mk}分钟普惠覆盖率（现状）", show=False, style=base, heads=heads,
                 pane="streets").add_to(to.map)
    return geoms


def _street_labels(to: _Target, a: Any, geoms: gpd.GeoSeries) -> None:
    """One name per 街道, at a point inside its drawn outline (the largest part of a MultiPolygon);
    larger 街道 first (they keep their name when names would overlap)."""
    rows = []
    order = np.argsort(-geoms.to_crs(a.area.metric_crs).area.to_numpy(), kind="stable")
    for sid, geom in geoms.iloc[order].items():
        part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
        pt = part.representative_point()
        rows.append((_e(a.streets.at[sid, "name"]), round(pt.y, DECIMALS), round(pt.x, DECIMALS)))
    StreetLabels(rows).add_to(to.map)


def dissolve_by_street(iso: gpd.GeoDataFrame, street_of: pd.Series) -> gpd.GeoDataFrame:
    """Service areas merged per 街道 of their facility: one (multi)polygon per 街道, the union of
    its facilities' areas, with ``street_id`` and ``count`` (facilities merged); in the CRS of
    ``iso``, in the order the 街道 first appear.  ``street_of`` maps facility id → street_id
    (a facility without one is grouped under "")."""
    sid = pd.Series(iso["id"].map(street_of).fillna("").astype(str).to_numpy(), index=iso.index)
    groups = sid.groupby(sid, sort=False).indices
    geoms = iso.geometry.to_numpy()
    rows = [(s, len(ix), shapely.union_all(geoms[ix])) for s, ix in groups.items()]
    return gpd.GeoDataFrame({"street_id": [r[0] for r in rows], "count": [r[1] for r in rows]},
                            geometry=[r[2] for r in rows], crs=iso.crs)


def _iso_street_of(a: Any, kind: str) -> pd.Series:
    layer = a.area.institutions if kind == "existing_puhui" else a.area.candidates
    return layer["street_id"]


def _isochrone_layers(to: _Target, a: Any, datum: str, mk: str) -> None:
    """``assessment.isochrones`` (simplified for drawing), one layer per kind; the recommended
    sites' service areas belong to the after-plan view.  Areas merged per 街道 by the assessment
    (``merged``) are drawn as they are, their tooltip names the 街道 and how many were merged; a
    kind with more than :data:`ISO_DISSOLVE_ABOVE` per-facility areas is drawn dissolved per 街道
    (:func:`dissolve_by_street`)."""
    iso = a.isochrones
    if iso is None or len(iso) == 0:
        return
    metric = iso.set_geometry(_simplified(iso.geometry.to_crs(a.area.metric_crs), ISO_TOLERANCE_M,
                                          coverage=False).values)
    names = a.area.streets["name"]
    for kind, (style, who) in _ISO_STYLE.items():
        part = metric[metric["kind"] == kind]
        if "merged" in part.columns and part["merged"].astype(bool).any():  # merged per 街道 by assess
            geoms = _shift(part.to_crs("EPSG:4326"), datum).geometry
            tips = [ISO_MERGED_ZH["tooltip"].format(street=_e(name), who=who, mk=mk, n=n) if m
                    else f"{who} {_e(name)} {mk}分钟服务范围"
                    for name, n, m in zip(part["name"], part["facilities"], part["merged"].astype(bool), strict=True)]
        elif len(part) > ISO_DISSOLVE_ABOVE:
            merged = dissolve_by_street(part, _iso_street_of(a, kind))
            merged = merged.set_geometry(_simplified(merged.geometry, ISO_TOLERANCE_M, coverage=False).values)
            geoms = _shift(merged.to_crs("EPSG:4326"), datum).geometry
            tips = [ISO_MERGED_ZH["tooltip"].format(street=_e(names.get(sid, sid)), who=who, mk=mk, n=n)
                    for sid, n in zip(merged["street_id"], merged["count"], strict=True)]
        else:
            geoms = _shift(part.to_crs("EPSG:4326"), datum).geometry
            tips = [f"{who} {_e(name)} {mk}分钟服务范围" for name in part["name"]]
        feats = [_feature(g, tip=tip) for tip, g in zip(tips, geoms, strict=True) if g is not None and not g.is_empty]
        if not feats:
            continue
        target = to.after if kind == "recommended" and to.after is not None else to.map
        FeatureLayer(feats, name=f"{who}{mk}分钟服务范围", style=style, pane="areas").add_to(target)


def _community_values(r: Mapping[str, Any], street: str, cls: str, after_cls: str | None, near: Any,
                      mk: str) -> list[str | None]:
    estimated = "（估算）" if bool(_g(r, "infants_estimated", False)) else ""
    values: list[str | None] = [_e(street), _num(r["population"]), _num(r["infants"], "{:,.1f}") + estimated,
                                _e(_COVERAGE_LABELS[cls].format(m=mk)), None, None]
    if near is not None:
        values[4] = "超出范围" if pd.isna(near) else f"{near:,.0f} 米"
    if after_cls is not None:
        values[5] = _e(_COVERAGE_LABELS[after_cls].format(m=mk))
    return values


def _point_json(x: float, y: float) -> dict[str, Any]:
    """The GeoJSON of a point, rounded as :func:`_round` rounds it (without making a shapely Point)."""
    return {"type": "Point", "coordinates": (round(x, DECIMALS), round(y, DECIMALS))}


def _point_features(points: gpd.GeoSeries, props: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """GeoJSON point features (coordinates as :func:`_round`), one per point, with ``props``."""
    xs, ys = points.x.tolist(), points.y.tolist()
    return [{"type": "Feature", "geometry": _point_json(x, y), "properties": p}
            for x, y, p in zip(xs, ys, props, strict=True)]


#: coverage classes in the order of the compact community palette (``_c`` = index)
_CLASSES = ("puhui", "any", "none")


def _community_layer(to: _Target, a: Any, datum: str, mk: str, *, compact: bool = False) -> pd.Series:
    """Communities coloured by coverage class (size = infants), before and (one copy of the data,
    drawn again) after the plan; returns the classes before.

    ``compact`` (a city: more than :data:`COMMUNITY_CANVAS_ABOVE` communities): each feature
    holds its class as an index into the layer's palette (``_c``, after the plan ``_ca`` when it
    changes) and its radius (``_r``) instead of a style object; the same colours and popups."""
    comm, acc_comm = a.area.communities, a.access.communities
    cls = _coverage_class(acc_comm, mk).reindex(comm.index).fillna("none")
    after = (_coverage_class(a.access_after.communities, mk).reindex(comm.index).fillna("none")
             if a.access_after is not None else None)
    street_names = a.area.streets["name"].to_dict()
    near = acc_comm["nearest_puhui_m"] if "nearest_puhui_m" in acc_comm.columns else None
    pts = _points(a.area, "communities", datum)
    ids = list(pts.index)
    cols = [c for c in ("name", "street_id", "population", "infants", "infants_estimated") if c in comm.columns]
    rows = comm.loc[ids, cols].to_dict("records")
    before_c = cls.reindex(ids).tolist()
    after_c = after.reindex(ids).tolist() if after is not None else [None] * len(ids)
    near_v = near.reindex(ids).tolist() if near is not None else [None] * len(ids)
    props = []
    for r, c, ac, nv in zip(rows, before_c, after_c, near_v, strict=True):
        values = _community_values(r, street_names.get(r["street_id"], r["street_id"]), c, ac, nv, mk)
        radius = round(float(np.clip(1.5 + math.sqrt(max(float(r["infants"]), 0.0)) * 0.6, 2.0, 10.0)), 1)
        popup = _table(str(r["name"]), values)
        if compact:
            p: dict[str, Any] = {"_c": _CLASSES.index(c), "_r": radius}
            if ac is not None and ac != c:
                p["_ca"] = _CLASSES.index(ac)
            p["_p"] = popup
        else:
            p = {"_s": {"radius": radius, "fillColor": COVERAGE_COLORS[c]}}
            if ac is not None and ac != c:
                p["_a"] = {"fillColor": COVERAGE_COLORS[ac]}
            p["_p"] = popup
        props.append(p)
    feats = _point_features(pts, props)
    palette = [{"fillColor": COVERAGE_COLORS[k]} for k in _CLASSES] if compact else None
    heads = [_e(h) for h in (label("street_name"), label("population"), label("infants"), f"{mk}分钟覆盖",
                             "最近普惠机构步行距离", "方案后")]
    style = {"color": "#333", "weight": 0.5, "fillOpacity": 0.85}
    name = f"小区（按{mk}分钟覆盖着色，大小=婴幼儿数）"
    before = FeatureLayer(feats, name=name, style=style, heads=heads, pane="communities", tip_title=True,
                          kind="circle", palette=palette)
    before.add_to(to.before)
    if to.after is not None:
        FeatureLayer(name=f"{name}（方案后）", view_of=before, style=style, heads=heads, pane="communities",
                     tip_title=True, kind="circle", palette=palette).add_to(to.after)
    return cls


def _candidate_layer(to: _Target, area: Any, datum: str) -> None:
    cand, street_names = area.candidates, area.streets["name"].to_dict()
    feats = []
    pts = _points(area, "candidates", datum)
    for (sid, geom), r in zip(pts.items(), cand.loc[pts.index].to_dict("records"), strict=True):
        values = [_e(sid), _e(r["kind"]), _e(street_names.get(r["street_id"], "")),
                  f"{_num(_g(r, 'min_places', 0))}–{_num(r['max_places'])}", _num(_g(r, "fixed_cost"), "{:,.1f}"),
                  _num(_g(r, "cost_per_place"), "{:,.2f}"), _num(_g(r, "available_year"), "{:.0f}")]
        feats.append(_feature(geom, popup=_table("候选站点：" + str(r["name"]), values),
                              tip="候选：" + _e(r["name"])))
    heads = [_e(label(c)) for c in ("site_id", "kind", "street_name")] + ["可设托位"] + \
        [_e(label(c)) for c in ("fixed_cost", "cost_per_place", "available_year")]
    FeatureLayer(feats, name="候选站点", show=False, heads=heads, pane="points", kind="circle",
                 style={"radius": 4, "color": "#555", "weight": 1.2, "fillColor": "#ffffff",
                        "fillOpacity": 0.9}).add_to(to.map)


def _institution_layer(to: _Target, area: Any, datum: str) -> None:
    inst, street_names = area.institutions, area.streets["name"].to_dict()
    feats = []
    pts = _points(area, "institutions", datum)
    for geom, r in zip(pts, inst.loc[pts.index].to_dict("records"), strict=True):
        puhui = bool(r["puhui"])
        address = _g(r, "address", None)
        values = [_e(address) if isinstance(address, str) else None, _e(r["category"]), _yes(puhui),
                  _num(r["places"]), _yes(_g(r, "is_demonstration", False)), _e(_g(r, "status", "")),
                  _e(street_names.get(r["street_id"], ""))]
        style = {"fillColor": CATEGORY_COLORS.get(str(r["category"]), _OTHER_COLOR)}
        if puhui:
            style.update(color="#000", weight=2.5)
        feats.append(_feature(geom, style=style, popup=_table(str(r["name"]), values),
                              tip=f"{_e(r['name'])}（{_e(r['category'])}{'，普惠' if puhui else ''}）"))
    heads = [_e(label(c)) for c in ("address", "category", "puhui", "places", "is_demonstration")] + \
        ["状态", _e(label("street_name"))]
    FeatureLayer(feats, name="现有托育机构（按类别）", heads=heads, pane="points", kind="circle",
                 style={"radius": 7, "color": "#fff", "weight": 1.5, "fillOpacity": 0.95}).add_to(to.map)


def _site_layer(to: _Target, sites: gpd.GeoDataFrame, datum: str) -> None:
    pts = sites.geometry.where(sites.geom_type == "Point", sites.geometry.representative_point())
    feats = []
    shifted = _shift(gpd.GeoSeries(pts, crs=sites.crs), datum)
    for (sid, geom), r in zip(shifted.items(), sites.loc[shifted.index].to_dict("records"), strict=True):
        values = [_e(sid), _e(_g(r, "kind", "")), _e(_g(r, "street_name", "")), _num(_g(r, "places")),
                  _e(_g(r, "classes", "")), f"{_num(_g(r, 'cost'), '{:,.1f}')} 万元",
                  _num(_g(r, "new_infants_covered"), "{:,.0f}"), _num(_g(r, "year"), "{:.0f}"),
                  _e(_g(r, "reason", ""))]
        feats.append(_feature(geom, popup=_table("推荐站点：" + str(_g(r, "name", sid)), values),
                              tip="推荐：" + _e(_g(r, "name", sid))))
    heads = [_e(label(c)) for c in ("site_id", "kind", "street_name", "places", "classes")] + \
        ["投资估算", _e(label("new_infants_covered")), _e(label("year")), "推荐理由"]
    FeatureLayer(feats, name=f"推荐新建普惠站点（{len(sites)}处）", heads=heads, pane="points", kind="star",
                 style={"size": 22 if len(sites) <= 30 else 18, "color": "#d6004c"}).add_to(to.after or to.map)


def _legend_html(area: Any, mk: str, plan_sites: int | None, cls: pd.Series, *, distance: str = "") -> str:
    def sw(color: str, text: str, *, circle: bool = False, extra: str = "") -> str:
        return f"<div><i class='{'c' if circle else ''}' style='background:{color};{extra}'></i>{_e(text)}</div>"

    def band(color: str, text: str) -> str:
        return sw(color, text, extra=f"opacity:{min(1.0, _FILL + 0.2)}")

    counts = cls.value_counts()
    parts = [f"<div style='color:#b35806'>距离口径：{_e(distance)}</div>"] if distance else []
    if plan_sites is not None:
        before, after = scenario_names(plan_sites)
        parts.append(f"<div style='color:#555'>右上角图层按钮切换「{_e(before)}」与「{_e(after)}」</div>")
    parts.append("<h4>街道 每千人口托位数 / 目标</h4>")
    parts += [band(c, lab) for _, c, lab in _RATIO_BINS]
    parts.append(f"<h4>街道 {mk}分钟普惠覆盖率（图层中打开）</h4>")
    parts += [band(c, lab) for _, c, lab in _SHARE_BINS]
    parts.append("<h4>小区（圆点大小 = 婴幼儿数" + ("；数量为现状" if plan_sites is not None else "") + "）</h4>")
    parts += [sw(COVERAGE_COLORS[k], f"{_COVERAGE_LABELS[k].format(m=mk)}（{int(counts.get(k, 0))}）", circle=True)
              for k in ("puhui", "any", "none")]
    parts.append("<h4>现有托育机构</h4>")
    cats = list(dict.fromkeys(str(c) for c in area.institutions["category"]))
    parts += [sw(CATEGORY_COLORS.get(c, _OTHER_COLOR), c, circle=True) for c in cats]
    parts.append(sw("#fff", "黑色描边 = 普惠机构", circle=True, extra="border:2.5px solid #000"))
    parts.append(sw("#fff", "候选站点（可在图层中打开）", circle=True, extra="border:1.5px solid #555"))
    parts.append(sw("rgba(26,150,65,.15)", f"普惠机构{mk}分钟服务范围", extra="border:1px dashed #1a9641"))
    if plan_sites is not None:
        parts.append("<div><span style='color:#d6004c;font-size:16px;margin-right:3px'>\u2605</span>"
                     "推荐新建普惠站点（方案后）</div>")
        parts.append(sw("rgba(222,119,174,.3)", f"推荐站点{mk}分钟服务范围", extra="border:1px solid #c51b7d"))
    return "".join(parts)


# ------------------------------------------------------------------------------------ the map

def _base_map(area: Any, datum: str, tiles: str | None, offline: bool, title: str, *,
              canvas: bool = False) -> folium.Map:
    b = area.streets.total_bounds
    center = [float((b[1] + b[3]) / 2), float((b[0] + b[2]) / 2)]
    if datum != "wgs84":
        x, y = _crs.convert(center[1], center[0], "wgs84", datum)
        center = [float(y), float(x)]
    m = folium.Map(location=center, zoom_start=13, tiles=None, control_scale=False, zoom_snap=0.25, zoom_delta=0.5,
                   prefer_canvas=canvas)
    if offline:
        m.default_js, m.default_css = [], []
        m.add_child(InlineLeaflet())
    else:  # the layers here need Leaflet only (no jQuery/Bootstrap/awesome-markers)
        m.default_js = [("leaflet", LEAFLET_CDN + "leaflet.js")]
        m.default_css = [("leaflet_css", LEAFLET_CDN + "leaflet.css")]
    m.add_child(MapSetup())
    m.get_root().title = _e(title)
    if is_tile_url(tiles):  # one's own server (often on the intranet): drawn even when offline
        folium.TileLayer(tiles=tiles, attr="自定义底图", name="自定义底图", max_zoom=19, control=False).add_to(m)
    elif not offline and tiles not in (None, "none"):
        url, attr, subs, _, name = TILES[tiles]
        folium.TileLayer(tiles=url, attr=attr, name=name, subdomains=subs, max_zoom=19, control=False).add_to(m)
    elif tiles not in (None, "none"):
        log.info("offline map: no background tiles (vectors only)")
    return m


def coverage_map(assessment: Any, *, tiles: str | None = None, offline: bool | None = None) -> folium.Map:
    """Interactive coverage map of an assessment (and of its site plan, if any).

    Offline by default: Leaflet is inlined and no background tiles are drawn, so the saved page
    works on an intranet without internet access.

    Parameters
    ----------
    assessment : Assessment
        Result of :func:`tuoyu_geo.pipeline.assess`.  The map shows ``assessment.minutes``-minute
        coverage (the access must hold ``within{minutes}_*`` columns) and draws
        ``assessment.isochrones`` as the service areas.
    tiles : {None, "none", "osm", "amap", "tencent"} or str
        Background tiles, off by default (they need internet).  ``amap``/``tencent`` are GCJ-02
        services: all drawn data are shifted to GCJ-02 so that they line up with the tiles.  A URL
        template with ``{z}``, ``{x}``, ``{y}`` is one's own WGS-84/Web-Mercator tile server (e.g.
        on the intranet): it is drawn offline too.
    offline : bool, optional
        Self-contained map: Leaflet is inlined (no CDN) and no internet tile service is drawn.
        Default: True unless ``tiles`` names an internet tile service.

    Returns
    -------
    folium.Map
        With a plan, two base layers switched by radio buttons — :func:`scenario_names` — the
        status quo (街道 places per 1000 vs target, communities coloured by coverage) and the plan
        (the same after the plan, the recommended sites and their service areas).  Overlays:
        街道 普惠 coverage, 街道 names, existing 普惠 service areas, candidates, institutions.
        A metric scale bar, a collapsible legend (closed on screens < 600 px) and a layer control
        (collapsed there too), and the data attribution.

    Raises
    ------
    ValueError
        Unknown ``tiles``, or the access lacks the coverage columns of ``assessment.minutes``.
    """
    area, plan = require(assessment, "coverage_map").area, assessment.plan
    if offline is None:
        offline = tiles in (None, "none") or is_tile_url(tiles)
    mk = minute_key(assessment.minutes)
    datum = _datum_for(tiles, offline)
    plan_sites = len(plan.sites) if plan is not None and len(plan.sites) else None
    title = f"{area.name} 托育服务{mk}分钟步行覆盖" + ("与推荐站点" if plan is not None else "")
    city = len(area.communities) > COMMUNITY_CANVAS_ABOVE
    m = _base_map(area, datum, tiles, offline, title, canvas=city)
    to = _Target(m, plan_sites=plan_sites)
    outlines = _street_layers(to, assessment, datum, mk)
    _isochrone_layers(to, assessment, datum, mk)
    cls = _community_layer(to, assessment, datum, mk, compact=city)
    _candidate_layer(to, area, datum)
    _institution_layer(to, area, datum)
    if plan_sites is not None:
        _site_layer(to, plan.sites, datum)
    _street_labels(to, assessment, outlines)
    acc = assessment.access
    distance = "" if acc.distance_model == "network" else distance_model_label(acc.distance_model, acc.detour_factor)
    m.add_child(Legend(_e(title), _legend_html(area, mk, plan_sites, cls, distance=distance)))
    m.add_child(Attribution(area.attribution or ""))
    LayerControl(position="topright").add_to(m)
    b = [round(float(v), DECIMALS) for v in outlines.total_bounds]
    m.add_child(Controls([[b[1], b[0]], [b[3], b[2]]]))
    return m


def save_map(m: folium.Map, path: str | Path, *, offline: bool = False) -> Path:
    """Write a map to an HTML file atomically.

    Parameters
    ----------
    m : folium.Map
    path : path
        Target ``.html`` file; parent folders are created.
    offline : bool
        Make the page self-contained: Leaflet is inlined from the vendored copy and every other
        remote script/stylesheet is removed.  A map built with ``coverage_map(..., offline=True)``
        is self-contained either way.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The file cannot be written (nothing is left behind).
    """
    text = m.get_root().render()
    if offline or any(isinstance(c, InlineLeaflet) for c in m._children.values()):
        text = inline_assets(text)
    path = write_file(text, path, fmt="html")
    log.info("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
