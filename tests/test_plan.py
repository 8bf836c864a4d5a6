"""Site plans on a hand-solvable area with a real (hand-made) walk graph, plus the bundled 徐汇区 plan.

Hand instance (policy wuxi-2025: 4.5 places per 1000 residents, 普惠 share 70 %, 15 min = 1000 m,
classes 托大班 20 / 托小班 15 / 乳儿班 10):

* 街道 S1 (pop 10,000 → 45 places; has 普惠 I1 with 40 places → short 5), S2 (pop 4,000 → 18;
  民办 I2 with 20 places → short 0, but no 普惠), S3 (pop 4,000 → 18; nothing → short 18).
* candidates (size options / cost 万元 = 10 fixed + 1 per place, K4 5 + 1 per place):
  K1 in S1 20 / 30; K2 in S2 20 or 35 / 30 or 45; K3 in S3 20 / 30; K4 in S3 20 / 25.
* communities (infants): C1 S1 100, C2 S1 50, C3 S2 80, C4 S3 60, C5 S3 40.
* walk graph: one node per point, edges with these lengths (m) — C1–I1 150, C3–I2 900, C1–K1 700,
  C2–K1 300, C3–K2 200, C4–K3 400, C5–K3 500, C4–K4 250.  Every other community–facility path is
  longer than 1000 m (e.g. C2→K1→C1→I1 = 1150), so within 15 min: C1 reaches I1 (already covered
  by 普惠), C2 K1, C3 K2, C4 K3 and K4, C5 K3.

Sizes are whole classes of 10/15/18/20 between min and max: K2 may hold 20, 25, 28, 30, 33 or 35.

By hand, with the area-wide 普惠 share only (``street_puhui_share=False``, as most tests below): least
shortfall 0 needs K1 and K3 or K4, and 一街道一普惠 needs K2; most coverage then opens K1, K2, K3
(50 + 80 + 100 = 230; K4 adds nothing); least cost takes K2 at 20 places: 90 万元.

With the per-街道 普惠 share (the default, level 70 %): S2 has 20 民办 places and no 普惠 ones, so it
needs (1 − 0.7) × new ≥ 0.7 × 20 − 0 = 14, i.e. 46.7 new places; K2 holds at most 35, leaving
14 − 0.3 × 35 = 3.5 places short: K2 opens with 35 places (45 万元), plan cost 105 万元.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest
from shapely.geometry import Point, box

import tuoyu_geo as tg
from tuoyu_geo import DataError, InfeasiblePlanError
from tuoyu_geo.access import compute_access
from tuoyu_geo.plan import PlanOptions, class_mix, feasible_places, load_plan, plan_sites, save_plan

#: wuxi-2025 without 一县区一示范 (tested on its own below: the hand area has no site of ≥ 45 places)
POL = tg.load_policy("wuxi-2025", demonstration_per_district=0)

POINTS = {"C1": (121.402, 31.182), "C2": (121.408, 31.188), "C3": (121.415, 31.185), "C4": (121.423, 31.183),
          "C5": (121.427, 31.187), "I1": (121.403, 31.183), "I2": (121.414, 31.184), "K1": (121.407, 31.187),
          "K2": (121.416, 31.186), "K3": (121.425, 31.185), "K4": (121.422, 31.182)}
EDGES = {("C1", "I1"): 150.0, ("C3", "I2"): 900.0, ("C1", "K1"): 700.0, ("C2", "K1"): 300.0,
         ("C3", "K2"): 200.0, ("C4", "K3"): 400.0, ("C5", "K3"): 500.0, ("C4", "K4"): 250.0}


def hand_graph(edges=EDGES) -> nx.MultiDiGraph:
    """One node per point (WGS-84), both directions, ``length`` as given (m)."""
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for k, (x, y) in POINTS.items():
        G.add_node(k, x=x, y=y, street_count=1)
    for (a, b), length in edges.items():
        G.add_edge(a, b, length=length, osmid=0, oneway=False, reversed=False)
        G.add_edge(b, a, length=length, osmid=0, oneway=False, reversed=True)
    return G


def hand_area(*, candidates: dict | None = None, graph=None, policy: str = "wuxi-2025") -> tg.StudyArea:
    pts = {k: Point(*v) for k, v in POINTS.items()}
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1", "S2", "S3"], "name": ["一街道", "二街道", "三街道"],
         "population": [10000, 4000, 4000], "district": ["测试区"] * 3},
        geometry=[box(121.40, 31.18, 121.41, 31.19), box(121.41, 31.18, 121.42, 31.19),
                  box(121.42, 31.18, 121.43, 31.19)], crs="EPSG:4326")
    comms = gpd.GeoDataFrame(
        {"community_id": ["C1", "C2", "C3", "C4", "C5"], "name": list("甲乙丙丁戊"),
         "population": [4000, 2000, 3200, 2400, 1600], "infants": [100, 50, 80, 60, 40]},
        geometry=[pts[c] for c in ("C1", "C2", "C3", "C4", "C5")], crs="EPSG:4326")
    insts = gpd.GeoDataFrame(
        {"institution_id": ["I1", "I2"], "name": ["普惠托育园", "民办托育园"], "category": ["普惠", "民办"],
         "places": [40, 20], "puhui": [True, False]},
        geometry=[pts["I1"], pts["I2"]], crs="EPSG:4326")
    cand = {"site_id": ["K1", "K2", "K3", "K4"], "name": ["甲点", "乙点", "丙点", "丁点"],
            "kind": ["社区服务中心", "幼儿园富余", "社区服务中心", "新建小区配建"],
            "min_places": [20, 20, 20, 20], "max_places": [20, 35, 20, 20],
            "fixed_cost": [10.0, 10.0, 10.0, 5.0], "cost_per_place": [1.0, 1.0, 1.0, 1.0],
            "available_year": [2026, 2026, 2027, 2026]}
    cand.update(candidates or {})
    cands = gpd.GeoDataFrame(cand, geometry=[pts[k] for k in cand["site_id"]], crs="EPSG:4326")
    return tg.make_area(streets=streets, communities=comms, institutions=insts, candidates=cands, policy=policy,
                        name="测试区", graph=graph if graph is not None else hand_graph())


@pytest.fixture(scope="module")
def fx():
    area = hand_area()
    return area, compute_access(area, POL)


def _plan(fx, **kw):
    """The plan with the area-wide 普惠 share only, unless the test asks otherwise."""
    area, acc = fx
    return plan_sites(area, acc, POL, **{"street_puhui_share": False, **kw})


def test_street_puhui_share_by_default(fx):
    """See the module docstring: K2 at its 35 places, 3.5 places short of S2's 普惠 share, 105 万元."""
    area, acc = fx
    plan = plan_sites(area, acc, POL)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"] and plan.sites.loc["K2", "places"] == 35
    assert plan.objective_values["shortfall"] == pytest.approx(3.5)
    assert plan.objective_values["penalty_street_puhui_share"] == pytest.approx(3.5)
    assert plan.objective_values["cost"] == pytest.approx(105)


def test_fixture_distances_are_the_hand_lengths(fx):
    """The real stages reproduce the hand distances (so the plan below is the hand instance)."""
    area, acc = fx
    d = pd.DataFrame(acc.dist_candidates.toarray(), index=acc.community_ids, columns=acc.candidate_ids)
    assert d.loc["C2", "K1"] == pytest.approx(300) and d.loc["C4", "K4"] == pytest.approx(250)
    assert d.loc["C1", "K1"] == pytest.approx(700) and d.loc["C5", "K4"] == 0  # 1150 m: beyond the cutoff
    di = pd.DataFrame(acc.dist_institutions.toarray(), index=acc.community_ids, columns=acc.institution_ids)
    assert di.loc["C1", "I1"] == pytest.approx(150) and di.loc["C3", "I2"] == pytest.approx(900)
    assert acc.communities["within15_puhui"].tolist() == [True, False, False, False, False]


def test_whole_class_sizes_and_mix():
    """Totals of whole classes (10, 15, 18, 20) between min and max; the mix with the fewest carers
    (乳儿班 10 → ceil(10/3) = 4, 托小班 15 → 3, 托大班 20 → 3, 混龄班 18 → by its ratio)."""
    sizes = dict(POL.class_sizes)
    assert feasible_places(15, 40, [10, 15, 18, 20]) == [15, 18, 20, 25, 28, 30, 33, 35, 36, 38, 40]
    assert feasible_places(0, 9, [10, 15]) == [] and feasible_places(31, 34, [10, 15]) == []
    # a very large candidate keeps 60 sizes: its smallest, its largest and evenly spaced ones between
    big = feasible_places(20, 1000, [10, 15, 18, 20])
    assert len(big) == 60 and big[0] == 20 and big[-1] == 1000 and big == sorted(set(big))
    # 35 = 20 + 15 (3 + 3 carers) beats 10 + 10 + 15 (4 + 4 + 3)
    assert class_mix(35, {k: sizes[k] for k in ("乳儿班", "托小班", "托大班")},
                     {"乳儿班": 3, "托小班": 5, "托大班": 7}) == {"托小班": 1, "托大班": 1}
    # 40 = 20 + 20 (3 + 3) beats 10 + 15 + 15 (4 + 3 + 3)
    assert class_mix(40, {"乳儿班": 10, "托小班": 15, "托大班": 20}, {"乳儿班": 3, "托小班": 5, "托大班": 7}) == {"托大班": 2}


def test_default_plan_by_hand(fx):
    plan = _plan(fx)
    s = plan.sites
    assert sorted(s.index) == ["K1", "K2", "K3"]
    assert plan.status == tg.Status.OPTIMAL and plan.status == "optimal" and plan.gap <= 1e-4
    assert s.loc["K2", "places"] == 20 and s.loc["K2", "classes"] == "托大班×1" and s.loc["K2", "classes_large"] == 1
    ov = plan.objective_values
    assert ov["shortfall"] == pytest.approx(0, abs=1e-6)
    assert ov["coverage"] == pytest.approx(230) and ov["infants_newly_covered"] == pytest.approx(230)
    assert ov["cost"] == pytest.approx(90) and s["cost"].sum() == pytest.approx(90)
    assert ov["places"] == 60 and ov["sites"] == 3 and ov["infants_covered_before"] == 100


def test_every_block_is_named_after_its_rule(fx):
    plan = _plan(fx, budget_wan=1000, max_new_sites=4)
    blocks = plan.model_size["blocks"]
    assert {"指定点位", "一街道一普惠", "预算", "最大新增点位数", "每千人口托位数", "全区普惠托位占比", "步行覆盖"} <= set(blocks)
    assert blocks["一街道一普惠"] == 2  # S2 and S3 lack a 普惠 institution
    assert blocks["每千人口托位数"] == 2  # S1 (5) and S3 (18) are short


def test_coverage_before_cost(fx):
    """K4 (25 万元) is cheaper than K3 (30) and also meets S3's target and 一街道一普惠, but covers 60
    infants instead of 100: coverage is ranked before cost."""
    s = _plan(fx).sites
    assert "K3" in s.index and "K4" not in s.index


def test_explanations(fx):
    area, _ = fx
    s = _plan(fx).sites
    # greedy order of marginal coverage: K3 100, K2 80, K1 50
    assert s.sort_values("order").index.tolist() == ["K3", "K2", "K1"]
    assert s.loc["K3", "new_infants_covered"] == 100 and s.loc["K1", "new_infants_covered"] == 50
    assert s.loc["K3", "reason"].startswith("满足三街道一街道一普惠")
    assert "满足二街道一街道一普惠" in s.loc["K2", "reason"]
    assert "一街道一普惠" not in s.loc["K1", "reason"] and "补充一街道托位20个（规划前缺口5个）" in s.loc["K1", "reason"]
    assert s.loc["K3", "runner_up_id"] == "K4" and s.loc["K1", "runner_up_id"] == ""
    # nearest existing 普惠 (only I1): with no network given, straight-line metres in the metric CRS
    pts, ip = area.points("candidates"), area.points("institutions")
    for k in s.index:
        assert s.loc[k, "nearest_puhui_id"] == "I1"
        assert s.loc[k, "nearest_puhui_m"] == pytest.approx(pts[k].distance(ip["I1"]), rel=1e-6)


def test_nearest_puhui_on_the_network(fx):
    """With the network: K1 reaches I1 via C1, 700 + 150 = 850 m; K3 has no path within 5 km."""
    area, acc = fx
    s = plan_sites(area, acc, POL, network=tg.WalkNet.from_graph(area.graph)).sites
    assert s.loc["K1", "nearest_puhui_m"] == pytest.approx(850)
    assert s.loc["K3", "nearest_puhui_m"] == pytest.approx(area.points("candidates")["K3"].distance(
        area.points("institutions")["I1"]), rel=1e-6)


def test_after_the_plan(fx):
    area, _ = fx
    a = tg.assess(area, POL, plan=PlanOptions())
    assert a.streets.loc[["S2", "S3"], "has_puhui"].tolist() == [False, False]
    assert a.streets_after["has_puhui"].all()
    assert a.streets_after.loc["S3", "places"] == 20 and a.streets_after.loc["S1", "places"] == 60
    inst = a.plan.area_after.institutions
    assert inst.loc["K2", "category"] == "幼儿园托班" and inst.loc["K3", "category"] == "社区托育点"
    assert inst.loc[["K1", "K2", "K3"], "puhui"].all() and len(area.institutions) == 2  # input untouched
    # after: C2, C3, C4, C5 newly within 15 min of 普惠
    assert a.communities_after["within15_puhui"].all()


def test_strict_infeasible_street_lists_every_street(fx):
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(fx, excluded=["K2", "K3", "K4"], strict=True)
    assert sorted(r[0] for r in e.value.reasons) == ["三街道 (S3)", "二街道 (S2)"]
    assert all(r[1] == tg.rules.OnePuhuiPerStreet.name for r in e.value.reasons)


def test_best_effort_plans_the_rest_and_names_the_unmet(fx):
    """K2–K4 excluded: S2 and S3 have no candidate.  Best effort still opens K1 (S1's 5 missing
    places) and the gaps name S2 and S3 under 一街道一普惠 with the reason: no candidate."""
    area, _ = fx
    a = tg.assess(area, POL, plan=PlanOptions(excluded=("K2", "K3", "K4"), street_puhui_share=False),
                  with_isochrones=False)
    assert list(a.plan.sites.index) == ["K1"]
    g = a.gaps[a.gaps["rule"] == tg.rules.OnePuhuiPerStreet.name]
    assert sorted(g["street_id"]) == ["S2", "S3"]
    assert g["why"].str.contains("无可用候选点").all()


def test_binding_budget(fx):
    plan = _plan(fx, budget_wan=60)
    # K2 (30) is forced; K3 (30) beats K4 (25) on coverage; K1 no longer fits: S1 stays 5 short
    assert sorted(plan.sites.index) == ["K2", "K3"]
    assert plan.objective_values["cost"] == pytest.approx(60)
    assert plan.objective_values["shortfall"] == pytest.approx(5)
    assert plan.objective_values["coverage"] == pytest.approx(180)


def test_budget_below_forced_sites(fx):
    """Strict: the cheapest forced sites K2 30 + K4 25 = 55 > 50 fail the plan.  Best effort: one of
    S2/S3 must go without 普惠 (first stage = 1); serving S3 (gap 18) beats S2 (gap 0) on places
    (shortfall 5 = S1's), and K3 (100 infants) beats K4 (60) on coverage: K3 alone, 30 万元, S2 unmet."""
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(fx, budget_wan=50, strict=True)
    assert e.value.reasons[0][1] == "预算" and "55.0" in str(e.value)
    plan = _plan(fx, budget_wan=50)
    assert list(plan.sites.index) == ["K3"] and plan.objective_values["rules"] == pytest.approx(1)
    assert plan.objective_values["shortfall"] == pytest.approx(5)


def test_max_new_sites(fx):
    """Two sites: K2 (一街道一普惠) and K3 (S3).  One site, strict: fails; best effort: as with the
    budget of 50 above, K3 alone and S2 left without 普惠."""
    assert sorted(_plan(fx, max_new_sites=2).sites.index) == ["K2", "K3"]
    with pytest.raises(InfeasiblePlanError, match="最大新增点位数"):
        _plan(fx, max_new_sites=1, strict=True)
    assert list(_plan(fx, max_new_sites=1).sites.index) == ["K3"]


def test_required_and_excluded(fx):
    plan = _plan(fx, required=["K4"])
    assert sorted(plan.sites.index) == ["K1", "K2", "K3", "K4"]
    assert "指定必选点位" in plan.sites.loc["K4", "reason"]
    plan = _plan(fx, excluded=["K3"])
    assert sorted(plan.sites.index) == ["K1", "K2", "K4"]
    assert plan.objective_values["coverage"] == pytest.approx(190)
    with pytest.raises(DataError, match="K9.*K10|K10.*K9"):
        _plan(fx, required=["K9"], excluded=["K10"])
    with pytest.raises(DataError, match="both required and excluded"):
        PlanOptions(required=["K1"], excluded=["K1"])


def test_capacity_aware(fx):
    plan = _plan(fx, capacity_aware=True, demand_factor=1.0)
    # places decide: K1 20 (C2 50), K2 35 (C3 80), K3 20 + K4 20 (C4 60 + C5 40): 20 + 35 + 40 = 95
    assert sorted(plan.sites.index) == ["K1", "K2", "K3", "K4"]
    assert plan.sites.loc["K2", "places"] == 35
    assert plan.objective_values["coverage"] == pytest.approx(95)


def test_phasing(fx):
    plan = _plan(fx, years=[2026, 2027], budget_per_year_wan={2026: 60, 2027: 60})
    s = plan.sites
    assert s.index.is_unique and s.loc["K3", "year"] == 2027  # not before its available_year
    assert plan.objective_values["shortfall"] == pytest.approx(0, abs=1e-6)
    for yr in (2026, 2027):
        assert s.loc[s["year"] == yr, "cost"].sum() <= 60 + 1e-9
    # no shortfall in 2026 needs K1 (S1) and K4 (S3; K3 comes in 2027): 55 万元, covering 50 + 60;
    # 2027 adds K2 (一街道一普惠) and K3: 230 in all.  Coverage-years 110 + 230 = 340.
    assert s["year"].to_dict() == {"K1": 2026, "K4": 2026, "K2": 2027, "K3": 2027} or \
        dict(sorted(s["year"].to_dict().items())) == {"K1": 2026, "K2": 2027, "K3": 2027, "K4": 2026}
    assert plan.objective_values["coverage"] == pytest.approx(340)


def test_radius_beyond_access_cutoff(fx):
    with pytest.raises(DataError, match="cutoff"):
        _plan(fx, minutes=30)


def test_access_of_another_area_is_rejected(fx):
    area, acc = fx
    c = area.candidates.assign(site_id=["K1", "K2", "K3", "K5"])
    other = area.replace(candidates=c.set_axis(c["site_id"]))
    with pytest.raises(DataError, match="does not match"):
        plan_sites(other, acc, POL)


def test_cbc_gives_same_plan(fx):
    plan = _plan(fx, solver="cbc")
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"] and plan.status == "optimal"
    assert plan.objective_values["cost"] == pytest.approx(90)


# ------------------------------------------------------------------- rules the mutants must break

def test_min_places_is_a_lower_bound():
    """K2 with min_places 35: its only size is 35 (托大班 + 托小班), never 20 — cost 10 + 35 = 45,
    plan cost 30 + 45 + 30 = 105 instead of 90."""
    area = hand_area(candidates={"min_places": [20, 35, 20, 20]})
    plan = plan_sites(area, compute_access(area, POL), POL, street_puhui_share=False)
    assert plan.sites.loc["K2", "places"] == 35
    assert plan.objective_values["cost"] == pytest.approx(105)


def test_street_target_is_rounded_up():
    """S3 with population 4,490 needs 4.5 × 4.49 = 20.205 → 21 places.  K3 holds whole classes
    between 20 and 35 (20, 25, 28, 30, 33, 35): 20 would leave 1 short, so the plan opens K3 with 25
    (10 + 15).  A floored target (20) would take the cheaper 20."""
    area = hand_area(candidates={"max_places": [20, 35, 35, 20]})
    area = area.replace(streets=area.streets.assign(population=[10000, 4000, 4490]))
    plan = plan_sites(area, compute_access(area, POL), POL, street_puhui_share=False)
    assert plan.objective_values["shortfall"] == pytest.approx(0, abs=1e-6)
    assert plan.sites.loc["K3", "places"] == 25


def test_coverage_radius_is_inclusive():
    """C4–K4 exactly 1000 m: within 15 min (≤, not <): K4 then covers C4 as well as K3 does, and
    with K3 excluded the plan still covers C4 (60 infants) by K4."""
    area = hand_area(graph=hand_graph({**EDGES, ("C4", "K4"): 1000.0}))
    acc = compute_access(area, POL)
    plan = plan_sites(area, acc, POL, excluded=["K3"], street_puhui_share=False)
    assert plan.objective_values["coverage"] == pytest.approx(50 + 80 + 60)


# ------------------------------------------------------------------- saved plans

def test_save_and_load_plan_without_solving(fx, tmp_path):
    area, acc = fx
    plan = _plan(fx, budget_wan=60)
    path = save_plan(plan, tmp_path / "plan.json", area=area)
    back = load_plan(path, area)
    assert back.sites.index.tolist() == plan.sites.index.tolist()
    assert back.sites["places"].tolist() == plan.sites["places"].tolist()
    assert back.options == plan.options and back.status == plan.status
    a = tg.assess(area, POL, plan=back)
    assert a.streets_after.loc["S2", "has_puhui"] and a.plan is back
    moved = area.replace(candidates=area.candidates.assign(geometry=area.candidates.geometry.translate(0.001)))
    with pytest.raises(DataError, match="moved"):
        load_plan(path, moved)


# ------------------------------------------------------------------- bundled area

@pytest.fixture(scope="module")
def bundled():
    return tg.assess(tg.datasets.shanghai_xuhui(), "wuxi-2025", plan=PlanOptions(), with_isochrones=False)


def test_bundled_wuxi_plan(bundled):
    plan = bundled.plan
    assert plan.status == "optimal" and plan.gap <= 1e-4
    after = bundled.streets_after
    assert len(after) == 13 and bool(after["has_puhui"].all())
    assert {"XH01", "XH12"} <= set(plan.sites["street_id"])
    # every 街道 still failing a rule is named with the rule and a reason
    failing = after.index[after["status"] != "达标"]
    assert set(bundled.gaps["street_id"]) >= set(failing)
    assert bundled.gaps["why"].str.len().min() > 5


def test_cli_plan_then_export_without_solving(tmp_path, capsys):
    from tuoyu_geo import cli
    from tuoyu_geo.datasets import bundled_path

    rc = cli.main(["plan", str(bundled_path()), "--policy", "wuxi-2025", "--budget", "1500", "--no-progress",
                   "--out", str(tmp_path / "p")])
    assert rc == 0
    sites = pd.read_csv(tmp_path / "p" / "recommended_sites.csv", encoding="utf-8-sig")
    assert len(sites) > 0 and (tmp_path / "p" / "plan.json").exists()
    out = capsys.readouterr().out
    assert "new 普惠 sites" in out and "status: optimal" in out
    rc = cli.main(["export", str(bundled_path()), "--policy", "wuxi-2025", "--plan", str(tmp_path / "p" / "plan.json"),
                   "--no-progress", "--out", str(tmp_path / "e")])
    assert rc == 0
    again = pd.read_csv(tmp_path / "e" / "recommended_sites.csv", encoding="utf-8-sig")
    assert again.equals(sites)
    assert not list(tmp_path.rglob(".*tmp*"))  # atomic writes leave no temporary files


def test_whole_class_sizing_uses_the_capacity():
    """S3 needs 4.5 × 40 = 180 places, far more than its sites hold: K3 (max 60) and K4 (max 38) both
    open at their maximum in whole classes — 60 = 3 × 托大班 (3 + 3 + 3 = 9 carers, fewer than 4 × 托小班
    = 12), 38 = 托大班 + 混龄班 (the only mix) — never more than one smallest class below max_places.
    (The former fixed option list gave 45 and 35.)  S3 stays 180 − 98 = 82 short."""
    area = hand_area(candidates={"min_places": [20, 20, 20, 0], "max_places": [20, 35, 60, 38]})
    area = area.replace(streets=area.streets.assign(population=[10000, 4000, 40000]))
    plan = plan_sites(area, compute_access(area, POL), POL, street_puhui_share=False)
    s = plan.sites
    assert s.loc["K3", "places"] == 60 and s.loc["K4", "places"] == 38
    assert s.loc["K3", "classes"] == "托大班×3" and s.loc["K3", "carers"] == 9
    assert s.loc["K4", "classes"] == "混龄班×1+托大班×1" and s.loc["K4", "classes_mixed"] == 1
    assert s.loc["K4", "floor_area_m2"] == pytest.approx(38 * POL.floor_area_m2_per_place)
    assert plan.objective_values["penalty_places"] == pytest.approx(82)


def test_one_demonstration_per_district():
    """wuxi-2025 asks one demonstration institution per district, of ≥ 45 places (profile minimum).
    测试区 has none.  (a) Nothing can hold 45 (I1 has 40, candidates ≤ 35): best effort names the
    district under 一县区一示范.  (b) K2 may hold 45: the first stage opens K2 with 45 places
    (托大班 + 托小班 + 乳儿班) and designates it.  (c) I1 has 50 places: the existing 普惠 institution is
    designated, no site needs to be."""
    wuxi = tg.load_policy("wuxi-2025")
    name = tg.rules.Demonstration.name
    a = tg.assess(hand_area(), wuxi, plan=PlanOptions(street_puhui_share=False), with_isochrones=False)
    assert a.plan.designated.empty and name in set(a.gaps["rule"])
    assert a.gaps.loc[a.gaps["rule"] == name, "name"].tolist() == ["测试区"]

    area = hand_area(candidates={"max_places": [20, 45, 20, 20]})
    a = tg.assess(area, wuxi, plan=PlanOptions(street_puhui_share=False), with_isochrones=False)
    assert a.plan.designated.to_dict(orient="records") == [{"district": "测试区", "id": "K2", "kind": "new", "places": 45}]
    assert a.plan.sites.loc["K2", "places"] == 45 and "指定为测试区示范机构" in a.plan.sites.loc["K2", "reason"]
    assert a.districts_after.loc["测试区", "status_demonstration"] == "达标" and name not in set(a.gaps["rule"])

    area = hand_area()
    area = area.replace(institutions=area.institutions.assign(places=[50, 20]))
    a = tg.assess(area, wuxi, plan=PlanOptions(street_puhui_share=False), with_isochrones=False)
    assert a.plan.designated.to_dict(orient="records") == [{"district": "测试区", "id": "I1", "kind": "existing", "places": 50}]
    assert a.plan.area_after.institutions.loc["I1", "is_demonstration"]
    assert a.districts_after.loc["测试区", "status_demonstration"] == "达标"


def test_residential_standard_uses_fixing_candidates():
    """S1 with 8,000 residents needs 36 places and has 40 (no gap).  C2 (2,000 residents, existing
    standard 5 per 1000 → 10 places) has no institution within 1000 m (I1 is 1150 m away) and, with
    no infants recorded, adds no coverage: only the residential rule can open K1 (300 m from C2).
    The plan opens K1 with its one size, 20 places; C2 then meets the standard."""
    area = hand_area()
    area = area.replace(streets=area.streets.assign(population=[8000, 4000, 4000]),
                        communities=area.communities.assign(infants=[100, 0, 80, 60, 40]))
    a = tg.assess(area, POL, plan=PlanOptions(street_puhui_share=False), with_isochrones=False)
    assert a.communities.loc["C2", "missing_places"] == pytest.approx(10)
    assert "K1" in a.plan.sites.index and a.plan.objective_values["residential"] == pytest.approx(0, abs=1e-6)
    assert bool(a.communities_after.loc["C2", "meets_standard"])


def test_equity_level_maximises_the_lowest_street_coverage(fx):
    """Budget 60: K2 (S2) and K3 or K4 (S3) — K1 no longer fits.  Coverage within 15 min of 普惠 per
    街道: S1 100 / 150 (C1 only; C2 needs K1), S2 80 / 80, S3 100 / 100 with K3 or 60 / 100 with K4.
    The equity stage's optimum, the lowest 街道 coverage, is 100 / 150 = 2/3, with K3."""
    plan = _plan(fx, budget_wan=60, equity=True)
    assert plan.objective_values["equity"] == pytest.approx(2 / 3, rel=1e-5)
    assert sorted(plan.sites.index) == ["K2", "K3"]


def test_street_puhui_share_met_where_candidates_allow():
    """K2 may hold up to 50: S2 needs ≥ 46.7 new 普惠 places (see the module docstring); the smallest
    whole-class total ≥ 46.7 is 48 (10 + 18 + 20), so K2 opens with 48 and S2's share is met
    (48 / 68 = 70.6 % ≥ 70 %): no shortfall at all."""
    area = hand_area(candidates={"max_places": [20, 50, 20, 20]})
    a = tg.assess(area, POL, plan=PlanOptions(), with_isochrones=False)
    assert a.plan.sites.loc["K2", "places"] == 48
    assert a.plan.objective_values["shortfall"] == pytest.approx(0, abs=1e-4)
    assert a.streets_after.loc["S2", "status_puhui_share"] == "达标"
    assert a.streets_after.loc["S2", "puhui_share"] == pytest.approx(48 / 68)


def test_cli_plan_file_with_plan_options_is_refused(tmp_path, capsys):
    """``map --plan P --budget 100`` would silently use P: refused (exit 2) naming the flag."""
    from tuoyu_geo import cli
    from tuoyu_geo.datasets import bundled_path

    p = tmp_path / "plan.json"
    p.write_text("{}", encoding="utf-8")
    rc = cli.main(["map", str(bundled_path()), "--plan", str(p), "--budget", "100", "--out", str(tmp_path / "m.html"),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--budget would be ignored" in err and not (tmp_path / "m.html").exists()


def test_new_site_ids_never_collide_with_existing_institutions():
    """A chosen site whose id is an existing institution id, while ``new_<id>`` is *also* taken,
    becomes ``new_<id>_2`` — the after-plan area is built (no duplicate-id error about an id the
    user never wrote), keeps every existing institution, and adds exactly the planned places.

    Fixture (tests/synth.py): institutions I1..I4 (20+25+30+35 = 110 places); we rename two of
    them to ``K16`` and ``new_K16``, the id of candidate K16 and its first fallback.  Planting
    K16 (35 places) by hand must give institutions {K16, new_K16, I3, I4, new_K16_2} with
    110 + 35 = 145 places.
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import synth

    from tuoyu_geo.plan.result import area_with_sites

    insts = synth.institutions()
    insts.loc[0, "institution_id"] = "K16"
    insts.loc[1, "institution_id"] = "new_K16"
    area = tg.make_area(streets=synth.streets(), communities=synth.communities(), institutions=insts,
                        candidates=synth.candidates(), policy="national-2025")
    site = area.candidates.loc[["K16"]].reset_index().assign(places=35, street_id="S1")
    after = area_with_sites(area, site)
    assert sorted(after.institutions.index) == sorted(["K16", "new_K16", "I3", "I4", "new_K16_2"])
    assert int(after.institutions["places"].sum()) == 145
    assert after.institutions.loc["new_K16_2", "status"] == "规划"


def _line_area(xs_sites: list[float], ys_sites: list[float]):
    """A straight 10 km street along y = 0 (nodes every 100 m, EPSG:32651), 普惠 I1 at x = 0 and
    I2 at x = 10,000, 民办 I3 at x = 2,000, and candidate sites at the given points."""
    G = nx.MultiDiGraph(crs="EPSG:32651")
    for k in range(101):
        G.add_node(k, x=100.0 * k, y=0.0)
    for k in range(100):
        G.add_edge(k, k + 1, length=100.0)
        G.add_edge(k + 1, k, length=100.0)
    crs = "EPSG:32651"
    insts = gpd.GeoDataFrame({"puhui": [True, True, False]}, index=pd.Index(["I1", "I2", "I3"]),
                             geometry=[Point(0, 0), Point(10_000, 0), Point(2_000, 0)], crs=crs)
    cands = gpd.GeoDataFrame(index=pd.Index([f"K{i}" for i in range(len(xs_sites))]),
                             geometry=[Point(x, y) for x, y in zip(xs_sites, ys_sites, strict=True)], crs=crs)

    class _Area:  # what nearest_puhui reads of a StudyArea
        institutions = insts

        @staticmethod
        def points(layer):
            return (cands if layer == "candidates" else insts).geometry

    return _Area(), tg.WalkNet.from_graph(G)


def test_nearest_puhui_grows_its_search():
    """Sites whose nearest 普惠 is found at each cutoff of the growing search (1 km, 1.5, 2.25,
    3.375 km, 5 km), worked out along the street: K0 at 300 m from I1; K1 1,400 m (second cutoff;
    the 民办 I3 at 600 m does not count).  K2…K5 lie 50 m off the street, which adds a 50 m snap
    leg (shorter than the straight line to I1/I2): K2 3,000 + 50 m; K3 4,900 + 50 m from I1
    (5,150 from I2; last cutoff); K4 4,800 + 50 m from I2; K5 700 + 50 m.  Each differs from
    the straight line (e.g. K3: 4,900.3 m), so a search that stopped short would show."""
    from tuoyu_geo.plan.explain import nearest_puhui

    xs = [300, 1_400, 3_000, 4_900, 5_200, 700]
    area, net = _line_area(xs, [0, 0, 50, 50, 50, 50])
    ids = [f"K{i}" for i in range(len(xs))]
    near_id, near_m, how = nearest_puhui(area, ids, network=net)
    assert how.startswith("network")
    assert [near_id[k] for k in ids] == ["I1", "I1", "I1", "I1", "I2", "I1"]
    assert [near_m[k] for k in ids] == pytest.approx([300, 1_400, 3_050, 4_950, 4_850, 750])


def test_nearest_puhui_beyond_the_cutoff_is_straight_line():
    """A site 5,500 m along the street from I1 and 4,500 m from I2, but whose point lies 6 km off
    the street, has no walking path within 5 km: straight line to I2, hypot(4,500, 6,000) = 7,500 m."""
    from tuoyu_geo.plan.explain import nearest_puhui

    area, net = _line_area([5_500], [6_000])
    near_id, near_m, _ = nearest_puhui(area, ["K0"], network=net)
    assert near_id == {"K0": "I2"} and near_m["K0"] == pytest.approx(7_500)
