"""Local branching (:func:`tuoyu_geo.solvers.local_branching`), by hand.

Instance: maximise ``5a + 4b + 3c`` with ``2a + 2b + 2c ≤ 4`` (at most two of three binaries).  The
optimum is ``a + b`` = 9.  From the plan ``c`` (value 3):

* one flip reaches ``a + c`` (8), ``b + c`` (7) and ``∅`` (0) — best 8;
* two flips add ``a`` (5) and ``b`` (4) — still 8; ``a + b`` (9) is three flips away (a, b on, c off);
* from ``a + c``, one flip reaches ``a`` (5) and ``c`` (3) — nothing better than 8 (``a + b + c`` breaks
  the row); ``a + b`` is two flips away.

So a one-flip search from ``c`` stops at 8, and only the last whole solve finds 9.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tuoyu_geo import settings, solvers
from tuoyu_geo.solvers import MILP, Solution, Status


def _knapsack() -> MILP:
    m = MILP()
    m.add_vars(3, lb=0, ub=1, integer=True)
    m.add_row(np.arange(3), np.array([2.0, 2.0, 2.0]), hi=4.0)
    m.set_objective(np.array([5.0, 4.0, 3.0]), -1)
    return m


C_ONLY = np.array([0.0, 0.0, 1.0])


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize(("k", "best"), [(1, 8.0), (2, 8.0), (3, 9.0)])
def test_neighbourhood_by_hand(solver, k, best):
    """The plans within ``k`` flips of ``c``: the best is 8 with one or two flips, 9 with three."""
    near = solvers.neighbourhood(_knapsack(), C_ONLY, k)
    sol = solvers.solve(near, solver=solver, time_limit_s=10, start=C_ONLY)
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(best)
    assert np.count_nonzero(np.round(sol.x) != C_ONLY) <= k


def _stalling(monkeypatch, bound: float, stalls: tuple = (1,)) -> list:
    """``solvers.solve`` whose calls numbered in ``stalls`` stop at their start (as CBC on a stalled
    stage), with ``bound``; returns the list of the models it was called with."""
    real, calls = solvers.solve, []

    def fake(model, **kw):
        calls.append(model)
        sol = real(model, **kw)
        if len(calls) in stalls:
            x = np.asarray(kw["start"], float)
            return dataclasses.replace(sol, x=x, objective=float(model.arrays()[0] @ x), bound=bound,
                                       status=Status.TIME_LIMIT, gap=math.inf)
        return sol

    monkeypatch.setattr(solvers, "solve", fake)
    return calls


def test_search_then_whole_solve(monkeypatch):
    """Stalled first solve at ``c`` (3, bound 12): the one-flip search moves to ``a + c`` (8) and stops;
    the last whole solve, started there, proves 9; the bound is the better (lower) of 12 and 9."""
    calls = _stalling(monkeypatch, bound=12.0)
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=1)
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(9.0) and sol.bound == pytest.approx(9.0)
    # first whole solve, a neighbourhood that improves (8), one that does not, the last whole solve
    assert [c.n_rows for c in calls] == [1, 2, 2, 1]


def test_first_solve_handed_in(monkeypatch):
    """``first`` (a stalled solve already run: ``c``, 3, bound 12) is not solved again: the search and
    the last whole solve only — 8, then 9 proven."""
    calls = _stalling(monkeypatch, bound=0.0, stalls=())
    first = Solution(x=C_ONLY, objective=3.0, bound=12.0, status=Status.TIME_LIMIT, gap=3.0, seconds=0.5,
                     solver="highs")
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=1,
                                  first=first)
    assert [c.n_rows for c in calls] == [2, 2, 1]
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(9.0)


def test_no_time_limit_no_search(monkeypatch):
    """Without a time limit there is nothing to split: the first solve is the answer, whether run here
    (one solve, proven 9) or handed in (returned as it is, no solve)."""
    calls = _stalling(monkeypatch, bound=0.0, stalls=())
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=None, mip_gap=1e-4, start=C_ONLY, k=1)
    assert sol.objective == pytest.approx(9.0) and len(calls) == 1
    first = Solution(x=C_ONLY, objective=3.0, bound=12.0, status=Status.TIME_LIMIT, gap=3.0, seconds=0.5,
                     solver="highs")
    assert solvers.local_branching(_knapsack(), solver="highs", time_limit_s=None, mip_gap=1e-4, start=C_ONLY,
                                   first=first) is first and len(calls) == 1


def _flip_rows_hi(calls) -> list:
    """The right-hand side of each neighbourhood's flip row (``k − |on|``)."""
    return [float(c.arrays()[6][-1]) for c in calls if c.n_rows == 2]


def test_neighbourhood_halved_when_not_searched_through(monkeypatch):
    """k = 2 from ``c``: that neighbourhood stops at its start (time limit), so it is searched again
    with k = 1 — 8 — and from ``a + c`` with k = 1, where nothing is better; the last solve proves 9.
    Flip rows ``k − |on|``: 2 − 1, 1 − 1, 1 − 2."""
    calls = _stalling(monkeypatch, bound=12.0, stalls=(1, 2))
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=2)
    assert _flip_rows_hi(calls) == [1.0, 0.0, -1.0]
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(9.0)


def test_first_bound_kept_when_the_last_solve_is_not_proven(monkeypatch):
    """A last solve stopped with a weaker bound (20) leaves the first one's (12): the gap is with 12."""
    calls = _stalling(monkeypatch, bound=12.0)
    inner = solvers.solve

    def last_stalls(model, **kw):
        sol = inner(model, **kw)
        if len(calls) == 4:
            return dataclasses.replace(sol, bound=20.0, status=Status.TIME_LIMIT, gap=_gap(sol.objective, 20.0))
        return sol

    monkeypatch.setattr(solvers, "solve", last_stalls)
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=1)
    assert sol.status == Status.TIME_LIMIT and sol.objective == pytest.approx(9.0)
    assert sol.bound == pytest.approx(12.0) and sol.gap == pytest.approx(3.0 / 9.0)


def test_polish_keeps_the_first_bound(monkeypatch):
    """``resolve=False`` (HiGHS's polish): the stalled first solve at ``c`` (3, bound 12) is polished to
    ``a + c`` (8) by the one-flip search, and no whole solve follows: 8 against the bound 12, gap 4/8."""
    calls = _stalling(monkeypatch, bound=12.0)
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=1,
                                  resolve=False)
    assert [c.n_rows for c in calls] == [1, 2, 2]
    assert sol.status == Status.TIME_LIMIT and sol.objective == pytest.approx(8.0)
    assert sol.bound == pytest.approx(12.0) and sol.gap == pytest.approx(0.5)


def _gap(obj, bound):
    return abs(obj - bound) / abs(obj)


def test_proven_first_solve_is_the_answer(monkeypatch):
    """A first solve that ends proven is returned as it is: no neighbourhood, no second solve."""
    calls = []
    real = solvers.solve

    def spy(model, **kw):
        calls.append(model)
        return real(model, **kw)

    monkeypatch.setattr(solvers, "solve", spy)
    sol = solvers.local_branching(_knapsack(), solver="highs", time_limit_s=30, mip_gap=1e-4, start=C_ONLY, k=1)
    assert sol.objective == pytest.approx(9.0) and len(calls) == 1


@pytest.mark.parametrize(("flag", "solver", "stage", "used"), [
    ("cbc", "cbc", "cost", "resolve"), ("cbc", "highs", "coverage", None), (False, "cbc", "cost", None),
    ("auto", "cbc", "shortfall", "resolve"), ("auto", "highs", "coverage", "polish"),
    ("auto", "highs", "residential", "polish"), ("auto", "highs", "cost", None), ("auto", "highs", "shortfall", None),
    (True, "highs", "cost", "polish")])
def test_stage_switch(monkeypatch, flag, solver, stage, used):
    """``settings.PLAN_MILP["local_branching"]``: ``"cbc"`` with CBC only; ``"auto"`` also with HiGHS in
    ``settings.LOCAL_BRANCHING_HIGHS_STAGES``.  A stage that uses it is first solved for a third of its
    10 s (CBC, then a second whole solve) or for ``1 − LOCAL_BRANCHING_POLISH_SHARE`` of it (HiGHS, which
    then only polishes); one that does not, for all 10 s.  Here every first solve stops unproven."""
    from tuoyu_geo.plan import solve as plan_solve

    solves, searches = [], []
    stalled = Solution(x=C_ONLY, objective=3.0, bound=12.0, status=Status.TIME_LIMIT, gap=3.0, seconds=1.0,
                       solver=solver)
    monkeypatch.setitem(settings.PLAN_MILP, "local_branching", flag)
    monkeypatch.setattr(plan_solve, "local_branching", lambda *a, **k: searches.append(k))
    monkeypatch.setattr(plan_solve, "solve", lambda *a, **k: solves.append(k["time_limit_s"]) or stalled)
    plan_solve._solve_stage(_knapsack(), solver=solver, time_limit_s=10, mip_gap=1e-4, start=C_ONLY, stage=stage)
    if used is None:
        assert solves == [10] and searches == []
        return
    first = 1 / 3 if used == "resolve" else 1 - settings.LOCAL_BRANCHING_POLISH_SHARE
    assert solves == [pytest.approx(10 * first)] and len(searches) == 1
    k = searches[0]
    assert k["first"] is stalled and k["resolve"] is (used == "resolve") and k["first_share"] == pytest.approx(first)
    if used == "polish":
        assert k["search_share"] == pytest.approx(settings.LOCAL_BRANCHING_POLISH_SHARE)


def test_stage_proven_in_its_first_part_is_not_searched(monkeypatch):
    """A first solve that proves the stage is the stage's answer: no search."""
    from tuoyu_geo.plan import solve as plan_solve

    searches = []
    monkeypatch.setitem(settings.PLAN_MILP, "local_branching", True)
    monkeypatch.setattr(plan_solve, "local_branching", lambda *a, **k: searches.append(k))
    sol = plan_solve._solve_stage(_knapsack(), solver="highs", time_limit_s=10, mip_gap=1e-4, start=C_ONLY,
                                  stage="coverage")
    assert sol.status == Status.OPTIMAL and sol.objective == pytest.approx(9.0) and searches == []


def test_stalled_coverage_stage_in_a_plan(monkeypatch):
    """The hand area of ``test_plan.py`` (most coverage 230 infants: K1, K2, K3).  Its coverage stage's
    first solve is made to stop, unproven, at its start, with the solver's own bound (230).  The stage
    is then polished (HiGHS, ``"auto"``): its record counts the neighbourhoods, and since the plan meets
    the bound the stage ends proven; the plan covers 230 and costs 90 万元, as by hand.  (Here every
    plan the earlier stages leave covers 230; the search's gains are tested on the knapsack above.)"""
    from test_plan import POL, hand_area

    from tuoyu_geo.access import compute_access
    from tuoyu_geo.plan import plan_sites
    from tuoyu_geo.plan import solve as plan_solve

    real, stalled = plan_solve.solve, []

    def stall_coverage(milp, **kw):
        sol = real(milp, **kw)
        if milp.sense == -1 and not stalled:  # the coverage stage, the plan's only maximisation
            x = np.asarray(kw["start"], float)
            stalled.append(float(milp.arrays()[0] @ x))
            return dataclasses.replace(sol, x=x, objective=stalled[0], status=Status.TIME_LIMIT, gap=math.inf)
        return sol

    monkeypatch.setitem(settings.PLAN_MILP, "local_branching", "auto")
    monkeypatch.setattr(plan_solve, "solve", stall_coverage)
    area = hand_area()
    plan = plan_sites(area, compute_access(area, POL), POL, street_puhui_share=False)
    cover = next(s for s in plan.stages if s["stage"] == "coverage")
    assert stalled and cover["neighbourhoods"] >= 1
    assert cover["status"] == "optimal" and cover["bound"] == pytest.approx(230)
    assert plan.objective_values["coverage"] == pytest.approx(230)
    assert plan.objective_values["cost"] == pytest.approx(90)
