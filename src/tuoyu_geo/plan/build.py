"""Build the plan's MILP from an area, its access and the rules; check the rules can be met."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import settings
from .._errors import DataError, InfeasiblePlanError
from ..access import within
from ..demand import demand_rate
from ..rules import RULES, Unmet
from ..solvers import MILP
from .model import PlanModel, feasible_places
from .options import PlanOptions

__all__ = ["build_model", "check_inputs"]


def check_inputs(area, access, options: PlanOptions, radius_m: float) -> None:
    """Raise DataError when ``access`` does not belong to ``area`` or ids are unknown."""
    if radius_m > float(access.max_distance_m) + 1e-6:
        raise DataError(f"coverage radius {radius_m:.0f} m ({options.minutes:g} min) exceeds the access cutoff "
                        f"{access.max_distance_m:.0f} m", file="access",
                        fix=f"recompute access with minutes including {options.minutes:g}")
    pairs = ((access.community_ids, area.communities), (access.candidate_ids, area.candidates),
             (access.institution_ids, area.institutions))
    if any(list(map(str, ids)) != list(map(str, layer.index)) for ids, layer in pairs):
        raise DataError("the access result does not match the area (communities/candidates/institutions differ)",
                        file="access", fix="recompute access for this area: tuoyu_geo.access.compute_access(area)")
    if hasattr(access, "check_area"):
        access.check_area(area)
    unknown = sorted(set(options.required + options.excluded) - set(map(str, area.candidates.index)))
    if unknown:
        raise DataError(f"unknown candidate site id(s): {', '.join(unknown)}", file="candidates",
                        fix="use site_id values from the candidates layer")


def check_scorecard(scorecard: pd.DataFrame, area, policy) -> None:
    """Raise DataError unless ``scorecard`` is the street scorecard of ``area`` under ``policy``:
    the same 街道 ids and, when it carries them (every :func:`street_scorecard` does), the same
    area and policy fingerprints."""
    if list(map(str, scorecard.index)) != list(map(str, area.streets.index)):
        raise DataError("the scorecard does not match the area (its 街道 ids differ)", file="scorecard",
                        fix="pass the street scorecard of this area, or leave scorecard= out")
    fa, fp = scorecard.attrs.get("area_fingerprint"), scorecard.attrs.get("policy_fingerprint")
    if fa is not None and fa != area.fingerprint():
        raise DataError("the scorecard was computed for other inputs (same 街道 ids, but points moved or "
                        "institutions changed)", file="scorecard",
                        fix="recompute it: tuoyu_geo.indicators.street_scorecard(area, access, policy)")
    if fp is not None and fp != policy.fingerprint():
        raise DataError("the scorecard was computed under another policy than the plan's", file="scorecard",
                        fix="recompute it under this policy, or leave scorecard= out")


def _demand_factor(policy, options: PlanOptions) -> float:
    """Share of infants needing a place in the capacity-aware plan: the option, else the profile's
    入托率 (``enrolment_rate``), else the rate the places target implies (:func:`demand_rate`)."""
    if not options.capacity_aware:
        return 1.0
    return demand_rate(policy, enrolment_rate=options.demand_factor)


def build_model(area, access, policy, options: PlanOptions, streets: pd.DataFrame, radius_m: float, *,
                communities: pd.DataFrame | None = None) -> PlanModel:
    """The plan's :class:`PlanModel` with every rule's block added.

    Raises
    ------
    InfeasiblePlanError
        Listing every rule that no plan can meet (each 街道, rule and reason), before solving.
    """
    cands, insts = area.candidates, area.institutions
    years = options.years if options.years is not None else (None,)
    kinds = tuple(getattr(policy, "class_types", None) or policy.class_sizes)
    sizes = {k: int(policy.class_sizes[k]) for k in kinds}
    lo = np.maximum(cands["min_places"].astype(float).to_numpy(), min(sizes.values()))
    hi = cands["max_places"].astype(float).to_numpy()
    feasible = [feasible_places(a, b, list(sizes.values())) for a, b in zip(lo, hi, strict=True)]
    site_ids = np.array([str(c) for c in cands.index], dtype=object)
    avail = cands["available_year"].astype(int).to_numpy()
    allowed = np.array([bool(f) and s not in options.excluded for s, f in zip(site_ids, feasible, strict=True)])
    if options.years is not None:
        allowed &= avail <= years[-1]
    puhui = insts["puhui"].astype(bool).to_numpy()
    reach_inst = within(access.dist_institutions, radius_m)
    covered0 = np.asarray(reach_inst[:, np.flatnonzero(puhui)].sum(axis=1)).ravel() > 0
    model = PlanModel(
        milp=MILP(), policy=policy, options=options, rules=RULES, streets=streets, site_ids=site_ids,
        site_street=cands["street_id"].astype(str).to_numpy(dtype=object), class_sizes=sizes, min_places=lo,
        max_places=hi, feasible=feasible, available_year=avail, fixed_cost=cands["fixed_cost"].astype(float).to_numpy(),
        cost_per_place=cands["cost_per_place"].astype(float).to_numpy(), allowed=allowed, years=tuple(years),
        infants=area.communities["infants"].astype(float).to_numpy(), covered0=covered0,
        reach=within(access.dist_candidates, radius_m).tocsr(), radius_m=radius_m,
        demand_factor=_demand_factor(policy, options), institutions=insts,
        community_street=area.communities["street_id"].astype(str).to_numpy(dtype=object),
        residential_missing=(communities["missing_places"].astype(float).to_numpy() if communities is not None
                             else np.zeros(len(area.communities))),
        residential_reach=within(access.dist_candidates, access.max_distance_m).tocsr())
    for rule in RULES:
        rule.prepare(model)
    unmet: list[Unmet] = [u for rule in RULES for u in rule.precheck(model)]
    if unmet:
        fixes = "; ".join(dict.fromkeys(u.fix for u in unmet if u.fix))
        raise InfeasiblePlanError([u.as_tuple() for u in unmet], fix=fixes)
    for rule in RULES:
        rule.build(model)
    below = int(model.allowed.sum()) < settings.SITE_COUNTS_MAX_CANDIDATES
    for switch, by_street in (("site_counts", False), ("street_counts", True)):
        flag = settings.PLAN_MILP.get(switch, "auto")
        if flag is True or (flag == "auto" and below):
            model.add_site_counts(by_street=by_street)
    if settings.PLAN_MILP.get("value_cuts", False) and (options.budget_wan is not None
                                                        or options.budget_per_year_wan is not None):
        model.add_value_cuts()  # only money makes the places-for-cost trade-off matter
    return model
