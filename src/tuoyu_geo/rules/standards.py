"""Standards judged on communities and districts: the residential 配建 standard, 一县区一示范."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import EPS, Rule, SiteContext, Unmet, status

__all__ = ["Demonstration", "Residential"]


def _sum_by(values: pd.Series, keys: pd.Series, index: pd.Index) -> pd.Series:
    return values.groupby(keys.to_numpy()).sum().reindex(index).fillna(0)


class Residential(Rule):
    """居住区配建: each community reaches ``rate × population / 1000`` places within its 15-minute circle.

    ``rate`` is ``policy.new_residential_per_1000`` for new communities (``is_new``), else
    ``policy.existing_residential_per_1000``; places are ``places15_all`` (places of all institutions
    within the largest walking threshold).  A community meets it when ``places15_all ≥ required``
    (equality meets).

    Plan (a soft rule, its own lexicographic stage after the place targets): for each community i
    missing ``m_i`` places, ``Σ_{j within the largest threshold of i} places_j + r_i ≥ m_i`` with
    ``r_i ≥ 0`` penalised.  A 街道 whose missing communities have no candidate within reach is
    reported as such (no candidate can fix it), not as a planning failure.
    """

    key = "residential"
    name = "居住区配建标准"
    status_column = "status_residential"
    columns = ("res_meet", "res_miss", "res_missing_places", "status_residential")
    community_columns = ("standard_per_1000", "required_places", "meets_standard", "missing_places")

    def score_communities(self, cs: pd.DataFrame, policy: Any) -> pd.DataFrame:
        rate = pd.Series(np.where(cs["is_new"].astype(bool), policy.new_residential_per_1000,
                                  policy.existing_residential_per_1000), index=cs.index, dtype=float)
        required = cs["population"].astype(float) * rate / 1000.0
        have = cs["places15_all"].astype(float)
        meets = have >= required - EPS
        return pd.DataFrame({"standard_per_1000": rate, "required_places": required, "meets_standard": meets,
                             "missing_places": (required - have).clip(lower=0.0).where(~meets, 0.0)},
                            index=cs.index)

    def score(self, facts: pd.DataFrame, policy: Any, communities: pd.DataFrame) -> pd.DataFrame:
        keys = communities["street_id"].astype(str)
        meets = communities["meets_standard"].astype(bool)
        miss = _sum_by((~meets).astype(int), keys, facts.index).astype(int)
        return pd.DataFrame({"res_meet": _sum_by(meets.astype(int), keys, facts.index).astype(int),
                             "res_miss": miss,
                             "res_missing_places": _sum_by(communities["missing_places"], keys, facts.index)
                             .astype(float),
                             "status_residential": status(miss == 0)}, index=facts.index)

    def describe(self, row: pd.Series) -> tuple[str, str]:
        return (f"未达标小区{int(row['res_miss'])}个（缺{row['res_missing_places']:.0f}托位）", "0个")

    def build(self, model: Any) -> None:
        need = model.residential_missing
        fix = model.residential_reach
        for i in np.flatnonzero(need > EPS):
            js = fix.indices[fix.indptr[i]:fix.indptr[i + 1]]
            mask = np.zeros(model.n_sites, bool)
            mask[js] = True
            mask &= model.allowed
            if not mask.any():
                continue
            for t in range(model.n_years):
                model.add_shortfall_row(f"{self.name}:{i}:{t}", self.key, float(need[i]), sites=mask, upto=t,
                                        stage="residential")

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        sid = str(after["street_id"])
        miss = model.residential_misses(sid)
        def how(fix: list, total: int) -> str:
            if fix:
                return "可由" + "、".join(fix[:3]) + "补足"
            return "周边候选点已全部选用仍不足" if total else "15分钟内无候选点"

        parts = [f"{name}缺{int(np.ceil(m - EPS))}个（{how(fix, total)}）" for name, m, fix, total in miss[:5]]
        more = f"等{len(miss)}个小区" if len(miss) > 5 else ""
        head = f"{self.name}：{'、'.join(parts)}{more}"
        if miss and not any(total for *_, total in miss):
            return head + "；这些小区15分钟内无候选点，不属于规划失败（需新增候选点或配建）"
        return head + "；" + model.capacity_note(sid)


class Demonstration(Rule):
    """一县区一示范: every district has ``policy.demonstration_per_district`` demonstration institutions.

    Judged per district (:func:`tuoyu_geo.indicators.district_scorecard`).  For a district short of
    them the plan designates institutions of at least ``policy.demonstration_min_places`` places:
    existing 普惠 ones first (largest, then smallest id), then new sites, chosen by the MILP —
    ``d_j ≤ Σ_t open[j, t]``, ``places_j ≥ min · d_j``, ``Σ_j d_j + u ≥ need`` with ``u`` penalised in
    the first stage (best effort) or absent (``strict``).
    """

    key = "demonstration"
    name = "一县区一示范"

    def applies(self, policy: Any) -> bool:
        return int(policy.demonstration_per_district) > 0

    def score_district(self, demo_count: pd.Series, policy: Any) -> pd.Series:
        need = int(policy.demonstration_per_district)
        return status(demo_count >= need)

    def explain_district(self, district: str, count: int, policy: Any) -> str:
        return (f"{self.name}：{district or '全区'}有示范机构{count}个，要求{int(policy.demonstration_per_district)}个"
                f"（无可指定的≥{int(policy.demonstration_min_places)}托位普惠机构或候选点）")

    def prepare(self, model: Any) -> None:
        """Designate existing 普惠 institutions (≥ the minimum size; largest first, then smallest id) in
        districts short of demonstration institutions: ``model.designated[district]``."""
        if not self.applies(model.policy):
            return
        inst = model.institutions
        district_of = model.streets["district"].astype(str)
        counts = model.streets.groupby("district")["demonstration_institutions"].sum()
        for district, count in counts.items():
            need = int(model.policy.demonstration_per_district) - int(count)
            if need <= 0:
                continue
            ok = inst[(district_of.reindex(inst["street_id"].astype(str)).to_numpy() == str(district))
                      & inst["puhui"].astype(bool).to_numpy() & ~inst["is_demonstration"].astype(bool).to_numpy()
                      & (inst["places"].to_numpy() >= model.policy.demonstration_min_places)]
            ok = ok.assign(_id=ok.index.astype(str)).sort_values(["places", "_id"], ascending=[False, True])
            if len(ok):
                model.designated[str(district)] = tuple(ok["_id"][:need])

    def shortages(self, model: Any) -> dict[str, int]:
        """District → demonstration institutions still needed after designating existing ones."""
        if not self.applies(model.policy):
            return {}
        out = {}
        for district, count in model.streets.groupby("district")["demonstration_institutions"].sum().items():
            need = int(model.policy.demonstration_per_district) - int(count) - len(model.designated.get(district, ()))
            if need > 0:
                out[str(district)] = need
        return out

    def precheck(self, model: Any) -> list[Unmet]:
        out = []
        for district, need in self.shortages(model).items():
            ok = self._candidates(model, district)
            if model.options.strict and len(ok) < need:
                out.append(Unmet(district or "全区", self.name, f"needs {need} demonstration institution(s); no "
                                 f"existing 普惠 institution or candidate can hold {model.policy.demonstration_min_places} places",
                                 "add a large enough candidate site, or designate an institution in the data"))
        return out

    def _candidates(self, model: Any, district: str) -> np.ndarray:
        in_district = model.streets["district"].astype(str).reindex(model.site_street).to_numpy() == district
        big = np.array([bool(f) and f[-1] >= model.policy.demonstration_min_places for f in model.feasible])
        return np.flatnonzero(in_district & big & model.allowed)

    def build(self, model: Any) -> None:
        for district, need in self.shortages(model).items():
            js = self._candidates(model, district)
            d = model.milp.add_vars(len(js), lb=0, ub=1, integer=True)
            model.demonstration_vars[district] = dict(zip(js.tolist(), d.tolist(), strict=True))
            for j, dj in zip(js, d, strict=True):
                mask = np.zeros(model.n_sites, bool)
                mask[j] = True
                o, one = model.open_terms(sites=mask)
                model.add_row(f"{self.name}:{district}", np.r_[o, dj], np.r_[-one, 1.0], hi=0.0)
                pc, size = model.places_terms(sites=mask)
                model.add_row(f"{self.name}:{district}", np.r_[pc, dj],
                              np.r_[size, -float(model.policy.demonstration_min_places)], lo=0.0)
            cols, coefs = d, np.ones(len(d))
            if not model.options.strict:
                u = model.add_penalty(self.key, 1, stage="rules", ub=float(need))
                cols, coefs = np.r_[cols, u], np.r_[coefs, 1.0]
            if len(cols):
                model.add_row(f"{self.name}:{district}", cols, coefs, lo=float(need))

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        chosen = model.designated_new()
        return {j: f"指定为{district or '全区'}示范机构（{self.name}）" for j, district in chosen.items() if j in ctx.order}
