"""The plan's MILP formulations and strengthenings (issue 13): each is valid — it removes no plan — so
every formulation and every switch gives the hand optima of ``test_plan.py`` (see its docstring):

* default, area-wide 普惠 share only: K1, K2 at 20 places, K3; coverage 230, cost 90 万元;
* capacity-aware with demand factor 1: K1 20, K2 35, K3 20, K4 20 places; 95 children placed;
* phased 2026–2027 with 60 万元 a year: K1 and K4 in 2026 (55 万元; K3 is available from 2027 only),
  K2 and K3 in 2027; coverage summed over the years 110 + 230 = 340.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from test_plan import _plan, fx  # noqa: F401  (fixture)

from tuoyu_geo import settings
from tuoyu_geo.solvers import MILP, complete_start

FORMULATIONS = ("cumulative", "per_year", "classes")
SWITCHES = tuple(settings.PLAN_MILP)


def _check_default(plan):
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"] and plan.sites.loc["K2", "places"] == 20
    assert plan.objective_values["coverage"] == pytest.approx(230)
    assert plan.objective_values["cost"] == pytest.approx(90)


def _check_capacity(plan):
    assert plan.sites["places"].to_dict() == {"K1": 20, "K2": 35, "K3": 20, "K4": 20}
    assert plan.objective_values["coverage"] == pytest.approx(95)


def _check_phasing(plan):
    s = plan.sites
    assert dict(sorted(s["year"].to_dict().items())) == {"K1": 2026, "K2": 2027, "K3": 2027, "K4": 2026}
    for yr in (2026, 2027):
        assert s.loc[s["year"] == yr, "cost"].sum() <= 60 + 1e-9
    assert plan.objective_values["coverage"] == pytest.approx(340)
    assert plan.objective_values["shortfall"] == pytest.approx(0, abs=1e-6)


CASES = {"default": ({}, _check_default),
         "capacity": ({"capacity_aware": True, "demand_factor": 1.0}, _check_capacity),
         "phasing": ({"years": [2026, 2027], "budget_per_year_wan": {2026: 60, 2027: 60}}, _check_phasing)}


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_formulations_give_the_hand_optima(fx, monkeypatch, formulation, case):  # noqa: F811
    monkeypatch.setattr(settings, "PLAN_FORMULATION", formulation)
    kw, check = CASES[case]
    check(_plan(fx, **kw))


@pytest.mark.parametrize("off", (*SWITCHES, "none"))
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_strengthening_is_valid(fx, monkeypatch, off, case):  # noqa: F811
    """With every strengthening on ("none" off, including those off by default) and with each one
    switched off: the same optima."""
    monkeypatch.setattr(settings, "PLAN_MILP", {**dict.fromkeys(SWITCHES, True), off: False})
    kw, check = CASES[case]
    check(_plan(fx, **kw))


def test_cumulative_rows_are_monotone(fx):  # noqa: F811
    """Cumulative phasing: one "open by year" binary per (site, size, year) with ``Y[2026] ≤ Y[2027]``.
    Sites available in 2026 (K1, K2, K4; K3 only from 2027) have both years: one row per size —
    K1 1 size (20), K2 6 (20 25 28 30 33 35), K4 1 (20) → 8 rows."""
    model = _model(fx, years=(2026, 2027))
    assert len(model.blocks["分期建设:累计"]) == 8


def _model(fx, **kw):  # noqa: F811
    from test_plan import POL

    from tuoyu_geo.indicators import community_scorecard, street_scorecard
    from tuoyu_geo.plan import PlanOptions
    from tuoyu_geo.plan.build import build_model

    area, acc = fx
    area = area.with_policy(POL)
    cs = community_scorecard(area, acc, POL)
    return build_model(area, acc, POL, PlanOptions(street_puhui_share=False, **kw),
                       street_scorecard(area, acc, POL, communities=cs), POL.threshold_m(15), communities=cs)


def test_served_rows_are_added_only_when_everyone_is_served(fx):  # noqa: F811
    """Communities without 普惠 within reach that some allowed candidate reaches: C2 (K1), C3 (K2),
    C4 (K3, K4), C5 (K3).  The default plan covers all four (230 = 50 + 80 + 60 + 40, the most), so 4
    served rows are added; with K3 excluded C5 drops out of the coverage terms and the other three
    are covered (190, the most): 3 rows; with one new site at most, coverage stays below the most
    (one site reaches at most C4 + C5 = 100 < 230): none."""
    assert _served(fx) == 4
    assert _served(fx, excluded=["K3"]) == 3
    assert _served(fx, max_new_sites=1) == 0


def _served(fx, **kw):  # noqa: F811
    import tuoyu_geo.plan.solve as S

    seen = []
    orig = S._hold

    def spy(model, stage, cols, coef, sense, v, dp=None):
        before = len(model.blocks.get("步行覆盖:served", []))
        fixed = orig(model, stage, cols, coef, sense, v, dp)
        seen.append(len(model.blocks.get("步行覆盖:served", [])) - before)
        return fixed

    S._hold = spy
    try:
        _plan(fx, **kw)
    finally:
        S._hold = orig
    return sum(seen)


def test_complete_start_reoptimises_the_continuous_part():
    """max x + y, x ∈ {0…3} integer, 0 ≤ y ≤ x + 0.5 (continuous).  Start x = 2, y = 0: with x fixed
    at 2 the LP raises y to 2.5, objective 4.5 (the integer part is kept)."""
    m = MILP()
    x = m.add_vars(1, lb=0, ub=3, integer=True)
    y = m.add_vars(1, lb=0, ub=np.inf)
    m.add_row(np.r_[y, x], np.r_[1.0, -1.0], hi=0.5)
    m.set_objective(np.r_[1.0, 1.0], -1)
    out = complete_start(m, np.r_[2.0, 0.0])
    assert out[0] == 2 and out[1] == pytest.approx(2.5)


def test_optimality_line_in_planner_units(fx):  # noqa: F811
    """A proven plan says so; a cost stage stopped at 100 万元 with bound 92 may be 8.0 万元 too dear; a
    coverage stage stopped at 900 infants with bound 950 may miss 50.0 infants."""
    plan = _plan(fx)
    assert plan.optimality.startswith("proven optimal")
    cut = dataclasses.replace(plan, stages=(
        {"stage": "shortfall", "status": "optimal", "objective": 0.0, "bound": 0.0, "gap": 0.0},
        {"stage": "cost", "status": "time_limit", "objective": 100.0, "bound": 92.0, "gap": 0.08}))
    assert "at most 8.0 万元" in cut.optimality and "'cost'" in cut.optimality
    cov = dataclasses.replace(plan, stages=(
        {"stage": "coverage", "status": "time_limit", "objective": 900.0, "bound": 950.0, "gap": 0.05},
        {"stage": "cost", "status": "time_limit", "objective": 100.0, "bound": 92.0, "gap": 0.08}))
    assert "at most 50.0 infants" in cov.optimality
    # a stage stopped without a bound (a HiGHS worker stopped at its deadline): no distance is claimed
    stopped = dataclasses.replace(plan, stages=(
        {"stage": "cost", "status": "time_limit", "objective": 100.0, "bound": -math.inf, "gap": math.inf},))
    assert "'cost' ended without a bound" in stopped.optimality and "at most" not in stopped.optimality


def test_cumulative_open_never_closes(fx):  # noqa: F811
    """In the cumulative model no site can be open by 2026 and closed by 2027: maximising
    Y[K1, 20, 2026] − Y[K1, 20, 2027] over the plan's constraints gives 0 (it would be 1 without the
    monotone rows: open K1 in 2026, "close" it in 2027)."""
    from tuoyu_geo.solvers import solve

    model = _model(fx, years=(2026, 2027))
    j = model.site_index("K1")
    sj, st, sc, _ = model._n  # the size columns Y
    c2026, c2027 = sc[(sj == j) & (st == 0)], sc[(sj == j) & (st == 1)]
    assert len(c2026) == len(c2027) == 1  # K1 holds only 20 places
    obj = np.zeros(model.milp.n_cols)
    obj[c2026], obj[c2027] = 1.0, -1.0
    model.milp.set_objective(obj, -1)
    assert solve(model.milp).objective == pytest.approx(0.0, abs=1e-9)


def _row_bounds(model, block):
    lo = np.concatenate(model.milp.row_lo)
    hi = np.concatenate(model.milp.row_hi)
    rows = model.blocks[block]
    return lo[rows], hi[rows]


def test_budget_cut_is_what_whole_sites_buy(fx):  # noqa: F811
    """Budget 55 万元: K4 (5 + 20 = 25 for 20 places) plus one site of 30 (K1, K3, or K2 at 20)
    buys 40 places; K2 at 35 (45) leaves 10, too little for anything: at most 40 places (all sites at
    their largest would be 20 + 35 + 20 + 20 = 95, so the cut binds).  With 200 万元 everything fits:
    no cut."""
    _, hi = _row_bounds(_model(fx, budget_wan=55), "预算:places")
    assert hi.tolist() == [40.0]
    assert "预算:places" not in _model(fx, budget_wan=200).blocks


def test_phased_budget_cuts_by_hand(fx, monkeypatch):  # noqa: F811
    """With ``year_budget_cuts`` (off by default): 2026: 30 万元, 2027: 25 万元, total 50 万元.  Opening
    in 2026 (K1, K2, K4): at most one site of 20 places (K4 25, K1 or K2 at 20 for 30) → 20; opening in
    2027 (K3 too): K4 for 25 → 20; by 2027 the budget is min(30 + 25, 50) = 50: K2 at 35 for 45 → 35
    (K4 + any other site costs ≥ 55).  With a total of 60 the years' 55 binds: K4 + K1 (or K2 at 20) →
    40.  Off, the years get no cut (the total budget keeps its own, ``预算:places``)."""
    kw = {"years": (2026, 2027), "budget_per_year_wan": {2026: 30, 2027: 25}}
    assert "分期建设:places" not in _model(fx, budget_wan=50, **kw).blocks
    assert len(_model(fx, budget_wan=50, **kw).blocks["预算:places"]) == 1
    monkeypatch.setitem(settings.PLAN_MILP, "year_budget_cuts", True)
    _, hi = _row_bounds(_model(fx, budget_wan=50, **kw), "分期建设:places")
    assert hi.tolist() == [20.0, 20.0, 35.0]
    _, hi = _row_bounds(_model(fx, budget_wan=60, **kw), "分期建设:places")
    assert hi.tolist() == [20.0, 20.0, 40.0]


def test_floor_cuts_after_the_shortfall_stage(fx):  # noqa: F811
    """Default hand plan (area-wide share only): S1 needs 5 places (K1 only, 20), S3 18 (K3 or K4), the
    area's 普惠 share 0.3·n ≥ 0.7·60 − 40 = 2, i.e. 7 places.  Every floor is 0 (K1 alone covers S1 …),
    so a shortfall of 0 holds every row at 0 and the cheapest whole sites give the cost rows:
    S1 K1 at 20 = 30 万元, S3 K4 at 20 = 25, the area 7 places → K4 again, 25.  A shortfall of 1 is
    above the floors: nothing is added."""
    model = _model(fx)
    assert model.hold_shortfalls("shortfall", 1.0, 0.0) == 0
    assert model.hold_shortfalls("shortfall", 0.0, 0.0) == 3
    lo, _ = _row_bounds(model, "lexicographic:shortfall:cost")
    assert sorted(lo.tolist()) == pytest.approx([25.0, 25.0, 30.0], abs=1e-5)
    _, hi = _row_bounds(model, "lexicographic:shortfall:floor")
    assert hi.tolist() == [0.0, 0.0, 0.0]


def test_value_cuts_of_the_hand_rows(fx, monkeypatch):  # noqa: F811
    """One cut per shortfall row (area-wide share only).  S1 needs 5 places and has K1 only (20 places
    for 30 万元, worth min(20, 5) = 5): envelope 5/30 per 万元 → ``short + cost_S1/6 ≥ 5``.  S3 needs
    18 from K3 (30) or K4 (25), each worth 18: slope 18/25 = 0.72 → ``short + 0.72·cost_S3 ≥ 18``.
    The area's share needs 2 (0.3 per place, any site of ≥ 7 places is worth 2; the cheapest is K4
    at 25): slope 0.08 → ``short + 0.08·cost ≥ 2``.  In the S3 cut K4's size-20 column has
    0.72 × 25 = 18.  The residential rows (C2 10 places missing, reached by K1; C4 12 by K3, K4; C5 8
    by K3) get one cut each with their need on the right.  (Value cuts are made only when a budget
    binds the plan: 1,000 万元 here, binding nothing; without a budget there are none.  They are off
    by default, switched on here.)"""
    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "value_cuts": True})
    assert "value_cuts" not in _model(fx).blocks
    model = _model(fx, budget_wan=1000)
    lo, _ = _row_bounds(model, "value_cuts")
    needs = [r[5] for r in model.shortfall_rows]
    assert needs[:3] == pytest.approx([5.0, 18.0, 2.0]) and lo.tolist() == pytest.approx(needs, abs=1e-6)
    A = model.milp.arrays()[4].tocsr()

    def whole_site(row, site):
        """The row's coefficient on ``site`` open at its one size: its open column's (fixed cost)
        plus its size column's (cost per place) — one column when ``site_vars`` is off."""
        j = model.site_index(site)
        cols = np.unique(np.r_[model.open_terms(sites=model.site_ids == site)[0], model._n[2][model._n[0] == j]])
        assert (model._n[0] == j).sum() == 1  # K1 and K4 hold one size each
        return float(A[row, cols].sum())

    assert whole_site(model.blocks["value_cuts"][1], "K4") == pytest.approx(18.0)
    assert whole_site(model.blocks["value_cuts"][0], "K1") == pytest.approx(30.0 / 6)


def test_free_sites_tie_break_to_fewer_sites(fx, monkeypatch):  # noqa: F811
    """Every site free (fixed and per-place cost 0): the stages before cost force K1 (S1's 5 places),
    K2 (一街道一普惠 in S2) and K3 (C4 and C5; K4 would add C4 only, already covered by K3).  Each
    earlier stage's solution is handed on with K4 also open (still optimal for it), so the cost stage
    starts from K1–K4 at cost 0: only the tie-break toward fewer sites closes K4."""
    from test_plan import POL

    import tuoyu_geo.plan.solve as S
    from tuoyu_geo.plan import plan_sites

    area, acc = fx
    free = area.replace(candidates=area.candidates.assign(fixed_cost=0.0, cost_per_place=0.0))
    k4 = {}
    real = S.solve

    def with_k4(milp, **kw):
        sol = real(milp, **kw)
        k4["calls"] += 1
        k4["last_objective"] = np.concatenate(milp.cost)
        if sol.x is not None and k4["calls"] < k4["stages"]:  # every stage but the last (cost)
            x = sol.x.copy()
            x[k4["all"]] = 0.0
            x[k4["col"]] = 1.0
            x[k4["open"]] = 1.0  # its one "open" column (PLAN_MILP["site_vars"]), or the same size column
            sol = dataclasses.replace(sol, x=x)
        return sol

    real_build = S.solve_lexicographic

    def spy(model, **kw):
        j = model.site_index("K4")
        sj, _, sc, _ = model._n  # its size columns
        oc, _ = model.open_terms(sites=model.site_ids == "K4")
        stages = [st for st, _ in S.STAGES if st == "cost" or len(model.objective_terms(st)[0])]
        k4.update(all=np.r_[sc[sj == j], oc], col=int(sc[sj == j][0]), open=oc, calls=0, stages=len(stages))
        return real_build(model, **kw)

    monkeypatch.setattr(S, "solve", with_k4)
    monkeypatch.setattr("tuoyu_geo.plan.solve_lexicographic", spy)
    plan = plan_sites(free, acc, POL, street_puhui_share=False)
    assert sorted(plan.sites.index) == ["K1", "K2", "K3"]
    assert plan.objective_values["cost"] == pytest.approx(0.0, abs=1e-9)
    # the cost stage's objective: 0 万元 per site and place, plus the tie-break on every open column
    assert k4["last_objective"][k4["open"]] == pytest.approx(settings.SITE_TIE_BREAK_WAN) and \
        settings.SITE_TIE_BREAK_WAN > 0


def test_lazy_greedy_order_equals_the_eager_one():
    """The explained order (lazy greedy) equals recomputing every gain at every pick — the
    reference below, written out — on random coverage instances with many ties (integer weights)."""
    from types import SimpleNamespace

    from tuoyu_geo.plan.explain import greedy_order

    rng = np.random.default_rng(3)
    for _ in range(30):
        n_c, n_s = int(rng.integers(5, 40)), int(rng.integers(2, 25))
        model = SimpleNamespace(infants=rng.integers(0, 4, n_c).astype(float), covered0=rng.random(n_c) < 0.2,
                                site_ids=np.array([f"K{k:02d}" for k in range(n_s)], dtype=object))
        reach = [np.flatnonzero(rng.random(n_c) < 0.25) for _ in range(n_s)]
        chosen = [(j, int(rng.integers(0, 2)), int(rng.choice([10, 20]))) for j in range(n_s) if rng.random() < 0.7]
        order, marginal, total = greedy_order(model, chosen, reach)
        cov, ref, ref_gain = model.covered0.copy(), [], {}
        places = {j: p for j, _, p in chosen}
        for year in sorted({t for _, t, _ in chosen}):
            pool = [j for j, t, _ in chosen if t == year]
            while pool:
                gains = {j: float(model.infants[reach[j]][~cov[reach[j]]].sum()) for j in pool}
                best = min(pool, key=lambda j: (-gains[j], -places[j], model.site_ids[j]))
                ref.append(best)
                ref_gain[best] = gains[best]
                cov[reach[best]] = True
                pool.remove(best)
        assert order == ref and marginal == ref_gain
        assert total == float(model.infants[cov & ~model.covered0].sum())


@pytest.mark.parametrize(("threshold", "rows"), [(1000, 0), (4, 3)])
def test_floor_cuts_auto_switch_on_large_areas(fx, monkeypatch, threshold, rows):  # noqa: F811
    """``floor_cuts = "auto"``: the hand area has 4 allowed candidates, so with the default threshold
    (1,000) no floor row is added; with a threshold of 4 the shortfall stage (value 0 = the floors)
    adds one floor row per shortfall row (S1, S3, the area's share: 3)."""
    import time

    from tuoyu_geo.plan.solve import solve_lexicographic

    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "floor_cuts": "auto"})
    monkeypatch.setattr(settings, "FLOOR_CUTS_MIN_CANDIDATES", threshold)
    model = _model(fx)
    solve_lexicographic(model, solver="highs", time_limit_s=30, mip_gap=1e-4, t_start=time.perf_counter())
    assert len(model.blocks.get("lexicographic:shortfall:floor", [])) == rows


def test_cbc_optimal_after_an_abandoned_lp_is_not_trusted():
    """CBC 2.10's log of a capacity-aware coverage stage (abridged): the LP relaxation is 1,862.3, CBC
    gives up on an LP at the root (Cbc0006I) and ends "Optimal" at 1,860.19, while a plan serving
    1,862.3 children exists.  Such a result is reported as not proven, with the LP value as its bound
    (gap (1,862.3 − 1,860.19) / 1,860.19 = 1.1e-3); an ordinary optimal log is left alone."""
    from tuoyu_geo.solvers import Status, _cbc_distrust, _gap

    bad = ("Continuous objective value is 1862.3 - 0.07 seconds\n"
           "Cbc0006I The LP relaxation is infeasible or too expensive\n"
           "Result - Optimal solution found\n")
    status, bound = _cbc_distrust(bad, Status.OPTIMAL, 1860.19)
    assert status == Status.TIME_LIMIT and bound == pytest.approx(1862.3)
    assert _gap(1860.19, bound) == pytest.approx(2.11 / 1860.19)
    good = "Continuous objective value is 1862.3 - 0.07 seconds\nResult - Optimal solution found\n"
    assert _cbc_distrust(good, Status.OPTIMAL, 1862.3) == (Status.OPTIMAL, 1862.3)


def test_access_of_the_same_ids_with_a_moved_point_is_rejected(fx):  # noqa: F811
    """Access computed for the hand area, then C2 moved 0.0005° (≈ 50 m, still in S1) east with every id kept: the
    plan and the community scorecard refuse it (before, only ids were compared and the stale
    distances were used silently); the unmoved area is still accepted."""
    from shapely.geometry import Point
    from test_plan import POL

    from tuoyu_geo import DataError
    from tuoyu_geo.indicators import community_scorecard
    from tuoyu_geo.plan import plan_sites

    area, acc = fx
    com = area.communities.copy()
    g = com.geometry.copy()
    g.loc["C2"] = Point(g.loc["C2"].x + 0.0005, g.loc["C2"].y)
    moved = area.replace(communities=com.set_geometry(g))
    assert list(moved.communities.index) == list(area.communities.index)
    with pytest.raises(DataError, match="computed for other inputs"):
        plan_sites(moved, acc, POL)
    with pytest.raises(DataError, match="computed for other inputs"):
        community_scorecard(moved, acc, POL)
    assert len(community_scorecard(area, acc, POL)) == 5


def test_scorecard_and_plan_of_other_inputs_are_rejected(fx):  # noqa: F811
    """The ``scorecard=`` argument of plan_sites and a SitePlan given to ``assess`` carry the
    fingerprints of what they were computed for: a scorecard computed for the area with C2 moved
    ≈ 50 m (same ids), one computed under another policy (places target 4.5 → 6.0), and one with a
    街道 missing are refused; the area's own scorecard is accepted and gives the same plan as
    without it.  A plan made for the moved area is refused by ``assess`` on the original area."""
    from shapely.geometry import Point
    from test_plan import POL

    import tuoyu_geo as tg
    from tuoyu_geo import DataError
    from tuoyu_geo.access import compute_access
    from tuoyu_geo.indicators import street_scorecard
    from tuoyu_geo.plan import plan_sites

    area, acc = fx
    com = area.communities.copy()
    g = com.geometry.copy()
    g.loc["C2"] = Point(g.loc["C2"].x + 0.0005, g.loc["C2"].y)
    moved = area.replace(communities=com.set_geometry(g))
    acc_moved = compute_access(moved, POL, minutes=(15.0,))
    with pytest.raises(DataError, match="scorecard was computed for other inputs"):
        plan_sites(area, acc, POL, scorecard=street_scorecard(moved, acc_moved, POL))
    other = tg.policy.load_policy(POL).replace(places_per_1000=6.0)
    with pytest.raises(DataError, match="another policy"):
        plan_sites(area, acc, POL, scorecard=street_scorecard(area, acc, other))
    own = street_scorecard(area, acc, POL)
    with pytest.raises(DataError, match="街道 ids differ"):
        plan_sites(area, acc, POL, scorecard=own.iloc[1:])
    p1, p2 = plan_sites(area, acc, POL, scorecard=own), plan_sites(area, acc, POL)
    assert sorted(p1.sites.index) == sorted(p2.sites.index)
    plan_moved = plan_sites(moved, acc_moved, POL)
    with pytest.raises(DataError, match="plan was made for other inputs"):
        tg.assess(area, POL, plan=plan_moved, with_isochrones=False)


def test_cbc_time_out_before_a_solution_is_not_infeasible():
    """CBC stopped by the time limit with no solution (seen under load: "Exiting on maximum time", and the
    solution file says infeasible) is a time limit, not a proof that no plan exists; a real
    infeasibility (no time-limit message) stays infeasible."""
    import types

    import pulp

    from tuoyu_geo.solvers import Status, _cbc_status

    prob = types.SimpleNamespace(status=pulp.LpStatusInfeasible, sol_status=pulp.LpSolutionNoSolutionFound)
    text = "Cbc0020I Exiting on maximum time\nResult - Problem proven infeasible\n"
    assert _cbc_status(pulp, prob, "Problem proven infeasible", text) == Status.TIME_LIMIT
    assert _cbc_status(pulp, prob, "Problem proven infeasible", "Result - Problem proven infeasible\n") \
        == Status.INFEASIBLE


def test_plan_of_another_policy_is_refused(fx, tmp_path):  # noqa: F811
    """A plan records the policy it was made under (also through plan.json): assessing it under a
    profile with other values (places target 4.5 → 6.0, same name) is a DataError naming both; under
    its own policy it is accepted (before, ``report/map/export --plan`` silently used another)."""
    from test_plan import POL

    import tuoyu_geo as tg
    from tuoyu_geo import DataError
    from tuoyu_geo.plan import load_plan, plan_sites, save_plan

    area, acc = fx
    plan = plan_sites(area, acc, POL)
    path = save_plan(plan, tmp_path / "plan.json", area=area)
    other = tg.policy.load_policy(POL).replace(places_per_1000=6.0)
    for p in (plan, load_plan(path, area)):
        with pytest.raises(DataError, match="plan was made under policy"):
            tg.assess(area, other, plan=p, with_isochrones=False)
        assert len(tg.assess(area, POL, plan=p, with_isochrones=False).plan.sites) == len(plan.sites)


def test_merge_same_reach_groups_communities_and_sums_demand():
    """Pairs (community, candidate): 1→{8, 9}, 2→{8}, 3→{8, 9}, 4→{9}, given out of order.  Communities 1
    and 3 reach the same candidates and become one group with demand 2 + 7 = 9; groups are numbered
    by their first community: g0 = {1, 3} → 8, 9; g1 = {2} → 8; g2 = {4} → 9."""
    from tuoyu_geo.rules.sites import Coverage

    demand = np.array([0.0, 2.0, 5.0, 7.0, 1.0])
    gi, gj, dg = Coverage.merge_same_reach(np.array([3, 3, 1, 1, 2, 4]), np.array([9, 8, 8, 9, 8, 9]), demand)
    assert gi.tolist() == [0, 0, 1, 2]
    assert gj.tolist() == [8, 9, 8, 9]
    assert dg.tolist() == [9.0, 5.0, 1.0]


def test_capacity_model_keeps_different_reach_sets_apart(fx, monkeypatch):  # noqa: F811
    """Capacity-aware fixture (see ``test_plan.py``): the communities that can gain coverage are C2
    (reaches K1), C3 (K2), C4 (K3, K4) and C5 (K3) — four different candidate sets (three of one
    candidate each), so four demand rows, merged or not."""
    for merge in (True, False):
        monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "merge_demand": merge})
        model = _model(fx, capacity_aware=True, demand_factor=1.0)
        assert len(model.blocks["步行覆盖:demand:0"]) == 4


def test_served_rows_replace_the_aggregate_coverage_row(fx):  # noqa: F811
    """When the coverage stage reaches the most (every community served), the per-community rows sum
    to the held value, so the stage's own aggregate row is left out; when it does not (one new site at
    most), the aggregate row is kept.  The fixture's plan has the stages rules, shortfall, residential,
    coverage and cost, each held by one lexicographic row once solved → 5 rows, or 4 when coverage's
    own row is left out."""
    assert _lex_rows(fx) == 4
    assert _lex_rows(fx, max_new_sites=1) == 5


def _lex_rows(fx, **kw):  # noqa: F811
    import tuoyu_geo.plan.solve as S

    seen = {}
    orig = S.solve_lexicographic

    def spy(model, **k):
        out = orig(model, **k)
        seen["n"] = sum(1 for b in model.blocks if b.startswith("lexicographic"))
        return out

    import tuoyu_geo.plan as P

    mods = [m for m in (P, S) if getattr(m, "solve_lexicographic", None) is orig]
    for m in mods:
        m.solve_lexicographic = spy
    try:
        _plan(fx, **kw)
    finally:
        for m in mods:
            m.solve_lexicographic = orig
    return seen["n"]


def test_cbc_infeasible_with_a_feasible_start_keeps_the_start(monkeypatch):
    """CBC 2.10 once called the bundled capacity-aware cost stage "proven infeasible" right after
    accepting its MIP start.  Model: x0 + x1 ≥ 1, x integer in [0, 1], minimise x0 + 2·x1.  A faked CBC
    run that says "proven infeasible" with LP value 1: with the start (1, 0) — feasible, cost 1 — the
    stage is ``time_limit`` with the start as its solution and bound 1; with the start (0, 0), which
    breaks the row, it stays infeasible."""
    import pulp

    from tuoyu_geo import solvers
    from tuoyu_geo.solvers import MILP, Status

    m = MILP()
    x = m.add_vars(2, lb=0, ub=1, integer=True)
    m.add_row(x, np.ones(2), lo=1.0)
    m.set_objective(np.array([1.0, 2.0]), 1)

    def fake_run(pulp_, prob, xs, **kw):
        prob.status, prob.sol_status = pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible
        return "Continuous objective value is 1 - 0.01 seconds\nResult - Problem proven infeasible\n", 0.1

    monkeypatch.setattr(solvers, "_run_cbc", fake_run)
    sol = solvers.solve(m, solver="cbc", time_limit_s=5, start=np.array([1.0, 0.0]))
    assert sol.status == Status.TIME_LIMIT and sol.x.tolist() == [1.0, 0.0]
    assert sol.objective == pytest.approx(1.0) and sol.bound == pytest.approx(1.0)
    assert m.violation(np.array([0.0, 0.0])) == pytest.approx(1.0)
    assert solvers.solve(m, solver="cbc", time_limit_s=5, start=np.array([0.0, 0.0])).status == Status.INFEASIBLE


def test_a_solution_that_breaks_the_model_is_never_passed_on(monkeypatch):
    """A solver answer is checked against the model: x0 + x1 ≥ 1, x integer in [0, 1], minimise
    x0 + 2·x1.  A faked solver returns (0, 0) ("cost 0", below any feasible plan; CBC once returned
    such a point under a time limit): with the feasible start (0, 1) the start comes back as
    ``time_limit`` with its cost 2; without a start there is no solution (``error``); an answer that
    meets the row, (1, 0), is passed on as given."""
    from tuoyu_geo import solvers
    from tuoyu_geo.solvers import MILP, Solution, Status

    m = MILP()
    x = m.add_vars(2, lb=0, ub=1, integer=True)
    m.add_row(x, np.ones(2), lo=1.0)
    m.set_objective(np.array([1.0, 2.0]), 1)
    answer = {}
    monkeypatch.setattr(solvers, "_solve_highs", lambda *a, **k: Solution(
        x=np.array(answer["x"]), objective=float(np.dot([1, 2], answer["x"])), bound=1.0, status=Status.OPTIMAL,
        gap=0.0, seconds=0.0, solver="highs"))
    answer["x"] = [0.0, 0.0]
    sol = solvers.solve(m, solver="highs", start=np.array([0.0, 1.0]))
    assert sol.status == Status.TIME_LIMIT and sol.x.tolist() == [0.0, 1.0] and sol.objective == 2.0
    assert sol.gap == pytest.approx(0.5)
    sol = solvers.solve(m, solver="highs")
    assert sol.status == Status.ERROR and sol.x is None
    answer["x"] = [1.0, 0.0]
    sol = solvers.solve(m, solver="highs", start=np.array([0.0, 1.0]))
    assert sol.status == Status.OPTIMAL and sol.x.tolist() == [1.0, 0.0]


def test_relative_gap_of_a_zero_objective_is_infinite():
    """``|obj − bound| / |obj|``: 10 against 12 → 0.2; equal within 1e-9 → 0; a stage that found 0 (e.g.
    no child covered) against a bound of 19,000 has no finite relative gap (it printed as 1.9e13)."""
    import math

    from tuoyu_geo.solvers import _gap

    assert _gap(10.0, 12.0) == pytest.approx(0.2)
    assert _gap(5.0, 5.0 + 1e-12) == 0.0
    assert _gap(0.0, 19_000.0) == math.inf
    assert _gap(0.0, 0.0) == 0.0


def test_site_counts_auto_only_below_the_candidate_limit(fx, monkeypatch):  # noqa: F811
    """``site_counts = "auto"``: count rows only below ``SITE_COUNTS_MAX_CANDIDATES`` allowed candidates.
    The hand fixture allows 4 (K1–K4); K1 and K3 are interchangeable (10 万元 + 1 per place, 20 places
    only), the others differ → one count row.  Limit 5: 4 < 5 → 1 row; limit 4: none."""
    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "site_counts": "auto"})
    monkeypatch.setattr(settings, "SITE_COUNTS_MAX_CANDIDATES", 5)
    assert len(_model(fx).blocks.get("site_counts", [])) == 1
    monkeypatch.setattr(settings, "SITE_COUNTS_MAX_CANDIDATES", 4)
    assert len(_model(fx).blocks.get("site_counts", [])) == 0


def _fx_same_kind_in_s3():
    """The hand area with K3 and K4 (both in S3) of one cost kind: 10 万元 + 1 per place."""
    from test_plan import POL, hand_area

    from tuoyu_geo.access import compute_access

    area = hand_area(candidates={"fixed_cost": [10.0, 10.0, 10.0, 10.0]})
    return area, compute_access(area, POL)


def test_street_counts_by_hand(fx, monkeypatch):  # noqa: F811
    """``street_counts``: one integer count per 街道, cost kind and year, of two or more candidates.  The
    hand area has one candidate per 街道 but S3's K3 (10 万元 + 1/place) and K4 (5 + 1): no count.  With
    K4 at 10 万元 too, S3 gets ``N = open_K3 + open_K4`` (0 … 2); phased over 2026–27, one per year (in
    2026 only K4 is available: ``N = open_K4``).  Off, or above the candidate limit: none."""
    assert "street_counts" not in _model(fx).blocks
    fx2 = _fx_same_kind_in_s3()
    model = _model(fx2)
    rows = model.blocks["street_counts"]
    assert len(rows) == 1
    A = model.milp.arrays()[4].tocsr()[rows]
    _, lb, ub, integer, *_ = model.milp.arrays()
    count = [int(c) for c in A.indices if A[0, c] == -1.0]
    assert len(count) == 1 and integer[count[0]] and ub[count[0]] == 2.0
    assert sorted(A.data.tolist()) == [-1.0, 1.0, 1.0]
    assert len(_model(fx2, years=(2026, 2027)).blocks["street_counts"]) == 2
    monkeypatch.setitem(settings.PLAN_MILP, "street_counts", False)
    assert "street_counts" not in _model(fx2).blocks
    monkeypatch.setitem(settings.PLAN_MILP, "street_counts", "auto")
    monkeypatch.setattr(settings, "SITE_COUNTS_MAX_CANDIDATES", 4)
    assert "street_counts" not in _model(fx2).blocks


@pytest.mark.parametrize("kw", [{"required": ["K3", "K4"]}, {"budget_wan": 60},
                                {"years": (2026, 2027), "budget_per_year_wan": [30, 40]}])
def test_street_counts_keep_every_plan(kw, monkeypatch):
    """The counts add no plan and remove none: the same stage values with and without them — with K3
    and K4 both required the count reaches its top (2)."""
    from test_plan import POL

    from tuoyu_geo.plan import plan_sites

    area, acc = _fx_same_kind_in_s3()
    on = plan_sites(area, acc, POL, **kw)
    monkeypatch.setitem(settings.PLAN_MILP, "street_counts", False)
    off = plan_sites(area, acc, POL, **kw)
    for stage in ("rules", "shortfall", "residential", "coverage", "cost"):
        assert on.objective_values[stage] == pytest.approx(off.objective_values[stage], abs=1e-6), stage
    if "required" in kw:
        assert set(on.sites.index) >= {"K3", "K4"}


def test_cli_commands_that_plan_say_when_the_plan_is_not_proven(capsys):
    """``export``, ``map``, ``report`` and ``demo`` plan on the fly without printing the plan's table:
    a plan cut off by the time limit gets one line with its optimality note (how far it may be, in
    万元); a proven plan, or no plan, prints nothing."""
    import types

    from tuoyu_geo import cli

    note = "not proven optimal: the cost may be at most 284.0 万元 from the best possible (stage 'cost')"
    cli._plan_note(types.SimpleNamespace(plan=types.SimpleNamespace(status="time_limit", optimality=note)))
    assert capsys.readouterr().out.strip() == f"方案 plan: {note}"
    cli._plan_note(types.SimpleNamespace(plan=types.SimpleNamespace(status="optimal", optimality="proven")))
    cli._plan_note(types.SimpleNamespace(plan=None))
    assert capsys.readouterr().out == ""


def _coverage_rows(model):
    """The coverage rows of the first year as {row: sorted columns}, and the objective weight of each
    row's coverage column."""
    A = model.milp.arrays()[4].tocsr()
    rows = model.blocks["步行覆盖:0"]
    _, z, w, _ = model.coverage_terms[0]
    return [sorted(A.indices[A.indptr[r]:A.indptr[r + 1]].tolist()) for r in rows], z, w


def test_open_column_per_site_and_year(fx, monkeypatch):  # noqa: F811
    """``site_vars``: one "open" column per (candidate, year), ``o = Σ_p Y[j, p]``.  The coverage rows
    of C2 (K1), C3 (K2, 6 sizes), C4 (K3, K4) and C5 (K3) read it: 2, 2, 3 and 2 columns (with the
    coverage column), where reading the size columns gives 2, 7, 3, 2.  The open row of K2 holds its
    6 sizes and its open column."""
    model = _model(fx)
    rows, _, _ = _coverage_rows(model)
    assert sorted(map(len, rows)) == [2, 2, 2, 3]
    j2 = model.site_index("K2")
    o2, _ = model.open_terms(sites=model.site_ids == "K2")
    A = model.milp.arrays()[4].tocsr()
    (r,) = [r for r in model.blocks["指定点位:open"] if A[r, o2[0]] != 0]
    y2 = model._n[2][model._n[0] == j2]
    assert sorted(A.indices[A.indptr[r]:A.indptr[r + 1]].tolist()) == sorted([*y2.tolist(), int(o2[0])])
    assert A[r, y2].toarray().ravel().tolist() == [-1.0] * 6 and A[r, o2[0]] == 1.0
    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "site_vars": False})
    rows, _, _ = _coverage_rows(_model(fx))
    assert sorted(map(len, rows)) == [2, 2, 3, 7]


def test_same_reach_communities_share_a_coverage_row(fx, monkeypatch):  # noqa: F811
    """C6 (30 infants) at C2's place reaches what C2 reaches (K1 only): with ``merge_reach`` C2 and C6
    share one coverage row weighted 50 + 30 = 80 (4 rows, weights 80, 80, 60, 40); without it 5 rows
    (50, 30, 80, 60, 40).  The plan is the same either way: K1, K2, K3, coverage 230 + 30 = 260."""
    from shapely.geometry import Point
    from test_plan import POINTS, POL

    from tuoyu_geo.access import compute_access

    area, _ = fx
    cs = area.communities
    c6 = cs.loc[["C2"]].rename(index={"C2": "C6"}).assign(community_id="C6", name="己", infants=30, population=1200,
                                                       geometry=[Point(*POINTS["C2"])])
    area6 = area.replace(communities=pd.concat([cs, c6]))
    fx6 = (area6, compute_access(area6, POL))
    for merge, weights in ((True, [40, 60, 80, 80]), (False, [30, 40, 50, 60, 80])):
        monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "merge_reach": merge})
        _, _, w = _coverage_rows(_model(fx6))
        assert sorted(w.tolist()) == weights
        plan = _plan(fx6)
        assert sorted(plan.sites.index) == ["K1", "K2", "K3"]
        assert plan.objective_values["coverage"] == pytest.approx(260)


def test_factor_open_keeps_every_value(fx):  # noqa: F811
    """``factor_open`` rewrites ``Σ coef·Y`` with the open columns.  On 300 random whole plans of the
    2-year model (each (site, year) at one random size or closed, ``o = Σ Y``), every places and
    cost selection — by a year, opening in a year, at the end, one 街道 — has the value computed by
    hand from the sites' sizes: the state by year t is ``Σ fixed_j·open_jt + cost_per_place_j·places_jt``
    (places: ``Σ places_jt``), what opens in year t is the state by t less the state by t − 1."""
    model = _model(fx, years=(2026, 2027))
    rng = np.random.default_rng(5)
    j, t, cols, size = model._n
    oj, ot, oc = model._o
    pairs = sorted(set(zip(j.tolist(), t.tolist(), strict=True)))
    for _ in range(300):
        x = np.zeros(model.milp.n_cols)
        for a, b in pairs:
            if rng.random() < 0.6:
                x[rng.choice(cols[(j == a) & (t == b)])] = 1.0
        for a, b, o in zip(oj, ot, oc, strict=True):
            x[o] = x[cols[(j == a) & (t == b)]].sum()

        def state(year, mask, cost, x=x):
            if year < 0:
                return 0.0
            total = 0.0
            for a, b in pairs:
                if b == year and mask[a]:
                    on = cols[(j == a) & (t == b)]
                    places = float(x[on] @ size[(j == a) & (t == b)])
                    total += (model.fixed_cost[a] * x[on].sum() + model.cost_per_place[a] * places) if cost else places
            return total

        for cost in (False, True):
            for mask in (np.ones(model.n_sites, bool), model.site_street == "S2"):
                want = {"upto0": state(0, mask, cost), "upto1": state(1, mask, cost), "end": state(1, mask, cost),
                        "year0": state(0, mask, cost), "year1": state(1, mask, cost) - state(0, mask, cost)}
                for key, sel in (("upto0", {"upto": 0}), ("upto1", {"upto": 1}), ("end", {}),
                                 ("year0", {"year": 0}), ("year1", {"year": 1})):
                    terms = model.cost_terms if cost else model.places_terms
                    c, v = terms(sites=mask, **sel)
                    fc, fv = model.factor_open(c, v)
                    assert x[c] @ v == pytest.approx(want[key], abs=1e-9)
                    assert x[fc] @ fv == pytest.approx(want[key], abs=1e-9)


def test_factor_open_by_hand(fx):  # noqa: F811
    """K2 holds 20, 25, 28, 30, 33 or 35 places.  A row counting its places capped at a need of 10
    (every size counts 10) reads K2's open column only, with 10.  Its places uncapped read the open
    column with 20 (the smallest size) and the five larger sizes with 5, 8, 10, 13, 15.  Its cost
    (10 万元 + 1 万元 per place) reads the open column with 10 + 20 = 30 and the sizes with 5 … 15."""
    model = _model(fx)
    k2 = model.site_ids == "K2"
    (o2,) = model.open_terms(sites=k2)[0]
    c, v = model.places_terms(sites=k2)
    fc, fv = model.factor_open(c, np.minimum(v, 10.0))
    assert fc.tolist() == [o2] and fv.tolist() == [10.0]
    fc, fv = model.factor_open(c, v)
    got = dict(zip(fc.tolist(), fv.tolist(), strict=True))
    assert got.pop(o2) == 20.0 and sorted(got.values()) == [5.0, 8.0, 10.0, 13.0, 15.0]
    cc, cv = model.cost_terms(sites=k2)
    got = dict(zip(cc.tolist(), cv.tolist(), strict=True))
    assert got.pop(o2) == 30.0 and sorted(got.values()) == [5.0, 8.0, 10.0, 13.0, 15.0]


def test_min_cost_for_places_against_enumeration():
    """``min_cost_for_places`` (dynamic programming over places) against every selection of at most
    one size per site, enumerated, on 200 random instances of 1–4 sites with 1–4 sizes each."""
    import itertools

    from tuoyu_geo.plan.model import min_cost_for_places

    rng = np.random.default_rng(11)
    for _ in range(200):
        options = [[(float(rng.integers(5, 40)), int(p)) for p in rng.choice(np.arange(10, 60, 5), rng.integers(1, 5),
                                                                           replace=False)]
                   for _ in range(rng.integers(1, 5))]
        need = int(rng.integers(0, 150))
        best = np.inf
        for pick in itertools.product(*[[None, *opt] for opt in options]):
            chosen = [o for o in pick if o is not None]
            if sum(p for _, p in chosen) >= need:
                best = min(best, sum(c for c, _ in chosen))
        assert min_cost_for_places(need, options) == pytest.approx(best)


def _cover_model() -> MILP:
    """min 3a + 5b + 4c + y, a, b, c binary, y ∈ [0, 10] continuous; a + b ≥ 1, b + c ≥ 1, a + c ≥ 1,
    y + 2b ≥ 1.5.  Two of a, b, c must open: {a, c} costs 7 + y = 1.5, i.e. 8.5; {a, b} 8 + 0 = 8;
    {b, c} 9; all three 12.  Optimum 8 at (a, b, c, y) = (1, 1, 0, 0)."""
    m = MILP()
    a, b, c = m.add_vars(3, lb=0, ub=1, integer=True)
    y = m.add_vars(1, lb=0, ub=10)[0]
    for u, v in ((a, b), (b, c), (a, c)):
        m.add_row(np.r_[u, v], np.ones(2), lo=1.0)
    m.add_row(np.r_[y, b], np.r_[1.0, 2.0], lo=1.5)
    m.set_objective(np.r_[3.0, 5.0, 4.0, 1.0], 1)
    return m


def test_cpsat_plan_by_hand():
    """CP-SAT's plan of the hand cover model (see ``_cover_model``): (1, 1, 0, 0), cost 8.  Maximised
    instead, 2a + 3b + 4c with a + b + c ≤ 2 (other rows dropped): b and c, 7."""
    from tuoyu_geo.solvers import cpsat_plan

    x = cpsat_plan(_cover_model(), time_limit_s=10)
    assert x.tolist() == [1.0, 1.0, 0.0, 0.0]
    m = MILP()
    v = m.add_vars(3, lb=0, ub=1, integer=True)
    m.add_row(v, np.ones(3), hi=2.0)
    m.set_objective(np.r_[2.0, 3.0, 4.0], -1)
    assert cpsat_plan(m, time_limit_s=10).tolist() == [0.0, 1.0, 1.0]


def test_cpsat_answer_that_breaks_the_model_is_not_used(monkeypatch):
    """CP-SAT's answer is cleaned (``complete_start``) and checked like any solver's: made to break
    the row y + 2b ≥ 1.5 (y forced to 0 with b = 0), it is dropped (None)."""
    from tuoyu_geo import solvers

    monkeypatch.setattr(solvers, "complete_start", lambda model, x: np.r_[1.0, 0.0, 1.0, 0.0])
    assert solvers.cpsat_plan(_cover_model(), time_limit_s=10) is None


@pytest.mark.parametrize(("flag", "threshold", "calls"), [("auto", 4, 1), ("auto", 5, 0), (True, 10**6, 1),
                                                           (False, 0, 0)])
def test_cpsat_start_only_for_the_cost_stage_of_large_areas(fx, monkeypatch, flag, threshold, calls):  # noqa: F811
    """``PLAN_MILP["cpsat_start"]``: "auto" asks CP-SAT from ``CPSAT_MIN_CANDIDATES`` allowed
    candidates (the hand area has 4), True always, False never; only in the cost stage.  Here
    "CP-SAT" returns the dearest plan the stage allows (HiGHS maximising its cost): it is not used
    as the start (it is dearer than the coverage stage's plan), and the plan stays the hand optimum
    (cost 90)."""
    from tuoyu_geo import solvers
    from tuoyu_geo.plan import solve as plan_solve

    seen = []

    def fake(milp, **kw):
        seen.append(kw)
        dear = milp.copy()
        dear.set_objective(np.concatenate(milp.cost), -milp.sense)
        return solvers.solve(dear, solver="highs").x

    monkeypatch.setattr(plan_solve, "cpsat_plan", fake)
    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "cpsat_start": flag})
    monkeypatch.setattr(settings, "CPSAT_MIN_CANDIDATES", threshold)
    plan = _plan(fx)
    _check_default(plan)
    assert len(seen) == calls
    cost = [s for s in plan.stages if s["stage"] == "cost"][0]
    assert ("cpsat_used" in cost) == bool(calls) and not cost.get("cpsat_used", False)


def test_cpsat_failure_leaves_the_plan_to_highs(fx, monkeypatch):  # noqa: F811
    """Whatever goes wrong inside OR-Tools (here: building its model raises), ``cpsat_plan`` returns
    None with a warning, and the plan is HiGHS's: the hand optimum, cost 90."""
    from ortools.linear_solver.python import model_builder as mb

    def boom(self, *a, **k):
        raise RuntimeError("broken OR-Tools")

    monkeypatch.setattr(mb.Solver, "solve", boom)
    monkeypatch.setattr(settings, "PLAN_MILP", {**settings.PLAN_MILP, "cpsat_start": True})
    plan = _plan(fx)
    _check_default(plan)
    cost = [s for s in plan.stages if s["stage"] == "cost"][0]
    assert cost["cpsat_used"] is False
