"""Lexicographic solve: (1) least total shortfall, (2) most coverage, (3) least cost.

Each stage's optimum is held in the later stages within ``settings.LEX_TOLERANCE × max(1, |v|)``
(relative), and its solution is the next stage's MIP start.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from .. import settings
from .._errors import InfeasiblePlanError, SolverError
from ..solvers import Status, solve
from .model import PlanModel

log = logging.getLogger(__name__)

__all__ = ["STAGES", "LexResult", "solve_lexicographic"]

#: (stage, sense): +1 minimise, -1 maximise
STAGES: tuple[tuple[str, int], ...] = (("shortfall", 1), ("coverage", -1), ("cost", 1))


@dataclass(frozen=True)
class LexResult:
    x: np.ndarray
    values: dict
    status: Status
    gap: float
    seconds: float
    stages: tuple


def _hold(model: PlanModel, cols: np.ndarray, coef: np.ndarray, sense: int, v: float) -> None:
    """Keep objective ``coef·x[cols]`` within the tolerance of ``v`` in the later stages."""
    if not len(cols):
        return
    tol = settings.LEX_TOLERANCE * max(1.0, abs(v))
    bound = {"hi": v + tol} if sense == 1 else {"lo": v - tol}
    model.add_row(f"lexicographic:{len(model.blocks)}", cols, coef, **bound)


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
    for stage, sense in STAGES:
        cols, coef = model.objective_terms(stage)
        c = np.zeros(n)
        c[cols] = coef
        model.milp.set_objective(c, sense)
        remaining = max(1.0, time_limit_s - (time.perf_counter() - t_start))
        sol = solve(model.milp, solver=solver, time_limit_s=remaining, mip_gap=mip_gap, start=x)
        seconds += sol.seconds
        details.append({"stage": stage, "status": str(sol.status), "objective": sol.objective,
                        "bound": sol.bound, "gap": sol.gap, "seconds": round(sol.seconds, 3)})
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
        _hold(model, cols, coef, sense, values[stage])
    return LexResult(x=x, values=values, status=status, gap=gap, seconds=seconds, stages=tuple(details))
