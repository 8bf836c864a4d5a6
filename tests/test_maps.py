"""report.maps on a real assessment: layers, coverage colours, escaping, GCJ-02 shift, offline
self-containment, drawing ``assessment.isochrones`` without computing anything, the PNG figure,
and a headless-Chromium render of the offline HTML with the network off.

The fixture is a real :func:`tuoyu_geo.pipeline.assess` run (with a site plan) on the synthetic
walk-grid area of ``tests/synth.py`` with hostile names (HTML, formulas) in every layer.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import synth  # tests/ is on sys.path under pytest's default import mode
from shapely.geometry import shape

import tuoyu_geo
from tuoyu_geo import OutputError
from tuoyu_geo import crs as tcrs
from tuoyu_geo.loading import load_area
from tuoyu_geo.pipeline import assess
from tuoyu_geo.plan import PlanOptions
from tuoyu_geo.report import figures, maps

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


def _layers(m):
    return {c.layer_name: c for c in m._children.values() if isinstance(c, maps.FeatureLayer)}


def _features(layer):
    return json.loads(layer.data)["features"]


def test_fixture_is_a_real_plan(a):
    assert a.plan is not None and {EVIL_SITE, FORMULA_SITE} <= set(a.plan.sites.index)
    assert set(a.isochrones["kind"]) == {"existing_puhui", "recommended"} and a.minutes == float(MK)


def test_layers_legend_and_control(a):
    m = maps.coverage_map(a)
    names = list(_layers(m))
    n = len(a.plan.sites)
    assert names[0] == "街道：每千人口托位数（对比目标）" and names[1] == f"街道：{MK}分钟普惠覆盖率"
    assert "街道：方案后每千人口托位数" in names and f"推荐新建普惠站点（{n}处）" in names
    assert {f"现有普惠机构{MK}分钟服务范围", f"推荐站点{MK}分钟服务范围", "候选站点", "现有托育机构（按类别）"} <= set(names)
    assert any(k.startswith("小区") for k in names)
    assert any(isinstance(c, maps.folium.LayerControl) for c in m._children.values())
    assert not _layers(m)[names[1]].show and not _layers(m)["候选站点"].show
    text = m.get_root().render()
    assert "推荐新建普惠站点" in text and f"{MK}分钟内有普惠托育" in text and "tile.openstreetmap.org" in text


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


def test_communities_coloured_by_independent_coverage(a):
    feats = _features(next(v for k, v in _layers(maps.coverage_map(a)).items() if k.startswith("小区")))
    assert len(feats) == len(a.area.communities)
    # independent of the within{MK}_* columns: the distance matrix against the threshold
    acc = a.access
    coo = acc.dist_institutions.tocoo()
    d = np.full(coo.shape, np.inf)
    d[coo.row, coo.col] = coo.data  # stored entries are distances (0 included), absent = out of reach
    near = d <= acc.thresholds_m[float(MK)]
    ph = a.area.institutions["puhui"].reindex(acc.institution_ids).to_numpy(bool)
    expect = np.where(near[:, ph].any(1), maps.COVERAGE_COLORS["puhui"],
                      np.where(near.any(1), maps.COVERAGE_COLORS["any"], maps.COVERAGE_COLORS["none"]))
    order = list(acc.community_ids)
    got = dict(zip(a.area.communities.index, (f["properties"]["_style"]["fillColor"] for f in feats), strict=True))
    assert [got[c] for c in order] == list(expect)
    assert len(set(expect)) >= 2  # the test area has covered and uncovered communities
    r = [f["properties"]["_style"]["radius"] for f in feats]
    infants = a.area.communities["infants"].to_numpy()
    assert r[int(np.argmax(infants))] == max(r) and r[int(np.argmin(infants))] == min(r)


def test_every_user_string_is_escaped(a):
    m = maps.coverage_map(a)
    esc = html.escape(EVIL, quote=True)
    seen = set()
    for name, layer in _layers(m).items():
        for f in _features(layer):
            for key in ("_popup", "_tip"):
                s = f["properties"].get(key, "")
                assert "<script>" not in s and EVIL not in s
                if esc in s:
                    seen.add(name)
    # street, community, institution, candidate and recommended-site layers all carry the name
    assert len(seen) >= 5, seen
    text = m.get_root().render()
    assert "<script>alert(1)" not in text and html.escape(AREA_NAME) in text
    attr = next(c for c in m._children.values() if isinstance(c, maps.Attribution))
    assert json.loads(attr.text_json) == html.escape(ATTRIBUTION) and "<i>" not in attr.text_json
    star = next(f["properties"]["_popup"] for f in _features(_layers(m)[f"推荐新建普惠站点（{len(a.plan.sites)}处）"])
                if f"<td>{EVIL_SITE}</td>" in f["properties"]["_popup"])
    site = a.plan.sites.loc[EVIL_SITE]
    assert f"<b>推荐站点：{esc}</b>" in star and f"{site['cost']:,.1f} 万元" in star
    assert html.escape(site["reason"], quote=True) in star


def test_gcj02_tiles_shift_all_drawn_data(a):
    w, g = maps.coverage_map(a, tiles="none"), maps.coverage_map(a, tiles="amap")
    for layer in ("现有托育机构（按类别）", f"推荐新建普惠站点（{len(a.plan.sites)}处）"):
        for fw, fg in zip(_features(_layers(w)[layer]), _features(_layers(g)[layer]), strict=True):
            x, y = fw["geometry"]["coordinates"]
            ex, ey = tcrs.wgs84_to_gcj02(x, y)
            assert fg["geometry"]["coordinates"] == pytest.approx([float(ex), float(ey)], abs=2e-6)
            assert abs(fg["geometry"]["coordinates"][0] - x) > 1e-3  # a few hundred metres in Shanghai
    sw = _features(_layers(w)["街道：每千人口托位数（对比目标）"])[0]["geometry"]["coordinates"][0][0]
    sg = _features(_layers(g)["街道：每千人口托位数（对比目标）"])[0]["geometry"]["coordinates"][0][0]
    assert sg == pytest.approx([float(v) for v in tcrs.wgs84_to_gcj02(*sw)], abs=2e-6)
    text = g.get_root().render()
    assert "autonavi.com" in text and "tile.openstreetmap.org" not in text
    assert "tile.openstreetmap.org" not in w.get_root().render()
    assert "gtimg.com" in maps.coverage_map(a, tiles="tencent").get_root().render()
    with pytest.raises(ValueError, match="unknown tiles"):
        maps.coverage_map(a, tiles="google")


def test_map_without_plan(a0):
    names = list(_layers(maps.coverage_map(a0)))
    assert not any(n.startswith("推荐") for n in names) and "街道：方案后每千人口托位数" not in names
    assert "现有普惠机构15分钟服务范围" in names  # without a plan the map shows 15 minutes
    bare = dataclasses.replace(a0, isochrones=None)  # assess(..., with_isochrones=False)
    assert not any("服务范围" in n for n in _layers(maps.coverage_map(bare)))


def test_offline_html_is_self_contained(a, tmp_path):
    p = maps.save_map(maps.coverage_map(a, offline=True), tmp_path / "sub" / "map.html")
    text = p.read_text(encoding="utf-8")
    assert maps.remote_references(text) == []
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", text)
    assert '"1.9.4"' in text and "tile.openstreetmap.org" not in text and "jquery" not in text.lower()
    assert [f.name for f in p.parent.iterdir()] == ["map.html"]


def test_save_map_offline_strips_cdn_from_online_map(a, tmp_path):
    m = maps.coverage_map(a, tiles="none")
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


def test_no_cjk_font_is_warned_with_the_fix(a, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    with caplog.at_level("WARNING", logger="tuoyu_geo.report.figures"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's missing-glyph warnings
        figures.plot_scorecard(a.streets, tmp_path / "gap.png")
    assert "fonts-noto-cjk" in caplog.text
    caplog.clear()
    monkeypatch.setattr(figures, "cjk_font", lambda: "DejaVu Sans")
    with caplog.at_level("WARNING", logger="tuoyu_geo.report.figures"):
        assert figures._rc()["font.family"][0] == "DejaVu Sans"
    assert "fonts-noto-cjk" not in caplog.text


# ------------------------------------------------------------------------------------ browser

def run_chromium(url: str, tmp: Path, *, screenshot: Path | None = None) -> tuple[str, str]:
    """Load a page in headless Chromium with all host names unresolvable; (DOM, stderr log)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={tmp / 'chromium-profile'}",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--window-size=1400,1000"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    r = subprocess.run(args + [url], capture_output=True, text=True, timeout=120, cwd=tmp)
    return r.stdout, r.stderr


browser = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                             "(Debian: apt-get install chromium); offline map render test skipped")


@pytest.mark.browser
@browser
def test_chromium_detects_js_errors(tmp_path):
    """Harness check: an uncaught error in a page is visible in the captured log."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    _, log = run_chromium(page.as_uri(), tmp_path)
    assert "Uncaught" in log


@pytest.mark.browser
@browser
def test_offline_map_renders_in_chromium_without_network(a, tmp_path):
    p = maps.save_map(maps.coverage_map(a, offline=True), tmp_path / "map.html", offline=True)
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    n = len(a.plan.sites)
    assert "leaflet-container" in dom and "leaflet-control-layers" in dom and f"推荐新建普惠站点（{n}处）" in dom
    expect = len(a.streets) + len(a.isochrones) + len(a.area.communities) + len(a.area.institutions)
    assert dom.count("leaflet-interactive") >= expect
    assert dom.count('class="leaflet-marker-icon tuoyu-star') == n
    assert "<script>alert(1)" not in dom and "tile.openstreetmap.org" not in dom


@pytest.mark.browser
@browser
def test_popup_shows_escaped_name_as_text_in_chromium(a, tmp_path):
    m = maps.coverage_map(a, offline=True)
    star = next(c for c in m._children.values()
                if isinstance(c, maps.FeatureLayer) and c.layer_name.startswith("推荐新建"))
    k = next(i for i, f in enumerate(_features(star)) if f"<td>{EVIL_SITE}</td>" in f["properties"]["_popup"])
    p = maps.save_map(m, tmp_path / "map.html", offline=True)
    p.write_text(p.read_text(encoding="utf-8").replace(
        "</html>", f"<script>{star.get_name()}.getLayers()[{k}].openPopup();</script></html>"), encoding="utf-8")
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    assert "推荐站点：&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script>alert(1)" not in dom
