"""Exports for land-use review (用地审查): GeoPackage, XLSX, CSV and GeoJSON of a site plan, plus a
``manifest.json`` that records how the outputs were made.

Every write is atomic.  Single files go through :func:`atomic_write` (temporary file in the same
folder, then :func:`os.replace`); :func:`export_plan` writes all its files into a temporary folder
beside ``out_dir`` and moves them into place only when all of them have been written, rolling back
on any failure, so a failed export never leaves a half-written or partial set of files.

Tables meant for people (XLSX, CSV, GeoPackage) have Chinese headers; the GeoJSON keeps English keys
for web and scripting use (``manifest.json`` maps them to the Chinese headers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import crs as _crs
from ._errors import OutputError

log = logging.getLogger(__name__)

__all__ = [
    "FILE_NAMES",
    "SITE_LABELS_ZH",
    "atomic_write",
    "export_plan",
    "site_table",
    "street_comparison",
    "write_scorecard_file",
]

FORMATS = ("gpkg", "xlsx", "csv", "geojson")
#: file name per output kind (inside ``out_dir``)
FILE_NAMES = {"gpkg": "tuoyu_plan.gpkg", "xlsx": "tuoyu_plan.xlsx", "csv": "recommended_sites.csv",
              "geojson": "recommended_sites.geojson", "manifest": "manifest.json"}

#: English site column → Chinese header (XLSX, CSV, GeoPackage)
SITE_LABELS_ZH: dict[str, str] = {
    "site_id": "站点编号",
    "name": "名称",
    "kind": "站点类型",
    "street_id": "街道编号",
    "street_name": "所属街道",
    "places": "托位数",
    "classes": "班级配置",
    "cost": "投资估算（万元）",
    "new_infants_covered": "新增覆盖婴幼儿数",
    "reason": "推荐理由（满足的规则）",
    "lon_wgs84": "经度（WGS-84）",
    "lat_wgs84": "纬度（WGS-84）",
    "lon_gcj02": "经度（GCJ-02）",
    "lat_gcj02": "纬度（GCJ-02）",
    "year": "建设年份",
    "order": "优先顺序",
    "nearest_puhui_id": "最近普惠机构编号",
    "nearest_puhui_m": "距最近普惠机构（米）",
    "runner_up_id": "备选站点编号",
}

# street scorecard labels used when indicators.COLUMN_LABELS_ZH lacks one
_STREET_LABELS_ZH: dict[str, str] = {
    "street_id": "街道编号", "name": "街道", "population": "常住人口", "infants": "0–3岁婴幼儿数",
    "institutions": "托育机构数", "places": "托位数", "puhui_institutions": "普惠机构数",
    "puhui_places": "普惠托位数", "places_per_1000": "每千人口托位数", "target_per_1000": "每千人口托位目标",
    "place_gap": "托位缺口", "puhui_share": "普惠托位占比", "puhui_target": "普惠占比目标",
    "has_puhui": "有普惠机构", "cover5_any": "5分钟覆盖率（任一机构）", "cover10_any": "10分钟覆盖率（任一机构）",
    "cover15_any": "15分钟覆盖率（任一机构）", "cover5_puhui": "5分钟普惠覆盖率", "cover10_puhui": "10分钟普惠覆盖率",
    "cover15_puhui": "15分钟普惠覆盖率", "sfca_mean": "2SFCA可达性均值", "res_meet": "居住区配建达标小区数",
    "res_miss": "居住区配建未达标小区数", "res_missing_places": "居住区配建缺口托位",
    "status_places": "托位指标", "status_puhui_share": "普惠占比指标", "status_one_puhui": "一街道一普惠",
    "status_residential": "居住区配建", "status": "评估结论", "district": "区县",
    "new_sites": "新增站点数", "new_places": "新增托位数",
}
_STATIC_STREET = ("street_id", "name", "district", "population", "infants", "target_per_1000", "puhui_target")
_CHANGING_STREET = ("institutions", "places", "puhui_institutions", "puhui_places", "places_per_1000",
                    "place_gap", "puhui_share", "has_puhui", "cover5_puhui", "cover10_puhui", "cover15_any",
                    "cover15_puhui", "sfca_mean", "res_missing_places", "status")


# ---------------------------------------------------------------------------------- atomic I/O

def _output_error(path: Path, exc: BaseException | str) -> OutputError:
    return OutputError(f"cannot write {path}: {exc}\n  fix: choose a folder you can write to (e.g. --out "
                       f"./outputs), check its permissions and free disk space, and close the file if it "
                       f"is open in Excel/WPS/QGIS")


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write a file atomically.

    Yields a temporary path in the same folder (same suffix, so drivers that look at the extension
    work); when the block finishes without error the temporary file replaces ``path`` in one
    :func:`os.replace`.  On any error the temporary file is removed and ``path`` is untouched.

    Raises
    ------
    OutputError
        If the folder cannot be created or the file cannot be written (says which path and how to fix).

    Examples
    --------
    >>> with atomic_write("out/table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(path, exc) from exc
    if path.is_dir():
        raise _output_error(path, "a folder of that name exists")
    tmp = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise _output_error(path, "nothing was written")
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        if isinstance(exc, OutputError):
            raise
        raise _output_error(path, exc) from exc
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(p: Path) -> None:
    try:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove temporary file %s", p)


def _sha256(path: str | Path) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset, pd.Index, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, Path):
        return str(v)
    return str(v)


# ---------------------------------------------------------------------------------- tables

def _labels_streets() -> dict[str, str]:
    try:
        from .indicators import COLUMN_LABELS_ZH
    except ImportError:
        return dict(_STREET_LABELS_ZH)
    return {**_STREET_LABELS_ZH, **dict(COLUMN_LABELS_ZH)}


def site_table(plan: Any) -> gpd.GeoDataFrame:
    """Recommended sites with WGS-84 and GCJ-02 coordinates (English columns, EPSG:4326)."""
    sites = plan.sites.copy()
    if sites.crs is not None and not sites.crs.equals("EPSG:4326"):
        sites = sites.to_crs("EPSG:4326")
    pts = sites.geometry.representative_point() if len(sites) else sites.geometry
    lon = np.asarray(pts.x, dtype=float) if len(sites) else np.array([])
    lat = np.asarray(pts.y, dtype=float) if len(sites) else np.array([])
    glon, glat = _crs.wgs84_to_gcj02(lon, lat)
    sites["lon_wgs84"], sites["lat_wgs84"] = np.round(lon, 7), np.round(lat, 7)
    sites["lon_gcj02"], sites["lat_gcj02"] = np.round(glon, 7), np.round(glat, 7)
    if "site_id" not in sites.columns:
        sites["site_id"] = sites.index.astype(str)
    cols = [c for c in SITE_LABELS_ZH if c in sites.columns]
    extra = [c for c in sites.columns if c not in cols and c != sites.geometry.name]
    out = sites[cols + extra + [sites.geometry.name]]
    if "order" in out.columns:
        out = out.sort_values("order", kind="stable")
    return gpd.GeoDataFrame(out, geometry=sites.geometry.name, crs="EPSG:4326")


def street_comparison(plan: Any) -> gpd.GeoDataFrame:
    """Per-街道 before/after table: static columns once, changing ones as ``<col>_before``/``_after``."""
    before, after = plan.streets_before, plan.streets_after
    out = pd.DataFrame(index=before.index)
    for c in _STATIC_STREET:
        if c in before.columns:
            out[c] = before[c]
    for c in _CHANGING_STREET:
        if c in before.columns:
            out[f"{c}_before"] = before[c]
        if c in after.columns:
            out[f"{c}_after"] = after[c].reindex(before.index)
    sites = plan.sites
    if len(sites) and "street_id" in sites.columns:
        g = sites.groupby("street_id")
        out["new_sites"] = g.size().reindex(out.index).fillna(0).astype(int)
        out["new_places"] = (g["places"].sum() if "places" in sites.columns else g.size() * 0) \
            .reindex(out.index).fillna(0).astype(int)
    else:
        out["new_sites"] = 0
        out["new_places"] = 0
    geom = before.geometry if isinstance(before, gpd.GeoDataFrame) else None
    gdf = gpd.GeoDataFrame(out, geometry=geom, crs=before.crs if geom is not None else None)
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    return gdf


def _with_total(comp: pd.DataFrame, plan: Any) -> pd.DataFrame:
    """The comparison table plus an area total row (合计) from ``indicators.street_total``."""
    try:
        from .indicators import street_total

        tb, ta = street_total(plan.streets_before), street_total(plan.streets_after)
    except Exception as exc:  # noqa: BLE001 - the total row is a convenience
        log.info("no total row in 街道前后对比: %s", exc)
        return comp
    row: dict[str, Any] = {}
    for c in comp.columns:
        if c == getattr(comp, "_geometry_column_name", None):
            continue
        if c.endswith("_before"):
            row[c] = tb.get(c[:-7])
        elif c.endswith("_after"):
            row[c] = ta.get(c[:-6])
        elif c in ("new_sites", "new_places"):
            row[c] = comp[c].sum()
        else:
            row[c] = tb.get(c)
    row["street_id"], row["name"] = "合计", "合计"
    total = pd.DataFrame([row], index=["合计"])
    return pd.concat([_drop_geom(comp), total])


def _comparison_labels(cols: Iterable[str]) -> dict[str, str]:
    zh = _labels_streets()
    out = {}
    for c in cols:
        if c.endswith("_before"):
            out[c] = f"{zh.get(c[:-7], c[:-7])}（方案前）"
        elif c.endswith("_after"):
            out[c] = f"{zh.get(c[:-6], c[:-6])}（方案后）"
        else:
            out[c] = zh.get(c, c)
    return out


def _covered(mat: Any, cols: np.ndarray, d: float) -> np.ndarray:
    """Rows of a sparse distance matrix with a stored distance ≤ d in any of ``cols``."""
    sub = mat.tocsc()[:, cols].tocsr()
    sub.data = (sub.data <= d).astype(np.int8)
    return np.asarray(sub.sum(axis=1)).ravel() > 0


def community_coverage(plan: Any, *, minutes: float | None = None) -> gpd.GeoDataFrame:
    """Communities with their coverage before and after the plan (EPSG:4326)."""
    m = int(round(minutes if minutes is not None else float(plan.parameters.get("minutes", 15))))
    area, acc = plan.area, plan.access_after
    comm = area.communities
    keep = [c for c in ("community_id", "name", "street_id", "population", "infants", "is_new") if c in comm.columns]
    out = gpd.GeoDataFrame(comm[keep].copy(), geometry=comm.geometry, crs="EPSG:4326")
    if acc is None:
        log.warning("the plan has no access_after: 小区覆盖 is written without coverage columns")
        return out
    ac = acc.communities.reindex(out.index)
    d = float(acc.thresholds_m[m]) if m in acc.thresholds_m else float(acc.thresholds_m[float(m)])
    iids = pd.Index(acc.institution_ids).astype(str)
    inst = area.institutions
    existing = inst.index.astype(str)
    puhui_existing = inst.index[inst["puhui"].astype(bool)].astype(str)
    pos_all = iids.get_indexer(existing)
    pos_ph = iids.get_indexer(puhui_existing)
    rows = pd.Index(acc.community_ids).astype(str)
    before_any = pd.Series(_covered(acc.dist_institutions, pos_all[pos_all >= 0], d), index=rows)
    before_ph = pd.Series(_covered(acc.dist_institutions, pos_ph[pos_ph >= 0], d), index=rows)
    out[f"within{m}_any_before"] = before_any.reindex(out.index).fillna(False).astype(bool)
    out[f"within{m}_puhui_before"] = before_ph.reindex(out.index).fillna(False).astype(bool)
    out[f"within{m}_any_after"] = ac[f"within{m}_any"].fillna(False).astype(bool)
    out[f"within{m}_puhui_after"] = ac[f"within{m}_puhui"].fillna(False).astype(bool)
    out["newly_covered"] = out[f"within{m}_puhui_after"] & ~out[f"within{m}_puhui_before"]
    if "nearest_puhui_m" in ac.columns:
        out["nearest_puhui_m_after"] = ac["nearest_puhui_m"].round(1)
    return out


_COMMUNITY_LABELS_ZH = {"community_id": "小区编号", "name": "小区名称", "street_id": "街道编号",
                        "population": "常住人口", "infants": "0–3岁婴幼儿数", "is_new": "新建小区",
                        "newly_covered": "方案后新增普惠覆盖", "nearest_puhui_m_after": "方案后距最近普惠机构（米）"}


def _community_label(c: str) -> str:
    if c in _COMMUNITY_LABELS_ZH:
        return _COMMUNITY_LABELS_ZH[c]
    for suffix, zh in (("_before", "方案前"), ("_after", "方案后")):
        if c.endswith(suffix):
            base = c[: -len(suffix)]
            m = "".join(ch for ch in base if ch.isdigit())
            kind = "普惠机构" if base.endswith("puhui") else "任一托育机构"
            return f"{m}分钟内有{kind}（{zh}）"
    return c


# ---------------------------------------------------------------------------------- writers

def _clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Plain column types that GDAL/openpyxl/csv take (object → str, nullable ints → float)."""
    out = df.copy()
    for c in out.columns:
        if c == getattr(out, "_geometry_column_name", None):
            continue
        s = out[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(str)
        elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            out[c] = s.astype(object).map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else
                           (v if isinstance(v, (str, bool)) else str(v)))
        elif pd.api.types.is_extension_array_dtype(s.dtype) and pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype(float)
    return out


def _write_gpkg_layers(path: Path, layers: Sequence[tuple[str, gpd.GeoDataFrame]]) -> None:
    import pyogrio

    for name, gdf in layers:
        g = _clean_frame(gdf.reset_index(drop=True))
        if g.crs is None:
            g = g.set_crs("EPSG:4326")
        pyogrio.write_dataframe(g, path, layer=name, driver="GPKG")


_FORMULA_START = ("=", "+", "-", "@")


def _cell(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, (np.bool_, bool)):
        return "是" if v else "否"  # Chinese sheets: yes/no in words, not TRUE/FALSE
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return v
    return str(v)


def _write_sheet(ws: Any, df: pd.DataFrame, *, widths: Mapping[str, float] | None = None) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.append([str(c) for c in df.columns])
    for c in ws[1]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDEBF7")
        c.alignment = Alignment(wrap_text=True, vertical="center")
    for row in df.itertuples(index=False):
        ws.append([_cell(v) for v in row])
        for cell in ws[ws.max_row]:
            # a text cell starting with "=" must stay text, never become a formula
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    ws.freeze_panes = "B2"
    for j, col in enumerate(df.columns, start=1):
        if pd.api.types.is_float_dtype(df.iloc[:, j - 1].dtype):
            pct = any(k in str(col) for k in ("占比", "覆盖率"))
            fmt = "0.0%" if pct else ("0.000000" if "经度" in str(col) or "纬度" in str(col) else "#,##0.0#")
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
        vals = [str(col)] + [str(v) for v in df.iloc[:200, j - 1].tolist()]
        w = max(len(v) + sum(1 for ch in v if ord(ch) > 0x2E80) for v in vals)
        ws.column_dimensions[get_column_letter(j)].width = min(max(8, w + 2), 60)


def _csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_object_dtype(out[c].dtype) or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype(object).map(lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


def _params_rows(plan: Any, manifest: Mapping[str, Any]) -> pd.DataFrame:
    rows: list[tuple[str, Any]] = [
        ("工具版本 tool version", manifest["tool_version"]),
        ("生成时间 created (UTC)", manifest["created_utc"]),
        ("研究区 study area", manifest["area"]),
        ("政策口径 policy profile", manifest["policy"].get("name")),
        ("政策名称 policy title", manifest["policy"].get("title")),
        ("每千人口托位目标", manifest["policy"].get("places_per_1000")),
        ("普惠占比目标", manifest["policy"].get("puhui_share")),
        ("一街道一普惠", manifest["policy"].get("one_puhui_per_street")),
        ("求解器 solver", manifest["solver"]),
        ("求解状态 status", manifest["status"]),
        ("最优间隙 MIP gap", manifest["gap"]),
        ("求解时间（秒）solve seconds", manifest["timings"].get("solve_s")),
        ("推荐站点数 sites", int(len(plan.sites))),
        ("新增托位 new places", float(plan.sites["places"].sum()) if "places" in plan.sites.columns else None),
        ("总投资（万元）total cost", float(plan.sites["cost"].sum()) if "cost" in plan.sites.columns else None),
    ]
    for k, v in (manifest.get("parameters") or {}).items():
        rows.append((f"参数 {k}", json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v))
    for k, v in (manifest.get("objective_values") or {}).items():
        rows.append((f"目标值 {k}", v))
    for k, v in manifest["inputs"].items():
        rows.append((f"输入文件 {k} sha256", v.get("sha256")))
    return pd.DataFrame(rows, columns=["参数", "值"])


def _write_xlsx(path: Path, sheets: Sequence[tuple[str, pd.DataFrame]]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets:
        _write_sheet(wb.create_sheet(title=name), df)
    wb.save(path)


def _policy_dict(policy: Any) -> dict[str, Any]:
    return _jsonable(policy) if policy is not None else {}


def _drop_geom(gdf: pd.DataFrame) -> pd.DataFrame:
    name = getattr(gdf, "_geometry_column_name", None)
    return pd.DataFrame(gdf.drop(columns=[name])) if name and name in gdf.columns else pd.DataFrame(gdf)


def _isochrone_layer(plan: Any, minutes: int) -> gpd.GeoDataFrame:
    from . import access as _access

    area = plan.area
    parts = []
    inst = area.institutions
    ph = inst.index[inst["puhui"].astype(bool)]
    if len(ph):
        g = _access.isochrones(area, minutes=minutes, layer="institutions", ids=list(ph))
        g = g.copy()
        g["type"] = "现有普惠机构"
        g["name"] = inst["name"].reindex(g.index.astype(str)).values
        parts.append(g)
    sid = [i for i in plan.sites.index if i in area.candidates.index]
    if sid:
        g = _access.isochrones(area, minutes=minutes, layer="candidates", ids=sid).copy()
        g["type"] = "推荐站点"
        g["name"] = plan.sites["name"].reindex(g.index.astype(str)).values
        parts.append(g)
    if not parts:
        return gpd.GeoDataFrame({"id": [], "type": [], "name": []}, geometry=[], crs="EPSG:4326")
    out = gpd.GeoDataFrame(pd.concat(parts), crs="EPSG:4326")
    out["id"] = out.index.astype(str)
    cols = ["id", "type", "name"] + [c for c in ("minutes", "distance_m", "area_m2") if c in out.columns]
    out = out[cols + [out.geometry.name]]
    return out.rename(columns={"id": "编号", "type": "类型", "name": "名称", "minutes": "步行分钟",
                               "distance_m": "步行距离（米）", "area_m2": "面积（平方米）"})


def export_plan(plan: Any, out_dir: str | Path, *, formats: Sequence[str] = FORMATS,
                timings: Mapping[str, float] | None = None) -> dict[str, Path]:
    """Write a site plan for land-use review.

    Parameters
    ----------
    plan : SitePlan
        Result of :func:`tuoyu_geo.optimize.plan_sites`.
    out_dir : path
        Output folder (created).  Existing files of the same names are replaced.
    formats : sequence of {"gpkg", "xlsx", "csv", "geojson"}
        What to write; ``manifest.json`` is always written.
    timings : mapping, optional
        Extra step timings in seconds to record in the manifest (e.g. from the CLI).

    Returns
    -------
    dict
        Kind (``gpkg``, ``xlsx``, ``csv``, ``geojson``, ``manifest``) → path written.

    Notes
    -----
    - GeoPackage (EPSG:4326) layers: 推荐站点, 街道指标 (方案前/方案后 columns), 小区覆盖, 服务范围.
    - XLSX sheets: 推荐站点, 街道前后对比, 方案参数.
    - ``recommended_sites.csv`` (UTF-8 with BOM for Excel/WPS) and ``recommended_sites.geojson``.
    - ``manifest.json``: tool version, input file sha256, policy profile, parameters, solver, status,
      gap, timings and the outputs with their sha256.

    Raises
    ------
    OutputError
        ``out_dir`` cannot be created or written; nothing is left behind.
    """
    from . import __version__

    t0 = time.perf_counter()
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export formats {unknown}; use some of {FORMATS}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise _output_error(out_dir, "it exists and is not a folder")
    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    except OSError as exc:
        raise _output_error(out_dir, exc) from exc

    minutes = int(round(float(plan.parameters.get("minutes", 15)))) if getattr(plan, "parameters", None) else 15
    area = plan.area
    policy = getattr(area, "policy", None)
    written: dict[str, Path] = {}
    created_dir = False
    moved: list[tuple[Path, Path | None]] = []
    try:
        sites = site_table(plan)
        zh_sites = {c: SITE_LABELS_ZH.get(c, c) for c in sites.columns if c != sites.geometry.name}
        comp = street_comparison(plan)
        comp_labels = _comparison_labels([c for c in comp.columns if c != comp.geometry.name])
        t_tables = time.perf_counter()
        if "gpkg" in formats:
            comm = community_coverage(plan, minutes=minutes)
            iso = _isochrone_layer(plan, minutes)
            p = tmpdir / FILE_NAMES["gpkg"]
            _write_gpkg_layers(p, [
                ("推荐站点", sites.rename(columns=zh_sites)),
                ("街道指标", comp.rename(columns=comp_labels)),
                ("小区覆盖", comm.rename(columns={c: _community_label(c) for c in comm.columns
                                             if c != comm.geometry.name})),
                ("服务范围", iso),
            ])
            written["gpkg"] = p
        t_gpkg = time.perf_counter()
        manifest: dict[str, Any] = {
            "tool": "tuoyu-geo",
            "tool_version": __version__,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "area": getattr(area, "name", ""),
            "attribution": getattr(area, "attribution", ""),
            "crs": {"storage": "EPSG:4326 (WGS-84)", "also_written": "GCJ-02 lon/lat columns",
                    "metric": getattr(area, "metric_crs", None)},
            "inputs": {k: {"path": str(v), "sha256": _sha256(v)} for k, v in dict(area.files).items()},
            "policy": _policy_dict(policy),
            "parameters": _jsonable(dict(getattr(plan, "parameters", {}) or {})),
            "solver": (getattr(plan, "parameters", {}) or {}).get("solver"),
            "status": getattr(plan, "status", None),
            "gap": _jsonable(getattr(plan, "gap", None)),
            "objective_values": _jsonable(dict(getattr(plan, "objective_values", {}) or {})),
            "summary": {"sites": int(len(sites)),
                        "places": _jsonable(sites["places"].sum()) if "places" in sites.columns else None,
                        "cost_wan_yuan": _jsonable(sites["cost"].sum()) if "cost" in sites.columns else None,
                        "new_infants_covered": _jsonable(sites["new_infants_covered"].sum())
                        if "new_infants_covered" in sites.columns else None},
            "timings": {"solve_s": _jsonable(getattr(plan, "solve_seconds", None)),
                        **{str(k): _jsonable(v) for k, v in (timings or {}).items()}},
            "columns": {"sites": zh_sites},
            "outputs": [],
        }
        if "xlsx" in formats:
            p = tmpdir / FILE_NAMES["xlsx"]
            comp_tab = _drop_geom(_with_total(comp, plan)).rename(columns=comp_labels)
            _write_xlsx(p, [("推荐站点", _drop_geom(sites).rename(columns=zh_sites)),
                            ("街道前后对比", comp_tab),
                            ("方案参数", _params_rows(plan, manifest))])
            written["xlsx"] = p
        if "csv" in formats:
            p = tmpdir / FILE_NAMES["csv"]
            _csv_safe(_drop_geom(sites).rename(columns=zh_sites)).to_csv(p, index=False, encoding="utf-8-sig")
            written["csv"] = p
        if "geojson" in formats:
            p = tmpdir / FILE_NAMES["geojson"]
            p.write_text(_clean_frame(sites).to_json(na="null", drop_id=True, ensure_ascii=False),
                         encoding="utf-8")
            written["geojson"] = p
        t_files = time.perf_counter()
        manifest["timings"].update({"tables_s": round(t_tables - t0, 3), "gpkg_s": round(t_gpkg - t_tables, 3),
                                    "other_files_s": round(t_files - t_gpkg, 3)})
        manifest["outputs"] = [{"kind": k, "file": FILE_NAMES[k], "bytes": p.stat().st_size, "sha256": _sha256(p)}
                               for k, p in written.items()]
        p = tmpdir / FILE_NAMES["manifest"]
        p.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        written["manifest"] = p

        # all written: move into place (rolling back on failure)
        if not out_dir.exists():
            out_dir.mkdir(parents=True)
            created_dir = True
        final: dict[str, Path] = {}
        for kind, src in written.items():
            dst = out_dir / src.name
            backup = None
            if dst.exists():
                backup = tmpdir / f".backup-{src.name}"
                os.replace(dst, backup)
            moved.append((dst, backup))
            os.replace(src, dst)
            final[kind] = dst
        log.info("exported %d files to %s in %.1f s", len(final), out_dir, time.perf_counter() - t0)
        return final
    except BaseException as exc:
        for dst, backup in reversed(moved):
            _unlink(dst)
            if backup is not None and backup.exists():
                with contextlib.suppress(OSError):
                    os.replace(backup, dst)
        if created_dir:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise _output_error(out_dir, exc) from exc
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_scorecard_file(scorecard: pd.DataFrame, path: str | Path, *,
                    communities: pd.DataFrame | None = None) -> Path:
    """Write a 街道 scorecard (and optionally a community table) to ONE file with Chinese headers.

    For the full analysis bundle (two CSVs + an XLSX with the 说明 sheet of definitions and
    sources, as written by ``tuoyu-geo analyze``) use :func:`tuoyu_geo.indicators.write_scorecard`.

    The format follows the suffix of ``path``: ``.xlsx`` (sheets 街道指标, 小区指标), ``.csv``
    (UTF-8 with BOM; streets only), ``.gpkg`` (layers 街道指标, 小区指标; EPSG:4326) or ``.geojson``
    (streets, English keys).  The write is atomic.

    Returns
    -------
    Path
    """
    path = Path(path)
    suffix = path.suffix.lower()
    zh = _labels_streets()
    st_labels = {c: zh.get(c, c) for c in scorecard.columns}
    comm_labels = ({c: zh.get(c, _COMMUNITY_LABELS_ZH.get(c, c)) for c in communities.columns}
                   if communities is not None else {})
    with atomic_write(path) as tmp:
        if suffix == ".xlsx":
            sheets = [("街道指标", _drop_geom(scorecard).rename(columns=st_labels))]
            if communities is not None:
                sheets.append(("小区指标", _drop_geom(communities).rename(columns=comm_labels)))
            _write_xlsx(tmp, sheets)
        elif suffix == ".csv":
            _csv_safe(_drop_geom(scorecard).rename(columns=st_labels)).to_csv(tmp, index=False, encoding="utf-8-sig")
        elif suffix == ".gpkg":
            layers = [("街道指标", gpd.GeoDataFrame(scorecard).rename(columns=st_labels))]
            if isinstance(communities, gpd.GeoDataFrame):
                layers.append(("小区指标", communities.rename(columns=comm_labels)))
            _write_gpkg_layers(tmp, layers)
        elif suffix in (".geojson", ".json"):
            tmp.write_text(_clean_frame(gpd.GeoDataFrame(scorecard).to_crs("EPSG:4326"))
                           .to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")
        else:
            raise ValueError(f"unknown scorecard format {suffix!r}; use .xlsx, .csv, .gpkg or .geojson")
    return path
