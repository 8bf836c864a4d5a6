"""The scorecard files: the ``tuoyu-geo analyze`` bundle and one-file scorecards.

:func:`write_scorecard` writes ``street_scorecard.csv`` and ``community_scorecard.csv`` (English
columns, for scripts) and ``scorecard.xlsx`` (sheets 街道指标 with the 合计 row, 小区指标 and 说明:
the profile, every number's source and every column's definition), all-or-nothing.  Nothing is
computed here: the tables and the total row come from the :class:`~tuoyu_geo.pipeline.Assessment`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .._version import __version__
from ..demand import demand_rate_basis
from ..writer import FORMATS, NO, YES, atomic_paths, format_of, write_file
from ._assessment import require
from .labels import (
    DEFINITIONS,
    definition,
    distance_model_label,
    distance_model_note,
    label,
    labels,
    number_formats,
)

log = logging.getLogger(__name__)

__all__ = ["SCORECARD_FILES", "explanation", "with_total", "write_scorecard", "write_scorecard_file", "zh"]

#: file name per output of :func:`write_scorecard`
SCORECARD_FILES = {"street_csv": "street_scorecard.csv", "community_csv": "community_scorecard.csv",
                   "xlsx": "scorecard.xlsx"}


def zh(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with Chinese headers from :func:`~tuoyu_geo.report.labels.label` (geometry kept)."""
    geom = getattr(df, "_geometry_column_name", None) if isinstance(df, gpd.GeoDataFrame) else None
    return df.rename(columns=labels(df.columns, geometry=geom))


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its geometry column, as a plain DataFrame."""
    if isinstance(df, gpd.GeoDataFrame):
        return pd.DataFrame(df.drop(columns=df.geometry.name))
    return pd.DataFrame(df)


def with_total(df: pd.DataFrame, total: pd.Series | dict[str, Any]) -> pd.DataFrame:
    """``df`` (no geometry) plus one total row; columns missing from ``total`` stay empty.

    Column dtypes are kept where the total's value fits (bool stays bool, so the XLSX shows 是/否).
    """
    body = plain(df).reset_index(drop=True)
    row = {c: total.get(c) for c in body.columns}
    return pd.concat([body, pd.DataFrame([row])], ignore_index=True)


def _notes(columns: Iterable[str], sheet: str) -> dict[str, str]:
    return {label(c): f"{c}: {d}" for c in columns if (d := definition(c, sheet))}


def _policy_rows(policy: Any) -> list[tuple[str, str, str, str]]:
    def src(key: str) -> str:
        return policy.sources.get(key, "") or "（档案未注明来源）"

    fields = [
        ("target_year", "目标年份", policy.target_year),
        ("places_per_1000", "每千人口托位数目标", policy.places_per_1000),
        ("puhui_share", "普惠托位占比目标", f"{policy.puhui_share:.0%}"),
        ("one_puhui_per_street", "一街道一普惠", YES if policy.one_puhui_per_street else NO),
        ("demonstration_per_district", "一县区一示范（示范机构数/区）", policy.demonstration_per_district),
        ("new_residential_per_1000", "新建居住区每千人托位", policy.new_residential_per_1000),
        ("existing_residential_per_1000", "既有居住区每千人托位", policy.existing_residential_per_1000),
        ("community_facility_coverage", "社区托育服务设施覆盖率目标", f"{policy.community_facility_coverage:.0%}"),
        ("infant_share", "0–3岁人口占比（缺婴幼儿数时估算）", f"{policy.infant_share:.2%}"),
        ("walk_speed_kmh", "步行速度（公里/小时）", policy.walk_speed_kmh),
        ("circle_m", "生活圈步行距离（分钟→米）", "，".join(f"{k}分钟={v:g}米" for k, v in policy.circle_m.items())),
        ("class_sizes", "班级规模上限", "，".join(f"{k}≤{v}" for k, v in policy.class_sizes.items())),
        ("class_types", "新增点位可用班型", "、".join(policy.class_types)),
        ("carer_ratio", "保育人员与婴幼儿比例", "，".join(f"{k} 1:{v:g}" for k, v in policy.carer_ratio.items())),
        ("floor_area_m2_per_place", "每托位建筑面积（平方米）", f"{policy.floor_area_m2_per_place:g}"),
        ("enrolment_rate", "入托率", f"{policy.enrolment_rate:.0%}" if policy.enrolment_rate is not None
         else "未设定"),
        ("infant_survival", "出生人口折算婴幼儿系数", f"{policy.infant_survival:g}"),
        ("street_puhui_share", "街道普惠托位占比目标", f"{policy.street_puhui_share:.0%}"),
        ("demonstration_min_places", "示范机构最小托位数", policy.demonstration_min_places),
    ]
    rows = [("政策", "profile", policy.name, policy.title)]
    rows += [("政策", f"{key} {name}", str(val),
              src(key) if key != "enrolment_rate" or policy.enrolment_rate is not None
              else demand_rate_basis(policy)) for key, name, val in fields]
    return rows


def explanation(policy: Any, street_cols: Iterable[str], community_cols: Iterable[str],
                area_name: str | None = None, *, distance_model: str = "network",
                detour_factor: float | None = None) -> pd.DataFrame:
    """The 说明 sheet: study area, tool version, the distance model, the profile with sources, column
    definitions."""
    rows: list[tuple[str, str, str, str]] = []
    if area_name:
        rows.append(("研究区", label("name"), str(area_name), ""))
    rows.append(("研究区", "距离口径", distance_model_label(distance_model, detour_factor),
                 distance_model_note(distance_model, detour_factor)))
    rows.append(("研究区", "生成工具", f"tuoyu_geo {__version__}", "tuoyu-geo analyze / report.write_scorecard"))
    rows += _policy_rows(policy)
    for sheet, cols, kind in (("街道指标", street_cols, "street"), ("小区指标", community_cols, "community")):
        for c in dict.fromkeys(cols):
            if c != "geometry":
                rows.append((f"指标定义（{sheet}）", f"{label(c)}（{c}）", "", definition(c, kind)))
    rows += [("说明", key, "", DEFINITIONS[key]) for key in ("普惠", "合计", "取整")]
    return pd.DataFrame(rows, columns=["类别", "项目", "数值", "定义与来源"])


def write_scorecard(out_dir: str | Path, assessment: Any) -> dict[str, Path]:
    """Write ``street_scorecard.csv``, ``community_scorecard.csv`` and ``scorecard.xlsx``.

    CSVs are UTF-8 with BOM, English column names, no geometry, one row per 街道 / community.
    The workbook has the sheets 街道指标 (one row per 街道 plus the 合计 row ``assessment.total``),
    小区指标 and 说明, Chinese headers with the definition as a header comment, number formats
    (shares 0.0%, per-1000 figures 0.00, distances 0) and 是/否 for booleans.  The three files are
    written all-or-nothing.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created if needed).
    assessment : Assessment
        Result of :func:`tuoyu_geo.pipeline.assess` (its ``streets``, ``communities``, ``total``).

    Returns
    -------
    dict
        ``{"street_csv": Path, "community_csv": Path, "xlsx": Path}``.

    Raises
    ------
    OutputError
        A file cannot be written; none of the three is left behind.
    """
    require(assessment, "write_scorecard")
    out = Path(out_dir)
    paths = {k: out / name for k, name in SCORECARD_FILES.items()}
    sdf, cdf = plain(assessment.streets), plain(assessment.communities)
    sheets = {"街道指标": zh(with_total(sdf, assessment.total)), "小区指标": zh(cdf),
              "说明": explanation(assessment.policy, sdf.columns, cdf.columns, assessment.area.name,
                                distance_model=assessment.access.distance_model,
                                detour_factor=assessment.access.detour_factor)}
    fmts = {"街道指标": number_formats(sdf.columns), "小区指标": number_formats(cdf.columns)}
    notes = {"街道指标": _notes(sdf.columns, "street"), "小区指标": _notes(cdf.columns, "community")}
    with atomic_paths(list(paths.values())) as (t_s, t_c, t_x):
        FORMATS["csv"].write(sdf, t_s)
        FORMATS["csv"].write(cdf, t_c)
        FORMATS["xlsx"].write(sheets, t_x, number_formats=fmts, notes=notes)
    log.info("scorecards written to %s", out)
    return paths


def write_scorecard_file(scorecard: pd.DataFrame, path: str | Path, *,
                         communities: pd.DataFrame | None = None) -> Path:
    """Write a 街道 scorecard (and optionally a community table) to ONE file with Chinese headers.

    For the analysis bundle (two CSVs + an XLSX with the 说明 sheet) use :func:`write_scorecard`.
    The format follows the suffix: ``.xlsx`` (sheets 街道指标, 小区指标), ``.csv`` (UTF-8 with BOM;
    streets only), ``.gpkg`` (layers 街道指标, 小区指标; EPSG:4326) or ``.geojson`` (streets, English
    keys).  The write is atomic.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Unknown suffix.
    OutputError
        The file cannot be written.
    """
    fmt = format_of(path).name
    if fmt == "xlsx":
        sheets = {"街道指标": zh(plain(scorecard))}
        fmts = {"街道指标": number_formats(scorecard.columns)}
        if communities is not None:
            sheets["小区指标"] = zh(plain(communities))
            fmts["小区指标"] = number_formats(communities.columns)
        return write_file(sheets, path, fmt="xlsx", number_formats=fmts)
    if fmt == "csv":
        return write_file(zh(plain(scorecard)), path, fmt="csv")
    if fmt == "gpkg":
        layers = {"街道指标": zh(scorecard)}
        if isinstance(communities, gpd.GeoDataFrame):
            layers["小区指标"] = zh(communities)
        return write_file(layers, path, fmt="gpkg")
    if fmt == "geojson":
        return write_file(scorecard, path, fmt="geojson")
    raise ValueError(f"unknown scorecard format {Path(path).suffix!r}; use .xlsx, .csv, .gpkg or .geojson")
