"""A second study area, laid out like a planner's own folder, and bugs found on it.

The area is the synthetic 4-街道 grid of ``synth.py`` (policy national-2025: 4.5 places per 1000
residents, 普惠 share 60 %, 一街道一普惠), written the way a 卫健委/规划局 folder often looks:

* ``crs = "gcj02"``: every layer in AMap coordinates (GCJ-02);
* 街道: a GBK Shapefile without ``.cpg``, Chinese headers (街道编号 as 9-digit numbers, 街道名称, 常住人口);
* 小区: an XLSX with a merged title row above Chinese headers (小区编号, 小区名称, 常住人口, 经度, 纬度);
* 机构: a GBK CSV (Excel 另存为 CSV) with 机构编号, 机构名称, 机构类别, 核定托位, puhui 是/否, lng/lat;
* 候选点: a GeoPackage;
* walk network: OpenStreetMap road *lines* (WGS-84, as OSM is) in a GeoPackage instead of GraphML.

Hand arithmetic (street populations 6000/7000/8000/9000; institutions S1 公办 20, S2 普惠 25,
S3 民办 30, S4 幼儿园托班 35 places; so 普惠 places 45 of 110; candidates 2 per 街道, 社区服务中心,
max 35, fixed 50 万元 + 1 万元/place, sized in whole classes of 10/15/18/20):

* places per 1000: 20/6 = 3.33, 25/7 = 3.57, 30/8 = 3.75, 35/9 = 3.89;
* gap = ceil(4.5 × pop/1000 − places): S1 27 − 20 = 7, S2 31.5 − 25 → 7, S3 36 − 30 = 6,
  S4 40.5 − 35 → 6; total 26;
* S3 and S4 have no 普惠 institution → 一街道一普惠 forces one site in each;
* budget 140 万元 buys exactly those two sites with 40 places between them (2 × 50 + 40), each at
  least one class and at least its 街道's gap of 6; gaps after: 7, 7, 0, 0 = **14 places still missing**.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import synth
from shapely.geometry import LineString

import tuoyu_geo as tg
from tuoyu_geo import DataError, crs
from tuoyu_geo.cli import main
from tuoyu_geo.plan import load_plan, save_plan

CODE = {"S1": 310104001, "S2": 310104002, "S3": 310104003, "S4": 310104004}


def road_lines(*, datum: str = "wgs84") -> gpd.GeoDataFrame:
    """The synth walk grid as plain road centre-lines (one LineString per grid edge)."""
    G = synth.grid_graph()
    seen, rows = set(), []
    for u, v in G.edges():
        if (v, u) in seen:
            continue
        seen.add((u, v))
        a, b = G.nodes[u], G.nodes[v]
        rows.append({"name": "路", "highway": "residential",
                     "geometry": LineString([(a["x"], a["y"]), (b["x"], b["y"])])})
    g = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    if datum != "wgs84":
        g = g.set_geometry(crs.convert_geoseries(g.geometry, "wgs84", datum))
    return g


def _gcj(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return g.set_geometry(crs.convert_geoseries(g.geometry, "wgs84", "gcj02"))


def planner_folder(folder: Path, *, roads_datum: str = "wgs84", network_crs: str | None = None) -> Path:
    """Write the planner-style folder described in the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    st = _gcj(synth.streets())
    st = gpd.GeoDataFrame({"街道编号": st["street_id"].map(CODE).astype("int64"), "街道名称": st["name"],
                           "常住人口": st["population"]}, geometry=st.geometry.values, crs="EPSG:4326")
    st.to_file(folder / "jiedao.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="GBK")
    (folder / "jiedao.cpg").unlink(missing_ok=True)

    cm = _gcj(synth.communities())
    df = pd.DataFrame({"小区编号": cm["community_id"], "小区名称": cm["name"], "常住人口": cm["population"],
                       "经度": cm.geometry.x, "纬度": cm.geometry.y})
    with pd.ExcelWriter(folder / "xiaoqu.xlsx", engine="openpyxl") as xw:
        df.to_excel(xw, index=False, startrow=1)
        ws = xw.sheets["Sheet1"]
        ws["A1"] = "小区人口表（高德坐标）"
        ws.merge_cells("A1:E1")

    ins = _gcj(synth.institutions())
    pu = ins["category"].isin(["公办", "普惠"]).map({True: "是", False: "否"})
    pd.DataFrame({"机构编号": ins["institution_id"], "机构名称": ins["name"], "机构类别": ins["category"],
                  "核定托位": ins["places"], "puhui": pu, "lng": ins.geometry.x, "lat": ins.geometry.y}
                 ).to_csv(folder / "jigou.csv", index=False, encoding="gbk")

    _gcj(synth.candidates()).to_file(folder / "houxuan.gpkg", driver="GPKG", engine="pyogrio")
    road_lines(datum=roads_datum).to_file(folder / "walk.gpkg", driver="GPKG", engine="pyogrio")
    (folder / "area.toml").write_text(
        'name = "测试区"\ncrs = "gcj02"\n' + (f'network_crs = "{network_crs}"\n' if network_crs else "")
        + 'policy = "national-2025"\n\n[layers]\n'
        'streets = "jiedao.shp"\ncommunities = "xiaoqu.xlsx"\ninstitutions = "jigou.csv"\n'
        'candidates = "houxuan.gpkg"\nnetwork = "walk.gpkg"\n', encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return planner_folder(tmp_path_factory.mktemp("second") / "area")


@pytest.fixture(scope="module")
def area(folder):
    return tg.load_area(folder)


# ------------------------------------------------------------------------- the folder loads right

def test_planner_folder_loads_with_hand_checked_facts(area):
    assert sorted(area.streets.index) == [str(v) for v in CODE.values()]
    assert len(area.communities) == 12 and len(area.institutions) == 4 and len(area.candidates) == 8
    # GCJ-02 → WGS-84 puts every point back on its grid node (≤ 0.5 m)
    got = area.institutions.to_crs(area.metric_crs).geometry
    want = synth.institutions().set_index("institution_id").to_crs(area.metric_crs).geometry
    assert got.distance(want.loc[got.index]).max() < 0.5
    st = tg.assess(area, with_isochrones=False).streets
    assert st["places"].tolist() == [20, 25, 30, 35]
    assert st["puhui_places"].tolist() == [20, 25, 0, 0]
    assert st["place_gap"].tolist() == [7, 7, 6, 6]
    assert st["places_per_1000"].round(2).tolist() == [3.33, 3.57, 3.75, 3.89]


# ------------------------------------------------------------------ bug: "remaining shortfall"

@pytest.mark.parametrize("years", [None, "2026,2027"])
def test_cli_remaining_shortfall_is_the_places_still_missing(folder, area, tmp_path, capsys, years):
    """`tuoyu-geo plan --budget 140` prints "remaining shortfall N places" and, below it, the
    per-街道 缺口 后 table.  By hand (module docstring) 14 places are still missing (7 + 7 + 0 + 0).

    Found: without --years it prints 19 (14 + the 5-place 全区普惠占比 penalty of the MILP's first
    stage), with --years 2026,2027 it prints 38 (that sum once per year) — more than the 26 places
    missing before the plan.  On the bundled 徐汇区 `plan --budget 300` prints 3,563 while 缺口 后
    sums to 3,475.
    """
    args = ["plan", str(folder), "--budget", "140", "--out", str(tmp_path / "p"), "--no-progress"]
    if years:
        args += ["--years", years]
    assert main(args) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "p" / "plan.json").read_text(encoding="utf-8"))
    assert sorted(s["street_id"] for s in saved["sites"]) == ["310104003", "310104004"]
    # 140 万元 = 2 × 50 fixed + 40 places, split in whole classes (each ≥ one 10-place class); both
    # sites cover their 街道's gap of 6, whatever the split
    places = [s["places"] for s in saved["sites"]]
    assert sum(places) == 40 and min(places) >= 10
    after = tg.assess(area, plan=load_plan(tmp_path / "p" / "plan.json", area), with_isochrones=False)
    assert after.streets_after["place_gap"].tolist() == [7, 7, 0, 0]  # the hand result, = 14
    m = re.search(r"remaining shortfall ([\d,]+) places", out)
    assert m is not None, out
    assert int(m.group(1).replace(",", "")) == 14


# --------------------------------------------- bug: GCJ-02 road lines → wrong advice, wrong output

def test_gcj02_road_lines_error_names_the_network_file(tmp_path):
    """Road lines from a Chinese GIS/AMap source are GCJ-02 like the other layers.  The network
    file is always read as WGS-84, so the datum check fires — but it blames the four layer files
    and advises ``crs = "wgs84"``.  Following that advice loads the area and exports
    "经度（WGS-84）" columns that are really GCJ-02 (≈ 490 m off; seen on /tmp/area2).  The error
    must at least name the network file (walk.gpkg) as a suspect."""
    folder = planner_folder(tmp_path / "area", roads_datum="gcj02")
    with pytest.raises(DataError) as e:
        tg.load_area(folder)
    assert "walk.gpkg" in str(e.value)


def test_gcj02_road_lines_with_network_crs_load_in_place(tmp_path, area):
    """The fix the error names: ``network_crs = "gcj02"`` reads GCJ-02 road lines as GCJ-02.  The area
    then loads and its network lies where the WGS-84 one does: the same graph size and every node
    within 0.5 m of a node of the WGS-84 roads' graph (the datum round trip is ≤ 0.5 m)."""
    ok = tg.load_area(planner_folder(tmp_path / "area", roads_datum="gcj02", network_crs="gcj02"))
    ref = area.graph
    assert ok.graph.number_of_nodes() == ref.number_of_nodes()
    import numpy as np
    from scipy.spatial import cKDTree

    xy = np.array([[d["x"], d["y"]] for _, d in ok.graph.nodes(data=True)])
    xy_ref = np.array([[d["x"], d["y"]] for _, d in ref.nodes(data=True)])
    assert cKDTree(xy_ref).query(xy)[0].max() < 0.5


# ------------------------------------------------------- bug: plan.json from another study area

def test_plan_from_another_area_is_rejected_as_such(area, tmp_path):
    """``save_plan`` says the file "names the study area and its 街道/candidate ids, which
    load_plan checks".  A plan made on the planner folder (街道 310104001…) loaded into the synth
    area (街道 S1…S4; same candidate ids and positions) is not caught by load_plan's own checks:
    the error is "institutions: street_id not in the streets layer [ids: K36, …]" — the plan's
    sites called institutions, no word of the plan file or of the other area."""
    a = tg.assess(area, plan=tg.PlanOptions(budget_wan=140), with_isochrones=False)
    p = save_plan(a.plan, tmp_path / "plan.json", area=area)
    other = tg.load_area(synth.write_area(tmp_path / "synth", policy="national-2025", network=True))
    with pytest.raises(DataError) as e:
        load_plan(p, other)
    msg = str(e.value)
    assert "plan.json" in msg
    assert "institutions" not in msg
