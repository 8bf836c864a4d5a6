"""Build the bundled study area ``data/shanghai-xuhui/`` from the raw public files.

Run from the repository root (needs the ``build`` extra for rasterio)::

    pip install -e .[build]
    python data/build_shanghai_xuhui.py --raw ../shared/data/shanghai-xuhui --out data/shanghai-xuhui

Every rule and assumption used here is written in ``data/shanghai-xuhui/README.md``.  All random
choices use ``numpy.random.default_rng(SEED)`` so the output is reproducible byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
from scipy.spatial import cKDTree
from shapely.geometry import box

SEED = 20261123
UTM = "EPSG:32651"
#: share of the 0–14 raster that is aged 0–2 (three of fifteen single-year cohorts)
INFANT_SHARE_OF_0_14 = 3 / 15
#: a 小区 built in or after this year counts as a "new residential area"
NEW_FROM_YEAR = 2010
PRIVATE_PAT = re.compile(
    "民办|私立|国际|双语|境外|吉的堡|新东方|昂立|蒙特梭利|伊顿|维多利亚|胡姬港湾|艾文格林|安淇儿|爱悠|澳宝|枫叶|"
    "金宝贝|凯琴|小神童|小红花|金贝贝|果果|太阳船|蒂伊|幼稚园|牛牛|童稻|印象|新世纪|汇家|创意|阳光|康沁|小蜻蜓")
STREET_IDS = {  # stable ids, ordered north → south roughly
    "湖南路街道": "XH01", "天平路街道": "XH02", "徐家汇街道": "XH03", "枫林路街道": "XH04",
    "斜土路街道": "XH05", "田林街道": "XH06", "虹梅路街道": "XH07", "康健新村街道": "XH08",
    "漕河泾街道": "XH09", "长桥街道": "XH10", "凌云路街道": "XH11", "龙华街道": "XH12", "华泾镇": "XH13",
}

log = logging.getLogger("build")


def raster_points(path: Path) -> gpd.GeoDataFrame:
    import rasterio

    with rasterio.open(path) as r:
        a = r.read(1)
        t = r.transform
        rows, cols = np.nonzero(np.isfinite(a) & (a > 0))
        xs, ys = rasterio.transform.xy(t, rows, cols)
        bounds = r.bounds
    g = gpd.GeoDataFrame({"row": rows, "col": cols, "value": a[rows, cols].astype(float)},
                         geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326")
    g.attrs["bounds"] = bounds
    return g


def build(raw: Path, out: Path) -> dict:
    rng = np.random.default_rng(SEED)
    der = raw / "derived"
    src = raw / "source"
    out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ streets
    st = gpd.read_file(der / "xuhui_streets_wgs84.geojson")[["street_name", "part", "geometry"]]
    st = st.dissolve(by="street_name", as_index=False)  # 虹梅路街道: two parts → one MultiPolygon
    st["street_id"] = st["street_name"].map(STREET_IDS)
    assert st["street_id"].notna().all(), st
    st = st.sort_values("street_id").reset_index(drop=True)
    st["name"] = st["street_name"]
    st["district"] = "徐汇区"
    st["is_town"] = st["name"].str.endswith("镇")

    tot = raster_points(src / "population_total_pop.tif")
    kid = raster_points(src / "population_age0_14.tif")
    rb = tot.attrs["bounds"]
    rbox = box(rb.left, rb.bottom, rb.right, rb.top)
    stm = st.to_crs(UTM)
    cover = stm.geometry.intersection(gpd.GeoSeries([rbox], crs="EPSG:4326").to_crs(UTM).iloc[0]).area / stm.area
    st["raster_cover_share"] = cover.round(4).values

    # ------------------------------------------------------------------ communities
    xq = gpd.read_file(der / "xuhui_xiaoqu_wgs84.geojson")
    xq = xq.sort_values("FID").reset_index(drop=True)
    xq = gpd.sjoin(xq.drop(columns=["street_name"]), st[["street_id", "geometry"]], how="inner",
                   predicate="within").drop(columns="index_right")
    xq = xq.drop_duplicates("FID").reset_index(drop=True)
    xq["community_id"] = [f"XQ{i + 1:04d}" for i in range(len(xq))]
    xqm = xq.to_crs(UTM)
    xy = np.column_stack([xqm.geometry.x, xqm.geometry.y])

    def allocate(cells: gpd.GeoDataFrame) -> np.ndarray:
        """Allocate raster people to 小区 inside the same 街道 (cell centres).

        Every 小区 claims the cell nearest to it; a claimed cell's people are split equally among
        the 小区 claiming it; an unclaimed cell's people go to the 小区 nearest to it.
        """
        c = gpd.sjoin(cells, st[["street_id", "geometry"]], how="inner", predicate="within")
        cm = c.to_crs(UTM)
        res = np.zeros(len(xq))
        for sid, grp in cm.groupby("street_id"):
            idx = np.flatnonzero(xq["street_id"].values == sid)
            cxy = np.column_stack([grp.geometry.x, grp.geometry.y])
            val = grp["value"].values
            _, claim = cKDTree(cxy).query(xy[idx])          # cell claimed by each 小区
            n_claims = np.bincount(claim, minlength=len(cxy))
            claimed = n_claims > 0
            res[idx] += val[claim] / n_claims[claim]
            _, nn = cKDTree(xy[idx]).query(cxy[~claimed])   # unclaimed cells → nearest 小区
            np.add.at(res, idx[nn], val[~claimed])
        return res

    xq["pop_raster"] = allocate(tot)
    xq["kid_raster"] = allocate(kid)
    # 华泾镇 correction: the raster covers only part of the town; the people of the uncovered part
    # (estimated at the covered part's density) are split equally among the 小区 outside the raster.
    rast_bottom = rb.bottom
    xq["outside_raster"] = xqm.to_crs("EPSG:4326").geometry.y < rast_bottom
    corrections = {}
    for _, s in st.iterrows():
        share = float(s["raster_cover_share"])
        if share >= 0.99:
            continue
        inside = (xq["street_id"] == s["street_id"]) & ~xq["outside_raster"]
        outside = (xq["street_id"] == s["street_id"]) & xq["outside_raster"]
        covered_pop = xq.loc[xq["street_id"] == s["street_id"], "pop_raster"].sum()
        covered_kid = xq.loc[xq["street_id"] == s["street_id"], "kid_raster"].sum()
        add_pop = covered_pop * (1 - share) / share
        add_kid = covered_kid * (1 - share) / share
        target = outside if outside.any() else inside
        xq.loc[target, "pop_raster"] += add_pop / target.sum()
        xq.loc[target, "kid_raster"] += add_kid / target.sum()
        corrections[s["name"]] = {"cover_share": share, "raster_population": round(covered_pop),
                                  "added_population": round(add_pop), "xiaoqu_receiving": int(target.sum())}
    xq["population"] = xq["pop_raster"].round().astype(int)
    xq["infants"] = (xq["kid_raster"] * INFANT_SHARE_OF_0_14).round(1)
    xq["built_year"] = xq["build_year"].astype("Int64")
    xq["is_new"] = (xq["built_year"].fillna(0) >= NEW_FROM_YEAR).astype(bool)
    comm = xq[["community_id", "name", "street_id", "population", "infants", "built_year", "is_new",
               "geometry"]].copy()
    comm["address"] = xq["address"]
    comm["estimated_population"] = True
    sp = comm.groupby("street_id")[["population", "infants"]].sum()
    st["population"] = st["street_id"].map(sp["population"]).fillna(0).astype(int)
    st["infants"] = st["street_id"].map(sp["infants"]).fillna(0).round(1)
    st["population_corrected"] = st["name"].isin(list(corrections))

    # ------------------------------------------------------------------ institutions and candidates
    kg = gpd.read_file(der / "xuhui_kindergartens_amap_wgs84.geojson")
    kg = kg[kg["in_district"]].copy()
    kg = gpd.sjoin(kg.drop(columns=["street_name"]), st[["street_id", "geometry"]], how="inner",
                   predicate="within").drop(columns="index_right").reset_index(drop=True)
    kg = kg[~kg["name"].str.contains("暂停营业")].reset_index(drop=True)
    inst_rows, cand_rows = [], []
    for _, r in kg.iterrows():
        private = bool(PRIVATE_PAT.search(r["name"]))
        base = {"name": r["name"], "address": r["address"], "street_id": r["street_id"], "geometry": r.geometry,
                "source": "AMap POI (pygeo-tutorial, 2020)"}
        if r["kind"] == "幼儿园":
            runs = rng.random() < (0.30 if private else 0.22)
            if runs:
                classes = int(rng.integers(1, 3))
                inst_rows.append({**base, "category": "幼儿园托班", "places": 20 * classes,
                                  "puhui": not private, "operator": "民办" if private else "公办",
                                  "rule": f"{'民办' if private else '公办'}幼儿园开设托班（示意：{classes}个托大班）"})
            else:
                cand_rows.append({**base, "kind": "幼儿园富余", "max_places": 35, "min_places": 15,
                                  "fixed_cost": 20.0, "cost_per_place": 1.5,
                                  "rule": "未开托班的幼儿园，利用富余教室开设托班（示意）"})
        elif r["kind"] == "托儿所/托育":
            if "托儿所" in r["name"]:
                inst_rows.append({**base, "category": "公办", "places": 60, "puhui": True, "operator": "公办",
                                  "rule": "托儿所按公办托育机构计（示意：3个班60托位）"})
            else:
                puhui = bool(rng.random() < 0.5)
                inst_rows.append({**base, "category": "普惠" if puhui else "民办",
                                  "places": int(rng.choice([40, 50, 60, 80])), "puhui": puhui, "operator": "民办",
                                  "rule": "民办托育机构（示意：普惠认定随机抽取）"})
    inst = gpd.GeoDataFrame(inst_rows, crs="EPSG:4326")
    inst.insert(0, "institution_id", [f"JG{i + 1:03d}" for i in range(len(inst))])
    inst["is_demonstration"] = False
    pu = inst[inst["puhui"]]
    inst.loc[pu["places"].idxmax(), "is_demonstration"] = True
    inst["status"] = "运营"

    # community candidates: the three most populous 小区 of each 街道 (embedded 社区托育点 in
    # community service space) and up to two new 小区 per 街道 (配建 places)
    for sid, grp in comm.groupby("street_id"):
        top = grp.sort_values("population", ascending=False).head(3)
        for _, c in top.iterrows():
            cand_rows.append({"name": f"{c['name']}社区托育点", "address": c["address"], "street_id": sid,
                              "geometry": c.geometry, "kind": "社区服务中心", "max_places": 45,
                              "min_places": 10, "fixed_cost": 60.0, "cost_per_place": 2.5,
                              "source": "derived from 小区 (house_total_shanghai_xiaoqu)",
                              "rule": "本街道人口最多的3个小区之一，嵌入式社区托育点（示意）"})
        new = grp[grp["is_new"] & ~grp.index.isin(top.index)].sort_values("population", ascending=False).head(2)
        for _, c in new.iterrows():
            cand_rows.append({"name": f"{c['name']}配建托育", "address": c["address"], "street_id": sid,
                              "geometry": c.geometry, "kind": "新建小区配建", "max_places": 65,
                              "min_places": 20, "fixed_cost": 40.0, "cost_per_place": 2.0,
                              "source": "derived from 小区 (house_total_shanghai_xiaoqu)",
                              "rule": f"{NEW_FROM_YEAR}年后建成小区，配建托育用房（示意）"})
    cand = gpd.GeoDataFrame(cand_rows, crs="EPSG:4326")
    cand.insert(0, "site_id", [f"HX{i + 1:03d}" for i in range(len(cand))])
    cand["available_year"] = np.where(rng.random(len(cand)) < 0.2, 2027, 2026)

    # ------------------------------------------------------------------ network
    import osmnx as ox

    from tuoyu_geo.network import graph_from_overpass_json

    G = graph_from_overpass_json([src / "osm_overpass_drive_xuhui_bbox_20260308.json",
                                  src / "osm_overpass_walk_partial_20260308.json"])
    keep = {"osmid", "highway", "name", "length", "geometry", "reversed", "oneway"}
    for _, _, d in G.edges(data=True):
        for k in list(d):
            if k not in keep:
                del d[k]
            elif k == "geometry":
                d[k] = d[k].simplify(0.00002)
            elif isinstance(d[k], list):  # simplify_graph merges values via sets: make it reproducible
                d[k] = sorted(set(d[k]), key=str)
    ox.save_graphml(G, out / "walk_network.graphml")

    # ------------------------------------------------------------------ write
    st_out = st[["street_id", "name", "district", "is_town", "population", "infants", "raster_cover_share",
                 "population_corrected", "geometry"]]
    st_out = st_out.set_geometry(st_out.geometry.simplify(0.00003))
    for name, g in (("streets", st_out), ("communities", comm), ("institutions", inst), ("candidates", cand)):
        p = out / f"{name}.geojson"
        if p.exists():
            p.unlink()
        g.to_file(p, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=6, WRITE_BBOX="NO")
    (out / "area.toml").write_text(
        'name = "上海市徐汇区"\n'
        'description = "Bundled study area built by data/build_shanghai_xuhui.py; institutions, places, '
        '普惠 status and candidates are ILLUSTRATIVE (see README.md)"\n'
        'crs = "wgs84"\n'
        'metric_crs = "EPSG:32651"\n'
        'policy = "wuxi-2025"\n'
        'attribution = "路网 © OpenStreetMap contributors (ODbL 1.0); 人口 WorldPop 2020 (via liuxingtong/'
        'digital_map_data_of_Xujiahui); 小区 liuxingtong house_data; 幼儿园 POI 高德 (via ni1o1/pygeo-tutorial); '
        '托育机构与候选点为示意数据"\n\n'
        "[layers]\n"
        'streets = "streets.geojson"\n'
        'communities = "communities.geojson"\n'
        'institutions = "institutions.geojson"\n'
        'candidates = "candidates.geojson"\n'
        'network = "walk_network.graphml"\n', encoding="utf-8")
    facts = {
        "streets": len(st_out), "communities": len(comm), "population": int(comm["population"].sum()),
        "infants": round(float(comm["infants"].sum()), 1), "institutions": len(inst),
        "institution_categories": inst["category"].value_counts().to_dict(),
        "places": int(inst["places"].sum()), "puhui_places": int(inst.loc[inst["puhui"], "places"].sum()),
        "streets_without_puhui": sorted(set(st["name"]) - set(st.set_index("street_id").loc[
            inst.loc[inst["puhui"], "street_id"].unique(), "name"])),
        "candidates": len(cand), "candidate_kinds": cand["kind"].value_counts().to_dict(),
        "new_communities": int(comm["is_new"].sum()), "corrections": corrections,
        "graph_nodes": G.number_of_nodes(), "graph_edges": G.number_of_edges(),
    }
    (out / "build_facts.json").write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
              for p in sorted(src.iterdir()) if p.is_file()}
    (out / "source_hashes.json").write_text(json.dumps(hashes, indent=1), encoding="utf-8")
    return facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    here = Path(__file__).resolve().parent
    ap.add_argument("--raw", type=Path, default=here.parent.parent / "shared" / "data" / "shanghai-xuhui")
    ap.add_argument("--out", type=Path, default=here / "shanghai-xuhui")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    facts = build(a.raw, a.out)
    print(json.dumps(facts, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
