"""Plan-only rules: site choice (one size per site, required/excluded), budget, maximum number of
new sites, phasing, and the walking-coverage objective."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import settings
from ..network.straight import straight_line_label
from .base import Rule, SiteContext, Unmet

__all__ = ["Budget", "Coverage", "MaxSites", "Phasing", "SiteChoice"]


class SiteChoice(Rule):
    """指定点位 and whole classes: a candidate opens at most once (exactly once when required), never
    when excluded, not before its ``available_year``; an open site has whole classes adding up to
    ``min_places … max_places`` places (at least one class).

    Rows per candidate j: ``Σ_t open[j, t] ≤ 1`` (= 1 when required); per year
    ``Σ_k size_k n[j, k, t] ≤ max_j · open[j, t]`` and ``≥ min_j · open[j, t]``.
    """

    key = "sites"
    name = "指定点位"

    def precheck(self, model: Any) -> list[Unmet]:
        out = []
        for s in model.options.required:
            j = model.site_index(s)
            label = model.street_label(model.site_street[j])
            if not model.feasible[j]:
                out.append(Unmet(label, self.name, f"required site {s} cannot hold whole classes between "
                                 f"min_places and max_places (class sizes {model.class_sizes})",
                                 "widen the site's min_places/max_places or drop it from required"))
            elif not model.allowed[j]:
                out.append(Unmet(label, self.name, f"required site {s} is not available until "
                                 f"{model.available_year[j]}", "add a later year or drop it from required"))
        return out

    def build(self, model: Any) -> None:
        required = {model.site_index(s) for s in model.options.required}
        for j in np.flatnonzero(model.allowed):
            mask = np.zeros(model.n_sites, bool)
            mask[j] = True
            cols, one = model.open_terms(sites=mask)
            model.add_row(f"{self.name}:{model.site_ids[j]}", cols, one, lo=1.0 if j in required else 0.0, hi=1.0)
            if model.formulation != "classes":
                continue  # every size binary already lies within min … max
            for t in range(model.n_years):
                o, _ = model.open_terms(sites=mask, year=t)
                if not len(o):
                    continue
                pc, size = model.places_terms(sites=mask, year=t)
                model.add_row(f"{self.name}:{model.site_ids[j]}", np.r_[pc, o], np.r_[size, -model.max_places[j]],
                              hi=0.0)
                model.add_row(f"{self.name}:{model.site_ids[j]}", np.r_[pc, o], np.r_[size, -model.min_places[j]],
                              lo=0.0)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        req = set(model.options.required)
        return {j: "指定必选点位" for j in ctx.order if model.site_ids[j] in req}


class MaxSites(Rule):
    """最大新增点位数: at most ``max_new_sites`` new sites."""

    key = "max_sites"
    name = "最大新增点位数"

    def precheck(self, model: Any) -> list[Unmet]:
        cap = model.options.max_new_sites
        if cap is None:
            return []
        forced = model.forced_sites()
        if len(forced) <= cap:
            return []
        n_req = sum(label in model.options.required for label, _, _ in forced)
        return [Unmet("全区", self.name, f"{n_req} required site(s) + {len(forced) - n_req} 街道 needing a 普惠 "
                      f"site ({model.rule('one_puhui').name}) = {len(forced)} > max_new_sites={cap}",
                      f"allow at least {len(forced)} new sites")]

    def build(self, model: Any) -> None:
        if model.options.max_new_sites is not None:
            cols, one = model.open_terms()
            model.add_row(self.name, cols, one, hi=float(model.options.max_new_sites))


class Budget(Rule):
    """预算: total cost ``Σ fixed_cost·open + cost_per_place·places ≤ budget_wan`` (万元)."""

    key = "budget"
    name = "预算"

    def precheck(self, model: Any) -> list[Unmet]:
        budget = model.options.budget_wan
        if budget is None:
            return []
        parts = model.forced_sites()
        total = float(sum(c for _, _, c in parts))
        if total <= budget + 1e-9:
            return []
        detail = ", ".join(f"{label} {c:.1f}" for label, _, c in parts)
        return [Unmet("全区", self.name, f"budget {budget:.1f} 万元 is below the cheapest forced sites "
                      f"({total:.1f} 万元: {detail})", f"raise the budget to at least {total:.1f} 万元")]

    def build(self, model: Any) -> None:
        if model.options.budget_wan is not None:
            cols, cost = model.cost_terms()
            model.add_row(self.name, cols, cost, hi=float(model.options.budget_wan))
            if settings.PLAN_MILP.get("budget_cuts", True):
                model.add_budget_cut(f"{self.name}:places", float(model.options.budget_wan))


class Phasing(Rule):
    """分期建设: with ``years``, a site opens in one year (not before it is available); places and
    coverage accumulate; ``budget_per_year_wan`` bounds each year's cost."""

    key = "phasing"
    name = "分期建设"

    def year_budget(self, model: Any, t: int) -> float | None:
        b = model.options.budget_per_year_wan
        if b is None or isinstance(b, (int, float)):
            return b
        if isinstance(b, dict):
            return b.get(model.years[t])
        return b[t] if t < len(b) else None

    def spent_by(self, model: Any, t: int) -> float | None:
        """Budget of the years up to year index ``t`` (万元); None once one of them has none."""
        out = 0.0
        for k in range(t + 1):
            b = self.year_budget(model, k)
            if b is None:
                return None
            out += float(b)
        return out

    def budget_by(self, model: Any, t: int) -> float | None:
        """What the plan may have spent by year index ``t`` (万元): the years' budgets so far (when
        phased) or the total ``budget_wan``, whichever is less; None when neither bounds it."""
        caps = [c for c in (self.spent_by(model, t) if model.phased else None, model.options.budget_wan)
                if c is not None]
        return min(float(c) for c in caps) if caps else None

    def build(self, model: Any) -> None:
        if not model.phased:
            return
        for t, year in enumerate(model.years):
            b = self.year_budget(model, t)
            if b is not None:
                cols, cost = model.cost_terms(year=t)
                model.add_row(f"{self.name}:{year}", cols, cost, hi=float(b))
            if settings.PLAN_MILP.get("budget_cuts", True) and settings.PLAN_MILP.get("year_budget_cuts", False):
                if b is not None:
                    model.add_budget_cut(f"{self.name}:places", float(b), year=t)
                if t > 0 and self.spent_by(model, t) is not None:
                    model.add_budget_cut(f"{self.name}:places", self.budget_by(model, t), upto=t)


class Coverage(Rule):
    """步行覆盖: infants newly within ``minutes`` of a 普惠 institution (second lexicographic stage).

    ``z_i ≤ Σ_{j within reach of i} open_j`` for communities not yet within reach of an existing
    普惠 institution; coverage = Σ infants_i z_i (summed over years when phased).  With
    ``capacity_aware``, children are assigned: ``Σ_j x_ij ≤ f·infants_i``, ``Σ_i x_ij ≤ places_j``
    and (disaggregated, valid and much tighter in the LP) ``x_ij ≤ f·infants_i·open_j``.
    """

    key = "coverage"
    name = "步行覆盖"

    def build(self, model: Any) -> None:
        pi, pj = model.coverage_pairs()
        for t in range(model.n_years):
            if model.options.capacity_aware:
                self._assign(model, t, pi, pj)
            else:
                self._cover(model, t, pi, pj)

    def hold(self, model: Any, stage: str, value: float, tol: float) -> bool:
        """When the coverage stage reaches (within ``tol``) the most every community can get — all
        infants within reach covered, or every child's demand served — each community's own row is
        bounded below by its most (less its share of ``tol``): the same set of plans, but the cost
        stage then sees "this community must be served" row by row instead of one aggregated row."""
        if stage != "coverage":
            return False
        terms = model.coverage_terms
        most = sum(float(cap.sum()) for *_, cap in terms)
        if not terms or value < most - tol:
            return False
        for rows, cols, coef, cap in terms:
            model.add_rows(f"{self.name}:served", rows, cols, coef, len(cap), lo=cap - tol * cap / max(most, 1e-9))
        # the rows sum to most − tol ≥ value − tol: the stage's own row is implied
        return True

    @staticmethod
    def _site(model: Any, j: int) -> np.ndarray:
        mask = np.zeros(model.n_sites, bool)
        mask[j] = True
        return mask

    def _cover(self, model: Any, t: int, pi: np.ndarray, pj: np.ndarray) -> None:
        """``z_g ≤ Σ_{j within reach} open_j`` per community — or, with ``PLAN_MILP["merge_reach"]``
        (not with ``equity``, whose rows are per 街道), per group of communities with the same
        candidates in reach, weighted by the group's infants: the same plans and the same LP bound
        (the communities of a group have identical rows), with fewer rows."""
        merge = bool(settings.PLAN_MILP.get("merge_reach", True)) and not model.options.equity
        gi, gj, wg = self._demand_groups(pi, pj, model.infants, merge=merge)
        z = model.milp.add_vars(len(wg), lb=0, ub=1)
        model.add_objective("coverage", z, wg)
        model.coverage_terms.append((np.arange(len(wg)), z, wg, wg))
        opened = {int(j): model.open_terms(sites=self._site(model, j), upto=t) for j in np.unique(gj)}
        rr, cc, vv = [np.arange(len(wg))], [z], [np.ones(len(wg))]
        for g, j in zip(gi, gj, strict=True):
            o, coef = opened[int(j)]
            rr.append(np.full(len(o), g))
            cc.append(o)
            vv.append(-coef)
        model.add_rows(f"{self.name}:{t}", np.concatenate(rr), np.concatenate(cc), np.concatenate(vv), len(wg),
                       hi=0.0)
        if model.options.equity and t == model.n_years - 1:
            self._max_min(model, np.unique(pi), z)  # not merged: one z per community, in id order

    def _max_min(self, model: Any, ui: np.ndarray, z: np.ndarray) -> None:
        """``m ≤ (covered infants_s + Σ_{i in s} w_i z_i) / infants_s`` for every 街道 s with community
        infants; ``m`` maximised in the ``equity`` stage (before coverage)."""
        m = model.milp.add_vars(1, lb=0, ub=1)
        model.add_objective("equity", m, np.ones(1))
        street = model.community_street
        w = model.infants
        for sid in np.unique(street):
            in_s = street == sid
            total = float(w[in_s].sum())
            if total <= 0:
                continue
            sel = in_s[ui]
            model.add_row(f"{self.name}:equity:{sid}", np.r_[z[sel], m], np.r_[w[ui][sel], -total],
                          lo=-float(w[in_s & model.covered0].sum()))

    @staticmethod
    def merge_same_reach(pi: np.ndarray, pj: np.ndarray,
                         demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Communities with the same candidates in reach as one demand group: the (group, candidate)
        pairs and each group's demand (the sum of its communities' ``demand[i]``).

        Exact for the assignment: a group's flow ``x_gj`` splits over its communities in proportion to
        their demand, ``x_ij = x_gj · d_i / d_g``, which meets ``Σ_j x_ij ≤ d_i`` and ``x_ij ≤ d_i·open_j``
        whenever the group's rows hold; and summing the communities' rows gives the group's.  So the
        same plans and the same LP bound, with fewer rows and columns (bundled 徐汇区: 774 communities
        and 4,355 pairs → 256 groups and 1,303 pairs).  Groups are numbered in order of their first
        community.

        >>> gi, gj, d = Coverage.merge_same_reach(np.array([0, 0, 1, 1, 2]), np.array([5, 7, 7, 5, 7]),
        ...                                       np.array([1.0, 2.0, 4.0]))
        >>> gi.tolist(), gj.tolist(), d.tolist()
        ([0, 0, 1], [5, 7, 7], [3.0, 4.0])
        """
        order = np.lexsort((pj, pi))
        pi, pj = pi[order], pj[order]
        ui, start, count = np.unique(pi, return_index=True, return_counts=True)
        group: dict[bytes, int] = {}
        g_of = np.fromiter((group.setdefault(pj[s:s + c].tobytes(), len(group))
                            for s, c in zip(start, count, strict=True)), np.int64, len(ui))
        first = np.unique(g_of, return_index=True)[1]
        gi = np.repeat(np.arange(len(first)), count[first])
        gj = np.concatenate([pj[start[k]:start[k] + count[k]] for k in first]) if len(first) else pj[:0]
        return gi, gj, np.bincount(g_of, weights=demand[ui], minlength=len(first))

    @classmethod
    def _demand_groups(cls, pi: np.ndarray, pj: np.ndarray, weight: np.ndarray, *,
                       merge: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group of each pair, candidate of each pair, weight of each group): communities with the
        same candidates in reach merged (:meth:`merge_same_reach`), or one group per community (in
        id order)."""
        if merge:
            return cls.merge_same_reach(pi, pj, weight)
        ui, gi = np.unique(pi, return_inverse=True)
        return gi, pj, weight[ui]

    def _assign(self, model: Any, t: int, pi: np.ndarray, pj: np.ndarray) -> None:
        f, w = model.demand_factor, model.infants
        merge = settings.PLAN_MILP.get("merge_demand", "highs")
        gi, gj, dg = self._demand_groups(pi, pj, f * w, merge=merge is True or (
            merge == "highs" and str(model.options.solver).lower() == "highs"))
        x = model.milp.add_vars(len(gi), lb=0, ub=dg[gi])
        model.add_objective("coverage", x, np.ones(len(gi)))
        model.add_rows(f"{self.name}:demand:{t}", gi, x, 1.0, len(dg), hi=dg)
        model.coverage_terms.append((gi, x, np.ones(len(x)), dg))
        js = np.unique(gj)
        jpos = np.full(model.n_sites, -1, np.int64)
        jpos[js] = np.arange(len(js))
        rr, cc, vv = [jpos[gj]], [x], [np.ones(len(gj))]
        # a site serves at most the demand within its reach: places beyond it count for nothing here
        reach_demand = np.bincount(gj, weights=dg[gi], minlength=model.n_sites)
        cap = settings.PLAN_MILP.get("cap_coefficients", True)
        for j in js:
            pc, size = model.places_terms(sites=self._site(model, j), upto=t)
            pc, size = model.factor_open(pc, np.minimum(size, reach_demand[j]) if cap else size)
            rr.append(np.full(len(pc), jpos[j]))
            cc.append(pc)
            vv.append(-size)
        model.add_rows(f"{self.name}:capacity:{t}", np.concatenate(rr), np.concatenate(cc), np.concatenate(vv),
                       len(js), hi=0.0)
        if settings.PLAN_MILP.get("disaggregate", True):
            # x_gj ≤ d_g·open_j: valid (no child goes to a closed site) and much tighter in the LP,
            # where a site opened to a fraction would otherwise serve its whole catchment
            rr, cc, vv = [np.arange(len(gi))], [x], [np.ones(len(gi))]
            for j in js:
                o, coef = model.open_terms(sites=self._site(model, j), upto=t)
                k = np.flatnonzero(gj == j)
                rr.append(np.repeat(k, len(o)))
                cc.append(np.tile(o, len(k)))
                vv.append(-np.outer(dg[gi[k]], coef).ravel())
            model.add_rows(f"{self.name}:link:{t}", np.concatenate(rr), np.concatenate(cc), np.concatenate(vv),
                           len(gi), hi=0.0)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        how = "" if ctx.detour_factor is None else f"（无路网，按{straight_line_label(ctx.detour_factor, short=True)}估算）"
        return {j: f"新增{ctx.minutes:g}分钟步行圈{how}内婴幼儿{ctx.marginal[j]:.0f}人"
                for j in ctx.order if ctx.marginal.get(j, 0) > 0}
