"""Plan-only rules: site choice (one size per site, required/excluded), budget, maximum number of
new sites, phasing, and the walking-coverage objective."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Rule, SiteContext, Unmet

__all__ = ["Budget", "Coverage", "MaxSites", "Phasing", "SiteChoice"]


class SiteChoice(Rule):
    """指定点位: each candidate opens with at most one size (exactly one when required), never when
    excluded, not before its ``available_year``."""

    key = "sites"
    name = "指定点位"

    def precheck(self, model: Any) -> list[Unmet]:
        out = []
        for s in model.options.required:
            j = model.site_index(s)
            label = model.street_label(model.site_street[j])
            if not model.size_options[j]:
                out.append(Unmet(label, self.name, f"required site {s} has no size option between min_places and "
                                 f"max_places from class sizes {dict(model.policy.class_sizes)}",
                                 "widen the site's min_places/max_places or drop it from required"))
            elif not model.allowed[j]:
                out.append(Unmet(label, self.name, f"required site {s} is not available until "
                                 f"{model.available_year[j]}", "add a later year or drop it from required"))
        return out

    def build(self, model: Any) -> None:
        lo = np.zeros(model.n_sites)
        lo[[model.site_index(s) for s in model.options.required]] = 1.0
        model.add_rows(self.name, model.oj, model.y, 1.0, model.n_sites, lo=lo, hi=1.0)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        req = set(model.options.required)
        return {k: "指定必选点位" for k in ctx.order if model.site_ids[model.oj[k]] in req}


class MaxSites(Rule):
    """最大新增点位数: at most ``max_new_sites`` new sites."""

    key = "max_sites"
    name = "最大新增点位数"

    def precheck(self, model: Any) -> list[Unmet]:
        cap = model.options.max_new_sites
        forced = model.forced_sites()
        if cap is None or len(forced) <= cap:
            return []
        n_req = sum(label in model.options.required for label, _, _ in forced)
        return [Unmet("全区", self.name, f"{n_req} required site(s) + {len(forced) - n_req} 街道 needing a 普惠 "
                      f"site ({model.rule('one_puhui').name}) = {len(forced)} > max_new_sites={cap}",
                      f"allow at least {len(forced)} new sites")]

    def build(self, model: Any) -> None:
        if model.options.max_new_sites is not None:
            model.add_row(self.name, model.y, 1.0, hi=float(model.options.max_new_sites))


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
            model.add_row(self.name, model.y, model.ocost, hi=float(model.options.budget_wan))


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

    def build(self, model: Any) -> None:
        if not model.phased:
            return
        for t, year in enumerate(model.years):
            b = self.year_budget(model, t)
            if b is not None:
                o = model.options_of(year=t)
                model.add_row(f"{self.name}:{year}", model.y[o], model.ocost[o], hi=float(b))


class Coverage(Rule):
    """步行覆盖: infants newly within ``minutes`` of a 普惠 institution (second lexicographic stage).

    ``z_i ≤ Σ_{j within reach of i} open_j`` for communities not yet within reach of an existing
    普惠 institution; coverage = Σ infants_i z_i (summed over years when phased).  With
    ``capacity_aware``, children are assigned: ``Σ_j x_ij ≤ f·infants_i``, ``Σ_i x_ij ≤ places_j``.
    """

    key = "coverage"
    name = "步行覆盖"

    def build(self, model: Any) -> None:
        pi, pj = model.coverage_pairs()
        for t in range(model.n_years):
            by_site = model.options_by_site(upto=t)
            if model.options.capacity_aware:
                self._assign(model, t, pi, pj, by_site)
            else:
                self._cover(model, t, pi, pj, by_site)

    def _cover(self, model: Any, t: int, pi: np.ndarray, pj: np.ndarray, by_site: dict) -> None:
        ui = np.unique(pi)
        z = model.milp.add_vars(len(ui), lb=0, ub=1)
        model.add_objective("coverage", z, model.infants[ui])
        zpos = np.full(len(model.infants), -1, np.int64)
        zpos[ui] = np.arange(len(ui))
        rr, cc, vv = [np.arange(len(ui))], [z], [np.ones(len(ui))]
        for i, j in zip(pi, pj, strict=True):
            o = by_site.get(int(j))
            if o is None:
                continue
            rr.append(np.full(len(o), zpos[i]))
            cc.append(model.y[o])
            vv.append(-np.ones(len(o)))
        model.add_rows(f"{self.name}:{t}", np.concatenate(rr), np.concatenate(cc), np.concatenate(vv), len(ui),
                       hi=0.0)

    def _assign(self, model: Any, t: int, pi: np.ndarray, pj: np.ndarray, by_site: dict) -> None:
        f, w = model.demand_factor, model.infants
        x = model.milp.add_vars(len(pi), lb=0, ub=f * w[pi])
        model.add_objective("coverage", x, np.ones(len(pi)))
        ui, inv = np.unique(pi, return_inverse=True)
        model.add_rows(f"{self.name}:demand:{t}", inv, x, 1.0, len(ui), hi=f * w[ui])
        js = np.unique(pj)
        jpos = np.full(model.n_sites, -1, np.int64)
        jpos[js] = np.arange(len(js))
        rr, cc, vv = [jpos[pj]], [x], [np.ones(len(pj))]
        for j in js:
            o = by_site.get(int(j), np.zeros(0, np.int64))
            rr.append(np.full(len(o), jpos[j]))
            cc.append(model.y[o])
            vv.append(-model.osize[o])
        model.add_rows(f"{self.name}:capacity:{t}", np.concatenate(rr), np.concatenate(cc), np.concatenate(vv),
                       len(js), hi=0.0)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        return {k: f"新增{ctx.minutes:g}分钟步行圈内婴幼儿{ctx.marginal[k]:.0f}人"
                for k in ctx.order if ctx.marginal.get(k, 0) > 0}
