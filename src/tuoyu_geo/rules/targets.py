"""Place targets: places per 1000 residents, the 普惠 share (area-wide and per 街道), 一街道一普惠.

The MILP blocks write to a :class:`tuoyu_geo.plan.model.PlanModel` (``model``): places of new
sites come from ``model.places_terms(sites=…, upto=t)``, openings from ``model.open_terms(…)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import EPS, Rule, SiteContext, Unmet, status

__all__ = ["AreaPuhuiShare", "OnePuhuiPerStreet", "PlacesPer1000", "StreetPuhuiShare", "place_gap"]


def place_gap(target_per_1000: float, population: Any, places: Any) -> Any:
    """Whole places still needed: ``max(0, ceil(target × population / 1000 − places))``.

    >>> int(place_gap(4.5, 10_000, 40))
    5
    """
    need = target_per_1000 * np.asarray(population, dtype=float) / 1000.0 - np.asarray(places, dtype=float)
    out = np.ceil(need - EPS).clip(min=0)
    if isinstance(population, pd.Series):
        return pd.Series(out.astype(int), index=population.index)
    return out


class PlacesPer1000(Rule):
    """每千人口托位数: every 街道 reaches ``policy.places_per_1000`` places per 1000 residents.

    Plan: ``existing_s + Σ new places_s + short_s ≥ existing_s + place_gap_s`` for each year, the
    shortfall ``short_s ≥ 0`` penalised in the first lexicographic stage.
    """

    key = "places"
    name = "每千人口托位数"
    status_column = "status_places"
    columns = ("target_per_1000", "place_gap", "status_places")

    def score(self, facts: pd.DataFrame, policy: Any, communities: pd.DataFrame) -> pd.DataFrame:
        gap = place_gap(policy.places_per_1000, facts["population"], facts["places"])
        return pd.DataFrame({"target_per_1000": float(policy.places_per_1000), "place_gap": gap,
                             "status_places": status(gap == 0)}, index=facts.index)

    def score_total(self, total: dict, scorecard: pd.DataFrame, policy: Any) -> None:
        pop, places = float(scorecard["population"].sum()), float(scorecard["places"].sum())
        total["status_places"] = status(places >= policy.places_per_1000 * pop / 1000.0 - EPS)

    def build(self, model: Any) -> None:
        need = model.streets["place_gap"].to_numpy(float)
        for t in range(model.n_years):
            for k in np.flatnonzero(need > 0):
                sid = model.street_ids[k]
                model.add_shortfall_row(f"{self.name}:{sid}:{t}", self.key, float(need[k]),
                                        sites=model.site_street == sid, upto=t)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        gap = model.streets["place_gap"]
        out = {}
        for j in ctx.order:
            sid = model.site_street[j]
            if gap.get(sid, 0) > 0:
                out[j] = f"补充{model.street_name(sid)}托位{ctx.places[j]}个（规划前缺口{int(gap[sid])}个）"
        return out

    def describe(self, row: pd.Series) -> tuple[str, str]:
        return (f"{row['places_per_1000']:.2f}/千人（{int(row['places'])}托位，缺口{int(row['place_gap'])}）",
                f"≥{row['target_per_1000']:g}/千人")

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        return (f"{self.name}：缺口{int(after['place_gap'])}个托位（规划前{int(before['place_gap'])}个）；"
                + model.capacity_note(str(after["street_id"])))


class StreetPuhuiShare(Rule):
    """普惠占比（街道）: each 街道's 普惠 places reach ``policy.puhui_share`` of its places.

    Scored for every 街道 at ``policy.street_puhui_share`` (default the area target); in the plan
    (``PlanOptions.street_puhui_share``, on by default) a soft rule:
    ``P_pu,s + Σ new_s + short_s ≥ θ (P_s + Σ new_s)``, i.e. ``(1 − θ) Σ new_s + short_s ≥ θ P_s − P_pu,s``
    (new sites are 普惠), the shortfall in places penalised with the place targets.
    """

    key = "street_puhui_share"
    name = "普惠托位占比"
    status_column = "status_puhui_share"
    columns = ("puhui_share", "puhui_target", "status_puhui_share")

    def score(self, facts: pd.DataFrame, policy: Any, communities: pd.DataFrame) -> pd.DataFrame:
        places = facts["places"].astype(float)
        share = (facts["puhui_places"] / places.where(places > 0)).fillna(0.0).astype(float)
        level = float(policy.street_puhui_share)
        return pd.DataFrame({"puhui_share": share, "puhui_target": level,
                             "status_puhui_share": status(share >= level - EPS)}, index=facts.index)

    def score_total(self, total: dict, scorecard: pd.DataFrame, policy: Any) -> None:
        return None  # the total row is judged area-wide by AreaPuhuiShare

    def build(self, model: Any) -> None:
        if not model.options.street_puhui_share:
            return
        theta = float(model.policy.street_puhui_share)
        s = model.streets
        need = (theta * s["places"] - s["puhui_places"]).to_numpy(float)
        for t in range(model.n_years):
            for k in np.flatnonzero(need > EPS):
                sid = model.street_ids[k]
                model.add_shortfall_row(f"{self.name}:{sid}:{t}", self.key, float(need[k]),
                                        sites=model.site_street == sid, upto=t, ratio=1 - theta)

    def describe(self, row: pd.Series) -> tuple[str, str]:
        return f"{row['puhui_share']:.0%}（普惠{int(row['puhui_places'])}/{int(row['places'])}托位）", f"≥{row['puhui_target']:.0%}"

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        why = f"{self.name}：{after['puhui_share']:.0%} < 目标{after['puhui_target']:.0%}"
        if not model.options.street_puhui_share:
            return why + "（未按街道约束普惠占比：street_puhui_share=False）"
        return why + "；" + model.capacity_note(str(after["street_id"]))


class AreaPuhuiShare(Rule):
    """普惠占比（全区）: 普惠 places reach ``policy.puhui_share`` of all places of the area.

    Plan: ``P_pu + Σ new + short ≥ θ (P_all + Σ new)`` for each year, shortfall penalised.
    """

    key = "puhui_share"
    name = "全区普惠托位占比"

    def score_total(self, total: dict, scorecard: pd.DataFrame, policy: Any) -> None:
        places = float(scorecard["places"].sum())
        share = float(scorecard["puhui_places"].sum()) / places if places > 0 else 0.0
        total["puhui_share"] = share
        total["status_puhui_share"] = status(share >= policy.puhui_share - EPS)

    def build(self, model: Any) -> None:
        theta = float(model.policy.puhui_share)
        need = max(0.0, theta * float(model.streets["places"].sum()) - float(model.streets["puhui_places"].sum()))
        if need <= 0:
            return
        for t in range(model.n_years):
            model.add_shortfall_row(f"{self.name}:{t}", self.key, need, upto=t, ratio=1 - theta)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        return {j: "提高全区普惠托位占比" for j in ctx.order}


class OnePuhuiPerStreet(Rule):
    """一街道一普惠: every 街道 has at least one 普惠 institution (when the profile requires it).

    Plan: ``Σ_{j in 街道 s} open_j + u_s ≥ 1`` for every 街道 without an existing 普惠 institution;
    ``u_s ∈ [0, 1]`` is penalised in the first lexicographic stage (best effort), or absent
    (``strict``: the rule is hard and a 街道 without any candidate fails the plan).
    """

    key = "one_puhui"
    name = "一街道一普惠"
    status_column = "status_one_puhui"
    columns = ("has_puhui", "status_one_puhui")

    def applies(self, policy: Any) -> bool:
        return bool(policy.one_puhui_per_street)

    def score(self, facts: pd.DataFrame, policy: Any, communities: pd.DataFrame) -> pd.DataFrame:
        has = facts["puhui_institutions"] > 0
        return pd.DataFrame({"has_puhui": has, "status_one_puhui": status(has | (not self.applies(policy)))},
                            index=facts.index)

    def lacking(self, model: Any) -> list[str]:
        if not self.applies(model.policy):
            return []
        s = model.streets
        return [str(i) for i in s.index[~s["has_puhui"].astype(bool)]]

    def precheck(self, model: Any) -> list[Unmet]:
        out = []
        for sid in self.lacking(model):
            inside = np.flatnonzero(model.site_street == sid)
            if model.allowed[inside].any() or not model.options.strict:
                continue
            n_exc = int(np.isin(model.site_ids[inside], model.options.excluded).sum())
            why = (f"no existing 普惠 institution and no allowed candidate site in the 街道 ({len(inside)} "
                   f"candidate(s)" + (f", {n_exc} excluded" if len(inside) else "")
                   + (f", none available by {model.years[-1]}" if model.phased and len(inside) else "") + ")")
            out.append(Unmet(model.street_label(sid), self.name, why,
                             "add a candidate site (or a 普惠 institution) in each listed 街道, or un-exclude one"))
        return out

    def build(self, model: Any) -> None:
        for sid in self.lacking(model):
            cols, one = model.open_terms(sites=model.site_street == sid)
            if not model.options.strict:
                u = model.add_penalty(self.key, 1, stage="rules", ub=1.0)
                cols, one = np.r_[cols, u], np.r_[one, 1.0]
            if len(cols):
                model.add_row(f"{self.name}:{sid}", cols, one, lo=1.0)

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        todo, out = set(self.lacking(model)), {}
        for j in ctx.order:
            sid = model.site_street[j]
            if sid in todo:
                out[j] = f"满足{model.street_name(sid)}{self.name}"
                todo.discard(sid)
        return out

    def describe(self, row: pd.Series) -> tuple[str, str]:
        return f"普惠机构{int(row['puhui_institutions'])}个", "≥1个"

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        return f"{self.name}：街道内仍无普惠机构；" + model.capacity_note(str(after["street_id"]))
