"""Loading and validating study areas: readers, the data contract, area.toml, the bundled area
(``tuoyu_geo.area``, ``tuoyu_geo.loading``, ``tuoyu_geo.datasets``, ``tuoyu_geo.network.checks``)."""

from __future__ import annotations

import dataclasses
import json
import os

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import synth

from tuoyu_geo import DataError, crs, datasets
from tuoyu_geo.area import StudyArea, make_area, read_layer
from tuoyu_geo.loading import load_area
from tuoyu_geo.network import checks

# ------------------------------------------------------------------------------- bundled area


@pytest.fixture(scope="module")
def xuhui():
    return datasets.shanghai_xuhui()


def test_bundled_area_counts(xuhui):
    assert (len(xuhui.streets), len(xuhui.communities), len(xuhui.institutions), len(xuhui.candidates)) \
        == (13, 1709, 43, 162)
    assert xuhui.institutions["places"].sum() == 1400
    assert xuhui.institutions.loc[xuhui.institutions["puhui"], "places"].sum() == 850
    assert xuhui.graph.number_of_nodes() == 2510 and xuhui.graph.number_of_edges() == 7570
    assert xuhui.metric_crs == "EPSG:32651" and xuhui.policy.name == "wuxi-2025"
    assert "OpenStreetMap" in xuhui.attribution


def test_bundled_population_with_documented_huajing_correction(xuhui):
    facts = json.loads((datasets.bundled_path() / "build_facts.json").read_text(encoding="utf-8"))
    pop = xuhui.streets["population"].sum()
    assert pop == pytest.approx(1.11e6, rel=0.01)
    assert xuhui.communities["population"].sum() == pytest.approx(pop, abs=1)
    added = facts["corrections"]["华泾镇"]["added_population"]
    assert pop - added == pytest.approx(1.08e6, rel=0.01)  # the raster sum before the correction
    assert xuhui.streets.loc[xuhui.streets["name"] == "华泾镇", "is_town"].item()


def test_bundled_layers_follow_the_contract(xuhui):
    for layer, idc in (("streets", "street_id"), ("communities", "community_id"),
                       ("institutions", "institution_id"), ("candidates", "site_id")):
        g = getattr(xuhui, layer)
        assert g.crs.to_epsg() == 4326
        assert list(g.index) == list(g[idc]) and g.index.is_unique
        if layer != "streets":
            assert g["street_id"].isin(xuhui.streets.index).all()
    assert xuhui.communities["infants"].notna().all() and xuhui.streets["infants"].notna().all()
    assert xuhui.institutions["puhui"].dtype == bool
    assert xuhui.communities["is_new"].dtype == bool
    pu = xuhui.summary().set_index("street_id")["puhui_institutions"]
    assert set(pu[pu == 0].index) == {"XH01", "XH12"}


def test_bundled_area_real_wgs84_does_not_trigger_datum_check(xuhui):
    t = checks.datum_check(xuhui, "wgs84")
    assert t["streets_m"].idxmin() == "wgs84"
    assert t.loc["wgs84", "streets_m"] < 0.5 * t.loc["gcj02", "streets_m"]


def test_summary_and_points(xuhui):
    s = xuhui.summary()
    assert s["communities"].sum() == 1709 and s["candidates"].sum() == 162 and s["places"].sum() == 1400
    pts = xuhui.points("communities")
    assert str(pts.crs) == "EPSG:32651" and (pts.geom_type == "Point").all()
    assert 300_000 < pts.x.mean() < 400_000 and 3_400_000 < pts.y.mean() < 3_500_000


def test_study_area_is_frozen_and_replace_revalidates(xuhui):
    with pytest.raises(dataclasses.FrozenInstanceError):
        xuhui.name = "x"  # type: ignore[misc]
    area = make_area(**{k: synth.LAYER_FUNCS[k]() for k in synth.LAYER_FUNCS})
    inst = area.institutions.copy()
    inst.loc["I1", "places"] = -5
    with pytest.raises(DataError, match="places is negative") as ei:
        area.replace(institutions=inst)
    assert "I1" in str(ei.value)
    other = area.replace(name="renamed")
    assert other.name == "renamed" and area.name == "study area"
    assert make_area(**{k: f() for k, f in synth.LAYER_FUNCS.items()}, input_crs="gcj02") \
        .replace(name="x").input_crs == "gcj02"


# ---------------------------------------------------------------------------- make_area basics


def layers(**changes):
    d = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    d.update(changes)
    return d


def test_make_area_fills_defaults():
    area = make_area(**layers(), policy="wuxi-2025")
    c = area.communities
    assert list(c.index[:3]) == ["C10", "C11", "C12"]
    assert (c["street_id"].groupby(level=0).first() == c["street_id"]).all()
    assert c.loc["C10", "street_id"] == "S1" and c.loc["C40", "street_id"] == "S4"  # spatial join
    assert c.loc["C11", "infants"] == pytest.approx(2100 * 0.0277)
    assert area.institutions.loc[["I1", "I2", "I3", "I4"], "puhui"].tolist() == [True, True, False, False]
    assert area.institutions["places"].tolist() == [20, 25, 30, 35]
    assert (area.candidates["available_year"] == 2024).all()
    assert area.metric_crs == "EPSG:32651" and area.graph is None
    # no infants column: every row estimated and flagged
    assert area.communities["infants_estimated"].dtype == bool and area.communities["infants_estimated"].all()
    assert area.streets["infants_estimated"].all()


def _policy_area(tmp_path) -> StudyArea:
    c = synth.communities()
    c["infants"] = [33.0] + [None] * 11
    s = synth.streets()
    s["infants"] = [150.0, None, None, None]
    return load_area(synth.write_area(tmp_path / "w", layers={"communities": c, "streets": s},
                                      policy="wuxi-2025"))


def test_with_policy_re_estimates_only_estimated_infants(tmp_path):
    """Policy at assessment time.

    Loaded with wuxi-2025 (infant_share 0.0277): C11 (population 2100) → 2100 × 0.0277 = 58.17,
    C12 (2200) → 60.94, 街道 S2 (7000) → 193.9; the given C10 = 33 and S1 = 150 stay.
    with_policy(infant_share 0.04): C11 → 2100 × 0.04 = 84, C12 → 88, S2 → 280, S4 (9000) → 360;
    C10 = 33 and S1 = 150 unchanged.  Back to wuxi-2025: 58.17 again.
    """
    area = _policy_area(tmp_path)
    c, s = area.communities, area.streets
    assert c.loc["C11", "infants"] == pytest.approx(58.17) and c.loc["C12", "infants"] == pytest.approx(60.94)
    assert s.loc["S2", "infants"] == pytest.approx(193.9)
    assert c.loc["C10", "infants"] == 33.0 and s.loc["S1", "infants"] == 150.0
    assert not c.loc["C10", "infants_estimated"] and c["infants_estimated"].sum() == 11
    assert s["infants_estimated"].tolist() == [False, True, True, True]
    other = area.policy.replace(name="high-births", infant_share=0.04)
    b = area.with_policy(other)
    assert b.policy is other and b.graph is area.graph
    assert b.communities.loc["C11", "infants"] == pytest.approx(84.0)
    assert b.communities.loc["C12", "infants"] == pytest.approx(88.0)
    assert b.streets.loc["S2", "infants"] == pytest.approx(280.0)
    assert b.streets.loc["S4", "infants"] == pytest.approx(360.0)
    assert b.communities.loc["C10", "infants"] == 33.0 and b.streets.loc["S1", "infants"] == 150.0
    assert (b.communities["infants_estimated"] == c["infants_estimated"]).all()
    # the original area is untouched; going back re-estimates with the old share
    assert c.loc["C11", "infants"] == pytest.approx(58.17)
    assert b.with_policy("wuxi-2025").communities.loc["C11", "infants"] == pytest.approx(58.17)
    # the same policy (object or equal values) or None: the area itself
    assert area.with_policy(area.policy) is area and area.with_policy("wuxi-2025") is area
    assert area.with_policy(None) is area
    # re-validating under another policy gives the same estimate (flags survive make_area)
    r = area.replace(policy=other)
    assert r.communities["infants"].tolist() == pytest.approx(b.communities["infants"].tolist())
    assert r.communities["infants_estimated"].tolist() == b.communities["infants_estimated"].tolist()


def test_bundled_area_is_a_fresh_copy_each_call():
    """Mutating one returned area (frames and graph) never leaks into the next call."""
    a = datasets.shanghai_xuhui()
    a.communities.loc["XQ0001", "population"] = -1
    a.institutions["places"] = 0
    u, v, k = next(iter(a.graph.edges(keys=True)))
    a.graph.edges[u, v, k]["length"] = 1e9
    a.graph.remove_node(next(iter(a.graph.nodes)))
    b = datasets.shanghai_xuhui()
    assert b.communities is not a.communities and b.graph is not a.graph
    assert b.communities.loc["XQ0001", "population"] == 1070
    assert a.institutions["places"].sum() == 0
    assert len(b.institutions) == 43 and b.institutions["places"].sum() == 1400
    assert b.graph.number_of_nodes() == 2510 and b.graph.number_of_edges() == 7570
    assert b.graph.edges[u, v, k]["length"] < 1e9
    # a policy argument applies to that copy only
    t = datasets.shanghai_xuhui(policy="tianjin-2025")
    assert t.policy.name == "tianjin-2025" and datasets.shanghai_xuhui().policy.name == "wuxi-2025"
    assert datasets.shanghai_xuhui(load_graph=False).graph is None


def test_input_frames_are_not_mutated():
    d = layers()
    before = {k: v.copy() for k, v in d.items()}
    make_area(**d)
    for k in d:
        pd.testing.assert_frame_equal(pd.DataFrame(d[k]), pd.DataFrame(before[k]))


def test_given_street_id_is_kept_and_checked():
    c = synth.communities()
    c["street_id"] = ["S1"] * 3 + ["S2"] * 3 + ["S3"] * 3 + ["S4", "", "S9"]
    with pytest.raises(DataError) as ei:
        make_area(**layers(communities=c))
    msg = str(ei.value)
    assert "street_id not in the streets layer" in msg and "C42" in msg and "C41" not in msg


def test_puhui_column_overrides_category():
    i = synth.institutions()
    i["puhui"] = ["否", "", "是", "true"]
    area = make_area(**layers(institutions=i))
    assert area.institutions["puhui"].tolist() == [False, True, True, True]
    i["puhui"] = ["maybe", "", "", ""]
    with pytest.raises(DataError, match="puhui is not a yes/no value"):
        make_area(**layers(institutions=i))


def test_category_aliases():
    i = synth.institutions()
    i["category"] = ["民办普惠", "托班", "营利", "单位办"]
    area = make_area(**layers(institutions=i))
    assert area.institutions["category"].tolist() == ["普惠", "幼儿园托班", "民办", "用人单位"]


def test_polygon_communities_use_inner_point():
    c = synth.communities()
    c["geometry"] = c.geometry.to_crs(32651).buffer(20).to_crs(4326)
    area = make_area(**layers(communities=c))
    assert area.communities.loc["C40", "street_id"] == "S4"
    assert (area.points("communities").geom_type == "Point").all()


def test_all_problems_of_all_layers_in_one_error():
    s = synth.streets()
    s.loc[0, "population"] = -1
    i = synth.institutions()
    i.loc[1, "category"] = "早教"
    k = synth.candidates()
    k.loc[2, "kind"] = "商场"
    with pytest.raises(DataError) as ei:
        make_area(**layers(streets=s, institutions=i, candidates=k),
                     file_names={"streets": "s.geojson", "institutions": "i.csv", "candidates": "k.gpkg"})
    e = ei.value
    assert len(e.problems) == 3 and str(e).startswith("3 problems in the input data")
    assert {p.file for p in e.problems} == {"s.geojson", "i.csv", "k.gpkg"}
    assert all(p.fix for p in e.problems)


# --------------------------------------------------------------------------------- readers


def _inst_table() -> pd.DataFrame:
    g = synth.institutions()
    df = pd.DataFrame(g.drop(columns="geometry"))
    df["lon"], df["lat"] = g.geometry.x, g.geometry.y
    return df


def _area_with(tmp_path, key, filename, writer):
    folder = synth.write_area(tmp_path / "a")
    path = folder / filename
    writer(path)
    toml = folder / "area.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(f'{key} = "{key}.geojson"', f'{key} = "{filename}"'),
                    encoding="utf-8")
    return load_area(folder)


def test_csv_with_bom(tmp_path):
    df = _inst_table()
    area = _area_with(tmp_path, "institutions", "inst.csv", lambda p: df.to_csv(p, index=False, encoding="utf-8-sig"))
    assert list(area.institutions.index) == ["I1", "I2", "I3", "I4"]
    assert area.institutions.loc["I1", "name"] == "S1托育园"
    assert (tmp_path / "a" / "inst.csv").read_bytes()[:3] == b"\xef\xbb\xbf"


def test_gbk_csv(tmp_path):
    df = _inst_table()
    area = _area_with(tmp_path, "institutions", "inst.csv", lambda p: df.to_csv(p, index=False, encoding="gbk"))
    assert area.institutions["name"].tolist() == df["name"].tolist()
    assert area.institutions["category"].tolist() == ["公办", "普惠", "民办", "幼儿园托班"]


def test_chinese_coordinate_headers(tmp_path):
    df = _inst_table().rename(columns={"lon": "经度", "lat": "纬度"})
    area = _area_with(tmp_path, "institutions", "inst.csv", lambda p: df.to_csv(p, index=False))
    assert area.institutions.geometry.x.tolist() == pytest.approx(_inst_table()["lon"].tolist())


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_gbk_shapefile_without_cpg(tmp_path):
    g = synth.communities()

    def write(p):
        g.to_file(p, engine="pyogrio", encoding="gbk")
        cpg = p.with_suffix(".cpg")
        if cpg.exists():
            os.remove(cpg)

    with pytest.warns(UserWarning, match="truncated"):  # 'community_id' is cut to 10 characters
        area = _area_with(tmp_path, "communities", "xq.shp", write)
    assert not (tmp_path / "a" / "xq.cpg").exists()
    assert area.communities["name"].tolist() == g["name"].tolist()
    assert list(area.communities.index) == g["community_id"].tolist()  # 'community_' restored


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
@pytest.mark.filterwarnings("ignore:Column names longer than 10")
def test_utf8_shapefile_without_cpg(tmp_path):
    g = synth.candidates()

    def write(p):
        g.to_file(p, engine="pyogrio", encoding="utf-8")
        p.with_suffix(".cpg").unlink(missing_ok=True)

    area = _area_with(tmp_path, "candidates", "k.shp", write)
    assert area.candidates["name"].tolist() == g["name"].tolist()
    assert area.candidates["kind"].tolist() == g["kind"].tolist()


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_utf8_shapefile(tmp_path):
    g = synth.candidates()
    with pytest.warns(UserWarning):
        area = _area_with(tmp_path, "candidates", "k.shp", lambda p: g.to_file(p, engine="pyogrio"))
    assert area.candidates["name"].tolist() == g["name"].tolist()
    assert area.candidates["cost_per_place"].tolist() == [1.0] * 8


def test_xlsx_with_merged_header_cells(tmp_path):
    df = _inst_table()

    def write(p):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws["A1"] = "徐汇区托育机构名单（2025年）"
        ws.merge_cells("A1:F1")
        ws["A2"] = "基本信息"
        ws.merge_cells("A2:D2")
        ws["E2"] = "坐标（WGS-84）"
        ws.merge_cells("E2:F2")
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append(list(row))
        wb.save(p)

    area = _area_with(tmp_path, "institutions", "inst.xlsx", write)
    assert list(area.institutions.index) == ["I1", "I2", "I3", "I4"]
    assert area.institutions["places"].tolist() == [20, 25, 30, 35]


def test_geopackage(tmp_path):
    g = synth.streets()
    area = _area_with(tmp_path, "streets", "s.gpkg", lambda p: g.to_file(p, driver="GPKG", engine="pyogrio"))
    assert list(area.streets.index) == ["S1", "S2", "S3", "S4"]


def test_projected_file_is_reprojected(tmp_path):
    g = synth.streets().to_crs("EPSG:32651")
    area = _area_with(tmp_path, "streets", "s.gpkg", lambda p: g.to_file(p, driver="GPKG", engine="pyogrio"))
    assert area.streets.crs.to_epsg() == 4326
    np.testing.assert_allclose(area.streets.total_bounds, synth.streets().total_bounds, atol=1e-7)


def test_gcj02_files_are_converted_on_load(tmp_path):
    shifted = {k: crs.convert_geoseries(f(), "wgs84", "gcj02") for k, f in synth.LAYER_FUNCS.items()}
    area = load_area(synth.write_area(tmp_path / "g", layers=shifted, crs="gcj02"))
    want = synth.communities().set_index("community_id").geometry
    d = area.communities.to_crs(32651).distance(want.to_crs(32651))
    assert d.max() < 0.5
    assert area.input_crs == "gcj02"


def test_bd09_files_are_converted_on_load(tmp_path):
    shifted = {k: crs.convert_geoseries(f(), "wgs84", "bd09") for k, f in synth.LAYER_FUNCS.items()}
    area = load_area(synth.write_area(tmp_path / "b", layers=shifted, crs="bd09"))
    want = synth.institutions().set_index("institution_id").geometry
    assert area.institutions.to_crs(32651).distance(want.to_crs(32651)).max() < 0.5


def test_lonlat_swapped_detected(tmp_path):
    df = _inst_table().rename(columns={"lon": "lat", "lat": "lon"})
    with pytest.raises(DataError, match="longitude and latitude look swapped") as ei:
        _area_with(tmp_path, "institutions", "inst.csv", lambda p: df.to_csv(p, index=False))
    assert "inst.csv" in str(ei.value) and "I1" in str(ei.value) and "swap the lon/lat" in str(ei.value)


def test_read_layer_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_layer(tmp_path / "nope.geojson")
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(DataError, match="cannot read the file") as ei:
        read_layer(bad)
    assert "broken.geojson" in str(ei.value)
    csv = tmp_path / "nocoords.csv"
    csv.write_text("institution_id,name\nI1,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="no lon/lat columns"):
        read_layer(csv)


# ------------------------------------------------------------------------------- area.toml


def test_area_toml_policy_path_relative_to_folder(tmp_path):
    folder = synth.write_area(tmp_path / "p", policy="my.toml")
    (folder / "my.toml").write_text('base = "wuxi-2025"\nplaces_per_1000 = 6.0\n', encoding="utf-8")
    area = load_area(folder)
    assert area.policy.name == "my" and area.policy.places_per_1000 == 6.0
    assert load_area(folder, policy="tianjin-2025").policy.name == "tianjin-2025"


def test_area_toml_files_and_metadata(tmp_path):
    folder = synth.write_area(tmp_path / "m", network=True)
    area = load_area(folder)
    assert set(area.files) == {"streets", "communities", "institutions", "candidates", "network"}
    assert area.folder == folder and area.name == "synthetic"
    assert area.graph is not None and str(area.graph.graph["crs"]).upper().endswith("32651")
    assert load_area(folder, load_graph=False).graph is None


def test_network_points_on_the_grid_are_accepted(tmp_path):
    area = load_area(synth.write_area(tmp_path / "n", network=True))
    t = checks.datum_check(area, "wgs84")
    assert t.loc["wgs84", "points_m"] < 0.01 and t.loc["gcj02", "points_m"] > 20


# ------------------------------------------------------------------------------------- CLI


def test_cli_validate_and_info_bundled(capsys):
    from tuoyu_geo.cli import main

    assert main(["validate", str(datasets.bundled_path())]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: StudyArea 上海市徐汇区\n")  # the area's summary (repr) follows
    assert "街道 streets: 13\n" in out and "小区 communities: 1,709\n" in out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("湖南路街道", "华泾镇", "XH13"):
        assert name in out
    assert "institutions 43, places 1400, candidates 162" in out


def test_cli_info_bad_policy_and_missing_folder(tmp_path, capsys):
    from tuoyu_geo.cli import main

    assert main(["info", "--policy", "nowhere-2030"]) == 2
    err = capsys.readouterr().err
    assert "unknown policy profile 'nowhere-2030'" in err and "Traceback" not in err
    assert main(["validate", str(tmp_path / "missing")]) == 2
    out = capsys.readouterr().out
    assert "no area.toml" in out and "fix: create area.toml" in out


def test_xlsx_two_row_header_with_merged_group_cells(tmp_path):
    df = _inst_table()

    def write(p):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws["A1"] = "托育机构名单"
        ws.merge_cells("A1:F1")
        ws.append(["institution_id", "name", "category", "places", "坐标", None])
        ws.merge_cells("E2:F2")  # 坐标 spans the two coordinate columns
        ws.append([None, None, None, None, "lon", "lat"])
        for row in df.itertuples(index=False):
            ws.append(list(row))
        wb.save(p)

    area = _area_with(tmp_path, "institutions", "inst.xlsx", write)
    assert list(area.institutions.index) == ["I1", "I2", "I3", "I4"]
    np.testing.assert_allclose(area.institutions.geometry.x, df["lon"])


def test_csv_title_rows_and_chinese_headers(tmp_path):
    df = _inst_table().rename(columns={"institution_id": "机构编号", "name": "机构名称", "category": "性质",
                                       "places": "托位数", "lon": "经度", "lat": "纬度"})

    def write(p):
        p.write_text("徐汇区托育机构（2025年6月）\n数据来源：区卫健委,,,,,\n" + df.to_csv(index=False), encoding="gbk")

    area = _area_with(tmp_path, "institutions", "inst.csv", write)
    assert list(area.institutions.index) == ["I1", "I2", "I3", "I4"]
    assert area.institutions["places"].tolist() == [20, 25, 30, 35]
    assert area.institutions["name"].tolist() == synth.institutions()["name"].tolist()


def test_ambiguous_alias_is_not_guessed(tmp_path):
    c = pd.DataFrame(synth.communities().drop(columns="geometry")).rename(columns={"name": "小区名称"})
    c["街道名称"] = "x"
    g = synth.communities()
    c["lon"], c["lat"] = g.geometry.x, g.geometry.y

    with pytest.raises(DataError, match="missing required column") as ei:
        _area_with(tmp_path, "communities", "c.csv", lambda p: c.to_csv(p, index=False))
    assert "小区名称" in str(ei.value)  # the fix lists the columns the file has


def test_area_toml_path_accepted(tmp_path):
    folder = synth.write_area(tmp_path / "t")
    assert load_area(folder / "area.toml").folder == folder


def test_single_layer_datum_rule_no_false_alarm_on_real_points(xuhui):
    """Random sets of 20–60 real (WGS-84) 小区 points used as an institutions layer never trip the
    single-layer datum check on the bundled (sparse) network."""
    rng = np.random.default_rng(7)
    for n in (20, 25, 30, 40, 60, 20, 20, 25):
        pick = xuhui.communities.iloc[rng.choice(len(xuhui.communities), n, replace=False)]
        inst = gpd.GeoDataFrame({"institution_id": [f"T{i}" for i in range(n)], "name": "x", "category": "公办",
                                 "places": 10}, geometry=pick.geometry.representative_point().values, crs=4326)
        area = xuhui.replace(institutions=inst)
        checks.check_datum(area, "wgs84", {})  # raises DataError on a (false) alarm


@pytest.mark.parametrize("files,declared", [("gcj02", "wgs84"), ("bd09", "gcj02"), ("bd09", "wgs84")])
def test_datum_mixups_detected_on_the_whole_district(xuhui, files, declared):
    """The bundled layers rewritten in ``files`` datum but declared ``declared`` are rejected."""
    layers = {}
    for k in ("streets", "communities", "institutions", "candidates"):
        g = crs.convert_geoseries(getattr(xuhui, k), "wgs84", files)
        layers[k] = crs.convert_geoseries(g, declared, "wgs84") if declared != "wgs84" else g
    area = make_area(**layers, policy=xuhui.policy, graph=xuhui.graph, metric_crs=xuhui.metric_crs)
    with pytest.raises(DataError, match=f'set crs = "{files}"'):
        checks.check_datum(area, declared, {})


def test_yes_no_columns_read_under_chinese_headers(tmp_path):
    """是否普惠 / 是否示范 are the puhui / is_demonstration columns (not silently ignored): I1 公办 and
    I2 普惠 would be 普惠 by category, but 是否普惠 = 否 for I2 and 是 for I3 (民办) wins: 普惠 places are
    I1 20 + I3 30 = 50 (by category they would be 20 + 25 = 45)."""
    df = _inst_table().rename(columns={"institution_id": "机构编号", "name": "机构名称", "category": "性质",
                                       "places": "托位数", "lon": "经度", "lat": "纬度"})
    df["是否普惠"] = ["是", "否", "是", "否"]
    df["是否示范"] = ["是", "否", "否", "否"]
    area = _area_with(tmp_path, "institutions", "inst.csv", lambda p: df.to_csv(p, index=False))
    inst = area.institutions
    assert inst["puhui"].tolist() == [True, False, True, False]
    assert int(inst.loc[inst["puhui"], "places"].sum()) == 50
    assert inst["is_demonstration"].tolist() == [True, False, False, False]
