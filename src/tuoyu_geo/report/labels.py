"""THE one table of Chinese labels, column definitions and XLSX number formats of every output.

Every table meant for people (XLSX sheets, CSV with Chinese headers, GeoPackage layers, map popups)
takes its headers from :func:`label`, so the same English column has the same Chinese header in
every file.  Identifiers use the spelling of the input aliases of the area schema (``街道编号``,
``小区编号``, ``机构编号``, ``站点编号``), so an exported table can be read back as an input.

Generated names are handled: ``cover{N}_{any|puhui}``, ``within{N}_{any|puhui}`` for any minutes
N, and the ``_before``/``_after`` suffixes of the before/after tables (``places_after`` →
``托位数（方案后）``).  Status columns are labelled from the rule objects: ``f"{rule.name}状态"``.

>>> label("street_id")
'街道编号'
>>> label("within15_puhui_after")
'15分钟内有普惠机构（方案后）'
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from .. import settings
from ..crs import gk3_info
from ..indicators import minute_key  # the N of withinN_*/coverN_* (one definition)
from ..network.straight import STRAIGHT_LINE, straight_line_label
from ..rules import RULES
from ..writer import NO, YES

__all__ = [
    "COMMUNITY_DEFINITIONS",
    "DEFINITIONS",
    "ISOCHRONE_KINDS_ZH",
    "ISO_MERGED_ZH",
    "LABELS_ZH",
    "NO",
    "NUMBER_FORMATS",
    "REPORT_SECTIONS",
    "SOLVER_STATUS_ZH",
    "STAGES_ZH",
    "SUFFIXES_ZH",
    "YES",
    "definition",
    "display_table",
    "display_value",
    "distance_model_label",
    "distance_model_note",
    "label",
    "labels",
    "minute_key",
    "number_format",
    "number_formats",
]

_BASE: dict[str, str] = {
    # identifiers and names (spelled as the input aliases of the area schema)
    "street_id": "街道编号",
    "community_id": "小区编号",
    "institution_id": "机构编号",
    "site_id": "站点编号",
    "id": "编号",
    "name": "名称",
    "district": "区县",
    "street_name": "所属街道",
    # street scorecard
    "population": "常住人口",
    "infants": "0–3岁婴幼儿数",
    "infants_estimated": "婴幼儿数为估算",
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
    "has_puhui": "有普惠机构",
    "sfca_mean": "可达托位（2SFCA，每千婴幼儿，均值）",
    "res_meet": "配建达标小区数",
    "res_miss": "配建未达标小区数",
    "res_missing_places": "小区配建缺口托位合计",
    "status": "综合状态",  # per-rule status columns: f"{rule.name}状态" from tuoyu_geo.rules
    # community scorecard
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
    # institutions and candidates
    "category": "机构类别",
    "puhui": "普惠",
    "is_demonstration": "示范机构",
    "address": "地址",
    "kind": "站点类型",
    "min_places": "最小托位数",
    "max_places": "最大托位数",
    "fixed_cost": "固定投入（万元）",
    "cost_per_place": "每托位投入（万元）",
    "available_year": "最早可用年份",
    # recommended sites
    "classes": "班级配置",
    "cost": "投资估算（万元）",
    "year": "建设年份",
    "new_infants_covered": "新增覆盖婴幼儿数",
    "reason": "推荐理由（满足的规则）",
    "nearest_puhui_id": "最近普惠机构编号",
    "runner_up_id": "备选站点编号",
    "order": "优先顺序",
    "lon_wgs84": "经度（WGS-84）",
    "lat_wgs84": "纬度（WGS-84）",
    "lon_gcj02": "经度（GCJ-02）",
    "lat_gcj02": "纬度（GCJ-02）",
    "lon_cgcs2000": "经度（CGCS2000，EPSG:4490）",
    "lat_cgcs2000": "纬度（CGCS2000，EPSG:4490）",
    # before/after and plan outputs
    "new_sites": "新增站点数",
    "new_places": "新增托位数",
    "unmet_reasons": "未达标原因",
    "new_cost_wan": "新增投资（万元）",
    "newly_covered": "方案后新增普惠覆盖",
    # service areas
    "minutes": "步行分钟",
    "distance_m": "步行距离（米）",
    "area_m2": "面积（平方米）",
    "facilities": "合并的设施数",
    "merged": "按街道合并",
    # gaps after the plan
    "rule": "规则",
    "why": "原因",
    # demand, staffing and floor area (tuoyu_geo.demand, Policy.carers / floor_area_m2)
    "infants_source": "婴幼儿数来源",
    "demand_places": "需求托位数（婴幼儿 × 入托率）",
    "classes_infant": "乳儿班数",
    "classes_small": "托小班数",
    "classes_large": "托大班数",
    "classes_mixed": "混龄班数",
    "carers": "保育人员数",
    "floor_area_m2": "建筑面积估算（平方米）",
    # equity (tuoyu_geo.equity)
    "gini_sfca": "可达性基尼系数（2SFCA）",
    "gini_sfca_puhui": "普惠可达性基尼系数（2SFCA）",
    "lowest_decile_sfca": "最低十分位可达性阈值（每千婴幼儿托位）",
    "lowest_decile_share": "最低可达十分位婴幼儿占比",
    "zero_sfca_share": "无可达托位婴幼儿占比",
    "min_street_cover15_puhui": "街道15分钟普惠覆盖率最低值",
    "min_street_cover15_puhui_street": "15分钟普惠覆盖率最低的街道",
    "before": "方案前",
    "after": "方案后",
    "change": "变化（方案后 − 方案前）",
    # budget scenarios (tuoyu_geo.scenarios) and the report (report/document.py)
    "budget_wan": "预算（万元）",
    "streets_met": "达标街道数",
    "streets": "街道数",
    "shortfall": "剩余缺口（托位，规划目标口径）",
    "unmet_rules": "未满足规则数",
    "solver_status": "求解状态",
    "mip_gap": "最优间隙",
    "stage": "求解阶段",
    "objective": "目标值",
    "bound": "界",
    "seconds": "用时（秒）",
    "figure": "现状数值",
    "target": "目标",
    "item": "项目",
    "value": "数值",
    "source": "来源与说明",
}


#: columns of the provincial batch tables (tuoyu_geo.batch)
_PROVINCE = {
    "district_key": "区县（文件夹）", "area_name": "研究区名称", "run_status": "运行状态", "error": "错误",
    "streets": "街道数", "streets_met": "达标街道数", "streets_met_after": "达标街道数（方案后）",
    "streets_met_share": "达标街道占比", "budget_wan": "预算（万元）", "cost_wan": "投资（万元）",
    "infants_newly_covered": "方案新增覆盖婴幼儿数", "places_added": "方案新增托位数", "split": "分配方式",
    "budget_step_wan": "前沿预算档（万元）", "frontier_status": "前沿求解状态",
    "streets_met_gain": "达标街道数差（最优分配 − 该分配）",
    "infants_gain": "新增覆盖婴幼儿数差（最优分配 − 该分配）",
}


def _with_rules(base: dict[str, str]) -> dict[str, str]:
    out = dict(base)
    for rule in RULES:
        if rule.status_column:
            out[rule.status_column] = f"{rule.name}状态"
    return out


#: English column → Chinese header (read-only; generated names are handled by :func:`label`)
LABELS_ZH: Mapping[str, str] = MappingProxyType(_with_rules({**_PROVINCE, **_BASE}))

#: section headings of the 专项规划 report (report/document.py), in order
REPORT_SECTIONS: Mapping[str, str] = MappingProxyType({
    "summary": "概要",
    "status": "现状：各街道指标",
    "gaps_now": "现状差距：未达标的规则",
    "plan": "布局方案：推荐站点",
    "compare": "方案前后对比",
    "maps": "地图：各街道达标状态",
    "unmet": "方案后仍未满足的规则及原因",
    "scenarios": "预算情景比较",
    "assumptions": "假设与数据来源",
    "solver": "求解情况",
})

#: solver status (``tuoyu_geo.solvers.Status``) and lexicographic stage names in Chinese
SOLVER_STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "optimal": "最优", "time_limit": "达到时间上限（未证明最优）", "infeasible": "不可行", "unbounded": "无界",
    "error": "求解出错"})
STAGES_ZH: Mapping[str, str] = MappingProxyType({
    "rules": "规则（一街道一普惠、一县区一示范）", "shortfall": "托位与普惠占比缺口", "residential": "居住区配建缺口",
    "equity": "最低街道覆盖（公平）", "coverage": "步行覆盖", "cost": "投资"})

#: suffix of the before/after tables → its Chinese note
SUFFIXES_ZH: Mapping[str, str] = MappingProxyType({"_before": "方案前", "_after": "方案后"})

#: values of the ``kind`` column of service areas
ISOCHRONE_KINDS_ZH: Mapping[str, str] = MappingProxyType(
    {"existing_puhui": "现有普惠机构", "recommended": "推荐站点"})

#: service areas merged per 街道 (a kind with more than ``settings.ISO_MERGE_ABOVE`` facilities):
#: the map tooltip, the GIS layer's description, the 方案参数 row and the manifest note
ISO_MERGED_ZH: Mapping[str, str] = MappingProxyType({
    "tooltip": "{street}：{who}{mk}分钟服务范围（{n}处合并）",
    "layer": "{mk}分钟步行服务范围；{kinds}按街道合并（每个街道一个范围，facilities 为合并的设施数）",
    "merged": "{who} {n:,} 处，按街道合并为 {m:,} 个服务范围（超过 {above} 处时合并，settings.ISO_MERGE_ABOVE）",
    "single": "{who} {n:,} 处，每处一个服务范围",
})

_GENERATED = re.compile(r"(cover|within)(\d+(?:\.\d+)?)_(any|puhui)")
_MIN_COVER = re.compile(r"min_street_cover(\d+(?:\.\d+)?)_puhui(_street)?")
_BIRTHS = re.compile(r"births_(\d{4})")
_GK = re.compile(r"(east|north)_gk(\d{4})")


def _gk_label(axis: str, epsg: str) -> str:
    """``east_gk4528`` → 东坐标Y（米，CGCS2000 3度带第40带，中央经线120°E，含带号，EPSG:4528）."""
    try:
        info = gk3_info(int(epsg))
    except ValueError:
        return f"{'东' if axis == 'east' else '北'}坐标（米，EPSG:{epsg}）"
    what = "东坐标Y" if axis == "east" else "北坐标X"
    prefix = "，含带号" if axis == "east" and info["zone_prefix"] else ""
    return (f"{what}（米，CGCS2000 3度带第{info['zone']}带，中央经线{info['central_meridian_deg']}°E"
            f"{prefix}，EPSG:{epsg}）")


def _split_suffix(col: str) -> tuple[str, str | None]:
    for suffix in SUFFIXES_ZH:
        if col.endswith(suffix) and len(col) > len(suffix):
            return col[: -len(suffix)], suffix
    return col, None


def label(col: str) -> str:
    """Chinese header of an English column (the column name itself when there is none).

    >>> label("cover7.5_any"), label("places_before")
    ('7.5分钟覆盖率（任一机构）', '托位数（方案前）')
    """
    col = str(col)
    if col in LABELS_ZH:
        return LABELS_ZH[col]
    base, suffix = _split_suffix(col)
    if suffix is not None:
        return f"{label(base)}（{SUFFIXES_ZH[suffix]}）"
    m = _GENERATED.fullmatch(col)
    if m:
        kind, minutes, what = m.groups()
        if kind == "cover":
            return f"{minutes}分钟覆盖率（{'任一机构' if what == 'any' else '普惠机构'}）"
        return f"{minutes}分钟内有{'托育机构' if what == 'any' else '普惠机构'}"
    m = _MIN_COVER.fullmatch(col)
    if m:
        return f"{m.group(1)}分钟普惠覆盖率最低的街道" if m.group(2) else f"街道{m.group(1)}分钟普惠覆盖率最低值"
    m = _BIRTHS.fullmatch(col)
    if m:
        return f"{m.group(1)}年出生人口"
    m = _GK.fullmatch(col)
    if m:
        return _gk_label(*m.groups())
    return col


def labels(columns: Iterable[str], *, geometry: str | None = "geometry") -> dict[str, str]:
    """``{column: label(column)}`` for ``DataFrame.rename`` (the geometry column keeps its name)."""
    return {c: (c if c == geometry else label(c)) for c in columns}


# ---------------------------------------------------------------------------------- definitions

def _status_definitions() -> dict[str, str]:
    names = [rule.name for rule in RULES if rule.status_column]
    return {"status": f"各项规则（{'、'.join(names)}）全部达标才为达标。"}


#: definition of each column (and of a few terms), written on the 说明 sheet and as header comments
DEFINITIONS: Mapping[str, str] = MappingProxyType({
    "普惠": "机构图层 puhui 列为真的机构（未给 puhui 列时按类别判定：公办、普惠、幼儿园托班、社区托育点、"
            "综合服务中心等）。机构图层中的所有机构都计入，不论 status。",
    "street_id": "街道/乡镇编号（街道图层；小区表中为小区所属街道，给定或按位置判定）。",
    "name": "名称（街道图层/小区图层 name）。",
    "district": "所属区县（街道图层 district）。",
    "community_id": "小区编号（小区图层）。",
    "facilities": "服务范围所含的设施数：按街道合并时为该街道该类设施的处数（范围为它们各自服务范围的并集），否则为 1。",
    "merged": "是：该类设施多于 settings.ISO_MERGE_ABOVE 处，服务范围按街道合并；否：每处设施一个服务范围。",
    "street_name": "小区所属街道名称。",
    "is_new": "新建小区（小区图层 is_new），适用新建居住区配建标准。",
    "built_year": "建成年份（小区图层 built_year，可空）。",
    "snap_m": "小区点到最近步行路网边的距离（米），计入步行距离；两点间直线距离更短时（如同址）改用直线距离，同址为 0 米。",
    "population": "街道常住人口（街道图层 population）。",
    "infants": "街道0–3岁婴幼儿数（街道图层 infants；缺失时按出生人口 births_<年份> 估算，"
               "无出生人口时 = 常住人口 × 政策 infant_share）。",
    "infants_estimated": "婴幼儿数缺失、按出生人口或 常住人口 × 政策 infant_share 估算时为“是”。",
    "infants_source": "婴幼儿数来源：given = 图层给定；births = 按出生人口估算（该行最近三个有值年份的 "
                      "births_<年份> 之和 × 政策 infant_survival，不足三年时偏低）；population share = "
                      "常住人口 × 政策 infant_share。",
    "births": "births_<年份>：该年出生人口（街道或小区图层，可选）；婴幼儿数缺失时用于估算。",
    "demand_places": "需求托位数 = 婴幼儿数 × 入托率；入托率依次取本次运行指定值、政策 enrolment_rate，"
                     "否则按 每千人口托位数 ÷ (1000 × infant_share) 估算（上限100%），不取整。",
    "carers": "保育人员数 = Σ 各班型班数 × ceil(班级规模上限 ÷ 该班型保育人员配比)，每班按满额配备、"
              "不跨班共用（乳儿班1:3、托小班1:5、托大班1:7、混龄班1:5），不含负责人、保健、炊事人员。",
    "floor_area_m2": "建筑面积估算 = 托位数 × 政策 floor_area_m2_per_place（假设值，见政策来源）。",
    "classes_infant": "新增点位的乳儿班数（每班不超过政策 class_sizes 的乳儿班规模）。",
    "classes_small": "新增点位的托小班数。",
    "classes_large": "新增点位的托大班数。",
    "classes_mixed": "新增点位的混龄班数（18个月以上混合编班）。",
    "gini_sfca": "按婴幼儿加权的基尼系数：G = Σ_iΣ_j w_i w_j |x_i − x_j| ÷ (2 W² μ)，x 为小区 sfca_all"
                 "（无值按0），w 为小区婴幼儿数，W = Σw，μ 为加权平均；0 = 人人可达性相同（全为0亦为0），"
                 "越接近1越不均衡。",
    "gini_sfca_puhui": "同 gini_sfca，可达性取普惠托位的 sfca_puhui。",
    "lowest_decile_sfca": "按婴幼儿加权的第10百分位（下侧）：使可达性 ≤ 该值的婴幼儿累计达到10%的最小可达性值。",
    "lowest_decile_share": "可达性 ≤ 最低十分位阈值的婴幼儿占全部婴幼儿的比例；同一小区不拆分、与阈值相等者全部计入，"
                           "故 ≥ 10%，多于10%表示大量婴幼儿处于同一最低可达水平（如没有任何可达托位）。",
    "zero_sfca_share": "sfca_all = 0（最大步行阈值内没有任何托位）的小区婴幼儿占全部婴幼儿的比例。",
    "min_street_coverN_puhui": "各街道 N 分钟普惠覆盖率（小区婴幼儿加权，同街道表 coverN_puhui）中的最低值，"
                               "只计有小区婴幼儿的街道；另列该街道编号（并列时取编号最小者）。",
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
    **_status_definitions(),
    "合计": "合计行：人口、婴幼儿、机构、托位、缺口（各街道缺口之和，即每个街道都达标所需托位）、小区数等为求和；"
            "每千人口托位数、普惠占比用合计数重新计算；覆盖率与2SFCA均值按全部小区婴幼儿加权重新计算；"
            "千人托位、普惠占比状态按全区合计判定，一街道一普惠与居住区配建状态要求所有街道/小区达标。",
    "lon_cgcs2000": "CGCS2000 经纬度（EPSG:4490），由 WGS-84 经 pyproj 转换；两者在厘米级一致，数值与 WGS-84 相同。",
    "gk": "east_gk<EPSG> / north_gk<EPSG>：CGCS2000 3度带高斯-克吕格投影坐标（米），带号按研究区中心经度 "
          "n = floor(经度 ÷ 3 + 0.5) 选取，中央经线 3n°E；测量习惯中东坐标称 Y、北坐标称 X。EPSG:4513–4533 "
          "的东坐标含带号（带号 × 1 000 000 + 500 000），EPSG:4534–4554 不含带号（500 000）。",
    "budget_wan": "该情景的预算上限（万元）；其他方案参数各情景相同，每个预算单独求解。",
    "streets_met": "综合状态为达标（各项规则全部达标）的街道数。",
    "shortfall": "方案第一阶段的目标值：各街道距每千人口托位目标与普惠占比目标仍缺的托位数之和（规划模型口径）。",
    "unmet_rules": "方案后仍未满足的（街道 × 规则）项数，含区县的一县区一示范。",
    "mip_gap": "求解器报告的各阶段最大相对间隙（0 表示已证明最优）。",
    "取整": "表中数值不取整保存，XLSX 只改变显示格式（占比0.0%、每千人0.00、距离0）；托位缺口向上取整。",
})

#: definitions that differ on the community sheet
COMMUNITY_DEFINITIONS: Mapping[str, str] = MappingProxyType({
    "name": "小区名称（小区图层 name）。",
    "street_id": "小区所属街道编号（小区图层 street_id，缺失时按位置判定）。",
    "population": "小区人口（小区图层 population）。",
    "infants": "小区0–3岁婴幼儿数（小区图层 infants；缺失时按出生人口 births_<年份> 估算，"
               "无出生人口时 = 人口 × 政策 infant_share）。",
    "infants_estimated": "小区婴幼儿数缺失、按出生人口或 人口 × 政策 infant_share 估算时为“是”。",
})


def distance_model_label(model: str, detour_factor: float | None = None, *, english: bool = False) -> str:
    """How the walking distances were measured, as every output states it: ``步行路网距离`` or, for
    the straight-line fallback (``model == "straight-line"``), ``直线距离 × 1.324（无路网，估算）``."""
    if model == STRAIGHT_LINE:
        return straight_line_label(settings.DETOUR_FACTOR if detour_factor is None else detour_factor,
                                   english=english)
    return "walking distance on the network" if english else "步行路网距离"


def distance_model_note(model: str, detour_factor: float | None = None) -> str:
    """The 说明 text of the distance model (with the factor's source for the straight-line fallback)."""
    if model == STRAIGHT_LINE:
        f = settings.DETOUR_FACTOR if detour_factor is None else detour_factor
        src = ("默认值来源：" + settings.DETOUR_SOURCE) if f == settings.DETOUR_FACTOR else \
            "系数由 area.toml detour_factor 或 --detour-factor 指定"
        return (f"{distance_model_label(model, f)}：研究区没有步行路网，步行距离 = 两点直线距离（投影坐标系）× 绕行系数 {f:g}；"
                f"服务范围为半径 = 步行距离阈值 ÷ {f:g} 的圆。{src}。短距离出行的实际绕行通常更大，结果偏乐观；"
                "在 area.toml 中加入 layers.network（步行路网）可得路网距离。")
    return ("步行路网距离：小区点与机构点各自接入最近的步行路网边（接入距离计入），沿路网求最短路径；"
            "两点直线距离更短时（如同址）改用直线距离，同址为 0 米。")


def definition(col: str, sheet: str = "street") -> str:
    """Definition text of a column (``sheet`` = ``"street"`` or ``"community"``; "" if none)."""
    col, _ = _split_suffix(str(col))
    if sheet == "community" and col in COMMUNITY_DEFINITIONS:
        return COMMUNITY_DEFINITIONS[col]
    if col in DEFINITIONS:
        return DEFINITIONS[col]
    m = _GENERATED.fullmatch(col)
    if m:
        return DEFINITIONS["coverN" if m.group(1) == "cover" else "withinN"]
    if _MIN_COVER.fullmatch(col):
        return DEFINITIONS["min_street_coverN_puhui"]
    if _BIRTHS.fullmatch(col):
        return DEFINITIONS["births"]
    if col == "lat_cgcs2000":
        return DEFINITIONS["lon_cgcs2000"]
    if _GK.fullmatch(col):
        return DEFINITIONS["gk"]
    if "sfca" in col:
        return DEFINITIONS["sfca"]
    return ""


# ------------------------------------------------------------------------------- number formats

#: Excel number format per English column (shares 0.0%, per-1000 figures 0.00, distances 0)
NUMBER_FORMATS: Mapping[str, str] = MappingProxyType({
    "population": "#,##0", "infants": "#,##0.0", "community_infants": "#,##0.0", "places": "#,##0",
    "puhui_places": "#,##0", "places_per_1000": "0.00", "target_per_1000": "0.00", "place_gap": "#,##0",
    "puhui_share": "0.0%", "puhui_target": "0.0%", "sfca_mean": "0.00", "res_missing_places": "#,##0.0",
    "standard_per_1000": "0.0", "required_places": "0.0", "places15_all": "#,##0",
    "places15_puhui": "#,##0", "missing_places": "0.0", "snap_m": "0", "nearest_any_m": "0",
    "nearest_puhui_m": "0", "sfca_all": "0.00", "sfca_puhui": "0.00", "g2sfca_all": "0.00",
    "g2sfca_puhui": "0.00", "sfca_all_per1000_pop": "0.00", "sfca_puhui_per1000_pop": "0.00",
    "built_year": "0", "cost": "#,##0.0", "new_infants_covered": "#,##0.0", "year": "0",
    "lon_wgs84": "0.0000000", "lat_wgs84": "0.0000000", "lon_gcj02": "0.0000000",
    "lat_gcj02": "0.0000000", "lon_cgcs2000": "0.0000000", "lat_cgcs2000": "0.0000000", "new_places": "#,##0", "new_cost_wan": "#,##0.0",
    "distance_m": "0", "area_m2": "#,##0",
    "demand_places": "#,##0.0", "carers": "0", "classes_infant": "0", "classes_small": "0",
    "classes_large": "0", "classes_mixed": "0", "floor_area_m2": "#,##0", "gini_sfca": "0.000",
    "gini_sfca_puhui": "0.000", "lowest_decile_sfca": "0.00", "lowest_decile_share": "0.0%",
    "zero_sfca_share": "0.0%", "min_street_cover15_puhui": "0.0%",
    "budget_wan": "#,##0", "mip_gap": "0.0E+00", "shortfall": "#,##0.0",
})


def number_format(col: str) -> str | None:
    """Excel number format of a column (suffixes and cover/within names handled), or None."""
    col, _ = _split_suffix(str(col))
    if col in NUMBER_FORMATS:
        return NUMBER_FORMATS[col]
    if col.startswith("cover") and _GENERATED.fullmatch(col):
        return "0.0%"
    if _GK.fullmatch(col):
        return "0.000"
    return None


def number_formats(columns: Iterable[str]) -> dict[str, str]:
    """``{label: number format}`` for the columns that have one (for :func:`~tuoyu_geo.writer.write_xlsx`)."""
    return {label(c): f for c in columns if (f := number_format(c))}


# ------------------------------------------------------------------------------- display (notebooks)

def display_value(col: str, value: Any) -> Any:
    """One value as a person reads it in a Chinese table: bool → 是/否, shares as ``15.0 %``, other
    numbers with the decimals of :func:`number_format` (``1,234``, ``4.50``), missing → "".
    Numbers without a format, and text, are returned unchanged.

    >>> display_value("puhui_share", 0.15), display_value("has_puhui", False), display_value("places", 1234.0)
    ('15.0 %', '否', '1,234')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return YES if value else NO
    fmt = number_format(col)
    if fmt is None or not isinstance(value, numbers.Real):
        return value
    x = float(value)
    if not math.isfinite(x):
        return ""
    decimals = len(fmt.rstrip("%").split(".")[1]) if "." in fmt else 0
    if fmt.endswith("%"):
        return f"{100.0 * x:.{decimals}f} %"
    return f"{x:{',' if ',' in fmt else ''}.{decimals}f}"


def display_table(data: pd.DataFrame | pd.Series, columns: Iterable[str] | None = None, *,
                  by_row: bool | None = None) -> pd.DataFrame:
    """A table to show people (notebooks, reports): Chinese headers, 是/否, shares as percentages.

    Parameters
    ----------
    data : DataFrame, GeoDataFrame or Series
        A frame with English columns (e.g. ``assessment.streets``), or a Series / a frame whose
        *index* holds the English names (``assessment.total``, ``assessment.equity``).
    columns : iterable of str, optional
        Columns to keep, in this order (default all but the geometry); with ``by_row``, the rows.
    by_row : bool, optional
        Format by the index (row names) instead of the columns; default True for a Series.

    Returns
    -------
    DataFrame
        A new frame of display values (:func:`display_value`) — text, meant for showing, not for
        computing.  The index is kept (relabelled with :func:`label` when ``by_row``).
    """
    if isinstance(data, pd.Series):
        by_row = True if by_row is None else by_row
        data = data.to_frame(name=data.name if data.name is not None else "value")
    geom = getattr(data, "_geometry_column_name", None)  # a GeoDataFrame's geometry column
    df = pd.DataFrame(data)
    if by_row:
        df = df.loc[list(columns)] if columns is not None else df
        cols = [c for c in df.columns if c != geom]
        out = pd.DataFrame({c: [display_value(str(k), v) for k, v in df[c].items()] for c in cols}, index=df.index)
        out.index = [label(str(k)) for k in df.index]
        return out.rename(columns=lambda c: label(str(c)))
    cols = list(columns) if columns is not None else [c for c in df.columns if c != geom]
    out = pd.DataFrame({c: [display_value(str(c), v) for v in df[c]] for c in cols}, index=df.index)
    return out.rename(columns=labels(cols, geometry=None))
