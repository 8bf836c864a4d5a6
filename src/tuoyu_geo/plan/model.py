"""The plan's MILP under construction: sites sized in whole classes, the data the rules read, named
constraint blocks, penalties and objective terms.

Variables, for each allowed candidate j and year t (one year when not phased):

* ``open[j, t]`` ∈ {0, 1} — the site opens in year t;
* ``n[j, k, t]`` ∈ ℤ≥0 — classes of type k (乳儿班/托小班/托大班/混龄班, sizes from the profile);
  places ``P[j, t] = Σ_k size_k · n[j, k, t]`` with ``min_j · open ≤ P ≤ max_j · open``.

The rules (:mod:`tuoyu_geo.rules`) add their blocks through :meth:`PlanModel.add_row` /
:meth:`PlanModel.add_rows` (every row belongs to a named block), read expressions through
:meth:`places_terms`, :meth:`open_terms` and :meth:`cost_terms`, add shortfall columns through
:meth:`add_penalty` and objective terms through :meth:`add_objective`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

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
    formulation: str = "options"       # "options": one binary per feasible size; "classes": class counts
    designated: dict = field(default_factory=dict)          # district → existing institution ids
    demonstration_vars: dict = field(default_factory=dict)  # district → {candidate: column}
    open: dict = field(init=False)     # (j, t) → column
    n: dict = field(init=False)        # (j, k, t) → column
    _o: tuple = field(init=False)      # arrays (site, year, column) of the open variables
    _n: tuple = field(init=False)      # arrays (site, year, column, class size) of the class counts
    blocks: dict = field(default_factory=lambda: defaultdict(list))
    penalties: dict = field(default_factory=lambda: defaultdict(list))
    objectives: dict = field(default_factory=lambda: defaultdict(list))
    solution: np.ndarray | None = None

    def __post_init__(self) -> None:
        pairs = [(int(j), t) for j in np.flatnonzero(self.allowed) for t in range(self.n_years)
                 if not (self.phased and self.available_year[j] > self.years[t])]
        if self.formulation == "options":
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
        sizes is its LP relaxation, so bounds are tight; ``open`` = Σ of its binaries."""
        rows = [(j, t, p) for j, t in pairs for p in self.feasible[j]]
        cols = self.milp.add_vars(len(rows), lb=0, ub=1, integer=True)
        j = np.array([r[0] for r in rows], np.int64)
        t = np.array([r[1] for r in rows], np.int64)
        p = np.array([r[2] for r in rows], float)
        self._o = (j, t, cols)
        self._n = (j, t, cols, p)
        self.open, self.n = {}, {}

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

    # ------------------------------------------------------------------ facts
    @property
    def phased(self) -> bool:
        return self.years[0] is not None

    @property
    def n_years(self) -> int:
        return len(self.years)

    @property
    def n_sites(self) -> int:
        return len(self.site_ids)

    @property
    def street_ids(self) -> list[str]:
        return [str(s) for s in self.streets.index]

    def street_name(self, sid: str) -> str:
        return str(self.streets["name"].get(sid, sid))

    def street_label(self, sid: str) -> str:
        return f"{self.street_name(sid)} ({sid})"

    def site_index(self, site_id: str) -> int:
        return int(np.flatnonzero(self.site_ids == site_id)[0])

    def rule(self, key: str) -> Any:
        return next(r for r in self.rules if r.key == key)

    @property
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
    @staticmethod
    def _select(j: np.ndarray, t: np.ndarray, sites, upto, year) -> np.ndarray:
        keep = np.ones(len(j), bool)
        if sites is not None:
            keep &= np.asarray(sites, bool)[j]
        if upto is not None:
            keep &= t <= upto
        if year is not None:
            keep &= t == year
        return keep

    def open_terms(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                   year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ open[j, t] over candidates in the mask ``sites``, years ≤ ``upto`` or == ``year``."""
        j, t, c = self._o
        keep = self._select(j, t, sites, upto, year)
        return c[keep], np.ones(int(keep.sum()))

    def places_terms(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                     year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ places[j, t] = Σ size_k n[j, k, t] over the selection (as in :meth:`open_terms`)."""
        j, t, c, size = self._n
        keep = self._select(j, t, sites, upto, year)
        return c[keep], size[keep]

    def cost_terms(self, *, year: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ fixed_j open[j, t] + cost_per_place_j places[j, t] (万元), all years or one."""
        oj, ot, oc = self._o
        nj, nt, nc, size = self._n
        ko, kn = self._select(oj, ot, None, None, year), self._select(nj, nt, None, None, year)
        return (np.r_[oc[ko], nc[kn]], np.r_[self.fixed_cost[oj[ko]], self.cost_per_place[nj[kn]] * size[kn]])

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
        if self.formulation == "options":
            j, t, c, p = self._n
            on = self.solution[c] > 0.5
            return [(int(a), int(b), int(q)) for a, b, q in zip(j[on], t[on], p[on], strict=True)]
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
