"""Access: coverage, nearest distances, 2SFCA and isochrones on a hand-drawn grid; bundled area speed."""

from __future__ import annotations

import time

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point, box

import tuoyu_geo as tg
from tuoyu_geo import datasets
from tuoyu_geo.access import compute_access, gaussian_weight, isochrones, within
from tuoyu_geo.area import make_area
from tuoyu_geo.network import WalkNet

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0

# Hand-drawn network (metres relative to X0, Y0):
#
#                N(400,400)
#                 |
#   W(0,0) ——— C(400,0) ——— E(800,0) ——————— F(1600,0)
#                 |
#                S(400,-400)
#
# communities (infants, population):       snapped to              snap   along-edge
#   K1 (100, 30)   (10,  500)               W–C at (100,0)          30     300 to C
#   K2 (700, -40)  (20, 1000)               C–E at (700,0)          40     300 to C, 100 to E
#   K3 (1500, 50)  (30, 1500)               E–F at (1500,0)         50     700 to E, 100 to F
#   K4 (380, -300) (40, 2000)               C–S at (400,-300)       20     300 to C
# institutions:
#   I1 (410, 100) 30 places, 普惠           C–N at (400,100)        10     100 to C
#   I2 (1600, 20) 20 places, not 普惠       E–F at F                20     800 to E
# candidate:
#   P1 (0, 20)                               W–C at W                20     400 to C
#
# walking distances (snap + network + snap), cutoff 1000 m:
#   K1–I1 = 30+300+100+10 = 440     K1–I2 = 30+300+400+800+20 = 1550 (out)
#   K2–I1 = 40+300+100+10 = 450     K2–I2 = 40+100+800+20     = 960
#   K3–I1 = 50+700+400+100+10 = 1260 (out)   K3–I2 = 50+|700−800|+20 = 170 (same edge)
#   K4–I1 = 20+300+100+10 = 430     K4–I2 = 20+300+400+800+20 = 1540 (out)
#   K1–P1 = 30+100+20 = 150   K2–P1 = 40+300+400+20 = 760   K3–P1 = 1570 (out)   K4–P1 = 20+300+400+20 = 740
D = {("K1", "I1"): 440, ("K2", "I1"): 450, ("K2", "I2"): 960, ("K3", "I2"): 170, ("K4", "I1"): 430}
DC = {("K1", "P1"): 150, ("K2", "P1"): 760, ("K4", "P1"): 740}


def _wgs(xy):
    s = gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS).to_crs("EPSG:4326")
    return list(s.values)


@pytest.fixture(scope="module")
def area():
    nodes = {"W": (0, 0), "C": (400, 0), "E": (800, 0), "F": (1600, 0), "N": (400, 400), "S": (400, -400)}
    G = nx.MultiDiGraph(crs=CRS)
    for i, (_n, (x, y)) in enumerate(nodes.items()):
        G.add_node(i, x=X0 + x, y=Y0 + y)
    ids = {n: i for i, n in enumerate(nodes)}
    for u, v in (("W", "C"), ("C", "E"), ("E", "F"), ("C", "N"), ("C", "S")):
        (x1, y1), (x2, y2) = nodes[u], nodes[v]
        L = float(np.hypot(x2 - x1, y2 - y1))
        G.add_edge(ids[u], ids[v], length=L)
        G.add_edge(ids[v], ids[u], length=L)
    street = gpd.GeoSeries([box(X0 - 300, Y0 - 600, X0 + 1900, Y0 + 600)], crs=CRS).to_crs("EPSG:4326")
    streets = gpd.GeoDataFrame({"street_id": ["S1"], "name": ["测试街道"], "population": [5000]},
                               geometry=list(street.values), crs="EPSG:4326")
    communities = gpd.GeoDataFrame(
        {"community_id": ["K1", "K2", "K3", "K4"], "name": ["一", "二", "三", "四"],
         "population": [500, 1000, 1500, 2000], "infants": [10, 20, 30, 40]},
        geometry=_wgs([(100, 30), (700, -40), (1500, 50), (380, -300)]), crs="EPSG:4326")
    institutions = gpd.GeoDataFrame(
        {"institution_id": ["I1", "I2"], "name": ["甲", "乙"], "category": ["公办", "民办"],
         "places": [30, 20], "puhui": [True, False]},
        geometry=_wgs([(410, 100), (1600, 20)]), crs="EPSG:4326")
    candidates = gpd.GeoDataFrame({"site_id": ["P1"], "name": ["候选"], "kind": ["其他"], "max_places": [40]},
                                  geometry=_wgs([(0, 20)]), crs="EPSG:4326")
    return make_area(streets=streets, communities=communities, institutions=institutions,
                        candidates=candidates, policy="wuxi-2025", graph=G, name="grid", metric_crs=CRS)


@pytest.fixture(scope="module")
def acc(area):
    return compute_access(area)


def test_matrices_hand(acc):
    assert acc.minutes == (5.0, 10.0, 15.0)
    assert dict(acc.thresholds_m) == {5.0: 300.0, 10.0: 500.0, 15.0: 1000.0}
    assert acc.max_distance_m == 1000.0
    assert list(acc.community_ids) == ["K1", "K2", "K3", "K4"]
    for mat, ref, cols in ((acc.dist_institutions, D, acc.institution_ids), (acc.dist_candidates, DC, acc.candidate_ids)):
        coo = mat.tocoo()
        got = {(acc.community_ids[i], cols[j]): v for i, j, v in zip(coo.row, coo.col, coo.data, strict=False)}
        assert got.keys() == ref.keys()
        for k, v in ref.items():
            assert got[k] == pytest.approx(v, abs=1e-6)


def test_coverage_and_nearest_hand(acc):
    c = acc.communities
    np.testing.assert_allclose(c["snap_m"], [30, 40, 50, 20], atol=1e-6)
    np.testing.assert_allclose(c["nearest_any_m"], [440, 450, 170, 430], atol=1e-6)
    np.testing.assert_allclose(c["nearest_puhui_m"], [440, 450, np.nan, 430], atol=1e-6)
    # 5 min = 300 m: only K3 (170); 10 min = 500 m: all; 普惠 (I1 only): K3 never (1260 m)
    assert list(c["within5_any"]) == [False, False, True, False]
    assert list(c["within10_any"]) == [True, True, True, True]
    assert list(c["within15_any"]) == [True, True, True, True]
    assert list(c["within5_puhui"]) == [False, False, False, False]
    assert list(c["within10_puhui"]) == [True, True, False, True]
    assert list(c["within15_puhui"]) == [True, True, False, True]
    # places within 1000 m: K1 I1=30; K2 I1+I2=50; K3 I2=20; K4 I1=30
    np.testing.assert_allclose(c["places15_all"], [30, 50, 20, 30])
    np.testing.assert_allclose(c["places15_puhui"], [30, 30, 0, 30])
    assert c["within10_any"].dtype == bool


def test_2sfca_hand(acc):
    c = acc.communities
    # step 1: R_I1 = 30 / (10+20+40) = 30/70;  R_I2 = 20 / (20+30) = 0.4
    # step 2 (×1000): K1 = 428.571; K2 = 428.571 + 400 = 828.571; K3 = 400; K4 = 428.571
    r1, r2 = 30 / 70, 20 / 50
    np.testing.assert_allclose(c["sfca_all"], [1000 * r1, 1000 * (r1 + r2), 1000 * r2, 1000 * r1])
    np.testing.assert_allclose(c["sfca_puhui"], [1000 * r1, 1000 * r1, 0, 1000 * r1])
    # per 1000 residents: R_I1 = 30 / 3500, R_I2 = 20 / 2500 → K2 = 8.571 + 8 = 16.571
    p1, p2 = 30 / 3500, 20 / 2500
    np.testing.assert_allclose(c["sfca_all_per1000_pop"], [1000 * p1, 1000 * (p1 + p2), 1000 * p2, 1000 * p1])
    np.testing.assert_allclose(c["sfca_puhui_per1000_pop"], [1000 * p1, 1000 * p1, 0, 1000 * p1])
    # Gaussian: G(d) = (exp(-½(d/1000)²) − e^-½) / (1 − e^-½)
    e = np.exp(-0.5)

    def g(d):
        return (np.exp(-0.5 * (d / 1000) ** 2) - e) / (1 - e)

    assert gaussian_weight(np.array([0.0, 1000.0, 1200.0]), 1000.0) == pytest.approx([1.0, 0.0, 0.0])
    R1 = 30 / (g(440) * 10 + g(450) * 20 + g(430) * 40)
    R2 = 20 / (g(960) * 20 + g(170) * 30)
    expect = [g(440) * R1, g(450) * R1 + g(960) * R2, g(170) * R2, g(430) * R1]
    np.testing.assert_allclose(c["g2sfca_all"], 1000 * np.array(expect))
    np.testing.assert_allclose(c["g2sfca_puhui"], 1000 * np.array([g(440) * R1, g(450) * R1, 0, g(430) * R1]))
    # conservation: Σ_i A_i·demand_i/1000 = total places reached (30 + 20)
    assert (c["sfca_all"] * np.array([10, 20, 30, 40]) / 1000).sum() == pytest.approx(50)


def test_within_keeps_zero_and_boundary():
    m = sp.csr_matrix((np.array([0.0, 300.0, 300.5]), (np.array([0, 0, 1]), np.array([0, 1, 1]))), shape=(2, 3))
    w = within(m, 300)
    assert w.dtype == bool and w.nnz == 2 and w[0, 0] and w[0, 1] and not w[1, 1]


def test_isochrone_areas_hand(area):
    # I1 at (400,100) snap 10; 5 min = 300 m → 290 m of walking from the attachment point:
    # along C–N: 100 m down to C and 290 m up → segment y∈[0, 390]; from C 190 m left, right, down.
    # Lines: vertical x=400, y∈[−190, 390] (580 m); horizontal y=0, x∈[210, 590] (380 m).
    # Buffer w=50 (64-gon caps): strip(L) = 2w·L + 32w²sin(π/32); union − overlap square (2w)².
    w = 50.0
    cap = 32 * w**2 * np.sin(np.pi / 32)
    expect = (2 * w * 580 + cap) + (2 * w * 380 + cap) - (2 * w) ** 2
    iso = isochrones(area, minutes=5)
    assert list(iso.index) == ["I1", "I2"] and iso.crs.to_epsg() == 4326
    assert list(iso.columns) == ["id", "minutes", "distance_m", "area_m2", "geometry"]
    assert iso.loc["I1", "distance_m"] == 300.0 and iso.loc["I1", "minutes"] == 5.0
    assert iso.loc["I1", "area_m2"] == pytest.approx(expect, rel=1e-6)
    # I2 at F (dead end), snap 20 → 280 m back along E–F: one strip of 280 m
    assert iso.loc["I2", "area_m2"] == pytest.approx(2 * w * 280 + cap, rel=1e-6)
    # the polygon in metric CRS has the stated area (not a convex hull of reached nodes)
    assert iso.to_crs(CRS).area.loc["I1"] == pytest.approx(expect, rel=1e-3)
    cand = isochrones(area, minutes=5, layer="candidates", ids=["P1"], buffer_m=10)
    # P1 at W, snap 20 → 280 m along W–C only: 2·10·280 + 64-gon of radius 10
    assert cand.loc["P1", "area_m2"] == pytest.approx(2 * 10 * 280 + 32 * 100 * np.sin(np.pi / 32), rel=1e-6)


def test_no_graph_falls_back_to_straight_line(area):
    """Without a graph, access and isochrones use straight line × detour factor (issue 12; details in
    test_straight_line.py); asking for the WalkNet of such an area is still an error."""
    plain = area.replace(graph=None)
    acc = compute_access(plain)
    assert (acc.distance_model, acc.detour_factor) == ("straight-line", tg.settings.DETOUR_FACTOR)
    assert acc.communities["snap_m"].eq(0).all()
    assert len(isochrones(plain)) == len(plain.institutions)
    with pytest.raises(tg.NetworkError, match="has no walk network"):
        tg.WalkNet.from_area(plain)


def test_given_walknet_is_used(area, acc):
    """A WalkNet passed as ``network`` gives the same matrices; it also serves an area without graph."""
    net = WalkNet.from_graph(area.graph)
    a2 = compute_access(area, network=net)
    for m1, m2 in ((acc.dist_institutions, a2.dist_institutions), (acc.dist_candidates, a2.dist_candidates)):
        assert (m1.indices == m2.indices).all() and (m1.data == m2.data).all()
    pd.testing.assert_frame_equal(acc.communities, a2.communities)
    a3 = compute_access(area.replace(graph=None), network=net)
    assert (a3.dist_institutions.data == acc.dist_institutions.data).all()
    iso = isochrones(area, network=net, minutes=5)
    assert iso.loc["I2", "area_m2"] == pytest.approx(isochrones(area, minutes=5).loc["I2", "area_m2"], rel=1e-12)


def test_policy_is_applied_at_assessment_time(area):
    """Estimated infants follow the policy given to compute_access.

    Without an infants column every community is estimated: infants = population × infant_share.
    2SFCA step 1 for I1 (30 places; K1, K2, K4 within 1000 m; populations 500 + 1000 + 2000 = 3500):
    wuxi-2025 (0.0277): R_I1 = 30 / (3500 × 0.0277) = 30 / 96.95 → K1 sfca_all = 1000 × R_I1 = 309.44;
    infant_share 0.04: R_I1 = 30 / 140 → K1 = 214.29.  I2 (20 places; K2, K3: 1000 + 1500 = 2500):
    K3 = 1000 × 20 / (2500 × 0.04) = 200.
    """
    est = area.replace(communities=area.communities.drop(columns=["infants", "infants_estimated"]))
    assert est.communities["infants_estimated"].all()
    c = compute_access(est).communities
    assert c.loc["K1", "sfca_all"] == pytest.approx(1000 * 30 / (3500 * 0.0277))
    other = est.policy.replace(name="high-births", infant_share=0.04)
    c2 = compute_access(est, other).communities
    assert c2.loc["K1", "sfca_all"] == pytest.approx(1000 * 30 / 140)
    assert c2.loc["K3", "sfca_all"] == pytest.approx(200.0)
    # given infants (the fixture's) do not depend on the policy
    c3 = compute_access(area, other).communities
    assert c3.loc["K1", "sfca_all"] == pytest.approx(1000 * 30 / 70)


def test_bundled_area_fast_and_consistent():
    a = datasets.shanghai_xuhui()
    t = time.perf_counter()
    acc = compute_access(a)
    assert time.perf_counter() - t < 10
    c = acc.communities
    assert c.shape[0] == 1709 and acc.dist_institutions.shape == (1709, 43)
    assert acc.dist_candidates.shape == (1709, 162)
    assert (acc.dist_institutions.data <= 1000).all()
    # nearest ≤ threshold ⇔ within
    assert ((c["nearest_any_m"] <= 500) == c["within10_any"]).all()
    assert (c["within15_puhui"] <= c["within15_any"]).all()
    # every place in a catchment with demand is handed out: Σ A_i·infants_i/1000 = reached places
    reached = np.asarray(within(acc.dist_institutions, 1000).sum(axis=0)).ravel() > 0
    places = a.institutions["places"].to_numpy(float)
    assert (c["sfca_all"] * a.communities["infants"]).sum() / 1000 == pytest.approx(places[reached].sum())
    assert isinstance(c.index, pd.Index) and list(c.index[:3]) == list(a.communities.index[:3])
