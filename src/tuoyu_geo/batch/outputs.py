"""Provincial tables and files of a batch run: the XLSX, the offline HTML map and the allocation chart.

Only districts that fully succeeded (assessed, planned and written) enter the 街道 table, the map
and the totals; the district sheet lists the others with their error (运行状态 失败/跳过).
Every file goes through :mod:`tuoyu_geo.writer`, all of them in one transaction.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from ..report._leaflet import (
    Attribution,
    FeatureLayer,
    InlineLeaflet,
    LayerControl,
    Legend,
    MapSetup,
)
from ..report.figures import _rc
from ..report.labels import label, labels, number_formats
from ..rules import MET
from ..writer import transaction, write_file
from .district import MAP_FILE

log = logging.getLogger(__name__)

__all__ = ["PROVINCE_FILES", "allocation_chart", "province_map", "summarise", "write_outputs"]

PROVINCE_FILES = {"xlsx": "province.xlsx", "map": "province_map.html", "chart": "allocation.png"}
_TOTAL_COLS = ("population", "infants", "places", "places_per_1000", "puhui_share", "cover15_any", "cover15_puhui")
_STATUS_ZH = {"ok": "完成", "failed": "失败", "skipped": "跳过（未通过检查）"}
_SPLITS_ZH = {"allocation": "最优分配（多选背包）", "population": "按人口比例", "gap": "按托位缺口比例"}


def _district_row(name: str, o: Any, p: Any, failed: Mapping[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"district_key": name, "area_name": o.area_name}
    if name in failed:
        row["run_status"] = _STATUS_ZH["skipped" if not o.ok and "DataError" in failed[name] else "failed"]
        row["error"] = failed[name]
        return row
    row["run_status"], row["error"] = _STATUS_ZH["ok"], ""
    row["streets"] = len(o.streets)
    row.update({c: o.total.get(c, np.nan) for c in _TOTAL_COLS})
    row["streets_met"] = int((o.streets["status"] == MET).sum())
    row["gini_sfca"] = float(o.equity.get("gini_sfca", np.nan))
    if p is not None and p.point is not None:
        row.update(budget_wan=p.budget_wan, streets_met_after=p.point.streets_met,
                   infants_newly_covered=p.point.infants_newly_covered, places_added=p.point.places,
                   cost_wan=p.point.cost_wan)
    return row


def _streets(outcomes: Mapping[str, Any], plans: Mapping[str, Any], keep: list[str]) -> gpd.GeoDataFrame:
    parts = []
    for n in keep:
        st = outcomes[n].streets.copy()
        after = plans[n].streets_after if n in plans and plans[n].streets_after is not None else st
        st.insert(0, "district_key", n)
        for c in ("places", "places_per_1000", "puhui_share", "status"):
            st[f"{c}_after"] = after[c].reindex(st.index).to_numpy()
        parts.append(st)
    if not parts:
        return gpd.GeoDataFrame({"district_key": []}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")


def _split_rows(name: str, budgets: Mapping[str, float], plans: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for n, b in budgets.items():
        p = plans.get(n)
        pt = p.point if p is not None and p.ok else None
        rows.append({"split": _SPLITS_ZH[name], "district_key": n, "budget_wan": b,
                     "streets_met_after": pt.streets_met if pt else np.nan,
                     "infants_newly_covered": pt.infants_newly_covered if pt else np.nan,
                     "cost_wan": pt.cost_wan if pt else np.nan, "error": "" if pt else (p.error if p else "")})
    return rows


def summarise(prov: Any, outcomes: Mapping[str, Any], plans: Mapping[str, Any], naive: Mapping[str, Mapping[str, Any]],
              allocation: Any, failed: Mapping[str, str], frontiers: pd.DataFrame) -> dict[str, Any]:
    """The provincial tables: ``districts``, ``streets``, ``frontiers``, ``comparison``
    (allocation and naive splits, one row per split and district, then one total row per split)."""
    keep = [d.name for d in prov.districts if d.name not in failed]
    districts = pd.DataFrame([_district_row(d.name, outcomes[d.name], plans.get(d.name), failed)
                              for d in prov.districts])
    rows = []
    if allocation is not None:
        rows += _split_rows("allocation", {n: plans[n].budget_wan for n in plans}, plans)
        for rule, ps in naive.items():
            rows += _split_rows(rule, {n: p.budget_wan for n, p in ps.items()}, ps)
    comp = pd.DataFrame(rows, columns=["split", "district_key", "budget_wan", "streets_met_after",
                                       "infants_newly_covered", "cost_wan", "error"])
    if len(comp):
        tot = comp.groupby("split", sort=False)[["budget_wan", "streets_met_after", "infants_newly_covered",
                                                  "cost_wan"]].sum(min_count=1).reset_index()
        best = tot.iloc[0]
        tot["streets_met_gain"] = best["streets_met_after"] - tot["streets_met_after"]
        tot["infants_gain"] = best["infants_newly_covered"] - tot["infants_newly_covered"]
        tot["district_key"] = "合计"
        comp = pd.concat([comp, tot], ignore_index=True)
    return {"districts": districts, "streets": _streets(outcomes, plans, keep), "frontiers": frontiers,
            "comparison": comp}


def _sheet(df: pd.DataFrame) -> pd.DataFrame:
    d = pd.DataFrame(df.drop(columns=[c for c in ("geometry",) if c in df.columns]))
    return d.rename(columns=labels(d.columns))


def _status_color(share: float) -> str:
    if not np.isfinite(share):
        return "#bbbbbb"
    return "#1a9850" if share >= 0.999 else "#91cf60" if share >= 0.5 else "#fc8d59" if share > 0 else "#d73027"


def province_map(result: Any) -> folium.Map:
    """Offline map of the districts (coloured by share of 街道 达标 after the plan) and their 街道
    (达标 green / 未达标 red); each district's popup links to ``districts/<name>/map.html``."""
    st = result.streets
    m = folium.Map(location=[0, 0], zoom_start=8, tiles=None, control_scale=False)
    m.default_js, m.default_css = [], []
    m.add_child(InlineLeaflet())
    m.add_child(MapSetup())
    title = f"{html.escape(result.province.name)} 托育达标情况"
    m.get_root().title = title
    if len(st):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outline = st.dissolve(by="district_key")
        feats = []
        for n, r in outline.iterrows():
            s = st[st["district_key"] == n]
            share = float((s["status_after"] == MET).mean())
            href = html.escape(f"districts/{n}/{MAP_FILE}", quote=True)
            link = f"<a href='{href}'>打开区县地图</a>"
            feats.append({"type": "Feature", "geometry": r.geometry.__geo_interface__,
                          "properties": {"_s": {"fillColor": _status_color(share)},
                                         "_p": [html.escape(str(n)), f"{(s['status_after'] == MET).sum()}/{len(s)}",
                                                f"{share:.0%}", link], "_t": html.escape(str(n))}})
        m.add_child(FeatureLayer(feats, name="区县（方案后达标街道占比）", pane="streets", heads=[
            "达标街道（方案后）", "达标占比", "详情"], style={"color": "#222", "weight": 2, "fillOpacity": 0.35}))
        sf = [{"type": "Feature", "geometry": r.geometry.__geo_interface__,
               "properties": {"_s": {"fillColor": "#1a9850" if r["status_after"] == MET else "#d73027"},
                              "_p": [html.escape(f"{r['district_key']} · {r['name']}"), html.escape(str(r["status"])),
                                     html.escape(str(r["status_after"])), f"{r['places_per_1000']:.2f}"]}}
              for _, r in st.iterrows()]
        m.add_child(FeatureLayer(sf, name="街道（方案后是否达标）", pane="areas", heads=[
            "现状", "方案后", label("places_per_1000")], style={"color": "#555", "weight": 0.8, "fillOpacity": 0.45}))
        b = st.total_bounds
        m.fit_bounds([[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]])
    legend = ("<div>区县：方案后达标街道占比 <span style='color:#1a9850'>■</span> 100% "
              "<span style='color:#91cf60'>■</span> ≥50% <span style='color:#fc8d59'>■</span> >0 "
              "<span style='color:#d73027'>■</span> 0</div><div>街道：<span style='color:#1a9850'>■</span> 达标 "
              "<span style='color:#d73027'>■</span> 未达标</div><div>点击区县打开其地图</div>")
    m.add_child(Legend(title, legend))
    m.add_child(Attribution("各区县数据见其 area.toml"))
    LayerControl(position="topright").add_to(m)
    return m


def allocation_chart(comparison: pd.DataFrame, path: str | Path, *, title: str = "", dpi: int = 120) -> Path:
    """PNG: the budget of every district under each split (left) and, per split, the 街道 达标
    and infants newly covered after the plans (right)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    per = comparison[comparison["district_key"] != "合计"]
    tot = comparison[comparison["district_key"] == "合计"].set_index("split")
    splits = list(dict.fromkeys(per["split"]))
    wide = per.pivot(index="district_key", columns="split", values="budget_wan")[splits]
    with matplotlib.rc_context(_rc()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(max(9.0, 0.3 * len(wide) + 6), 4.5),
                                           gridspec_kw={"width_ratios": [max(3, len(wide) / 6), 1, 1]})
        try:
            x, k = np.arange(len(wide)), len(splits)
            colors = [f"C{i}" for i in range(k)]
            for i, c in enumerate(splits):
                ax.bar(x + (i - (k - 1) / 2) * 0.8 / k, wide[c].to_numpy(float), 0.8 / k, label=c, color=colors[i])
            ax.set_xticks(x, wide.index, rotation=90 if len(wide) > 12 else 0, fontsize=7)
            ax.set_ylabel(label("budget_wan"))
            ax.set_title("各区县预算")
            ax.legend(fontsize=8)
            for axis, col, head in ((ax2, "streets_met_after", "达标街道数（方案后）"),
                                    (ax3, "infants_newly_covered", "新增覆盖婴幼儿数")):
                vals = [float(tot.loc[c, col]) if c in tot.index else np.nan for c in splits]
                axis.bar(range(k), vals, color=colors)
                for i, v in enumerate(vals):
                    axis.annotate(f"{v:,.0f}", (i, v), ha="center", va="bottom", fontsize=8)
                axis.set_xticks(range(k), [str(i + 1) for i in range(k)])
                axis.set_title(head, fontsize=10)
            fig.suptitle(f"{title} 省级预算分配：最优分配与按比例分配".strip())
            fig.tight_layout()
            return write_file(fig, path, fmt="png", dpi=dpi)
        finally:
            plt.close(fig)


def write_outputs(result: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write ``province.xlsx`` (区县, 街道, 分配, 前沿 sheets), ``province_map.html`` and (with an
    allocation) ``allocation.png`` to ``out_dir``, all-or-nothing."""
    out = Path(out_dir)
    d, st, comp = result.districts, result.streets, result.comparison
    fr = result.frontiers.rename(columns={"district": "district_key", "status": "frontier_status"})
    sheets = {"区县": _sheet(d), "街道": _sheet(st), "分配": _sheet(comp), "前沿": _sheet(fr)}
    fmts = {"区县": number_formats(d.columns), "街道": number_formats(st.columns),
            "分配": number_formats(comp.columns), "前沿": number_formats(fr.columns)}
    paths: dict[str, Path] = {}
    with transaction():
        paths["xlsx"] = write_file(sheets, out / PROVINCE_FILES["xlsx"], fmt="xlsx", number_formats=fmts)
        from ..report.maps import save_map

        paths["map"] = save_map(province_map(result), out / PROVINCE_FILES["map"], offline=True)
        if len(comp):
            paths["chart"] = allocation_chart(comp, out / PROVINCE_FILES["chart"], title=result.province.name)
    return paths
