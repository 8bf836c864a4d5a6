"""Optimisation: classic location models and the 托育 site plan (exact MILP, explained).

Classic models (on a clients × facilities cost matrix, dense or ``scipy.sparse``) return a frozen
:class:`ModelResult`: :func:`lscp`, :func:`mclp`, :func:`p_median`, :func:`capacitated_coverage`;
:func:`read_orlib_pmed` reads OR-Library p-median instances.

:func:`plan_sites` chooses new 普惠 sites for a :class:`~tuoyu_geo.io.StudyArea` (see the "Site plan
(MILP)" section of the design) and returns a frozen :class:`SitePlan`.

Solvers: ``solver="highs"`` (HiGHS via ``highspy``) or ``"cbc"`` (CBC via PuLP); a run stopped by
``time_limit_s`` returns its best solution with ``status="time_limit"`` and the solver's gap.

>>> import numpy as np
>>> from tuoyu_geo.optimize import mclp
>>> r = mclp(np.array([[0., 9.], [9., 0.], [9., 1.]]), [1, 2, 3], p=1, radius=2)
>>> r.selected.tolist(), r.covered_weight
([1], 5.0)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._classic import ModelResult, capacitated_coverage, lscp, mclp, p_median, read_orlib_pmed
from ._errors import DataError, InfeasiblePlanError, SolverError
from ._milp import MILP, solve

log = logging.getLogger(__name__)

__all__ = ["ModelResult", "SitePlan", "capacitated_coverage", "class_options", "lscp", "mclp", "p_median",
           "plan_sites", "read_orlib_pmed", "LEX_TOLERANCE", "CLASS_ORDER"]

#: Class types added in this order to build a site's size options (then the cycle repeats).
CLASS_ORDER = ("托大班", "托小班", "乳儿班")
#: Relative tolerance with which each earlier lexicographic optimum is held: the later stages keep
#: objective k within ``LEX_TOLERANCE × max(1, |optimum_k|)`` of the value found in stage k.
LEX_TOLERANCE = 1e-6
_COMMUNITY_KINDS_CATEGORY = "社区托育点"
_KINDERGARTEN_KIND = "幼儿园富余"


@dataclass(frozen=True, eq=False)
class SitePlan:
    """A recommended set of new 普惠 sites with its explanation and before/after scorecards.

    Attributes
    ----------
    sites : geopandas.GeoDataFrame
        One row per new site (EPSG:4326, index ``site_id``) with ``site_id, name, kind, street_id,
        street_name, places, classes, cost`` (万元), ``year, new_infants_covered, reason,
        nearest_puhui_id, nearest_puhui_m, runner_up_id, order``.
    streets_before, streets_after : pandas.DataFrame
        Per-街道 scorecards (:func:`tuoyu_geo.indicators.street_scorecard`) before and after the plan.
    objective_values : dict
        ``shortfall`` (places short of the 街道 targets + area 普惠 share), ``coverage`` (infants
        newly within reach, or children placed with ``capacity_aware``; summed over years when
        phased), ``cost`` (万元), ``infants_newly_covered``, ``places``, ``sites``.
    status : str
        ``"optimal"`` when every lexicographic stage was solved to proven optimality (within
        ``mip_gap``), else ``"time_limit"``.
    gap : float
        Largest relative gap over the stages.
    solve_seconds : float
        Total solver time of all stages.
    parameters : dict
        Every input option, the derived values (radius, demand factor, tolerance) and stage details.
    area, area_after : StudyArea
        The input area and the area with the new sites added as 普惠 institutions.
    access_after : Access or None
        Access recomputed for ``area_after``.
    """

    sites: Any
    streets_before: Any
    streets_after: Any
    objective_values: dict
    status: str
    gap: float
    solve_seconds: float
    parameters: dict = field(default_factory=dict)
    area: Any = None
    area_after: Any = None
    access_after: Any = None

    def summary(self) -> str:
        """Short Chinese/English text summary (used by the CLI)."""
        ov = self.objective_values
        return (f"{len(self.sites)} new 普惠 sites, {ov.get('places', 0):.0f} places, cost {ov.get('cost', 0):.1f} 万元, "
                f"{ov.get('infants_newly_covered', 0):.0f} infants newly within {self.parameters.get('minutes')} min; "
                f"shortfall {ov.get('shortfall', 0):.0f} places; status {self.status} (gap {self.gap:.1e}, "
                f"{self.solve_seconds:.1f} s)")


# ------------------------------------------------------------------------------------ helpers

def class_options(min_places: float, max_places: float, class_sizes: Mapping[str, int],
                  order: Sequence[str] = CLASS_ORDER) -> list[tuple[int, str]]:
    """Size options of one candidate: ``[(places, "托大班×1+托小班×1"), …]``.

    Classes are added in ``order`` (托大班 20, 托小班 15, 乳儿班 10, then again), and every cumulative
    total within ``[min_places, max_places]`` is an option (e.g. 20, 35, 45, 65).  Only when that
    gives no option at all, each single class that fits the range becomes an option (so a site
    with ``max_places=15`` can still open one 托小班 or one 乳儿班).

    >>> class_options(15, 65, {"托大班": 20, "托小班": 15, "乳儿班": 10})
    [(20, '托大班×1'), (35, '托大班×1+托小班×1'), (45, '托大班×1+托小班×1+乳儿班×1'), (65, '托大班×2+托小班×1+乳儿班×1')]
    """
    types = [t for t in order if t in class_sizes and class_sizes[t] > 0]
    if not types:
        return []
    out: list[tuple[int, str]] = []
    counts = {t: 0 for t in types}
    total, k = 0, 0
    while True:
        t = types[k % len(types)]
        if total + class_sizes[t] > max_places + 1e-9:
            break
        total += int(class_sizes[t])
        counts[t] += 1
        k += 1
        if total >= min_places - 1e-9:
            out.append((total, "+".join(f"{n}×{c}" for n, c in counts.items() if c)))
    have = {p for p, _ in out}
    for t in types if not out else ():
        s = int(class_sizes[t])
        if min_places - 1e-9 <= s <= max_places + 1e-9 and s not in have:
            out.append((s, f"{t}×1"))
            have.add(s)
    return sorted(out)


def _ids(values: Iterable[Any]) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [str(v) for v in values]


def _within_safe(mat: sp.spmatrix, d: float) -> sp.csr_matrix:
    m = sp.coo_matrix(mat)
    keep = m.data <= d + 1e-9
    return sp.csr_matrix((np.ones(int(keep.sum()), bool), (m.row[keep], m.col[keep])), shape=m.shape)


def _street_name(streets, sid: str) -> str:
    try:
        return str(streets.loc[sid, "name"])
    except KeyError:
        return str(sid)


# ------------------------------------------------------------------------------------ plan

def plan_sites(area, access, policy=None, *, budget: float | None = None, max_new_sites: int | None = None,
               minutes: float = 15, required: Iterable[str] = (), excluded: Iterable[str] = (),
               capacity_aware: bool = False, years: Sequence[int] | None = None,
               budget_per_year: float | Mapping[int, float] | Sequence[float] | None = None,
               solver: str = "highs", time_limit_s: float = 120, mip_gap: float = 1e-4,
               demand_factor: float | None = None) -> SitePlan:
    """Choose new 普惠 sites (exact MILP, lexicographic objectives) and explain each choice.

    Model (design "Site plan (MILP)"): each allowed candidate j opens with at most one size option m
    (:func:`class_options`) at cost ``fixed_cost + cost_per_place × places`` (万元).

    * **一街道一普惠** (hard, when ``policy.one_puhui_per_street``): every 街道 without an existing
      普惠 institution gets at least one new site inside it;
    * **places target**: ``existing_s + new places_s + short_s ≥ ceil(places_per_1000 × population_s
      / 1000)`` per 街道, and the area 普惠 share ``existing 普惠 + new ≥ puhui_share × (existing all +
      new)`` with a shortfall variable; both in places;
    * **coverage**: ``z_i ≤ Σ_{j within minutes of i} open_j`` for communities not already within
      ``minutes`` of an existing 普惠 institution; coverage = Σ infants_i z_i;
      with ``capacity_aware`` children are assigned: ``Σ_j x_ij ≤ f × infants_i``,
      ``Σ_i x_ij ≤ places_j``, coverage = Σ x (children who get a place), where the demand factor
      ``f`` defaults to the enrolment rate implied by the policy, ``places_per_1000 / (1000 ×
      infant_share)`` (4.5 / 27.7 ≈ 0.16 under wuxi-2025), capped at 1;
    * budget (万元), ``max_new_sites``, ``required`` (must open) and ``excluded`` (never open);
    * objectives, solved in sequence with each earlier optimum held within :data:`LEX_TOLERANCE`
      (relative): (1) least total shortfall, (2) most coverage, (3) least cost;
    * **phasing** (``years=[2026, 2027, …]``): a site opens in at most one year, not before its
      ``available_year``; places and coverage accumulate; targets apply every year; the budget
      ``budget_per_year`` (a number, a {year: 万元} mapping or a list) binds each year and ``budget``
      the total; coverage-years Σ_t Σ_i infants_i z_it are maximised.

    Parameters
    ----------
    area : StudyArea
    access : Access
        :func:`tuoyu_geo.access.compute_access` of ``area`` (its cutoff must reach ``minutes``).
    policy : Policy or str, optional
        Default ``area.policy``.
    budget : float, optional
        Total budget in 万元.
    max_new_sites : int, optional
    minutes : float
        Walking time defining coverage (``policy.threshold_m(minutes)`` metres).
    required, excluded : iterable of str
        Candidate ``site_id`` s.
    capacity_aware : bool
    years : sequence of int, optional
    budget_per_year : float, mapping or sequence, optional
    solver : {"highs", "cbc"}
    time_limit_s : float
        Wall-clock limit for all stages together.
    mip_gap : float
        Relative optimality gap of each stage.
    demand_factor : float, optional
        Share of infants needing a place (capacity-aware variant only).

    Raises
    ------
    DataError
        Unknown required/excluded ids, an access result that does not match the area, or a radius
        beyond the access cutoff.
    InfeasiblePlanError
        A rule cannot be met; lists every 街道 and rule (``"一街道一普惠"``, ``"预算"``,
        ``"最大新增点位数"``, ``"指定点位"``).
    SolverError
        No solver, or no solution within the time limit.
    """
    from .policy import load_policy

    t_start = time.perf_counter()
    pol = load_policy(policy) if policy is not None else area.policy
    radius = float(pol.threshold_m(minutes))
    if radius > float(access.max_distance_m) + 1e-6:
        raise DataError(f"coverage radius {radius:.0f} m ({minutes} min) exceeds the access cutoff "
                        f"{access.max_distance_m:.0f} m", file="access",
                        fix=f"recompute access with minutes including {minutes}")
    comms = area.communities
    cands = area.candidates
    insts = area.institutions
    streets = area.streets
    if list(map(str, access.community_ids)) != list(map(str, comms.index)) or \
            list(map(str, access.candidate_ids)) != list(map(str, cands.index)) or \
            list(map(str, access.institution_ids)) != list(map(str, insts.index)):
        raise DataError("the access result does not match the area (communities/candidates/institutions differ)",
                        file="access", fix="recompute access for this area: tuoyu_geo.access.compute_access(area)")
    req, exc = _ids(required), _ids(excluded)
    unknown = sorted(set(req + exc) - set(map(str, cands.index)))
    if unknown:
        raise DataError(f"unknown candidate site id(s): {', '.join(unknown)}", file="candidates",
                        fix="use site_id values from the candidates layer")
    both = sorted(set(req) & set(exc))
    if both:
        raise DataError(f"site(s) both required and excluded: {', '.join(both)}", file="candidates",
                        fix="remove them from one of the two lists")
    phased = years is not None
    T = sorted({int(y) for y in years}) if phased else [None]
    if phased and not T:
        raise DataError("years is empty", file="years", fix="give e.g. years=[2026, 2027]")
    nT = len(T)

    # ---------------------------------------------------------------- data
    cid = [str(c) for c in cands.index]
    nJ = len(cid)
    c_street = cands["street_id"].astype(str).to_numpy()
    avail = cands["available_year"].fillna(0).astype(int).to_numpy()
    opts = [class_options(float(r.min_places), float(r.max_places), pol.class_sizes)
            for r in cands[["min_places", "max_places"]].itertuples()]
    no_opt = [cid[j] for j in range(nJ) if not opts[j]]
    bad_req = sorted(set(req) & set(no_opt))
    if bad_req:
        raise InfeasiblePlanError([(str(cands.loc[s, "street_id"]), "指定点位",
                                    f"required site {s} has no size option between min_places and max_places "
                                    f"from class sizes {dict(pol.class_sizes)}") for s in bad_req],
                                  fix="widen the site's min_places/max_places or drop it from required")
    excl = set(exc)
    allowed = np.array([(cid[j] not in excl) and bool(opts[j]) and (not phased or avail[j] <= T[-1])
                        for j in range(nJ)])
    req_idx = [cid.index(s) for s in req]
    late_req = [cid[j] for j in req_idx if not allowed[j]]
    if late_req:
        raise InfeasiblePlanError([(str(c_street[cid.index(s)]), "指定点位",
                                    f"required site {s} is not available until {avail[cid.index(s)]}")
                                   for s in late_req], fix="add a later year or drop it from required")
    fixed = cands["fixed_cost"].astype(float).to_numpy()
    per = cands["cost_per_place"].astype(float).to_numpy()

    sid = [str(s) for s in streets.index]
    s_pos = {s: k for k, s in enumerate(sid)}
    pop = streets["population"].astype(float).to_numpy()
    places_s = insts.groupby(insts["street_id"].astype(str))["places"].sum().reindex(sid).fillna(0).to_numpy(float)
    pu = insts["puhui"].astype(bool).to_numpy()
    has_pu = insts[pu].groupby(insts[pu]["street_id"].astype(str)).size().reindex(sid).fillna(0).to_numpy() > 0
    need_s = np.ceil(pol.places_per_1000 * pop / 1000.0 - places_s - 1e-9).clip(min=0)
    P_all, P_pu = float(insts["places"].sum()), float(insts.loc[pu, "places"].sum())
    theta = float(pol.puhui_share)
    share_need = max(0.0, theta * P_all - P_pu)

    w = comms["infants"].astype(float).to_numpy()
    nI = len(w)
    Win = _within_safe(access.dist_institutions, radius)
    covered0 = np.asarray(Win[:, np.flatnonzero(pu)].sum(axis=1)).ravel() > 0 if pu.any() else np.zeros(nI, bool)
    Wc = _within_safe(access.dist_candidates, radius).tocsr()

    # ---------------------------------------------------------------- rule pre-checks
    reasons: list[tuple[str, str, str]] = []
    lacking = [k for k in range(len(sid)) if not has_pu[k]] if pol.one_puhui_per_street else []
    for k in lacking:
        inside = [j for j in range(nJ) if c_street[j] == sid[k]]
        ok = [j for j in inside if allowed[j]]
        if not ok:
            why = (f"no existing 普惠 institution and no allowed candidate site in the 街道 "
                   f"({len(inside)} candidate(s)" + (f", {sum(cid[j] in excl for j in inside)} excluded" if inside else "")
                   + (f", none available by {T[-1]}" if phased and inside else "") + ")")
            reasons.append((f"{_street_name(streets, sid[k])} ({sid[k]})", "一街道一普惠", why))
    if reasons:
        raise InfeasiblePlanError(reasons, fix="add a candidate site (or a 普惠 institution) in each listed 街道, "
                                               "or un-exclude one")
    min_cost = np.array([min(fixed[j] + per[j] * p for p, _ in opts[j]) if opts[j] else np.inf for j in range(nJ)])
    forced_streets = [k for k in lacking if not any(c_street[j] == sid[k] for j in req_idx)]
    n_forced = len(req_idx) + len(forced_streets)
    if max_new_sites is not None and n_forced > max_new_sites:
        raise InfeasiblePlanError([("全区", "最大新增点位数",
                                    f"{len(req_idx)} required site(s) + {len(forced_streets)} 街道 needing a 普惠 "
                                    f"site (一街道一普惠) = {n_forced} > max_new_sites={max_new_sites}")],
                                  fix=f"allow at least {n_forced} new sites")
    if budget is not None:
        parts = [(cid[j], min_cost[j]) for j in req_idx]
        for k in forced_streets:
            js = [j for j in range(nJ) if c_street[j] == sid[k] and allowed[j]]
            jb = min(js, key=lambda j: min_cost[j])
            parts.append((f"{_street_name(streets, sid[k])}:{cid[jb]}", min_cost[jb]))
        forced = float(sum(c for _, c in parts))
        if forced > budget + 1e-9:
            detail = ", ".join(f"{n} {c:.1f}" for n, c in parts)
            raise InfeasiblePlanError([("全区", "预算",
                                        f"budget {budget:.1f} 万元 is below the cheapest forced sites ({forced:.1f} 万元: "
                                        f"{detail})")], fix=f"raise the budget to at least {forced:.1f} 万元")

    # ---------------------------------------------------------------- variables
    oj, om, ot, osize, ocost = [], [], [], [], []
    for j in range(nJ):
        if not allowed[j]:
            continue
        for m, (p, _) in enumerate(opts[j]):
            for t in range(nT):
                if phased and avail[j] > T[t]:
                    continue
                oj.append(j)
                om.append(m)
                ot.append(t)
                osize.append(p)
                ocost.append(fixed[j] + per[j] * p)
    oj, om, ot = np.array(oj, np.int64), np.array(om, np.int64), np.array(ot, np.int64)
    osize, ocost = np.array(osize, float), np.array(ocost, float)
    nO = len(oj)
    mdl = MILP()
    y = mdl.add_vars(nO, lb=0, ub=1, integer=True)
    # one option per site (== 1 when required)
    lo_site = np.zeros(nJ)
    lo_site[req_idx] = 1
    mdl.add_rows(oj, y, 1.0, nJ, lo=lo_site, hi=1.0)
    for k in lacking:  # 一街道一普惠
        sel = np.flatnonzero(c_street[oj] == sid[k])
        mdl.add_row(y[sel], 1.0, lo=1.0)
    if budget is not None:
        mdl.add_row(y, ocost, hi=float(budget))
    if max_new_sites is not None:
        mdl.add_row(y, 1.0, hi=float(max_new_sites))
    if phased and budget_per_year is not None:
        for t, yr in enumerate(T):
            if isinstance(budget_per_year, Mapping):
                b = budget_per_year.get(yr)
            elif isinstance(budget_per_year, (list, tuple, np.ndarray)):
                b = budget_per_year[t] if t < len(budget_per_year) else None
            else:
                b = budget_per_year
            if b is not None:
                mdl.add_row(y[ot == t], ocost[ot == t], hi=float(b))
    # shortfall: per 街道 places target and area 普惠 share, each year
    o_s = np.array([s_pos.get(c_street[j], -1) for j in oj], np.int64)
    short_cols = []
    for t in range(nT):
        upto = ot <= t
        for k in np.flatnonzero(need_s > 0):
            sv = mdl.add_vars(1, lb=0)
            short_cols.append(sv)
            sel = np.flatnonzero(upto & (o_s == k))
            mdl.add_row(np.r_[y[sel], sv], np.r_[osize[sel], 1.0], lo=float(need_s[k]))
        if share_need > 0:
            sv = mdl.add_vars(1, lb=0)
            short_cols.append(sv)
            sel = np.flatnonzero(upto)
            mdl.add_row(np.r_[y[sel], sv], np.r_[(1 - theta) * osize[sel], 1.0], lo=share_need)
    short_idx = np.concatenate(short_cols) if short_cols else np.zeros(0, np.int64)
    # coverage
    if capacity_aware:
        f = demand_factor if demand_factor is not None else min(
            1.0, pol.places_per_1000 / (1000.0 * float(pol.infant_share)))
    else:
        f = 1.0
    coo = Wc.tocoo()
    pi, pj = coo.row.astype(np.int64), coo.col.astype(np.int64)
    keep = (~covered0[pi]) & (w[pi] > 0) & allowed[pj]
    pi, pj = pi[keep], pj[keep]
    # option -> (site, year) lookup for linking rows
    cov_cost = []
    cov_idx = []
    for t in range(nT):
        upto_opts = np.flatnonzero(ot <= t)
        by_site: dict[int, np.ndarray] = {}
        oj_u = oj[upto_opts]
        order = np.argsort(oj_u, kind="stable")
        uj, starts = np.unique(oj_u[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        for j, s0, e0 in zip(uj, starts, ends, strict=True):
            by_site[int(j)] = upto_opts[order[s0:e0]]
        if not capacity_aware:
            ui = np.unique(pi)
            z = mdl.add_vars(len(ui), lb=0, ub=1)
            cov_idx.append(z)
            cov_cost.append(w[ui])
            zpos = np.full(nI, -1, np.int64)
            zpos[ui] = np.arange(len(ui))
            rr, cc, vv = [np.arange(len(ui))], [z], [np.ones(len(ui))]
            for i, j in zip(pi, pj, strict=True):
                o = by_site.get(int(j))
                if o is None:
                    continue
                rr.append(np.full(len(o), zpos[i]))
                cc.append(y[o])
                vv.append(-np.ones(len(o)))
            mdl.add_rows(np.concatenate(rr), np.concatenate(cc), np.concatenate(vv), len(ui), hi=0.0)
        else:
            x = mdl.add_vars(len(pi), lb=0, ub=f * w[pi])
            cov_idx.append(x)
            cov_cost.append(np.ones(len(pi)))
            ui, inv = np.unique(pi, return_inverse=True)
            mdl.add_rows(inv, x, 1.0, len(ui), hi=f * w[ui])
            js = np.unique(pj)
            jpos = np.full(nJ, -1, np.int64)
            jpos[js] = np.arange(len(js))
            rr, cc, vv = [jpos[pj]], [x], [np.ones(len(pj))]
            for j in js:
                o = by_site.get(int(j), np.zeros(0, np.int64))
                rr.append(np.full(len(o), jpos[j]))
                cc.append(y[o])
                vv.append(-osize[o])
            mdl.add_rows(np.concatenate(rr), np.concatenate(cc), np.concatenate(vv), len(js), hi=0.0)
    cov_idx_a = np.concatenate(cov_idx) if cov_idx else np.zeros(0, np.int64)
    cov_w = np.concatenate(cov_cost) if cov_cost else np.zeros(0)
    build_s = time.perf_counter() - t_start

    # ---------------------------------------------------------------- lexicographic solve
    n = mdl.n_cols
    stages = [("shortfall", 1, short_idx, np.ones(len(short_idx))),
              ("coverage", -1, cov_idx_a, cov_w),
              ("cost", 1, y, ocost)]
    values: dict[str, float] = {}
    details = []
    status, gap, solve_s, x_sol = "optimal", 0.0, 0.0, None
    for name, sense, cols, coef in stages:
        c = np.zeros(n)
        c[cols] = coef
        mdl.set_objective(c, sense)
        remaining = max(1.0, time_limit_s - (time.perf_counter() - t_start)) if time_limit_s else None
        sol = solve(mdl, solver=solver, time_limit_s=remaining, mip_gap=mip_gap, start=x_sol)
        solve_s += sol.seconds
        details.append({"stage": name, "status": sol.status, "objective": sol.objective, "bound": sol.bound,
                        "gap": sol.gap, "seconds": round(sol.seconds, 3)})
        if sol.x is None and x_sol is not None and sol.status != "infeasible":
            # no incumbent in this stage within the time left: keep the previous stage's plan (it
            # satisfies every constraint of this stage, including the held optima)
            log.warning("stage %s found no solution within the time limit; keeping the stage-%d plan",
                        name, len(details) - 1)
            status, gap = "time_limit", math.inf
            details[-1]["kept_previous"] = True
            v = float(c @ x_sol)
            values[name] = v
            if len(cols):
                mdl.add_row(cols, coef, **({"hi": v + LEX_TOLERANCE * max(1.0, abs(v))} if sense == 1
                                          else {"lo": v - LEX_TOLERANCE * max(1.0, abs(v))}))
            continue
        if sol.x is None:
            if sol.status == "infeasible":
                raise InfeasiblePlanError([("全区", "模型", "the rules together (一街道一普惠, required sites, budget, "
                                            "budget per year, max_new_sites) admit no plan")],
                                          fix="raise the budget / max_new_sites or drop required sites")
            raise SolverError(f"no feasible plan found in stage '{name}' (solver status {sol.status}) "
                              f"within {time_limit_s} s\n  fix: raise time_limit_s or try solver='cbc'/'highs'")
        x_sol = sol.x
        v = float(c @ sol.x)
        values[name] = v
        if sol.status != "optimal":
            status = sol.status
        gap = max(gap, sol.gap if math.isfinite(sol.gap) else math.inf)
        tol = LEX_TOLERANCE * max(1.0, abs(v))
        if len(cols):
            if sense == 1:
                mdl.add_row(cols, coef, hi=v + tol)
            else:
                mdl.add_row(cols, coef, lo=v - tol)
    chosen_o = np.flatnonzero(x_sol[y] > 0.5)

    # ---------------------------------------------------------------- explanation
    sites, infants_new = _explain(area, pol, access, Wc, covered0, w, chosen_o, oj, om, ot, osize, ocost, opts,
                                  T, phased, cid, c_street, allowed, min_cost, lacking, sid, need_s, req_idx,
                                  minutes, streets, radius)
    area_after, access_after, before, after, sc_note = _after(area, access, pol, sites)
    values["infants_newly_covered"] = infants_new
    values["places"] = float(osize[chosen_o].sum())
    values["sites"] = float(len(chosen_o))
    params = dict(budget=budget, max_new_sites=max_new_sites, minutes=minutes, radius_m=radius,
                  required=req, excluded=exc, capacity_aware=capacity_aware, years=None if not phased else T,
                  budget_per_year=budget_per_year, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap,
                  demand_factor=f if capacity_aware else None, lex_tolerance=LEX_TOLERANCE, policy=pol.name,
                  stages=details, build_seconds=round(build_s, 3), n_vars=mdl.n_cols, n_rows=mdl.n_rows,
                  nearest_puhui_distance=sites.attrs.get("nearest_puhui_distance", ""), scorecard=sc_note,
                  infants_covered_before=float(w[covered0].sum()))
    log.info("plan: %d sites, %s", len(chosen_o), values)
    return SitePlan(sites=sites, streets_before=before, streets_after=after, objective_values=values,
                    status=status, gap=gap, solve_seconds=solve_s, parameters=params, area=area,
                    area_after=area_after, access_after=access_after)


def _explain(area, pol, access, Wc, covered0, w, chosen_o, oj, om, ot, osize, ocost, opts, T, phased, cid,
             c_street, allowed, min_cost, lacking, sid, need_s, req_idx, minutes, streets, radius):
    import geopandas as gpd

    cands = area.candidates
    WcT = Wc.T.tocsr()  # candidates × communities
    reach = [WcT.indices[WcT.indptr[j]:WcT.indptr[j + 1]] for j in range(len(cid))]
    ch_j = oj[chosen_o]
    cov = covered0.copy()
    order_list: list[int] = []
    marg: dict[int, float] = {}
    groups = sorted(set(ot[chosen_o].tolist()))
    for t in groups:  # greedy within each year, years in order
        pool = [k for k in chosen_o if ot[k] == t]
        while pool:
            gains = {k: float(w[reach[oj[k]]][~cov[reach[oj[k]]]].sum()) for k in pool}
            top = max(gains.values())
            cands_top = [k for k in pool if gains[k] == top]
            best = sorted(cands_top, key=lambda k: (-osize[k], cid[oj[k]]))[0]
            marg[best] = gains[best]
            cov[reach[oj[best]]] = True
            order_list.append(best)
            pool.remove(best)
    infants_new = float(w[cov & ~covered0].sum())
    cnt = np.zeros(len(w), np.int64)
    for k in chosen_o:
        cnt[reach[oj[k]]] += 1
    chosen_set = set(int(j) for j in ch_j)
    s_pos = {s: k for k, s in enumerate(sid)}
    lacking_set = {sid[k] for k in lacking}
    rule_done: set[str] = set()
    # nearest existing 普惠
    near_id, near_m, how = _nearest_puhui(area, [cid[j] for j in ch_j])
    rows = []
    for rank, k in enumerate(order_list, start=1):
        j = int(oj[k])
        st = c_street[j]
        sname = _street_name(streets, st)
        parts = []
        if st in lacking_set and st not in rule_done:
            parts.append(f"满足{sname}一街道一普惠")
            rule_done.add(st)
        if j in req_idx:
            parts.append("指定必选点位")
        gap_s = need_s[s_pos[st]] if st in s_pos else 0
        if gap_s > 0:
            parts.append(f"补充{sname}托位{int(osize[k])}个（规划前缺口{int(gap_s)}个）")
        if marg[k] > 0:
            parts.append(f"新增{minutes:g}分钟步行圈内婴幼儿{marg[k]:.0f}人")
        if not parts:
            parts.append("提高全区普惠托位占比")
        # runner-up: best unchosen allowed candidate in the same 街道 if it replaced this site
        base = (covered0 | (cnt - np.isin(np.arange(len(w)), reach[j]).astype(int) > 0))
        best_alt, best_score = None, None
        for a in range(len(cid)):
            if a in chosen_set or not allowed[a] or c_street[a] != st:
                continue
            r = reach[a]
            score = (float(w[r][~base[r]].sum()), -min_cost[a])
            if best_score is None or score > best_score or (score == best_score and cid[a] < cid[best_alt]):
                best_alt, best_score = a, score
        p, classes = opts[j][om[k]]
        rows.append({"site_id": cid[j], "name": str(cands.iloc[j]["name"]), "kind": str(cands.iloc[j]["kind"]),
                     "street_id": st, "street_name": sname, "places": int(p), "classes": classes,
                     "cost": round(float(ocost[k]), 4),
                     "year": int(T[ot[k]]) if phased else int(cands.iloc[j]["available_year"]),
                     "new_infants_covered": round(float(marg[k]), 2), "reason": "；".join(parts),
                     "nearest_puhui_id": near_id.get(cid[j], ""), "nearest_puhui_m": near_m.get(cid[j], np.nan),
                     "runner_up_id": cid[best_alt] if best_alt is not None else "", "order": rank,
                     "geometry": cands.geometry.iloc[j]})
    cols = ["site_id", "name", "kind", "street_id", "street_name", "places", "classes", "cost", "year",
            "new_infants_covered", "reason", "nearest_puhui_id", "nearest_puhui_m", "runner_up_id", "order",
            "geometry"]
    df = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs="EPSG:4326")
    df.index = pd.Index(df["site_id"].astype(str), name=None)
    df.attrs["nearest_puhui_distance"] = how
    return df, infants_new


def _nearest_puhui(area, site_ids: list[str], *, cutoff_m: float = 5000.0):
    """Nearest existing 普惠 institution of each site: network metres (tuoyu_geo.network.distance_matrix,
    cutoff ``cutoff_m``) when the area has a graph, else straight-line metres in the metric CRS."""
    insts = area.institutions
    pu = insts[insts["puhui"].astype(bool)]
    if not site_ids or pu.empty:
        return {}, {}, "none"
    sp_pts = area.points("candidates").loc[site_ids]
    ip = area.points("institutions").loc[pu.index]
    near_id: dict[str, str] = {}
    near_m: dict[str, float] = {}
    how = "euclidean"
    if area.graph is not None:
        try:
            from . import network

            D = network.distance_matrix(area.graph, sp_pts, ip, max_distance_m=cutoff_m).tocsr()
            for r, s in enumerate(site_ids):
                a, b = D.indptr[r], D.indptr[r + 1]
                if b > a:
                    k = a + int(np.argmin(D.data[a:b]))
                    near_id[s], near_m[s] = str(pu.index[D.indices[k]]), float(D.data[k])
            how = f"network (cutoff {cutoff_m:.0f} m; euclidean beyond)"
        except Exception as e:  # noqa: BLE001 - network module optional here; fall back, say so
            log.warning("network distances unavailable (%s); nearest 普惠 uses straight-line distance", e)
            how = "euclidean"
    xy_s = np.c_[sp_pts.x.to_numpy(), sp_pts.y.to_numpy()]
    xy_i = np.c_[ip.x.to_numpy(), ip.y.to_numpy()]
    for r, s in enumerate(site_ids):
        if s in near_id:
            continue
        d = np.hypot(*(xy_i - xy_s[r]).T)
        k = int(np.argmin(d))
        near_id[s], near_m[s] = str(pu.index[k]), float(d[k])
    return near_id, near_m, how


def _after(area, access, pol, sites):
    """area_after (sites appended as 普惠 institutions), recomputed access and before/after scorecards."""
    import geopandas as gpd

    insts = area.institutions
    new = pd.DataFrame({
        "institution_id": [s if s not in insts.index else f"new_{s}" for s in sites["site_id"]],
        "name": sites["name"].to_numpy(),
        "category": np.where(sites["kind"].to_numpy() == _KINDERGARTEN_KIND, "幼儿园托班",
                             _COMMUNITY_KINDS_CATEGORY),
        "places": sites["places"].astype(int).to_numpy(),
        "puhui": True, "is_demonstration": False, "status": "规划",
        "street_id": sites["street_id"].to_numpy()})
    new_g = gpd.GeoDataFrame(new, geometry=list(sites.geometry), crs="EPSG:4326")
    base = insts.copy()
    cols = [c for c in base.columns if c in new_g.columns or c == base.geometry.name]
    merged = pd.concat([base.reset_index(drop=True), new_g.reindex(columns=[c for c in base.columns])],
                       ignore_index=True)
    merged = gpd.GeoDataFrame(merged, geometry=base.geometry.name, crs=base.crs)
    del cols
    area_after = area.replace(institutions=merged)
    note = "indicators.street_scorecard"
    access_after = None
    try:
        from . import access as _acc

        access_after = _acc.compute_access(area_after, pol, minutes=tuple(access.minutes))
    except Exception as e:  # noqa: BLE001
        log.warning("compute_access unavailable for the plan (%s); access_after built from the input matrices", e)
        access_after = _access_appended(access, area_after, sites)
        note = "access_after from input matrices (compute_access unavailable)"
    try:
        from . import indicators

        before = indicators.street_scorecard(area, access, pol)
        after = indicators.street_scorecard(area_after, access_after, pol)
    except Exception as e:  # noqa: BLE001
        log.warning("street_scorecard unavailable (%s); using the optimizer's minimal street table", e)
        before = _street_table(area, access, pol)
        after = _street_table(area_after, access_after, pol)
        note = f"minimal street table (indicators.street_scorecard unavailable: {type(e).__name__})"
    return area_after, access_after, before, after, note


def _access_appended(access, area_after, sites):
    """Access for area_after built by appending the chosen candidates' columns as institutions."""
    idx = [list(map(str, access.candidate_ids)).index(s) for s in sites["site_id"]]
    dist_inst = sp.hstack([sp.csr_matrix(access.dist_institutions),
                           sp.csr_matrix(access.dist_candidates)[:, idx]]).tocsr()
    comm = access.communities.copy() if isinstance(getattr(access, "communities", None), pd.DataFrame) else None
    pu = area_after.institutions["puhui"].astype(bool).to_numpy()
    if comm is not None:
        for m, d in dict(access.thresholds_m).items():
            W = _within_safe(dist_inst, float(d))
            key = int(m) if float(m).is_integer() else m
            comm[f"within{key}_any"] = np.asarray(W.sum(axis=1)).ravel() > 0
            comm[f"within{key}_puhui"] = np.asarray(W[:, np.flatnonzero(pu)].sum(axis=1)).ravel() > 0
    kw = dict(institution_ids=pd.Index(area_after.institutions.index), dist_institutions=dist_inst,
              communities=comm)
    if dataclasses.is_dataclass(access):
        return dataclasses.replace(access, **kw)
    import types

    d = dict(vars(access))
    d.update(kw)
    return types.SimpleNamespace(**d)


def _street_table(area, access, pol) -> pd.DataFrame:
    """Minimal per-街道 table (fallback when indicators.street_scorecard is not available)."""
    s = area.summary()
    out = s[["street_id", "name", "population", "infants", "institutions", "places", "puhui_institutions",
             "puhui_places"]].copy()
    out["places_per_1000"] = out["places"] / out["population"].where(out["population"] > 0) * 1000
    out["target_per_1000"] = pol.places_per_1000
    out["place_gap"] = np.ceil(pol.places_per_1000 * out["population"] / 1000 - out["places"] - 1e-9).clip(lower=0)
    out["puhui_share"] = out["puhui_places"] / out["places"].where(out["places"] > 0)
    out["has_puhui"] = out["puhui_institutions"] > 0
    r = float(dict(access.thresholds_m).get(15, max(dict(access.thresholds_m).values())))
    W = _within_safe(access.dist_institutions, r)
    pu = area.institutions["puhui"].astype(bool).to_numpy()
    cov = np.asarray(W[:, np.flatnonzero(pu)].sum(axis=1)).ravel() > 0
    c = area.communities
    inf = c["infants"].astype(float)
    num = inf[cov].groupby(c.loc[cov, "street_id"].astype(str)).sum().reindex(out.index).fillna(0)
    out["cover15_puhui"] = num / out["infants"].where(out["infants"] > 0)
    return out
