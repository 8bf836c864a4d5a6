"""Coverage maps of an :class:`~tuoyu_geo.pipeline.Assessment` (folium/Leaflet HTML, optionally
self-contained for offline intranets).

>>> a = tg.pipeline.assess(area, policy, plan=tg.plan.PlanOptions())     # doctest: +SKIP
>>> save_map(coverage_map(a, offline=True), "maps/coverage.html")         # doctest: +SKIP

The map draws what the assessment holds — scorecards before/after, community coverage from
``assessment.access``/``access_after``, the service areas ``assessment.isochrones`` — and computes
none of it.  Every string that comes from the input data (names, addresses, reasons) is
HTML-escaped before it reaches a popup, a tooltip, the legend or the title.  Offline maps inline
Leaflet 1.9.4 (vendored in ``tuoyu_geo/_static``) and draw no tiles.
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
from ..writer import NO, YES, write_file
from ._assessment import require
from ._leaflet import (
    LEAFLET_CDN,
    Attribution,
    FeatureLayer,
    InlineLeaflet,
    Legend,
    inline_assets,
    remote_references,
)
from ._leaflet import escape as _e
from .figures import cjk_font, plot_scorecard
from .labels import label, minute_key

log = logging.getLogger(__name__)

__all__ = [
    "CATEGORY_COLORS",
    "COVERAGE_COLORS",
    "LEAFLET_CDN",
    "TILES",
    "Attribution",
    "FeatureLayer",
    "cjk_font",
    "coverage_map",
    "inline_assets",
    "plot_scorecard",
    "remote_references",
    "save_map",
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


def _table(title: str, rows: Iterable[tuple[str, str]]) -> str:
    """Popup HTML: an escaped title and (label, already-escaped value) rows."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<div class='tp'><b>{_e(title)}</b><table>{body}</table></div>"


def _geom_json(geom: Any) -> dict[str, Any]:
    g = shapely.set_precision(geom, 1e-6) if geom.geom_type != "Point" else geom
    d = shapely.geometry.mapping(g)
    if d["type"] == "Point":
        d["coordinates"] = [round(c, 6) for c in d["coordinates"]]
    return d


def _feature(geom: Any, *, style: Mapping[str, Any], popup: str = "", tip: str = "",
             kind: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"_style": dict(style)}
    if popup:
        props["_popup"] = popup
    if tip:
        props["_tip"] = tip
    if kind:
        props["_kind"] = kind
    return {"type": "Feature", "geometry": _geom_json(geom), "properties": props}


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


def _datum_for(tiles: str | None, offline: bool) -> str:
    if tiles not in (None, "none") and tiles not in TILES:
        raise ValueError(f"unknown tiles {tiles!r}; use one of {', '.join(TILES)}, none")
    if offline or tiles in (None, "none"):
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

def _street_popup(row: Mapping[str, Any], after: Mapping[str, Any] | None, mk: str) -> str:
    rows = [
        (label("street_id"), _e(_g(row, "street_id", ""))),
        (label("population"), _num(_g(row, "population"))),
        (label("infants"), _num(_g(row, "infants"))),
        ("托育机构 / 普惠", f"{_num(_g(row, 'institutions'))} / {_num(_g(row, 'puhui_institutions'))}"),
        ("托位 / 普惠托位", f"{_num(_g(row, 'places'))} / {_num(_g(row, 'puhui_places'))}"),
        ("每千人口托位数 / 目标", f"{_num(_g(row, 'places_per_1000'), '{:.2f}')} / "
                             f"{_num(_g(row, 'target_per_1000'), '{:.2f}')}"),
        (label("place_gap"), _num(_g(row, "place_gap"))),
        ("普惠占比 / 目标", f"{_pct(_g(row, 'puhui_share'))} / {_pct(_g(row, 'puhui_target'))}"),
        (label("has_puhui"), _yes(_g(row, "has_puhui", False))),
        (f"{mk}分钟覆盖（任一 / 普惠）", f"{_pct(_g(row, f'cover{mk}_any'))} / {_pct(_g(row, f'cover{mk}_puhui'))}"),
        (label("status"), _e(_g(row, "status", ""))),
    ]
    if after is not None:
        rows += [
            (label("places_per_1000_after"), _num(_g(after, "places_per_1000"), "{:.2f}")),
            (label("place_gap_after"), _num(_g(after, "place_gap"))),
            (label(f"cover{mk}_puhui_after"), _pct(_g(after, f"cover{mk}_puhui"))),
            (label("status_after"), _e(_g(after, "status", ""))),
        ]
    return _table(str(_g(row, "name", "")), rows)


def _ratio(row: Mapping[str, Any]) -> tuple[float, float, float]:
    target, ppk = float(_g(row, "target_per_1000")), float(_g(row, "places_per_1000"))
    ratio = ppk / target if target > 0 else float("nan")
    return ratio, ppk, target


def _street_layers(m: folium.Map, a: Any, datum: str, mk: str) -> None:
    """Choropleths: places per 1000 vs target, 普惠 coverage share, and (with a plan) after."""
    streets = _shift(a.streets, datum)
    after = a.streets_after
    base = {"color": "#333", "weight": 1.8, "fillOpacity": _FILL}
    ratio_f, cover_f, after_f = [], [], []
    for sid, row in streets.iterrows():
        arow = after.loc[sid] if after is not None and sid in after.index else None
        popup = _street_popup(row, arow, mk)
        name = _e(_g(row, "name", ""))
        ratio, ppk, target = _ratio(row)
        ratio_f.append(_feature(row.geometry, style={**base, "fillColor": _bin(ratio, _RATIO_BINS)}, popup=popup,
                                tip=f"{name}：每千人口托位 {_num(ppk, '{:.2f}')}（目标 {_num(target, '{:.1f}')}）"))
        share = float(_g(row, f"cover{mk}_puhui"))
        cover_f.append(_feature(row.geometry, style={**base, "fillColor": _bin(share, _SHARE_BINS)}, popup=popup,
                                tip=f"{name}：{mk}分钟普惠覆盖 {_pct(share)}"))
        if arow is not None:
            ratio, ppk, target = _ratio(arow)
            after_f.append(_feature(row.geometry, style={**base, "fillColor": _bin(ratio, _RATIO_BINS)},
                                    popup=popup, tip=f"{name}：方案后每千人口托位 {_num(ppk, '{:.2f}')}"
                                                     f"（目标 {_num(target, '{:.1f}')}）"))
    FeatureLayer(ratio_f, name="街道：每千人口托位数（对比目标）").add_to(m)
    FeatureLayer(cover_f, name=f"街道：{mk}分钟普惠覆盖率", show=False).add_to(m)
    if after is not None:
        FeatureLayer(after_f, name="街道：方案后每千人口托位数", show=False).add_to(m)


def _isochrone_layers(m: folium.Map, a: Any, datum: str, mk: str, *, tolerance_m: float = 8.0) -> None:
    """``assessment.isochrones`` (simplified for drawing), one layer per kind."""
    iso = a.isochrones
    if iso is None or len(iso) == 0:
        return
    geo = iso.to_crs(a.area.metric_crs).geometry.simplify(tolerance_m, preserve_topology=True)
    iso = _shift(iso.set_geometry(geo.to_crs("EPSG:4326").values), datum)
    for kind, (style, who) in _ISO_STYLE.items():
        part = iso[iso["kind"] == kind]
        feats = [_feature(g, style=style, tip=f"{who} {_e(name)} {mk}分钟服务范围")
                 for name, g in zip(part["name"], part.geometry, strict=True) if g is not None and not g.is_empty]
        if feats:
            FeatureLayer(feats, name=f"{who}{mk}分钟服务范围", show=kind != "recommended" or len(feats) <= 30).add_to(m)


def _community_rows(r: Mapping[str, Any], street: str, cls: str, after_cls: str | None, near: Any,
                    mk: str) -> list[tuple[str, str]]:
    estimated = "（估算）" if bool(_g(r, "infants_estimated", False)) else ""
    rows = [(label("street_name"), _e(street)), (label("population"), _num(r["population"])),
            (label("infants"), _num(r["infants"], "{:,.1f}") + estimated),
            (f"{mk}分钟覆盖", _e(_COVERAGE_LABELS[cls].format(m=mk)))]
    if near is not None:
        rows.append(("最近普惠机构步行距离", "超出范围" if pd.isna(near) else f"{near:,.0f} 米"))
    if after_cls is not None:
        rows.append(("方案后", _e(_COVERAGE_LABELS[after_cls].format(m=mk))))
    return rows


def _community_layer(m: folium.Map, a: Any, datum: str, mk: str) -> pd.Series:
    """Communities coloured by coverage class (size = infants); returns the classes."""
    comm, acc_comm = a.area.communities, a.access.communities
    cls = _coverage_class(acc_comm, mk).reindex(comm.index).fillna("none")
    after = (_coverage_class(a.access_after.communities, mk).reindex(comm.index).fillna("none")
             if a.access_after is not None else None)
    street_names = a.area.streets["name"].to_dict()
    near = acc_comm["nearest_puhui_m"] if "nearest_puhui_m" in acc_comm.columns else None
    feats = []
    for cid, geom in _points(a.area, "communities", datum).items():
        r = comm.loc[cid]
        rows = _community_rows(r, street_names.get(r["street_id"], r["street_id"]), cls.at[cid],
                               after.at[cid] if after is not None else None,
                               near.get(cid, np.nan) if near is not None else None, mk)
        radius = float(np.clip(1.5 + math.sqrt(max(float(r["infants"]), 0.0)) * 0.6, 2.0, 10.0))
        feats.append(_feature(geom, kind="circle",
                              style={"radius": round(radius, 1), "color": "#333", "weight": 0.5,
                                     "fillColor": COVERAGE_COLORS[cls.at[cid]], "fillOpacity": 0.85},
                              popup=_table(str(r["name"]), rows), tip=_e(r["name"])))
    FeatureLayer(feats, name=f"小区（按{mk}分钟覆盖着色，大小=婴幼儿数）").add_to(m)
    return cls


def _candidate_layer(m: folium.Map, area: Any, datum: str) -> None:
    cand, street_names = area.candidates, area.streets["name"].to_dict()
    feats = []
    for sid, geom in _points(area, "candidates", datum).items():
        r = cand.loc[sid]
        rows = [(label("site_id"), _e(sid)), (label("kind"), _e(r["kind"])),
                (label("street_name"), _e(street_names.get(r["street_id"], ""))),
                ("可设托位", f"{_num(_g(r, 'min_places', 0))}–{_num(r['max_places'])}"),
                (label("fixed_cost"), _num(_g(r, "fixed_cost"), "{:,.1f}")),
                (label("cost_per_place"), _num(_g(r, "cost_per_place"), "{:,.2f}")),
                (label("available_year"), _num(_g(r, "available_year"), "{:.0f}"))]
        feats.append(_feature(geom, kind="circle",
                              style={"radius": 4, "color": "#555", "weight": 1.2, "fillColor": "#ffffff",
                                     "fillOpacity": 0.9},
                              popup=_table("候选站点：" + str(r["name"]), rows), tip="候选：" + _e(r["name"])))
    FeatureLayer(feats, name="候选站点", show=False).add_to(m)


def _institution_layer(m: folium.Map, area: Any, datum: str) -> None:
    inst, street_names = area.institutions, area.streets["name"].to_dict()
    feats = []
    for iid, geom in _points(area, "institutions", datum).items():
        r = inst.loc[iid]
        puhui = bool(r["puhui"])
        rows = [(label("category"), _e(r["category"])), (label("puhui"), _yes(puhui)),
                (label("places"), _num(r["places"])),
                (label("is_demonstration"), _yes(_g(r, "is_demonstration", False))),
                ("状态", _e(_g(r, "status", ""))), (label("street_name"), _e(street_names.get(r["street_id"], "")))]
        if isinstance(_g(r, "address", None), str):
            rows.insert(0, (label("address"), _e(r["address"])))
        feats.append(_feature(geom, kind="circle",
                              style={"radius": 7, "color": "#000" if puhui else "#fff", "weight": 2.5 if puhui else 1.5,
                                     "fillColor": CATEGORY_COLORS.get(str(r["category"]), _OTHER_COLOR),
                                     "fillOpacity": 0.95},
                              popup=_table(str(r["name"]), rows),
                              tip=f"{_e(r['name'])}（{_e(r['category'])}{'，普惠' if puhui else ''}）"))
    FeatureLayer(feats, name="现有托育机构（按类别）").add_to(m)


def _site_layer(m: folium.Map, sites: gpd.GeoDataFrame, datum: str) -> None:
    pts = sites.geometry.where(sites.geom_type == "Point", sites.geometry.representative_point())
    feats = []
    for sid, geom in _shift(gpd.GeoSeries(pts, crs=sites.crs), datum).items():
        r = sites.loc[sid]
        rows = [(label("site_id"), _e(sid)), (label("kind"), _e(_g(r, "kind", ""))),
                (label("street_name"), _e(_g(r, "street_name", ""))), (label("places"), _num(_g(r, "places"))),
                (label("classes"), _e(_g(r, "classes", ""))), ("投资估算", f"{_num(_g(r, 'cost'), '{:,.1f}')} 万元"),
                (label("new_infants_covered"), _num(_g(r, "new_infants_covered"), "{:,.0f}")),
                (label("year"), _num(_g(r, "year"), "{:.0f}")), ("推荐理由", _e(_g(r, "reason", "")))]
        feats.append(_feature(geom, kind="star", style={"size": 22 if len(sites) <= 30 else 18, "color": "#d6004c"},
                              popup=_table("推荐站点：" + str(_g(r, "name", sid)), rows),
                              tip="推荐：" + _e(_g(r, "name", sid))))
    FeatureLayer(feats, name=f"推荐新建普惠站点（{len(sites)}处）").add_to(m)


def _legend_html(area: Any, mk: str, with_plan: bool, cls: pd.Series) -> str:
    def sw(color: str, text: str, *, circle: bool = False, extra: str = "") -> str:
        return f"<div><i class='{'c' if circle else ''}' style='background:{color};{extra}'></i>{_e(text)}</div>"

    def band(color: str, text: str) -> str:
        return sw(color, text, extra=f"opacity:{min(1.0, _FILL + 0.2)}")

    counts = cls.value_counts()
    parts = ["<h4>街道 每千人口托位数 / 目标" + ("（方案前/后）" if with_plan else "") + "</h4>"]
    parts += [band(c, lab) for _, c, lab in _RATIO_BINS]
    parts.append(f"<h4>街道 {mk}分钟普惠覆盖率（切换图层）</h4>")
    parts += [band(c, lab) for _, c, lab in _SHARE_BINS]
    parts.append("<h4>小区（圆点大小 = 婴幼儿数）</h4>")
    parts += [sw(COVERAGE_COLORS[k], f"{_COVERAGE_LABELS[k].format(m=mk)}（{int(counts.get(k, 0))}）", circle=True)
              for k in ("puhui", "any", "none")]
    parts.append("<h4>现有托育机构</h4>")
    cats = list(dict.fromkeys(str(c) for c in area.institutions["category"]))
    parts += [sw(CATEGORY_COLORS.get(c, _OTHER_COLOR), c, circle=True) for c in cats]
    parts.append(sw("#fff", "黑色描边 = 普惠机构", circle=True, extra="border:2.5px solid #000"))
    parts.append(sw("#fff", "候选站点（可在图层中打开）", circle=True, extra="border:1.5px solid #555"))
    parts.append(sw("rgba(26,150,65,.15)", f"普惠机构{mk}分钟服务范围", extra="border:1px dashed #1a9641"))
    if with_plan:
        parts.append("<div><span style='color:#d6004c;font-size:16px;margin-right:3px'>\u2605</span>"
                     "推荐新建普惠站点</div>")
        parts.append(sw("rgba(222,119,174,.3)", f"推荐站点{mk}分钟服务范围", extra="border:1px solid #c51b7d"))
    return "".join(parts)


# ------------------------------------------------------------------------------------ the map

def _base_map(area: Any, datum: str, tiles: str | None, offline: bool, title: str) -> folium.Map:
    b = area.streets.total_bounds
    center = [float((b[1] + b[3]) / 2), float((b[0] + b[2]) / 2)]
    if datum != "wgs84":
        x, y = _crs.convert(center[1], center[0], "wgs84", datum)
        center = [float(y), float(x)]
    m = folium.Map(location=center, zoom_start=13, tiles=None, control_scale=True)
    if offline:
        m.default_js, m.default_css = [], []
        m.add_child(InlineLeaflet())
    else:  # the layers here need Leaflet only (no jQuery/Bootstrap/awesome-markers)
        m.default_js = [("leaflet", LEAFLET_CDN + "leaflet.js")]
        m.default_css = [("leaflet_css", LEAFLET_CDN + "leaflet.css")]
    m.get_root().title = _e(title)
    if not offline and tiles not in (None, "none"):
        url, attr, subs, _, name = TILES[tiles]
        folium.TileLayer(tiles=url, attr=attr, name=name, subdomains=subs, max_zoom=19, control=False).add_to(m)
    elif tiles not in (None, "none"):
        log.info("offline map: no background tiles (vectors only)")
    return m


def coverage_map(assessment: Any, *, tiles: str | None = "osm", offline: bool = False) -> folium.Map:
    """Interactive coverage map of an assessment (and of its site plan, if any).

    Parameters
    ----------
    assessment : Assessment
        Result of :func:`tuoyu_geo.pipeline.assess`.  The map shows ``assessment.minutes``-minute
        coverage (the access must hold ``within{minutes}_*`` columns) and draws
        ``assessment.isochrones`` as the service areas.
    tiles : {"osm", "amap", "tencent", "none"}
        Background tiles.  ``amap``/``tencent`` are GCJ-02 services: all drawn data are shifted to
        GCJ-02 so that they line up with the tiles.
    offline : bool
        Self-contained map: Leaflet is inlined (no CDN) and no tiles are drawn.

    Returns
    -------
    folium.Map
        Layers: 街道 choropleths (places per 1000 vs target; 普惠 coverage; after the plan),
        service areas, communities, candidates, institutions, recommended sites; a layer control,
        a legend and the data attribution.

    Raises
    ------
    ValueError
        Unknown ``tiles``, or the access lacks the coverage columns of ``assessment.minutes``.
    """
    area, plan = require(assessment, "coverage_map").area, assessment.plan
    mk = minute_key(assessment.minutes)
    datum = _datum_for(tiles, offline)
    title = f"{area.name} 托育服务{mk}分钟步行覆盖" + ("与推荐站点" if plan is not None else "")
    m = _base_map(area, datum, tiles, offline, title)
    _street_layers(m, assessment, datum, mk)
    _isochrone_layers(m, assessment, datum, mk)
    cls = _community_layer(m, assessment, datum, mk)
    _candidate_layer(m, area, datum)
    _institution_layer(m, area, datum)
    if plan is not None and len(plan.sites):
        _site_layer(m, plan.sites, datum)
    m.add_child(Legend(_e(title), _legend_html(area, mk, plan is not None, cls)))
    m.add_child(Attribution(area.attribution or ""))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    b = _shift(gpd.GeoSeries(shapely.box(*area.streets.total_bounds), crs="EPSG:4326"), datum).total_bounds
    m.fit_bounds([[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]])
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
