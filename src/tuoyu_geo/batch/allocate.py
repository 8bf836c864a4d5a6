"""The provincial budget split: an exact multiple-choice knapsack over the districts' frontiers.

District d has frontier points p = 1..P_d, each a budget ``b_dp`` (万元) with ``m_dp`` 街道 达标,
``v_dp`` infants newly covered.  Binary ``x_dp`` picks one point per district:

    Σ_p x_dp = 1  (every d),       Σ_dp b_dp x_dp ≤ B,

and the objective is lexicographic (each stage a MILP solved by :func:`tuoyu_geo.solvers.solve`,
its optimum then held as a constraint): (1) max Σ m x — most 街道 达标; (2) max Σ v x — most
infants covered; (3) min Σ b x — least budget.  Stage 1 counts are whole numbers and held exactly;
stage 2 within ``1e-6`` relative.  Exact: the solver proves each stage optimal (a time limit is an
error, not an answer).

The naive splits the allocation is compared with give district d ``B · w_d / Σ w`` for
``w`` = population (``"population"``) or the place gap (Σ 街道 ``place_gap``; ``"gap"``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import DataError, SolverError
from ..solvers import MILP, Status, solve

log = logging.getLogger(__name__)

__all__ = ["STAGES", "Allocation", "allocate", "naive_split"]

#: lexicographic stages: (name, column, sense) — sense −1 maximise, +1 minimise
STAGES = {"streets": ("streets_met", -1), "infants": ("infants_newly_covered", -1), "cost": ("budget_wan", 1)}
FRONTIER_COLUMNS = ("district", "budget_wan", "streets_met", "infants_newly_covered")


@dataclass(frozen=True)
class Allocation:
    """The chosen frontier point of every district.

    Attributes
    ----------
    choice : DataFrame
        One row per district (index ``district``): budget_wan, streets_met, infants_newly_covered
        (and every other column of the chosen frontier row).
    budget_wan : float
        The province budget.
    objective : mapping
        Optimum of each stage (Σ 街道 达标, Σ infants, Σ budget).
    stages : tuple of str
    """

    choice: pd.DataFrame
    budget_wan: float
    objective: Mapping[str, float]
    stages: tuple[str, ...]

    @property
    def spent_wan(self) -> float:
        return float(self.choice["budget_wan"].sum())


def _check(frontiers: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in FRONTIER_COLUMNS if c not in frontiers.columns]
    if missing:
        raise ValueError(f"frontiers lack columns {missing}")
    f = frontiers.reset_index(drop=True)
    if f.empty:
        raise DataError("no frontier points to allocate over", file="frontiers",
                        fix="check that at least one district was assessed")
    return f


def allocate(frontiers: pd.DataFrame, budget_wan: float, *, stages: Sequence[str] = tuple(STAGES),
             solver: str = "highs", time_limit_s: float | None = 60.0) -> Allocation:
    """Pick one frontier point per district, total budget ≤ ``budget_wan``, lexicographically best.

    Parameters
    ----------
    frontiers : DataFrame
        Rows ``district, budget_wan, streets_met, infants_newly_covered`` (more columns are kept).
    budget_wan : float
        Province budget (万元).
    stages : sequence of {"streets", "infants", "cost"}
        The lexicographic order (default all three, in this order).

    Raises
    ------
    DataError
        Even the cheapest point of every district together costs more than ``budget_wan`` (names
        the districts and their cheapest points).
    SolverError
        A stage is not proven optimal.
    """
    f = _check(frontiers)
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise ValueError(f"unknown stages {unknown}; use some of {list(STAGES)}")
    districts = list(dict.fromkeys(f["district"]))
    least = f.groupby("district")["budget_wan"].min()
    if least.sum() > budget_wan + 1e-9:
        raise DataError(f"the province budget {budget_wan:g} 万元 is below the least the districts need "
                        f"together ({least.sum():g} 万元: " + ", ".join(f"{d} {v:g}" for d, v in least.items()) + ")",
                        file="province.toml (budget_wan)", fix="raise the budget, or drop required sites")
    m = MILP()
    x = m.add_vars(len(f), lb=0.0, ub=1.0, integer=True)
    code = f["district"].map({d: i for i, d in enumerate(districts)}).to_numpy()
    m.add_rows(code, x, 1.0, len(districts), lo=1.0, hi=1.0)
    m.add_row(x, f["budget_wan"].to_numpy(float), hi=float(budget_wan))
    objective: dict[str, float] = {}
    sol = None
    for stage in stages:
        col, sense = STAGES[stage]
        w = f[col].to_numpy(float)
        m.set_objective(w, sense)
        sol = solve(m, solver=solver, time_limit_s=time_limit_s, mip_gap=0.0)
        if sol.status != Status.OPTIMAL or sol.x is None:
            raise SolverError(f"allocation stage {stage!r}: {sol.status}")
        best = float(w @ np.round(sol.x))
        objective[stage] = best
        slack = 1e-6 * max(1.0, abs(best))
        if sense < 0:
            m.add_row(x, w, lo=best - (0.5 if stage == "streets" else slack))
        else:
            m.add_row(x, w, hi=best + slack)
    picked = f.loc[np.round(sol.x).astype(bool)].set_index("district").reindex(districts)
    log.info("allocation: %s", objective)
    return Allocation(choice=picked, budget_wan=float(budget_wan), objective=objective, stages=tuple(stages))


def naive_split(weights: Mapping[str, float], budget_wan: float) -> dict[str, float]:
    """``budget_wan`` split in proportion to ``weights`` (equal shares when they sum to 0)."""
    w = pd.Series(weights, dtype=float).clip(lower=0).fillna(0.0)
    if w.sum() <= 0:
        w[:] = 1.0
    return {str(k): float(v) for k, v in (budget_wan * w / w.sum()).items()}
