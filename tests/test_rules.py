"""Rule by rule: each test pins one policy rule (or one step of the plan) that a mutant of the rule
would break.  Every expected value is worked out by hand in the docstring, on the hand instances
of ``test_plan.py`` (3 街道, 5 小区, I1 普惠 40 places in S1, I2 民办 20 places in S2, candidates
K1–K4; wuxi-2025: 4.5 places / 1000, 普惠 ≥ 70 %, circles 5/10/15 min = 300/500/1000 m, whole
classes of 10/15/18/20; ``POL`` of test_plan has no 一县区一示范, tested here with ``WUXI``) and ``test_indicators.py`` (S1 50 places of which 40 普惠, S2 10 民办, S3 none).

Hand plan of ``test_plan.py`` with the area-wide 普惠 share only (``street_puhui_share=False``, as in
most tests below, see :func:`_plan`): K1, K2 (20 places), K3; shortfall 0, coverage 230, cost 90 万元.
Precheck tests use ``strict=True`` (best effort, the default, plans around unmet rules instead).
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point
from test_indicators import _access as ind_access
from test_indicators import _area as ind_area
from test_plan import EDGES, POL, hand_area, hand_graph

import tuoyu_geo as tg
from tuoyu_geo import InfeasiblePlanError
from tuoyu_geo import indicators as ind
from tuoyu_geo.access import compute_access
from tuoyu_geo.plan import plan_sites

MET, NOT = "达标", "未达标"


@pytest.fixture(scope="module")
def fx():
    area = hand_area()
    return area, compute_access(area, POL)


def _plan(area, acc, **kw):
    """The plan with the area-wide 普惠 share only, unless the test asks otherwise."""
    return plan_sites(area, acc, POL, **{"street_puhui_share": False, **kw})


# ------------------------------------------------------------------- access: "within d" is ≤ d

def test_circle_flags_count_a_nearest_institution_exactly_at_the_threshold():
    """C1–I1 = 300 m (exactly 5 min) and C3–I2 = 500 m (exactly 10 min); the rest of the hand graph
    as in test_plan (C2 reaches I1 only via K1 and C1: 300 + 700 + 300 = 1300 m > 1000 m; C4, C5 lie
    in a component without institutions).  So nearest institution: C1 300 (普惠 I1), C3 500 (民办 I2),
    others none; with ≤: within5_any/puhui = C1 only, within10_any = C1 and C3, within10_puhui = C1."""
    area = hand_area(graph=hand_graph({**EDGES, ("C1", "I1"): 300.0, ("C3", "I2"): 500.0}))
    c = compute_access(area, POL).communities
    assert c.loc["C1", "nearest_puhui_m"] == pytest.approx(300) and c.loc["C3", "nearest_any_m"] == pytest.approx(500)
    T, F = True, False
    assert c["within5_any"].tolist() == [T, F, F, F, F]
    assert c["within5_puhui"].tolist() == [T, F, F, F, F]
    assert c["within10_any"].tolist() == [T, F, T, F, F]
    assert c["within10_puhui"].tolist() == [T, F, F, F, F]


# ------------------------------------------------------------------- status: equality meets

def test_share_exactly_at_the_target_meets():
    """普惠 share target 80 %: S1 has 40 普惠 of 50 places = 80 % → 达标 (equality meets); S2, S3 0 %.
    Target 2/3: the area has 40 of 60 = 2/3 → the total row 达标."""
    area = ind_area()
    acc = ind_access(area)
    sc = ind.street_scorecard(area, acc, tg.load_policy("wuxi-2025", puhui_share=0.8))
    assert sc["status_puhui_share"].tolist() == [MET, NOT, NOT]
    two_thirds = tg.load_policy("wuxi-2025", puhui_share=2 / 3)
    total = ind.street_total(ind.street_scorecard(area, acc, two_thirds), two_thirds)
    assert total["puhui_share"] == pytest.approx(2 / 3) and total["status_puhui_share"] == MET


def test_places_total_exactly_at_the_target_meets():
    """Populations 9,000 / 8,000 / 7,000 = 24,000 and 2.5 places per 1000: the area needs
    2.5 × 24 = 60 places and has 50 + 10 + 0 = 60 → total 达标, although S2 (20 needed, 10 there:
    gap 10) and S3 (17.5 → 18) are short; S1 needs 22.5 and has 50."""
    area = ind_area()
    area = area.replace(streets=area.streets.assign(population=[9000, 8000, 7000]))
    pol = tg.load_policy("wuxi-2025", places_per_1000=2.5)
    sc = ind.street_scorecard(area, ind_access(area), pol)
    assert sc["place_gap"].tolist() == [0, 10, 18]
    assert sc["status_places"].tolist() == [MET, NOT, NOT]
    assert ind.street_total(sc, pol)["status_places"] == MET


# ------------------------------------------------------------------- 普惠 share rules in the plan

def test_street_puhui_share_constrains_the_plan():
    """With street_puhui_share=True, S2 (20 民办 places, no 普惠) needs P_pu + new ≥ 0.7 (P + new):
    (1 − 0.7)·new + short ≥ 0.7 × 20 − 0 = 14.  K2 offers at most 35 places: 0.3 × 35 = 10.5, so the
    least shortfall is 14 − 10.5 = 3.5 with K2 at 35 (a share rule without the (1 − θ) factor would
    be met by 20 places).  S1 (40/40 普惠) and S3 (no places: 0.7 × 0 − 0 = 0) need no row.
    Places (S1 short 5 → K1, S3 short 18 → K3) and the area share (0.7 × 60 − 40 = 2 ≤ 0.3 × new)
    cost nothing more; coverage takes K1, K2, K3 (230); cost 30 + (10 + 35) + 30 = 105 万元."""
    area = hand_area()
    plan = _plan(area, compute_access(area, POL), street_puhui_share=True)
    ov = plan.objective_values
    assert ov["shortfall"] == pytest.approx(3.5)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"] and plan.sites.loc["K2", "places"] == 35
    assert ov["coverage"] == pytest.approx(230) and ov["cost"] == pytest.approx(105)
    assert plan.model_size["blocks"]["普惠托位占比"] == 1      # S2 only


def test_street_puhui_share_off_adds_no_rows(fx):
    """With street_puhui_share=False the per-街道 share adds no block and K2 keeps its cheapest size (20)."""
    plan = _plan(*fx)
    assert "普惠托位占比" not in plan.model_size["blocks"] and plan.sites.loc["K2", "places"] == 20


def test_area_puhui_share_uses_one_minus_theta():
    """I2 with 100 民办 places: the area has 40 普惠 of 140, and needs (1 − 0.7)·new + short ≥
    0.7 × 140 − 40 = 58.  All four candidates at their largest sizes give 20 + 35 + 20 + 20 = 95 new
    places, 0.3 × 95 = 28.5, so the least shortfall is 58 − 28.5 = 29.5 (places are short only in S1
    (5) and S3 (18), met by K1 and K3/K4).  Without the (1 − θ) factor, new ≥ 58 would be met by
    K1 + K2 + K3 at 60 places, with no shortfall and without K4.  Cost 30 + 45 + 30 + 25 = 130."""
    area = hand_area()
    area = area.replace(institutions=area.institutions.assign(places=[40, 100]))
    plan = _plan(area, compute_access(area, POL))
    ov = plan.objective_values
    assert ov["shortfall"] == pytest.approx(29.5)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3", "K4"] and plan.sites.loc["K2", "places"] == 35
    assert ov["cost"] == pytest.approx(130)


def test_area_puhui_share_already_met_adds_no_rows(fx):
    """Target 60 %: 40 of 60 places are 普惠 (66.7 %), need max(0, 0.6 × 60 − 40) = 0 → no
    全区普惠托位占比 rows (as 每千人口托位数 adds rows only for short 街道); the plan is the hand plan."""
    plan = plan_sites(*fx, POL.replace(puhui_share=0.6), street_puhui_share=False)
    assert "全区普惠托位占比" not in plan.model_size["blocks"]
    assert plan.model_size["blocks"]["每千人口托位数"] == 2
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"]


# ------------------------------------------------------------------- prechecks

def test_budget_equal_to_the_forced_sites_is_feasible(fx):
    """Strict: the cheapest forced sites (一街道一普惠 in S2 and S3) cost K2 30 + K4 25 = 55 万元; a
    budget of exactly 55 passes the precheck and admits a plan: K2 (20 places) and K4 (K3 would cost
    30).  S1 stays 5 places short (no money for K1), S3 gets 20 ≥ 18; coverage C3 80 + C4 60 = 140."""
    plan = _plan(*fx, budget_wan=55, strict=True)
    assert sorted(plan.sites.index) == ["K2", "K4"]
    ov = plan.objective_values
    assert ov["cost"] == pytest.approx(55) and ov["shortfall"] == pytest.approx(5)
    assert ov["coverage"] == pytest.approx(140)


def test_max_new_sites_precheck_names_the_rule(fx):
    """Strict, max_new_sites=1, but S2 and S3 both lack a 普惠 institution: 0 required + 2 forced =
    2 > 1.  The precheck reports it for 全区 under 最大新增点位数 (not the solver's generic 模型 reason);
    with max_new_sites=2 it passes."""
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(*fx, max_new_sites=1, strict=True)
    assert [r[:2] for r in e.value.reasons] == [("全区", "最大新增点位数")]
    assert "= 2 > max_new_sites=1" in e.value.reasons[0][2] and "allow at least 2 new sites" in str(e.value)
    # exactly 2 allowed: the precheck passes (2 ≤ 2) and the plan is K2 + K3 (K3 covers 100 > K4's 60)
    assert sorted(_plan(*fx, max_new_sites=2, strict=True).sites.index) == ["K2", "K3"]


def test_required_site_precheck_names_the_site(fx):
    """Strict.  K3 is available from 2027: required in a plan for 2026 only → 指定点位 for S3, "not
    available until 2027" (S3 still has K4, so 一街道一普惠 is not reported).  K2 with places 21–24 cannot
    hold whole classes (10, 15, 18, 20: the totals are 10, 15, 18, 20, 25, …, none in 21–24): required
    → 指定点位 for S2, and S2 then has no allowed site → also 一街道一普惠 for S2."""
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(*fx, required=["K3"], years=[2026], strict=True)
    assert e.value.reasons == (("三街道 (S3)", "指定点位", "required site K3 is not available until 2027"),)
    area = hand_area(candidates={"min_places": [20, 21, 20, 20], "max_places": [20, 24, 20, 20]})
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(area, compute_access(area, POL), required=["K2"], strict=True)
    assert sorted(r[:2] for r in e.value.reasons) == [("二街道 (S2)", "一街道一普惠"), ("二街道 (S2)", "指定点位")]
    assert any(r[1] == "指定点位" and r[2].startswith("required site K2 ") for r in e.value.reasons)


def test_strict_one_puhui_is_a_hard_rule(fx):
    """Strict, years 2026–2027 with 20 万元 a year: every site costs ≥ 25 (K4 5 + 20), so nothing can
    open and 一街道一普惠 (S2, S3) cannot be met.  The prechecks pass (both 街道 have allowed
    candidates, no total budget), the solver finds no plan → InfeasiblePlanError (全区, 模型); best
    effort instead returns the empty plan with both 街道 penalised in the first stage (2)."""
    with pytest.raises(InfeasiblePlanError) as e:
        _plan(*fx, years=[2026, 2027], budget_per_year_wan=20, strict=True)
    assert [r[:2] for r in e.value.reasons] == [("全区", "模型")]
    plan = _plan(*fx, years=[2026, 2027], budget_per_year_wan=20)
    assert plan.sites.empty and plan.objective_values["rules"] == pytest.approx(2)


# ------------------------------------------------------------------- 一县区一示范 (wuxi-2025: 1 per district, ≥ 45 places)

WUXI = tg.load_policy("wuxi-2025")


def test_existing_institution_of_exactly_the_minimum_size_is_designated(fx):
    """I1 (普惠) with exactly 45 places (= demonstration_min_places) is designated 测试区's
    demonstration institution; with 44 it is not, and no candidate can hold 45 (max 35): none."""
    area, _ = fx
    for places, want in ((45, [{"district": "测试区", "id": "I1", "kind": "existing", "places": 45}]), (44, [])):
        a = area.replace(institutions=area.institutions.assign(places=[places, 20]))
        # access depends on the places (2SFCA, places within reach): computed for the changed area
        plan = plan_sites(a, tg.access.compute_access(a, WUXI), WUXI, street_puhui_share=False)
        assert plan.designated.to_dict(orient="records") == want, places


def test_strict_demonstration(fx):
    """Strict with one demonstration institution required in 测试区:
    (a) nothing can hold 45 places (I1 has 40, candidates ≤ 35) → the precheck fails under 一县区一示范;
    (b) K2 may hold 45: exactly one candidate for one designation → the plan opens K2 with 45 and
        designates it;
    (c) the same with a budget of 70: the prechecks pass (forced K2 30 + K4 25 = 55 ≤ 70; one large
        candidate) but K2 at 45 (55 万元) + S3's cheapest K4 (25) = 80 > 70 → no plan (全区, 模型).
        Best effort with that budget gives up the designation (1 rule broken either way: K2 at 45
        alone would leave S3 without 普惠 and 23 places short, K2 at 20 + K3 leaves only S1 5 short)."""
    area, acc = fx
    with pytest.raises(InfeasiblePlanError) as e:
        plan_sites(area, acc, WUXI, street_puhui_share=False, strict=True)
    assert [r[:2] for r in e.value.reasons] == [("测试区", "一县区一示范")]
    big = hand_area(candidates={"max_places": [20, 45, 20, 20]})
    acc_big = compute_access(big, WUXI)
    plan = plan_sites(big, acc_big, WUXI, street_puhui_share=False, strict=True)
    assert plan.designated.to_dict(orient="records") == [{"district": "测试区", "id": "K2", "kind": "new", "places": 45}]
    with pytest.raises(InfeasiblePlanError) as e:
        plan_sites(big, acc_big, WUXI, street_puhui_share=False, strict=True, budget_wan=70)
    assert [r[:2] for r in e.value.reasons] == [("全区", "模型")]
    plan = plan_sites(big, acc_big, WUXI, street_puhui_share=False, budget_wan=70)
    assert plan.designated.empty and sorted(plan.sites.index) == ["K2", "K3"]
    assert plan.objective_values["shortfall"] == pytest.approx(5)


def test_only_the_designated_site_needs_the_minimum_size():
    """K1 and K2 may both hold 45; one designation is needed.  The plan opens K1, K2, K3 (hand plan)
    with one of K1/K2 at 45 (designated) and the other at its cheapest 20: cost 30 + 55 + 30 = 115
    万元 (both at 45 would cost 140)."""
    area = hand_area(candidates={"max_places": [45, 45, 20, 20]})
    plan = plan_sites(area, compute_access(area, WUXI), WUXI, street_puhui_share=False)
    s = plan.sites
    assert sorted(s.index) == ["K1", "K2", "K3"] and sorted(s.loc[["K1", "K2"], "places"]) == [20, 45]
    assert len(plan.designated) == 1 and plan.objective_values["cost"] == pytest.approx(115)


# ------------------------------------------------------------------- 居住区配建 rows

def test_residential_rows_only_for_communities_missing_places(fx):
    """Existing communities need 5 places per 1000 within 1000 m: C1 20 (I1 40 at 150 m ✓), C2 10 (none
    within 1000 m → 10 missing; K1 at 300 m), C3 16 (I2 20 at 900 m ✓), C4 12 (none; K3 400 m, K4
    250 m), C5 8 (none; K3 500 m).  So 3 rows (C2, C4, C5), all met by the hand plan (K1 20 ≥ 10,
    K3 20 ≥ 12 and ≥ 8): residential shortfall 0."""
    plan = _plan(*fx)
    assert plan.model_size["blocks"]["居住区配建标准"] == 3
    assert plan.objective_values["residential"] == pytest.approx(0, abs=1e-6)


# ------------------------------------------------------------------- explanations: ties by id

def _with_k5() -> tg.StudyArea:
    """The hand area plus K5 in S3: a copy of K4 (5 + 1 万元/place, 20 places) at its own node, 250 m
    from C4 only (C5 → K5 = 500 + 400 + 250 = 1150 m).  K5 is listed before K4."""
    G = hand_graph()
    G.add_node("K5", x=121.428, y=31.181, street_count=1)
    G.add_edge("C4", "K5", length=250.0, osmid=0, oneway=False, reversed=False)
    G.add_edge("K5", "C4", length=250.0, osmid=0, oneway=False, reversed=True)
    area = hand_area(graph=G)
    c = area.candidates
    k5 = c.loc[["K4"]].assign(site_id="K5", name="戊点", geometry=[Point(121.428, 31.181)]).set_axis(["K5"])
    return area.replace(candidates=pd.concat([c.loc[["K1", "K2", "K3"]], k5, c.loc[["K4"]]]))


@pytest.fixture(scope="module")
def fx5():
    area = _with_k5()
    return area, compute_access(area, POL)


def test_runner_up_ties_go_to_the_smaller_id(fx5):
    """The plan is still K1, K2, K3 (K4, K5 cover only C4, which K3 covers too).  Runner-up of K3: K4
    and K5 would each newly cover C4 (60) at the same cheapest cost (25) → the smaller id, K4."""
    area, acc = fx5
    assert acc.dist_candidates[acc.community_ids.get_loc("C4"), acc.candidate_ids.get_loc("K5")] == \
        pytest.approx(250)
    s = _plan(area, acc).sites
    assert sorted(s.index) == ["K1", "K2", "K3"]
    assert s.loc["K3", "runner_up_id"] == "K4"


def test_greedy_order_ties_go_to_the_smaller_id(fx5):
    """K4 and K5 required: marginal coverage K3 100, K2 80, K1 50, then K4 and K5 add 0 each (C4 is
    covered by K3), both 20 places → the smaller id first: K3, K2, K1, K4, K5."""
    s = _plan(*fx5, required=["K4", "K5"]).sites
    assert s.sort_values("order").index.tolist() == ["K3", "K2", "K1", "K4", "K5"]
    assert s.loc["K4", "new_infants_covered"] == 0 and s.loc["K5", "new_infants_covered"] == 0


# ------------------------------------------------------------------- lexicographic solve

def test_each_stage_starts_from_the_previous_solution(fx, monkeypatch):
    """The lexicographic stages with terms (here at least shortfall, coverage, cost) are solved in
    order; the first has no start, every later one gets the previous stage's solution as its MIP start
    (so a stage cut off by the time limit never returns a worse plan): the same sites and sizes (every
    integer column), its continuous part re-optimised for the new stage.  The plan is still the hand
    plan (cost 90)."""
    mod = importlib.import_module("tuoyu_geo.plan.solve")
    real, calls = mod.solve, []

    def spy(milp, **kw):
        sol = real(milp, **kw)
        calls.append((kw.get("start"), None if sol.x is None else sol.x.copy(), milp.arrays()[3]))
        return sol

    monkeypatch.setattr(mod, "solve", spy)
    plan = _plan(*fx)
    assert len(calls) == len(plan.stages) >= 3 and calls[0][0] is None
    for (_, prev_x, _), (start, _, integer) in zip(calls, calls[1:], strict=False):
        n = len(prev_x)  # later stages may add rows, never columns
        assert start is not None and np.array_equal(np.asarray(start)[:n][integer[:n]], prev_x[integer[:n]])
    assert plan.objective_values["cost"] == pytest.approx(90)
