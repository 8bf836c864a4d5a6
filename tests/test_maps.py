"""Coverage map and PNG figure: escaping, layers, GCJ-02 shift, offline self-containment, and a
headless-Chromium render of the offline HTML with the network off.

Uses in-memory stand-ins for Access/scorecard/SitePlan (tests/_map_standins.py) so these tests do not
depend on the access/indicators/optimize modules.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import _map_standins as S  # noqa: E402  (tests/ is on sys.path under pytest's default import mode)
import numpy as np
import pytest

import tuoyu_geo as tg
from tuoyu_geo import maps

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built():
    return S.build()


@pytest.fixture(autouse=True)
def _fake_isochrones(monkeypatch):
    monkeypatch.setattr(tg.access, "isochrones", S.fake_isochrones, raising=False)


def _layers(m):
    return {c.layer_name: c for c in m._children.values() if isinstance(c, maps._FeatureLayer)}


def _features(layer):
    return json.loads(layer.data)["features"]


def test_layers_legend_and_control(built):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan)
    names = list(_layers(m))
    assert names[0].startswith("街道：每千人口托位数") and names[1].startswith("街道：15分钟普惠覆盖率")
    assert any(n.startswith("小区") for n in names)
    assert "现有托育机构（按类别）" in names and "候选站点" in names
    assert "推荐新建普惠站点（2处）" in names and "街道：方案后每千人口托位数" in names
    assert "现有普惠机构15分钟服务范围" in names and "推荐站点15分钟服务范围" in names
    assert any(isinstance(c, tg.maps.folium.LayerControl) for c in m._children.values())
    text = m.get_root().render()
    assert "推荐新建普惠站点" in text and "15分钟内有普惠托育" in text  # legend
    assert "tile.openstreetmap.org" in text
    # the coverage share layer is switchable and off at start
    assert not _layers(m)[names[1]].show


def test_communities_coloured_by_independent_coverage(built):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan)
    feats = _features(next(v for k, v in _layers(m).items() if k.startswith("小区")))
    assert len(feats) == len(area.communities)
    # independent: straight-line distance ≤ 1000 m to a 普惠 / any institution
    a = area.points("communities")
    b = area.points("institutions")
    d = np.hypot(a.x.values[:, None] - b.x.values[None, :], a.y.values[:, None] - b.y.values[None, :])
    ph = area.institutions["puhui"].to_numpy(bool)
    expect = np.where((d[:, ph] <= 1000).any(1), maps.COVERAGE_COLORS["puhui"],
                      np.where((d <= 1000).any(1), maps.COVERAGE_COLORS["any"], maps.COVERAGE_COLORS["none"]))
    assert [f["properties"]["_style"]["fillColor"] for f in feats] == list(expect)
    # radius grows with infants
    r = [f["properties"]["_style"]["radius"] for f in feats]
    infants = area.communities["infants"].to_numpy()
    assert r[int(np.argmax(infants))] == max(r) and r[int(np.argmin(infants))] == min(r)


def test_every_user_string_is_escaped(built):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan)
    esc = html.escape(S.EVIL, quote=True)
    seen = 0
    for layer in _layers(m).values():
        for f in _features(layer):
            for key in ("_popup", "_tip"):
                s = f["properties"].get(key, "")
                assert "<script>" not in s and S.EVIL not in s
                seen += esc in s
    assert seen >= 6  # street, community, institution, candidate, site name and site reason
    text = m.get_root().render()
    assert "<script>alert(1)" not in text
    assert "测试区 &lt;b&gt;&amp;" in text  # area name in title/legend
    attr = next(c for c in m._children.values() if isinstance(c, maps._Attribution))
    assert json.loads(attr.text_json) == html.escape(area.attribution)  # escaped, then JSON in a script
    assert attr.text_json in text and "<i>" not in attr.text_json
    # popups of recommended sites carry the plan's explanation, size, cost and newly covered infants
    star = _features(_layers(m)["推荐新建普惠站点（2处）"])[0]["properties"]["_popup"]
    assert "一街道一普惠：" + esc in star and "托大班×1+托小班×1" in star and "72.5 万元" in star
    assert "新增覆盖婴幼儿" in star and ">36<" in star


def test_gcj02_tiles_shift_all_drawn_data(built):
    area, acc, sc, plan = built
    w = maps.coverage_map(area, acc, sc, plan, tiles="none")
    g = maps.coverage_map(area, acc, sc, plan, tiles="amap")
    lw = _features(_layers(w)["现有托育机构（按类别）"])
    lg = _features(_layers(g)["现有托育机构（按类别）"])
    for fw, fg in zip(lw, lg, strict=True):
        x, y = fw["geometry"]["coordinates"]
        ex, ey = tg.crs.wgs84_to_gcj02(x, y)
        assert fg["geometry"]["coordinates"] == pytest.approx([float(ex), float(ey)], abs=2e-6)
        assert abs(fg["geometry"]["coordinates"][0] - x) > 1e-3  # a few hundred metres in Shanghai
    sw = _features(_layers(w)["街道：每千人口托位数（对比目标）"])[0]["geometry"]["coordinates"][0][0]
    sg = _features(_layers(g)["街道：每千人口托位数（对比目标）"])[0]["geometry"]["coordinates"][0][0]
    assert sg == pytest.approx([float(v) for v in tg.crs.wgs84_to_gcj02(*sw)], abs=2e-6)
    text = g.get_root().render()
    assert "autonavi.com" in text and "tile.openstreetmap.org" not in text
    assert "tile.openstreetmap.org" not in w.get_root().render()
    assert "gtimg.com" in maps.coverage_map(area, acc, sc, None, tiles="tencent").get_root().render()
    with pytest.raises(ValueError, match="unknown tiles"):
        maps.coverage_map(area, acc, sc, tiles="google")


def test_map_without_plan(built):
    area, acc, sc, _ = built
    m = maps.coverage_map(area, acc, sc)
    assert not any(n.startswith("推荐") for n in _layers(m))


def test_offline_html_is_self_contained(built, tmp_path):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan, offline=True)
    p = maps.save_map(m, tmp_path / "sub" / "map.html", offline=True)
    text = p.read_text(encoding="utf-8")
    assert maps.remote_references(text) == []
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", text)
    assert '"1.9.4"' in text  # the vendored Leaflet is inlined
    assert "tile.openstreetmap.org" not in text and "jquery" not in text.lower()
    assert [f.name for f in p.parent.iterdir()] == ["map.html"]  # no temp files left


def test_save_map_offline_strips_cdn_from_online_map(built, tmp_path):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan, tiles="none")
    online = maps.save_map(m, tmp_path / "online.html").read_text(encoding="utf-8")
    assert maps.remote_references(online) == [maps._LEAFLET_CDN + "leaflet.js", maps._LEAFLET_CDN + "leaflet.css"]
    assert "jquery" not in online.lower() and "bootstrap" not in online.lower()
    offline = maps.save_map(m, tmp_path / "offline.html", offline=True).read_text(encoding="utf-8")
    assert maps.remote_references(offline) == []
    assert '"1.9.4"' in offline


def test_save_map_unwritable_leaves_nothing(built, tmp_path):
    area, acc, sc, _ = built
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(tg.OutputError, match="afile"):
        maps.save_map(maps.coverage_map(area, acc, sc), blocker / "map.html")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["afile"]


def test_plot_scorecard_png(built, tmp_path, caplog):
    area, acc, sc, _ = built
    p = maps.plot_scorecard(sc, tmp_path / "gap.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert [f.name for f in tmp_path.iterdir()] == ["gap.png"]
    with pytest.raises(ValueError, match="no column"):
        maps.plot_scorecard(sc, tmp_path / "x.png", column="nope")


def test_cjk_font_present_or_warned(built, tmp_path, caplog, monkeypatch):
    if maps.cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk); figure falls back with a warning")
    monkeypatch.setattr(maps, "cjk_font", lambda: None)
    area, acc, sc, _ = built
    with caplog.at_level("WARNING", logger="tuoyu_geo.maps"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's missing-glyph warnings
        maps.plot_scorecard(sc, tmp_path / "gap.png")
    assert "fonts-noto-cjk" in caplog.text


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
def test_offline_map_renders_in_chromium_without_network(built, tmp_path):
    area, acc, sc, plan = built
    p = maps.save_map(maps.coverage_map(area, acc, sc, plan, offline=True), tmp_path / "map.html", offline=True)
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    assert "leaflet-container" in dom and "leaflet-overlay-pane" in dom
    assert "leaflet-control-layers" in dom and "推荐新建普惠站点（2处）" in dom
    n_paths = dom.count("leaflet-interactive")
    # 2 streets + 2+2 service areas + 6 communities + 3 institutions + 2 stars (candidates hidden)
    assert n_paths >= 2 + 4 + 6 + 3 + 2, n_paths
    assert dom.count('class="leaflet-marker-icon tuoyu-star') == 2
    assert "<script>alert(1)" not in dom
    assert "tile.openstreetmap.org" not in dom


@pytest.mark.browser
@browser
def test_popup_shows_escaped_name_as_text_in_chromium(built, tmp_path):
    area, acc, sc, plan = built
    m = maps.coverage_map(area, acc, sc, plan, offline=True)
    star = next(c.get_name() for c in m._children.values()
                if isinstance(c, maps._FeatureLayer) and c.layer_name.startswith("推荐新建"))
    p = maps.save_map(m, tmp_path / "map.html", offline=True)
    p.write_text(p.read_text(encoding="utf-8").replace(
        "</html>", f"<script>{star}.getLayers()[0].openPopup();</script></html>"), encoding="utf-8")
    dom, log = run_chromium(p.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    assert "leaflet-popup-content" in dom
    # the hostile name is displayed as text inside the popup, never parsed into a <script> element
    assert "推荐站点：&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "72.5 万元" in dom
    assert "<script>alert(1)" not in dom
