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
from ..writer import terminal_text

log = logging.getLogger(__name__)

__all__ = ["LEAFLET_CDN", "PANES", "Attribution", "Controls", "FeatureLayer", "InlineLeaflet", "LayerControl",
           "Legend", "MapSetup", "StreetLabels", "escape", "inline_assets", "json_for_script", "remote_references",
           "static_assets"]

LEAFLET_CDN = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/"


def escape(value: Any) -> str:
    """HTML-escape any value (None/NaN → ''), without control characters, escape sequences or
    bidirectional overrides."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(terminal_text(value), quote=True)


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


#: map panes (z-index) so that the drawing order never depends on which layer was switched on last
PANES = {"streets": 402, "areas": 404, "communities": 406, "points": 408, "labels": 640}

#: JS helpers shared by every feature layer (defined once, in the page header)
_HELPERS_JS = """
function tuoyuStyle(base, p, key, pal) {
  var s = Object.assign({}, base, (pal && p._c != null) ? pal[p._c] : {}, p._s || {});
  if (p._r != null) { s.radius = p._r; }
  if (key && pal && p._ca != null) { Object.assign(s, pal[p._ca]); }
  return Object.assign(s, (key && p[key]) || {});
}
function tuoyuPopup(heads, v, lookup) {
  if (typeof v === "string") { return v; }
  var h = "<div class='tp'><b>" + v[0] + "</b><table>";
  for (var i = 1; i < v.length; i++) {
    var x = typeof v[i] === "number" ? lookup[v[i]] : v[i];
    if (x !== null) { h += "<tr><th>" + heads[i - 1] + "</th><td>" + x + "</td></tr>"; }
  }
  return h + "</table></div>";
}
function tuoyuLayer(data, o) {
  return L.geoJSON(data, {
    pane: o.pane,
    style: function (f) { return tuoyuStyle(o.style, f.properties, o.variant, o.palette); },
    pointToLayer: function (f, latlng) {
      var s = tuoyuStyle(o.style, f.properties, o.variant, o.palette);
      if ((f.properties._k || o.kind) === "star") {
        return L.marker(latlng, {icon: L.divIcon({className: "tuoyu-star",
            html: "<div style='font-size:" + s.size + "px;line-height:1;color:" + s.color +
                  ";text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #000'>\\u2605</div>",
            iconSize: [s.size, s.size], iconAnchor: [s.size / 2, s.size / 2]}),
          zIndexOffset: 1000, riseOnHover: true});
      }
      s.pane = o.pane;
      return L.circleMarker(latlng, s);
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      if (p._p) {  // narrow enough for a phone, and panned clear of the title
        layer.bindPopup(tuoyuPopup(o.heads, p._p, o.lookup), {maxWidth: Math.min(380, window.innerWidth - 60),
                                                              autoPanPaddingTopLeft: [10, 80]});
      }
      var tip = p._t || (o.tipTitle && p._p ? p._p[0] : null);
      if (tip) { layer.bindTooltip(tip, {sticky: true}); }
    }
  });
}
"""


def _shared_values(features: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Features whose popup values used by two or more features (e.g. a 街道 name, a coverage
    class) are replaced by indices into the returned lookup list (copies; the input is kept)."""
    counts: dict[str, int] = {}
    for f in features:
        p = f["properties"].get("_p")
        if isinstance(p, list):
            for x in p[1:]:
                if isinstance(x, str) and len(x) > 3:
                    counts[x] = counts.get(x, 0) + 1
    lookup = [x for x, n in counts.items() if n > 1]
    index = {x: i for i, x in enumerate(lookup)}
    if not index:
        return features, []
    out = []
    for f in features:
        p = f["properties"].get("_p")
        if isinstance(p, list):
            f = {**f, "properties": {**f["properties"], "_p": [p[0]] + [index.get(x, x) if isinstance(x, str) else x
                                                                       for x in p[1:]]}}
        out.append(f)
    return out, lookup


class MapSetup(MacroElement):
    """The shared JS helpers (header) and the map panes (after the map is made); add it first."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <script>{{ this.helpers }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        {%- for name, z in this.panes.items() %}
        {{ this._parent.get_name() }}.createPane("tuoyu-{{ name }}").style.zIndex = {{ z }};
        {%- endfor %}
        {{ this._parent.get_name() }}.getPane("tuoyu-labels").style.pointerEvents = "none";
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "TuoyuSetup"
        self.helpers = _safe_inline(_HELPERS_JS, "script")
        self.panes = PANES


class FeatureLayer(folium.map.Layer):
    """A GeoJSON layer whose features carry compact style, popup and tooltip data.

    Every feature's properties hold only what differs between features: ``_s`` (Leaflet path
    options over the layer's ``style``; ``radius`` for circles, ``size``/``color`` for stars),
    ``_c`` (index into the layer's ``palette``, a list of path options applied before ``_s``),
    ``_r`` (circle radius), ``_a`` (options used instead by an ``after`` view of the same data;
    ``_ca``: the after view's ``palette`` index), ``_k`` (point symbol
    "circle" | "star", else the layer's ``kind``), ``_p`` (popup: ``[title, value, ...]`` of
    escaped HTML, a ``None`` value drops its row; the row labels are the layer's ``heads``) and
    ``_t`` (escaped tooltip; absent with ``tip_title`` → the popup title).  A popup value that
    several features share is written once, in the layer's ``lookup``, and the features hold its
    index.  Needs nothing but Leaflet.

    ``view_of`` draws the data of another FeatureLayer again (written once in the page) with the
    ``_a`` options of its features: the after-plan colours of the same communities.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {%- if this.view_of is none %}
        var {{ this.get_name() }}_data = {{ this.data }};
        {%- endif %}
        var {{ this.get_name() }} = tuoyuLayer({{ this.source_name }}_data, {{ this.options }});
        {% endmacro %}
    """)

    def __init__(self, features: list[dict[str, Any]] | None = None, *, name: str, show: bool = True,
                 style: dict[str, Any] | None = None, heads: list[str] | None = None, pane: str = "areas",
                 tip_title: bool = False, kind: str | None = None, view_of: FeatureLayer | None = None,
                 overlay: bool = True, control: bool = True, palette: list[dict[str, Any]] | None = None) -> None:
        super().__init__(name=name, overlay=overlay, control=control, show=show)
        if pane not in PANES:
            raise ValueError(f"unknown pane {pane!r}; use one of {', '.join(PANES)}")
        self._name = "TuoyuLayer"
        self.view_of = view_of
        if view_of is None:
            self.features, self.lookup = _shared_values(list(features or []))
            self.data = json_for_script({"type": "FeatureCollection", "features": self.features})
        else:
            self.features, self.lookup, self.data = view_of.features, view_of.lookup, ""
        self.n_features = len(self.features)
        self.style, self.heads = dict(style or {}), list(heads or [])
        self.palette = [dict(p) for p in (palette or [])]
        options = {"pane": f"tuoyu-{pane}", "style": self.style, "heads": self.heads, "tipTitle": tip_title,
                   "kind": kind, "lookup": self.lookup, "variant": "_a" if view_of is not None else None}
        if self.palette:
            options["palette"] = self.palette
        self.options = json_for_script(options)

    @property
    def source_name(self) -> str:
        return (self.view_of or self).get_name()

    def popup_html(self, i: int) -> str:
        """The popup HTML of feature ``i``, as the page builds it (for tests and checks)."""
        v = self.features[i]["properties"].get("_p", "")
        if isinstance(v, str):
            return v
        values = [self.lookup[x] if isinstance(x, int) else x for x in v[1:]]
        rows = "".join(f"<tr><th>{h}</th><td>{x}</td></tr>" for h, x in zip(self.heads, values, strict=False)
                       if x is not None)
        return f"<div class='tp'><b>{v[0]}</b><table>{rows}</table></div>"

    def feature_style(self, i: int) -> dict[str, Any]:
        """The Leaflet options of feature ``i`` (with the ``_a`` options in an after view)."""
        p, after = self.features[i]["properties"], self.view_of is not None
        s = {**self.style, **(self.palette[p["_c"]] if "_c" in p else {}), **p.get("_s", {})}
        if "_r" in p:
            s["radius"] = p["_r"]
        if after and "_ca" in p:
            s.update(self.palette[p["_ca"]])
        return {**s, **(p.get("_a", {}) if after else {})}


class StreetLabels(folium.map.Layer):
    """街道 names as text (DivIcons) at representative points.

    ``labels`` are (escaped name, lat, lon), in priority order: :class:`Controls` hides a name
    that would overlap an earlier one.  They never take clicks (pane ``tuoyu-labels``).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup({{ this.data }}.map(function (r) {
            return L.marker([r[1], r[2]], {pane: "tuoyu-labels", interactive: false, keyboard: false,
                icon: L.divIcon({className: "tuoyu-street-label", html: "<span>" + r[0] + "</span>",
                                 iconSize: null})});
        }));
        {% endmacro %}
    """)

    def __init__(self, labels: list[tuple[str, float, float]], *, name: str = "街道名称") -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "TuoyuLabels"
        self.labels = list(labels)
        self.data = json_for_script([list(r) for r in self.labels])


class LayerControl(folium.LayerControl):
    """folium's layer control, collapsed to its button on narrow screens (< 600 px)."""

    _template = Template("""
        {% macro script(this,kwargs) %}
            var {{ this.get_name() }} = L.control.layers(
                { {%- for key, val in this.base_layers.items() %}{{ key|tojson }}: {{ val }},{% endfor %} },
                { {%- for key, val in this.overlays.items() %}{{ key|tojson }}: {{ val }},{% endfor %} },
                {position: {{ this.options.position|tojson }}, autoZIndex: false,
                 collapsed: window.innerWidth < {{ this.narrow_px }}}
            ).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, *, position: str = "topright", narrow_px: int = 600) -> None:
        super().__init__(position=position, collapsed=False)
        self.narrow_px = narrow_px


class Controls(MacroElement):
    """Metric scale bar, fit to the area beside the legend, 街道 names decluttered, legend collapse.

    Add it last.  ``bounds`` is [[south, west], [north, east]].  On screens narrower than
    ``narrow_px`` the legend starts collapsed; on wider ones the area is fitted to the right of
    the legend and left of the layer control, so no 街道 lies under them.  After every zoom a
    街道 name that would overlap an earlier one (in the order given: largest 街道 first) is hidden.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            L.control.scale({metric: true, imperial: false, maxWidth: 160, position: "bottomright"}).addTo(map);
            var wide = window.innerWidth >= {{ this.narrow_px }};
            var legend = document.getElementById("tuoyu-legend");
            if (legend && !wide) { legend.removeAttribute("open"); }
            map.fitBounds({{ this.bounds }}, wide ? {paddingTopLeft: [{{ this.pad_left }}, 50],
                                                     paddingBottomRight: [{{ this.pad_right }}, 20], animate: false}
                                                  : {paddingTopLeft: [10, 70], paddingBottomRight: [10, 40],
                                                     animate: false});
            function declutter() {  // hide a 街道 name that would overlap one drawn before it
                var kept = [];
                map.getContainer().querySelectorAll(".tuoyu-street-label span").forEach(function (el) {
                    el.style.visibility = "";
                    var r = el.getBoundingClientRect();
                    var hit = kept.some(function (k) {
                        return r.left < k.right + 4 && r.right > k.left - 4 && r.top < k.bottom && r.bottom > k.top;
                    });
                    if (hit) { el.style.visibility = "hidden"; } else { kept.push(r); }
                });
            }
            map.on("zoomend overlayadd", declutter);
            declutter();
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]], *, narrow_px: int = 600, pad_left: int = 250,
                 pad_right: int = 270) -> None:
        super().__init__()
        self._name = "TuoyuControls"
        self.bounds = json_for_script(bounds)
        self.narrow_px, self.pad_left, self.pad_right = narrow_px, pad_left, pad_right


class Legend(MacroElement):
    """A title and a collapsible legend (``<details>``; starts closed on narrow screens), escaped."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>
          .tuoyu-legend {position: fixed; z-index: 9999; bottom: 24px; left: 10px; background: rgba(255,255,255,.93);
            padding: 6px 10px; border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.4);
            font: 12px/1.45 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; max-height: 75vh;
            overflow-y: auto; max-width: 240px;}
          .tuoyu-legend summary {cursor: pointer; font-weight: bold; font-size: 13px;}
          .tuoyu-legend h4 {margin: 4px 0 2px; font-size: 12px;}
          .tuoyu-legend i {display: inline-block; width: 12px; height: 12px; margin-right: 5px;
            vertical-align: -2px; border: 1px solid #555;}
          .tuoyu-legend i.c {border-radius: 50%;}
          .tuoyu-title {position: fixed; z-index: 9999; top: 10px; left: 60px; background: rgba(255,255,255,.93);
            padding: 6px 12px; border-radius: 6px; box-shadow: 0 1px 5px rgba(0,0,0,.4);
            font: bold 15px "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;}
          .tuoyu-star {background: none; border: none;}
          .tuoyu-street-label {background: none; border: none;}
          .tuoyu-street-label span {display: block; transform: translate(-50%, -50%); white-space: nowrap;
            font: bold 13px "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #222;
            text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff;}
          .tp {font-size: 13px;} .tp table {margin-top: 3px;}
          .tp th {text-align: left; padding-right: 8px; font-weight: normal; color: #555; vertical-align: top;
            white-space: nowrap;}
          .leaflet-container {background: #f2efe9;}
          @media (max-width: {{ this.narrow_px - 1 }}px) {
            .tuoyu-legend {max-height: 55vh; max-width: 70vw; font-size: 11px; bottom: 30px;}
            .tuoyu-title {left: 52px; right: 56px; font-size: 13px; padding: 4px 8px;}
            .tuoyu-street-label span {font-size: 11px;}
            .leaflet-control-attribution {max-width: calc(100vw - 20px); white-space: nowrap; overflow: hidden;
              text-overflow: ellipsis;}
            .leaflet-control-attribution:hover {white-space: normal;}
          }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="tuoyu-title">{{ this.title }}</div>
        <details class="tuoyu-legend" id="tuoyu-legend" open><summary>图例</summary>{{ this.body }}</details>
        {% endmacro %}
    """)

    def __init__(self, title: str, body: str, *, narrow_px: int = 600) -> None:
        super().__init__()
        self._name = "TuoyuLegend"
        self.title = title
        self.body = body
        self.narrow_px = narrow_px


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
