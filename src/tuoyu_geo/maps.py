"""Coverage maps (folium/Leaflet HTML, optionally self-contained for offline intranets) and a static
PNG figure of the per-街道 scorecard.

>>> m = coverage_map(area, acc, scorecard, plan)                 # doctest: +SKIP
>>> save_map(m, "maps/coverage.html", offline=True)              # doctest: +SKIP

Every string that comes from the input data (names, addresses, reasons) is HTML-escaped before it
reaches a popup, a tooltip, the legend or the title.  Offline maps inline Leaflet 1.9.4 (BSD-2, shipped
in ``tuoyu_geo/_static``) and draw no tiles, so the file opens without any network.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from . import crs as _crs
from ._errors import OutputError

log = logging.getLogger(__name__)

__all__ = [
    "CATEGORY_COLORS",
    "COVERAGE_COLORS",
    "coverage_map",
    "inline_assets",
    "plot_scorecard",
    "save_map",
]

#: fill colour per institution category
CATEGORY_COLORS: dict[str, str] = {
    "普惠": "#006d2c",
    "公办": "#2c7bb6",
    "幼儿园托班": "#7b3294",
    "民办": "#8c510a",
    "用人单位": "#fdae61",
    "社区托育点": "#008837",
    "家庭托育点": "#f781bf",
    "综合服务中心": "#4dac26",
}
_OTHER_COLOR = "#666666"

#: community colour by coverage class
COVERAGE_COLORS: dict[str, str] = {
    "puhui": "#1a9850",   # within the circle of a 普惠 institution
    "any": "#fdae61",     # only of a non-普惠 institution
    "none": "#d73027",    # of none
}
_COVERAGE_LABELS = {"puhui": "{m}分钟内有普惠托育", "any": "{m}分钟内仅有非普惠托育", "none": "{m}分钟内无托育机构"}

# places per 1000 residents relative to the target: class edges and colours
_RATIO_BINS = [(0.25, "#3f007d", "< 25%"), (0.5, "#6a51a3", "25–50%"), (0.75, "#9e9ac8", "50–75%"),
               (1.0, "#dadaeb", "75–100%"), (math.inf, "#a1d99b", "≥ 100%（达标）")]
_SHARE_BINS = [(0.25, "#f7fbff", "< 25%"), (0.5, "#c6dbef", "25–50%"), (0.75, "#6baed6", "50–75%"),
               (math.inf, "#2171b5", "≥ 75%")]

_LEAFLET_CDN = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/"
_FILL = 0.4  # fill opacity of the 街道 choropleths (legend swatches use the same)

_TILES: dict[str, tuple[str, str, str, str]] = {
    # key: (url, attribution, subdomains, datum)
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "&copy; OpenStreetMap contributors", "abc", "wgs84"),
    "amap": ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
             "&copy; 高德地图 AutoNavi (GCJ-02)", "1234", "gcj02"),
    "tencent": ("https://rt{s}.map.gtimg.com/tile?z={z}&x={x}&y={-y}&type=vector&styleid=3",
                "&copy; 腾讯地图 Tencent (GCJ-02)", "0123", "gcj02"),
}


def _e(value: Any) -> str:
    """HTML-escape any value (None/NaN → '')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return "—" if math.isnan(v) else fmt.format(v)


def _pct(value: Any) -> str:
    return _num(value, "{:.0%}") if value is not None else "—"


def _table(title: str, rows: Iterable[tuple[str, str]]) -> str:
    """Popup HTML: an escaped title and (label, already-escaped value) rows."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<div class='tp'><b>{_e(title)}</b><table>{body}</table></div>"


# ------------------------------------------------------------------------------------- assets

@lru_cache(maxsize=1)
def _static_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images as data: URIs) from the vendored copy."""
    root = resources.files("tuoyu_geo") / "_static"
    js = (root / "leaflet.js").read_text(encoding="utf-8")
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        name = match.group(1)
        raw = (root / "images" / name).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", data_uri, css)
    return js, css


def _safe_inline(text: str, tag: str) -> str:
    # a literal "</script" or "</style" inside inlined code would end the element early
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


class _InlineLeaflet(MacroElement):
    """Leaflet's JS and CSS inlined into the page header (no CDN)."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "InlineLeaflet"
        js, css = _static_assets()
        self.js = _safe_inline(js, "script")
        self.css = _safe_inline(css, "style")


def inline_assets(html_text: str) -> str:
    """Make rendered folium HTML self-contained.

    Leaflet ``<script src>``/``<link href>`` tags pointing at a CDN are replaced by the vendored
    files; every other remote script or stylesheet (jQuery, Bootstrap, awesome-markers, which the
    maps of this package do not use) is removed.

    Raises
    ------
    OutputError
        If a remote script or stylesheet is still referenced afterwards.
    """
    js, css = _static_assets()
    has_inline = "L.version" in html_text or "_leaflet_id" in html_text

    def script(match: re.Match[str]) -> str:
        src = match.group(1)
        if re.search(r"/leaflet(?:@[\d.]+)?/dist/leaflet(?:-src)?\.js$", src) or src.endswith("/leaflet.js"):
            return "" if has_inline else f"<script>{_safe_inline(js, 'script')}</script>"
        log.info("offline map: dropping remote script %s", src)
        return ""

    def link(match: re.Match[str]) -> str:
        href = match.group(1)
        if href.endswith("/leaflet.css"):
            return "" if has_inline else f"<style>{_safe_inline(css, 'style')}</style>"
        log.info("offline map: dropping remote stylesheet %s", href)
        return ""

    out = re.sub(r"<script\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*>\s*</script>", script, html_text)
    out = re.sub(r"<link[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)[\"'][^>]*/?>", link, out)
    left = remote_references(out)
    if left:
        raise OutputError(f"offline map still references remote files: {left[:3]}; "
                          "fix: build the map with coverage_map(..., offline=True)")
    return out


def remote_references(html_text: str) -> list[str]:
    """URLs of remote ``<script src>`` and ``<link href>`` tags in an HTML page."""
    pat = r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)"
    return re.findall(pat, html_text, flags=re.IGNORECASE)


# ------------------------------------------------------------------------------------- layers

def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a <script> element."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class _FeatureLayer(folium.map.Layer):
    """A GeoJSON layer whose features carry their own style, pre-escaped popup and tooltip HTML.

    Feature properties: ``_style`` (Leaflet path options; ``radius`` for circles), ``_kind``
    ("circle" | "star" | None for lines/polygons), ``_popup`` and ``_tip`` (escaped HTML).
    Needs nothing but Leaflet (no jQuery/Bootstrap), so it works in offline maps.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data }}, {
            style: function (f) { return f.properties._style || {}; },
            pointToLayer: function (f, latlng) {
                var p = f.properties;
                if (p._kind === "star") {
                    return L.marker(latlng, {icon: L.divIcon({className: "tuoyu-star",
                        html: "<div style='font-size:" + p._style.size + "px;line-height:1;color:" + p._style.color +
                              ";text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #000'>\u2605</div>",
                        iconSize: [p._style.size, p._style.size],
                        iconAnchor: [p._style.size / 2, p._style.size / 2]}),
                        zIndexOffset: 1000, riseOnHover: true});
                }
                return L.circleMarker(latlng, p._style || {});
            },
            onEachFeature: function (f, layer) {
                var p = f.properties;
                if (p._popup) { layer.bindPopup(p._popup, {maxWidth: 380}); }
                if (p._tip) { layer.bindTooltip(p._tip, {sticky: true}); }
            }
        });
        {% endmacro %}
    """)

    def __init__(self, features: list[dict[str, Any]], *, name: str, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "TuoyuLayer"
        self.data = _json_for_script({"type": "FeatureCollection", "features": features})
        self.n_features = len(features)


class _Legend(MacroElement):
    """A fixed-position HTML legend (Chinese), already escaped."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>
          .tuoyu-legend {position: fixed; z-index: 9999; background: rgba(255,255,255,.93); padding: 8px 10px;
            border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.4); font: 12px/1.45 "Noto Sans CJK SC",
            "Microsoft YaHei", "PingFang SC", sans-serif; max-height: 80vh; overflow-y: auto;}
          .tuoyu-legend h4 {margin: 4px 0 2px; font-size: 12px;}
          .tuoyu-legend i {display: inline-block; width: 12px; height: 12px; margin-right: 5px;
            vertical-align: -2px; border: 1px solid #555;}
          .tuoyu-legend i.c {border-radius: 50%;}
          .tuoyu-title {position: fixed; z-index: 9999; top: 10px; left: 60px; background: rgba(255,255,255,.93);
            padding: 6px 12px; border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.4);
            font: bold 15px "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;}
          .tuoyu-star {background: none; border: none;}
          .tp {font-size: 13px;} .tp table {margin-top: 3px;}
          .tp th {text-align: left; padding-right: 8px; font-weight: normal; color: #555; vertical-align: top;
            white-space: nowrap;}
          .leaflet-container {background: #f2efe9;}
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="tuoyu-title">{{ this.title }}</div>
        <div class="tuoyu-legend" style="bottom: 24px; left: 10px;">{{ this.body }}</div>
        {% endmacro %}
    """)

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self._name = "TuoyuLegend"
        self.title = title
        self.body = body


class _Attribution(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.setPrefix(
            '<a href="https://leafletjs.com">Leaflet</a> | tuoyu-geo');
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text_json }});
        {% endmacro %}
    """)

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "TuoyuAttribution"
        self.text_json = _json_for_script(_e(text))


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


def _street_popup(row: Mapping[str, Any], after: Mapping[str, Any] | None, minutes: int) -> str:
    rows = [
        ("街道编号", _e(_g(row, "street_id", ""))),
        ("常住人口", _num(_g(row, "population"))),
        ("0–3岁婴幼儿（估）", _num(_g(row, "infants"))),
        ("托育机构 / 普惠", f"{_num(_g(row, 'institutions'))} / {_num(_g(row, 'puhui_institutions'))}"),
        ("托位 / 普惠托位", f"{_num(_g(row, 'places'))} / {_num(_g(row, 'puhui_places'))}"),
        ("每千人口托位数 / 目标", f"{_num(_g(row, 'places_per_1000'), '{:.2f}')} / "
                             f"{_num(_g(row, 'target_per_1000'), '{:.2f}')}"),
        ("托位缺口", _num(_g(row, "place_gap"))),
        ("普惠占比 / 目标", f"{_pct(_g(row, 'puhui_share'))} / {_pct(_g(row, 'puhui_target'))}"),
        ("一街道一普惠", "是" if bool(_g(row, "has_puhui", False)) else "否"),
        (f"{minutes}分钟覆盖（任一 / 普惠）", f"{_pct(_g(row, f'cover{minutes}_any'))} / "
                                     f"{_pct(_g(row, f'cover{minutes}_puhui'))}"),
        ("评估结论", _e(_g(row, "status", ""))),
    ]
    if after is not None:
        rows += [
            ("方案后 每千人口托位数", _num(_g(after, "places_per_1000"), "{:.2f}")),
            ("方案后 托位缺口", _num(_g(after, "place_gap"))),
            (f"方案后 {minutes}分钟普惠覆盖", _pct(_g(after, f"cover{minutes}_puhui"))),
            ("方案后 评估结论", _e(_g(after, "status", ""))),
        ]
    return _table(str(_g(row, "name", "")), rows)


def _datum_for(tiles: str | None, offline: bool) -> str:
    if offline or tiles in (None, "none"):
        return "wgs84"
    if tiles not in _TILES:
        raise ValueError(f"unknown tiles {tiles!r}; use one of osm, amap, tencent, none")
    return _TILES[tiles][3]


def _shift(gdf: gpd.GeoDataFrame | gpd.GeoSeries, datum: str):
    if gdf is None or len(gdf) == 0:
        return gdf
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    return _crs.convert_geoseries(g, "wgs84", datum) if datum != "wgs84" else g


def _points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    geoms = gdf.geometry
    if (geoms.geom_type == "Point").all():
        return geoms
    return geoms.representative_point()


def _coverage_class(acc_comm: pd.DataFrame, minutes: int) -> pd.Series:
    cp, ca = f"within{minutes}_puhui", f"within{minutes}_any"
    missing = [c for c in (cp, ca) if c not in acc_comm.columns]
    if missing:
        raise ValueError(f"access has no columns {missing}; fix: compute_access(..., minutes=(..., {minutes}))")
    cls = pd.Series("none", index=acc_comm.index, dtype=object)
    cls[acc_comm[ca].astype(bool)] = "any"
    cls[acc_comm[cp].astype(bool)] = "puhui"
    return cls


def _isochrones(area: Any, *, minutes: int, layer: str, ids: pd.Index,
                tolerance_m: float = 8.0) -> gpd.GeoDataFrame | None:
    """Service areas from :func:`tuoyu_geo.access.isochrones`, simplified for drawing."""
    if len(ids) == 0:
        return None
    from . import access as _access

    try:
        iso = _access.isochrones(area, minutes=minutes, layer=layer, ids=list(ids))
    except Exception as exc:  # noqa: BLE001 - a missing service area must not cost the whole map
        log.warning("could not draw %s-minute service areas of %s: %s", minutes, layer, exc)
        return None
    if iso is None or len(iso) == 0 or not getattr(area, "metric_crs", None):
        return iso
    geo = iso.to_crs(area.metric_crs).geometry.simplify(tolerance_m, preserve_topology=True)
    return iso.set_geometry(geo.to_crs("EPSG:4326").values)


def coverage_map(area: Any, access: Any, scorecard: gpd.GeoDataFrame, plan: Any = None, *,
                 minutes: float = 15, tiles: str | None = "osm", offline: bool = False) -> folium.Map:
    """Interactive coverage map of a study area (and of a site plan).

    Parameters
    ----------
    area : StudyArea
        The study area (layers in EPSG:4326).
    access : Access
        Result of :func:`tuoyu_geo.access.compute_access` for ``area``.
    scorecard : GeoDataFrame
        :func:`tuoyu_geo.indicators.street_scorecard` of ``area``.
    plan : SitePlan, optional
        Adds the recommended sites, their service areas and after-plan figures in the 街道 popups.
    minutes : float
        Walking circle drawn and used to classify communities (must be one of ``access.minutes``).
    tiles : {"osm", "amap", "tencent", "none"}
        Background tiles.  ``amap``/``tencent`` are GCJ-02 services: all drawn data are shifted to
        GCJ-02 so that they line up with the tiles.
    offline : bool
        Self-contained map: Leaflet is inlined (no CDN) and no tiles are drawn.

    Returns
    -------
    folium.Map
        Layers: two 街道 choropleths (places per 1000 vs target; coverage share), communities,
        institutions, candidates, recommended sites, service areas; a layer control and a legend.
    """
    m_int = int(round(minutes))
    datum = _datum_for(tiles, offline)
    acc_comm = access.communities
    streets = _shift(scorecard, datum)
    after = None
    if plan is not None and getattr(plan, "streets_after", None) is not None:
        after = plan.streets_after

    bounds = area.streets.total_bounds
    center = [float((bounds[1] + bounds[3]) / 2), float((bounds[0] + bounds[2]) / 2)]
    if datum != "wgs84":
        x, y = _crs.convert(center[1], center[0], "wgs84", datum)
        center = [float(y), float(x)]
    m = folium.Map(location=center, zoom_start=13, tiles=None, control_scale=True)
    if offline:
        m.default_js = []
        m.default_css = []
        m.add_child(_InlineLeaflet())
    else:
        # the layers here need Leaflet only (no jQuery/Bootstrap/awesome-markers)
        m.default_js = [("leaflet", _LEAFLET_CDN + "leaflet.js")]
        m.default_css = [("leaflet_css", _LEAFLET_CDN + "leaflet.css")]
    title = f"{area.name} 托育服务{m_int}分钟步行覆盖" + ("与推荐站点" if plan is not None else "")
    m.get_root().title = _e(title)
    if not offline and tiles not in (None, "none"):
        url, attr, subs, _ = _TILES[tiles]
        folium.TileLayer(tiles=url, attr=attr, name={"osm": "OpenStreetMap 底图", "amap": "高德底图",
                                                     "tencent": "腾讯底图"}[tiles],
                         subdomains=subs, max_zoom=19, control=False).add_to(m)
    elif tiles not in (None, "none"):
        log.info("offline map: no background tiles (vectors only)")

    # --- 街道 choropleths
    ratio_feats, cover_feats = [], []
    cover_col = f"cover{m_int}_puhui"
    for sid, row in streets.iterrows():
        arow = after.loc[sid] if after is not None and sid in after.index else None
        popup = _street_popup(row, arow, m_int)
        target = float(_g(row, "target_per_1000"))
        ppk = float(_g(row, "places_per_1000"))
        ratio = ppk / target if target and not math.isnan(target) and target > 0 else float("nan")
        tip = (f"{_e(_g(row, 'name', ''))}：每千人口托位 {_num(ppk, '{:.2f}')}（目标 {_num(target, '{:.1f}')}）")
        base = {"color": "#333", "weight": 1.8, "fillOpacity": _FILL}
        ratio_feats.append(_feature(row.geometry, style={**base, "fillColor": _bin(ratio, _RATIO_BINS)},
                                    popup=popup, tip=tip))
        share = float(_g(row, cover_col))
        tip2 = f"{_e(_g(row, 'name', ''))}：{m_int}分钟普惠覆盖 {_pct(share)}"
        cover_feats.append(_feature(row.geometry, style={**base, "fillColor": _bin(share, _SHARE_BINS)},
                                    popup=popup, tip=tip2))
    _FeatureLayer(ratio_feats, name="街道：每千人口托位数（对比目标）").add_to(m)
    _FeatureLayer(cover_feats, name=f"街道：{m_int}分钟普惠覆盖率", show=False).add_to(m)
    if after is not None:
        feats = []
        for sid, row in streets.iterrows():
            if sid not in after.index:
                continue
            arow = after.loc[sid]
            target = float(_g(arow, "target_per_1000"))
            ppk = float(_g(arow, "places_per_1000"))
            ratio = ppk / target if target and not math.isnan(target) and target > 0 else float("nan")
            tip = f"{_e(_g(row, 'name', ''))}：方案后每千人口托位 {_num(ppk, '{:.2f}')}（目标 {_num(target, '{:.1f}')}）"
            feats.append(_feature(row.geometry, style={"color": "#333", "weight": 1.8, "fillOpacity": _FILL,
                                                       "fillColor": _bin(ratio, _RATIO_BINS)},
                                  popup=_street_popup(row, arow, m_int), tip=tip))
        _FeatureLayer(feats, name="街道：方案后每千人口托位数", show=False).add_to(m)

    # --- service areas (under the points)
    puhui_ids = area.institutions.index[area.institutions["puhui"].astype(bool)]
    iso = _isochrones(area, minutes=m_int, layer="institutions", ids=puhui_ids)
    if iso is not None and len(iso):
        iso = _shift(iso, datum)
        feats = [_feature(g, style={"color": "#1a9641", "weight": 1, "fillColor": "#1a9641", "fillOpacity": 0.10,
                                    "dashArray": "4 3"},
                          tip=f"{_e(area.institutions.at[i, 'name'] if i in area.institutions.index else i)}"
                              f" {m_int}分钟服务范围")
                 for i, g in zip(iso.index, iso.geometry, strict=True) if g is not None and not g.is_empty]
        _FeatureLayer(feats, name=f"现有普惠机构{m_int}分钟服务范围").add_to(m)
    sites = plan.sites if plan is not None else None
    if sites is not None and len(sites):
        iso2 = _isochrones(area, minutes=m_int, layer="candidates",
                           ids=pd.Index([i for i in sites.index if i in area.candidates.index]))
        if iso2 is not None and len(iso2):
            iso2 = _shift(iso2, datum)
            feats = [_feature(g, style={"color": "#c51b7d", "weight": 0.8, "fillColor": "#de77ae",
                                        "fillOpacity": 0.15},
                              tip=f"推荐站点 {_e(sites.at[i, 'name'] if i in sites.index else i)} {m_int}分钟服务范围")
                     for i, g in zip(iso2.index, iso2.geometry, strict=True) if g is not None and not g.is_empty]
            _FeatureLayer(feats, name=f"推荐站点{m_int}分钟服务范围", show=len(feats) <= 30).add_to(m)

    # --- communities
    comm = area.communities
    cls = _coverage_class(acc_comm, m_int).reindex(comm.index).fillna("none")
    pts = _shift(gpd.GeoSeries(_points(comm), crs="EPSG:4326"), datum)
    after_cls = None
    if plan is not None and getattr(plan, "access_after", None) is not None:
        after_cls = _coverage_class(plan.access_after.communities, m_int).reindex(comm.index)
    feats = []
    street_names = area.streets["name"].to_dict()
    for cid, geom in pts.items():
        r = comm.loc[cid]
        infants = float(r["infants"])
        c = cls.at[cid]
        rows = [("所属街道", _e(street_names.get(r["street_id"], r["street_id"]))),
                ("常住人口", _num(r["population"])), ("0–3岁婴幼儿（估）", _num(infants, "{:,.1f}")),
                (f"{m_int}分钟覆盖", _e(_COVERAGE_LABELS[c].format(m=m_int)))]
        if "nearest_puhui_m" in acc_comm.columns and cid in acc_comm.index:
            d = acc_comm.at[cid, "nearest_puhui_m"]
            rows.append(("最近普惠机构步行距离", "超出范围" if pd.isna(d) else f"{d:,.0f} 米"))
        if after_cls is not None:
            rows.append(("方案后", _e(_COVERAGE_LABELS.get(after_cls.get(cid), "").format(m=m_int))))
        radius = float(np.clip(1.5 + math.sqrt(max(infants, 0.0)) * 0.6, 2.0, 10.0))
        feats.append(_feature(geom, kind="circle",
                              style={"radius": round(radius, 1), "color": "#333", "weight": 0.5,
                                     "fillColor": COVERAGE_COLORS[c], "fillOpacity": 0.85},
                              popup=_table(str(r["name"]), rows), tip=_e(r["name"])))
    _FeatureLayer(feats, name=f"小区（按{m_int}分钟覆盖着色，大小=婴幼儿数）").add_to(m)

    # --- candidates
    cand = area.candidates
    cpts = _shift(gpd.GeoSeries(_points(cand), crs="EPSG:4326"), datum)
    feats = []
    for sid, geom in cpts.items():
        r = cand.loc[sid]
        rows = [("编号", _e(sid)), ("类型", _e(r["kind"])), ("所属街道", _e(street_names.get(r["street_id"], ""))),
                ("可设托位", f"{_num(r.get('min_places', 0))}–{_num(r['max_places'])}"),
                ("固定投入（万元）", _num(r.get("fixed_cost", float("nan")), "{:,.1f}")),
                ("每托位投入（万元）", _num(r.get("cost_per_place", float("nan")), "{:,.2f}")),
                ("最早可用年份", _num(r.get("available_year", float("nan")), "{:.0f}"))]
        feats.append(_feature(geom, kind="circle",
                              style={"radius": 4, "color": "#555", "weight": 1.2, "fillColor": "#ffffff",
                                     "fillOpacity": 0.9},
                              popup=_table("候选站点：" + str(r["name"]), rows), tip="候选：" + _e(r["name"])))
    _FeatureLayer(feats, name="候选站点", show=False).add_to(m)

    # --- institutions
    inst = area.institutions
    ipts = _shift(gpd.GeoSeries(_points(inst), crs="EPSG:4326"), datum)
    feats = []
    for iid, geom in ipts.items():
        r = inst.loc[iid]
        puhui = bool(r["puhui"])
        rows = [("类别", _e(r["category"])), ("普惠", "是" if puhui else "否"), ("托位数", _num(r["places"])),
                ("示范机构", "是" if bool(r.get("is_demonstration", False)) else "否"),
                ("状态", _e(r.get("status", ""))), ("所属街道", _e(street_names.get(r["street_id"], "")))]
        if "address" in inst.columns and isinstance(r.get("address"), str):
            rows.insert(0, ("地址", _e(r["address"])))
        feats.append(_feature(geom, kind="circle",
                              style={"radius": 7, "color": "#000" if puhui else "#fff", "weight": 2.5 if puhui else 1.5,
                                     "fillColor": CATEGORY_COLORS.get(str(r["category"]), _OTHER_COLOR),
                                     "fillOpacity": 0.95},
                              popup=_table(str(r["name"]), rows),
                              tip=f"{_e(r['name'])}（{_e(r['category'])}{'，普惠' if puhui else ''}）"))
    _FeatureLayer(feats, name="现有托育机构（按类别）").add_to(m)

    # --- recommended sites
    if sites is not None and len(sites):
        spts = _shift(gpd.GeoSeries(_points(sites), crs="EPSG:4326"), datum)
        feats = []
        for sid, geom in spts.items():
            r = sites.loc[sid]
            rows = [("编号", _e(sid)), ("类型", _e(r.get("kind", ""))), ("所属街道", _e(r.get("street_name", ""))),
                    ("托位数", _num(r.get("places"))), ("班级配置", _e(r.get("classes", ""))),
                    ("投资估算", f"{_num(r.get('cost'), '{:,.1f}')} 万元"),
                    ("新增覆盖婴幼儿", _num(r.get("new_infants_covered"), "{:,.0f}")),
                    ("建设年份", _num(r.get("year"), "{:.0f}")),
                    ("推荐理由", _e(r.get("reason", "")))]
            feats.append(_feature(geom, kind="star", style={"size": 22 if len(sites) <= 30 else 18,
                                                               "color": "#d6004c"},
                                  popup=_table("推荐站点：" + str(r.get("name", sid)), rows),
                                  tip="推荐：" + _e(r.get("name", sid))))
        _FeatureLayer(feats, name=f"推荐新建普惠站点（{len(sites)}处）").add_to(m)

    m.add_child(_Legend(_e(title), _legend_html(area, m_int, plan is not None, cls)))
    m.add_child(_Attribution(getattr(area, "attribution", "") or ""))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    b = _shift(gpd.GeoSeries(shapely.box(*bounds), crs="EPSG:4326"), datum).total_bounds
    m.fit_bounds([[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]])
    return m


def _legend_html(area: Any, minutes: int, with_plan: bool, cls: pd.Series) -> str:
    def sw(color: str, label: str, *, circle: bool = False, extra: str = "") -> str:
        return (f"<div><i class='{'c' if circle else ''}' style='background:{color};{extra}'></i>"
                f"{_e(label)}</div>")

    def band(color: str, label: str) -> str:
        return sw(color, label, extra=f"opacity:{min(1.0, _FILL + 0.2)}")

    counts = cls.value_counts()
    parts = ["<h4>街道 每千人口托位数 / 目标" + ("（方案前/后）" if with_plan else "") + "</h4>"]
    parts += [band(c, lab) for _, c, lab in _RATIO_BINS]
    parts.append(f"<h4>街道 {minutes}分钟普惠覆盖率（切换图层）</h4>")
    parts += [band(c, lab) for _, c, lab in _SHARE_BINS]
    parts.append("<h4>小区（圆点大小 = 婴幼儿数）</h4>")
    for k in ("puhui", "any", "none"):
        parts.append(sw(COVERAGE_COLORS[k], f"{_COVERAGE_LABELS[k].format(m=minutes)}（{int(counts.get(k, 0))}）",
                        circle=True))
    parts.append("<h4>现有托育机构</h4>")
    cats = list(dict.fromkeys(str(c) for c in area.institutions["category"]))
    parts += [sw(CATEGORY_COLORS.get(c, _OTHER_COLOR), c, circle=True) for c in cats]
    parts.append(sw("#fff", "黑色描边 = 普惠机构", circle=True, extra="border:2.5px solid #000"))
    parts.append(sw("#fff", "候选站点（可在图层中打开）", circle=True, extra="border:1.5px solid #555"))
    parts.append(sw("rgba(26,150,65,.15)", f"普惠机构{minutes}分钟服务范围", extra="border:1px dashed #1a9641"))
    if with_plan:
        parts.append("<div><span style='color:#d6004c;font-size:16px;margin-right:3px'>\u2605</span>"
                     "推荐新建普惠站点</div>")
        parts.append(sw("rgba(222,119,174,.3)", f"推荐站点{minutes}分钟服务范围", extra="border:1px solid #c51b7d"))
    return "".join(parts)


# ------------------------------------------------------------------------------------- saving

def save_map(m: folium.Map, path: str | Path, *, offline: bool = False) -> Path:
    """Write a map to an HTML file atomically (temporary file, then rename).

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
        The file written.
    """
    from .export import atomic_write

    text = m.get_root().render()
    if offline or any(isinstance(c, _InlineLeaflet) for c in m._children.values()):
        text = inline_assets(text)
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("map written to %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


# ------------------------------------------------------------------------------------- figure

_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "Source Han Sans SC",
              "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
              "Heiti SC", "AR PL UMing CN", "Droid Sans Fallback")


def cjk_font() -> str | None:
    """Name of an installed font that can draw Chinese, or None."""
    from matplotlib import font_manager

    def pick() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        for n in _CJK_FONTS:
            if n in names:
                return n
        for f in font_manager.fontManager.ttflist:
            if "CJK" in f.name or "Hei" in f.name or "Han Sans" in f.name:
                return f.name
        return None

    found = pick()
    if found is None:
        # matplotlib's font cache predates a font installed later: register system CJK fonts
        for fpath in font_manager.findSystemFonts():
            low = Path(fpath).name.lower()
            if any(k in low for k in ("cjk", "wqy", "simhei", "msyh", "droidsansfallback", "sourcehan")):
                try:
                    font_manager.fontManager.addfont(fpath)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = pick()
    return found


_FIG_LABELS = {
    "place_gap": ("托位缺口（个）", "各街道托位缺口（按政策目标）"),
    "places_per_1000": ("每千人口托位数", "各街道每千人口托位数"),
    "puhui_share": ("普惠托位占比", "各街道普惠托位占比"),
}


def plot_scorecard(scorecard: gpd.GeoDataFrame, path: str | Path, *, column: str = "place_gap",
                   title: str | None = None, dpi: int = 150) -> Path:
    """Static map of one scorecard column per 街道 with Chinese labels (PNG for reports).

    Parameters
    ----------
    scorecard : GeoDataFrame
        :func:`tuoyu_geo.indicators.street_scorecard` output.
    path : path
        PNG file to write (atomically).
    column : str
        Column to colour by (default ``place_gap``: places short of the target).
    title : str, optional
        Figure title (default: a Chinese title for the column).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .export import atomic_write

    if column not in scorecard.columns:
        raise ValueError(f"scorecard has no column {column!r}; fix: use one of {list(scorecard.columns)}")
    font = cjk_font()
    rc = {"axes.unicode_minus": False}
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    else:
        log.warning("no CJK font found: Chinese labels will show as boxes; fix: install one "
                    "(Debian/Ubuntu: apt-get install fonts-noto-cjk)")
    label, default_title = _FIG_LABELS.get(column, (column, column))
    sc = scorecard.to_crs(scorecard.estimate_utm_crs()) if scorecard.crs is not None else scorecard
    with matplotlib.rc_context(rc):
        fig, ax = plt.subplots(figsize=(8, 8.5))
        cmap = "Reds" if column == "place_gap" else "YlGn"
        sc.plot(column=column, ax=ax, cmap=cmap, edgecolor="#333", linewidth=0.8, legend=True,
                legend_kwds={"label": label, "shrink": 0.6}, missing_kwds={"color": "#ddd"})
        for _, r in sc.iterrows():
            p = r.geometry.representative_point()
            v = r[column]
            txt = f"{r.get('name', '')}\n{v:,.0f}" if isinstance(v, (int, float, np.number)) and column == "place_gap" \
                else f"{r.get('name', '')}\n{v:,.2f}" if isinstance(v, (float, np.floating)) else f"{r.get('name', '')}"
            ax.annotate(txt.replace("$", r"\$"), (p.x, p.y), ha="center", va="center", fontsize=7.5,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7})
        ax.set_title(title or default_title, fontsize=14)
        ax.set_axis_off()
        fig.tight_layout()
        path = Path(path)
        try:
            with atomic_write(path) as tmp:
                fig.savefig(tmp, dpi=dpi, format="png")
        finally:
            plt.close(fig)
    return path
