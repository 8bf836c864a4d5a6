"""The plan's result object and the area with the new sites added."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import _display as _d
from .._errors import DataError
from ..solvers import Status
from .options import PlanOptions

__all__ = ["NEW_SITE_CATEGORY", "SitePlan", "area_with_sites"]

#: category of a new site by candidate kind (every new site is 普惠); other kinds → 社区托育点
NEW_SITE_CATEGORY = {"幼儿园富余": "幼儿园托班"}
_DEFAULT_CATEGORY = "社区托育点"


def _finite(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


@dataclass(frozen=True, eq=False)
class SitePlan:
    """A recommended set of new 普惠 sites, explained.

    Attributes
    ----------
    sites : geopandas.GeoDataFrame
        One row per new site (EPSG:4326, index = the site ids, unnamed): ``site_id, name, kind, street_id,
        street_name, places, classes, cost`` (万元), ``year, new_infants_covered, reason,
        nearest_puhui_id, nearest_puhui_m, runner_up_id, order``.
    objective_values : mapping
        ``shortfall`` (the first lexicographic stage's objective: the rules' penalties, i.e. places
        short of the 街道 targets plus the 普惠-share shortfall in places, summed over the years when
        phased — the places still missing per 街道 are in the after scorecard), ``coverage`` (infants
        newly within reach, or children placed with ``capacity_aware``; summed over years when
        phased), ``cost`` (万元), ``infants_newly_covered``, ``infants_covered_before``, ``places``,
        ``sites``.
    status : Status
        ``optimal`` when every stage was proven optimal within ``mip_gap``, else ``time_limit``.
    gap : float
        Largest relative gap over the stages.
    solve_seconds, build_seconds : float
        Solver time of all stages; model building time.
    options : PlanOptions
    radius_m : float
        Coverage radius (``policy.threshold_m(options.minutes)``).
    stages : tuple of dict
        Per stage: status, objective, bound, gap, seconds.
    model_size : mapping
        ``n_vars``, ``n_rows`` and the rows of every named block.
    nearest_puhui_distance : str
        How ``nearest_puhui_m`` was measured.
    area_after : StudyArea
        The area with the new sites added as 普惠 institutions (status 规划).
    street_capacity : DataFrame
        Per 街道: ``allowed`` candidates, ``chosen`` sites, ``places`` chosen, ``spare`` places the
        allowed candidates could still add (used to explain remaining gaps).
    designated : DataFrame
        Demonstration institutions designated by the plan (一县区一示范): ``district, id, kind``
        (``existing`` / ``new``), ``places``.
    area_fingerprint : str, optional
        :meth:`StudyArea.fingerprint` of the area the plan was made for (checked by :func:`assess`).
    policy_name, policy_fingerprint : str, optional
        The policy the plan was made under (:meth:`Policy.fingerprint`; checked by :func:`assess`).
    """

    sites: gpd.GeoDataFrame
    objective_values: Mapping[str, float]
    status: Status
    gap: float
    solve_seconds: float
    build_seconds: float
    options: PlanOptions
    radius_m: float
    stages: tuple
    model_size: Mapping[str, Any]
    nearest_puhui_distance: str
    area_after: Any
    street_capacity: pd.DataFrame
    designated: pd.DataFrame = None  # type: ignore[assignment]
    area_fingerprint: str | None = None
    policy_name: str | None = None
    policy_fingerprint: str | None = None

    def check_area(self, area, policy=None) -> None:
        """Raise DataError unless this plan was made for ``area``'s points (:meth:`StudyArea.fingerprint`)
        and, when ``policy`` is given, under that policy (:meth:`Policy.fingerprint`)."""
        if self.area_fingerprint is not None and self.area_fingerprint != area.fingerprint():
            raise DataError("the plan was made for other inputs (same ids, but points moved or institutions "
                            "changed)", file="plan",
                            fix="plan again for this area, or load the study area the plan was made for")
        if policy is not None and self.policy_fingerprint is not None \
                and self.policy_fingerprint != policy.fingerprint():
            same = " (a profile of that name with other values)" if self.policy_name == policy.name else ""
            raise DataError(f"the plan was made under policy {self.policy_name!r}, not {policy.name!r}{same}",
                            file="plan", fix=f"use the plan's policy (--policy {self.policy_name}), or plan "
                                             "again under this one")

    def summary(self) -> str:
        """One-line summary (used by the CLI)."""
        ov = self.objective_values
        return (f"{len(self.sites)} new 普惠 sites, {ov['places']:.0f} places, cost {ov['cost']:.1f} 万元, "
                f"{ov['infants_newly_covered']:.0f} infants newly within {self.options.minutes:g} min; shortfall "
                f"{ov['shortfall']:.0f} places; status {self.status} (gap {self.gap:.1e}, {self.solve_seconds:.1f} s); "
                f"{self.optimality}")

    @property
    def optimality(self) -> str:
        """How far from proven optimal the plan may be, in the planner's units (one line).

        The first stage not proven optimal decides: its incumbent and the solver's bound differ by
        at most that much (later stages are optimised with it held), e.g. "not proven optimal: the
        cost may be at most 8.0 万元 from the best possible".
        """
        for st in self.stages:
            if st.get("status") == "optimal":
                continue
            name = st["stage"]
            if st.get("kept_previous"):
                return (f"not proven optimal: stage '{name}' found no plan within its time; the plan of the "
                        "previous stage is kept (raise the time limit, --time-limit / time_limit_s)")
            diff = abs(float(st["objective"]) - float(st["bound"]))
            unit, what = _STAGE_UNITS.get(name, ("", name))
            if self.options.capacity_aware and name == "coverage":
                unit, what = "children", "the children placed within reach"
            if not math.isfinite(diff):
                return (f"not proven optimal: stage '{name}' ended without a bound, so how far {what} may be from "
                        "the best possible is not known (raise the time limit, --time-limit / time_limit_s)")
            return (f"not proven optimal: {what} may be at most {diff:,.1f} {unit} from the best possible "
                    f"(stage '{name}', gap {float(st['gap']):.1e}; a longer time limit, --time-limit / "
                    "time_limit_s, may close it)")
        return f"proven optimal (every stage within a relative gap of {self.options.mip_gap:g})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record of the plan (no frames): options, values, status, stages, model size."""
        return {"options": self.options.to_dict(), "radius_m": self.radius_m,
                "objective_values": {k: _finite(v) for k, v in self.objective_values.items()},
                "status": str(self.status), "gap": _finite(self.gap), "solve_seconds": round(self.solve_seconds, 3),
                "build_seconds": round(self.build_seconds, 3),
                "stages": [{k: _finite(v) for k, v in s.items()} for s in self.stages],
                "model_size": dict(self.model_size), "nearest_puhui_distance": self.nearest_puhui_distance,
                "policy": {"name": self.policy_name, "fingerprint": self.policy_fingerprint},
                "designated": [] if self.designated is None else self.designated.to_dict(orient="records"),
                "sites": self.sites.drop(columns="geometry").assign(
                    lon=self.sites.geometry.x, lat=self.sites.geometry.y).to_dict(orient="records")}

    def _summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows of :meth:`__repr__` and :meth:`_repr_html_`."""
        ov, o = self.objective_values, self.options
        budget = "no budget" if o.budget_wan is None else f"budget {_d.number(o.budget_wan)} 万元"
        return [("new 普惠 sites", f"{len(self.sites):,} ({_d.count(self.sites['places'].sum())} places)"),
                ("cost", f"{_d.number(ov['cost'])} 万元 ({budget})"),
                (f"infants newly within {o.minutes:g} min", _d.number(ov["infants_newly_covered"])),
                ("shortfall", f"{_d.number(ov['shortfall'])} places"),
                ("solver", f"{self.status} (gap {self.gap:.1e}, {self.solve_seconds:.1f} s)")]

    def __repr__(self) -> str:
        return _d.text("SitePlan", self._summary_rows())

    def _repr_html_(self) -> str:
        return _d.html("SitePlan", self._summary_rows())


#: stage → (unit, what the stage optimises), for :attr:`SitePlan.optimality`
_STAGE_UNITS = {"rules": ("rules", "the number of rules broken (一街道一普惠, 一县区一示范)"),
                "shortfall": ("places", "the shortfall against the 街道 targets"),
                "residential": ("places", "the residential 配建 shortfall"),
                "equity": ("", "the lowest 街道 coverage share"),
                "coverage": ("infants", "the infants newly covered"),
                "cost": ("万元", "the cost")}


def _new_institution_ids(site_ids, taken_ids) -> list[str]:
    """Institution ids for new sites: the site id, or ``new_<id>`` (``new_<id>_2``, … if that is taken
    too) when an existing institution already has it — never an id already in use."""
    taken = set(map(str, taken_ids))
    out = []
    for s in map(str, site_ids):
        new, k = s, 1
        while new in taken:
            k += 1
            new = f"new_{s}" if k == 2 else f"new_{s}_{k - 1}"
        taken.add(new)
        out.append(new)
    return out


def area_with_sites(area, sites: gpd.GeoDataFrame, designated: pd.DataFrame | None = None):
    """``area`` with ``sites`` appended to its institutions as 普惠 institutions (status 规划), and the
    ``designated`` demonstration institutions (existing or new) marked ``is_demonstration``."""
    demo = set() if designated is None else set(designated["id"].astype(str))
    insts = area.institutions.assign(is_demonstration=lambda d: d["is_demonstration"] | d.index.isin(demo))
    new = pd.DataFrame({
        "institution_id": _new_institution_ids(sites["site_id"], insts.index),
        "name": sites["name"].to_numpy(),
        "category": [NEW_SITE_CATEGORY.get(k, _DEFAULT_CATEGORY) for k in sites["kind"]],
        "places": sites["places"].astype(int).to_numpy(),
        "puhui": True, "is_demonstration": [s in demo for s in sites["site_id"]], "status": "规划",
        "street_id": sites["street_id"].to_numpy()})
    new_g = gpd.GeoDataFrame(new, geometry=list(sites.geometry), crs="EPSG:4326")
    merged = pd.concat([insts.reset_index(drop=True), new_g.reindex(columns=list(insts.columns))],
                       ignore_index=True)
    return area.replace(institutions=gpd.GeoDataFrame(merged, geometry=insts.geometry.name, crs=insts.crs))
