"""Lexicographic solve: (0) fewest rules broken (一街道一普惠, 一县区一示范 in best effort), (1) least
total shortfall in places (街道 targets, 普惠 shares), (2) least residential 配建 shortfall, (3) with
``equity``, the highest minimum 街道 coverage, (4) most coverage, (5) least cost.  A stage with no terms
is skipped.

Each stage's optimum is held in the later stages within ``settings.LEX_TOLERANCE × max(1, |v|)``
(relative), plus what the rules derive from it row by row (:meth:`tuoyu_geo.rules.base.Rule.hold`);
its solution, with the continuous part re-optimised for the next objective
(:func:`tuoyu_geo.solvers.complete_start`), is the next stage's MIP start.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from .. import settings
from .._errors import InfeasiblePlanError, SolverError
from ..solvers import (
    MILP,
    Solution,
    Status,
    complete_start,
    cpsat_plan,
    local_branching,
    proven_start,
    raise_bound,
    solve,
)
from .bounds import ShortfallBound, shortfall_bound
from .model import PlanModel

log = logging.getLogger(__name__)

__all__ = ["STAGES", "LexResult", "solve_lexicographic"]

#: (stage, sense): +1 minimise, -1 maximise
STAGES: tuple[tuple[str, int], ...] = (("rules", 1), ("shortfall", 1), ("residential", 1), ("equity", -1),
                                        ("coverage", -1), ("cost", 1))


@dataclass(frozen=True)
class LexResult:
    x: np.ndarray
    values: dict
    status: Status
    gap: float
    seconds: float
    stages: tuple


def _lex_tolerance(v: float) -> float:
    """How far a later stage may move an earlier stage's optimum ``v``: ``LEX_TOLERANCE × max(1, |v|)``."""
    return settings.LEX_TOLERANCE * max(1.0, abs(v))


def _hold(model: PlanModel, stage: str, cols: np.ndarray, coef: np.ndarray, sense: int, v: float,
          dp: ShortfallBound | None = None) -> int:
    """Keep objective ``coef·x[cols]`` within the tolerance of ``v`` in the later stages (and let the
    rules add what that implies row by row, :meth:`tuoyu_geo.rules.base.Rule.hold`); with the stage's
    bound ``dp``, fix out the sizes no plan within the tolerance of ``v`` can use.  Returns how many
    size columns were fixed out."""
    if not len(cols):
        return 0
    tol = _lex_tolerance(v)
    bound = {"hi": v + tol} if sense == 1 else {"lo": v - tol}
    implied = False
    if settings.PLAN_MILP.get("served_rows", True):
        # any() would stop at the first rule that implies the row: every rule adds its rows
        implied = any([rule.hold(model, stage, v, tol) for rule in model.rules])
    if not implied:
        model.add_row(f"lexicographic:{len(model.blocks)}", cols, coef, **bound)
    out = dp.excluded(v + tol) if dp is not None else np.zeros(0, np.int64)
    model.milp.fix_upper(out)  # no plan within the held value uses these sizes (tuoyu_geo.plan.bounds)
    floor = settings.PLAN_MILP.get("floor_cuts", "auto")
    if floor is True or (floor == "auto" and int(model.allowed.sum()) >= settings.FLOOR_CUTS_MIN_CANDIDATES):
        model.hold_shortfalls(stage, v, tol)
    return len(out)


def _solve_stage(milp: MILP, *, solver: str, time_limit_s: float, mip_gap: float, start: np.ndarray | None,
                 highs_options: dict | None = None, stage: str = "") -> Solution:
    """One whole stage: :func:`tuoyu_geo.solvers.solve`, followed by :func:`tuoyu_geo.solvers.local_branching`
    where ``settings.PLAN_MILP["local_branching"]`` asks for it — True (always), ``"cbc"`` (with CBC),
    ``"auto"`` (with CBC, and with HiGHS in the stages ``settings.LOCAL_BRANCHING_HIGHS_STAGES``) — and the
    solve stopped at its time without a proof: CBC's after a third of the time (then the search, then a
    second whole solve), HiGHS's with ``settings.LOCAL_BRANCHING_POLISH_SHARE`` of the time left to
    polish its plan."""
    if not _use_local_branching(solver, stage):
        return solve(milp, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap, start=start,
                     highs_options=highs_options)
    cbc = str(solver).lower() == "cbc"
    # HiGHS: its own search for most of the time (a restart would lose its tree), then polish its plan
    first_share = 1 / 3 if cbc else 1 - settings.LOCAL_BRANCHING_POLISH_SHARE
    first = solve(milp, solver=solver, time_limit_s=max(1.0, first_share * time_limit_s), mip_gap=mip_gap,
                  start=start, highs_options=highs_options)
    if first.x is None or first.status != Status.TIME_LIMIT:
        return first
    return local_branching(milp, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap, start=start,
                           k=settings.LOCAL_BRANCHING_FLIPS, highs_options=highs_options, first=first,
                           first_share=first_share, search_share=1 / 3 if cbc else 1 - first_share,
                           resolve=cbc)


def _use_local_branching(solver: str, stage: str) -> bool:
    flag = settings.PLAN_MILP.get("local_branching", False)
    cbc = str(solver).lower() == "cbc"
    return flag is True or (flag in ("cbc", "auto") and cbc) or (
        flag == "auto" and stage in settings.LOCAL_BRANCHING_HIGHS_STAGES)


def _highs_options(stage: str) -> dict:
    """HiGHS options of a stage: ``settings.PLAN_HIGHS_OPTIONS`` and the stage's own
    (``settings.PLAN_HIGHS_STAGE_OPTIONS``)."""
    return {**settings.PLAN_HIGHS_OPTIONS, **settings.PLAN_HIGHS_STAGE_OPTIONS.get(stage, {})}


def _solve_within_bound(milp: MILP, bound: ShortfallBound, *, solver: str, time_limit_s: float, mip_gap: float,
                        start: np.ndarray | None, highs_options: dict | None = None) -> tuple[Solution, int]:
    """Solve a minimising stage first among the sizes whose forced bound is within
    ``settings.BOUND_FIX_SLACK`` of ``bound.lower``: a plan found there at most that value is optimal
    for the whole stage (every plan not in the restricted model is worse).  A restricted model
    without such a plan is widened — to the value of the plan it found (then it holds every better
    plan, so its optimum is the stage's), else to four times the slack — until the time is spent;
    then the whole stage is solved.  Returns the solution and the number of restricted solves."""
    t0 = time.perf_counter()
    u = bound.lower + settings.BOUND_FIX_SLACK * max(1.0, abs(bound.lower))
    tries = 0
    while tries < 4:
        left = time_limit_s - (time.perf_counter() - t0)
        if left <= 0.1:
            break
        out = bound.excluded(u)
        trial = milp.copy()
        trial.fix_upper(out)
        ok = start is not None and not (np.asarray(start)[out] > 0.5).any()
        sol = _solve_stage(trial, solver=solver, time_limit_s=left, mip_gap=mip_gap, start=start if ok else None,
                           highs_options=highs_options, stage=bound.stage)
        tries += 1
        if sol.x is not None and sol.objective <= u + 1e-9 * max(1.0, abs(u)):
            # every plan outside the restricted model is worse than u: its bound holds for the stage
            return raise_bound(sol, bound.lower, mip_gap), tries
        if sol.x is not None:
            u, start = sol.objective, sol.x  # the next restricted model holds every plan as good
        elif sol.status == Status.INFEASIBLE:
            u = bound.lower + 4 * (u - bound.lower)
        else:
            break
    left = max(1.0, time_limit_s - (time.perf_counter() - t0))
    return raise_bound(_solve_stage(milp, solver=solver, time_limit_s=left, mip_gap=mip_gap, start=start,
                                    highs_options=highs_options, stage=bound.stage), bound.lower, mip_gap), tries


def _use_cpsat(model: PlanModel) -> bool:
    """Whether the cost stage first asks CP-SAT for a plan (``settings.PLAN_MILP["cpsat_start"]``:
    True, False or "auto" = from ``settings.CPSAT_MIN_CANDIDATES`` allowed candidates)."""
    flag = settings.PLAN_MILP.get("cpsat_start", False)
    return flag is True or (flag == "auto" and int(model.allowed.sum()) >= settings.CPSAT_MIN_CANDIDATES)


#: rules whose hard constraints can together admit no plan
_HARD = ("one_puhui", "sites", "budget", "phasing", "max_sites")


def _no_solution(model: PlanModel, sol, stage: str, time_limit_s: float) -> Exception:
    if sol.status == Status.INFEASIBLE:
        names = "、".join(model.rule(k).name for k in _HARD)
        return InfeasiblePlanError([("全区", "模型", f"the rules together ({names}) admit no plan")],
                                   fix="raise the budget / max_new_sites or drop required sites")
    return SolverError(f"no feasible plan found in stage '{stage}' (solver status {sol.status}) within "
                       f"{time_limit_s} s\n  fix: raise time_limit_s or try solver='cbc'/'highs'")


def solve_lexicographic(model: PlanModel, *, solver: str, time_limit_s: float, mip_gap: float,
                        t_start: float) -> LexResult:
    """Solve the stages in order; a stage cut off without an incumbent keeps the previous plan."""
    n = model.milp.n_cols
    values: dict[str, float] = {}
    details = []
    status, gap, seconds, x = Status.OPTIMAL, 0.0, 0.0, None
    todo = [(st, sense, *model.objective_terms(st)) for st, sense in STAGES]
    todo = [t for t in todo if t[0] == "cost" or len(t[2])]
    held: tuple[ShortfallBound, float] | None = None  # the shortfall stage's DP bound and held value
    for stage, *_ in STAGES:
        if stage not in [t[0] for t in todo]:
            values[stage] = 0.0
    for k, (stage, sense, cols, coef) in enumerate(todo):
        c = np.zeros(n)
        np.add.at(c, cols, coef)  # a column may appear in several terms (e.g. fixed and per-place cost)
        if stage == "cost":
            # ties in cost (e.g. free sites) go to fewer sites: a tiny cost per open site, below any
            # difference of cost the data can make (settings.SITE_TIE_BREAK_WAN)
            oc, one = model.open_terms()
            tie = c.copy()
            np.add.at(tie, oc, settings.SITE_TIE_BREAK_WAN * one)
            model.milp.set_objective(tie, sense)
        else:
            model.milp.set_objective(c, sense)
        if x is not None and settings.PLAN_MILP.get("complete_start", True):
            x = complete_start(model.milp, x)
        # each stage gets an equal share of the time left, so a hard stage cannot starve the later ones
        remaining = max(1.0, (time_limit_s - (time.perf_counter() - t_start)) / (len(todo) - k))
        extra = {}
        if stage == "cost" and _use_cpsat(model):
            t0 = time.perf_counter()
            y = cpsat_plan(model.milp, time_limit_s=settings.CPSAT_SHARE * remaining, mip_gap=mip_gap)
            took = time.perf_counter() - t0
            # cheaper for the objective set above (``tie``: the cost with its tie-break)
            better = y is not None and (x is None or sense * float(tie @ (y - x)) < 0)
            extra = {"cpsat_seconds": round(took, 3), "cpsat_used": bool(better)}
            if better:
                x = y
            remaining, seconds = max(1.0, remaining - took), seconds + took
        bound = shortfall_bound(model, stage) if sense == 1 and settings.PLAN_MILP.get("bound_fixing", True) else None
        least = held[0].least_cost(held[1]) if stage == "cost" and held is not None else -math.inf
        t0 = time.perf_counter()
        proven = proven_start(model.milp, x, least, mip_gap) if math.isfinite(least) else None
        if math.isfinite(least):
            # every plan that holds the shortfall stage's optimum costs at least this (the budget it needs)
            extra["least_cost_bound"] = round(least, 6)
        if proven is not None:
            sol = proven  # the previous stage's plan already costs that: nothing cheaper holds the stages
            extra["proven_by_bound"] = True
        elif bound is not None:
            sol, tries = _solve_within_bound(model.milp, bound, solver=solver, time_limit_s=remaining,
                                             mip_gap=mip_gap, start=x, highs_options=_highs_options(stage))
            extra.update(dp_bound=round(bound.lower, 6), restricted_solves=tries)
        else:
            sol = raise_bound(_solve_stage(model.milp, solver=solver, time_limit_s=remaining, mip_gap=mip_gap,
                                           start=x, highs_options=_highs_options(stage), stage=stage), least, mip_gap)
        took = time.perf_counter() - t0
        seconds += took
        if sol.searched:
            extra["neighbourhoods"] = sol.searched  # local branching (settings.PLAN_MILP["local_branching"])
        details.append({"stage": stage, "status": str(sol.status), "objective": sol.objective,
                        "bound": sol.bound, "gap": sol.gap,
                        "seconds": round(took + extra.get("cpsat_seconds", 0.0), 3), **extra})
        if sol.x is None and (x is None or sol.status == Status.INFEASIBLE):
            raise _no_solution(model, sol, stage, time_limit_s)
        if sol.x is None:  # keep the previous stage's plan: it meets every constraint of this stage
            log.warning("stage %s found no solution within the time limit; keeping the previous plan", stage)
            status, gap = Status.TIME_LIMIT, math.inf
            details[-1]["kept_previous"] = True
        else:
            x = sol.x
            if sol.status != Status.OPTIMAL:
                status = sol.status
            gap = max(gap, sol.gap if math.isfinite(sol.gap) else math.inf)
        values[stage] = float(c @ x)
        fixed = _hold(model, stage, cols, coef, sense, values[stage], bound)
        if bound is not None:
            details[-1]["fixed_columns"] = fixed
            if stage == "shortfall":
                held = (bound, values[stage] + _lex_tolerance(values[stage]))
    return LexResult(x=x, values=values, status=status, gap=gap, seconds=seconds, stages=tuple(details))
