"""A template study area to fill in (``tuoyu-geo init DIR``).

Writes ``area.toml`` (commented in Chinese and English), ``streets.geojson`` (街道 need
boundaries, so a GeoJSON with one example polygon) and, for the point layers, the same table as
XLSX and as CSV with Chinese headers the readers accept (:data:`~tuoyu_geo.area.schema.COLUMN_ALIASES`)
and one example row each.  ``area.toml`` names the XLSX files; the CSVs are the same tables for
those who prefer them.  The untouched template is a valid one-街道 area (``tuoyu-geo validate``
exits 0) whose names say 示例 (example): replace the rows with your own.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from .._errors import OutputError
from ..writer import atomic_write, transaction, write_table

__all__ = ["TEMPLATE_HEADERS", "write_template"]

#: contract column → the Chinese header written in the templates (each one an accepted alias)
TEMPLATE_HEADERS: dict[str, dict[str, str]] = {
    "streets": {"street_id": "街道编号", "name": "名称", "population": "人口", "district": "区县"},
    "communities": {"community_id": "小区编号", "name": "名称", "population": "人口", "street_id": "街道编号",
                    "infants": "婴幼儿数", "households": "户数", "built_year": "建成年份", "is_new": "是否新建",
                    "lon": "经度", "lat": "纬度"},
    "institutions": {"institution_id": "机构编号", "name": "名称", "category": "类别", "places": "托位",
                     "puhui": "是否普惠", "is_demonstration": "是否示范", "street_id": "街道编号",
                     "lon": "经度", "lat": "纬度"},
    "candidates": {"site_id": "站点编号", "name": "名称", "kind": "站点类型", "max_places": "最大托位",
                   "min_places": "最小托位", "fixed_cost": "固定投资", "cost_per_place": "每托位投资",
                   "available_year": "可用年份", "street_id": "街道编号", "lon": "经度", "lat": "纬度"},
}

#: one example row per layer (contract names; lon/lat WGS-84 inside the example 街道)
_STREET_BOX = (121.430, 31.170, 121.440, 31.180)
_EXAMPLES: dict[str, dict[str, object]] = {
    "streets": {"street_id": "E01", "name": "示例街道（请替换）", "population": 30000, "district": "示例区"},
    "communities": {"community_id": "C001", "name": "示例小区（请替换）", "population": 3000, "street_id": "E01",
                    "infants": 60, "households": 1100, "built_year": 2005, "is_new": "否",
                    "lon": 121.434, "lat": 31.174},
    "institutions": {"institution_id": "I001", "name": "示例托育园（请替换）", "category": "普惠", "places": 60,
                     "puhui": "是", "is_demonstration": "否", "street_id": "E01", "lon": 121.436, "lat": 31.176},
    "candidates": {"site_id": "K001", "name": "示例社区服务中心（请替换）", "kind": "社区服务中心",
                   "max_places": 60, "min_places": 15, "fixed_cost": 80, "cost_per_place": 1.5,
                   "available_year": 2026, "street_id": "E01", "lon": 121.438, "lat": 31.173},
}

AREA_TOML = '''\
# tuoyu-geo 研究区配置 / study-area settings.  填好四个图层文件后运行 / when the layers are filled in:
#   tuoyu-geo validate {folder}
# 示例行（名称带“示例”）请替换为实际数据 / replace the example rows (named 示例) with your data.

name = "某市某区"            # 研究区名称 / name of the area
crs = "wgs84"               # 图层坐标系 / coordinates of the layer files:
                            #   wgs84 (GPS/OpenStreetMap) | gcj02 (高德/腾讯 AMap/Tencent) | bd09 (百度 Baidu)
                            #   | an EPSG code such as "EPSG:4549" (CGCS2000 高斯-克吕格)
policy = "national-2025"    # 政策口径 / policy profile: national-2025, wuxi-2025, tianjin-2025,
                            #   hebei-2027, binhai-2023 (tuoyu-geo policies), or a TOML file

[layers]
# 街道/乡镇边界须为面 / 街道 need boundaries (polygons): GeoJSON, Shapefile or GeoPackage
# (e.g. exported from QGIS).  streets.geojson holds one example polygon.
streets = "streets.geojson"
# 点图层：XLSX 或 CSV（经度/纬度列）/ point layers: XLSX or CSV with 经度/纬度 (lon/lat) columns.
# 同名 .csv 模板格式相同，可改用 / the .csv templates are the same tables: change the suffix to use them.
communities = "communities.xlsx"
institutions = "institutions.xlsx"
candidates = "candidates.xlsx"
# 某图层坐标系不同时 / one layer in another coordinate system (e.g. coordinates picked in Baidu Maps):
#   institutions = { file = "institutions.xlsx", crs = "bd09" }
# 步行路网（可选）/ walk network (optional): tuoyu-geo fetch-network "上海市徐汇区" --out walk.graphml
# network = "walk.graphml"

# 列名映射（可选）：左边是本工具的列名，右边是您文件中的表头
# column mapping (optional): left the name tuoyu-geo uses, right the header in your file.
# Chinese headers such as 街道编号, 名称, 人口, 托位, 经度, 纬度 are recognised without it.
# [columns.streets]
# street_id = "code"
# population = "常住人口2024"
# [columns.institutions]
# lon = "百度经度"
# lat = "百度纬度"
'''


def _check_folder(folder: Path) -> None:
    """``folder`` must not exist, or be an empty folder (init never overwrites anything)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise OutputError(f"{folder} exists and is not a folder", path=str(folder),
                          fix="name a new folder, e.g. tuoyu-geo init my-area")
    if folder.is_dir() and any(folder.iterdir()):
        raise OutputError(f"{folder} is not empty; init never overwrites files", path=str(folder),
                          fix="name a new or empty folder, e.g. tuoyu-geo init my-area")


def _table(layer: str) -> pd.DataFrame:
    row = _EXAMPLES[layer]
    return pd.DataFrame([{head: row[col] for col, head in TEMPLATE_HEADERS[layer].items()}])


def write_template(folder: str | Path) -> list[Path]:
    """Write a template study area into ``folder`` (created; must be new or empty).

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
        ``area.toml``, ``streets.geojson``, and ``<layer>.xlsx`` + ``<layer>.csv`` for
        communities, institutions and candidates — all written or none.

    Raises
    ------
    OutputError
        ``folder`` exists and is not empty (or is a file), or cannot be written.
    """
    folder = Path(folder)
    _check_folder(folder)
    street = dict(_EXAMPLES["streets"])
    streets = gpd.GeoDataFrame([{TEMPLATE_HEADERS["streets"][k]: v for k, v in street.items()}],
                               geometry=[box(*_STREET_BOX)], crs="EPSG:4326")
    written = []
    with transaction():
        with atomic_write(folder / "area.toml") as tmp:
            tmp.write_text(AREA_TOML.replace("{folder}", str(folder)), encoding="utf-8")
        written.append(folder / "area.toml")
        written.append(write_table(streets, folder / "streets.geojson"))
        for layer in ("communities", "institutions", "candidates"):
            written.append(write_table(_table(layer), folder / f"{layer}.xlsx", sheet=layer))
            written.append(write_table(_table(layer), folder / f"{layer}.csv"))
    return written

