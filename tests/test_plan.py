"""plan_sites: every planning rule on a hand-solvable area, plus the bundled 徐汇区 plan.

Hand instance (policy wuxi-2025: 4.5 places per 1000 residents, 普惠 share 70 %, 15 min = 1000 m,
classes 托大班 20 / 托小班 15 / 乳儿班 10):

* 街道 S1 (pop 10,000 → 45 places; has 普惠 I1 with 40 places → short 5), S2 (pop 4,000 → 18;
  民办 I2 with 20 places → short 0, but no 普惠), S3 (pop 4,000 → 18; nothing → short 18).
* candidates (places options / cost 万元): K1 in S1 20 / 30; K2 in S2 20 or 35 / 30 or 45;
  K3 in S3 20 / 30; K4 in S3 20 / 25 (cheaper than K3 but covers less).
* communities (infants, who reaches them within 1000 m): C1 S1 100 (already near I1);
  C2 S1 50 (K1); C3 S2 80 (K2); C4 S3 60 (K3, K4); C5 S3 40 (K3).

By hand: least shortfall 0 needs K1 and K3 or K4, and 一街道一普惠 needs K2; most coverage then opens
K1, K2, K3 (50 + 80 + 100 = 230; K4 adds nothing); least cost takes K2 at 20 places: 90 万元.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from shapely.geometry import Point, box

import tuoyu_geo as tg
from tuoyu_geo import DataError, InfeasiblePlanError
from tuoyu_geo.access import Access
from tuoyu_geo.optimize import class_options, plan_sites

POL = tg.load_policy("wuxi-2025")


def _area() -> tg.StudyArea:
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1", "S2", "S3"], "name": ["一街道", "二街道", "三街道"],
         "population": [10000, 4000, 4000], "district": ["测试区"] * 3},
        geometry=[box(121.40, 31.18, 121.41, 31.19), box(121.41, 31.18, 121.42, 31.19),
                  box(121.42, 31.18, 121.43, 31.19)], crs="EPSG:4326")
    comms = gpd.GeoDataFrame(
        {"community_id": ["C1", "C2", "C3", "C4", "C5"], "name": list("甲乙丙丁戊"),
         "population": [4000, 2000, 3200, 2400, 1600], "infants": [100, 50, 80, 60, 40]},
        geometry=[Point(121.402, 31.182), Point(121.408, 31.188), Point(121.415, 31.185),
                  Point(121.423, 31.183), Point(121.427, 31.187)], crs="EPSG:4326")
    insts = gpd.GeoDataFrame(
        {"institution_id": ["I1", "I2"], "name": ["普惠托育园", "民办托育园"], "category": ["普惠", "民办"],
         "places": [40, 20], "puhui": [True, False]},
        geometry=[Point(121.403, 31.183), Point(121.414, 31.184)], crs="EPSG:4326")
    cands = gpd.GeoDataFrame(
        {"site_id": ["K1", "K2", "K3", "K4"], "name": ["甲点", "乙点", "丙点", "丁点"],
         "kind": ["社区服务中心", "幼儿园富余", "社区服务中心", "新建小区配建"],
         "min_places": [20, 20, 20, 20], "max_places": [20, 35, 20, 20],
         "fixed_cost": [10.0, 10.0, 10.0, 5.0], "cost_per_place": [1.0, 1.0, 1.0, 1.0],
         "available_year": [2026, 2026, 2027, 2026]},
        geometry=[Point(121.407, 31.187), Point(121.416, 31.186), Point(121.425, 31.185),
                  Point(121.422, 31.182)], crs="EPSG:4326")
    return tg.make_area(streets=streets, communities=comms, institutions=insts, candidates=cands,
                        policy="wuxi-2025", name="测试区")


def _access(area: tg.StudyArea) -> Access:
    # communities C1..C5 × institutions I1, I2 (m)
    d_inst = csr_matrix((np.array([150.0, 900.0]), ([0, 2], [0, 1])), shape=(5, 2))
    # communities × candidates K1..K4: C2-K1, C3-K2, C4-K3, C5-K3, C4-K4 (+ C1-K1 at 700 m, already covered)
    d_cand = csr_matrix((np.array([700.0, 300.0, 200.0, 400.0, 500.0, 250.0]),
                         ([0, 1, 2, 3, 4, 3], [0, 0, 1, 2, 2, 3])), shape=(5, 4))
    pu = area.institutions["puhui"].to_numpy()
    c = pd.DataFrame(index=area.communities.index)
    for m, d in {5: 300.0, 10: 500.0, 15: 1000.0}.items():
        W = csr_matrix(((d_inst.data <= d).astype(float), d_inst.indices, d_inst.indptr), shape=d_inst.shape)
        c[f"within{m}_any"] = np.asarray(W.sum(axis=1)).ravel() > 0
        c[f"within{m}_puhui"] = np.asarray(W[:, np.flatnonzero(pu)].sum(axis=1)).ravel() > 0
    for col in ("snap_m", "nearest_any_m", "nearest_puhui_m", "places15_all", "places15_puhui", "sfca_all",
                "sfca_puhui", "g2sfca_all", "g2sfca_puhui", "sfca_all_per1000_pop", "sfca_puhui_per1000_pop"):
        c[col] = 0.0
    return Access(minutes=(5, 10, 15), thresholds_m={5: 300.0, 10: 500.0, 15: 1000.0}, max_distance_m=1000.0,
                  community_ids=area.communities.index, institution_ids=area.institutions.index,
                  candidate_ids=area.candidates.index, dist_institutions=d_inst, dist_candidates=d_cand,
                  communities=c)


@pytest.fixture(scope="module")
def fx():
    area = _area()
    return area, _access(area)


def _plan(fx, **kw):
    area, acc = fx
    return plan_sites(area, acc, POL, **kw)


def test_class_options():
    sizes = dict(POL.class_sizes)
    assert class_options(15, 65, sizes) == [(20, "托大班×1"), (35, "托大班×1+托小班×1"),
                                            (45, "托大班×1+托小班×1+乳儿班×1"),
                                            (65, "托大班×2+托小班×1+乳儿班×1")]
    assert class_options(10, 15, sizes) == [(10, "乳儿班×1"), (15, "托小班×1")]
    assert class_options(30, 30, sizes) == []


def test_default_plan_by_hand(fx):
    plan = _plan(fx)
    s = plan.sites
    assert sorted(s.index) == ["K1", "K2", "K3"]
    assert plan.status == "optimal" and plan.gap <= 1e-4
    assert s.loc["K2", "places"] == 20 and s.loc["K2", "classes"] == "托大班×1"
    assert s["cost"].sum() == pytest.approx(90)
    ov = plan.objective_values
    assert ov["shortfall"] == pytest.approx(0, abs=1e-6)
    assert ov["coverage"] == pytest.approx(230)
    assert ov["cost"] == pytest.approx(90)
    assert ov["infants_newly_covered"] == pytest.approx(230)
    assert ov["places"] == 60 and ov["sites"] == 3


def test_lexicographic_cheaper_plan_with_less_coverage_not_chosen(fx):
    plan = _plan(fx)
    # K4 (25 万元) is cheaper than K3 (30 万元) and also meets S3's target and 一街道一普惠, but covers
    # 60 infants instead of 100: coverage is ranked before cost.
    assert "K3" in plan.sites.index and "K4" not in plan.sites.index


def test_explanations(fx):
    area, _ = fx
    s = _plan(fx).sites
    # greedy order of marginal coverage: K3 100, K2 80, K1 50
    assert s.sort_values("order").index.tolist() == ["K3", "K2", "K1"]
    assert s.loc["K3", "new_infants_covered"] == 100 and s.loc["K1", "new_infants_covered"] == 50
    assert "满足三街道一街道一普惠" in s.loc["K3", "reason"]
    assert "满足二街道一街道一普惠" in s.loc["K2", "reason"]
    assert "一街道一普惠" not in s.loc["K1", "reason"] and "补充一街道托位20个" in s.loc["K1", "reason"]
    assert s.loc["K3", "runner_up_id"] == "K4" and s.loc["K1", "runner_up_id"] == ""
    assert s.loc["K3", "street_name"] == "三街道" and s.loc["K3", "kind"] == "社区服务中心"
    # nearest existing 普惠 (only I1): straight-line metres in the metric CRS (no graph in this area)
    pts, ip = area.points("candidates"), area.points("institutions")
    for k in s.index:
        assert s.loc[k, "nearest_puhui_id"] == "I1"
        assert s.loc[k, "nearest_puhui_m"] == pytest.approx(pts[k].distance(ip["I1"]), rel=1e-6)
    assert s.crs.to_epsg() == 4326


def test_streets_before_after(fx):
    plan = _plan(fx)
    before = plan.streets_before.set_index("street_id") if "street_id" in plan.streets_before else plan.streets_before
    after = plan.streets_after.set_index("street_id") if "street_id" in plan.streets_after else plan.streets_after
    assert before.loc[["S2", "S3"], "has_puhui"].tolist() == [False, False]
    assert after["has_puhui"].all()
    assert after.loc["S3", "places"] == 20 and after.loc["S1", "places"] == 60
    inst = plan.area_after.institutions
    assert set(plan.sites.index) <= set(inst.index) and inst.loc[list(plan.sites.index), "puhui"].all()
    assert inst.loc["K2", "category"] == "幼儿园托班" and inst.loc["K3", "category"] == "社区托育点"
    assert len(plan.area.institutions) == 2  # input untouched


def test_infeasible_street_lists_every_street(fx):
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(fx, excluded=["K2", "K3", "K4"])
    streets = sorted(r[0] for r in e.value.reasons)
    assert streets == ["三街道 (S3)", "二街道 (S2)"]
    assert all(r[1] == "一街道一普惠" for r in e.value.reasons)
    assert "一街道一普惠" in str(e.value) and "二街道" in str(e.value) and "三街道" in str(e.value)


def test_binding_budget(fx):
    plan = _plan(fx, budget=60)
    # K2 (30) is forced; K3 (30) beats K4 (25) on coverage; K1 no longer fits: S1 stays 5 short
    assert sorted(plan.sites.index) == ["K2", "K3"]
    assert plan.objective_values["cost"] == pytest.approx(60)
    assert plan.objective_values["shortfall"] == pytest.approx(5)
    assert plan.objective_values["coverage"] == pytest.approx(180)


def test_budget_below_forced_sites(fx):
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(fx, budget=50)  # cheapest forced: K2 30 + K4 25 = 55
    assert e.value.reasons[0][1] == "预算" and "55.0" in str(e.value)


def test_max_new_sites(fx):
    plan = _plan(fx, max_new_sites=2)
    assert sorted(plan.sites.index) == ["K2", "K3"]
    with pytest.raises(InfeasiblePlanError, match="最大新增点位数"):
        _plan(fx, max_new_sites=1)


def test_required_and_excluded(fx):
    plan = _plan(fx, required=["K4"])
    assert sorted(plan.sites.index) == ["K1", "K2", "K3", "K4"]
    assert "指定必选点位" in plan.sites.loc["K4", "reason"]
    plan = _plan(fx, excluded=["K3"])
    assert sorted(plan.sites.index) == ["K1", "K2", "K4"]
    assert plan.objective_values["coverage"] == pytest.approx(190)
    with pytest.raises(DataError, match="K9.*K10|K10.*K9"):
        _plan(fx, required=["K9"], excluded=["K10"])


def test_capacity_aware(fx):
    plan = _plan(fx, capacity_aware=True, demand_factor=1.0)
    # places decide: K1 20 (C2), K2 35 (C3 has 80), K3 20 + K4 20 (C4 60 + C5 40)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3", "K4"]
    assert plan.sites.loc["K2", "places"] == 35
    assert plan.objective_values["coverage"] == pytest.approx(95)
    assert plan.parameters["demand_factor"] == 1.0
    default = _plan(fx, capacity_aware=True)
    assert default.parameters["demand_factor"] == pytest.approx(4.5 / (1000 * POL.infant_share))


def test_phasing(fx):
    plan = _plan(fx, years=[2026, 2027], budget_per_year={2026: 60, 2027: 60})
    s = plan.sites
    assert s["year"].to_dict() == {"K1": 2026, "K4": 2026, "K2": 2027, "K3": 2027} or \
        dict(sorted(s["year"].to_dict().items())) == {"K1": 2026, "K2": 2027, "K3": 2027, "K4": 2026}
    assert s.index.is_unique  # a site opens in at most one year
    assert s.loc["K3", "year"] >= 2027  # not before its available_year
    assert plan.objective_values["shortfall"] == pytest.approx(0, abs=1e-6)
    assert plan.objective_values["coverage"] == pytest.approx(110 + 230)  # coverage-years
    for yr, cap in ((2026, 60), (2027, 60)):
        assert s.loc[s["year"] == yr, "cost"].sum() <= cap + 1e-9


def test_radius_beyond_access_cutoff(fx):
    with pytest.raises(DataError, match="cutoff"):
        _plan(fx, minutes=30)


@pytest.mark.parametrize("solver", ["cbc"])
def test_cbc_gives_same_plan(fx, solver):
    plan = _plan(fx, solver=solver)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"] and plan.status == "optimal"


# ------------------------------------------------------------------------------------ bundled area

def _bundled_access(area, pol):
    try:
        from tuoyu_geo.access import compute_access

        return compute_access(area, pol, minutes=(5, 10, 15))
    except (ImportError, AttributeError, NotImplementedError):
        pytest.skip("tuoyu_geo.access.compute_access not available yet")


def test_bundled_wuxi_plan():
    area = tg.datasets.shanghai_xuhui()
    pol = tg.load_policy("wuxi-2025")
    acc = _bundled_access(area, pol)
    plan = plan_sites(area, acc, pol, time_limit_s=60)
    assert plan.status == "optimal" and plan.gap <= 1e-4
    assert plan.solve_seconds < 30
    after = plan.streets_after
    assert len(after) == 13 and bool(after["has_puhui"].all())
    assert {"XH01", "XH12"} <= set(plan.sites["street_id"])


def test_cli_plan_writes_csvs(tmp_path, capsys):
    pytest.importorskip("tuoyu_geo.access").compute_access  # noqa: B018
    from tuoyu_geo import cli
    from tuoyu_geo.datasets import bundled_path

    rc = cli.main(["plan", str(bundled_path()), "--policy", "wuxi-2025", "--budget", "1500", "--no-progress",
                   "--out", str(tmp_path)])
    assert rc == 0
    sites = pd.read_csv(tmp_path / "recommended_sites.csv", encoding="utf-8-sig")
    sba = pd.read_csv(tmp_path / "street_before_after.csv", encoding="utf-8-sig")
    assert (tmp_path / "recommended_sites.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert sites["cost"].sum() <= 1500 + 1e-6 and {"XH01", "XH12"} <= set(sites["street_id"])
    assert len(sba) == 13 and sba["has_puhui_after"].all() and not sba["has_puhui_before"].all()
    assert sba["new_places"].sum() == sites["places"].sum()
    out = capsys.readouterr().out
    assert "new 普惠 sites" in out and "status: optimal" in out
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files
