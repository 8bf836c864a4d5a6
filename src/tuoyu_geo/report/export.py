"""Exports of a site plan for land-use review (用地审查): GeoPackage, XLSX, CSV, GeoJSON and a
``manifest.json`` that records how they were made.

Everything is read from an :class:`~tuoyu_geo.pipeline.Assessment`: the plan, the before/after
scorecards and their total rows, the access before/after and the service areas.  Nothing is solved
or computed here.  :func:`export_plan` writes all files all-or-nothing
(:func:`tuoyu_geo.writer.atomic_paths`): on any failure the folder is left exactly as it was.

Tables meant for people (XLSX, CSV, GeoPackage) have Chinese headers from
:mod:`tuoyu_geo.report.labels`; the GeoJSON keeps English keys for web and scripting use
(``manifest.json`` maps them to the Chinese headers).  Coordinates are stored in WGS-84
(EPSG:4326); the site tables also carry GCJ-02 lon/lat columns for 高德/腾讯 maps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import crs as _crs
from .._version import __version__
from ..rules import RULES
from ..writer import FORMATS, atomic_paths, jsonable, output_error, sha256_file
from ._assessment import require
from .labels import ISOCHRONE_KINDS_ZH, definition, label, labels, minute_key, number_formats
from .scorecard import plain, with_total, zh

log = logging.getLogger(__name__)

__all__ = [
    "EXPORT_FORMATS",
    "FILE_NAMES",
    "SITE_COLUMNS",
    "community_coverage",
    "comparison_total",
    "export_plan",
    "isochrone_layer",
    "manifest",
    "site_table",
    "street_comparison",
]

#: what :func:`export_plan` can write (``manifest.json`` is always written)
EXPORT_FORMATS = ("gpkg", "xlsx", "csv", "geojson")
#: file name per output kind (inside ``out_dir``)
FILE_NAMES = {"gpkg": "tuoyu_plan.gpkg", "xlsx": "tuoyu_plan.xlsx", "csv": "recommended_sites.csv",
              "geojson": "recommended_sites.geojson", "manifest": "manifest.json"}
#: columns of the site table, in order (others of ``plan.sites`` follow)
SITE_COLUMNS = ("site_id", "name", "kind", "street_id", "street_name", "places", "classes", "cost",
                "new_infants_covered", "reason", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "year",
                "order", "nearest_puhui_id", "nearest_puhui_m", "runner_up_id")
_STATIC_STREET = ("street_id", "name", "district", "population", "infants", "target_per_1000", "puhui_target")


def _changing_street(mk: str) -> tuple[str, ...]:
    status = tuple(r.status_column for r in RULES if r.status_column)
    return ("institutions", "places", "puhui_institutions", "puhui_places", "places_per_1000", "place_gap",
            "puhui_share", "has_puhui", f"cover{mk}_any", f"cover{mk}_puhui", "sfca_mean",
            "res_missing_places", *status, "status")


def _plan(assessment: Any) -> Any:
    return require(assessment, "export", plan=True).plan


# ---------------------------------------------------------------------------------- tables

def site_table(assessment: Any) -> gpd.GeoDataFrame:
    """Recommended sites (English columns, EPSG:4326) with WGS-84 and GCJ-02 lon/lat columns.

    ``lon_wgs84``/``lat_wgs84`` are the coordinates of the geometry; ``lon_gcj02``/``lat_gcj02``
    are :func:`tuoyu_geo.crs.wgs84_to_gcj02` of them (rounded to 1e-7°, about 1 cm).  Rows are in
    the plan's priority ``order``.
    """
    sites = _plan(assessment).sites.copy()
    if sites.crs is None or not sites.crs.equals("EPSG:4326"):
        sites = sites.to_crs("EPSG:4326")
    pts = sites.geometry.where(sites.geom_type == "Point", sites.geometry.representative_point())
    lon, lat = np.asarray(pts.x, dtype=float), np.asarray(pts.y, dtype=float)
    glon, glat = _crs.wgs84_to_gcj02(lon, lat)
    sites["lon_wgs84"], sites["lat_wgs84"] = np.round(lon, 7), np.round(lat, 7)
    sites["lon_gcj02"], sites["lat_gcj02"] = np.round(glon, 7), np.round(glat, 7)
    if "site_id" not in sites.columns:
        sites["site_id"] = sites.index.astype(str)
    cols = [c for c in SITE_COLUMNS if c in sites.columns]
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
    """``assessment.isochrones`` for the GeoPackage (kinds in Chinese), or None when absent."""
    iso = assessment.isochrones
    if iso is None:
        return None
    cols = [c for c in ("id", "kind", "name", "minutes", "distance_m", "area_m2") if c in iso.columns]
    out = gpd.GeoDataFrame(pd.DataFrame(iso[cols]), geometry=iso.geometry.values, crs=iso.crs).to_crs("EPSG:4326")
    out["kind"] = out["kind"].map(lambda k: ISOCHRONE_KINDS_ZH.get(k, k))
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------- manifest

def manifest(assessment: Any, sites: pd.DataFrame, *, timings: Mapping[str, float] | None = None) -> dict:
    """What the exports record about how they were made (``outputs`` is filled by :func:`export_plan`)."""
    area, plan = assessment.area, _plan(assessment)
    return {
        "tool": "tuoyu-geo",
        "tool_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "area": area.name,
        "attribution": area.attribution,
        "crs": {"storage": "EPSG:4326 (WGS-84)", "also_written": "GCJ-02 lon/lat columns (lon_gcj02, lat_gcj02)",
                "metric": str(area.metric_crs)},
        "inputs": {k: {"path": str(v), "sha256": sha256_file(v)} for k, v in dict(area.files).items()},
        "policy": jsonable(assessment.policy),
        "plan": jsonable(plan.to_dict()),
        "minutes": jsonable(assessment.minutes),
        "summary": {"sites": int(len(sites)), "places": jsonable(sites["places"].sum()),
                    "cost_wan_yuan": jsonable(sites["cost"].sum()),
                    "new_infants_covered": jsonable(sites["new_infants_covered"].sum())},
        "timings": {**{str(k): jsonable(v) for k, v in dict(assessment.timings).items()},
                    "solve_s": jsonable(plan.solve_seconds),
                    **{str(k): jsonable(v) for k, v in (timings or {}).items()}},
        "columns": {"sites": labels(c for c in sites.columns if c != sites.geometry.name)},
        "outputs": [],
    }


def _parameter_rows(assessment: Any, man: Mapping[str, Any]) -> pd.DataFrame:
    """The 方案参数 sheet."""
    plan, pol = assessment.plan, assessment.policy
    rows: list[tuple[str, Any]] = [
        ("工具版本 tool version", man["tool_version"]), ("生成时间 created (UTC)", man["created_utc"]),
        ("研究区 study area", man["area"]), ("政策口径 policy profile", pol.name), ("政策名称 policy title", pol.title),
        ("每千人口托位目标", pol.places_per_1000), ("普惠占比目标", pol.puhui_share),
        ("一街道一普惠", bool(pol.one_puhui_per_street)), ("步行分钟 minutes", man["minutes"]),
        ("求解状态 status", jsonable(plan.status)), ("最优间隙 MIP gap", jsonable(plan.gap)),
        ("求解时间（秒）solve seconds", jsonable(plan.solve_seconds)),
        ("推荐站点数 sites", man["summary"]["sites"]), ("新增托位 new places", man["summary"]["places"]),
        ("总投资（万元）total cost", man["summary"]["cost_wan_yuan"]),
    ]
    for k, v in jsonable(plan.options).items():
        rows.append((f"参数 {k}", json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v))
    rows += [(f"目标值 {k}", jsonable(v)) for k, v in dict(plan.objective_values).items()]
    rows += [(f"输入文件 {k} sha256", v["sha256"]) for k, v in man["inputs"].items()]
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


def _gpkg_layers(assessment: Any, sites: gpd.GeoDataFrame, comp: gpd.GeoDataFrame) -> dict[str, Any]:
    layers = {"推荐站点": zh(sites), "街道指标": zh(comp), "小区覆盖": zh(community_coverage(assessment))}
    iso = isochrone_layer(assessment)
    if iso is not None:
        layers["服务范围"] = zh(iso)
    else:
        log.info("the assessment has no isochrones: the GeoPackage has no 服务范围 layer")
    return layers


def _write_all(assessment: Any, tmp: Mapping[str, Path], man: dict, sites: gpd.GeoDataFrame,
               comp: gpd.GeoDataFrame) -> None:
    """Write every requested file to its temporary path, the manifest last."""
    if "gpkg" in tmp:
        FORMATS["gpkg"].write(_gpkg_layers(assessment, sites, comp), tmp["gpkg"])
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


def export_plan(assessment: Any, out_dir: str | Path, *, formats: Sequence[str] = EXPORT_FORMATS,
                timings: Mapping[str, float] | None = None) -> dict[str, Path]:
    """Write the site plan of an assessment for land-use review.

    Parameters
    ----------
    assessment : Assessment
        Result of :func:`tuoyu_geo.pipeline.assess` with a plan.
    out_dir : path
        Output folder (created).  Files of the same names are replaced; other files are kept.
    formats : sequence of {"gpkg", "xlsx", "csv", "geojson"}
        What to write; ``manifest.json`` is always written.
    timings : mapping, optional
        Extra step timings in seconds for the manifest (e.g. from the CLI).

    Returns
    -------
    dict
        Kind (``gpkg``, ``xlsx``, ``csv``, ``geojson``, ``manifest``) → path written.

    Notes
    -----
    - GeoPackage (EPSG:4326) layers: 推荐站点, 街道指标 (方案前/方案后 columns), 小区覆盖, 服务范围
      (``assessment.isochrones``; omitted when the assessment has none).
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
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise output_error(out_dir, "it exists and is not a folder")
    sites, comp = site_table(assessment), street_comparison(assessment)
    man = manifest(assessment, sites, timings=timings)
    kinds = [k for k in EXPORT_FORMATS if k in formats] + ["manifest"]
    targets = {k: out_dir / FILE_NAMES[k] for k in kinds}
    t_tables = time.perf_counter()
    man["timings"]["tables_s"] = round(t_tables - t0, 3)
    with atomic_paths(list(targets.values())) as temps:
        _write_all(assessment, dict(zip(kinds, temps, strict=True)), man, sites, comp)
    log.info("exported %d files to %s in %.1f s", len(targets), out_dir, time.perf_counter() - t0)
    return targets
