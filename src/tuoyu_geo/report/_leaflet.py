"""Leaflet building blocks of the coverage map: vendored assets, self-contained HTML, and the
folium elements (feature layer, legend, attribution) that need nothing but Leaflet.

The vendored Leaflet 1.9.4 (BSD-2) lives in ``tuoyu_geo/_static`` and is read with
:mod:`importlib.resources`; offline maps inline it and reference no remote file at all.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from importlib import resources
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from .._errors import OutputError

log = logging.getLogger(__name__)

__all__ = ["LEAFLET_CDN", "Attribution", "FeatureLayer", "InlineLeaflet", "Legend", "escape",
           "inline_assets", "json_for_script", "remote_references", "static_assets"]

LEAFLET_CDN = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/"


def escape(value: Any) -> str:
    """HTML-escape any value (None/NaN → '')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def static_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images as data: URIs) from the vendored copy."""
    root = resources.files("tuoyu_geo") / "_static"
    js = (root / "leaflet.js").read_text(encoding="utf-8")
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        raw = (root / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"

    return js, re.sub(r"url\(images/([\w.-]+\.png)\)", data_uri, css)


def _safe_inline(text: str, tag: str) -> str:
    # a literal "</script" or "</style" inside inlined code would end the element early
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside a <script> element."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class InlineLeaflet(MacroElement):
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
        js, css = static_assets()
        self.js = _safe_inline(js, "script")
        self.css = _safe_inline(css, "style")


def remote_references(html_text: str) -> list[str]:
    """URLs of remote ``<script src>`` and ``<link href>`` tags in an HTML page."""
    pat = r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)"
    return re.findall(pat, html_text, flags=re.IGNORECASE)


def inline_assets(html_text: str) -> str:
    """Make rendered folium HTML self-contained.

    Leaflet ``<script src>``/``<link href>`` tags pointing at a CDN are replaced by the vendored
    files; every other remote script or stylesheet is removed.

    Raises
    ------
    OutputError
        If a remote script or stylesheet is still referenced afterwards.
    """
    js, css = static_assets()
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
        raise OutputError(f"offline map still references remote files: {left[:3]}\n"
                          "  fix: build the map with coverage_map(..., offline=True)")
    return out


class FeatureLayer(folium.map.Layer):
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
        self.data = json_for_script({"type": "FeatureCollection", "features": features})
        self.n_features = len(features)


class Legend(MacroElement):
    """A fixed-position HTML legend and title (Chinese), already escaped."""

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


class Attribution(MacroElement):
    """Data attribution (escaped, then JSON inside a script) in the map's attribution control."""

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
        self.text_json = json_for_script(escape(text))
