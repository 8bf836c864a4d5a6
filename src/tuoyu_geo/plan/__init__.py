"""Site plans: new 普惠 sites by an exact, explained MILP over the policy rules.

:func:`plan_sites` builds the model from the rule objects (:mod:`tuoyu_geo.rules`), solves the
lexicographic objectives (least shortfall, most coverage, least cost) and explains each site.
Classic location models (:func:`lscp`, :func:`mclp`, :func:`p_median`, :func:`capacitated_coverage`)
live in :mod:`tuoyu_geo.plan.classic`.

>>> import numpy as np
>>> from tuoyu_geo.plan import mclp
>>> r = mclp(np.array([[0., 9.], [9., 0.], [9., 1.]]), [1, 2, 3], p=1, radius=2)
>>> r.selected.tolist(), r.covered_weight
([1], 5.0)
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields, replace
from typing import Any

import pandas as pd

from ..indicators import community_scorecard, street_scorecard
from ..network import StraightLineNet, WalkNet
from ..policy import Policy, load_policy
from ..solvers import Status
from .build import build_model, check_inputs, check_scorecard
from .classic import ModelResult, capacitated_coverage, lscp, mclp, p_median, read_orlib_pmed
from .explain import explain_sites
from .gaps import GapContext, explain_gaps, residential_fixers, rule_status
from .model import PlanModel, class_mix, feasible_places
from .options import PlanOptions
from .result import SitePlan, area_with_sites
from .solve import solve_lexicographic
from .store import load_plan, save_plan

log = logging.getLogger(__name__)

__all__ = ["GapContext", "ModelResult", "PlanModel", "PlanOptions", "SitePlan", "Status", "area_with_sites",
           "capacitated_coverage", "class_mix", "explain_gaps", "feasible_places", "load_plan", "lscp", "mclp",
           "p_median", "plan_sites", "read_orlib_pmed", "residential_fixers", "rule_status", "save_plan"]

_OPTION_NAMES = {f.name for f in fields(PlanOptions)}


def _options(options: PlanOptions | None, kw: dict[str, Any]) -> PlanOptions:
    unknown = sorted(set(kw) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"plan_sites() got unknown option(s) {unknown}; options are {sorted(_OPTION_NAMES)}")
    return replace(options, **kw) if options is not None else PlanOptions(**kw)


def plan_sites(area, access, policy: Policy | str | None = None, *, options: PlanOptions | None = None,
               network: WalkNet | StraightLineNet | None = None, scorecard=None,
               **option_values: Any) -> SitePlan:
    """Choose new 普惠 sites (exact MILP, lexicographic objectives) and explain each choice.

    Parameters
    ----------
    area : StudyArea
    access : Access
        :func:`tuoyu_geo.access.compute_access` of ``area`` (its cutoff must reach ``options.minutes``).
    policy : Policy or str, optional
        Default ``area.policy``; applied to the area (:meth:`StudyArea.with_policy`).
    options : PlanOptions, optional
        Plan options; keyword arguments (``budget_wan=3000``, ``max_new_sites=…``) override fields.
    network : WalkNet or StraightLineNet, optional
        Distance engine for the nearest-普惠 distances (plain straight line without one).
    scorecard : DataFrame, optional
        The status-quo street scorecard, if already computed for this area, access and policy.

    Returns
    -------
    SitePlan

    Raises
    ------
    DataError
        Unknown required/excluded ids, an access result of another area, a radius beyond the
        access cutoff, or an invalid option.
    InfeasiblePlanError
        Some rule cannot be met; lists every 街道 and rule by its name.
    SolverError
        No solver, or no solution within the time limit.
    """
    t0 = time.perf_counter()
    opts = _options(options, option_values)
    pol = load_policy(policy) if policy is not None else area.policy
    area = area.with_policy(pol)
    radius = float(pol.threshold_m(opts.minutes))
    check_inputs(area, access, opts, radius)
    cs = community_scorecard(area, access, pol)
    if scorecard is not None:
        check_scorecard(scorecard, area, pol)
    streets = scorecard if scorecard is not None else street_scorecard(area, access, pol, communities=cs)
    model = build_model(area, access, pol, opts, streets, radius, communities=cs)
    build_s = time.perf_counter() - t0
    lex = solve_lexicographic(model, solver=opts.solver, time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                              t_start=t0)
    model.solution = lex.x
    sites, infants_new = explain_sites(area, model, network=network,
                                       detour_factor=getattr(access, "detour_factor", None))
    chosen = model.chosen_sites()
    values = {**lex.values, "infants_newly_covered": infants_new,
              "infants_covered_before": float(model.infants[model.covered0].sum()),
              "places": float(sum(p for _, _, p in chosen)), "sites": float(len(chosen)),
              **{f"penalty_{k}": v for k, v in model.penalty_values().items()}}
    size = {"n_vars": model.milp.n_cols, "n_rows": model.milp.n_rows, "blocks": model.block_sizes()}
    designated = _designated(model, sites)
    log.info("plan: %d sites, %s", len(chosen), values)
    return SitePlan(sites=sites, objective_values=values, status=lex.status, gap=lex.gap,
                    solve_seconds=lex.seconds, build_seconds=build_s, options=opts, radius_m=radius,
                    stages=lex.stages, model_size=size, nearest_puhui_distance=sites.attrs["nearest_puhui_distance"],
                    area_after=area_with_sites(area, sites, designated), street_capacity=model.capacity_table(),
                    designated=designated, area_fingerprint=area.fingerprint(), policy_name=pol.name,
                    policy_fingerprint=pol.fingerprint())


def _designated(model: PlanModel, sites) -> pd.DataFrame:
    """Designated demonstration institutions: existing ones, then the new sites the MILP chose."""
    inst = model.institutions
    rows = [{"district": d, "id": i, "kind": "existing", "places": int(inst.loc[i, "places"])}
            for d, ids in model.designated.items() for i in ids]
    rows += [{"district": d, "id": str(model.site_ids[j]), "kind": "new",
              "places": int(sites.loc[str(model.site_ids[j]), "places"])} for j, d in model.designated_new().items()]
    return pd.DataFrame(rows, columns=["district", "id", "kind", "places"])

