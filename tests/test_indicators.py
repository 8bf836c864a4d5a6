"""Scorecards on a hand-made fixture: every number below is worked out by hand in the comments.

Fixture (policy wuxi-2025: 4.5 places / 1000, 普惠 ≥ 70 %, 一街道一普惠, new 10 / existing 5 per 1000,
circles 5/10/15 min = 300/500/1000 m):

街道   population infants   institutions                           communities
S1     9000       225       I1 公办 40 places 普惠 (示范), I2 民办 10    C1 (old, 4000 / 100), C2 (new, 5000 / 125)
S2     8000       200       I3 民办 10 (only non-普惠 places)           C3 (old, 5000 / 120)
S3     6000       (NaN → 6000 × 0.0277 = 166.2)  none                  C4 (new, 3000 / 80), C5 (old, 2400 / 60)

Walking distances (m, only pairs ≤ 1000 m stored):
C1–I1 200, C1–I2 800; C2–I1 900, C2–I2 400; C3–I2 1000 (exactly the cutoff), C3–I3 600; C4 none; C5–I3 950.
The access table below is what these distances give (2SFCA values are round numbers chosen by hand —
the scorecard only averages them).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from scipy.sparse import csr_matrix
from shapely.geometry import Point, box

import tuoyu_geo as tg
from tuoyu_geo import indicators as ind
from tuoyu_geo.access import Access
from tuoyu_geo.equity import equity_table
from tuoyu_geo.pipeline import Assessment
from tuoyu_geo.plan import explain_gaps, residential_fixers, rule_status
from tuoyu_geo.report.labels import definition, label
from tuoyu_geo.report.scorecard import write_scorecard

MET, NOT = "达标", "未达标"


def _streets() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"street_id": ["S1", "S2", "S3"], "name": ["一街道", "二街道", "三街道"],
         "population": [9000, 8000, 6000], "infants": [225.0, 200.0, np.nan], "district": ["测试区"] * 3},
        geometry=[box(121.40, 31.18, 121.41, 31.19), box(121.41, 31.18, 121.42, 31.19),
                  box(121.42, 31.18, 121.43, 31.19)], crs="EPSG:4326")


def _area(policy: str = "wuxi-2025") -> tg.StudyArea:
    communities = gpd.GeoDataFrame(
        {"community_id": ["C1", "C2", "C3", "C4", "C5"], "name": ["甲小区", "乙小区", "丙小区", "丁小区", "戊小区"],
         "population": [4000, 5000, 5000, 3000, 2400], "infants": [100, 125, 120, 80, 60],
         "is_new": [False, True, False, True, False], "built_year": [1995, 2022, 1988, 2023, 2001]},
        geometry=[Point(121.403, 31.183), Point(121.407, 31.187), Point(121.415, 31.185),
                  Point(121.423, 31.183), Point(121.427, 31.187)], crs="EPSG:4326")
    institutions = gpd.GeoDataFrame(
        {"institution_id": ["I1", "I2", "I3"], "name": ["公办托育中心", "民办托育A", "民办托育B"],
         "category": ["公办", "民办", "民办"], "places": [40, 10, 10], "puhui": [True, False, False],
         "is_demonstration": [True, False, False]},
        geometry=[Point(121.404, 31.184), Point(121.406, 31.186), Point(121.416, 31.186)], crs="EPSG:4326")
    candidates = gpd.GeoDataFrame(
        {"site_id": ["K1"], "name": ["社区服务中心"], "kind": ["社区服务中心"], "max_places": [30]},
        geometry=[Point(121.425, 31.185)], crs="EPSG:4326")
    return tg.make_area(streets=_streets(), communities=communities, institutions=institutions,
                        candidates=candidates, policy=policy, name="测试区")


def _access(area: tg.StudyArea) -> Access:
    cids, iids = area.communities.index, area.institutions.index
    # rows C1..C5, columns I1..I3 (metres)
    rows, cols, vals = [0, 0, 1, 1, 2, 2, 4], [0, 1, 0, 1, 1, 2, 2], [200, 800, 900, 400, 1000, 600, 950]
    d_inst = csr_matrix((np.array(vals, float), (rows, cols)), shape=(5, 3))
    d_cand = csr_matrix((np.array([100.0, 300.0]), ([3, 4], [0, 0])), shape=(5, 1))
    T, F, nan = True, False, np.nan
    c = pd.DataFrame({
        "snap_m": [10.0, 20.0, 0.0, 30.0, 5.0],
        "nearest_any_m": [200.0, 400.0, 600.0, nan, 950.0],
        "nearest_puhui_m": [200.0, 900.0, nan, nan, nan],
        "within5_any": [T, F, F, F, F], "within5_puhui": [T, F, F, F, F],
        "within10_any": [T, T, F, F, F], "within10_puhui": [T, F, F, F, F],
        "within15_any": [T, T, T, F, T], "within15_puhui": [T, T, F, F, F],
        "places15_all": [50.0, 50.0, 20.0, 0.0, 10.0],        # C1, C2: I1+I2; C3: I2+I3; C5: I3
        "places15_puhui": [40.0, 40.0, 0.0, 0.0, 0.0],
        "sfca_all": [200.0, 160.0, 90.0, 0.0, 50.0],
        "sfca_puhui": [160.0, 150.0, 0.0, 0.0, 0.0],
        "g2sfca_all": [180.0, 120.0, 60.0, 0.0, 10.0],
        "g2sfca_puhui": [150.0, 100.0, 0.0, 0.0, 0.0],
        "sfca_all_per1000_pop": [5.0, 4.0, 2.16, 0.0, 1.25],
        "sfca_puhui_per1000_pop": [4.0, 3.75, 0.0, 0.0, 0.0],
    }, index=pd.Index(list(cids), name="community_id"))
    return Access(minutes=(5.0, 10.0, 15.0), thresholds_m={5.0: 300.0, 10.0: 500.0, 15.0: 1000.0},
                  max_distance_m=1000.0,
                  community_ids=cids, institution_ids=iids, candidate_ids=area.candidates.index,
                  dist_institutions=d_inst, dist_candidates=d_cand, communities=c)


@pytest.fixture(scope="module")
def fx():
    area = _area()
    acc = _access(area)
    return SimpleNamespace(area=area, access=acc, street=ind.street_scorecard(area, acc),
                           community=ind.community_scorecard(area, acc))


def _assessment(fx) -> Assessment:
    """A real Assessment of the fixture (its scorecards; no plan, no isochrones)."""
    pol = tg.load_policy("wuxi-2025")
    return Assessment(area=fx.area, policy=pol, access=fx.access, streets=fx.street, communities=fx.community,
                      total=ind.street_total(fx.street, pol), districts=ind.district_scorecard(fx.street, pol),
                      plan=None, access_after=None, streets_after=None, communities_after=None, total_after=None,
                      districts_after=None, gaps=explain_gaps(fx.street, fx.street, pol),
                      rule_table=rule_status(fx.street, fx.street, pol),
                      equity=equity_table(fx.community).to_frame("before"), isochrones=None,
                      minutes=15.0, timings={})


# ----------------------------------------------------------------------------------- expected values

EXPECTED_STREETS = {
    "street_id": ["S1", "S2", "S3"],
    "name": ["一街道", "二街道", "三街道"],
    "district": ["测试区"] * 3,
    "population": [9000, 8000, 6000],
    "infants": [225, 200, 6000 * 0.0277],             # S3 filled from the profile's infant_share
    "infants_estimated": [False, False, True],
    "infants_source": ["given", "given", "population share"],
    "communities": [2, 1, 2],
    "community_infants": [225, 120, 140],
    "institutions": [2, 1, 0],
    "places": [50, 10, 0],
    "puhui_institutions": [1, 0, 0],
    "puhui_places": [40, 0, 0],
    "demonstration_institutions": [1, 0, 0],
    "places_per_1000": [50 / 9000 * 1000, 10 / 8000 * 1000, 0.0],      # 5.556, 1.25, 0
    "target_per_1000": [4.5] * 3,
    "place_gap": [0, 26, 27],             # max(0, ceil(40.5 − 50)), ceil(36 − 10), ceil(27 − 0)
    "puhui_share": [0.8, 0.0, 0.0],       # 40/50; no 普惠 places; no places at all → 0
    "puhui_target": [0.7] * 3,
    "has_puhui": [True, False, False],
    "cover5_any": [100 / 225, 0.0, 0.0],          # only C1 (200 m ≤ 300 m)
    "cover10_any": [1.0, 0.0, 0.0],               # C1 and C2 (400 m); C3 600 m > 500 m
    "cover15_any": [1.0, 1.0, 60 / 140],          # C3 (600 m); C5 (950 m) but not C4
    "cover5_puhui": [100 / 225, 0.0, 0.0],
    "cover10_puhui": [100 / 225, 0.0, 0.0],       # C2's 普惠 is 900 m away
    "cover15_puhui": [1.0, 0.0, 0.0],
    "sfca_mean": [(100 * 200 + 125 * 160) / 225, 90.0, (80 * 0 + 60 * 50) / 140],
    # C1 needs 4000×5/1000 = 20 ≤ 50 ✓; C2 (new) 5000×10/1000 = 50 ≤ 50 ✓ (equality meets);
    # C3 5000×5/1000 = 25 > 20 → 5 missing; C4 (new) 3000×10/1000 = 30 > 0 → 30; C5 2400×5/1000 = 12 > 10 → 2
    "res_meet": [2, 0, 0],
    "res_miss": [0, 1, 2],
    "res_missing_places": [0.0, 5.0, 32.0],
    "status_places": [MET, NOT, NOT],
    "status_puhui_share": [MET, NOT, NOT],
    "status_one_puhui": [MET, NOT, NOT],
    "status_residential": [MET, NOT, NOT],
    "status": [MET, NOT, NOT],
}

EXPECTED_TOTAL = {
    "street_id": "total", "name": "合计", "district": "测试区",
    "population": 23000, "infants": 225 + 200 + 166.2, "infants_estimated": True,
    "infants_source": "given、population share", "communities": 5, "community_infants": 485,
    "institutions": 3, "places": 60, "puhui_institutions": 1, "puhui_places": 40,
    "demonstration_institutions": 1,
    "places_per_1000": 60 / 23000 * 1000,        # 2.6087, from the sums (not the mean 2.27)
    "target_per_1000": 4.5, "place_gap": 0 + 26 + 27, "puhui_share": 40 / 60, "puhui_target": 0.7,
    "has_puhui": False,
    "cover5_any": 100 / 485, "cover10_any": 225 / 485, "cover15_any": (225 + 120 + 60) / 485,
    "cover5_puhui": 100 / 485, "cover10_puhui": 100 / 485, "cover15_puhui": 225 / 485,
    "sfca_mean": (100 * 200 + 125 * 160 + 120 * 90 + 60 * 50) / 485,
    "res_meet": 2, "res_miss": 3, "res_missing_places": 37.0,
    "status_places": NOT,          # 60 < 4.5 × 23 = 103.5
    "status_puhui_share": NOT,     # 0.667 < 0.7
    "status_one_puhui": NOT, "status_residential": NOT, "status": NOT,
}

EXPECTED_COMMUNITIES = {
    "community_id": ["C1", "C2", "C3", "C4", "C5"],
    "street_id": ["S1", "S1", "S2", "S3", "S3"],
    "street_name": ["一街道", "一街道", "二街道", "三街道", "三街道"],
    "population": [4000, 5000, 5000, 3000, 2400],
    "infants": [100, 125, 120, 80, 60],
    "infants_estimated": [False] * 5,
    "infants_source": ["given"] * 5,
    "is_new": [False, True, False, True, False],
    "standard_per_1000": [5.0, 10.0, 5.0, 10.0, 5.0],
    "required_places": [20.0, 50.0, 25.0, 30.0, 12.0],
    "places15_all": [50.0, 50.0, 20.0, 0.0, 10.0],
    "meets_standard": [True, True, False, False, False],
    "missing_places": [0.0, 0.0, 5.0, 30.0, 2.0],
    "nearest_any_m": [200.0, 400.0, 600.0, np.nan, 950.0],
    "nearest_puhui_m": [200.0, 900.0, np.nan, np.nan, np.nan],
    "within15_any": [True, True, True, False, True],
    "within10_puhui": [True, False, False, False, False],
    "sfca_all": [200.0, 160.0, 90.0, 0.0, 50.0],
}


def _same(a, b) -> bool:
    if isinstance(b, str) or isinstance(a, str):
        return a == b
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a))
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


# ----------------------------------------------------------------------------------------- tests

def test_street_scorecard_every_column(fx):
    sc = fx.street
    assert isinstance(sc, gpd.GeoDataFrame) and sc.crs.to_epsg() == 4326
    assert list(sc.index) == ["S1", "S2", "S3"] and sc.index.name is None  # the id is the street_id column
    contract = ["street_id", "name", "population", "infants", "institutions", "places", "puhui_institutions",
                "puhui_places", "places_per_1000", "target_per_1000", "place_gap", "puhui_share",
                "puhui_target", "has_puhui", "cover5_any", "cover10_any", "cover15_any", "cover5_puhui",
                "cover10_puhui", "cover15_puhui", "sfca_mean", "res_meet", "res_miss", "res_missing_places",
                "status_places", "status_puhui_share", "status_one_puhui", "status_residential", "status",
                "geometry"]
    assert set(contract) <= set(sc.columns)
    assert set(sc.columns) - {"geometry"} == set(EXPECTED_STREETS), "every column has a hand-checked value"
    for col, want in EXPECTED_STREETS.items():
        got = sc[col].tolist()
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (col, got, want)
    assert sc["place_gap"].dtype.kind == "i" and sc["has_puhui"].dtype == bool
    assert sc.geometry.equals(fx.area.streets.geometry.set_axis(sc.index))


def test_street_total_recomputes_ratios(fx):
    t = ind.street_total(fx.street, "wuxi-2025")
    assert set(t.index) == set(EXPECTED_STREETS)
    for col, want in EXPECTED_TOTAL.items():
        assert _same(t[col], want), (col, t[col], want)


def test_policy_argument_overrides_area_policy(fx):
    tj = ind.street_scorecard(fx.area, fx.access, tg.load_policy("tianjin-2025"))   # 普惠 ≥ 60 %
    assert tj["puhui_target"].eq(0.6).all()
    assert ind.street_total(tj, "tianjin-2025")["status_puhui_share"] == MET         # 40/60 ≥ 0.6
    assert ind.street_total(fx.street, "wuxi-2025")["status_puhui_share"] == NOT     # 40/60 < 0.7
    relaxed = tg.load_policy("wuxi-2025", one_puhui_per_street=False, places_per_1000=1.0)
    r = ind.street_scorecard(fx.area, fx.access, relaxed)
    assert r["status_one_puhui"].tolist() == [MET, MET, MET]
    assert r["place_gap"].tolist() == [0, 0, 6]                 # S2: 8 − 10 < 0; S3: ceil(6 − 0)
    assert r["status_places"].tolist() == [MET, MET, NOT]


def test_community_scorecard(fx):
    cs = fx.community
    assert isinstance(cs, gpd.GeoDataFrame) and list(cs.index) == ["C1", "C2", "C3", "C4", "C5"]
    for col, want in EXPECTED_COMMUNITIES.items():
        got = cs[col].tolist()
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (col, got, want)
    for m in (5, 10, 15):
        for what in ("any", "puhui"):
            assert cs[f"within{m}_{what}"].tolist() == fx.access.communities[f"within{m}_{what}"].tolist()
    for c in ("snap_m", "places15_puhui", "sfca_puhui", "g2sfca_all", "sfca_all_per1000_pop"):
        assert cs[c].tolist() == fx.access.communities[c].tolist()


def test_pure_functions_do_not_mutate(fx):
    before = fx.access.communities.copy()
    streets = fx.area.streets.copy()
    ind.street_scorecard(fx.area, fx.access)
    pd.testing.assert_frame_equal(fx.access.communities, before)
    pd.testing.assert_frame_equal(pd.DataFrame(fx.area.streets), pd.DataFrame(streets))


def test_access_of_another_area_is_rejected(fx):
    acc = _access(fx.area)
    bad = Access(**{**{f: getattr(acc, f) for f in acc.__dataclass_fields__},
                    "communities": acc.communities.drop(index="C5")})
    with pytest.raises(tg.DataError, match="recompute access"):
        ind.street_scorecard(fx.area, bad)


def test_labels_and_definitions_cover_every_column(fx):
    for col in list(fx.street.columns) + list(fx.community.columns):
        if col == "geometry":
            continue
        assert label(col) != col, col
        assert definition(col, "street" if col in fx.street.columns else "community"), col
    assert label("places_per_1000") == "每千人口托位数"


def _sheet_rows(ws):
    rows = list(ws.iter_rows(values_only=True))
    return list(rows[0]), [dict(zip(rows[0], r, strict=True)) for r in rows[1:]], list(ws.iter_rows())


def test_write_scorecard_files_and_xlsx(fx, tmp_path):
    paths = write_scorecard(tmp_path / "out", _assessment(fx))
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "street_scorecard.csv", "community_scorecard.csv", "scorecard.xlsx"}
    raw = paths["street_csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                                  # utf-8-sig for Excel
    csv = pd.read_csv(paths["street_csv"], encoding="utf-8-sig", dtype={"street_id": str})
    assert list(csv["street_id"]) == ["S1", "S2", "S3"]                      # no total row in the CSV
    assert csv.loc[1, "place_gap"] == 26 and csv.loc[0, "puhui_share"] == pytest.approx(0.8)
    ccsv = pd.read_csv(paths["community_csv"], encoding="utf-8-sig")
    assert len(ccsv) == 5 and "geometry" not in ccsv.columns

    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["街道指标", "小区指标", "说明"]
    head, rows, cells = _sheet_rows(wb["街道指标"])
    cols = [c for c in fx.street.columns if c != "geometry"]
    assert head == [label(c) for c in cols]
    name = label("name")
    assert len(rows) == 4 and rows[-1][name] == "合计"
    boolzh = {True: "是", False: "否"}
    for i, sid in enumerate(["S1", "S2", "S3"]):
        for col in cols:
            lab = head[cols.index(col)]
            want = EXPECTED_STREETS[col][i]
            want = boolzh.get(want, want) if isinstance(want, bool) else want
            assert _same(rows[i][lab], want), (sid, col, rows[i][lab], want)
    for col in cols:
        lab = head[cols.index(col)]
        want = EXPECTED_TOTAL[col]
        want = boolzh[want] if isinstance(want, bool) else want
        assert _same(rows[3][lab], want), ("total", col, rows[3][lab], want)
    fmt = {head[j]: cells[1][j].number_format for j in range(len(head))}
    assert fmt["普惠托位占比"] == "0.0%" and fmt["15分钟覆盖率（任一机构）"] == "0.0%"
    assert fmt["每千人口托位数"] == "0.00"
    assert cells[0][cols.index("places_per_1000")].comment is not None        # definition on hover

    head_c, rows_c, cells_c = _sheet_rows(wb["小区指标"])
    ccols = [c for c in fx.community.columns if c != "geometry"]
    assert head_c == [label(c) for c in ccols]
    for i in range(5):
        for col, want in EXPECTED_COMMUNITIES.items():
            got = rows_c[i][head_c[ccols.index(col)]]
            want = want[i]
            want = boolzh[want] if isinstance(want, (bool, np.bool_)) else want
            assert _same(got, want), (i, col, got, want)
    assert rows_c[0][label("name")] == "甲小区"

    _, info, _ = _sheet_rows(wb["说明"])
    text = "\n".join(" ".join(str(v) for v in r.values() if v is not None) for r in info)
    pol = tg.load_policy("wuxi-2025")
    assert pol.title in text and "wuxi-2025" in text
    for src in pol.sources.values():
        assert src in text
    for col in cols + ccols:
        assert f"（{col}）" in text, col
    assert "ceil" in text and "普惠托位数 ÷ 托位数" in text


def test_write_scorecard_is_all_or_nothing(fx, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "street_scorecard.csv").write_text("old", encoding="utf-8")
    import openpyxl

    def boom(self, filename):
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", boom)
    with pytest.raises(tg.OutputError, match="disk full"):
        write_scorecard(out, _assessment(fx))
    assert sorted(p.name for p in out.iterdir()) == ["street_scorecard.csv"]   # no temps, no partial set
    assert (out / "street_scorecard.csv").read_text(encoding="utf-8") == "old"


# ------------------------------------------------------------------------------------------- CLI

def test_cli_analyze_bundled_area(tmp_path, capsys):

    from tuoyu_geo import cli
    from tuoyu_geo.datasets import bundled_path

    folder = bundled_path()
    rc = cli.main(["analyze", str(folder), "--policy", "wuxi-2025", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    area = tg.load_area(folder, load_graph=False)
    sc = pd.read_csv(tmp_path / "street_scorecard.csv", encoding="utf-8-sig")
    assert list(sc["street_id"]) == list(area.streets.index)
    assert sc["population"].sum() == pytest.approx(area.streets["population"].sum())
    assert sc["places"].sum() == 1400 and sc["puhui_places"].sum() == 850
    assert set(sc.loc[~sc["has_puhui"], "street_id"]) == {"XH01", "XH12"}
    assert (sc["place_gap"] >= 0).all() and sc["cover15_any"].between(0, 1).all()
    assert (sc["communities"].sum(), sc["res_meet"].sum() + sc["res_miss"].sum()) == (1709, 1709)
    assert len(pd.read_csv(tmp_path / "community_scorecard.csv", encoding="utf-8-sig")) == 1709
    wb = load_workbook(tmp_path / "scorecard.xlsx", read_only=True)
    assert wb.sheetnames == ["街道指标", "小区指标", "说明"]
    wb.close()
    out = capsys.readouterr().out
    assert "湖南路街道" in out and "合计" in out and "✗" in out and "✓" in out
    assert "一街道一普惠" in out  # the unmet rules are named, with their reasons


def test_place_gap_rounds_up_fractional_places(fx):
    """4.42 places per 1000: S2 needs 4.42 × 8 = 35.36 → 36 − 10 = 26 (ceil; round and floor give 25);
    S3 needs 4.42 × 6 = 26.52 → 27."""
    pol = tg.load_policy("wuxi-2025", places_per_1000=4.42)
    sc = ind.street_scorecard(fx.area, fx.access, pol)
    assert sc["place_gap"].tolist() == [0, 26, 27]
    assert tg.rules.place_gap(4.42, 8000, 10) == 26


def test_gaps_name_the_street_the_rule_and_the_reason(fx):
    """The residential 配建 reasons name the communities: S3's 丁 (30 missing) and 戊 (2) lie within
    1000 m of candidate K1 (100 m, 300 m), so K1 could fix them; S2's 丙 (5) has no candidate within
    reach — reported as not a planning failure."""
    pol = tg.load_policy("wuxi-2025")
    fixers = residential_fixers(fx.area, fx.access)
    assert fixers == {"C1": [], "C2": [], "C3": [], "C4": ["K1"], "C5": ["K1"]}
    gaps = explain_gaps(fx.street, fx.street, pol, communities=fx.community, fixers=fixers)
    got = {(r.street_id, r.rule) for r in gaps.itertuples()}
    names = {r.key: r.name for r in tg.rules.RULES}
    # S1 meets everything; S2 and S3 miss all four per-街道 rules (see EXPECTED_STREETS)
    want = {(s, names[k]) for s in ("S2", "S3") for k in ("places", "street_puhui_share", "one_puhui", "residential")}
    assert got == want
    s2 = gaps.set_index(["street_id", "rule"]).loc[("S2", names["places"]), "why"]
    assert "缺口26个托位" in s2 and "尚未做选址方案" in s2
    s3 = gaps.set_index(["street_id", "rule"]).loc[("S3", names["residential"]), "why"]
    assert "丁小区缺30个（可由K1补足）、戊小区缺2个（可由K1补足）" in s3
    s2 = gaps.set_index(["street_id", "rule"]).loc[("S2", names["residential"]), "why"]
    assert "丙小区缺5个（15分钟内无候选点）" in s2 and "不属于规划失败" in s2
    table = rule_status(fx.street, fx.street, pol).set_index(["street_id", "rule"])
    assert len(table) == 3 * 4 and (table.loc["S1", "status"] == MET).all()
    assert table.loc[("S2", names["places"]), "figure"] == "1.25/千人（10托位，缺口26）"
    assert table.loc[("S2", names["places"]), "target"] == "≥4.5/千人"
    assert table.loc[("S1", names["street_puhui_share"]), "figure"] == "80%（普惠40/50托位）"
    assert table.loc[("S1", names["places"]), "why"] == ""


def test_district_scorecard_and_demonstration_rule(fx):
    """测试区 has one demonstration institution (I1): 达标 with 1 required, 未达标 with 2 — then the
    gaps name the district and 一县区一示范."""
    d = ind.district_scorecard(fx.street, "wuxi-2025")
    assert d.loc["测试区", "streets"] == 3 and d.loc["测试区", "streets_met"] == 1
    assert d.loc["测试区", "places_per_1000"] == pytest.approx(60 / 23000 * 1000)
    assert d.loc["测试区", "status_demonstration"] == MET
    two = tg.load_policy("wuxi-2025", demonstration_per_district=2)
    assert ind.district_scorecard(fx.street, two).loc["测试区", "status_demonstration"] == NOT
    gaps = explain_gaps(fx.street, fx.street, two)
    demo = gaps[gaps["rule"] == tg.rules.Demonstration.name]
    assert demo["name"].tolist() == ["测试区"] and "示范机构1个，要求2个" in demo["why"].iloc[0]
