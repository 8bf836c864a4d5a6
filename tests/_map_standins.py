"""Small in-memory stand-ins for Access / street scorecard / SitePlan, used by test_maps and
test_export so that those tests do not depend on the access/indicators/optimize modules.

Distances are straight-line metres in the area's metric CRS (an independent, hand-checkable
computation); the stand-ins carry exactly the fields the CONTRACTS name.
"""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from shapely.geometry import Point, box

import tuoyu_geo as tg

EVIL = "<script>alert(1)</script> \"q\" 'a' & b"
FORMULA = "=HYPERLINK(\"x\")"


def make_area(*, files: dict | None = None) -> tg.StudyArea:
    # two 街道 side by side near Shanghai (~1 km x 1 km each)
    x0, y0, d = 121.40, 31.20, 0.0105
    streets = gpd.GeoDataFrame(
        {"street_id": ["S1", "S2"], "name": [EVIL, "乙街道"], "population": [20000, 10000]},
        geometry=[box(x0, y0, x0 + d, y0 + d), box(x0 + d, y0, x0 + 2 * d, y0 + d)], crs="EPSG:4326")
    pts = [(0.002, 0.002), (0.004, 0.008), (0.008, 0.003), (0.013, 0.002), (0.016, 0.008), (0.019, 0.005)]
    communities = gpd.GeoDataFrame(
        {"community_id": [f"C{i}" for i in range(6)],
         "name": [EVIL, "和平小区", "友谊小区", FORMULA, "光明小区", "幸福小区"],
         "population": [3000, 2000, 1500, 2500, 1000, 800],
         "infants": [60.0, 40.0, 30.0, 50.0, 20.0, 16.0]},
        geometry=[Point(x0 + a, y0 + b) for a, b in pts], crs="EPSG:4326")
    institutions = gpd.GeoDataFrame(
        {"institution_id": ["I1", "I2", "I3"], "name": [EVIL, "民办宝贝园", "幼儿园托班甲"],
         "category": ["普惠", "民办", "幼儿园托班"], "places": [50, 30, 20], "puhui": [True, False, True]},
        geometry=[Point(x0 + 0.003, y0 + 0.003), Point(x0 + 0.014, y0 + 0.003), Point(x0 + 0.007, y0 + 0.008)],
        crs="EPSG:4326")
    candidates = gpd.GeoDataFrame(
        {"site_id": ["K1", "K2", "K3"], "name": [EVIL, FORMULA, "存量用地丙"],
         "kind": ["社区服务中心", "日间照料中心", "存量用地"], "max_places": [40, 30, 60]},
        geometry=[Point(x0 + 0.017, y0 + 0.007), Point(x0 + 0.012, y0 + 0.004), Point(x0 + 0.005, y0 + 0.005)],
        crs="EPSG:4326")
    return tg.make_area(streets=streets, communities=communities, institutions=institutions,
                        candidates=candidates, policy="wuxi-2025", name="测试区 <b>&",
                        attribution="测试数据 <i>© test</i>", files=files or {})


def _dist(area: tg.StudyArea, layer: str, cutoff: float) -> csr_matrix:
    a = area.points("communities")
    b = area.points(layer)
    d = np.hypot(a.x.values[:, None] - b.x.values[None, :], a.y.values[:, None] - b.y.values[None, :])
    rows, cols = np.nonzero(d <= cutoff)
    return csr_matrix((d[rows, cols], (rows, cols)), shape=d.shape)


def make_access(area: tg.StudyArea, *, extra_puhui: pd.Index | None = None) -> SimpleNamespace:
    pol = area.policy
    minutes = (5, 10, 15)
    th = {m: float(pol.threshold_m(m)) for m in minutes}
    cutoff = max(th.values())
    di = _dist(area, "institutions", cutoff)
    dc = _dist(area, "candidates", cutoff)
    dense = di.toarray()
    dense[di.toarray() == 0] = np.inf
    puhui = area.institutions["puhui"].to_numpy(bool)
    comm = pd.DataFrame(index=area.communities.index)
    dense_c = dc.toarray()
    dense_c[dense_c == 0] = np.inf
    extra = np.zeros(len(comm), bool)
    if extra_puhui is not None:
        cols = area.candidates.index.get_indexer(extra_puhui)
        extra = (dense_c[:, cols] <= cutoff).any(axis=1)
    for m, d in th.items():
        comm[f"within{m}_any"] = (dense <= d).any(axis=1)
        comm[f"within{m}_puhui"] = (dense[:, puhui] <= d).any(axis=1) | (extra if m == 15 else False)
    comm["nearest_puhui_m"] = np.where(np.isinf(dense[:, puhui].min(axis=1)), np.nan, dense[:, puhui].min(axis=1))
    return SimpleNamespace(minutes=minutes, thresholds_m=th, max_distance_m=cutoff,
                           community_ids=area.communities.index, institution_ids=area.institutions.index,
                           candidate_ids=area.candidates.index, dist_institutions=di, dist_candidates=dc,
                           communities=comm)


def make_scorecard(area: tg.StudyArea, acc: SimpleNamespace, *, extra_places: dict | None = None) -> gpd.GeoDataFrame:
    st = area.streets
    inst = area.institutions
    places = inst.groupby("street_id")["places"].sum().reindex(st.index).fillna(0) \
        + pd.Series(extra_places or {}, dtype=float).reindex(st.index).fillna(0)
    ph = inst[inst["puhui"]].groupby("street_id")["places"].sum().reindex(st.index).fillna(0)
    target = area.policy.places_per_1000
    sc = gpd.GeoDataFrame({
        "street_id": st.index, "name": st["name"], "population": st["population"], "infants": st["infants"],
        "institutions": inst.groupby("street_id").size().reindex(st.index).fillna(0).astype(int),
        "places": places, "puhui_institutions": inst[inst["puhui"]].groupby("street_id").size()
        .reindex(st.index).fillna(0).astype(int), "puhui_places": ph,
        "places_per_1000": places / st["population"] * 1000, "target_per_1000": target,
        "place_gap": (target * st["population"] / 1000 - places).clip(lower=0),
        "puhui_share": ph / places.replace(0, np.nan), "puhui_target": area.policy.puhui_share,
        "has_puhui": ph > 0, "status": np.where(places / st["population"] * 1000 >= target, "达标", "未达标"),
    }, geometry=st.geometry, crs="EPSG:4326", index=st.index)
    comm = area.communities.join(acc.communities)
    for m in (5, 10, 15):
        for k in ("any", "puhui"):
            w = comm.groupby("street_id").apply(lambda g, c=f"within{m}_{k}": (g["infants"] * g[c]).sum()
                                                / g["infants"].sum(), include_groups=False)
            sc[f"cover{m}_{k}"] = w.reindex(st.index).fillna(0.0)
    return sc


def make_plan(area: tg.StudyArea, acc: SimpleNamespace, sc: gpd.GeoDataFrame) -> SimpleNamespace:
    cand = area.candidates
    chosen = ["K1", "K2"]
    sites = gpd.GeoDataFrame({
        "site_id": chosen, "name": cand.loc[chosen, "name"].values, "kind": cand.loc[chosen, "kind"].values,
        "street_id": cand.loc[chosen, "street_id"].values,
        "street_name": area.streets.loc[cand.loc[chosen, "street_id"], "name"].values,
        "places": [35, 20], "classes": ["托大班×1+托小班×1", "托大班×1"], "cost": [72.5, 40.0],
        "year": [2025, 2026], "new_infants_covered": [36.0, 0.0],
        "reason": ["一街道一普惠：" + EVIL, "托位目标"], "nearest_puhui_id": ["I1", "I1"],
        "nearest_puhui_m": [1200.0, 850.0], "runner_up_id": ["K3", None], "order": [1, 2],
    }, geometry=cand.loc[chosen].geometry.values, crs="EPSG:4326", index=pd.Index(chosen))
    acc_after = make_access(area, extra_puhui=pd.Index(chosen))
    after = make_scorecard(area, acc_after, extra_places={"S2": 55})
    return SimpleNamespace(sites=sites, streets_before=sc, streets_after=after,
                           objective_values={"shortfall": 12.0, "covered": 216.0, "cost": 112.5},
                           status="optimal", gap=0.0, solve_seconds=0.12,
                           parameters={"minutes": 15, "solver": "highs", "budget": None, "max_new_sites": None,
                                       "policy": "wuxi-2025"},
                           area=area, area_after=area, access_after=acc_after)


def fake_isochrones(area, *, minutes=15, layer="institutions", ids=None, policy=None):
    """Circle 'isochrones' (buffer of the walking distance) standing in for access.isochrones."""
    gdf = getattr(area, layer)
    ids = list(gdf.index if ids is None else ids)
    d = area.policy.threshold_m(minutes)
    pts = area.points(layer).loc[ids]
    polys = gpd.GeoSeries(pts.buffer(d * 0.7), crs=area.metric_crs)
    return gpd.GeoDataFrame({"id": ids, "minutes": minutes, "distance_m": d, "area_m2": polys.area.values},
                            geometry=polys.to_crs("EPSG:4326").values, crs="EPSG:4326", index=pd.Index(ids))


def build(*, files: dict | None = None):
    area = make_area(files=files)
    acc = make_access(area)
    sc = make_scorecard(area, acc)
    plan = make_plan(area, acc, sc)
    return area, acc, sc, plan
