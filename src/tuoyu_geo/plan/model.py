"""The plan's MILP under construction: sites sized in whole classes, the data the rules read, named
constraint blocks, penalties and objective terms.

Variables (``formulation``, default :data:`tuoyu_geo.settings.PLAN_FORMULATION`), for each allowed
candidate j, feasible whole-class size p (:func:`feasible_places`) and year t (one year when not
phased):

* ``"cumulative"`` (default) — ``Y[j, p, t]`` ∈ {0, 1}: the site is open *by* year t with p places,
  monotone in t (``Y[j, p, t-1] ≤ Y[j, p, t]``).  Places by year t are ``Σ_p p·Y[j, p, t]``; what
  opens in year t is ``Y[t] − Y[t-1]``.  Branching on "not open by year t" fixes every earlier year
  too, which is why phased plans solve much faster than with per-year binaries (same LP bound).
* ``"per_year"`` — ``X[j, p, t]`` ∈ {0, 1}: the site opens in year t with p places; places by year t
  are ``Σ_{t' ≤ t} p·X[j, p, t']`` (the formulation before issue 13, kept for the benchmark).
* ``"classes"`` — ``open[j, t]`` ∈ {0, 1} and class counts ``n[j, k, t]`` ∈ ℤ≥0, places
  ``Σ_k size_k n[j, k, t]`` within ``min_j … max_j`` (per year; measured slower, kept for the benchmark).

Without phasing the first two are the same model.  With ``PLAN_MILP["site_vars"]`` (default) each
(candidate, year) also has a continuous "open" column ``o = Σ_p Y[j, p, t]`` that the "is it open"
expressions (:meth:`PlanModel.open_terms`) return, and places and cost rows are written with it
(:meth:`PlanModel.factor_open`).  The rules (:mod:`tuoyu_geo.rules`) add their
blocks through :meth:`PlanModel.add_row` / :meth:`PlanModel.add_rows` (every row belongs to a named
block) and read expressions through :meth:`places_terms`, :meth:`open_terms` and :meth:`cost_terms`
— ``upto=t`` is the state by year t, ``year=t`` what opens in year t, neither the state at the end —
add shortfall columns through :meth:`add_penalty` and objective terms through :meth:`add_objective`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import settings
from ..solvers import MILP

__all__ = ["PlanModel", "class_mix", "feasible_places"]


#: at most this many sizes per candidate in the MILP: a larger site keeps its smallest and largest
#: sizes and evenly spaced ones between (bounds the model for very large candidates)
MAX_SIZES_PER_SITE = 60


def feasible_places(min_places: float, max_places: float, sizes: Sequence[int], *,
                    most: int = MAX_SIZES_PER_SITE) -> list[int]:
    """Every total of whole classes (any number of each size) within ``[min_places, max_places]``
    (thinned to ``most`` evenly spaced ones, always with the smallest and the largest).

    >>> feasible_places(25, 45, [10, 15, 20])
    [25, 30, 35, 40, 45]
    >>> feasible_places(0, 9, [10, 15])
    []
    """
    top = int(np.floor(max_places + 1e-9))
    if top <= 0 or not sizes:
        return []
    reach = np.zeros(top + 1, bool)
    reach[0] = True
    for s in sorted({int(s) for s in sizes if s > 0}):
        for v in range(s, top + 1):
            reach[v] |= reach[v - s]
    lo = max(1, int(np.ceil(min_places - 1e-9)))
    out = [v for v in range(lo, top + 1) if reach[v]]
    if len(out) > most:
        keep = np.unique(np.round(np.linspace(0, len(out) - 1, most)).astype(int))
        out = [out[k] for k in keep]
    return out


def class_mix(places: int, sizes: Mapping[str, int], carer_ratio: Mapping[str, float] | None = None) -> dict[str, int]:
    """Classes adding up to exactly ``places`` with the fewest carers (``ceil(size / ratio)`` per
    class; without ratios, the fewest classes), ties to larger classes.

    >>> class_mix(35, {"乳儿班": 10, "托小班": 15, "托大班": 20})
    {'托小班': 1, '托大班': 1}
    """
    kinds = sorted(sizes, key=lambda k: -sizes[k])
    cost = {k: (np.ceil(sizes[k] / carer_ratio[k]) if carer_ratio and k in carer_ratio else 1.0) for k in kinds}
    best: list[tuple] = [(0.0, 0, ())] + [None] * places  # (carers, -big classes, counts)
    for v in range(1, places + 1):
        for i, k in enumerate(kinds):
            s = sizes[k]
            if s <= v and best[v - s] is not None:
                c, big, counts = best[v - s]
                cand = (c + cost[k], big - (len(kinds) - i), tuple(sorted(counts + (k,))))
                if best[v] is None or cand[:2] < best[v][:2]:
                    best[v] = cand
    if best[places] is None:
        raise ValueError(f"{places} places cannot be made of whole classes of {dict(sizes)}")
    out: dict[str, int] = {}
    for k in best[places][2]:
        out[k] = out.get(k, 0) + 1
    return {k: out[k] for k in sorted(out, key=lambda k: sizes[k])}


#: above this many (site, size, budget step) updates the budget cut is skipped (bounds the work)
MAX_KNAPSACK_WORK = 300_000_000


def max_places_within(budget: float, options: Sequence[Sequence[tuple[float, int]]]) -> int | None:
    """Most places that sites can add for at most ``budget``: ``options[j]`` lists site j's
    (cost, places) choices, at most one per site (a group knapsack, solved exactly by dynamic
    programming over the budget in steps of 1, 0.5, 0.1, 0.05 or 0.01 — the largest that divides
    every cost and the budget; else in 50,000 steps with each cost rounded down, which can only
    raise the result, so it stays an upper bound).  ``None`` when the work would be too large.

    >>> # 2000 buys 27 sites of 35 places (72.5 each, 1957.5) plus one of 15 (42.5): 960, while the
    >>> # LP relaxation buys 2000 / 72.5 × 35 = 965.5
    >>> max_places_within(2000, [[(20 + 1.5 * p, p) for p in (15, 18, 20, 25, 28, 30, 33, 35)]] * 40)
    960
    """
    costs = [c for opt in options for c, _ in opt]
    if budget < 0 or not costs:
        return 0 if budget >= 0 else None
    step = _cost_step([*costs, budget], top=budget, most_steps=50_000) or max(budget / 50_000, 1e-9)
    top = int(np.floor(budget / step + 1e-7))
    if len(costs) * (top + 1) > MAX_KNAPSACK_WORK:
        return None
    return int(round(_most_value_by_cost(options, step, top)[top]))


def _most_value_by_cost(options: Sequence[Sequence[tuple[float, float]]], step: float, top: int) -> np.ndarray:
    """``dp[k]`` = most value of at most one choice per site (``options[j]``: (cost, value)) with cost
    at most ``k·step`` (each cost rounded down to the grid, so an upper bound off it), k = 0 … top."""
    dp = np.zeros(top + 1)
    for opt in options:
        new = dp.copy()
        for c, v in opt:
            k = int(np.floor(c / step + 1e-7))
            if k > top:
                continue
            if k == 0:
                np.maximum(new, dp + v, out=new)
            else:
                np.maximum(new[k:], dp[:-k] + v, out=new[k:])
        dp = new
    return dp


def min_cost_for_places(need: int, options: Sequence[Sequence[tuple[float, int]]]) -> float:
    """Least cost of at least ``need`` places from sites whose (cost, places) choices are
    ``options[j]`` (at most one per site; dynamic programming over places); ``inf`` when even every
    site at its largest cannot reach it.

    >>> # 131 places from sites of 15–35 places at 20 万元 + 1.5 per place: 4 sites (35+35+33+28 = 131),
    >>> # 80 + 196.5 = 276.5 (the LP relaxation pays 131 / 35 × 72.5 = 271.4)
    >>> min_cost_for_places(131, [[(20 + 1.5 * p, p) for p in (15, 18, 20, 25, 28, 30, 33, 35)]] * 6)
    276.5
    """
    if need <= 0:
        return 0.0
    dp = np.full(need + 1, np.inf)
    dp[0] = 0.0
    for opt in options:
        if not opt:
            continue
        nxt = dp.copy()
        for c, p in ((float(c), int(p)) for c, p in opt):
            # at least v places with this size: dp[v − p] + c, i.e. dp[0] + c for v < p (contiguous
            # slices: 3.5× faster than one gather of every size at S2)
            k = min(p, need + 1)
            np.minimum(nxt[:k], dp[0] + c, out=nxt[:k])
            if p <= need:
                np.minimum(nxt[p:], dp[:need + 1 - p] + c, out=nxt[p:])
        dp = nxt
    return float(dp[need])


def _cost_step(values: Sequence[float], *, top: float, most_steps: int) -> float | None:
    """Largest of 1, 0.5, 0.1, 0.05, 0.01 dividing every value (``None`` if none does, or if ``top``
    would need more than ``most_steps`` steps)."""
    for u in (1.0, 0.5, 0.1, 0.05, 0.01):
        if all(abs(v / u - round(v / u)) < 1e-7 for v in values):
            return u if top / u <= most_steps else None
    return None


def value_envelope(options: Sequence[Sequence[tuple[float, float]]], *,
                   cap: float = np.inf) -> list[tuple[float, float]] | None:
    """Facets ``(a, b)`` of the least concave function ``a + b·cost`` above the most value whole sites
    buy for each cost, counted up to ``cap``: ``options[j]`` lists site j's (cost, value) choices, at
    most one per site (a group knapsack, exact by dynamic programming over the cost).  Every selection of sites then has
    ``value ≤ a + b·cost`` for each facet — the LP relaxation, which may buy fractions of sites, does
    not know this.  ``None`` when the costs are not on a 0.01 grid or the work is too large.

    >>> # two sites, each 10 for 30 or 16 for 60: best 0, 10, 20, 26, 32 for 0, 30, 60, 90, 120;
    >>> # hull (0, 0) → (60, 20) slope 1/3, then → (120, 32) slope 0.2, i.e. 8 + 0.2·cost
    >>> [(round(a, 6), round(b, 6)) for a, b in value_envelope([[(30, 10), (60, 16)]] * 2)]
    [(0.0, 0.333333), (8.0, 0.2)]
    >>> # counted up to 20: (0, 0) → (60, 20), then flat
    >>> [(round(a, 6), round(b, 6)) for a, b in value_envelope([[(30, 10), (60, 16)]] * 2, cap=20)]
    [(0.0, 0.333333)]
    """
    costs = [c for opt in options for c, _ in opt]
    if not costs:
        return []
    total = sum(max(c for c, _ in opt) for opt in options)
    step = _cost_step([*costs, total], top=total, most_steps=200_000)
    if step is None:
        return None
    top = int(round(total / step))
    if len(costs) * (top + 1) > MAX_KNAPSACK_WORK:
        return None
    dp = np.minimum(_most_value_by_cost(options, step, top), cap)
    rise = np.flatnonzero(np.diff(dp) > 1e-9) + 1
    pts = [(0.0, float(dp[0]))] + [(float(k * step), float(dp[k])) for k in rise]
    hull: list[tuple[float, float]] = []
    for p in pts:  # upper hull, left to right
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (p[0] - x1) <= (p[1] - y1) * (x2 - x1) + 1e-12:
                hull.pop()
            else:
                break
        hull.append(p)
    out = []
    for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
        b = (y2 - y1) / (x2 - x1)
        out.append((y1 - b * x1, b))
    return out


@dataclass(eq=False)
class PlanModel:
    """Data of one plan and its MILP (built by :func:`tuoyu_geo.plan.build.build_model`)."""

    milp: MILP
    policy: Any
    options: Any
    rules: tuple
    streets: pd.DataFrame          # status-quo scorecard, index = street ids (str)
    site_ids: np.ndarray           # candidate ids (str), area order
    site_street: np.ndarray        # street id of each candidate
    class_sizes: dict              # class type → places, the types new sites may use
    min_places: np.ndarray         # effective minimum places of an open site (≥ the smallest class)
    max_places: np.ndarray
    feasible: list                 # feasible_places per candidate
    available_year: np.ndarray
    fixed_cost: np.ndarray
    cost_per_place: np.ndarray
    allowed: np.ndarray            # may open at all (not excluded, a whole-class size fits, available in time)
    years: tuple                   # (None,) when not phased
    infants: np.ndarray            # per community
    covered0: np.ndarray           # community already within reach of an existing 普惠 institution
    reach: sp.csr_matrix           # communities × candidates within the coverage radius
    radius_m: float
    demand_factor: float
    institutions: pd.DataFrame | None = None   # existing institutions (for designations)
    community_street: np.ndarray | None = None     # street id of each community
    residential_missing: np.ndarray | None = None  # per community: places missing for 配建 (0 when met)
    residential_reach: sp.csr_matrix | None = None  # communities × candidates within the largest threshold
    formulation: str = field(default_factory=lambda: settings.PLAN_FORMULATION)  # see the module docstring
    designated: dict = field(default_factory=dict)          # district → existing institution ids
    demonstration_vars: dict = field(default_factory=dict)  # district → {candidate: column}
    coverage_terms: list = field(default_factory=list)      # per year: (row of each column, columns, coefficients, most per row)
    shortfall_rows: list = field(default_factory=list)      # (stage, penalty column, sites mask, upto, ratio, need)
    open: dict = field(init=False)     # (j, t) → column
    n: dict = field(init=False)        # (j, k, t) → column
    _o: tuple = field(init=False)      # arrays (site, year, column) of the open variables
    _n: tuple = field(init=False)      # arrays (site, year, column, class size) of the class counts
    _open_of: tuple | None = field(init=False, default=None)  # see _options
    blocks: dict = field(default_factory=lambda: defaultdict(list))
    penalties: dict = field(default_factory=lambda: defaultdict(list))
    objectives: dict = field(default_factory=lambda: defaultdict(list))
    solution: np.ndarray | None = None

    def __post_init__(self) -> None:
        pairs = [(int(j), t) for j in np.flatnonzero(self.allowed) for t in range(self.n_years)
                 if not (self.phased and self.available_year[j] > self.years[t])]
        if self.formulation not in ("cumulative", "per_year", "classes"):
            raise ValueError(f"unknown formulation {self.formulation!r}")
        if self.formulation != "classes":
            self._options(pairs)
            return
        cols = self.milp.add_vars(len(pairs), lb=0, ub=1, integer=True)
        self.open = dict(zip(pairs, cols.tolist(), strict=True))
        kinds = self._generators()
        ub = np.array([min(self.max_places[j] // self.class_sizes[k], cap) for j, _ in pairs for k, cap in kinds],
                      float)
        ncols = self.milp.add_vars(len(ub), lb=0, ub=ub, integer=True)
        self.n = dict(zip([(j, k, t) for j, t in pairs for k, _ in kinds], ncols.tolist(), strict=True))
        pj = np.array([j for j, _ in pairs], np.int64)
        pt = np.array([t for _, t in pairs], np.int64)
        self._o = (pj, pt, cols)
        size = np.array([self.class_sizes[k] for k, _ in kinds], float)
        self._n = (np.repeat(pj, len(kinds)), np.repeat(pt, len(kinds)), ncols, np.tile(size, len(pairs)))

    def _options(self, pairs: list[tuple[int, int]]) -> None:
        """One binary per (candidate, feasible whole-class size, year): the convex hull of each site's
        sizes is its LP relaxation, so bounds are tight.  Cumulative: ``Y[j, p, t-1] ≤ Y[j, p, t]``."""
        rows = [(j, t, p) for j, t in pairs for p in self.feasible[j]]
        cols = self.milp.add_vars(len(rows), lb=0, ub=1, integer=True)
        j = np.array([r[0] for r in rows], np.int64)
        t = np.array([r[1] for r in rows], np.int64)
        p = np.array([r[2] for r in rows], float)
        self._o = (j, t, cols)
        self._n = (j, t, cols, p)
        self.open, self.n = {}, {}
        if settings.PLAN_MILP.get("site_vars", True) and len(rows):
            # one "open" column per (candidate, year), o = Σ_p Y[j, p, t]: rows that ask "is j open"
            # (coverage, fixed cost, site counts, 一街道一普惠) read one column instead of one per size.
            # Continuous (integral whenever the Y are): declared integer, HiGHS branched on it and the
            # 2-year shortfall stage went from 10 s to the 30 s limit
            key, inv = np.unique(j * self.n_years + t, return_inverse=True)
            ocols = self.milp.add_vars(len(key), lb=0, ub=1)
            self.add_rows(f"{self.rule('sites').name}:open", np.r_[inv, np.arange(len(key))], np.r_[cols, ocols],
                          np.r_[-np.ones(len(cols)), np.ones(len(key))], len(key), lo=0.0, hi=0.0)
            self._o = (key // self.n_years, key % self.n_years, ocols)
            # size column (consecutive from cols[0]) → its (candidate, year); sizes of each
            self._open_of = (int(cols[0]), inv, ocols, np.bincount(inv, minlength=len(key)))
        if self.cumulative and self.n_years > 1:
            col = {(a, b, q): c for a, b, q, c in zip(j.tolist(), t.tolist(), p.tolist(), cols.tolist(), strict=True)}
            prev = [(c, col[(a, b + 1, q)]) for (a, b, q), c in col.items() if (a, b + 1, q) in col]
            if prev:
                lo_hi = np.array(prev, np.int64)
                k = np.arange(len(prev))
                self.add_rows(f"{self.rule('phasing').name}:累计", np.r_[k, k], np.r_[lo_hi[:, 0], lo_hi[:, 1]],
                              np.r_[np.ones(len(k)), -np.ones(len(k))], len(k), hi=0.0)

    def _generators(self) -> list[tuple[str, float]]:
        """Class types as MILP counts with their caps: the smallest class unbounded, every other size
        k at most ``s0 / gcd(s0, s_k) − 1`` times (that many of k equal a number of the smallest ones),
        so one total has one representation and the solver does not branch over equivalent mixes.
        The reported mix is chosen afterwards (:func:`class_mix`)."""
        kinds = sorted(self.class_sizes, key=lambda k: (self.class_sizes[k], k))
        s0 = self.class_sizes[kinds[0]]
        out = [(kinds[0], np.inf)]
        for k in kinds[1:]:
            cap = s0 // np.gcd(s0, self.class_sizes[k]) - 1
            if cap > 0:
                out.append((k, float(cap)))
        return out

    def add_site_counts(self, *, by_street: bool = False) -> None:
        """Integer counts of open sites per group of interchangeable candidates (same fixed cost, cost
        per place and sizes) and year: ``N[g, t] = Σ_{j in g} open[j]`` (by year t, or opening in year t).

        A valid equality that adds no solution; the solver branches on a count ("at most 27 sites of
        this kind") instead of on one of many interchangeable sites, which closes the gap left by a
        budget that no whole number of sites fills exactly.

        ``by_street``: instead, one count per 街道 and cost kind (fixed cost, cost per place; sizes may
        differ) — "how many sites of this kind in this 街道 by this year", the decision the place
        targets, each read per 街道, turn on (block ``street_counts``).
        """
        if by_street:
            key = [(str(self.site_street[j]), float(self.fixed_cost[j]), float(self.cost_per_place[j]))
                   for j in range(self.n_sites)]
        else:
            key = [(float(self.fixed_cost[j]), float(self.cost_per_place[j]), tuple(self.feasible[j]))
                   for j in range(self.n_sites)]
        block = "street_counts" if by_street else "site_counts"
        groups: dict[tuple, list[int]] = {}
        for j in np.flatnonzero(self.allowed):
            groups.setdefault(key[j], []).append(int(j))
        if by_street:
            groups = dict(sorted(groups.items()))  # 街道 by 街道
        for members in groups.values():
            if len(members) < 2:
                continue
            mask = np.zeros(self.n_sites, bool)
            mask[members] = True
            for t in range(self.n_years):
                cols, coef = self.open_terms(sites=mask, upto=t) if self.cumulative else self.open_terms(sites=mask, year=t)
                if not len(cols):
                    continue
                nvar = self.milp.add_vars(1, lb=0, ub=len(members), integer=True)
                self.add_row(block, np.r_[cols, nvar], np.r_[coef, -1.0], lo=0.0, hi=0.0)

    def add_budget_cut(self, block: str, budget: float, *, upto: int | None = None,
                       year: int | None = None) -> None:
        """Valid row ``places (by year upto / opening in year / at the end) ≤ most places the budget
        buys in whole sites`` (:func:`max_places_within`): the LP relaxation would buy a fraction of
        a site with the rest of the budget, and the solver cannot prove on its own that no whole
        combination does as well."""
        opts = self._row_options(np.ones(self.n_sites, bool), upto if upto is not None else year)
        most = max_places_within(budget, opts)
        if most is None or most >= sum(max((p for _, p in o), default=0) for o in opts):
            return
        cols, size = self.factor_open(*self.places_terms(upto=upto, year=year))
        if len(cols):
            self.add_row(block, cols, size, hi=float(most))

    # ------------------------------------------------------------------ facts
    @property
    def phased(self) -> bool:
        return self.years[0] is not None

    @property
    def cumulative(self) -> bool:
        """Variables mean "open by year t" (else "opens in year t")."""
        return self.formulation == "cumulative"

    @property
    def n_years(self) -> int:
        return len(self.years)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @property
    def street_ids(self) -> list[str]:
        return [str(s) for s in self.streets.index]

    @cached_property
    def _street_names(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.streets["name"].items()}

    def street_name(self, sid: str) -> str:
        return self._street_names.get(str(sid), str(sid))

    def street_label(self, sid: str) -> str:
        return f"{self.street_name(sid)} ({sid})"

    def site_index(self, site_id: str) -> int:
        return int(np.flatnonzero(self.site_ids == site_id)[0])

    def rule(self, key: str) -> Any:
        return next(r for r in self.rules if r.key == key)

    @cached_property
    def min_cost(self) -> np.ndarray:
        """Cheapest cost of each candidate (its smallest whole-class size), inf when it cannot open."""
        return np.array([self.fixed_cost[j] + self.cost_per_place[j] * f[0] if f else np.inf
                         for j, f in enumerate(self.feasible)])

    def forced_sites(self) -> list[tuple[str, int, float]]:
        """Sites any plan must open: (label, candidate, cheapest cost) for each required site and, for
        each 街道 lacking a 普惠 institution with no required site inside, its cheapest allowed site."""
        mc = self.min_cost
        req = [j for j in map(self.site_index, self.options.required) if self.allowed[j]]
        out = [(str(self.site_ids[j]), j, float(mc[j])) for j in req]
        covered = {self.site_street[j] for j in req}
        for sid in self.rule("one_puhui").lacking(self) if self.options.strict else ():
            js = np.flatnonzero((self.site_street == sid) & self.allowed)
            if sid in covered or not len(js):
                continue
            jb = int(js[np.argmin(mc[js])])
            out.append((f"{self.street_name(sid)}:{self.site_ids[jb]}", jb, float(mc[jb])))
        return out

    # ------------------------------------------------------------------ expressions
    def _select(self, j: np.ndarray, t: np.ndarray, sites, upto, year) -> np.ndarray:
        """Coefficient (0, ±1) of each variable in the selection: candidates in the mask ``sites``;
        the state by year ``upto``, what opens in ``year``, or (neither) the state at the end."""
        keep = np.ones(len(j))
        if sites is not None:
            keep *= np.asarray(sites, bool)[j]
        if not self.cumulative:
            if upto is not None:
                keep *= t <= upto
            if year is not None:
                keep *= t == year
            return keep
        if year is not None:
            return keep * ((t == year).astype(float) - (t == year - 1))
        return keep * (t == (self.n_years - 1 if upto is None else upto))

    def open_terms(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                   year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ open[j] over candidates in the mask ``sites``: by year ``upto``, opening in ``year``, or at
        the end (the default)."""
        j, t, c = self._o
        w = self._select(j, t, sites, upto, year)
        nz = w != 0
        return c[nz], w[nz]

    def places_terms(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                     year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ places[j] over the selection (as in :meth:`open_terms`)."""
        j, t, c, size = self._n
        w = self._select(j, t, sites, upto, year)
        nz = w != 0
        return c[nz], (size * w)[nz]

    def cost_terms(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                   year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ fixed_j open[j] + cost_per_place_j places[j] (万元) over the selection (as in
        :meth:`open_terms`: the sites open at the end by default)."""
        oj, ot, oc = self._o
        nj, nt, nc, size = self._n
        wo, wn = self._select(oj, ot, sites, upto, year), self._select(nj, nt, sites, upto, year)
        ko, kn = wo != 0, wn != 0
        return self.factor_open(np.r_[oc[ko], nc[kn]],
                                np.r_[(self.fixed_cost[oj] * wo)[ko], (self.cost_per_place[nj] * size * wn)[kn]])

    def coverage_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(community, candidate) pairs within reach that can add coverage."""
        coo = self.reach.tocoo()
        pi, pj = coo.row.astype(np.int64), coo.col.astype(np.int64)
        keep = (~self.covered0[pi]) & (self.infants[pi] > 0) & self.allowed[pj]
        return pi[keep], pj[keep]

    # ------------------------------------------------------------------ building
    def add_row(self, block: str, cols: np.ndarray, vals: np.ndarray | float, *, lo: float = -np.inf,
                hi: float = np.inf) -> int:
        r = self.milp.add_row(cols, vals, lo=lo, hi=hi)
        self.blocks[block].append(r)
        return r

    def add_rows(self, block: str, row: np.ndarray, col: np.ndarray, val: np.ndarray | float, n: int, *,
                 lo: float | np.ndarray = -np.inf, hi: float | np.ndarray = np.inf) -> np.ndarray:
        r = self.milp.add_rows(row, col, val, n, lo=lo, hi=hi)
        self.blocks[block].extend(r.tolist())
        return r

    def add_penalty(self, key: str, n: int, *, stage: str = "shortfall", ub: float = np.inf) -> np.ndarray:
        """``n`` shortfall columns (0 … ``ub``) of rule ``key``, minimised in ``stage``."""
        cols = self.milp.add_vars(n, lb=0, ub=ub)
        self.penalties[(stage, key)].append(cols)
        return cols

    def add_shortfall_row(self, block: str, key: str, need: float, *, sites: np.ndarray | None = None,
                          upto: int | None = None, ratio: float = 1.0, stage: str = "shortfall") -> np.ndarray:
        """Row ``ratio · places(sites, by year upto) + short ≥ need`` with ``short ≥ 0`` penalised in
        ``stage`` (rule ``key``); returns the shortfall column.  Remembered for :meth:`hold_shortfalls`."""
        sv = self.add_penalty(key, 1, stage=stage)
        cols, size = self.places_terms(sites=sites, upto=upto)
        coef = ratio * size
        if settings.PLAN_MILP.get("cap_coefficients", True) and need > 0:
            # one site with at least ``need`` meets the row alone: more counts for nothing (valid for
            # integer columns; much tighter where a site is larger than what the row needs)
            coef = np.minimum(coef, need)
        cols, coef = self.factor_open(cols, coef)
        self.add_row(block, np.r_[cols, sv], np.r_[coef, 1.0], lo=float(need))
        mask = np.ones(self.n_sites, bool) if sites is None else np.asarray(sites, bool)
        self.shortfall_rows.append((stage, int(sv[0]), mask, upto, float(ratio), float(need)))
        return sv

    def factor_open(self, cols: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Terms ``Σ coef·Y`` rewritten with the "open" columns (``PLAN_MILP["site_vars"]``): in each
        group of a (candidate, year)'s size columns with coefficients of one sign, the smallest
        magnitude ``m`` moves to its open column, ``m·o + Σ (coef − m)·Y`` — equal because
        ``o = Σ Y`` — and the size columns left with 0 drop out.  A row whose need is at most a site's
        smallest size (coefficients capped at the need) reads one column per site.  Other columns
        (e.g. shortfall or open columns) are kept as they are; repeated columns are summed.

        A group is factored only when it holds every size of its (candidate, year), as
        :meth:`places_terms` and :meth:`cost_terms` give them; else it is kept as it is."""
        cols, coef = np.asarray(cols, np.int64), np.asarray(coef, float)
        if self._open_of is None or not len(cols):
            return cols, coef
        cols, pos = np.unique(cols, return_inverse=True)
        coef = np.bincount(pos, weights=coef, minlength=len(cols))
        first, group, ocols, sizes = self._open_of
        k = cols - first
        y = (k >= 0) & (k < len(group)) & (coef != 0)
        out_c, out_v = [cols[~y]], [coef[~y]]
        for sign in (1.0, -1.0):
            part = y & (sign * coef > 0)
            if not part.any():
                continue
            c, v = cols[part], sign * coef[part]
            ug, inv, count = np.unique(group[c - first], return_inverse=True, return_counts=True)
            m = np.full(len(ug), np.inf)
            np.minimum.at(m, inv, v)
            m[count != sizes[ug]] = 0.0  # some sizes missing: keep the group as it is
            rest = v - m[inv]
            keep = rest > 1e-12
            out_c += [ocols[ug][m > 0], c[keep]]
            out_v += [sign * m[m > 0], sign * rest[keep]]
        uc, pos = np.unique(np.concatenate(out_c), return_inverse=True)
        return uc, np.bincount(pos, weights=np.concatenate(out_v), minlength=len(uc))

    def _row_options(self, mask: np.ndarray, upto: int | None) -> list[list[tuple[float, int]]]:
        """(cost, places) choices of the allowed sites in ``mask`` that can be open by year ``upto``."""
        last = self.n_years - 1 if upto is None else upto
        return [[(self.site_cost(j, p), p) for p in self.feasible[j]] for j in np.flatnonzero(mask & self.allowed)
                if not (self.phased and self.available_year[j] > self.years[last])]

    def add_value_cuts(self, *, most_per_row: int = 40) -> int:
        """For every shortfall row ``Σ coef·Y + short ≥ need``: ``short + b·cost ≥ need − a`` for each
        facet of :func:`value_envelope` of the row's sites (value = coefficient, capped at the need;
        cost of the row's sites open by its year).  Returns the rows added."""
        if self.formulation == "classes":
            return 0
        added = 0
        for _, col, mask, upto, ratio, need in self.shortfall_rows:
            opts = [[(c, min(ratio * p, need)) for c, p in o] for o in self._row_options(mask, upto)]
            facets = value_envelope(opts, cap=need)
            if not facets or len(facets) > most_per_row:
                continue
            cols, cost = self.cost_terms(sites=mask, upto=upto)
            for a, b in facets:
                if need - a <= 1e-9:
                    continue  # the facet allows the whole need for free: no cut
                self.add_row("value_cuts", np.r_[cols, col], np.r_[b * cost, 1.0], lo=need - a - 1e-7)
                added += 1
        return added

    def hold_shortfalls(self, stage: str, value: float, tol: float) -> int:
        """After a shortfall ``stage`` reached ``value``: when that is the least its rows allow even with
        every allowed site at its largest (Σ of each row's floor ``max(0, need − ratio·most)``), each
        row's shortfall is held at its floor and, its places now required, the sites of the row cost at
        least what whole sites need to provide them (:func:`min_cost_for_places`) — a valid row the
        LP relaxation (which opens sites by fractions) does not see.  Returns the rows added."""
        rows = [r for r in self.shortfall_rows if r[0] == stage]
        if not rows or self.formulation == "classes":
            return 0
        opts = [self._row_options(mask, upto) for _, _, mask, upto, _, _ in rows]
        floors = [max(0.0, need - ratio * sum(max(p for _, p in o) for o in opt))
                  for (_, _, _, _, ratio, need), opt in zip(rows, opts, strict=True)]
        if value > sum(floors) + tol:
            return 0
        added = 0
        share = tol / len(rows)
        for (_, col, mask, upto, ratio, need), opt, floor in zip(rows, opts, floors, strict=True):
            self.add_row(f"lexicographic:{stage}:floor", np.r_[col], np.r_[1.0], hi=floor + share)
            places = int(np.ceil((need - floor - share) / ratio - 1e-7))
            least = min_cost_for_places(places, opt)
            if places > 0 and np.isfinite(least):
                cols, cost = self.cost_terms(sites=mask, upto=upto)
                self.add_row(f"lexicographic:{stage}:cost", cols, cost, lo=least - 1e-6)
                added += 1
        return added

    def add_objective(self, stage: str, cols: np.ndarray, coefs: np.ndarray) -> None:
        self.objectives[stage].append((np.asarray(cols, np.int64), np.asarray(coefs, float)))

    def objective_terms(self, stage: str) -> tuple[np.ndarray, np.ndarray]:
        parts = [(c, np.ones(len(c))) for (s, _), cols in self.penalties.items() if s == stage for c in cols]
        parts += self.objectives.get(stage, [])
        if stage == "cost":
            parts.append(self.cost_terms())
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate([c for c, _ in parts]), np.concatenate([v for _, v in parts])

    def penalty_values(self) -> dict[str, float]:
        """Solved shortfall per rule key (summed over its columns; rounded to 0.001 — the later
        lexicographic stages may use the tolerance with which each optimum is held)."""
        if self.solution is None:
            return {}
        out: dict[str, float] = {}
        for (_, key), cols in self.penalties.items():
            out[key] = out.get(key, 0.0) + float(sum(self.solution[c].sum() for c in cols))
        return {k: round(v, 3) for k, v in out.items()}

    # ------------------------------------------------------------------ after solving
    def chosen_sites(self) -> list[tuple[int, int, int]]:
        """(candidate, year index, places) of every opened site (empty before solving)."""
        if self.solution is None:
            return []
        if self.formulation != "classes":
            j, t, c, p = self._n
            on = self.solution[c] > 0.5
            first: dict[tuple[int, int], int] = {}
            for a, b, q in zip(j[on].tolist(), t[on].tolist(), p[on].tolist(), strict=True):
                first[(a, int(q))] = min(b, first.get((a, int(q)), b))
            return [(a, b, q) for (a, q), b in sorted(first.items(), key=lambda kv: (kv[0][0], kv[1]))]
        out = []
        for (j, t), c in self.open.items():
            if self.solution[c] > 0.5:
                places = sum(self.class_sizes[k] * round(self.solution[c]) for (jj, k, tt), c in self.n.items()
                             if jj == j and tt == t)
                out.append((j, t, int(places)))
        return out

    def designated_new(self) -> dict[int, str]:
        """Candidates designated as demonstration institutions by the solution: candidate → district."""
        if self.solution is None:
            return {}
        return {j: district for district, cols in self.demonstration_vars.items()
                for j, c in cols.items() if self.solution[c] > 0.5}

    def site_cost(self, j: int, places: int) -> float:
        return float(self.fixed_cost[j] + self.cost_per_place[j] * places)

    def capacity_table(self) -> pd.DataFrame:
        """Per 街道: allowed candidates, chosen sites, places chosen and places still addable."""
        used = np.zeros(self.n_sites)
        for j, _, p in self.chosen_sites():
            used[j] = p
        most = np.array([f[-1] if f else 0 for f in self.feasible], float)
        df = pd.DataFrame({"street_id": self.site_street, "allowed": self.allowed, "chosen": used > 0,
                           "places": used, "spare": np.where(self.allowed, most - used, 0.0)})
        out = df.groupby("street_id")[["allowed", "chosen", "places", "spare"]].sum()
        out = out.reindex(self.street_ids, fill_value=0)
        out.attrs.update(budget_used_wan=float(sum(self.site_cost(j, p) for j, _, p in self.chosen_sites())),
                         sites=len(self.chosen_sites()))
        return out

    def block_sizes(self) -> dict[str, int]:
        """Rows per rule block (block names up to the first ':')."""
        out: dict[str, int] = {}
        for name, rows in self.blocks.items():
            key = name.split(":")[0]
            out[key] = out.get(key, 0) + len(rows)
        return out
