"""report.maps on a real assessment: layers, coverage colours, escaping, GCJ-02 shift, offline
self-containment, drawing ``assessment.isochrones`` without computing anything, the PNG figure,
and a headless-Chromium render of the offline HTML with the network off.

The fixture is a real :func:`tuoyu_geo.pipeline.assess` run (with a site plan) on the synthetic
walk-grid area of ``tests/synth.py`` with hostile names (HTML, formulas) in every layer.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import cdp  # tests/ is on sys.path under pytest's default import mode
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import synth
from shapely.geometry import Point, Polygon, shape

import tuoyu_geo
from tuoyu_geo import OutputError
from tuoyu_geo import crs as tcrs
from tuoyu_geo.loading import load_area
from tuoyu_geo.pipeline import assess
from tuoyu_geo.plan import PlanOptions
from tuoyu_geo.report import maps

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "<script>alert(1)</script> \"q\" 'a' & b"
FORMULA = "=HYPERLINK(\"x\")"
AREA_NAME, ATTRIBUTION = "测试区 <b>&", "测试数据 <i>© test</i>"
#: candidates with hostile names, required in the plan so that they are recommended
EVIL_SITE, FORMULA_SITE = "K36", "K38"
#: coverage minutes of the plan (at 10 min the grid has covered and uncovered communities)
MK = "10"


def build_area(folder: Path, *, files_extra: bool = False):
    """The synthetic walk-grid area with hostile names, written to ``folder`` and loaded from it."""
    st, cm, ins, cd = synth.streets(), synth.communities(), synth.institutions(), synth.candidates()
    st.loc[0, "name"] = EVIL
    cm.loc[0, "name"], cm.loc[3, "name"] = EVIL, FORMULA
    ins.loc[1, "name"] = EVIL
    cd.loc[cd["site_id"] == EVIL_SITE, "name"] = EVIL
    cd.loc[cd["site_id"] == FORMULA_SITE, "name"] = FORMULA
    synth.write_area(folder, layers={"streets": st, "communities": cm, "institutions": ins, "candidates": cd},
                     network=True, policy="wuxi-2025")
    toml = folder / "area.toml"
    text = toml.read_text(encoding="utf-8").replace('name = "synthetic"', f'name = "{AREA_NAME}"\n'
                                                    f'attribution = "{ATTRIBUTION}"')
    toml.write_text(text, encoding="utf-8")
    return load_area(folder)


def build_assessment(folder: Path, *, plan: bool = True):
    area = build_area(folder)
    return assess(area, "wuxi-2025", plan=PlanOptions(required=(EVIL_SITE, FORMULA_SITE), minutes=float(MK)) if plan else None,
                  minutes=(5.0, float(MK), 15.0))


@pytest.fixture(scope="module")
def a(tmp_path_factory):
    return build_assessment(tmp_path_factory.mktemp("area"))


@pytest.fixture(scope="module")
def a0(a):
    """The same area without a plan."""
    return assess(a.area, a.policy)


def _layers(el, found=None):
    """Every FeatureLayer of a map by name, also those inside the before/after groups."""
    found = {} if found is None else found
    for c in el._children.values():
        if isinstance(c, maps.FeatureLayer):
            found[c.layer_name] = c
        elif isinstance(c, maps.folium.FeatureGroup):
            _layers(c, found)
    return found


def _groups(m):
    """The before/after groups of a map: {name: (shown, [layer names])}."""
    return {c.layer_name: (c.show, [k.layer_name for k in c._children.values() if isinstance(k, maps.FeatureLayer)])
            for c in m._children.values() if isinstance(c, maps.folium.FeatureGroup)}


def _features(layer):
    return json.loads(layer.data if layer.view_of is None else layer.view_of.data)["features"]


def _flat(coords):
    """All numbers in a (nested) coordinate list."""
    return [coords] if isinstance(coords, float | int) else [v for c in coords for v in _flat(c)]


class _Tags(HTMLParser):
    """Remote resources of a page: script src, link href, img src, and tile-layer URL templates."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts = [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        url = dict(attrs).get({"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag, ""))
        if url:
            self.urls.append(url)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def remote_resources(text):
    """What the page would fetch: remote (http, https, protocol-relative) script/link/img/iframe
    tags and CSS url(...), and every tile-layer URL template."""
    tags = _Tags()
    tags.feed(text)
    tiles = re.findall(r"L\.tileLayer\(\s*[\"']([^\"']+)", "\n".join(tags.scripts))
    css = re.findall(r"url\(\s*[\"']?((?:https?:)?//[^\"')\s]+)", text)
    return [u for u in tags.urls + css if re.match(r"(https?:)?//", u)] + tiles


def test_fixture_is_a_real_plan(a):
    assert a.plan is not None and {EVIL_SITE, FORMULA_SITE} <= set(a.plan.sites.index)
    assert set(a.isochrones["kind"]) == {"existing_puhui", "recommended"} and a.minutes == float(MK)


def test_layers_groups_legend_and_control(a):
    m = maps.coverage_map(a)
    n = len(a.plan.sites)
    before, after = maps.scenario_names(n)
    assert (before, after) == ("方案前（现状）", f"方案后（新增{n}处推荐站点）")
    comm = f"小区（按{MK}分钟覆盖着色，大小=婴幼儿数）"
    assert _groups(m) == {
        before: (False, ["街道：每千人口托位数（对比目标）", comm]),
        after: (True, ["街道：方案后每千人口托位数", f"推荐站点{MK}分钟服务范围", f"{comm}（方案后）",
                       f"推荐新建普惠站点（{n}处）"]),
    }
    overlays = [c.layer_name for c in m._children.values() if isinstance(c, maps.folium.map.Layer)
                and not isinstance(c, maps.folium.FeatureGroup)]
    assert overlays == [f"街道：{MK}分钟普惠覆盖率（现状）", f"现有普惠机构{MK}分钟服务范围", "候选站点",
                        "现有托育机构（按类别）", "街道名称"]
    layers = _layers(m)
    assert not layers[f"街道：{MK}分钟普惠覆盖率（现状）"].show and not layers["候选站点"].show
    text = m.get_root().render()
    # the layer control lists the two groups as base layers (radio buttons) and the rest as overlays
    ctl = re.search(r"L\.control\.layers\(\s*\{(.*?)\},\s*\{(.*?)\},", text, re.S)
    keys = [[json.loads(s) for s in re.findall(r"(\"(?:[^\"\\]|\\.)+\"):", g)] for g in ctl.groups()]
    assert keys == [[before, after], overlays]
    assert "推荐新建普惠站点（方案后）" in text and f"{MK}分钟内有普惠托育" in text


def test_scale_bar_is_metric_only(a):
    text = maps.coverage_map(a).get_root().render()
    calls = re.findall(r"L\.control\.scale\((.*?)\)", text)
    assert len(calls) == 1  # folium's default scale (metric + miles) is not added as well
    assert re.search(r"metric:\s*true", calls[0]) and re.search(r"imperial:\s*false", calls[0])


def test_legend_and_layer_control_collapse_on_narrow_screens(a):
    text = maps.coverage_map(a).get_root().render()
    assert re.search(r"<details class=\"tuoyu-legend\" id=\"tuoyu-legend\" open><summary>图例</summary>", text)
    assert "@media (max-width: 599px)" in text  # smaller legend and title on phones
    assert 'if (legend && !wide) { legend.removeAttribute("open"); }' in text
    assert "var wide = window.innerWidth >= 600;" in text
    assert "collapsed: window.innerWidth < 600" in text


def test_one_label_per_street(a):
    m = maps.coverage_map(a)
    labels = next(c for c in m._children.values() if isinstance(c, maps.StreetLabels))
    names = [n for n, _, _ in labels.labels]
    # the fixture's 街道: the hostile name (escaped) and 第2街道 … 第4街道
    assert sorted(names) == sorted([html.escape(EVIL, quote=True), "第2街道", "第3街道", "第4街道"])
    by_name = {html.escape(n, quote=True): g for n, g in zip(a.area.streets["name"], a.area.streets.geometry,
                                                            strict=True)}
    for name, lat, lon in labels.labels:
        assert by_name[name].contains(Point(lon, lat))  # inside its own 街道
    assert "<script>alert(1)" not in m.get_root().render()


def test_offline_by_default_nothing_remote(a, tmp_path):
    p = maps.save_map(maps.coverage_map(a), tmp_path / "map.html")
    text = p.read_text(encoding="utf-8")
    assert remote_resources(text) == [] and maps.remote_references(text) == []
    assert '"1.9.4"' in text and "L.tileLayer" not in text and "jquery" not in text.lower()
    # the harness finds what it is meant to find
    online = maps.coverage_map(a, tiles="osm").get_root().render()
    assert maps.LEAFLET_CDN + "leaflet.js" in remote_resources(online)
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in remote_resources(online)


def test_own_tile_server_keeps_the_map_offline(a):
    url = "http://10.1.2.3/tiles/{z}/{x}/{y}.png"
    text = maps.coverage_map(a, tiles=url).get_root().render()
    assert f'L.tileLayer(\n                "{url}"' in text or url in re.findall(r"L\.tileLayer\(\s*\"([^\"]+)", text)
    assert '"1.9.4"' in text and maps.LEAFLET_CDN not in text  # Leaflet inlined
    from tuoyu_geo import cli

    assert cli._tiles(url) == url and cli._tiles("osm") == "osm"
    with pytest.raises(argparse.ArgumentTypeError, match="URL template"):
        cli._tiles("http://10.1.2.3/tiles/x.png")


def test_coordinates_rounded_and_outlines_simplified(a):
    m = maps.coverage_map(a)
    for name, layer in _layers(m).items():
        for f in _features(layer):
            for v in _flat(f["geometry"]["coordinates"]):
                assert len(repr(v).partition(".")[2]) <= maps.DECIMALS, (name, v)
    drawn = [shape(f["geometry"]) for f in _features(_layers(m)["街道：每千人口托位数（对比目标）"])]
    orig = list(a.streets.geometry)
    assert sum(shapely.get_num_coordinates(g) for g in drawn) <= sum(shapely.get_num_coordinates(g) for g in orig)
    # within the tolerance (3 m) plus rounding (≤ 0.8 m) of the true outline, in metres
    metric = a.area.metric_crs
    for d, o in zip(gpd.GeoSeries(drawn, crs=4326).to_crs(metric), gpd.GeoSeries(orig, crs=4326).to_crs(metric),
                    strict=True):
        assert d.is_valid and d.hausdorff_distance(o) <= maps.STREET_TOLERANCE_M + 0.8


def test_simplify_polygons_by_hand():
    """A 100 m square with one extra vertex 1 m off its bottom edge: the vertex goes at a 3 m
    tolerance (1 m < 3 m) and stays at 0.5 m; ring coordinates 6 → 5 (closed ring: 4 corners +
    the repeated first point).  Two squares sharing an edge (a valid coverage) stay gap- and
    overlap-free."""
    x0, y0 = 500_000.0, 3_400_000.0  # UTM 51N, near Shanghai
    bump = Polygon([(x0, y0), (x0 + 50, y0 - 1), (x0 + 100, y0), (x0 + 100, y0 + 100), (x0, y0 + 100)])
    gdf = gpd.GeoDataFrame(geometry=[bump], crs=32651).to_crs(4326)
    assert shapely.get_num_coordinates(maps.simplify_polygons(gdf, 32651, tolerance_m=3.0).iloc[0]) == 5
    assert shapely.get_num_coordinates(maps.simplify_polygons(gdf, 32651, tolerance_m=0.5).iloc[0]) == 6
    left = Polygon([(x0 - 100, y0), (x0, y0), (x0 + 1, y0 + 50), (x0, y0 + 100), (x0 - 100, y0 + 100)])
    right = Polygon([(x0, y0), (x0 + 100, y0), (x0 + 100, y0 + 100), (x0, y0 + 100), (x0 + 1, y0 + 50)])
    pair = gpd.GeoDataFrame(geometry=[left, right], crs=32651).to_crs(4326)
    s = maps.simplify_polygons(pair, 32651, tolerance_m=3.0).to_crs(32651)
    assert s.iloc[0].intersection(s.iloc[1]).area < 1e-3
    assert s.union_all().area == pytest.approx(20_000.0, rel=1e-6)


def test_row_labels_written_once_per_layer_not_per_feature(a):
    """Popups carry values only: a row label appears once per layer that uses it, however many
    communities there are (before this it was written once per community)."""
    m = maps.coverage_map(a)
    text = m.get_root().render()
    comm = [v for k, v in _layers(m).items() if k.startswith("小区")]
    assert len(comm) == 2 and comm[1].view_of is comm[0]  # the after view reuses the data
    assert text.count("最近普惠机构步行距离") == 2 and len(_features(comm[0])) == len(a.area.communities) > 2
    assert text.count('"type":"Point"') == sum(len(_features(v)) for v in _layers(m).values()
                                               if v.view_of is None and _features(v)[0]["geometry"]["type"] == "Point")


def test_draws_the_assessment_isochrones_and_computes_nothing(a, monkeypatch):
    def forbidden(*args, **kw):
        raise AssertionError("maps must not compute access or isochrones")

    for name in ("compute_access", "isochrones"):
        monkeypatch.setattr(tuoyu_geo.access, name, forbidden)
    layers = _layers(maps.coverage_map(a))
    iso = a.isochrones
    for kind, layer in (("existing_puhui", f"现有普惠机构{MK}分钟服务范围"), ("recommended", f"推荐站点{MK}分钟服务范围")):
        feats = _features(layers[layer])
        part = iso[iso["kind"] == kind]
        assert len(feats) == len(part) > 0
        # drawn shapes are the (simplified) service areas: same place, same size within a few %
        for f, geom in zip(feats, part.geometry, strict=True):
            drawn = shape(f["geometry"])
            assert drawn.intersection(geom).area / geom.area > 0.95


def _expected_colours(acc, puhui):
    """Coverage colour per community from the distance matrix against the threshold."""
    coo = acc.dist_institutions.tocoo()
    d = np.full(coo.shape, np.inf)
    d[coo.row, coo.col] = coo.data  # stored entries are distances (0 included), absent = out of reach
    near = d <= acc.thresholds_m[float(MK)]
    ph = puhui.reindex(acc.institution_ids).to_numpy(bool)
    expect = np.where(near[:, ph].any(1), maps.COVERAGE_COLORS["puhui"],
                      np.where(near.any(1), maps.COVERAGE_COLORS["any"], maps.COVERAGE_COLORS["none"]))
    return dict(zip(acc.community_ids, expect, strict=True))


def test_communities_coloured_by_independent_coverage_before_and_after(a):
    layers = _layers(maps.coverage_map(a))
    before, after = (v for k, v in layers.items() if k.startswith("小区"))
    assert len(_features(before)) == len(a.area.communities)
    ids = list(a.area.communities.index)
    want = _expected_colours(a.access, a.area.institutions["puhui"])
    got = {c: before.feature_style(i)["fillColor"] for i, c in enumerate(ids)}
    assert got == want and len(set(want.values())) >= 2  # covered and uncovered communities
    want_after = _expected_colours(a.access_after, a.plan.area_after.institutions["puhui"])
    got_after = {c: after.feature_style(i)["fillColor"] for i, c in enumerate(ids)}
    assert got_after == want_after and got_after != got  # the plan covers more communities
    r = [before.feature_style(i)["radius"] for i in range(len(ids))]
    infants = a.area.communities["infants"].to_numpy()
    assert r[int(np.argmax(infants))] == max(r) and r[int(np.argmin(infants))] == min(r)


def test_city_map_communities_are_one_compact_canvas_layer(a, monkeypatch):
    """Above ``COMMUNITY_CANVAS_ABOVE`` communities (here forced to 0) the map is drawn on a canvas
    and the communities are still one GeoJSON layer (drawn again after the plan), one feature per
    community, but each holds a palette index and a radius instead of a style object; colours are
    checked against the distance matrix, popups against the ordinary map.  Rounding to 5 decimals
    moves a point by ≤ 0.5e-5° per axis: ≤ 0.55 m north–south (× 110,574 m/°) and ≤ 0.48 m
    east–west (× 111,320 · cos 31.17° m/°), so ≤ √(0.55² + 0.48²) = 0.73 m."""
    plain = [v for k, v in _layers(maps.coverage_map(a)).items() if k.startswith("小区")][0]
    monkeypatch.setattr(maps, "COMMUNITY_CANVAS_ABOVE", 0)
    m = maps.coverage_map(a)
    assert '"preferCanvas": true' in m.get_root().render()
    before, after = (v for k, v in _layers(m).items() if k.startswith("小区"))
    assert after.view_of is before and len(before.palette) == 3
    feats = _features(before)
    ids = list(a.area.communities.index)
    assert len(feats) == len(ids)
    assert all(set(f["properties"]) <= {"_c", "_ca", "_r", "_p"} and "_s" not in f["properties"] for f in feats)
    want = _expected_colours(a.access, a.area.institutions["puhui"])
    assert {c: before.feature_style(i)["fillColor"] for i, c in enumerate(ids)} == want
    want_after = _expected_colours(a.access_after, a.plan.area_after.institutions["puhui"])
    assert {c: after.feature_style(i)["fillColor"] for i, c in enumerate(ids)} == want_after != want
    assert [before.feature_style(i)["radius"] for i in range(len(ids))] == \
        [plain.feature_style(i)["radius"] for i in range(len(ids))]
    assert [before.popup_html(i) for i in range(len(ids))] == [plain.popup_html(i) for i in range(len(ids))]
    metric = a.area.metric_crs
    drawn = gpd.GeoSeries([Point(f["geometry"]["coordinates"]) for f in feats], crs=4326).to_crs(metric)
    true = a.area.points("communities").loc[ids].to_crs(metric)
    moved = drawn.distance(true.reset_index(drop=True))
    assert moved.max() <= 0.73  # the grid fixture's points need no rounding: see the next test


def test_point_rounding_stays_within_stated_metres():
    """2,000 random points over 0.1° × 0.1° at 31.1–31.2° N: drawn at 5 decimals, none moves more
    than 0.73 m (bound worked out in the test above); random points do get rounded (> 0.3 m)."""
    rng = np.random.default_rng(3)
    pts = gpd.GeoSeries(gpd.points_from_xy(121.4 + rng.random(2000) * 0.1, 31.1 + rng.random(2000) * 0.1), crs=4326)
    feats = maps._point_features(pts, [{} for _ in range(len(pts))])
    drawn = gpd.GeoSeries([Point(f["geometry"]["coordinates"]) for f in feats], crs=4326)
    assert all(len(repr(v).partition(".")[2]) <= maps.DECIMALS for f in feats for v in f["geometry"]["coordinates"])
    moved = drawn.to_crs(32651).distance(pts.to_crs(32651))
    assert 0.3 < moved.max() <= 0.73


def test_dissolve_by_street_by_hand():
    """Street A: unit squares [0,1]² and [0.5,1.5]×[0,1] overlap by 0.5 → merged area 1.5, count 2;
    street B: one unit square → area 1, count 1; a facility without a 街道 goes under ""."""
    sq = lambda x, y: Polygon([(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)])  # noqa: E731
    iso = gpd.GeoDataFrame({"id": ["f1", "f2", "f3", "f4"]}, geometry=[sq(0, 0), sq(0.5, 0), sq(5, 5), sq(9, 9)],
                           crs=32651)
    out = maps.dissolve_by_street(iso, pd.Series({"f1": "A", "f3": "B", "f2": "A"}))
    assert list(out["street_id"]) == ["A", "B", ""] and list(out["count"]) == [2, 1, 1]
    assert list(out.area) == pytest.approx([1.5, 1.0, 1.0])


def test_city_map_service_areas_merged_per_street(a, monkeypatch):
    """Above ``ISO_DISSOLVE_ABOVE`` areas of a kind (forced to 0) the map draws one area per 街道
    of the facilities: as many features as 街道 with recommended sites, each matching the union of
    that 街道's service areas (computed here with shapely) within the drawing tolerance."""
    monkeypatch.setattr(maps, "ISO_DISSOLVE_ABOVE", 0)
    layer = _layers(maps.coverage_map(a))[f"推荐站点{MK}分钟服务范围"]
    metric = a.area.metric_crs
    drawn = gpd.GeoSeries([shape(f["geometry"]) for f in _features(layer)], crs=4326).to_crs(metric)
    iso = a.isochrones[a.isochrones["kind"] == "recommended"].to_crs(metric)
    street = a.area.candidates["street_id"].reindex(iso["id"]).to_numpy()
    unions = {s: shapely.union_all(iso.geometry.to_numpy()[street == s]) for s in set(street)}
    assert len(drawn) == len(unions) == a.plan.sites["street_id"].nunique() >= 2
    matched = set()
    for d in drawn:
        s, u = max(unions.items(), key=lambda kv: d.intersection(kv[1]).area)
        assert d.intersection(u).area / d.union(u).area > 0.97, s
        matched.add(s)
    assert matched == set(unions)
    tips = [f["properties"]["_t"] for f in _features(layer)]
    assert sorted(int(re.search(r"（(\d+)处合并）", t).group(1)) for t in tips) == \
        sorted(int((street == s).sum()) for s in unions)


def test_every_user_string_is_escaped(a):
    m = maps.coverage_map(a)
    esc = html.escape(EVIL, quote=True)
    seen = set()
    for name, layer in _layers(m).items():
        for i, f in enumerate(_features(layer)):
            for s in (layer.popup_html(i), f["properties"].get("_t", "")):
                assert "<script>" not in s and EVIL not in s
                if esc in s:
                    seen.add(name)
    # street, community, institution, candidate and recommended-site layers all carry the name
    assert len(seen) >= 5, seen
    text = m.get_root().render()
    assert "<script>alert(1)" not in text and html.escape(AREA_NAME) in text
    attr = next(c for c in m._children.values() if isinstance(c, maps.Attribution))
    assert json.loads(attr.text_json) == html.escape(ATTRIBUTION) and "<i>" not in attr.text_json
    stars = _layers(m)[f"推荐新建普惠站点（{len(a.plan.sites)}处）"]
    star = next(s for s in (stars.popup_html(i) for i in range(stars.n_features)) if f"<td>{EVIL_SITE}</td>" in s)
    site = a.plan.sites.loc[EVIL_SITE]
    assert f"<b>推荐站点：{esc}</b>" in star and f"{site['cost']:,.1f} 万元" in star
    assert html.escape(site["reason"], quote=True) in star


def test_gcj02_tiles_shift_all_drawn_data(a):
    w, g = maps.coverage_map(a, tiles="none"), maps.coverage_map(a, tiles="amap")
    tol = 1.1 * 10.0 ** -maps.DECIMALS  # both sides rounded to DECIMALS places
    for layer in ("现有托育机构（按类别）", f"推荐新建普惠站点（{len(a.plan.sites)}处）"):
        for fw, fg in zip(_features(_layers(w)[layer]), _features(_layers(g)[layer]), strict=True):
            x, y = fw["geometry"]["coordinates"]
            ex, ey = tcrs.wgs84_to_gcj02(x, y)
            assert fg["geometry"]["coordinates"] == pytest.approx([float(ex), float(ey)], abs=tol)
            assert abs(fg["geometry"]["coordinates"][0] - x) > 1e-3  # a few hundred metres in Shanghai
    sw = shape(_features(_layers(w)["街道：每千人口托位数（对比目标）"])[0]["geometry"])
    sg = shape(_features(_layers(g)["街道：每千人口托位数（对比目标）"])[0]["geometry"])
    shifted = shapely.transform(sw, lambda xy: np.column_stack(tcrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    assert sg.hausdorff_distance(shifted) < tol and sg.hausdorff_distance(sw) > 1e-3
    text = g.get_root().render()
    assert "autonavi.com" in text and "tile.openstreetmap.org" not in text
    assert "tile.openstreetmap.org" not in w.get_root().render()
    assert "gtimg.com" in maps.coverage_map(a, tiles="tencent").get_root().render()
    with pytest.raises(ValueError, match="unknown tiles"):
        maps.coverage_map(a, tiles="google")


def test_map_without_plan(a0):
    m = maps.coverage_map(a0)
    names = list(_layers(m))
    assert not any(n.startswith("推荐") for n in names) and "街道：方案后每千人口托位数" not in names
    assert _groups(m) == {}  # nothing to switch between
    assert "现有普惠机构15分钟服务范围" in names  # without a plan the map shows 15 minutes
    assert "切换" not in next(c for c in m._children.values() if isinstance(c, maps.Legend)).body
    bare = dataclasses.replace(a0, isochrones=None)  # assess(..., with_isochrones=False)
    assert not any("服务范围" in n for n in _layers(maps.coverage_map(bare)))


def test_offline_html_is_self_contained(a, tmp_path):
    p = maps.save_map(maps.coverage_map(a, offline=True), tmp_path / "sub" / "map.html")
    text = p.read_text(encoding="utf-8")
    assert maps.remote_references(text) == [] and remote_resources(text) == []
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", text)
    assert '"1.9.4"' in text and "tile.openstreetmap.org" not in text and "jquery" not in text.lower()
    assert [f.name for f in p.parent.iterdir()] == ["map.html"]


def test_save_map_offline_strips_cdn_from_online_map(a, tmp_path):
    m = maps.coverage_map(a, tiles="none", offline=False)
    online = maps.save_map(m, tmp_path / "online.html").read_text(encoding="utf-8")
    assert maps.remote_references(online) == [maps.LEAFLET_CDN + "leaflet.js", maps.LEAFLET_CDN + "leaflet.css"]
    offline = maps.save_map(m, tmp_path / "offline.html", offline=True).read_text(encoding="utf-8")
    assert maps.remote_references(offline) == [] and '"1.9.4"' in offline


def test_save_map_unwritable_leaves_nothing(a0, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="afile"):
        maps.save_map(maps.coverage_map(a0), blocker / "map.html")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["afile"]


def test_plot_scorecard_png(a, tmp_path):
    p = maps.plot_scorecard(a.streets, tmp_path / "gap.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert [f.name for f in tmp_path.iterdir()] == ["gap.png"]
    with pytest.raises(ValueError, match="no column"):
        maps.plot_scorecard(a.streets, tmp_path / "x.png", column="nope")
    assert [f.name for f in tmp_path.iterdir()] == ["gap.png"]


# ------------------------------------------------------------------------------------ browser

def run_chromium(url: str, tmp: Path, *, screenshot: Path | None = None,
                 size: tuple[int, int] = (1400, 1000)) -> tuple[str, str]:
    """Load a page in headless Chromium with all host names unresolvable; (DOM, stderr log)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={tmp / 'chromium-profile'}",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", f"--window-size={size[0]},{size[1]}"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    r = subprocess.run(args + [url], capture_output=True, text=True, timeout=120, cwd=tmp)
    return r.stdout, r.stderr


browser = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                             "(Debian: apt-get install chromium); offline map render test skipped")


@pytest.mark.browser
@browser
def test_chromium_detects_js_errors(tmp_path):
    """Harness check: an uncaught error in a page is visible in the captured log (both harnesses)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    _, log = run_chromium(page.as_uri(), tmp_path)
    assert "Uncaught" in log
    value, errors = cdp.render(CHROMIUM, page.as_uri(), tmp_path, width=390, height=844, expression="1 + 1")
    assert value == 2 and len(errors) == 1 and "notDefinedAnywhere" in errors[0]


@pytest.mark.browser
@browser
def test_offline_map_renders_in_chromium_without_network(a, tmp_path):
    p = maps.save_map(maps.coverage_map(a, offline=True), tmp_path / "map.html", offline=True)
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    n = len(a.plan.sites)
    assert "leaflet-container" in dom and "leaflet-control-layers" in dom and maps.scenario_names(n)[1] in dom
    expect = len(a.streets) + len(a.isochrones) + len(a.area.communities) + len(a.area.institutions)
    assert dom.count("leaflet-interactive") >= expect
    assert dom.count('class="leaflet-marker-icon tuoyu-star') == n
    assert "<script>alert(1)" not in dom and "tile.openstreetmap.org" not in dom


@pytest.mark.browser
@browser
def test_popup_shows_escaped_name_as_text_in_chromium(a, tmp_path):
    m = maps.coverage_map(a, offline=True)
    star = next(v for k, v in _layers(m).items() if k.startswith("推荐新建"))
    k = next(i for i in range(star.n_features) if f"<td>{EVIL_SITE}</td>" in star.popup_html(i))
    p = maps.save_map(m, tmp_path / "map.html", offline=True)
    p.write_text(p.read_text(encoding="utf-8").replace(
        "</html>", f"<script>{star.get_name()}.getLayers()[{k}].openPopup();</script></html>"), encoding="utf-8")
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    assert "推荐站点：&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert(1)" not in dom
    # every row as built in Python (values shared by several sites come from the layer's lookup)
    tds = re.findall(r"<td>(.*?)</td>", star.popup_html(k))
    assert len(tds) == 9 and any(isinstance(x, int) for x in _features(star)[k]["properties"]["_p"])
    for td in tds:  # the DOM serialises text with &, <, > escaped and quotes as they are
        assert f"<td>{html.escape(html.unescape(td), quote=False)}</td>" in dom, td


#: measures the rendered page (a JS expression whose value is returned as JSON)
PROBE = """(function () {
  function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  function paths(color) { return document.querySelectorAll('path.leaflet-interactive[fill="' + color + '"]').length; }
  var out = {w: window.innerWidth, h: window.innerHeight};
  var legend = document.getElementById("tuoyu-legend");
  out.legend_open = legend.open; out.legend = box(legend);
  var ctl = document.querySelector(".leaflet-control-layers");
  out.control_expanded = ctl.classList.contains("leaflet-control-layers-expanded"); out.control = box(ctl);
  out.scale = Array.from(document.querySelectorAll(".leaflet-control-scale-line")).map(function (e) {
    return e.textContent; });
  out.labels = Array.from(document.querySelectorAll(".tuoyu-street-label span")).map(function (e) {
    return [e.textContent, e.style.visibility !== "hidden", box(e)]; });
  out.bases = Array.from(document.querySelectorAll(".leaflet-control-layers-base label")).map(function (e) {
    return [e.textContent.trim(), e.querySelector("input").checked]; });
  out.after = {stars: document.querySelectorAll(".tuoyu-star").length, green: paths("GREEN")};
  document.querySelector(".leaflet-control-layers-base input").click();  // switch to before the plan
  out.before = {stars: document.querySelectorAll(".tuoyu-star").length, green: paths("GREEN")};
  document.querySelectorAll(".leaflet-control-layers-base input")[1].click();  // and back
  return out;
})()"""


def probe(a, tmp_path, size, screenshot=None):
    """Render the default (offline) map at exactly ``size`` with the network off; the probe's figures."""
    p = maps.save_map(maps.coverage_map(a), tmp_path / "map.html")
    out, errors = cdp.render(CHROMIUM, p.as_uri(), tmp_path, width=size[0], height=size[1],
                             expression=PROBE.replace("GREEN", maps.COVERAGE_COLORS["puhui"]), screenshot=screenshot)
    assert errors == []
    return out


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _overlap(r, s):
    return r[0] < s[2] and s[0] < r[2] and r[1] < s[3] and s[1] < r[3]


@pytest.mark.browser
@browser
def test_desktop_1400x1000_in_chromium(a, tmp_path):
    """Wide screen: legend and layer control open, 街道 names readable and clear of both, metric
    scale only, and the before/after switch redraws sites and community colours."""
    png = tmp_path / "desktop.png"
    out = probe(a, tmp_path, (1400, 1000), screenshot=png)
    assert (out["w"], out["h"]) == (1400, 1000) and png_size(png) == (1400, 1000)
    assert out["legend_open"] and out["control_expanded"]
    assert len(out["scale"]) == 1 and re.fullmatch(r"\d+ k?m", out["scale"][0]), out["scale"]
    names = sorted(n for n, _, _ in out["labels"])
    assert names == sorted([EVIL, "第2街道", "第3街道", "第4街道"])  # shown as text, not run as HTML
    for name, shown, r in out["labels"]:
        assert shown and 0 <= r[0] and r[2] <= 1400 and 0 <= r[1] and r[3] <= 1000, (name, r)
        assert not _overlap(r, out["legend"]) and not _overlap(r, out["control"]), name
    n = len(a.plan.sites)
    before, after = maps.scenario_names(n)
    assert out["bases"] == [[before, False], [after, True]]
    # green = communities with a 普惠 institution within reach: counted independently of the map
    green = maps.COVERAGE_COLORS["puhui"]
    want_before = sum(v == green for v in _expected_colours(a.access, a.area.institutions["puhui"]).values())
    want_after = sum(v == green for v in _expected_colours(a.access_after,
                                                           a.plan.area_after.institutions["puhui"]).values())
    assert out["after"] == {"stars": n, "green": want_after} and out["before"] == {"stars": 0, "green": want_before}
    assert want_after > want_before


@pytest.mark.browser
@browser
def test_phone_390x844_in_chromium(a, tmp_path):
    """Narrow screen: the legend starts closed (a small button), the layer control collapsed."""
    png = tmp_path / "phone.png"
    out = probe(a, tmp_path, (390, 844), screenshot=png)
    assert (out["w"], out["h"]) == (390, 844) and png_size(png) == (390, 844)
    assert not out["legend_open"] and not out["control_expanded"]
    lg = out["legend"]
    assert (lg[2] - lg[0]) * (lg[3] - lg[1]) < 0.03 * 390 * 844  # a button, not 65 % of the screen
    assert len(out["scale"]) == 1 and re.fullmatch(r"\d+ k?m", out["scale"][0])
    assert sum(shown for _, shown, _ in out["labels"]) >= 1
    shown = [r for _, s, r in out["labels"] if s]
    assert not any(_overlap(r, s) for i, r in enumerate(shown) for s in shown[:i])  # decluttered


@pytest.mark.browser
@browser
def test_street_names_that_would_overlap_are_hidden_in_chromium(tmp_path):
    """Two names at one point, a third 0.01° east, a fourth far away.  At the fitted zoom 12
    (2¹²·256/360 ≈ 2913 px per degree of longitude) 0.01° is 29 px, less than a 7-character
    name (≈ 90 px): only the first (the largest 街道 comes first) and the far one are shown.
    Three levels in (8×: 233 px) the third is clear of the first and shows again; the second,
    on top of the first, stays hidden."""
    m = maps.folium.Map(location=[31.2, 121.4], zoom_start=12, tiles=None)
    m.default_js, m.default_css = [], []
    m.add_child(maps.InlineLeaflet())
    m.add_child(maps.MapSetup())
    maps.StreetLabels([("甲街道街道街道", 31.2, 121.4), ("乙街道街道街道", 31.2, 121.4),
                       ("丙街道街道街道", 31.2, 121.41), ("丁街道", 31.25, 121.45)]).add_to(m)
    m.add_child(maps.Legend("t", "b"))
    m.add_child(maps.Controls([[31.19, 121.39], [31.26, 121.46]]))
    p = maps.save_map(m, tmp_path / "labels.html")
    expr = """(function () {
      function shown() { return Array.from(document.querySelectorAll(".tuoyu-street-label span"))
        .filter(function (e) { return e.style.visibility !== "hidden"; }).map(function (e) { return e.textContent; }); }
      var map = MAP; var out = {zoom: map.getZoom(), fitted: shown()};
      map.setZoom(map.getZoom() + 3, {animate: false}); out.zoomed = shown(); return out;
    })()""".replace("MAP", m.get_name())
    out, errors = cdp.render(CHROMIUM, p.as_uri(), tmp_path, width=800, height=600, expression=expr)
    assert errors == []
    assert out["zoom"] == 12 and out["fitted"] == ["甲街道街道街道", "丁街道"], out
    assert out["zoomed"] == ["甲街道街道街道", "丙街道街道街道", "丁街道"], out


@pytest.mark.browser
@browser
def test_city_map_canvas_colours_in_chromium(a, tmp_path, monkeypatch):
    """The compact community features, drawn by the page's own JS on a canvas: every circle's
    fill colour and radius, before and after the plan, equal ``feature_style`` (itself checked
    against the distance matrix above); no script errors."""
    monkeypatch.setattr(maps, "COMMUNITY_CANVAS_ABOVE", 0)
    m = maps.coverage_map(a)
    before, after = (v for k, v in _layers(m).items() if k.startswith("小区"))
    p = maps.save_map(m, tmp_path / "map.html")
    expr = ("JSON.stringify([BEFORE, AFTER].map(function (g) { return g.getLayers().map(function (l) {"
            " return [l.options.fillColor, l.options.radius, l._renderer instanceof L.Canvas]; }); }))"
            ).replace("BEFORE", before.get_name()).replace("AFTER", after.get_name())
    out, errors = cdp.render(CHROMIUM, p.as_uri(), tmp_path, width=800, height=600, expression=expr)
    assert errors == []
    got = json.loads(out)
    for layer, drawn in zip((before, after), got, strict=True):
        want = [[layer.feature_style(i)["fillColor"], layer.feature_style(i)["radius"]] for i in range(layer.n_features)]
        assert [d[:2] for d in drawn] == want
    assert all(d[2] for d in got[1]) and got[0] != got[1]  # the after view is shown: drawn on a canvas
