"""The plan's MILP under construction: site size options as variables, the data the rules read,
named constraint blocks, penalties and objective terms.

Variables: one binary ``y_o`` per allowed (candidate j, size option m, year t).  A size option is a
whole number of classes (:func:`class_options`).  The rules (:mod:`tuoyu_geo.rules`) add their
blocks through :meth:`PlanModel.add_row` / :meth:`PlanModel.add_rows` (every row belongs to a named
block), their shortfall columns through :meth:`PlanModel.add_penalty` and objective terms through
:meth:`PlanModel.add_objective`.
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

__all__ = ["CLASS_ORDER", "PlanModel", "class_options"]

#: Class types added in this order to build a site's size options (then the cycle repeats).
CLASS_ORDER = ("托大班", "托小班", "乳儿班")


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
    out: list[tuple[int, str]] = []
    counts = dict.fromkeys(types, 0)
    total, k = 0, 0
    while types:
        t = types[k % len(types)]
        if total + class_sizes[t] > max_places:
            break
        total += int(class_sizes[t])
        counts[t] += 1
        k += 1
        if total >= min_places:
            out.append((total, "+".join(f"{n}×{c}" for n, c in counts.items() if c)))
    have = {p for p, _ in out}
    for t in types if not out else ():
        s = int(class_sizes[t])
        if min_places <= s <= max_places and s not in have:
            out.append((s, f"{t}×1"))
            have.add(s)
    return sorted(out)


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
    size_options: list             # class_options per candidate
    available_year: np.ndarray
    fixed_cost: np.ndarray
    cost_per_place: np.ndarray
    allowed: np.ndarray            # may open at all (not excluded, has a size, available in time)
    years: tuple                   # (None,) when not phased
    infants: np.ndarray            # per community
    covered0: np.ndarray           # community already within reach of an existing 普惠 institution
    reach: sp.csr_matrix           # communities × candidates within the coverage radius
    radius_m: float
    demand_factor: float
    oj: np.ndarray = field(init=False)
    om: np.ndarray = field(init=False)
    ot: np.ndarray = field(init=False)
    osize: np.ndarray = field(init=False)
    ocost: np.ndarray = field(init=False)
    y: np.ndarray = field(init=False)
    blocks: dict = field(default_factory=lambda: defaultdict(list))
    penalties: dict = field(default_factory=lambda: defaultdict(list))
    objectives: dict = field(default_factory=lambda: defaultdict(list))
    solution: np.ndarray | None = None

    def __post_init__(self) -> None:
        rows = [(j, m, t, p, self.fixed_cost[j] + self.cost_per_place[j] * p)
                for j in np.flatnonzero(self.allowed) for m, (p, _) in enumerate(self.size_options[j])
                for t in range(self.n_years)
                if not (self.phased and self.available_year[j] > self.years[t])]
        cols = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
        self.oj, self.om, self.ot = (np.asarray(c, np.int64) for c in cols[:3])
        self.osize, self.ocost = (np.asarray(c, float) for c in cols[3:])
        self.y = self.milp.add_vars(len(self.oj), lb=0, ub=1, integer=True)

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
        return np.array([min((self.fixed_cost[j] + self.cost_per_place[j] * p for p, _ in opts), default=np.inf)
                         for j, opts in enumerate(self.size_options)])

    def forced_sites(self) -> list[tuple[str, int, float]]:
        """Sites any plan must open: (label, candidate, cheapest cost) for each required site and, for
        each 街道 lacking a 普惠 institution with no required site inside, its cheapest allowed site."""
        mc = self.min_cost
        req = [j for j in map(self.site_index, self.options.required) if self.allowed[j]]
        out = [(str(self.site_ids[j]), j, float(mc[j])) for j in req]
        covered = {self.site_street[j] for j in req}
        for sid in self.rule("one_puhui").lacking(self):
            js = np.flatnonzero((self.site_street == sid) & self.allowed)
            if sid in covered or not len(js):
                continue
            jb = int(js[np.argmin(mc[js])])
            out.append((f"{self.street_name(sid)}:{self.site_ids[jb]}", jb, float(mc[jb])))
        return out

    # ------------------------------------------------------------------ selections
    def options_of(self, *, sites: np.ndarray | None = None, upto: int | None = None,
                   year: int | None = None) -> np.ndarray:
        """Option indices, optionally of candidates in the boolean mask ``sites``, of years ≤ ``upto``
        or of year index ``year``."""
        keep = np.ones(len(self.oj), bool)
        if sites is not None:
            keep &= np.asarray(sites, bool)[self.oj]
        if upto is not None:
            keep &= self.ot <= upto
        if year is not None:
            keep &= self.ot == year
        return np.flatnonzero(keep)

    def options_by_site(self, *, upto: int) -> dict[int, np.ndarray]:
        o = self.options_of(upto=upto)
        order = np.argsort(self.oj[o], kind="stable")
        uj, starts = np.unique(self.oj[o][order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        return {int(j): o[order[a:b]] for j, a, b in zip(uj, starts, ends, strict=True)}

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

    def add_penalty(self, key: str, n: int) -> np.ndarray:
        """``n`` shortfall columns (≥ 0) of rule ``key``, minimised in the first stage."""
        cols = self.milp.add_vars(n, lb=0)
        self.penalties[key].append(cols)
        return cols

    def add_objective(self, stage: str, cols: np.ndarray, coefs: np.ndarray) -> None:
        self.objectives[stage].append((np.asarray(cols, np.int64), np.asarray(coefs, float)))

    def objective_terms(self, stage: str) -> tuple[np.ndarray, np.ndarray]:
        if stage == "shortfall":
            parts = [c for cols in self.penalties.values() for c in cols]
            cols = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            return cols, np.ones(len(cols))
        if stage == "cost":
            return self.y, self.ocost
        parts = self.objectives.get(stage, [])
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate([c for c, _ in parts]), np.concatenate([v for _, v in parts])

    # ------------------------------------------------------------------ after solving
    def chosen(self) -> np.ndarray:
        """Option indices of the solution (empty before solving)."""
        if self.solution is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self.solution[self.y] > 0.5)

    def capacity_table(self) -> pd.DataFrame:
        """Per 街道: allowed candidates, chosen sites, places chosen and places still addable."""
        ch = self.chosen()
        used = np.zeros(self.n_sites)
        used[self.oj[ch]] = self.osize[ch]
        most = np.array([max((p for p, _ in o), default=0) for o in self.size_options], float)
        df = pd.DataFrame({"street_id": self.site_street, "allowed": self.allowed, "chosen": used > 0,
                           "places": used, "spare": np.where(self.allowed, most - used, 0.0)})
        out = df.groupby("street_id")[["allowed", "chosen", "places", "spare"]].sum()
        out = out.reindex(self.street_ids, fill_value=0)
        out.attrs.update(budget_used_wan=float(self.ocost[ch].sum()), sites=int(len(ch)))
        return out

    def block_sizes(self) -> dict[str, int]:
        """Rows per rule block (block names up to the first ':')."""
        out: dict[str, int] = {}
        for name, rows in self.blocks.items():
            key = name.split(":")[0]
            out[key] = out.get(key, 0) + len(rows)
        return out
