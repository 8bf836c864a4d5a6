"""Typed, documented options of a site plan."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import settings
from .._errors import DataError
from ..solvers import SOLVERS

__all__ = ["PlanOptions"]


def _ids(values: Iterable[Any] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)


def _number(name: str, value: Any, *, lo: float = 0.0, strict: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {value!r}", file=name, fix=f"give {name} as a number") from None
    if not math.isfinite(v) or v < lo or (strict and v == lo):
        rel = ">" if strict else "≥"
        raise DataError(f"{name} must be a finite number {rel} {lo:g}, got {value!r}", file=name,
                        fix=f"give {name} {rel} {lo:g}")
    return v


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """Options of :func:`tuoyu_geo.plan.plan_sites` (all keyword-only; units in the names).

    Parameters
    ----------
    budget_wan : float, optional
        Total budget in 万元 (no limit when None).
    max_new_sites : int, optional
        At most this many new sites.
    minutes : float
        Walking time of the coverage objective (``policy.threshold_m(minutes)`` metres).
    required, excluded : tuple of str
        Candidate ``site_id`` s that must open / never open.
    capacity_aware : bool
        Assign children to sites (capacity-aware coverage) instead of plain coverage.
    years : tuple of int, optional
        Phasing years (a site opens in one of them, not before its ``available_year``).
    budget_per_year_wan : float, mapping or sequence, optional
        Budget of each year (one number, ``{year: 万元}`` or a list in year order).
    solver : {"highs", "cbc"}
    time_limit_s : float
        Wall-clock limit of all lexicographic stages together (``settings.TIME_LIMIT_S``).
    mip_gap : float
        Relative optimality gap of each stage (``settings.MIP_GAP``).
    demand_factor : float, optional
        入托率 for this run: share of infants needing a place (capacity-aware only); default the
        profile's ``enrolment_rate``, else the rate implied by the places target,
        ``places_per_1000 / (1000 × infant_share)``, capped at 1 (:func:`tuoyu_geo.demand.demand_rate`).
    street_puhui_share : bool
        Also hold the 普惠 share in every 街道 at ``policy.street_puhui_share`` (a soft rule: its
        shortfall in places is penalised with the place targets), not only area-wide.
    equity : bool
        Before maximising coverage, maximise the minimum share of a 街道's infants within
        ``minutes`` of a 普惠 institution (max-min over 街道; plain coverage only).
    strict : bool
        Fail (InfeasiblePlanError, exit 3) when a rule cannot be met anywhere.  By default a plan is
        made for everything that can be met (best effort): 一街道一普惠 becomes a penalised first
        objective, and every rule left unmet is listed per 街道 with its reason (``SitePlan.unmet`` and
        the assessment's ``gaps``).
    """

    budget_wan: float | None = None
    max_new_sites: int | None = None
    minutes: float = 15.0
    required: tuple[str, ...] = field(default=())
    excluded: tuple[str, ...] = field(default=())
    capacity_aware: bool = False
    years: tuple[int, ...] | None = None
    budget_per_year_wan: float | Mapping[int, float] | Sequence[float] | None = None
    solver: str = settings.DEFAULT_SOLVER
    time_limit_s: float = settings.TIME_LIMIT_S
    mip_gap: float = settings.MIP_GAP
    demand_factor: float | None = None
    street_puhui_share: bool = True
    equity: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "required", _ids(self.required))
        put(self, "excluded", _ids(self.excluded))
        both = sorted(set(self.required) & set(self.excluded))
        if both:
            raise DataError(f"site(s) both required and excluded: {', '.join(both)}", file="candidates",
                            fix="remove them from one of the two lists")
        if self.budget_wan is not None:
            put(self, "budget_wan", _number("budget_wan", self.budget_wan))
            if self.budget_wan > settings.MAX_BUDGET_WAN:
                raise DataError(f"budget_wan = {self.budget_wan:g} 万元 is more than {settings.MAX_BUDGET_WAN:g} 万元",
                                file="budget_wan", fix="give the budget in 万元 (10,000 元), e.g. 3000; leave it "
                                                       "out for no budget limit")
        if self.max_new_sites is not None:
            put(self, "max_new_sites", int(_number("max_new_sites", self.max_new_sites)))
        put(self, "minutes", _number("minutes", self.minutes, strict=True))
        if self.minutes > settings.MAX_WALK_MINUTES:
            raise DataError(f"minutes = {self.minutes:g} is longer than a walk to childcare (at most "
                            f"{settings.MAX_WALK_MINUTES:g})", file="minutes", fix="give e.g. minutes=15")
        put(self, "time_limit_s", _number("time_limit_s", self.time_limit_s, strict=True))
        put(self, "mip_gap", _number("mip_gap", self.mip_gap))
        if self.demand_factor is not None:
            put(self, "demand_factor", _number("demand_factor", self.demand_factor, strict=True))
        if str(self.solver).lower() not in SOLVERS:
            raise DataError(f"unknown solver {self.solver!r}", file="solver", fix=f"use one of {', '.join(SOLVERS)}")
        put(self, "solver", str(self.solver).lower())
        if self.years is not None:
            try:
                years = tuple(sorted({int(y) for y in self.years}))
            except (TypeError, ValueError):
                raise DataError(f"years must be whole years, got {self.years!r}", file="years",
                                fix="give e.g. years=(2026, 2027)") from None
            if not years:
                raise DataError("years is empty", file="years", fix="give e.g. years=(2026, 2027)")
            if not 2000 <= years[0] <= years[-1] <= 2100:
                raise DataError(f"years must be planning years between 2000 and 2100, got {self.years!r}",
                                file="years", fix="give e.g. years=(2026, 2027) (--years 2026,2027)")
            put(self, "years", years)
        b = self.budget_per_year_wan
        if isinstance(b, Mapping):
            put(self, "budget_per_year_wan", {int(k): _number("budget_per_year_wan", v) for k, v in b.items()})
        elif isinstance(b, (list, tuple)):
            put(self, "budget_per_year_wan", tuple(_number("budget_per_year_wan", v) for v in b))
        elif b is not None:
            put(self, "budget_per_year_wan", _number("budget_per_year_wan", b))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every option."""
        d = asdict(self)
        for k in ("required", "excluded", "years"):
            d[k] = list(d[k]) if d[k] is not None else None
        if isinstance(d["budget_per_year_wan"], tuple):
            d["budget_per_year_wan"] = list(d["budget_per_year_wan"])
        return d
