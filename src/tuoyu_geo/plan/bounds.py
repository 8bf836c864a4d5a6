"""A lower bound on a budget-bound shortfall stage by dynamic programming, and the site sizes it rules out.

The shortfall rows of the place targets (places per 1000, 普惠 share per 街道) each read the places of
one 街道's candidate sites: ``Σ min(ratio·p, need)·Y + short ≥ need``.  A whole plan with ``P`` new
places in the 街道 by year t leaves the 街道's rows a least shortfall of ``Σ_rows max(0, need − ratio·P)``,
so what a budget of ``B`` 万元 can remove from the stage's shortfall by year t is a knapsack over
街道: each 街道's value ``f_s(most places its sites give for cost c)`` (group knapsack per 街道, exact by
dynamic programming on a cost grid), combined by max-plus convolution.  Summed over the years this
bounds the stage from below.  Where the budget binds it is tighter than the LP relaxation, which
buys fractions of sites with the last 万元 of every year (bundled 2-year plan: LP 4,506.4, this bound
4,519.6, optimum 4,523.2; 3,000 万元 plan: LP 2,241.5, this bound 2,251.1 = the optimum).

The same bound with one option forced — site j open with p places by year t — says how much a plan
using it must leave short at least.  An option whose forced bound exceeds a stage value ``u`` is in
no plan of value ≤ ``u``: once the stage's optimum is held, such options are fixed out for the later
stages (bundled 2-year plan: 2,466 of 3,521 size columns), and the stage itself is first solved
among the options within a small slack of the bound (:func:`tuoyu_geo.plan.solve.solve_lexicographic`).

Rows that read every site (the area-wide 普惠 share) are left out (their shortfall counts 0): the
bound stays valid.  Other rules (site counts, required sites, 一街道一普惠) are relaxed, also valid.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .model import PlanModel, _cost_step, _most_value_by_cost

log = logging.getLogger(__name__)

__all__ = ["ShortfallBound", "max_plus_convolve", "shortfall_bound"]

#: above this many element updates (vectorised) the bound is skipped: 4.5e8 took 0.7 s on the bundled
#: 2-year plan with a 4,000 万元 total budget
MAX_BOUND_WORK = 2_000_000_000

#: at most this many steps in the cost grid (costs off a 1/0.5/0.1/0.05/0.01 grid, or a larger
#: budget, are rounded down to a coarser one, which keeps the bound valid but weaker)
MAX_COST_STEPS = 20_000


@dataclass(frozen=True)
class ShortfallBound:
    """Lower bound ``lower`` on a shortfall stage, and for each size column ``cols[k]`` (site open
    with a size by a year) the bound ``forced[k]`` of every plan using it (``inf``: beyond the
    budget)."""

    stage: str
    lower: float
    cols: np.ndarray
    forced: np.ndarray
    step: float = 1.0
    #: per year: the rows' need, and the most shortfall whole sites remove for each cost step
    needs: tuple = ()
    gains: tuple = ()

    def excluded(self, value: float) -> np.ndarray:
        """Size columns in no plan whose stage objective is at most ``value``."""
        return self.cols[self.forced > value + 1e-7 * max(1.0, abs(value))]

    def least_cost(self, value: float) -> float:
        """A lower bound on the cost (万元) of every plan whose stage objective is at most ``value``.

        A plan costing ``C`` has spent at most ``C`` by every year, so its shortfall is at least
        ``Σ_t need_t − gain_t(min(C, budget by t))``; the least ``C`` (on the cost grid, costs rounded
        down) at which that is at most ``value`` bounds its cost from below.  Where the budget binds,
        this is the budget itself: every 万元 less leaves more short.

        >>> b = ShortfallBound("s", 4.0, np.zeros(0, np.int64), np.zeros(0), step=10.0,
        ...                    needs=(10.0,), gains=(np.array([0.0, 3.0, 6.0]),))
        >>> b.least_cost(4.0), b.least_cost(7.0), b.least_cost(10.0)
        (20.0, 10.0, 0.0)
        """
        if not self.gains:
            return 0.0
        top = max(len(g) for g in self.gains)
        k = np.arange(top)
        left = sum(need - g[np.minimum(k, len(g) - 1)] for need, g in zip(self.needs, self.gains, strict=True))
        ok = np.flatnonzero(left <= value + 1e-7 * max(1.0, abs(value)))
        return float(ok[0] * self.step) if len(ok) else 0.0


def max_plus_convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[x] = max_{k ≤ x} a[k] + b[x − k]`` for nondecreasing ``a`` and ``b`` of one length (only
    the steps of the one with fewer steps are visited).

    >>> max_plus_convolve(np.array([0., 5., 5., 6.]), np.array([0., 0., 4., 4.])).tolist()
    [0.0, 5.0, 5.0, 9.0]
    """
    if _steps(a) > _steps(b):
        a, b = b, a
    out = a[0] + b
    for k in np.flatnonzero(np.diff(a) > 1e-12) + 1:
        np.maximum(out[k:], a[k] + b[:-k], out=out[k:])
    return out


def _steps(v: np.ndarray) -> int:
    return int(np.count_nonzero(np.diff(v) > 1e-12))


def _budget_by(model: PlanModel, t: int) -> float:
    """What the plan may have spent by year index ``t`` (万元; ``inf`` without a budget)."""
    b = model.rule("phasing").budget_by(model, t)
    return np.inf if b is None else b


def shortfall_bound(model: PlanModel, stage: str = "shortfall") -> ShortfallBound | None:
    """The dynamic-programming bound of ``stage`` and each size column's forced bound (module
    docstring); ``None`` when it does not apply: no budget, a formulation other than one binary per
    (site, size, year by which it is open), a penalty of the stage that is not a shortfall row, rows
    whose sites overlap without being the same, or more work than ``MAX_BOUND_WORK``."""
    if model.formulation == "classes" or (not model.cumulative and model.n_years > 1):
        return None
    rows = [r for r in model.shortfall_rows if r[0] == stage]
    cols, _ = model.objective_terms(stage)
    if not rows or set(cols.tolist()) != {r[1] for r in rows}:
        return None
    budgets = [_budget_by(model, t) for t in range(model.n_years)]
    if not np.isfinite(budgets).any():
        return None
    by_mask: dict[bytes, list] = defaultdict(list)
    owner = np.full(model.n_sites, -1)
    for r in rows:
        mask = r[2] & model.allowed
        if (mask | ~model.allowed).all():
            continue  # reads every site (area-wide): left out
        key = mask.tobytes()
        if key not in by_mask:
            if (owner[mask] >= 0).any():
                return None  # overlapping site sets: not one knapsack per 街道
            owner[mask] = len(by_mask)
        by_mask[key].append(r)
    groups = list(by_mask.values())
    masks = [g[0][2] & model.allowed for g in groups] + [model.allowed & (owner < 0)]  # last: no rows
    j_all, t_all, c_all, p_all = model._n
    choices = {j: [(model.site_cost(j, p), p) for p in model.feasible[j]] for j in np.flatnonzero(model.allowed)}
    costs = [c for opt in choices.values() for c, _ in opt]
    finite = [b for b in budgets if np.isfinite(b)]
    everything = sum(max((c for c, _ in opt), default=0.0) for opt in choices.values())  # every site at its largest
    top_cost = min(max(budgets), everything)
    step = _cost_step([*costs, *finite], top=top_cost, most_steps=MAX_COST_STEPS) or top_cost / MAX_COST_STEPS
    work = 0
    lower_t, forced_t, needs, gains = [], [], [], []
    for t in range(model.n_years):
        top = int(np.floor(min(budgets[t], top_cost) / step + 1e-7))
        rows_t = [[r for r in g if (r[3] if r[3] is not None else model.n_years - 1) == t] for g in groups]
        need = sum(r[5] for g in rows_t for r in g)

        def value(places: np.ndarray, g: int, rows_t=rows_t) -> np.ndarray:
            if g == len(groups):
                return np.zeros(len(places))
            return sum((np.minimum(need_r, ratio * places) for *_, ratio, need_r in rows_t[g]), np.zeros(len(places)))

        sites = [[j for j in np.flatnonzero(mk) if not (model.phased and model.available_year[j] > model.years[t])]
                 for mk in masks]
        opts = [[choices[j] for j in s] for s in sites]
        # each site's 街道 without it, then every size: Σ (sizes of the 街道) × (its sites + 1) steps
        work += sum(sum(map(len, o)) * (len(s) + 1) for o, s in zip(opts, sites, strict=True)) * (top + 1)
        if work > MAX_BOUND_WORK:
            log.info("shortfall bound skipped: %d DP updates exceed MAX_BOUND_WORK", work)
            return None
        V = [value(_most_value_by_cost(o, step, top), g) for g, o in enumerate(opts)]
        pre = [np.zeros(top + 1)]
        for v in V:
            pre.append(max_plus_convolve(pre[-1], v))
        suf = [np.zeros(top + 1)]
        for v in V[::-1]:
            suf.append(max_plus_convolve(suf[-1], v))
        suf = suf[::-1]
        work += sum(min(_steps(a), _steps(b)) for a, b in zip(pre, suf[1:], strict=False)) * (top + 1)
        if work > MAX_BOUND_WORK:
            log.info("shortfall bound skipped: %d DP updates exceed MAX_BOUND_WORK", work)
            return None
        lower_t.append(need - float(pre[-1][top]))
        needs.append(float(need))
        gains.append(pre[-1])
        forced: dict[tuple[int, int], float] = {}
        for g, (s, o) in enumerate(zip(sites, opts, strict=True)):
            rest = max_plus_convolve(pre[g], suf[g + 1])  # the other 街道 with at most x steps
            for i, j in enumerate(s):
                others = _most_value_by_cost(o[:i] + o[i + 1:], step, top)  # the 街道's other sites
                for c, p in o[i]:
                    k = int(np.floor(c / step + 1e-7))
                    if k > top:
                        forced[(j, p)] = np.inf
                        continue
                    x = np.arange(top + 1 - k)  # steps spent on the 街道's other sites
                    best = float(np.max(value(others[x] + p, g) + rest[top - k - x]))
                    forced[(j, p)] = need - best
        forced_t.append(forced)
    out = np.empty(len(c_all))
    for k, (j, t, p) in enumerate(zip(j_all.tolist(), t_all.tolist(), p_all.tolist(), strict=True)):
        # open with p places by year t: forced in t and every later year, free before
        out[k] = sum(lower_t[:t]) + sum(forced_t[u].get((j, int(p)), lower_t[u]) for u in range(t, model.n_years))
    return ShortfallBound(stage=stage, lower=float(sum(lower_t)), cols=np.asarray(c_all, np.int64), forced=out,
                          step=float(step), needs=tuple(needs), gains=tuple(gains))
