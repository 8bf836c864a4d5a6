"""The per-district work of a batch: pure, picklable top-level functions run as Dask tasks.

:func:`assess_district` loads one district, assesses it (no plan) and computes its budget
frontier; :func:`plan_district` solves its plan at one budget and (given a folder) writes its
scorecards, exports and map there, all-or-nothing.  Both take and return frozen, picklable
objects, read only their own district folder and never raise: a failure comes back as an outcome
with ``ok=False`` and the error, so one bad district never stops the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .. import settings
from .._errors import TuoyuError
from ..loading import load_area
from ..network import WalkNet
from ..pipeline import Assessment, assess
from ..plan import PlanOptions
from ..plan.model import feasible_places
from ..rules import MET
from ..writer import transaction
from .province import District

log = logging.getLogger(__name__)

__all__ = ["DistrictJob", "DistrictOutcome", "DistrictPlan", "FrontierPoint", "assess_district",
           "forced_cost_wan", "plan_district"]

#: files of a district written by :func:`plan_district` (inside ``<out>/districts/<name>/``)
DISTRICT_FORMATS = ("xlsx", "csv", "geojson")
MAP_FILE = "map.html"


@dataclass(frozen=True)
class DistrictJob:
    """What a task needs to know about one district (small; sent to the workers)."""

    district: District
    policy: str | None = None
    budget_steps_wan: tuple[float, ...] = (0.0,)
    solver: str = settings.DEFAULT_SOLVER
    time_limit_s: float = settings.TIME_LIMIT_S

    @property
    def name(self) -> str:
        return self.district.name

    def options(self, budget_wan: float) -> PlanOptions:
        return PlanOptions(budget_wan=float(budget_wan), required=self.district.required, solver=self.solver,
                           time_limit_s=self.time_limit_s)


@dataclass(frozen=True)
class FrontierPoint:
    """The district's plan at one budget: 街道 达标 after it, infants newly covered, places, cost."""

    budget_wan: float
    streets_met: int
    infants_newly_covered: float
    places: int
    cost_wan: float
    status: str


@dataclass(frozen=True)
class DistrictOutcome:
    """Result of :func:`assess_district` (``ok=False``: ``error`` says why; the frames are None)."""

    name: str
    folder: Path
    area_name: str
    ok: bool
    error: str = ""
    streets: gpd.GeoDataFrame | None = None
    total: pd.Series | None = None
    equity: pd.Series | None = None
    frontier: tuple[FrontierPoint, ...] = ()
    forced_cost_wan: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True)
class DistrictPlan:
    """Result of :func:`plan_district` at one budget (``ok=False``: ``error``; nothing written)."""

    name: str
    budget_wan: float
    ok: bool
    error: str = ""
    point: FrontierPoint | None = None
    streets_after: gpd.GeoDataFrame | None = None
    total_after: pd.Series | None = None
    equity: pd.DataFrame | None = None
    paths: Mapping[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def forced_cost_wan(area, policy, required: tuple[str, ...]) -> float:
    """Least cost (万元) of the ``required`` sites of ``area``: fixed cost + cost per place × the
    smallest whole-class size (of ``policy``'s class types) each may take; unknown ids count 0."""
    if not required:
        return 0.0
    sizes = sorted({int(policy.class_sizes[k]) for k in policy.class_types})
    c = area.candidates.reindex(list(required))
    total = 0.0
    for sid, r in c.iterrows():
        if pd.isna(r.get("max_places")):
            continue  # an unknown id: the plan names it
        ok = feasible_places(float(r.get("min_places", 0) or 0), float(r["max_places"]), sizes)
        least = min(ok) if ok else 0
        total += float(r.get("fixed_cost", 0) or 0) + float(r.get("cost_per_place", 0) or 0) * least
        log.debug("forced site %s: at least %s places", sid, least)
    return total


def point_of(a: Assessment, budget_wan: float) -> FrontierPoint:
    """The frontier point of an assessment with a plan."""
    sites = a.plan.sites
    return FrontierPoint(budget_wan=float(budget_wan), streets_met=int((a.streets_after["status"] == MET).sum()),
                         infants_newly_covered=round(float(a.plan.objective_values.get("infants_newly_covered", 0.0)), 6),
                         places=int(sites["places"].sum()) if len(sites) else 0,
                         cost_wan=round(float(sites["cost"].sum()), 6) if len(sites) else 0.0,
                         status=str(a.plan.status))


def assess_district(job: DistrictJob) -> DistrictOutcome:
    """Load and assess one district (no plan), then its frontier: the plan at every budget step.

    A budget step whose plan cannot be made (e.g. below the cost of the required sites) is left
    out of the frontier.  Never raises: a failure is an outcome with ``ok=False``.
    """
    t0 = time.perf_counter()
    d = job.district
    try:
        area = load_area(d.folder, policy=job.policy)
        net = WalkNet.from_area(area)
        a = assess(area, job.policy, network=net, with_isochrones=False)
        points = []
        for b in job.budget_steps_wan:
            try:
                points.append(point_of(assess(area, job.policy, network=net, plan=job.options(b),
                                              with_isochrones=False), b))
            except TuoyuError as exc:
                log.info("%s: no plan at %s 万元 (%s)", d.name, b, exc)
        forced = forced_cost_wan(a.area, a.policy, d.required)
    except Exception as exc:  # noqa: BLE001 - reported by name, never stops the other districts
        log.warning("district %s failed: %s", d.name, _error(exc))
        return DistrictOutcome(d.name, d.folder, d.area_name, ok=False, error=_error(exc),
                               seconds=time.perf_counter() - t0)
    return DistrictOutcome(d.name, d.folder, a.area.name, ok=True, streets=a.streets, total=a.total,
                           equity=a.equity["before"], frontier=tuple(points), forced_cost_wan=forced,
                           seconds=time.perf_counter() - t0)


def _write(a: Assessment, folder: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    from ..report.export import export_plan
    from ..report.maps import coverage_map, save_map
    from ..report.scorecard import write_scorecard

    with transaction():  # scorecards, exports and map of the district: all or nothing
        paths = {f"scorecard_{k}": p for k, p in write_scorecard(folder, a).items()}
        if a.plan is not None:
            paths.update(export_plan(a, folder, formats=formats))
        paths["map"] = save_map(coverage_map(a, offline=True), folder / MAP_FILE, offline=True)
    return paths


def plan_district(job: DistrictJob, budget_wan: float | None, *, out_dir: Path | None = None,
                  formats: tuple[str, ...] = DISTRICT_FORMATS) -> DistrictPlan:
    """Plan one district at ``budget_wan`` (None: no plan) and, given ``out_dir``, write its
    scorecards, exports (``formats``) and offline map into ``out_dir`` in one transaction.

    Never raises: a failure (including a failed write, which leaves nothing behind) is a
    :class:`DistrictPlan` with ``ok=False``.
    """
    t0 = time.perf_counter()
    b = float("nan") if budget_wan is None else float(budget_wan)
    try:
        area = load_area(job.district.folder, policy=job.policy)
        plan = None if budget_wan is None else job.options(budget_wan)
        a = assess(area, job.policy, plan=plan, with_isochrones=out_dir is not None)
        paths = _write(a, Path(out_dir), formats) if out_dir is not None else {}
    except Exception as exc:  # noqa: BLE001 - reported by name, never stops the other districts
        log.warning("district %s (budget %s) failed: %s", job.name, budget_wan, _error(exc))
        return DistrictPlan(job.name, b, ok=False, error=_error(exc), seconds=time.perf_counter() - t0)
    point = point_of(a, b) if a.plan is not None else None
    return DistrictPlan(job.name, b, ok=True, point=point, streets_after=a.final_streets,
                        total_after=a.total_after if a.total_after is not None else a.total,
                        equity=a.equity, paths=paths, seconds=time.perf_counter() - t0)
