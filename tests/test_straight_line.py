"""The straight-line fallback (issue 12): an area without a walk network gets distances = straight
line × detour factor, every command runs, and every output says "直线距离 × factor".

Also: the datum check says when it cannot tell WGS-84 from GCJ-02, and the rules that need no
distance give the same answers with or without a network.
"""

from __future__ import annotations

import json
import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import synth
from shapely.geometry import Point

import tuoyu_geo as tg
from tuoyu_geo import DataError, settings
from tuoyu_geo.access import compute_access, isochrones
from tuoyu_geo.cli import main
from tuoyu_geo.network import StraightLineNet, WalkNet, area_engine

LABEL_13 = "直线距离 × 1.3（无路网，估算）"


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory):
    """The synthetic 4-街道 area without a network, factor 1.3 in area.toml."""
    return synth.write_area(tmp_path_factory.mktemp("nonet") / "area", extra="detour_factor = 1.3")


@pytest.fixture(scope="module")
def plain_area(plain_folder):
    return tg.load_area(plain_folder)


@pytest.fixture(scope="module")
def net_area(tmp_path_factory):
    """The same area with the full walk grid."""
    return tg.load_area(synth.write_area(tmp_path_factory.mktemp("net") / "area", network=True))


# ------------------------------------------------------------------ the distances


def test_default_factor_is_the_published_figure():
    """The default is the 25-city average detour index 1.324, and its source is named with the DOI."""
    assert settings.DETOUR_FACTOR == 1.324
    assert "1.324" in settings.DETOUR_SOURCE and "10.1080/19475683.2021.1966503" in settings.DETOUR_SOURCE


def test_distances_equal_geodesic_times_factor(plain_area):
    """Every stored community–institution distance = WGS-84 geodesic distance (pyproj.Geod, computed
    here from the lon/lat of the files) × 1.3, within 0.5 m; and a pair is stored exactly when that
    value is ≤ 1000 m (the 15-minute cutoff of national-2025).  The UTM scale error at 121.43 °E
    (≈ 150 km west of the zone's 123 °E meridian: k ≈ 0.99988) is ≤ 0.12 m on 770 m."""
    acc = compute_access(plain_area)
    assert acc.distance_model == "straight-line" and acc.detour_factor == 1.3
    com, inst = plain_area.communities, plain_area.institutions
    geod = pyproj.Geod(ellps="WGS84")
    n_checked = 0
    d = acc.dist_institutions.toarray()
    stored = np.zeros_like(d, dtype=bool)
    m = acc.dist_institutions.tocoo()
    stored[m.row, m.col] = True
    for i, c in enumerate(com.geometry):
        for j, p in enumerate(inst.geometry):
            _, _, g = geod.inv(c.x, c.y, p.x, p.y)
            want = 1.3 * g
            if abs(want - 1000.0) < 0.5:
                continue  # too close to the cutoff to tell
            assert stored[i, j] == (want <= 1000.0), (com.index[i], inst.index[j], want)
            if stored[i, j]:
                assert abs(d[i, j] - want) < 0.5
                n_checked += 1
    assert n_checked >= 12  # each community reaches at least its own 街道's institution


def test_coverage_flags_by_hand():
    """A tiny fixture laid out in metres (EPSG:32651, the area's UTM zone), factor 1.25, national-2025
    thresholds 300/500/1000 m.  One 普惠 institution P; communities east/north of it:

    ====  =============  ===========  ======  =======  =======
    id    straight (m)   × 1.25 (m)   ≤ 300   ≤ 500    ≤ 1000
    ====  =============  ===========  ======  =======  =======
    E     0 (same spot)  0            yes     yes      yes
    A     200            250          yes     yes      yes
    B     260            325          no      yes      yes
    C     700            875          no      no       yes
    D     820            1025         no      no       no (not stored; nearest NaN)
    ====  =============  ===========  ======  =======  =======
    """
    to_ll = pyproj.Transformer.from_crs(32651, 4326, always_xy=True)
    x0, y0 = pyproj.Transformer.from_crs(4326, 32651, always_xy=True).transform(*synth.node_lonlat(5, 6))
    offs = {"E": (0, 0), "A": (200, 0), "B": (0, 260), "C": (700, 0), "D": (820, 0)}
    com = gpd.GeoDataFrame({"community_id": list(offs), "name": list(offs), "population": [1000] * 5},
                           geometry=[Point(*to_ll.transform(x0 + dx, y0 + dy)) for dx, dy in offs.values()],
                           crs="EPSG:4326")
    inst = gpd.GeoDataFrame({"institution_id": ["P"], "name": ["P"], "category": ["普惠"], "places": [20]},
                            geometry=[Point(*to_ll.transform(x0, y0))], crs="EPSG:4326")
    area = tg.make_area(streets=synth.streets(), communities=com, institutions=inst, candidates=synth.candidates(),
                        detour_factor=1.25)
    assert area.metric_crs == "EPSG:32651"
    acc = compute_access(area)
    t = acc.communities.loc[list(offs)]
    assert t["within5_puhui"].tolist() == [True, True, False, False, False]
    assert t["within10_puhui"].tolist() == [True, True, True, False, False]
    assert t["within15_puhui"].tolist() == [True, True, True, True, False]
    np.testing.assert_allclose(t["nearest_puhui_m"].to_numpy()[:4], [0.0, 250.0, 325.0, 875.0], atol=0.01)
    assert math.isnan(t["nearest_puhui_m"]["D"])
    assert acc.dist_institutions.nnz == 4  # E's 0 m is stored (explicit zero)
    assert (t["snap_m"] == 0).all()


def test_metric_properties_and_zero():
    """Symmetric, co-located points 0 m apart (stored), triangle inequality on random points."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 2000, size=(40, 2))
    xy[1] = xy[0]
    net = StraightLineNet("EPSG:32651", detour_factor=1.4)
    pts = gpd.GeoSeries([Point(*p) for p in xy], crs="EPSG:32651")
    d = net.distance_matrix(pts, pts, max_distance_m=1e9)
    assert d.nnz == 40 * 40
    a = d.toarray()
    np.testing.assert_allclose(a, a.T)
    assert a[0, 1] == 0.0
    assert (a[:, :, None] <= a[:, None, :] + a.T[None, :, :] + 1e-9).all()  # d(i,k) ≤ d(i,j) + d(j,k)


def test_service_area_is_a_disc_of_reach_over_factor(plain_area):
    """The 15-minute (1000 m) service area of an institution is the disc of radius 1000/1.3 ≈ 769.2 m
    around it: area ≈ π r² (the 64-gon has 0.9984 of it) and the centre is the institution."""
    g = isochrones(plain_area, minutes=15).to_crs(plain_area.metric_crs)
    r = 1000.0 / 1.3
    assert g["area_m2"].between(0.997 * math.pi * r * r, math.pi * r * r).all()
    centre = plain_area.points("institutions")
    assert (g.geometry.centroid.distance(centre) < 0.5).all()


# ------------------------------------------------------------------ engine choice and settings


def test_area_engine_choice_and_warning_once(plain_area, net_area, caplog):
    """A network area gets its WalkNet; a plain one the fallback with area.toml's factor, and the
    warning names the mode once per area and factor."""
    assert isinstance(area_engine(net_area), WalkNet)
    renamed = plain_area.replace(name="warn-once")
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.network.straight"):
        n1 = area_engine(renamed)
        n2 = area_engine(renamed)
    assert isinstance(n1, StraightLineNet) and n1.detour_factor == n2.detour_factor == 1.3
    msgs = [r.getMessage() for r in caplog.records if "has no walk network" in r.getMessage()]
    assert len(msgs) == 1 and "直线距离 × 1.3" in msgs[0]


def test_default_factor_read_at_call_time(plain_area, monkeypatch):
    """Without detour_factor in area.toml the factor is settings.DETOUR_FACTOR when the engine is built."""
    a = plain_area.replace(detour_factor=None)
    monkeypatch.setattr(settings, "DETOUR_FACTOR", 1.5)
    assert area_engine(a).detour_factor == 1.5


@pytest.mark.parametrize("bad", [0.99, 0.0, -1.0, float("nan"), float("inf"), True, "1.3"])
def test_bad_detour_factor_is_refused(bad):
    with pytest.raises(DataError) as ei:
        StraightLineNet("EPSG:32651", detour_factor=bad)
    assert "is not a detour factor" in str(ei.value) and "fix" in str(ei.value)


def test_cli_detour_factor_below_one_is_a_usage_error(plain_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["analyze", str(plain_folder), "--out", str(tmp_path / "o"), "--detour-factor", "0.9"])
    assert ei.value.code == 2
    assert "detour factor" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ rules that need no distance


def test_distance_free_rules_do_not_depend_on_the_network(plain_area, net_area):
    """Places per 1000, 普惠 share, 一街道一普惠 and 一县区一示范 are the same with the grid network
    and without any network (straight line × 1.3 or × 3)."""
    cols = ["places_per_1000", "place_gap", "puhui_share", "has_puhui", "status_one_puhui", "status_places",
            "status_puhui_share"]
    ref = tg.assess(net_area, with_isochrones=False)
    for a in (plain_area, plain_area.replace(detour_factor=3.0)):
        got = tg.assess(a, with_isochrones=False)
        pd.testing.assert_frame_equal(pd.DataFrame(got.streets[cols]), pd.DataFrame(ref.streets[cols]))
        pd.testing.assert_frame_equal(got.districts, ref.districts)


# ------------------------------------------------------------------ every command, every output


def test_every_command_runs_without_a_network(plain_folder, tmp_path, capsys):
    """validate, info, access, analyze, plan, map (with --plan and --no-plan) and export exit 0 on
    the area without a network, and every output states 直线距离 × 1.3."""
    f = str(plain_folder)
    assert main(["validate", f]) == 0
    assert f"no walk network: walking distances = {LABEL_13}" in capsys.readouterr().out
    assert main(["info", f]) == 0
    capsys.readouterr()
    for cmd in (["access", f, "--out", str(tmp_path / "acc")], ["analyze", f, "--out", str(tmp_path / "an")],
                ["plan", f, "--out", str(tmp_path / "plan")]):
        assert main([*cmd, "--no-progress"]) == 0, cmd
        out = capsys.readouterr().out
        assert f"距离口径 distance: {LABEL_13}" in out, cmd
    plan_json = str(tmp_path / "plan" / "plan.json")
    saved = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert saved["nearest_puhui_distance"].startswith("straight-line × 1.3 (no walk network")
    assert main(["map", f, "--out", str(tmp_path / "m.html"), "--plan", plan_json, "--no-progress"]) == 0
    assert main(["map", f, "--out", str(tmp_path / "m0.html"), "--no-plan", "--no-progress"]) == 0
    for html in ("m.html", "m0.html"):
        assert f"距离口径：{LABEL_13}" in (tmp_path / html).read_text(encoding="utf-8")
    assert main(["export", f, "--out", str(tmp_path / "ex"), "--plan", plan_json, "--no-progress"]) == 0
    man = json.loads((tmp_path / "ex" / "manifest.json").read_text(encoding="utf-8"))
    assert man["distance_model"]["model"] == "straight-line" and man["distance_model"]["detour_factor"] == 1.3
    assert man["distance_model"]["label"] == LABEL_13
    params = pd.read_excel(tmp_path / "ex" / "tuoyu_plan.xlsx", sheet_name="方案参数")
    assert LABEL_13 in params["值"].astype(str).tolist()
    notes = pd.read_excel(tmp_path / "an" / "scorecard.xlsx", sheet_name="说明")
    row = notes[notes["项目"] == "距离口径"].iloc[0]
    assert row["数值"] == LABEL_13 and "绕行系数 1.3" in row["定义与来源"]


def test_coverage_reason_names_the_straight_line():
    """The plan's coverage reason says the walking circle was estimated by straight line × factor."""
    from tuoyu_geo.rules import SiteContext
    from tuoyu_geo.rules.sites import Coverage

    ctx = SiteContext(order=(0,), places={0: 20}, marginal={0: 12.0}, minutes=15.0, detour_factor=1.3)
    assert Coverage().explain_sites(None, ctx) == {0: "新增15分钟步行圈（无路网，按直线距离 × 1.3估算）内婴幼儿12人"}
    ctx = SiteContext(order=(0,), places={0: 20}, marginal={0: 12.0}, minutes=15.0)
    assert Coverage().explain_sites(None, ctx) == {0: "新增15分钟步行圈内婴幼儿12人"}


def test_cli_detour_factor_overrides_area_toml(plain_folder, tmp_path, capsys):
    assert main(["analyze", str(plain_folder), "--out", str(tmp_path / "o"), "--detour-factor", "2",
                 "--no-progress"]) == 0
    assert "直线距离 × 2（无路网，估算）" in capsys.readouterr().out


def test_network_outputs_say_network(net_area, tmp_path):
    """With a network, Access says "network" and the 说明 row says 步行路网距离 (no straight-line text)."""
    from tuoyu_geo.report.scorecard import write_scorecard

    a = tg.assess(net_area, with_isochrones=False)
    assert a.distance_model == "network" and a.detour_factor is None
    p = write_scorecard(tmp_path / "o", a)["xlsx"]
    notes = pd.read_excel(p, sheet_name="说明")
    assert notes.loc[notes["项目"] == "距离口径", "数值"].tolist() == ["步行路网距离"]
    assert not notes.astype(str).apply(lambda c: c.str.contains("直线距离 ×")).any().any()


# ------------------------------------------------------------------ the honest datum check


def test_datum_check_says_it_cannot_decide_without_a_network(plain_folder, caplog):
    with caplog.at_level(logging.WARNING):
        tg.load_area(plain_folder)
    (msg,) = [r.getMessage() for r in caplog.records if "cannot tell WGS-84 from GCJ-02" in r.getMessage()]
    for name in ("streets.geojson", "communities.geojson", "institutions.geojson", "candidates.geojson"):
        assert name in msg
    assert "no walk network" in msg and "walk network covering the area" in msg and "landmark" in msg


def test_datum_check_says_it_cannot_decide_when_points_are_away_from_roads(tmp_path, caplog):
    """A network of one road along grid column 8 (the S1/S2 and S3/S4 border): every point is within
    1000 m of it (reach check passes) but only ~40 % of the probes are within 300 m (columns 4 and 12
    are 648 m away), below the 75 % the datum check needs, so it warns instead of keeping quiet."""
    G = synth.grid_graph(cols=range(8, 9), rows=range(17))
    with caplog.at_level(logging.WARNING):
        tg.load_area(synth.write_area(tmp_path / "a", network=G))
    (msg,) = [r.getMessage() for r in caplog.records if "cannot tell WGS-84 from GCJ-02" in r.getMessage()]
    assert "walk.graphml" in msg and "communities.geojson" in msg and "within 300 m of a road" in msg


def test_datum_check_is_quiet_when_it_can_decide(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        tg.load_area(synth.write_area(tmp_path / "a", network=True))
    assert not [r for r in caplog.records if "cannot tell" in r.getMessage()]


def test_border_community_without_network_belongs_to_a_street(tmp_path, caplog):
    """Communities on shared 街道 borders in an area without a network (the datum check cannot help)
    belong to one of the 街道 sharing the border — on the S1/S2 border (grid node 8, 6) to S1, the
    first in layer order — never "outside every 街道" nor blamed on GCJ-02; its straight-line
    distance to the S2 institution I2 (node 10, 6: two cells ≈ 324.1 m east) is × 1.3 ≈ 421 m."""
    c = synth.communities()
    c.loc[0, "geometry"] = Point(*synth.node_lonlat(8, 6))
    c.loc[1, "geometry"] = Point(*synth.node_lonlat(8, 8))  # the corner of all four 街道 (a polygon vertex)
    c.loc[3, "geometry"] = Point(*synth.node_lonlat(10, 8))  # on the S2/S4 border, at a vertex of neither
    with caplog.at_level(logging.WARNING):
        a = tg.load_area(synth.write_area(tmp_path / "a", layers={"communities": c}, extra="detour_factor = 1.3"))
    assert a.communities.loc["C10", "street_id"] == "S1"
    assert a.communities.loc["C11", "street_id"] == "S1"  # on all four borders: the first in layer order
    assert a.communities.loc["C20", "street_id"] in ("S2", "S4")
    assert not [r for r in caplog.records if "outside" in r.getMessage()]
    d = compute_access(a).dist_institutions
    j = list(a.institutions.index).index("I2")
    _, _, g = pyproj.Geod(ellps="WGS84").inv(*synth.node_lonlat(8, 6), *synth.node_lonlat(10, 6))
    assert abs(d[0, j] - 1.3 * g) < 0.5 and abs(g - 324.1) < 0.5
