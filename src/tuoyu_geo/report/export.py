"""Exports of a site plan for land-use review (用地审查): GeoPackage, XLSX, CSV, GeoJSON and a
``manifest.json`` that records how they were made.

Everything is read from an :class:`~tuoyu_geo.pipeline.Assessment`: the plan, the before/after
scorecards and their total rows, the access before/after and the service areas.  Nothing is solved
or computed here.  :func:`export_plan` writes all files all-or-nothing
(:func:`tuoyu_geo.writer.atomic_paths`): on any failure the folder is left exactly as it was.

Tables meant for people (XLSX, CSV, GeoPackage) have Chinese headers from
:mod:`tuoyu_geo.report.labels`; the GeoJSON keeps English keys for web and scripting use
(``manifest.json`` maps them to the Chinese headers).  Coordinates are stored in WGS-84
(EPSG:4326); the site tables also carry GCJ-02 lon/lat columns for 高德/腾讯 maps, CGCS2000
lon/lat (EPSG:4490) and CGCS2000 3° Gauss-Krüger coordinates of the area's zone
(:func:`gauss_kruger`) for land-use review.

The GeoPackage has ASCII field names (:func:`tuoyu_geo.report.gpkg.ascii_names`) with the
Chinese headers as aliases (``gpkg_data_columns``) and a default QGIS style per layer
(``layer_styles``); it can be written in WGS-84, CGCS2000 or the Gauss-Krüger zone
(``gpkg_crs``).  ``formats=(…, "shp")`` adds ``tuoyu_plan.shp.zip``: the same layers as
Shapefiles with ≤ 10-byte field names, ``.cpg`` UTF-8, a ``.qml`` style each and
``field_names.csv``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import crs as _crs
from .. import settings
from .._version import __version__
from ..rules import MET, NOT_MET, RULES
from ..writer import FORMATS, atomic_paths, jsonable, output_error, sha256_file
from . import gpkg as _gpkg
from ._assessment import require
from .labels import (
    ISO_MERGED_ZH,
    ISOCHRONE_KINDS_ZH,
    definition,
    distance_model_label,
    distance_model_note,
    label,
    labels,
    minute_key,
    number_formats,
)
from .scorecard import plain, with_total, zh

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FORMATS",
    "EXPORT_FORMATS",
    "FILE_NAMES",
    "GIS_CRS",
    "SITE_COLUMNS",
    "GaussKruger",
    "community_coverage",
    "comparison_total",
    "export_plan",
    "gauss_kruger",
    "isochrone_layer",
    "manifest",
    "site_table",
    "street_comparison",
]

#: what :func:`export_plan` can write (``manifest.json`` is always written)
EXPORT_FORMATS = ("gpkg", "xlsx", "csv", "geojson", "shp")
#: what it writes unless told otherwise
DEFAULT_FORMATS = ("gpkg", "xlsx", "csv", "geojson")
#: file name per output kind (inside ``out_dir``)
FILE_NAMES = {"gpkg": "tuoyu_plan.gpkg", "xlsx": "tuoyu_plan.xlsx", "csv": "recommended_sites.csv",
              "geojson": "recommended_sites.geojson", "shp": "tuoyu_plan.shp.zip", "manifest": "manifest.json"}
#: coordinate systems of the GeoPackage/Shapefile: WGS-84, CGCS2000 lon/lat, Gauss-Krüger 3° zone
GIS_CRS = ("wgs84", "cgcs2000", "gk3")
#: columns of the site table, in order (the Gauss-Krüger columns follow ``lat_cgcs2000``; others of
#: ``plan.sites`` follow)
SITE_COLUMNS = ("site_id", "name", "kind", "street_id", "street_name", "places", "classes", "cost",
                "new_infants_covered", "reason", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02",
                "lon_cgcs2000", "lat_cgcs2000", "year", "order", "nearest_puhui_id", "nearest_puhui_m",
                "runner_up_id")
#: Shapefile layer name (ASCII) of each GeoPackage layer
SHP_LAYERS = {"推荐站点": "sites", "街道指标": "streets", "小区覆盖": "communities", "服务范围": "service_areas"}
_STATIC_STREET = ("street_id", "name", "district", "population", "infants", "target_per_1000", "puhui_target")


def _changing_street(mk: str) -> tuple[str, ...]:
    status = tuple(r.status_column for r in RULES if r.status_column)
    return ("institutions", "places", "puhui_institutions", "puhui_places", "places_per_1000", "place_gap",
            "puhui_share", "has_puhui", f"cover{mk}_any", f"cover{mk}_puhui", "sfca_mean",
            "res_missing_places", *status, "status")


def _plan(assessment: Any) -> Any:
    return require(assessment, "export", plan=True).plan


# ---------------------------------------------------------------------------------- Gauss-Krüger

@dataclass(frozen=True)
class GaussKruger:
    """The CGCS2000 3° Gauss-Krüger zone of the exports (see :func:`gauss_kruger`)."""

    zone: int
    epsg: int
    zone_prefix: bool
    central_meridian_deg: int
    name: str
    centroid_lon: float | None

    @property
    def east(self) -> str:
        """Name of the easting column (``east_gk4528``)."""
        return f"east_gk{self.epsg}"

    @property
    def north(self) -> str:
        """Name of the northing column (``north_gk4528``)."""
        return f"north_gk{self.epsg}"

    def to_dict(self) -> dict[str, Any]:
        """For ``manifest.json``."""
        how = (f"zone = floor(centroid lon {self.centroid_lon:.4f} / 3 + 0.5) of the 街道 layer"
               if self.centroid_lon is not None else "given")
        return {"epsg": self.epsg, "name": self.name, "zone": self.zone,
                "central_meridian_deg": self.central_meridian_deg, "zone_prefix": self.zone_prefix,
                "false_easting_m": _crs.gk3_info(self.epsg)["false_easting_m"], "chosen_from": how,
                "columns": {self.east: label(self.east), self.north: label(self.north)}}


def gauss_kruger(area: Any, *, zone: int | None = None, zone_prefix: bool = True) -> GaussKruger:
    """The CGCS2000 3° Gauss-Krüger zone for a study area.

    The zone is that of the longitude of the centroid of the 街道 layer (taken in the area's
    metric CRS): n = floor(lon / 3 + 0.5), central meridian 3n°E (:func:`tuoyu_geo.crs.gk3_zone`).
    Shanghai 徐汇区, centroid about 121.44°E: 121.44 / 3 = 40.48 → zone 40, central meridian
    120°E, EPSG:4528 with the zone prefix (eastings 40 xxx xxx m), EPSG:4549 without.

    Parameters
    ----------
    area : StudyArea or Assessment
    zone : int, optional
        Use this zone (25–45) instead.
    zone_prefix : bool
        Eastings with the zone number in front (EPSG:4513–4533), the form land-use review files
        use; False for EPSG:4534–4554 (false easting 500 000 m).
    """
    area = getattr(area, "area", area)
    lon = None
    if zone is None:
        c = area.metric("streets").geometry.union_all().centroid
        lon = float(gpd.GeoSeries([c], crs=area.metric_crs).to_crs("EPSG:4326").x.iloc[0])
        zone = _crs.gk3_zone(lon)
    epsg = _crs.gk3_epsg(zone, zone_prefix=zone_prefix)
    crs = _crs.gk3_crs(zone, zone_prefix=zone_prefix)
    return GaussKruger(zone=int(zone), epsg=epsg, zone_prefix=zone_prefix, central_meridian_deg=3 * int(zone),
                       name=crs.name, centroid_lon=lon)


def _zone(assessment: Any, zone: int | None = None, zone_prefix: bool = True) -> GaussKruger | None:
    """:func:`gauss_kruger`, or None (logged) when the area lies outside the CGCS2000 3° zones and no
    zone was given: the exports then have no Gauss-Krüger columns."""
    try:
        return gauss_kruger(assessment, zone=zone, zone_prefix=zone_prefix)
    except ValueError as exc:
        if zone is not None:
            raise
        log.warning("no Gauss-Krüger columns in the exports: %s", exc)
        return None


# ---------------------------------------------------------------------------------- tables

def site_table(assessment: Any, *, gk: GaussKruger | None | bool = True) -> gpd.GeoDataFrame:
    """Recommended sites (English columns, EPSG:4326) with WGS-84, GCJ-02, CGCS2000 and
    Gauss-Krüger coordinate columns.

    ``lon_wgs84``/``lat_wgs84`` are the coordinates of the geometry; ``lon_gcj02``/``lat_gcj02``
    are :func:`tuoyu_geo.crs.wgs84_to_gcj02` of them and ``lon_cgcs2000``/``lat_cgcs2000``
    :func:`tuoyu_geo.crs.wgs84_to_cgcs2000` (rounded to 1e-7°, about 1 cm);
    ``east_gk<EPSG>``/``north_gk<EPSG>`` are the CGCS2000 3° Gauss-Krüger easting/northing in
    metres (rounded to 1 mm) in the zone ``gk`` (default ``True``: :func:`gauss_kruger` of the
    area; None: no such columns, as for an area outside China).  Rows are in the plan's priority
    ``order``.
    """
    gk = _zone(assessment) if gk is True else gk or None
    sites = _plan(assessment).sites.copy()
    if sites.crs is None or not sites.crs.equals("EPSG:4326"):
        sites = sites.to_crs("EPSG:4326")
    pts = sites.geometry.where(sites.geom_type == "Point", sites.geometry.representative_point())
    lon, lat = np.asarray(pts.x, dtype=float), np.asarray(pts.y, dtype=float)
    glon, glat = _crs.wgs84_to_gcj02(lon, lat)
    sites["lon_wgs84"], sites["lat_wgs84"] = np.round(lon, 7), np.round(lat, 7)
    sites["lon_gcj02"], sites["lat_gcj02"] = np.round(glon, 7), np.round(glat, 7)
    clon, clat = _crs.wgs84_to_cgcs2000(lon, lat)
    sites["lon_cgcs2000"], sites["lat_cgcs2000"] = np.round(clon, 7), np.round(clat, 7)
    if "site_id" not in sites.columns:
        sites["site_id"] = sites.index.astype(str)
    cols = [c for c in SITE_COLUMNS if c in sites.columns]
    if gk is not None:
        east, north = _crs.cgcs2000_to_gk3(clon, clat, zone=gk.zone, zone_prefix=gk.zone_prefix)
        sites[gk.east], sites[gk.north] = np.round(east, 3), np.round(north, 3)
        at = cols.index("lat_cgcs2000") + 1
        cols[at:at] = [gk.east, gk.north]
    extra = [c for c in sites.columns if c not in cols and c != sites.geometry.name]
    out = sites[cols + extra + [sites.geometry.name]]
    if "order" in out.columns:
        out = out.sort_values("order", kind="stable")
    return gpd.GeoDataFrame(out, geometry=sites.geometry.name, crs="EPSG:4326")


def street_comparison(assessment: Any) -> gpd.GeoDataFrame:
    """Per-街道 before/after table: static columns once, changing ones as ``<col>_before/_after``,
    plus ``new_sites`` and ``new_places`` of the plan (EPSG:4326)."""
    plan = _plan(assessment)
    before, after = assessment.streets, assessment.streets_after
    out = pd.DataFrame(index=before.index)
    for c in _STATIC_STREET:
        if c in before.columns:
            out[c] = before[c]
    for c in _changing_street(minute_key(assessment.minutes)):
        if c in before.columns:
            out[f"{c}_before"] = before[c]
            out[f"{c}_after"] = after[c].reindex(before.index)
    by = plan.sites.groupby("street_id")
    out["new_sites"] = by.size().reindex(out.index).fillna(0).astype(int)
    out["new_places"] = by["places"].sum().reindex(out.index).fillna(0).astype(int)
    g = assessment.gaps[assessment.gaps["street_id"] != ""]
    out["unmet_reasons"] = g.groupby("street_id")["why"].agg("；".join).reindex(out.index).fillna("")
    return gpd.GeoDataFrame(out, geometry=before.geometry.values, crs=before.crs).to_crs("EPSG:4326")


def comparison_total(assessment: Any, comparison: pd.DataFrame) -> dict[str, Any]:
    """The 合计 row of :func:`street_comparison`: ``assessment.total``/``total_after`` per column,
    new sites and places summed."""
    row: dict[str, Any] = {}
    for c in plain(comparison).columns:
        if c.endswith("_before"):
            row[c] = assessment.total.get(c[: -len("_before")])
        elif c.endswith("_after"):
            row[c] = assessment.total_after.get(c[: -len("_after")])
        elif c in ("new_sites", "new_places"):
            row[c] = int(comparison[c].sum())
        elif c == "unmet_reasons":
            row[c] = "；".join(assessment.gaps.loc[assessment.gaps["street_id"] == "", "why"])
        else:
            row[c] = assessment.total.get(c)
    row["street_id"] = row["name"] = "合计"
    return row


def community_coverage(assessment: Any) -> gpd.GeoDataFrame:
    """Communities with their coverage at ``assessment.minutes`` before and after the plan."""
    _plan(assessment)
    mk = minute_key(assessment.minutes)
    comm = assessment.area.communities
    keep = [c for c in ("community_id", "name", "street_id", "population", "infants", "is_new")
            if c in comm.columns]
    out = gpd.GeoDataFrame(comm[keep].copy(), geometry=comm.geometry, crs=comm.crs).to_crs("EPSG:4326")
    before = assessment.access.communities.reindex(out.index)
    after = assessment.access_after.communities.reindex(out.index)
    for what in ("any", "puhui"):
        out[f"within{mk}_{what}_before"] = before[f"within{mk}_{what}"].fillna(False).astype(bool)
        out[f"within{mk}_{what}_after"] = after[f"within{mk}_{what}"].fillna(False).astype(bool)
    out["newly_covered"] = out[f"within{mk}_puhui_after"] & ~out[f"within{mk}_puhui_before"]
    if "nearest_puhui_m" in after.columns:
        out["nearest_puhui_m_after"] = after["nearest_puhui_m"].round(1)
    return out


def isochrone_layer(assessment: Any) -> gpd.GeoDataFrame | None:
    """``assessment.isochrones`` for the GeoPackage (kinds in Chinese), or None when absent; areas
    merged per 街道 keep ``street_id``, ``facilities`` and ``merged``."""
    iso = assessment.isochrones
    if iso is None:
        return None
    cols = [c for c in ("id", "kind", "name", "minutes", "distance_m", "area_m2", "street_id", "facilities", "merged")
            if c in iso.columns]
    out = gpd.GeoDataFrame(pd.DataFrame(iso[cols]), geometry=iso.geometry.values, crs=iso.crs).to_crs("EPSG:4326")
    out["kind"] = out["kind"].map(lambda k: ISOCHRONE_KINDS_ZH.get(k, k))
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------- manifest

def manifest(assessment: Any, sites: pd.DataFrame, *, timings: Mapping[str, float] | None = None,
             gk: GaussKruger | None | bool = True, gpkg_crs: str = "wgs84") -> dict:
    """What the exports record about how they were made (``outputs`` is filled by :func:`export_plan`)."""
    area, plan = assessment.area, _plan(assessment)
    gk = _zone(assessment) if gk is True else gk or None
    return {
        "tool": "tuoyu-geo",
        "tool_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "area": area.name,
        "attribution": area.attribution,
        "crs": {"storage": "EPSG:4326 (WGS-84)", "also_written": "GCJ-02 lon/lat columns (lon_gcj02, lat_gcj02)",
                "metric": str(area.metric_crs),
                "cgcs2000": {"epsg": _crs.CGCS2000_EPSG, "columns": ["lon_cgcs2000", "lat_cgcs2000"],
                             "transform": _crs.transform_description(4326, _crs.CGCS2000_EPSG),
                             "note": _crs.CGCS2000_NOTE},
                "gauss_kruger": gk.to_dict() if gk is not None else None,
                "gis_layers": _gis_crs_name(gpkg_crs, gk)},
        "inputs": {k: {"path": str(v), "sha256": sha256_file(v)} for k, v in dict(area.files).items()},
        "policy": jsonable(assessment.policy),
        "plan": jsonable(plan.to_dict()),
        "minutes": jsonable(assessment.minutes),
        "distance_model": _distance_model(assessment.access),
        "service_areas": service_area_record(assessment),
        "summary": {"sites": int(len(sites)), "places": jsonable(sites["places"].sum()),
                    "cost_wan_yuan": jsonable(sites["cost"].sum()),
                    "new_infants_covered": jsonable(sites["new_infants_covered"].sum())},
        "timings": {**{str(k): jsonable(v) for k, v in dict(assessment.timings).items()},
                    "solve_s": jsonable(plan.solve_seconds),
                    **{str(k): jsonable(v) for k, v in (timings or {}).items()}},
        "columns": {"sites": labels(c for c in sites.columns if c != sites.geometry.name)},
        "outputs": [],
    }


def service_area_record(assessment: Any) -> dict[str, Any] | None:
    """The manifest's record of the service areas: per kind how many facilities, how many areas and
    whether they are merged per 街道 (``settings.ISO_MERGE_ABOVE``), with the note in Chinese; None
    without service areas."""
    iso = assessment.isochrones
    if iso is None:
        return None
    merged_col = iso["merged"].astype(bool) if "merged" in iso.columns else pd.Series(False, index=iso.index)
    count = iso["facilities"] if "facilities" in iso.columns else pd.Series(1, index=iso.index)
    kinds = {}
    for kind in pd.unique(iso["kind"]):
        sel = (iso["kind"] == kind).to_numpy()
        n, m, merged = int(count[sel].sum()), int(sel.sum()), bool(merged_col[sel].any())
        who = ISOCHRONE_KINDS_ZH.get(kind, kind)
        note = ISO_MERGED_ZH["merged" if merged else "single"].format(who=who, n=n, m=m,
                                                                       above=settings.ISO_MERGE_ABOVE)
        kinds[str(kind)] = {"facilities": n, "areas": m, "merged_per_street": merged, "note": note}
    return {"merge_above": settings.ISO_MERGE_ABOVE, "kinds": kinds}


def _distance_model(acc: Any) -> dict[str, Any]:
    """The manifest's record of how walking distances were measured."""
    model, f = acc.distance_model, acc.detour_factor
    out: dict[str, Any] = {"model": model, "label": distance_model_label(model, f),
                           "label_en": distance_model_label(model, f, english=True),
                           "note": distance_model_note(model, f)}
    if f is not None:
        out["detour_factor"] = jsonable(f)
        out["default_source"] = settings.DETOUR_SOURCE
    return out


def _gis_epsg(gpkg_crs: str, gk: GaussKruger | None) -> int:
    if gpkg_crs == "gk3":
        if gk is None:
            raise ValueError("gpkg_crs='gk3' needs a Gauss-Krüger zone and the area lies outside the CGCS2000 "
                             "3-degree zones 25–45; pass gk_zone= or use gpkg_crs='wgs84'")
        return gk.epsg
    return {"wgs84": 4326, "cgcs2000": _crs.CGCS2000_EPSG}[gpkg_crs]


def _gis_crs_name(gpkg_crs: str, gk: GaussKruger | None) -> str:
    names = {"wgs84": "WGS 84", "cgcs2000": "China Geodetic Coordinate System 2000",
             "gk3": gk.name if gk is not None else ""}
    return f"EPSG:{_gis_epsg(gpkg_crs, gk)} ({names[gpkg_crs]})"


def _crs_rows(man: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """方案参数 rows on the coordinate systems."""
    c, g = man["crs"], man["crs"]["gauss_kruger"]
    gk = ("无（研究区不在 CGCS2000 3度带 25–45 带范围内）" if g is None else
          f"{g['name']}（EPSG:{g['epsg']}），3度带第{g['zone']}带，中央经线{g['central_meridian_deg']}°E，"
          f"东坐标{'含' if g['zone_prefix'] else '不含'}带号；{g['chosen_from']}")
    return [("坐标系 CGCS2000", "EPSG:4490；" + c["cgcs2000"]["note"]), ("高斯-克吕格投影 Gauss-Krüger", gk),
            ("GeoPackage/Shapefile 坐标系", c["gis_layers"])]


def _parameter_rows(assessment: Any, man: Mapping[str, Any]) -> pd.DataFrame:
    """The 方案参数 sheet."""
    plan, pol = assessment.plan, assessment.policy
    rows: list[tuple[str, Any]] = [
        ("工具版本 tool version", man["tool_version"]), ("生成时间 created (UTC)", man["created_utc"]),
        ("研究区 study area", man["area"]), ("政策口径 policy profile", pol.name), ("政策名称 policy title", pol.title),
        ("每千人口托位目标", pol.places_per_1000), ("普惠占比目标", pol.puhui_share),
        ("一街道一普惠", bool(pol.one_puhui_per_street)), ("步行分钟 minutes", man["minutes"]),
        ("距离口径 distance model", man["distance_model"]["label"]),
        ("求解状态 status", jsonable(plan.status)), ("最优间隙 MIP gap", jsonable(plan.gap)),
        ("求解时间（秒）solve seconds", jsonable(plan.solve_seconds)),
        ("推荐站点数 sites", man["summary"]["sites"]), ("新增托位 new places", man["summary"]["places"]),
        ("总投资（万元）total cost", man["summary"]["cost_wan_yuan"]),
    ]
    rows += [(f"服务范围 service areas（{ISOCHRONE_KINDS_ZH.get(k, k)}）", v["note"])
             for k, v in ((man.get("service_areas") or {}).get("kinds") or {}).items()]
    for k, v in jsonable(plan.options).items():
        rows.append((f"参数 {k}", json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v))
    rows += [(f"目标值 {k}", jsonable(v)) for k, v in dict(plan.objective_values).items()]
    rows += [(f"输入文件 {k} sha256", v["sha256"]) for k, v in man["inputs"].items()]
    rows += _crs_rows(man)
    return pd.DataFrame(rows, columns=["参数", "值"])


# ---------------------------------------------------------------------------------- writing

def _notes(columns: Sequence[str]) -> dict[str, str]:
    return {label(c): d for c in columns if (d := definition(c))}


def _xlsx_sheets(assessment: Any, sites: gpd.GeoDataFrame, comp: gpd.GeoDataFrame,
                 man: Mapping[str, Any]) -> tuple[dict[str, pd.DataFrame], dict, dict]:
    comp_tab = with_total(comp, comparison_total(assessment, comp))
    sheets = {"推荐站点": zh(plain(sites)), "街道前后对比": zh(comp_tab), "方案参数": _parameter_rows(assessment, man)}
    fmts = {"推荐站点": number_formats(sites.columns), "街道前后对比": number_formats(comp_tab.columns)}
    notes = {"街道前后对比": _notes(comp_tab.columns)}
    return sheets, fmts, notes


def _styles(mk: str, layers: Mapping[str, gpd.GeoDataFrame] | None = None) -> dict[str, _gpkg.Style]:
    """Default QGIS style of each GIS layer (English column names); the description of the
    service-area layer of ``layers`` says which kinds are merged per 街道."""
    kinds = ISOCHRONE_KINDS_ZH
    out = {
        "推荐站点": _gpkg.Style("point", color="215,25,28,255", marker="star", size_mm=5, label_field="name",
                            description="推荐新建普惠站点"),
        "街道指标": _gpkg.Style("polygon", color="200,200,200,120", field="status_after", label_field="name",
                            categories=((MET, f"方案后{MET}", "26,150,65,110"),
                                        (NOT_MET, f"方案后{NOT_MET}", "215,48,39,110")),
                            description="街道按方案后综合状态着色"),
        "小区覆盖": _gpkg.Style("point", color="99,99,99,255", size_mm=1.6,
                            description=f"小区（{mk}分钟覆盖见属性）"),
        "服务范围": _gpkg.Style("polygon", color="150,150,150,60", field="kind",
                            categories=((kinds["existing_puhui"], kinds["existing_puhui"], "49,130,189,60"),
                                        (kinds["recommended"], kinds["recommended"], "222,119,174,80")),
                            description=f"{mk}分钟步行服务范围"),
    }
    if layers is not None and "服务范围" in layers:
        out["服务范围"] = _service_area_style(out["服务范围"], layers["服务范围"], mk)
    return out


def _service_area_style(style: _gpkg.Style, iso: gpd.GeoDataFrame, mk: str) -> _gpkg.Style:
    """The 服务范围 style, its description saying which kinds are merged per 街道."""
    if "merged" not in iso.columns or not iso["merged"].astype(bool).any():
        return style
    kinds = "、".join(pd.unique(iso.loc[iso["merged"].astype(bool), "kind"]))
    return replace(style, description=ISO_MERGED_ZH["layer"].format(mk=mk, kinds=kinds))


def _gis_layers(assessment: Any, sites: gpd.GeoDataFrame, comp: gpd.GeoDataFrame,
                epsg: int) -> dict[str, gpd.GeoDataFrame]:
    """GeoPackage/Shapefile layers (English columns) in EPSG ``epsg``."""
    layers = {"推荐站点": sites, "街道指标": comp, "小区覆盖": community_coverage(assessment)}
    iso = isochrone_layer(assessment)
    if iso is not None:
        layers["服务范围"] = iso
    else:
        log.info("the assessment has no isochrones: the GeoPackage has no 服务范围 layer")
    return {k: v.to_crs(epsg) for k, v in layers.items()}


def _sheet_of(layer: str) -> str:
    return "community" if layer == "小区覆盖" else "street"


def _write_gpkg(layers: Mapping[str, gpd.GeoDataFrame], path: Path, mk: str) -> dict[str, dict[str, str]]:
    """The GeoPackage with ASCII fields, aliases and styles; returns {layer: {field: alias}}."""
    styles, out, schemas, fields = _styles(mk, layers), {}, {}, {}
    for name, gdf in layers.items():
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        names = _gpkg.ascii_names(cols)
        aliases = {names[c]: (label(c), definition(c, _sheet_of(name))) for c in cols}
        out[name] = gdf.rename(columns=names)
        qml = _gpkg.qml(styles[name], names, {f: a for f, (a, _) in aliases.items()})
        schemas[name] = _gpkg.LayerSchema(aliases, qml, description=styles[name].description)
        fields[name] = {f: a for f, (a, _) in aliases.items()}
    FORMATS["gpkg"].write(out, path)
    _gpkg.add_schema(path, schemas)
    return fields


def _write_all(assessment: Any, tmp: Mapping[str, Path], man: dict, sites: gpd.GeoDataFrame,
               comp: gpd.GeoDataFrame, epsg: int) -> None:
    """Write every requested file to its temporary path, the manifest last."""
    mk = minute_key(assessment.minutes)
    gis = _gis_layers(assessment, sites, comp, epsg) if {"gpkg", "shp"} & set(tmp) else {}
    if "gpkg" in tmp:
        man["columns"]["gpkg_fields"] = _write_gpkg(gis, tmp["gpkg"], mk)
    if "shp" in tmp:
        styles = _styles(mk, gis)
        shp = {SHP_LAYERS[k]: (v, styles[k]) for k, v in gis.items()}
        aliases = {c: label(c) for g in gis.values() for c in g.columns}
        man["columns"]["shapefile"] = _gpkg.write_shapefile_zip(shp, tmp["shp"], aliases=aliases)
    if "xlsx" in tmp:
        sheets, fmts, notes = _xlsx_sheets(assessment, sites, comp, man)
        FORMATS["xlsx"].write(sheets, tmp["xlsx"], number_formats=fmts, notes=notes)
    if "csv" in tmp:
        FORMATS["csv"].write(zh(plain(sites)), tmp["csv"])
    if "geojson" in tmp:
        FORMATS["geojson"].write(sites, tmp["geojson"])
    man["outputs"] = [{"kind": k, "file": FILE_NAMES[k], "bytes": p.stat().st_size, "sha256": sha256_file(p)}
                      for k, p in tmp.items() if k != "manifest"]
    FORMATS["json"].write(man, tmp["manifest"])


def export_plan(assessment: Any, out_dir: str | Path, *, formats: Sequence[str] = DEFAULT_FORMATS,
                timings: Mapping[str, float] | None = None, gpkg_crs: str = "wgs84",
                gk_zone: int | None = None, gk_zone_prefix: bool = True) -> dict[str, Path]:
    """Write the site plan of an assessment for land-use review.

    Parameters
    ----------
    assessment : Assessment
        Result of :func:`tuoyu_geo.pipeline.assess` with a plan.
    out_dir : path
        Output folder (created).  Files of the same names are replaced; other files are kept.
    formats : sequence of {"gpkg", "xlsx", "csv", "geojson", "shp"}
        What to write (default all but ``shp``); ``manifest.json`` is always written.
    timings : mapping, optional
        Extra step timings in seconds for the manifest (e.g. from the CLI).
    gpkg_crs : {"wgs84", "cgcs2000", "gk3"}
        Coordinate system of the GeoPackage and Shapefile layers: WGS-84 (EPSG:4326, default),
        CGCS2000 lon/lat (EPSG:4490) or the area's CGCS2000 3° Gauss-Krüger zone (e.g. EPSG:4528).
    gk_zone : int, optional
        Gauss-Krüger zone (25–45); default from the area's centroid (:func:`gauss_kruger`).
    gk_zone_prefix : bool
        Eastings with the zone number in front (EPSG:4513–4533, default) or not (EPSG:4534–4554).

    Returns
    -------
    dict
        Kind (``gpkg``, ``xlsx``, ``csv``, ``geojson``, ``manifest``) → path written.

    Notes
    -----
    - GeoPackage layers: 推荐站点, 街道指标 (方案前/方案后 columns), 小区覆盖, 服务范围
      (``assessment.isochrones``; omitted when the assessment has none).  Field names are ASCII
      (the English column names); the Chinese headers are their aliases (``gpkg_data_columns``)
      and each layer has a default QGIS style (``layer_styles``).
    - ``tuoyu_plan.shp.zip`` (``"shp"``): the same layers as Shapefiles ``sites``, ``streets``,
      ``communities``, ``service_areas`` with ≤ 10-byte field names (``field_names.csv`` and the
      manifest map them), UTF-8 ``.cpg`` and a ``.qml`` style each.
    - The site tables carry WGS-84, GCJ-02, CGCS2000 lon/lat and Gauss-Krüger easting/northing;
      the zone and EPSG code are in the headers, ``manifest.json`` and the 方案参数 sheet.
    - XLSX sheets: 推荐站点, 街道前后对比 (with the 合计 row), 方案参数.
    - ``recommended_sites.csv`` (UTF-8 with BOM) and ``recommended_sites.geojson`` (English keys).
    - ``manifest.json``: tool version, inputs with sha256, policy, ``plan.to_dict()``, timings and
      the outputs with their sha256.

    Raises
    ------
    ValueError
        Unknown formats, or the assessment has no plan.
    OutputError
        ``out_dir`` cannot be created or written; the folder is left as it was.
    """
    t0 = time.perf_counter()
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"unknown export formats {unknown}; use some of {EXPORT_FORMATS}")
    if gpkg_crs not in GIS_CRS:
        raise ValueError(f"unknown gpkg_crs {gpkg_crs!r}; use one of {GIS_CRS}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise output_error(out_dir, "it exists and is not a folder")
    _plan(assessment)  # an Assessment with a plan, else a clear error
    gk = _zone(assessment, gk_zone, gk_zone_prefix)
    epsg = _gis_epsg(gpkg_crs, gk)
    sites, comp = site_table(assessment, gk=gk), street_comparison(assessment)
    man = manifest(assessment, sites, timings=timings, gk=gk, gpkg_crs=gpkg_crs)
    kinds = [k for k in EXPORT_FORMATS if k in formats] + ["manifest"]
    targets = {k: out_dir / FILE_NAMES[k] for k in kinds}
    t_tables = time.perf_counter()
    man["timings"]["tables_s"] = round(t_tables - t0, 3)
    with atomic_paths(list(targets.values())) as temps:
        _write_all(assessment, dict(zip(kinds, temps, strict=True)), man, sites, comp, epsg)
    log.info("exported %d files to %s in %.1f s", len(targets), out_dir, time.perf_counter() - t0)
    return targets
