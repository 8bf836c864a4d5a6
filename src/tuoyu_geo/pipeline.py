"""The one place the stages are chained: area → network → access → scorecards → plan → after.

:func:`assess` runs every stage as a pure function and returns a frozen :class:`Assessment`, which
maps, exports, reports and the CLI consume (they never recompute a stage).

>>> import tuoyu_geo as tg
>>> a = tg.assess(tg.datasets.shanghai_xuhui(), "wuxi-2025", plan=tg.PlanOptions(budget_wan=3000))  # doctest: +SKIP
>>> a.plan.summary(), a.gaps.head()                                                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import geopandas as gpd
import pandas as pd

from . import _display as _d
from . import settings
from .access import Access, compute_access, isochrones
from .area import StudyArea
from .equity import equity_before_after, equity_table
from .indicators import (
    MET,
    community_scorecard,
    district_scorecard,
    minute_key,
    street_scorecard,
    street_total,
)
from .network import StraightLineNet, WalkNet, area_engine
from .plan import PlanOptions, SitePlan, explain_gaps, plan_sites, residential_fixers, rule_status
from .policy import Policy, load_policy

log = logging.getLogger(__name__)

__all__ = ["Assessment", "assess"]


@dataclass(frozen=True, eq=False)
class Assessment:
    """Everything known about a study area under a policy, before and (with a plan) after.

    Attributes
    ----------
    area : StudyArea
        The area with the policy applied (:meth:`StudyArea.with_policy`).
    policy : Policy
    access : Access
        Walking access now.
    streets, communities : GeoDataFrame
        Street and community scorecards now; ``total`` their area total row, ``districts`` the
        per-district table (一县区一示范).
    plan : SitePlan or None
    access_after, streets_after, communities_after, total_after, districts_after
        The same after the plan (None without a plan).
    gaps : DataFrame
        Per 街道 and rule still unmet (after the plan, or now without one): ``street_id, name,
        rule, why``; districts missing 一县区一示范 too.
    equity : DataFrame
        Equity of access (:mod:`tuoyu_geo.equity`): Gini of per-infant 2SFCA access, the share of
        infants in the lowest-access decile, the lowest 街道 15-minute 普惠 coverage — columns
        ``before`` (and ``after``, ``change`` with a plan).
    rule_table : DataFrame
        Per 街道 and scored rule, pass or fail: ``street_id, name, rule, status, figure, target,
        why`` (after the plan, or now).
    isochrones : GeoDataFrame or None
        Walking service areas at ``minutes`` of the existing 普惠 institutions (``kind`` =
        ``existing_puhui``) and the recommended sites (``recommended``); columns ``id, kind, name,
        minutes, distance_m, area_m2, geometry`` (EPSG:4326).  A kind with more than
        ``settings.ISO_MERGE_ABOVE`` facilities (a city) has one area per 街道 instead (the union of
        its facilities' areas; ``id`` = street_id, ``name`` = the 街道): then the columns
        ``street_id, facilities, merged`` (how many facilities an area holds; True for merged rows)
        come before ``geometry``.
    minutes : float
        The coverage time shown on maps and exports (the plan's, else 15).
    timings : mapping
        Seconds per stage.
    """

    area: StudyArea
    policy: Policy
    access: Access
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    total: pd.Series
    districts: pd.DataFrame
    plan: SitePlan | None
    access_after: Access | None
    streets_after: gpd.GeoDataFrame | None
    communities_after: gpd.GeoDataFrame | None
    total_after: pd.Series | None
    districts_after: pd.DataFrame | None
    gaps: pd.DataFrame
    rule_table: pd.DataFrame
    equity: pd.DataFrame
    isochrones: gpd.GeoDataFrame | None
    minutes: float
    timings: Mapping[str, float]

    @property
    def distance_model(self) -> str:
        """``"network"`` or ``"straight-line"`` (no walk network: straight line × :attr:`detour_factor`)."""
        return self.access.distance_model

    @property
    def detour_factor(self) -> float | None:
        """Detour factor of the straight-line fallback (None with a walk network)."""
        return self.access.detour_factor

    @property
    def final_streets(self) -> gpd.GeoDataFrame:
        """The street scorecard after the plan, or now without a plan."""
        return self.streets_after if self.streets_after is not None else self.streets

    def _summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows of :meth:`__repr__` and :meth:`_repr_html_`: now, and → after the plan."""
        def both(get, fmt) -> str:
            now = fmt(get(self.streets, self.total))
            if self.streets_after is None:
                return now
            return f"{now} → {fmt(get(self.streets_after, self.total_after))}"

        cover = f"cover{minute_key(self.minutes)}_puhui"
        rows = [("policy", f"{self.policy.name} · {self.minutes:g} min"),
                ("街道 达标", both(lambda st, t: int((st["status"] == MET).sum()), lambda k: f"{k} of {len(self.streets)}")),
                ("places", both(lambda st, t: (t["places"], t["places_per_1000"]),
                                lambda v: f"{_d.count(v[0])} ({_d.number(v[1], 2)} per 1000)")),
                ("普惠 share", both(lambda st, t: t["puhui_share"], _d.percent))]
        if cover in self.total.index:
            rows.append((f"infants within {self.minutes:g} min of 普惠", both(lambda st, t: t[cover], _d.percent)))
        p = self.plan
        rows.append(("plan", "none" if p is None else
                     f"{len(p.sites):,} sites, {_d.count(p.sites['places'].sum())} places, "
                     f"{_d.number(p.objective_values['cost'])} 万元, {p.status}"))
        rows.append(("unmet rules", f"{len(self.gaps):,}"))
        return rows

    def __repr__(self) -> str:
        return _d.text(f"Assessment {self.area.name}", self._summary_rows())

    def _repr_html_(self) -> str:
        return _d.html(f"Assessment {self.area.name}", self._summary_rows())


def _scorecards(area, acc, pol) -> tuple:
    cs = community_scorecard(area, acc, pol)
    st = street_scorecard(area, acc, pol, communities=cs)
    return cs, st, street_total(st, pol), district_scorecard(st, pol)


def _service_areas(area, net, plan: SitePlan | None, minutes: float) -> gpd.GeoDataFrame:
    """Service areas of the existing 普惠 institutions and the recommended sites: one per facility,
    or, for a kind with more than ``settings.ISO_MERGE_ABOVE`` facilities, one per 街道 of its
    facilities (``id`` = street_id, ``name`` = the 街道's name); then every row also says
    ``street_id``, ``facilities`` (how many are merged; 1 for a facility's own area) and ``merged``."""
    parts = []
    inst = area.institutions
    pu = [str(i) for i in inst.index[inst["puhui"].astype(bool)]]
    above = int(settings.ISO_MERGE_ABOVE)
    streets = area.streets["name"]
    for layer, ids, kind in (("institutions", pu, "existing_puhui"),
                             ("candidates", list(plan.sites.index) if plan is not None else [], "recommended")):
        if not ids:
            continue
        facilities = getattr(area, layer)
        if len(ids) > above:
            g = isochrones(area, network=net, minutes=minutes, layer=layer, ids=ids, merge_by="street_id")
            names = streets.reindex(g.index).fillna(pd.Series(g.index, index=g.index)).astype(str)
            parts.append(g.assign(kind=kind, name=names.to_numpy(), street_id=g["id"].to_numpy(), merged=True))
            log.info("%d service areas of %s merged into %d (per 街道; more than settings.ISO_MERGE_ABOVE = %d)",
                     len(ids), kind, len(g), above)
        else:
            g = isochrones(area, network=net, minutes=minutes, layer=layer, ids=ids)
            sid = facilities["street_id"].reindex(g.index)
            parts.append(g.assign(kind=kind, name=facilities["name"].reindex(g.index).astype(str).to_numpy(),
                                  street_id=sid.where(sid.notna(), "").astype(str).to_numpy(), facilities=1,
                                  merged=False))
    cols = ["id", "kind", "name", "minutes", "distance_m", "area_m2", "geometry"]
    if any(bool(p["merged"].any()) for p in parts):
        cols[-1:-1] = ["street_id", "facilities", "merged"]
    if not parts:
        return gpd.GeoDataFrame({c: [] for c in cols[:-1]}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(parts), crs="EPSG:4326")[cols]


def _given_access(acc: Access, area: StudyArea, pol: Policy, mins: tuple[float, ...]) -> Access:
    """``acc`` if it was computed for ``area`` with these minutes and the policy's distances."""
    acc.check_area(area)
    want = {m: pol.threshold_m(m) for m in mins}
    if tuple(acc.minutes) != mins or any(acc.thresholds_m.get(m) != d for m, d in want.items()):
        raise ValueError(f"the access given was computed for minutes {tuple(acc.minutes)} with distances "
                         f"{dict(acc.thresholds_m)}; this assessment needs {want}; fix: "
                         "compute_access(area, policy, minutes=...) with these, or leave access out")
    return acc


def _findings(area, acc, pol, cs, st, site_plan, after) -> tuple:
    """Unmet rules with reasons, the per-街道 rule table and equity — after the plan, or now."""
    final, final_cs = (after[2], after[1]) if site_plan is not None else (st, cs)
    kw = {"communities": final_cs, "fixers": residential_fixers(area, acc)}
    equity = equity_before_after(cs, after[1]) if site_plan is not None else equity_table(cs).to_frame("before")
    return explain_gaps(st, final, pol, site_plan, **kw), rule_status(st, final, pol, site_plan, **kw), equity


def assess(area: StudyArea, policy: Policy | str | None = None, *,
           network: WalkNet | StraightLineNet | None = None,
           plan: PlanOptions | SitePlan | None = None, minutes: tuple[float, ...] | None = None,
           with_isochrones: bool = True, progress: Callable[[str], None] | None = None,
           access: Access | None = None) -> Assessment:
    """Assess ``area`` under ``policy`` and, with ``plan``, plan new sites and assess the result.

    Parameters
    ----------
    area : StudyArea
    policy : Policy or str, optional
        Default ``area.policy``; applied here (estimated infants follow this policy).
    network : WalkNet or StraightLineNet, optional
        The distance engine; built once from ``area.graph`` when not given — or, for an area without
        a walk network, the straight-line fallback (straight line × ``area.detour_factor``, default
        ``settings.DETOUR_FACTOR``; a warning is logged and every output says so).
    plan : PlanOptions or SitePlan, optional
        Solve a plan with these options, or use a plan already made (e.g. :func:`tuoyu_geo.plan.load_plan`).
    minutes : tuple of float, optional
        Access thresholds (default ``settings.MINUTES`` plus the plan's minutes).
    with_isochrones : bool
        Compute the service areas drawn on maps and written to exports.
    progress : callable, optional
        Called with a short label before each stage (the CLI shows it).
    access : Access, optional
        Walking access now, already computed for this area, policy and minutes (e.g. by
        :func:`tuoyu_geo.scenarios.compare_budgets`, which solves several plans on one access).

    Returns
    -------
    Assessment
    """
    step = progress or (lambda label: None)
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(key: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[key] = round(now - t, 3)
        t = now

    pol = load_policy(policy if policy is not None else area.policy)
    area = area.with_policy(pol)
    plan_minutes = plan.options.minutes if isinstance(plan, SitePlan) else (plan.minutes if plan else 15.0)
    mins = tuple(sorted({*(minutes or settings.MINUTES), float(plan_minutes)}))
    step("walk network")
    net = network if network is not None else area_engine(area)
    lap("network_s")
    step("walking access")
    acc = _given_access(access, area, pol, mins) if access is not None else \
        compute_access(area, pol, network=net, minutes=mins)
    lap("access_s")
    step("scorecards")
    cs, st, total, districts = _scorecards(area, acc, pol)
    lap("scorecard_s")
    site_plan = plan if isinstance(plan, SitePlan) else None
    if site_plan is not None:
        site_plan.check_area(area, pol)
    if isinstance(plan, PlanOptions):
        step("site plan (MILP)")
        site_plan = plan_sites(area, acc, pol, options=plan, network=net, scorecard=st)
        lap("plan_s")
    after = (None,) * 5
    if site_plan is not None:
        step("after the plan")
        acc_after = compute_access(site_plan.area_after, pol, network=net, minutes=mins)
        after = (acc_after, *_scorecards(site_plan.area_after, acc_after, pol))
        lap("after_s")
    gaps, table, equity = _findings(area, acc, pol, cs, st, site_plan, after)
    iso = None
    if with_isochrones:
        step("service areas")
        iso = _service_areas(area, net, site_plan, plan_minutes)
        lap("isochrones_s")
    return Assessment(area=area, policy=pol, access=acc, streets=st, communities=cs, total=total,
                      districts=districts, plan=site_plan, access_after=after[0], communities_after=after[1],
                      streets_after=after[2], total_after=after[3], districts_after=after[4], gaps=gaps,
                      rule_table=table, equity=equity,
                      isochrones=iso, minutes=float(plan_minutes), timings=MappingProxyType(timings))
