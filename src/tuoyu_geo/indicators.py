"""Policy scorecards: per-街道 and per-community indicators against a policy profile.

Every number can be checked by hand from the input layers and the access result; the definitions
below are the ones written on the 说明 sheet of ``scorecard.xlsx`` (:data:`DEFINITIONS`).

Definitions
-----------
普惠 (affordable)
    An institution whose ``puhui`` column is true (given, or derived from ``category`` when the file
    has no ``puhui`` column: 公办, 普惠, 幼儿园托班, 社区托育点, 综合服务中心 …, see :mod:`tuoyu_geo.io`).
    Every institution of the layer counts, whatever its ``status``.
Places of a 街道
    Sum of ``places`` of the institutions whose ``street_id`` is that 街道 (given, or found by
    location).  Institutions just across a boundary do not count for the neighbour.
places_per_1000
    ``places / population × 1000`` with the 街道 population from the streets layer (NaN when the
    population is 0).
place_gap
    ``max(0, ceil(target × population / 1000 − places))`` — whole places still needed to reach the
    target; 0 when met.
puhui_share
    ``puhui_places / places``; 0 (status 未达标) when the 街道 has no places.
has_puhui
    At least one 普惠 institution in the 街道 (一街道一普惠).
coverN_any / coverN_puhui
    Infant-weighted share of the 街道's communities that have an institution (any / 普惠) within the
    N-minute walking distance (``policy.threshold_m(N)`` metres on the walk network, distance ≤
    threshold): ``Σ infants of covered communities / Σ infants of all communities`` of the 街道.
    Weights are the communities' ``infants``; NaN when the 街道 has no community infants.
sfca_mean
    Infant-weighted mean of the communities' 2SFCA accessibility ``sfca_all`` (places per 1000
    infants within the largest threshold); a community without a value counts as 0.
Residential standard (居住区配建标准)
    A community needs ``population × rate / 1000`` places within its 15-minute circle, with
    ``rate = new_residential_per_1000`` for new communities (``is_new``) and
    ``existing_residential_per_1000`` otherwise.  It meets the standard when ``places15_all``
    (places of all institutions within the largest walking threshold, normally 15 min) is
    ≥ the required number.  ``res_meet``/``res_miss`` count communities of the 街道;
    ``res_missing_places = Σ max(0, required − places15_all)`` (not rounded).
Status
    ``status_places`` 达标 when place_gap = 0; ``status_puhui_share`` when puhui_share ≥ target;
    ``status_one_puhui`` when has_puhui (always 达标 if the profile does not require it);
    ``status_residential`` when res_miss = 0; ``status`` 达标 only if all four are 达标.

Examples
--------
>>> import tuoyu_geo as tg
>>> area = tg.datasets.shanghai_xuhui()                          # doctest: +SKIP
>>> acc = tg.access.compute_access(area)                          # doctest: +SKIP
>>> sc = tg.indicators.street_scorecard(area, acc, tg.load_policy("wuxi-2025"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import DataError
from ._xlsx import atomic_paths, build_workbook
from .policy import Policy, load_policy

if TYPE_CHECKING:  # pragma: no cover
    from .access import Access
    from .io import StudyArea

__all__ = [
    "COLUMN_LABELS_ZH",
    "DEFINITIONS",
    "MET",
    "NOT_MET",
    "community_scorecard",
    "street_scorecard",
    "street_total",
    "write_scorecard",
]

log = logging.getLogger(__name__)

MET, NOT_MET = "达标", "未达标"
_EPS = 1e-9
_STATUS_RULES = ("status_places", "status_puhui_share", "status_one_puhui", "status_residential")

# ------------------------------------------------------------------------------ labels & definitions

COLUMN_LABELS_ZH: dict[str, str] = {
    # street scorecard
    "street_id": "街道编码",
    "name": "名称",
    "district": "区",
    "population": "常住人口",
    "infants": "0–3岁婴幼儿数",
    "communities": "小区数",
    "community_infants": "小区婴幼儿数合计",
    "institutions": "托育机构数",
    "places": "托位数",
    "puhui_institutions": "普惠机构数",
    "puhui_places": "普惠托位数",
    "demonstration_institutions": "示范机构数",
    "places_per_1000": "每千人口托位数",
    "target_per_1000": "每千人口托位目标",
    "place_gap": "托位缺口",
    "puhui_share": "普惠托位占比",
    "puhui_target": "普惠占比目标",
    "has_puhui": "有普惠机构（一街道一普惠）",
    "sfca_mean": "可达托位（2SFCA，每千婴幼儿，均值）",
    "res_meet": "配建达标小区数",
    "res_miss": "配建未达标小区数",
    "res_missing_places": "小区配建缺口托位合计",
    "status_places": "千人托位状态",
    "status_puhui_share": "普惠占比状态",
    "status_one_puhui": "一街道一普惠状态",
    "status_residential": "居住区配建状态",
    "status": "综合状态",
    # community scorecard
    "community_id": "小区编码",
    "street_name": "所属街道",
    "is_new": "新建小区",
    "built_year": "建成年份",
    "standard_per_1000": "配建标准（每千人托位）",
    "required_places": "应配托位数",
    "places15_all": "15分钟内托位数",
    "places15_puhui": "15分钟内普惠托位数",
    "meets_standard": "配建达标",
    "missing_places": "配建缺口托位",
    "snap_m": "接入路网距离（米）",
    "nearest_any_m": "最近托育机构距离（米）",
    "nearest_puhui_m": "最近普惠机构距离（米）",
    "sfca_all": "可达托位（2SFCA，每千婴幼儿）",
    "sfca_puhui": "可达普惠托位（2SFCA，每千婴幼儿）",
    "g2sfca_all": "可达托位（高斯2SFCA，每千婴幼儿）",
    "g2sfca_puhui": "可达普惠托位（高斯2SFCA，每千婴幼儿）",
    "sfca_all_per1000_pop": "可达托位（2SFCA，每千人口）",
    "sfca_puhui_per1000_pop": "可达普惠托位（2SFCA，每千人口）",
}
for _m in (5, 10, 15):
    COLUMN_LABELS_ZH[f"cover{_m}_any"] = f"{_m}分钟覆盖率（任一机构）"
    COLUMN_LABELS_ZH[f"cover{_m}_puhui"] = f"{_m}分钟覆盖率（普惠机构）"
    COLUMN_LABELS_ZH[f"within{_m}_any"] = f"{_m}分钟内有托育机构"
    COLUMN_LABELS_ZH[f"within{_m}_puhui"] = f"{_m}分钟内有普惠机构"

DEFINITIONS: dict[str, str] = {
    "普惠": "机构图层 puhui 列为真的机构（未给 puhui 列时按类别判定：公办、普惠、幼儿园托班、社区托育点、"
            "综合服务中心等）。机构图层中的所有机构都计入，不论 status。",
    "street_id": "街道/乡镇编码（街道图层；小区表中为小区所属街道，给定或按位置判定）。",
    "name": "名称（街道图层/小区图层 name）。",
    "district": "所属区（街道图层 district）。",
    "community_id": "小区编码（小区图层）。",
    "street_name": "小区所属街道名称。",
    "is_new": "新建小区（小区图层 is_new），适用新建居住区配建标准。",
    "built_year": "建成年份（小区图层 built_year，可空）。",
    "snap_m": "小区点到最近步行路网边的距离（米），已计入所有步行距离。",
    "population": "街道常住人口（街道图层 population）。",
    "infants": "街道0–3岁婴幼儿数（街道图层 infants；缺失时 = 常住人口 × 政策 infant_share）。",
    "communities": "街道内小区数（小区 street_id）。",
    "community_infants": "街道内各小区 infants 之和，覆盖率与2SFCA均值的权重。",
    "institutions": "street_id 为该街道的托育机构数（按机构所在街道计，不跨界）。",
    "places": "street_id 为该街道的托育机构托位数之和。",
    "puhui_institutions": "该街道内普惠机构数。",
    "puhui_places": "该街道内普惠机构托位数之和。",
    "demonstration_institutions": "该街道内示范机构数（is_demonstration）。",
    "places_per_1000": "托位数 ÷ 常住人口 × 1000（人口为0时为空）。",
    "target_per_1000": "政策每千人口托位目标（places_per_1000）。",
    "place_gap": "max(0, ceil(目标 × 常住人口 ÷ 1000 − 托位数))，达到目标还需的整数托位；达标时为0。",
    "puhui_share": "普惠托位数 ÷ 托位数；无托位时记为0（未达标）。",
    "puhui_target": "政策普惠托位占比目标（puhui_share）。",
    "has_puhui": "街道内至少有1个普惠机构（一街道一普惠）。",
    "coverN": "coverN_any / coverN_puhui：街道内小区中，N分钟步行距离内（路网距离 ≤ 政策 circle_m[N] 米，"
              "含接入路网距离）有任一/普惠托育机构的小区的婴幼儿数之和 ÷ 街道内全部小区婴幼儿数之和"
              "（0–1，以婴幼儿数加权）；街道内无小区婴幼儿时为空。",
    "sfca_mean": "街道内小区2SFCA可达性 sfca_all（最大步行阈值内，每千婴幼儿可达托位数）的婴幼儿加权平均；"
                 "无值的小区按0计。",
    "standard_per_1000": "小区配建标准：新建小区（is_new）= 政策 new_residential_per_1000，"
                         "既有小区 = existing_residential_per_1000（每千人托位）。",
    "required_places": "小区应配托位 = 小区人口 × 配建标准 ÷ 1000（不取整）。",
    "places15_all": "小区最大步行阈值（通常15分钟）内所有托育机构托位数之和（同一机构可计入多个小区）。",
    "places15_puhui": "小区最大步行阈值内普惠机构托位数之和。",
    "meets_standard": "15分钟内托位数 ≥ 应配托位数 即达标（相等算达标）。",
    "missing_places": "max(0, 应配托位数 − 15分钟内托位数)（不取整）。",
    "res_meet": "街道内配建达标的小区数。",
    "res_miss": "街道内配建未达标的小区数。",
    "res_missing_places": "街道内各小区 max(0, 应配托位 − 15分钟内托位数) 之和（不取整）。",
    "nearest_any_m": "到最近托育机构的步行路网距离（米，含接入路网距离）；最大阈值内没有则为空。",
    "nearest_puhui_m": "到最近普惠机构的步行路网距离（米）；最大阈值内没有则为空。",
    "withinN": "withinN_any / withinN_puhui：N分钟步行距离（路网距离 ≤ circle_m[N] 米）内有任一/普惠机构。",
    "sfca": "2SFCA：R_j = 托位_j ÷ Σ(阈值内小区婴幼儿)，A_i = Σ(阈值内 R_j) × 1000，即每千婴幼儿可达托位；"
            "高斯2SFCA 两步均以 G(d) = (e^{-½(d/D)²} − e^{-½}) / (1 − e^{-½}) 加权；"
            "per1000_pop 为按人口计的同一指标。",
    "status_places": "托位缺口 = 0 为达标。",
    "status_puhui_share": "普惠托位占比 ≥ 目标为达标（无托位为未达标）。",
    "status_one_puhui": "有普惠机构为达标（政策不要求一街道一普惠时恒为达标）。",
    "status_residential": "配建未达标小区数 = 0 为达标（街道内无小区亦为达标）。",
    "status": "四项规则（千人托位、普惠占比、一街道一普惠、居住区配建）全部达标才为达标。",
    "合计": "合计行：人口、婴幼儿、机构、托位、缺口（各街道缺口之和，即每个街道都达标所需托位）、小区数等为求和；"
            "每千人口托位数、普惠占比用合计数重新计算；覆盖率与2SFCA均值按全部小区婴幼儿加权重新计算；"
            "千人托位、普惠占比状态按全区合计判定，一街道一普惠与居住区配建状态要求所有街道/小区达标。",
    "取整": "表中数值不取整保存，XLSX 只改变显示格式（占比0.0%、每千人0.00、距离0）；托位缺口向上取整。",
}

_STREET_NUMBER_FORMATS: dict[str, str] = {
    "population": "#,##0", "infants": "#,##0.0", "community_infants": "#,##0.0", "places": "#,##0",
    "puhui_places": "#,##0", "places_per_1000": "0.00", "target_per_1000": "0.00", "place_gap": "#,##0",
    "puhui_share": "0.0%", "puhui_target": "0.0%", "sfca_mean": "0.00", "res_missing_places": "#,##0.0",
}
_COMMUNITY_NUMBER_FORMATS: dict[str, str] = {
    "population": "#,##0", "infants": "0.0", "standard_per_1000": "0.0", "required_places": "0.0",
    "places15_all": "#,##0", "places15_puhui": "#,##0", "missing_places": "0.0", "snap_m": "0",
    "nearest_any_m": "0", "nearest_puhui_m": "0", "sfca_all": "0.00", "sfca_puhui": "0.00",
    "g2sfca_all": "0.00", "g2sfca_puhui": "0.00", "sfca_all_per1000_pop": "0.00",
    "sfca_puhui_per1000_pop": "0.00", "built_year": "0",
}


def _label(col: str) -> str:
    """Chinese header of an English column (falls back to generated labels, then the name)."""
    if col in COLUMN_LABELS_ZH:
        return COLUMN_LABELS_ZH[col]
    m = re.fullmatch(r"(cover|within)(\d+(?:\.\d+)?)_(any|puhui)", col)
    if m:
        kind, minutes, what = m.groups()
        who = "任一机构" if what == "any" else "普惠机构"
        if kind == "cover":
            return f"{minutes}分钟覆盖率（{who}）"
        return f"{minutes}分钟内有{'托育机构' if what == 'any' else '普惠机构'}"
    return col


_COMMUNITY_DEFINITIONS: dict[str, str] = {
    "name": "小区名称（小区图层 name）。",
    "street_id": "小区所属街道编码（小区图层 street_id，缺失时按位置判定）。",
    "population": "小区人口（小区图层 population）。",
    "infants": "小区0–3岁婴幼儿数（小区图层 infants；缺失时 = 人口 × 政策 infant_share）。",
}


def _definition(col: str, sheet: str = "street") -> str:
    """Definition text of a column (``sheet`` = "street" or "community")."""
    if sheet == "community" and col in _COMMUNITY_DEFINITIONS:
        return _COMMUNITY_DEFINITIONS[col]
    if col in DEFINITIONS:
        return DEFINITIONS[col]
    if re.fullmatch(r"cover\d+(\.\d+)?_(any|puhui)", col):
        return DEFINITIONS["coverN"]
    if re.fullmatch(r"within\d+(\.\d+)?_(any|puhui)", col):
        return DEFINITIONS["withinN"]
    if "sfca" in col:
        return DEFINITIONS["sfca"]
    return ""


# ------------------------------------------------------------------------------------ helpers

def _minute_key(m: float) -> str:
    return str(int(m)) if float(m).is_integer() else str(m)


def _access_communities(area: StudyArea, access: Access) -> pd.DataFrame:
    """``access.communities`` aligned to ``area.communities`` (checks they belong together)."""
    ac = getattr(access, "communities", None)
    if not isinstance(ac, pd.DataFrame):
        raise DataError("access has no communities table", file="access",
                        fix="pass the result of tuoyu_geo.access.compute_access(area)")
    want = pd.Index(area.communities.index.astype(str))
    have = pd.Index(ac.index.astype(str))
    if not want.isin(have).all():
        missing = tuple(want[~want.isin(have)][:10])
        raise DataError(f"access result does not cover all communities of the area (e.g. {', '.join(missing)})",
                        file="access",
                        fix="recompute access for this area: tuoyu_geo.access.compute_access(area, policy)")
    need = ["places15_all"]
    for m in access.minutes:
        k = _minute_key(m)
        need += [f"within{k}_any", f"within{k}_puhui"]
    absent = [c for c in need if c not in ac.columns]
    if absent:
        raise DataError(f"access.communities lacks column(s) {', '.join(absent)}", file="access",
                        fix="recompute access with tuoyu_geo.access.compute_access")
    out = ac.copy()
    out.index = have
    return out.reindex(want)


def _sum_by(values: pd.Series, keys: pd.Series, index: pd.Index) -> pd.Series:
    return values.groupby(keys.values).sum().reindex(index).fillna(0)


def _status(ok: pd.Series | np.ndarray | bool) -> Any:
    if isinstance(ok, (bool, np.bool_)):
        return MET if ok else NOT_MET
    return pd.Series(np.where(np.asarray(ok, dtype=bool), MET, NOT_MET), index=getattr(ok, "index", None))


def _required(communities: pd.DataFrame, policy: Policy) -> tuple[pd.Series, pd.Series]:
    rate = pd.Series(np.where(communities["is_new"].astype(bool), policy.new_residential_per_1000,
                              policy.existing_residential_per_1000), index=communities.index, dtype=float)
    return rate, communities["population"].astype(float) * rate / 1000.0


def _place_gap(target: float, population: pd.Series, places: pd.Series) -> pd.Series:
    need = target * population.astype(float) / 1000.0 - places.astype(float)
    return np.ceil(need - _EPS).clip(lower=0).astype(int)


# ------------------------------------------------------------------------------- community card

def community_scorecard(area: StudyArea, access: Access, policy: Policy | str | None = None) -> gpd.GeoDataFrame:
    """Per-community scorecard: coverage flags, nearest distances, accessibility and the standard.

    Parameters
    ----------
    area : StudyArea
        The study area.
    access : Access
        Result of :func:`tuoyu_geo.access.compute_access` for ``area``.
    policy : Policy or str, optional
        Profile (default ``area.policy``); gives the residential standard.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per community (index ``community_id``, EPSG:4326, same order as
        ``area.communities``) with columns ``community_id, name, street_id, street_name,
        population, infants, is_new, built_year, within{N}_any, within{N}_puhui`` (N in
        ``access.minutes``), ``snap_m, nearest_any_m, nearest_puhui_m, places15_all,
        places15_puhui, sfca_all, sfca_puhui, g2sfca_all, g2sfca_puhui, sfca_all_per1000_pop,
        sfca_puhui_per1000_pop`` (those present in ``access.communities``), ``standard_per_1000,
        required_places, meets_standard, missing_places, geometry``.

    Notes
    -----
    ``standard_per_1000`` is ``policy.new_residential_per_1000`` for ``is_new`` communities and
    ``policy.existing_residential_per_1000`` otherwise; ``required_places = population ×
    standard_per_1000 / 1000``; ``meets_standard = places15_all ≥ required_places`` (equality meets);
    ``missing_places = max(0, required_places − places15_all)``.  Nothing is rounded.
    """
    pol = load_policy(policy if policy is not None else area.policy)
    com = area.communities
    ac = _access_communities(area, access)
    names = area.streets["name"].astype(str)
    out = pd.DataFrame(index=pd.Index(com.index.astype(str), name="community_id"))
    out["community_id"] = com["community_id"].astype(str).values
    out["name"] = com["name"].astype(str).values
    out["street_id"] = com["street_id"].astype(str).values
    out["street_name"] = out["street_id"].map(names).fillna("").values
    out["population"] = com["population"].astype(float).values
    out["infants"] = com["infants"].astype(float).values
    out["is_new"] = com["is_new"].astype(bool).values
    out["built_year"] = pd.to_numeric(com["built_year"], errors="coerce").values
    for m in access.minutes:
        k = _minute_key(m)
        for what in ("any", "puhui"):
            out[f"within{k}_{what}"] = ac[f"within{k}_{what}"].fillna(False).astype(bool).values
    for c in ("snap_m", "nearest_any_m", "nearest_puhui_m"):
        if c in ac.columns:
            out[c] = ac[c].astype(float).values
    out["places15_all"] = ac["places15_all"].fillna(0).astype(float).values
    if "places15_puhui" in ac.columns:
        out["places15_puhui"] = ac["places15_puhui"].fillna(0).astype(float).values
    for c in ("sfca_all", "sfca_puhui", "g2sfca_all", "g2sfca_puhui", "sfca_all_per1000_pop",
              "sfca_puhui_per1000_pop"):
        if c in ac.columns:
            out[c] = ac[c].astype(float).values
    rate, req = _required(com, pol)
    out["standard_per_1000"] = rate.values
    out["required_places"] = req.values
    out["meets_standard"] = (out["places15_all"] >= out["required_places"] - _EPS).values
    out["missing_places"] = (out["required_places"] - out["places15_all"]).clip(lower=0).values
    out.loc[out["meets_standard"], "missing_places"] = 0.0
    return gpd.GeoDataFrame(out, geometry=com.geometry.values, crs="EPSG:4326")


# ---------------------------------------------------------------------------------- street card

def street_scorecard(area: StudyArea, access: Access, policy: Policy | str | None = None) -> gpd.GeoDataFrame:
    """Per-街道 scorecard against a policy profile.

    Parameters
    ----------
    area : StudyArea
        The study area.
    access : Access
        Result of :func:`tuoyu_geo.access.compute_access` for ``area``.
    policy : Policy or str, optional
        Profile (default ``area.policy``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per 街道 (index ``street_id``, order of ``area.streets``, EPSG:4326) with columns
        ``street_id, name, district, population, infants, communities, community_infants,
        institutions, places, puhui_institutions, puhui_places, demonstration_institutions,
        places_per_1000, target_per_1000, place_gap, puhui_share, puhui_target, has_puhui,
        cover{N}_any … cover{N}_puhui`` (N in ``access.minutes``, shares 0–1 of infants),
        ``sfca_mean, res_meet, res_miss, res_missing_places, status_places, status_puhui_share,
        status_one_puhui, status_residential, status, geometry``.

    Notes
    -----
    Definitions (also in :data:`DEFINITIONS` and on the 说明 sheet):

    * 普惠 = ``institutions.puhui`` is true; institutions and places are counted in the 街道 of
      their ``street_id``.
    * ``places_per_1000 = places / population × 1000`` (NaN for zero population);
      ``place_gap = max(0, ceil(target × population / 1000 − places))``.
    * ``puhui_share = puhui_places / places`` (0 when there are no places, then 未达标).
    * ``cover{N}_{any|puhui}`` = Σ infants of the 街道's communities with ``within{N}_{any|puhui}``
      ÷ Σ infants of all its communities (NaN without community infants).
    * ``sfca_mean`` = infant-weighted mean of ``access.communities.sfca_all`` (missing → 0).
    * residential standard: see :func:`community_scorecard`; ``res_meet``/``res_miss`` count the
      街道's communities that meet/miss it, ``res_missing_places`` sums their missing places.
    * ``status_places`` 达标 iff ``place_gap == 0``; ``status_puhui_share`` iff ``puhui_share ≥
      policy.puhui_share``; ``status_one_puhui`` iff ``has_puhui`` (or the profile does not require
      it); ``status_residential`` iff ``res_miss == 0``; ``status`` 达标 iff all four are 达标.
    """
    pol = load_policy(policy if policy is not None else area.policy)
    st = area.streets
    idx = pd.Index(st.index.astype(str), name="street_id")
    inst = area.institutions
    isid = inst["street_id"].astype(str)
    puhui = inst["puhui"].astype(bool)
    places_i = inst["places"].astype(float)
    cs = community_scorecard(area, access, pol)
    csid = cs["street_id"].astype(str)
    w = cs["infants"].astype(float).fillna(0)

    out = pd.DataFrame(index=idx)
    out["street_id"] = st["street_id"].astype(str).values
    out["name"] = st["name"].astype(str).values
    out["district"] = (st["district"].astype(str).values if "district" in st.columns else "")
    out["population"] = st["population"].astype(float).values
    out["infants"] = st["infants"].astype(float).values
    out["communities"] = _sum_by(pd.Series(1, index=cs.index), csid, idx).astype(int)
    out["community_infants"] = _sum_by(w, csid, idx).astype(float)
    out["institutions"] = _sum_by(pd.Series(1, index=inst.index), isid, idx).astype(int)
    out["places"] = _sum_by(places_i, isid, idx).round().astype(int)
    out["puhui_institutions"] = _sum_by(puhui.astype(int), isid, idx).astype(int)
    out["puhui_places"] = _sum_by(places_i.where(puhui, 0.0), isid, idx).round().astype(int)
    demo = inst["is_demonstration"].astype(bool) if "is_demonstration" in inst.columns else puhui & False
    out["demonstration_institutions"] = _sum_by(demo.astype(int), isid, idx).astype(int)
    pop = out["population"]
    out["places_per_1000"] = (out["places"] / pop.where(pop > 0) * 1000.0).astype(float)
    out["target_per_1000"] = float(pol.places_per_1000)
    out["place_gap"] = _place_gap(pol.places_per_1000, pop, out["places"])
    out["puhui_share"] = (out["puhui_places"] / out["places"].where(out["places"] > 0)).fillna(0.0).astype(float)
    out["puhui_target"] = float(pol.puhui_share)
    out["has_puhui"] = out["puhui_institutions"] > 0
    wsum = out["community_infants"]
    for m in access.minutes:
        k = _minute_key(m)
        for what in ("any", "puhui"):
            covered = _sum_by(w.where(cs[f"within{k}_{what}"], 0.0), csid, idx)
            out[f"cover{k}_{what}"] = (covered / wsum.where(wsum > 0)).astype(float)
    sfca = cs["sfca_all"].fillna(0.0) if "sfca_all" in cs.columns else pd.Series(0.0, index=cs.index)
    out["sfca_mean"] = (_sum_by(sfca * w, csid, idx) / wsum.where(wsum > 0)).astype(float)
    meets = cs["meets_standard"].astype(bool)
    out["res_meet"] = _sum_by(meets.astype(int), csid, idx).astype(int)
    out["res_miss"] = _sum_by((~meets).astype(int), csid, idx).astype(int)
    out["res_missing_places"] = _sum_by(cs["missing_places"], csid, idx).astype(float)
    out["status_places"] = _status(out["place_gap"] == 0)
    out["status_puhui_share"] = _status(out["puhui_share"] >= pol.puhui_share - _EPS)
    out["status_one_puhui"] = _status(out["has_puhui"] | (not pol.one_puhui_per_street))
    out["status_residential"] = _status(out["res_miss"] == 0)
    out["status"] = _status((out[list(_STATUS_RULES)] == MET).all(axis=1))
    log.info("street scorecard (%s): %d of %d 街道 达标", pol.name, int((out["status"] == MET).sum()), len(out))
    return gpd.GeoDataFrame(out, geometry=st.geometry.values, crs="EPSG:4326")


def street_total(scorecard: pd.DataFrame, policy: Policy | str | None = None) -> pd.Series:
    """Area total row of a street scorecard (``street_id = "total"``, ``name = "合计"``).

    Counts (population, infants, communities, institutions, places, 普惠, place_gap, res_*) are
    summed — ``place_gap`` is the sum of the 街道 gaps, i.e. the places needed so that *every* 街道
    reaches the target.  Ratios are recomputed from the sums, never averaged: ``places_per_1000 =
    Σ places / Σ population × 1000``, ``puhui_share = Σ puhui_places / Σ places``, coverage and
    ``sfca_mean`` weighted by ``community_infants``.  ``status_places`` and ``status_puhui_share``
    judge the area-wide ratios; ``has_puhui``/``status_one_puhui`` and ``status_residential``
    require every 街道; ``status`` requires all four.

    Parameters
    ----------
    scorecard : DataFrame
        Result of :func:`street_scorecard`.
    policy : Policy or str, optional
        Only used when the scorecard lacks ``target_per_1000``/``puhui_target``.

    Returns
    -------
    pandas.Series
        Indexed like the scorecard's columns (without geometry).
    """
    sc = pd.DataFrame(scorecard).drop(columns=["geometry"], errors="ignore")
    t: dict[str, Any] = {}
    pol = load_policy(policy) if policy is not None else None
    for c in sc.columns:
        s = sc[c]
        if c in ("street_id",):
            t[c] = "total"
        elif c == "name":
            t[c] = "合计"
        elif c == "district":
            vals = sorted({str(v) for v in s if str(v)})
            t[c] = "、".join(vals)
        elif c in ("target_per_1000", "puhui_target"):
            t[c] = float(s.iloc[0]) if len(s) else np.nan
        elif pd.api.types.is_bool_dtype(s):
            t[c] = bool(s.all())
        elif pd.api.types.is_numeric_dtype(s) and not c.startswith(("cover", "sfca")) and c not in (
                "places_per_1000", "puhui_share"):
            t[c] = s.sum()
        else:
            t[c] = s.iloc[0] if len(s) else np.nan
    pop = float(sc["population"].sum())
    places = float(sc["places"].sum())
    t["places_per_1000"] = places / pop * 1000.0 if pop > 0 else np.nan
    t["puhui_share"] = float(sc["puhui_places"].sum()) / places if places > 0 else 0.0
    wts = sc["community_infants"].astype(float) if "community_infants" in sc.columns else sc["infants"].astype(float)
    wsum = float(wts.sum())
    for c in sc.columns:
        if c.startswith("cover") or c == "sfca_mean":
            t[c] = float((sc[c].fillna(0) * wts).sum() / wsum) if wsum > 0 else np.nan
    target = t.get("target_per_1000", pol.places_per_1000 if pol else np.nan)
    ptarget = t.get("puhui_target", pol.puhui_share if pol else np.nan)
    if "status_places" in sc.columns:
        t["status_places"] = MET if places >= target * pop / 1000.0 - _EPS else NOT_MET
    if "status_puhui_share" in sc.columns:
        t["status_puhui_share"] = MET if t["puhui_share"] >= ptarget - _EPS else NOT_MET
    if "status_one_puhui" in sc.columns:
        t["status_one_puhui"] = MET if (sc["status_one_puhui"] == MET).all() else NOT_MET
    if "status_residential" in sc.columns:
        t["status_residential"] = MET if (sc["status_residential"] == MET).all() else NOT_MET
    if "status" in sc.columns:
        rules = [t[r] for r in _STATUS_RULES if r in t]
        t["status"] = MET if all(r == MET for r in rules) else NOT_MET
    return pd.Series(t, name="total")


# -------------------------------------------------------------------------------------- writing

def _bool_zh(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].map({True: "是", False: "否"})
    return out


def _zh_sheet(df: pd.DataFrame, name_label: str) -> pd.DataFrame:
    d = _bool_zh(pd.DataFrame(df).drop(columns=["geometry"], errors="ignore"))
    return d.rename(columns=lambda c: name_label if c == "name" else _label(c))


def _formats(cols: list[str], table: Mapping[str, str], name_label: str) -> dict[str, str]:
    fm: dict[str, str] = {}
    for c in cols:
        lab = name_label if c == "name" else _label(c)
        if c in table:
            fm[lab] = table[c]
        elif c.startswith("cover"):
            fm[lab] = "0.0%"
    return fm


def _notes(cols: list[str], name_label: str, sheet: str) -> dict[str, str]:
    return {(name_label if c == "name" else _label(c)): f"{c}: {_definition(c, sheet)}".rstrip(": ")
            for c in cols}


def _explanation(policy: Policy, street_cols: list[str], community_cols: list[str],
                 area_name: str | None = None) -> pd.DataFrame:
    from . import __version__

    rows: list[tuple[str, str, str, str]] = []
    if area_name:
        rows.append(("研究区", "名称", str(area_name), ""))
    rows.append(("研究区", "生成工具", f"tuoyu_geo {__version__}", "tuoyu-geo analyze / indicators.write_scorecard"))
    rows.append(("政策", "profile", policy.name, policy.title))
    rows.append(("政策", "target_year 目标年份", str(policy.target_year),
                 policy.sources.get("target_year", "") or "（档案未注明来源）"))
    fields = [
        ("places_per_1000", "每千人口托位数目标", policy.places_per_1000),
        ("puhui_share", "普惠托位占比目标", f"{policy.puhui_share:.0%}"),
        ("one_puhui_per_street", "一街道一普惠", "是" if policy.one_puhui_per_street else "否"),
        ("demonstration_per_district", "一县区一示范（示范机构数/区）", policy.demonstration_per_district),
        ("new_residential_per_1000", "新建居住区每千人托位", policy.new_residential_per_1000),
        ("existing_residential_per_1000", "既有居住区每千人托位", policy.existing_residential_per_1000),
        ("community_facility_coverage", "社区托育服务设施覆盖率目标", f"{policy.community_facility_coverage:.0%}"),
        ("infant_share", "0–3岁人口占比（缺婴幼儿数时估算）", f"{policy.infant_share:.2%}"),
        ("walk_speed_kmh", "步行速度（公里/小时）", policy.walk_speed_kmh),
        ("circle_m", "生活圈步行距离（分钟→米）",
         "，".join(f"{k}分钟={v:g}米" for k, v in policy.circle_m.items())),
        ("class_sizes", "班级规模上限", "，".join(f"{k}≤{v}" for k, v in policy.class_sizes.items())),
    ]
    for key, zh, val in fields:
        rows.append(("政策", f"{key} {zh}", str(val), policy.sources.get(key, "") or "（档案未注明来源）"))
    for sheet, cols, name_label, kind in (("街道指标", street_cols, "街道名称", "street"),
                                          ("小区指标", community_cols, "小区名称", "community")):
        for c in dict.fromkeys(cols):
            if c == "geometry":
                continue
            lab = name_label if c == "name" else _label(c)
            rows.append((f"指标定义（{sheet}）", f"{lab}（{c}）", "", _definition(c, kind)))
    for key in ("普惠", "合计", "取整"):
        rows.append(("说明", key, "", DEFINITIONS[key]))
    return pd.DataFrame(rows, columns=["类别", "项目", "数值", "定义与来源"])


def write_scorecard(out_dir: str | Path, street_sc: pd.DataFrame, community_sc: pd.DataFrame,
                    policy: Policy | str, *, total: bool = True,
                    area_name: str | None = None) -> dict[str, Path]:
    """Write ``street_scorecard.csv``, ``community_scorecard.csv`` and ``scorecard.xlsx``.

    CSVs are UTF-8 with BOM (opens correctly in Excel/WPS), English column names, no geometry, one
    row per 街道 / community (the CSV has no total row).  The workbook has the sheets 街道指标 (one
    row per 街道 plus a 合计 row), 小区指标 and 说明 (the profile, every number's source and every
    column's definition), Chinese headers with the definition as a header comment, and number
    formats (shares 0.0%, per-1000 figures 0.00, distances 0).  All three files are written to
    temporary files first and moved into place together; on any failure none of them is left.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if needed).
    street_sc, community_sc : DataFrame
        Results of :func:`street_scorecard` and :func:`community_scorecard`.
    policy : Policy or str
        Profile the scorecards were computed with.
    total : bool, default True
        Append the :func:`street_total` row to the 街道指标 sheet.
    area_name : str, optional
        Study-area name shown on the 说明 sheet.

    Returns
    -------
    dict
        ``{"street_csv": Path, "community_csv": Path, "xlsx": Path}``.

    Raises
    ------
    OutputError
        A file cannot be written.
    """
    pol = load_policy(policy)
    out = Path(out_dir)
    paths = {"street_csv": out / "street_scorecard.csv", "community_csv": out / "community_scorecard.csv",
             "xlsx": out / "scorecard.xlsx"}
    sdf = pd.DataFrame(street_sc).drop(columns=["geometry"], errors="ignore")
    cdf = pd.DataFrame(community_sc).drop(columns=["geometry"], errors="ignore")
    sheet_streets = sdf
    if total and len(sdf):
        tot = street_total(street_sc, pol)
        sheet_streets = pd.concat([sdf, tot.to_frame().T.astype(object)], ignore_index=True)
        for c in sdf.columns:  # keep numeric/bool dtypes for formatting
            try:
                sheet_streets[c] = sheet_streets[c].astype(sdf[c].dtype)
            except (TypeError, ValueError):
                pass
    scols, ccols = list(sdf.columns), list(cdf.columns)
    sheets = {
        "街道指标": _zh_sheet(sheet_streets, "街道名称"),
        "小区指标": _zh_sheet(cdf, "小区名称"),
        "说明": _explanation(pol, scols, ccols, area_name),
    }
    fmts = {"街道指标": _formats(scols, _STREET_NUMBER_FORMATS, "街道名称"),
            "小区指标": _formats(ccols, _COMMUNITY_NUMBER_FORMATS, "小区名称")}
    notes = {"街道指标": _notes(scols, "街道名称", "street"), "小区指标": _notes(ccols, "小区名称", "community")}
    wb = build_workbook(sheets, number_formats=fmts, notes=notes)
    with atomic_paths([paths["street_csv"], paths["community_csv"], paths["xlsx"]]) as (t_s, t_c, t_x):
        sdf.to_csv(t_s, index=False, encoding="utf-8-sig")
        cdf.to_csv(t_c, index=False, encoding="utf-8-sig")
        wb.save(t_x)
    log.info("scorecards written to %s", out)
    return paths

