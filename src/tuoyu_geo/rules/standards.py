"""Standards judged on communities and districts: the residential 配建 standard, 一县区一示范."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .base import EPS, MET, Rule, status

__all__ = ["Demonstration", "Residential"]


def _sum_by(values: pd.Series, keys: pd.Series, index: pd.Index) -> pd.Series:
    return values.groupby(keys.to_numpy()).sum().reindex(index).fillna(0)


class Residential(Rule):
    """居住区配建: each community reaches ``rate × population / 1000`` places within its 15-minute circle.

    ``rate`` is ``policy.new_residential_per_1000`` for new communities (``is_new``), else
    ``policy.existing_residential_per_1000``; places are ``places15_all`` (places of all institutions
    within the largest walking threshold).  A community meets it when ``places15_all ≥ required``
    (equality meets).  Not constrained by the site plan: its remaining gap is reported per 街道.
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

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        return (f"{self.name}：{int(after['res_miss'])}个小区15分钟内托位不足，共缺"
                f"{after['res_missing_places']:.0f}个（方案不直接约束配建标准，新站点只按街道目标与覆盖选址）")


class Demonstration(Rule):
    """一县区一示范: every district has ``policy.demonstration_per_district`` demonstration institutions.

    Judged per district (:func:`tuoyu_geo.indicators.district_scorecard`), not per 街道.  New sites are
    not demonstration institutions, so the plan cannot meet it: a district without one is reported.
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
                "（需由卫健部门认定，方案不新增示范机构）")


def all_met(row: pd.Series, columns: list[str]) -> bool:
    return all(row.get(c, MET) == MET for c in columns)
