"""The dynamic-programming bound of a budget-bound shortfall stage (``tuoyu_geo.plan.bounds``).

Hand instance: the area of ``test_plan.py`` with the per-街道 普惠 share and a budget of 60 万元.
The shortfall rows and what whole sites give them (value = places counted, capped at the need):

* S1 places, need 5: K1 (20 places, 30 万元) gives 5;
* S2 普惠 share, need 14, ratio 0.3: K2 with p places (10 + p 万元) gives 0.3·p —
  20 → 6, 25 → 7.5, 28 → 8.4, 30 → 9, 33 → 9.9, 35 → 10.5;
* S3 places, need 18: K4 (20, 25 万元) or K3 (20, 30 万元) gives 18 (both together still 18);
* the area-wide share (need 2) reads every site and is left out of the bound.

Need 5 + 14 + 18 = 37.  The most value for 60 万元 is K4 + K2 at 25 places (25 + 35 = 60 万元,
18 + 7.5 = 25.5), so the bound is 37 − 25.5 = **11.5** (K4 + K2 at 20: 24; K4 + K1: 23; K3 + K2 at 20:
24).  The LP relaxation of this knapsack buys K4 and 35/45 of K2 at 35 places (the best value per
万元 after K4: 10.5 / 45): 18 + 8.17, bound 10.83.

Forced bounds (37 − the best value of a plan holding the option within 60 万元):
K1 → K1 + K4 = 23 → 14; K3 → K3 + K2@20 = 24 → 13; K4 → 11.5; K2 at p places leaves 50 − p 万元,
enough for K4 (25) only when p ≤ 25: p = 20 → 24 → 13, p = 25 → 11.5; p = 28, 30, 33, 35 → K2 alone,
37 − 0.3·p = 28.6, 28, 27.1, 26.5.

Least cost of a plan within a shortfall (``ShortfallBound.least_cost``: the cheapest whole sites
whose value reaches 37 − shortfall): ≤ 11.5 needs 25.5, only K4 + K2 at 25 (60 万元); ≤ 13 needs 24,
K4 + K2 at 20 (55 万元; K1 + K4 gives 23); ≤ 19 needs 18, K4 alone (25 万元); ≤ 37 needs nothing (0).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_plan import POL, fx  # noqa: F401  (fixture)

from tuoyu_geo import settings
from tuoyu_geo.plan import plan_sites
from tuoyu_geo.plan.bounds import max_plus_convolve, shortfall_bound

HAND_FORCED = {("K1", 20): 14.0, ("K3", 20): 13.0, ("K4", 20): 11.5, ("K2", 20): 13.0, ("K2", 25): 11.5,
               ("K2", 28): 28.6, ("K2", 30): 28.0, ("K2", 33): 27.1, ("K2", 35): 26.5}


def _model(fx, **kw):  # noqa: F811
    from tuoyu_geo.indicators import community_scorecard, street_scorecard
    from tuoyu_geo.plan import PlanOptions
    from tuoyu_geo.plan.build import build_model

    area, acc = fx
    area = area.with_policy(POL)
    cs = community_scorecard(area, acc, POL)
    return build_model(area, acc, POL, PlanOptions(**kw), street_scorecard(area, acc, POL, communities=cs),
                       POL.threshold_m(15), communities=cs)


def _forced_by_option(model, bound) -> dict:
    j, t, c, p = model._n
    pos = {int(col): k for k, col in enumerate(bound.cols)}
    return {(model.site_ids[a], int(q)): float(bound.forced[pos[int(col)]])
            for a, b, col, q in zip(j, t, c, p, strict=True) if b == 0}


def test_hand_bound_and_forced_bounds(fx):  # noqa: F811
    """The module docstring's figures: bound 11.5 (LP 10.83) and the forced bound of every size."""
    model = _model(fx, budget_wan=60)
    bound = shortfall_bound(model)
    assert bound.lower == pytest.approx(11.5)
    assert _forced_by_option(model, bound) == pytest.approx(HAND_FORCED)
    # every plan of value ≤ 11.5 holds K4 and K2 at 25 places: the 7 other sizes are ruled out
    out = set(bound.excluded(11.5).tolist())
    kept = {k for k, v in _forced_by_option(model, bound).items() if v <= 11.5}
    assert kept == {("K4", 20), ("K2", 25)} and len(out) == len(bound.cols) - 2


def test_hand_least_cost(fx):  # noqa: F811
    """The module docstring's least costs: 60, 55, 25 and 0 万元 for shortfalls 11.5, 13, 19 and 37."""
    bound = shortfall_bound(_model(fx, budget_wan=60))
    assert [bound.least_cost(v) for v in (11.5, 13.0, 19.0, 37.0)] == [60.0, 55.0, 25.0, 0.0]


def test_cost_stage_proven_by_the_least_cost(fx):  # noqa: F811
    """Budget 60: every plan holding the shortfall optimum 11.5 costs 60 万元 (K4 + K2 at 25), so the
    previous stage's plan (60 万元) is the cost stage's optimum without a solve; the record says so."""
    area, acc = fx
    plan = plan_sites(area, acc, POL, budget_wan=60)
    rec = next(s for s in plan.stages if s["stage"] == "cost")
    assert rec["least_cost_bound"] == pytest.approx(60.0) and rec["proven_by_bound"]
    assert rec["status"] == "optimal" and rec["bound"] == pytest.approx(60.0)
    assert plan.objective_values["cost"] == pytest.approx(60.0)


def test_proven_start():
    """A feasible start within the gap of a known bound is the proven optimum; not when it breaks a
    row, lies beyond the gap or below the bound (a wrong bound), or the model maximises."""
    from tuoyu_geo.solvers import MILP, Status, proven_start

    m = MILP()
    m.add_vars(2, ub=1.0, integer=True)
    m.add_row(np.array([0, 1]), np.array([1.0, 1.0]), lo=1.0)
    m.set_objective(np.array([100.0, 120.0]), 1)
    sol = proven_start(m, np.array([1.0, 0.0]), 99.995, 1e-4)
    assert (sol.status, sol.objective, sol.bound) == (Status.OPTIMAL, 100.0, 99.995)
    assert sol.gap == pytest.approx(5e-5)
    assert proven_start(m, np.array([1.0, 0.0]), 99.0, 1e-4) is None       # gap 0.01
    assert proven_start(m, np.array([0.0, 0.0]), 0.0, 1e-4) is None        # breaks the row
    assert proven_start(m, None, 100.0, 1e-4) is None
    assert proven_start(m, np.array([1.0, 0.0]), 101.0, 1e-4) is None      # below its own bound: not trusted
    m.set_objective(np.array([100.0, 120.0]), -1)
    assert proven_start(m, np.array([1.0, 0.0]), 100.0, 1e-4) is None      # a maximisation


def test_hand_plan_within_the_bound(fx):  # noqa: F811
    """The plan reaches the bound (11.5: K2 at 25 places and K4, 60 万元), solved among the sizes
    within the bound's slack; the stage record says so."""
    area, acc = fx
    plan = plan_sites(area, acc, POL, budget_wan=60)
    assert plan.objective_values["shortfall"] == pytest.approx(11.5)
    assert plan.sites["places"].to_dict() == {"K2": 25, "K4": 20}
    rec = next(s for s in plan.stages if s["stage"] == "shortfall")
    assert rec["dp_bound"] == pytest.approx(11.5) and rec["restricted_solves"] == 1
    assert rec["fixed_columns"] == 7


def test_no_budget_no_bound(fx):  # noqa: F811
    """Without a budget every site can be opened at its largest: nothing to bound."""
    assert shortfall_bound(_model(fx)) is None


def _stage_value(model, plan: dict) -> float:
    """Least shortfall of the stage's rows for ``plan`` {site index: (places, year index)}, from the
    rows' own definition (``ratio·places`` of the row's sites open by its year, each site counted up
    to the need)."""
    total = 0.0
    for stage, _, mask, upto, ratio, need in model.shortfall_rows:
        if stage != "shortfall":
            continue
        got = sum(min(ratio * p, need) for j, (p, t) in plan.items() if mask[j] and t <= upto)
        total += max(0.0, need - got)
    return total


def _plans(model, year_budgets, total):
    """Every plan meeting the yearly budgets and the total: {site: (places, year index)}."""
    sites = np.flatnonzero(model.allowed)
    choices = [[None] + [(p, t) for t in range(model.n_years) for p in model.feasible[j]
                         if not (model.phased and model.available_year[j] > model.years[t])] for j in sites]
    for combo in itertools.product(*choices):
        plan = {int(j): c for j, c in zip(sites, combo, strict=True) if c is not None}
        spend = np.zeros(model.n_years)
        for j, (p, t) in plan.items():
            spend[t] += model.site_cost(j, p)
        if (spend <= np.asarray(year_budgets) + 1e-9).all() and spend.sum() <= total + 1e-9:
            yield plan


@pytest.mark.parametrize("budget,years", [(45, None), (60, None), (85, None), (110, None),
                                          ((30, 40), (2026, 2027)), ((60, 40), (2026, 2027)),
                                          ((45, 45), (2026, 2027)), ((25, 80), (2026, 2027)),
                                          ((30, None), (2026, 2027))])
def test_bound_is_valid_against_every_plan(fx, budget, years):  # noqa: F811
    """Against every plan of the hand area (each site closed or at one size, opening in one year):
    the bound is at most the best plan's shortfall, and each option's forced bound at most the best
    shortfall of the plans holding it (open with those places by that year).  Single-year: the
    bound is the best plan's shortfall when the area-wide row is met (it is, for these budgets)."""
    kw = {"budget_wan": budget} if years is None else {
        "years": years, "budget_per_year_wan": {y: b for y, b in zip(years, budget, strict=True) if b is not None}}
    model = _model(fx, **kw)
    bound = shortfall_bound(model)
    year_budgets = [budget] if years is None else [np.inf if b is None else b for b in budget]
    plans = list(_plans(model, year_budgets, sum(year_budgets)))
    values = [_stage_value(model, p) for p in plans]
    assert bound.lower <= min(values) + 1e-9
    if years is None:
        assert bound.lower == pytest.approx(min(values))
    j, t, c, p = model._n
    pos = {int(col): k for k, col in enumerate(bound.cols)}
    for a, b, col, q in zip(j, t, c, p, strict=True):
        holding = [v for plan, v in zip(plans, values, strict=True) if a in plan and plan[a][0] == q and plan[a][1] <= b]
        forced = bound.forced[pos[int(col)]]
        if holding:  # (an option in no plan may have any bound)
            assert forced <= min(holding) + 1e-9, (model.site_ids[a], q, b)
    # no plan costs less than the least cost of its own shortfall
    for plan, v in zip(plans, values, strict=True):
        assert bound.least_cost(v) <= sum(model.site_cost(j, q) for j, (q, _) in plan.items()) + 1e-9


def test_max_plus_convolve_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a = np.maximum.accumulate(rng.integers(0, 5, 12).astype(float))
        b = np.maximum.accumulate(rng.integers(0, 5, 12).astype(float))
        want = [max(a[k] + b[x - k] for k in range(x + 1)) for x in range(12)]
        assert max_plus_convolve(a, b).tolist() == want


def test_switch_off_gives_the_same_plan(fx, monkeypatch):  # noqa: F811
    """``bound_fixing`` off: the same optimum, no DP bound in the record."""
    monkeypatch.setitem(settings.PLAN_MILP, "bound_fixing", False)
    area, acc = fx
    plan = plan_sites(area, acc, POL, budget_wan=60)
    assert plan.objective_values["shortfall"] == pytest.approx(11.5)
    assert "dp_bound" not in next(s for s in plan.stages if s["stage"] == "shortfall")


def _lacking_puhui(model, plan) -> int:
    """一街道一普惠 rules broken by ``plan``: 街道 without 普惠 and without an open site."""
    rule = model.rule("one_puhui")
    return sum(not any(model.site_street[j] == sid for j in plan) for sid in rule.lacking(model))


@pytest.mark.parametrize("budget,years", [(45, None), (60, None), (85, None),
                                          ((30, 40), (2026, 2027)), ((60, 40), (2026, 2027)),
                                          ((45, 45), (2026, 2027)), ((25, 80), (2026, 2027)),
                                          ((25, 35), (2026, 2027))])
def test_plan_shortfall_is_the_best_of_every_plan(fx, budget, years):  # noqa: F811
    """The plan's shortfall stage (solved first among the sizes near the bound) against every plan:
    the fewest 一街道一普惠 rules broken, then the least shortfall — the area-wide row included."""
    kw = {"budget_wan": budget} if years is None else {"years": years, "budget_per_year_wan": list(budget)}
    model = _model(fx, **kw)
    year_budgets = [budget] if years is None else list(budget)
    best = min((_lacking_puhui(model, p), _stage_value(model, p)) for p in _plans(model, year_budgets,
                                                                                  sum(year_budgets)))
    area, acc = fx
    plan = plan_sites(area, acc, POL, **kw)
    assert plan.objective_values["shortfall"] == pytest.approx(best[1], abs=1e-6)


def test_later_stages_see_the_sizes_fixed_out(fx):  # noqa: F811
    """Once the shortfall optimum 11.5 is held, the 7 sizes beyond it have upper bound 0 in the model
    the later stages solve; K4 at 20 and K2 at 25 places stay free."""
    import time

    from tuoyu_geo.plan.solve import solve_lexicographic

    model = _model(fx, budget_wan=60)
    bound = shortfall_bound(model)
    solve_lexicographic(model, solver="highs", time_limit_s=30, mip_gap=1e-4, t_start=time.perf_counter())
    ub = model.milp.arrays()[2]
    out = bound.excluded(11.5 + 1e-5)
    assert len(out) == 7 and (ub[out] == 0).all()
    assert (ub[np.setdiff1d(bound.cols, out)] == 1).all()


def test_dp_bound_raises_a_solver_bound():
    """A stage cut off at objective 100 with the solver's bound 90 (gap 0.1): the DP bound 95 raises
    it to gap 0.05; 99.995 to gap 5e-5, within the 1e-4 gap — proven optimal; 80 changes nothing."""
    from tuoyu_geo.solvers import Solution, Status
    from tuoyu_geo.solvers import raise_bound as _raise_bound

    sol = Solution(x=np.ones(1), objective=100.0, bound=90.0, status=Status.TIME_LIMIT, gap=0.1, seconds=1.0,
                   solver="highs")
    r = _raise_bound(sol, 95.0, 1e-4)
    assert (r.bound, r.gap, r.status) == (95.0, pytest.approx(0.05), Status.TIME_LIMIT)
    r = _raise_bound(sol, 99.995, 1e-4)
    assert (r.bound, r.gap, r.status) == (99.995, pytest.approx(5e-5), Status.OPTIMAL)
    assert _raise_bound(sol, 80.0, 1e-4) == sol


def test_too_much_work_skips_the_bound(fx, monkeypatch):  # noqa: F811
    """Above ``MAX_BOUND_WORK`` element updates the bound is skipped (None) and the stage is solved
    as it is, to the same optimum."""
    import tuoyu_geo.plan.bounds as B

    assert shortfall_bound(_model(fx, budget_wan=60)) is not None
    monkeypatch.setattr(B, "MAX_BOUND_WORK", 100)
    assert shortfall_bound(_model(fx, budget_wan=60)) is None
    area, acc = fx
    plan = plan_sites(area, acc, POL, budget_wan=60)
    assert plan.objective_values["shortfall"] == pytest.approx(11.5)
    assert "dp_bound" not in next(s for s in plan.stages if s["stage"] == "shortfall")


def test_every_stage_gets_the_plan_highs_options(fx, monkeypatch):  # noqa: F811
    """``settings.PLAN_HIGHS_OPTIONS`` reaches every solve of a plan (restricted ones included), and a
    stage's own options (``PLAN_HIGHS_STAGE_OPTIONS``) that stage only: here RINS off in the coverage
    stage, the plan's only maximisation.  (The 配建 and coverage stages reach HiGHS through
    ``solvers.local_branching``, which calls ``solvers.solve``: both are watched.)"""
    import tuoyu_geo.plan.solve as S
    import tuoyu_geo.solvers as V

    seen, orig = [], V.solve

    def spy(milp, **kw):
        seen.append((milp.sense, kw.get("highs_options")))
        return orig(milp, **kw)

    base = {"mip_heuristic_run_rens": False, "random_seed": 3}
    monkeypatch.setattr(settings, "PLAN_HIGHS_OPTIONS", base)
    monkeypatch.setattr(settings, "PLAN_HIGHS_STAGE_OPTIONS", {"coverage": {"mip_heuristic_run_rins": False}})
    monkeypatch.setattr(S, "solve", spy)
    monkeypatch.setattr(V, "solve", spy)
    area, acc = fx
    plan_sites(area, acc, POL, budget_wan=60)
    # (the cost stage needs no solve here: test_cost_stage_proven_by_the_least_cost)
    assert len(seen) >= 4 and any(sense == -1 for sense, _ in seen)
    for sense, options in seen:
        assert options == (base if sense == 1 else {**base, "mip_heuristic_run_rins": False})


def test_fix_upper_leaves_copies_alone():
    """The restricted models are copies with sizes fixed out: fixing one never changes the stage's own."""
    from tuoyu_geo.solvers import MILP

    m = MILP()
    m.add_vars(2, ub=1.0, integer=True)
    m.add_vars(1, ub=5.0)
    trial = m.copy()
    trial.fix_upper([1, 2])
    assert trial.arrays()[2].tolist() == [1.0, 0.0, 0.0]
    assert m.arrays()[2].tolist() == [1.0, 1.0, 5.0]
    m.fix_upper([])
    assert m.arrays()[2].tolist() == [1.0, 1.0, 5.0]


@pytest.mark.parametrize("budget,years", [(60, None), (85.3, None), ((30.5, 40), (2026, 2027))])
def test_bound_is_valid_with_costs_off_the_grid(budget, years):
    """Costs on no 0.01 grid (10.37 + 1.0137 per place …): the DP rounds each cost down to a coarser
    grid, which can only raise what a budget buys — the bound stays at most every plan's value."""
    from test_plan import hand_area

    from tuoyu_geo.access import compute_access

    area = hand_area(candidates={"fixed_cost": [10.37, 10.0, 9.99, 5.123], "cost_per_place": [1.0137, 1.0, 1.0, 0.999]})
    fx2 = (area, compute_access(area, POL))
    kw = {"budget_wan": budget} if years is None else {"years": years, "budget_per_year_wan": list(budget)}
    model = _model(fx2, **kw)
    bound = shortfall_bound(model)
    assert bound is not None
    year_budgets = [budget] if years is None else list(budget)
    plans = list(_plans(model, year_budgets, sum(year_budgets)))
    values = [_stage_value(model, p) for p in plans]
    assert bound.lower <= min(values) + 1e-9
    j, t, c, p = model._n
    pos = {int(col): k for k, col in enumerate(bound.cols)}
    for a, b, col, q in zip(j, t, c, p, strict=True):
        holding = [v for plan, v in zip(plans, values, strict=True) if a in plan and plan[a][0] == q and plan[a][1] <= b]
        if holding:
            assert bound.forced[pos[int(col)]] <= min(holding) + 1e-9
