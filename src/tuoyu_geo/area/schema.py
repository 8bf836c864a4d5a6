"""The data contract of a study area: layers, their id/required/numeric columns, categories, aliases.

Pure constants (no I/O).  See DESIGN.md and :mod:`tuoyu_geo.area` for how they are used.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BIRTHS_PREFIX",
    "CANDIDATE_KINDS",
    "CATEGORIES",
    "CATEGORY_ALIASES",
    "COLUMN_ALIASES",
    "CONTRACT_COLUMNS",
    "DATUM_LABEL",
    "INFANTS_SOURCES",
    "LAT_NAMES",
    "LAYERS",
    "LON_NAMES",
    "OPTIONAL_COLUMNS",
    "POINT_LAYERS",
    "PUHUI_CATEGORIES",
]

#: institution categories (DESIGN.md) and accepted aliases
CATEGORIES = ("公办", "普惠", "民办", "幼儿园托班", "用人单位", "社区托育点", "家庭托育点", "综合服务中心")
CATEGORY_ALIASES = {"民办普惠": "普惠", "普惠性": "普惠", "民办(营利)": "民办", "民办（营利）": "民办",
                    "营利": "民办", "托班": "幼儿园托班", "单位办": "用人单位"}
#: categories that count as 普惠 when the ``puhui`` column is absent or empty
PUHUI_CATEGORIES = ("公办", "普惠", "社区托育点", "综合服务中心")
CANDIDATE_KINDS = ("社区服务中心", "日间照料中心", "幼儿园富余", "存量用地", "国企房屋", "新建小区配建", "其他")

#: id, required columns and geometry types of each layer (the typed columns — counts, money, years,
#: yes/no — and their parsing are :data:`tuoyu_geo.area.columns.COLUMN_TYPES`)
LAYERS: dict[str, dict[str, Any]] = {
    "streets": {"id": "street_id", "required": ("street_id", "name", "population"),
                "geom": ("Polygon", "MultiPolygon")},
    "communities": {"id": "community_id", "required": ("community_id", "name", "population"),
                    "geom": ("Point", "Polygon", "MultiPolygon")},
    "institutions": {"id": "institution_id", "required": ("institution_id", "name", "category", "places"),
                     "geom": ("Point",)},
    "candidates": {"id": "site_id", "required": ("site_id", "name", "kind", "max_places"),
                   "geom": ("Point",)},
}
#: optional columns of each layer (besides ``births_<year>`` of streets and communities)
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "streets": ("district", "infants", "is_town"),
    "communities": ("street_id", "infants", "households", "built_year", "is_new"),
    "institutions": ("puhui", "is_demonstration", "status", "street_id"),
    "candidates": ("min_places", "fixed_cost", "cost_per_place", "available_year", "street_id"),
}
#: the layers whose features are places people walk from or to (snapped to the walk network)
POINT_LAYERS = ("communities", "institutions", "candidates")

#: accepted names of the coordinate columns of CSV/XLSX tables
LON_NAMES = ("lon", "lng", "longitude", "经度", "x", "point_x")
LAT_NAMES = ("lat", "latitude", "纬度", "y", "point_y")

#: common Chinese (and English) spellings of contract columns, used when the contract name is absent
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "street_id": ("街道编号", "街道代码", "街道id"),
    "community_id": ("小区编号", "社区编号", "小区id", "社区id"),
    "institution_id": ("机构编号", "机构id", "机构代码"),
    "site_id": ("站点编号", "点位编号", "候选编号"),
    "name": ("名称", "机构名称", "小区名称", "社区名称", "街道名称", "站点名称", "点位名称"),
    "population": ("人口", "常住人口", "人口数", "pop"),
    "infants": ("婴幼儿数", "0-3岁人口", "0～3岁人口", "0-3岁", "婴幼儿"),
    "places": ("托位", "托位数", "核定托位", "capacity"),
    "category": ("类别", "机构类别", "机构类型", "性质"),
    "kind": ("站点类型", "点位类型", "候选类型"),
    "max_places": ("最大托位", "最大托位数", "可设托位"),
    "district": ("区", "区县"),
    "built_year": ("建成年份", "竣工年份"),
    "puhui": ("是否普惠", "普惠机构"),
    "is_demonstration": ("是否示范", "示范机构"),
    "is_new": ("是否新建", "新建小区"),
    "households": ("户数",),
    "min_places": ("最小托位", "最小托位数"),
    "fixed_cost": ("固定投资", "固定成本"),
    "cost_per_place": ("每托位投资", "每托位成本"),
    "available_year": ("可用年份", "可建年份"),
}

#: every contract column (required and optional) of every layer
CONTRACT_COLUMNS = ("street_id", "name", "population", "district", "infants", "is_town", "community_id",
                    "households", "built_year", "is_new", "institution_id", "category", "places", "puhui",
                    "is_demonstration", "status", "site_id", "kind", "max_places", "min_places",
                    "fixed_cost", "cost_per_place", "available_year", "infants_estimated", "infants_source")

#: optional births columns of streets and communities: ``births_<year>`` (four-digit year; also
#: ``births<year>``, which fits the 10-character Shapefile column names); infants missing in a row
#: are estimated from the births of its last three years present (see validate.fill_infants)
BIRTHS_PREFIX = "births_"
#: values of ``infants_source``: given in the layer, estimated from births, estimated as
#: population × the policy's infant_share
INFANTS_SOURCES = ("given", "births", "population share")

#: display names of the Chinese datums (error messages)
DATUM_LABEL = {"wgs84": "WGS-84 (GPS/OpenStreetMap)", "gcj02": "GCJ-02 (AMap/Tencent)",
               "bd09": "BD-09 (Baidu)"}
