"""report.export and report.scorecard on a real assessment: GeoPackage layers/CRS/rows, the GCJ-02
columns, the 合计 row, XLSX yes/no rule, one label per column across formats, the manifest,
all-or-nothing writes (incl. GDAL failures), and the CLI end to end.

The fixture is a real :func:`tuoyu_geo.pipeline.assess` run with a plan on the synthetic walk-grid
area of ``tests/synth.py`` (see ``tests/test_maps.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import glob
import hashlib
import io
import json
import math
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from contextlib import closing

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pytest
from openpyxl import load_workbook
from test_crs import _tm_snyder
from test_maps import (
    CHROMIUM,
    EVIL,
    EVIL_SITE,
    FORMULA,
    FORMULA_SITE,
    MK,
    build_assessment,
    run_chromium,
)

import tuoyu_geo
from tuoyu_geo import OutputError, writer
from tuoyu_geo import crs as tcrs
from tuoyu_geo._version import __version__
from tuoyu_geo.pipeline import assess
from tuoyu_geo.report import export, gpkg, scorecard
from tuoyu_geo.report.labels import NO, YES, definition, label
from tuoyu_geo.rules import MET, NOT_MET


@pytest.fixture(scope="module")
def a(tmp_path_factory):
    return build_assessment(tmp_path_factory.mktemp("area"))


@pytest.fixture(scope="module")
def exported(a, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "plan out"
    return out, export.export_plan(a, out, timings={"cli_s": 1.5})


def _sheet(ws) -> tuple[list[str], list[list]]:
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    return rows[0], rows[1:]


def _col(header: list[str], rows: list[list], name: str) -> list:
    j = header.index(name)
    return [r[j] for r in rows]


def _aliases(gpkg, layer, fields=None) -> list[str]:
    """The gpkg_data_columns alias (``name``) of each field of ``layer``, in field order."""
    with closing(sqlite3.connect(gpkg)) as con:
        got = dict(con.execute("SELECT column_name, name FROM gpkg_data_columns WHERE table_name = ?", (layer,)))
    fields = fields if fields is not None else list(pyogrio.read_info(gpkg, layer=layer)["fields"])
    return [got[f] for f in fields]


def _metres(lon1, lat1, lon2, lat2):
    k = math.pi / 180
    dx = (lon2 - lon1) * k * 6371000 * np.cos(lat1 * k)
    return np.hypot(dx, (lat2 - lat1) * k * 6371000)


def test_files_written_and_nothing_else(exported):
    out, paths = exported
    assert set(paths) == {"gpkg", "xlsx", "csv", "geojson", "manifest"}  # no Shapefile unless asked for
    assert sorted(p.name for p in out.iterdir()) == sorted(v for k, v in export.FILE_NAMES.items() if k != "shp")
    assert sorted(p.name for p in out.parent.iterdir()) == ["plan out"]


def test_export_computes_nothing(a, tmp_path, monkeypatch):
    def forbidden(*args, **kw):
        raise AssertionError("export must not solve or compute access/isochrones")

    for mod, name in ((tuoyu_geo.access, "compute_access"), (tuoyu_geo.access, "isochrones"),
                      (tuoyu_geo.plan, "plan_sites")):
        monkeypatch.setattr(mod, name, forbidden)
    paths = export.export_plan(a, tmp_path / "o")
    assert pyogrio.read_info(paths["gpkg"], layer="服务范围")["features"] == len(a.isochrones)


def test_geopackage_layers_crs_rows(exported, a):
    gpkg = exported[1]["gpkg"]
    assert dict(pyogrio.list_layers(gpkg)) == {"推荐站点": "Point", "街道指标": "Polygon", "小区覆盖": "Point",
                                               "服务范围": "Polygon", "layer_styles": None}
    rows = {"推荐站点": len(a.plan.sites), "街道指标": len(a.streets), "小区覆盖": len(a.area.communities),
            "服务范围": len(a.isochrones)}
    for name, n in rows.items():
        info = pyogrio.read_info(gpkg, layer=name)
        assert info["crs"] == "EPSG:4326" and info["features"] == n > 0, name
    sites = pyogrio.read_dataframe(gpkg, layer="推荐站点").set_index("site_id")  # ASCII field names
    assert sites.loc[EVIL_SITE, "name"] == EVIL and sites.loc[FORMULA_SITE, "name"] == FORMULA  # raw
    comm = pyogrio.read_dataframe(gpkg, layer="小区覆盖").set_index("community_id")
    before = a.access.communities[f"within{MK}_puhui"].reindex(comm.index)
    after = a.access_after.communities[f"within{MK}_puhui"].reindex(comm.index)
    assert comm[f"within{MK}_puhui_before"].tolist() == before.tolist()
    assert comm[f"within{MK}_puhui_after"].tolist() == after.tolist()
    assert comm["newly_covered"].tolist() == (after & ~before).tolist() and (after & ~before).any()
    iso = pyogrio.read_dataframe(gpkg, layer="服务范围")
    assert set(iso["kind"]) == {"现有普惠机构", "推荐站点"}


def test_coordinate_columns_are_the_right_datum(exported, a):
    """Mutation test: GCJ-02 values labelled WGS-84 (or the reverse) fail here."""
    truth = a.plan.sites.geometry
    df = pd.read_csv(exported[1]["csv"], encoding="utf-8-sig").set_index(label("site_id"))
    g = pyogrio.read_dataframe(exported[1]["gpkg"], layer="推荐站点").set_index("site_id")
    g = g.rename(columns=label)  # GeoPackage fields are the English names; compare under the same headers
    assert pyogrio.read_info(exported[1]["gpkg"], layer="推荐站点")["crs"] == "EPSG:4326"
    for table in (df, g):
        t = table.loc[truth.index]
        lon_w, lat_w = t[label("lon_wgs84")].to_numpy(), t[label("lat_wgs84")].to_numpy()
        lon_g, lat_g = t[label("lon_gcj02")].to_numpy(), t[label("lat_gcj02")].to_numpy()
        assert lon_w == pytest.approx(truth.x.to_numpy(), abs=1e-7)
        assert lat_w == pytest.approx(truth.y.to_numpy(), abs=1e-7)
        elon, elat = tcrs.wgs84_to_gcj02(truth.x.to_numpy(), truth.y.to_numpy())
        assert lon_g == pytest.approx(elon, abs=1e-7) and lat_g == pytest.approx(elat, abs=1e-7)
        shift = _metres(lon_w, lat_w, lon_g, lat_g)
        assert ((shift > 300) & (shift < 700)).all(), shift  # GCJ-02 is a few hundred metres off in Shanghai
    gg = g.loc[truth.index].geometry
    assert gg.x.to_numpy() == pytest.approx(g.loc[truth.index, label("lon_wgs84")].to_numpy(), abs=1e-7)
    assert gg.y.to_numpy() == pytest.approx(g.loc[truth.index, label("lat_wgs84")].to_numpy(), abs=1e-7)


def test_comparison_total_row_is_arithmetic_on_the_streets(exported, a):
    head, rows = _sheet(load_workbook(exported[1]["xlsx"])["街道前后对比"])
    body, total = rows[:-1], dict(zip(head, rows[-1], strict=True))
    assert len(body) == len(a.streets) and total[label("street_id")] == "合计" == total[label("name")]

    def s(col):
        return sum(_col(head, body, label(col)))

    pop = s("population")
    assert total[label("population")] == pop
    for when in ("before", "after"):
        places, puhui = s(f"places_{when}"), s(f"puhui_places_{when}")
        assert total[label(f"places_{when}")] == places
        assert total[label(f"places_per_1000_{when}")] == pytest.approx(places / pop * 1000)
        assert total[label(f"puhui_share_{when}")] == pytest.approx(puhui / places)
        assert total[label(f"place_gap_{when}")] == s(f"place_gap_{when}")
    assert total[label("new_places")] == s("new_places") == int(a.plan.sites["places"].sum()) > 0
    assert total[label("places_after")] - total[label("places_before")] == total[label("new_places")]
    assert total[label("new_sites")] == len(a.plan.sites)


def test_xlsx_sites_sheet(exported, a):
    wb = load_workbook(exported[1]["xlsx"])
    assert wb.sheetnames == ["推荐站点", "街道前后对比", "方案参数"]
    ws = wb["推荐站点"]
    head, rows = _sheet(ws)
    assert head[:3] == [label("site_id"), label("name"), label("kind")] and len(rows) == len(a.plan.sites)
    assert _col(head, rows, label("order")) == sorted(_col(head, rows, label("order")))
    by_id = {r[0]: dict(zip(head, r, strict=True)) for r in rows}
    site = a.plan.sites.loc[EVIL_SITE]
    got = by_id[EVIL_SITE]
    assert got[label("places")] == site["places"] and got[label("cost")] == pytest.approx(site["cost"])
    assert got[label("reason")] == site["reason"] and got[label("classes")] == site["classes"]
    j = head.index(label("name")) + 1
    cell = next(ws.cell(row=i, column=j) for i in range(2, ws.max_row + 1) if ws.cell(row=i, column=1).value == FORMULA_SITE)
    assert cell.value == "'" + FORMULA and cell.data_type == "s"  # escaped like the CSV: text, never a formula
    params = {r[0].value: r[1].value for r in wb["方案参数"].iter_rows(min_row=2)}
    assert params["求解状态 status"] == str(a.plan.status) and params["推荐站点数 sites"] == len(a.plan.sites)
    assert params["总投资（万元）total cost"] == pytest.approx(float(a.plan.sites["cost"].sum()))
    assert params["参数 required"] == json.dumps([EVIL_SITE, FORMULA_SITE])


def test_csv_and_geojson(exported, a):
    raw = exported[1]["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(exported[1]["csv"], encoding="utf-8-sig").set_index(label("site_id"))
    assert len(df) == len(a.plan.sites) and df.loc[FORMULA_SITE, label("name")] == "'" + FORMULA  # neutralised
    gj = json.loads(exported[1]["geojson"].read_text(encoding="utf-8"))
    props = {f["properties"]["site_id"]: f for f in gj["features"]}
    assert set(props) == set(a.plan.sites.index) and props[EVIL_SITE]["properties"]["name"] == EVIL
    f = props[EVIL_SITE]
    assert f["geometry"]["coordinates"] == pytest.approx([f["properties"]["lon_wgs84"], f["properties"]["lat_wgs84"]])


def test_manifest(exported, a):
    out, paths = exported
    man = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    assert man["tool_version"] == __version__ and man["policy"]["name"] == "wuxi-2025"
    assert man["plan"] == json.loads(json.dumps(writer.jsonable(a.plan.to_dict())))
    assert man["plan"]["options"]["required"] == [EVIL_SITE, FORMULA_SITE] and "parameters" not in man
    assert set(man["inputs"]) == set(a.area.files) and len(man["inputs"]) >= 4
    for v in man["inputs"].values():
        assert v["sha256"] == hashlib.sha256(open(v["path"], "rb").read()).hexdigest()
    assert man["timings"]["cli_s"] == 1.5 and set(a.timings) <= set(man["timings"])
    outs = {o["file"]: o for o in man["outputs"]}
    assert set(outs) == {n for k, n in export.FILE_NAMES.items() if k not in ("manifest", "shp")}
    for name, o in outs.items():
        assert o["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert man["summary"]["sites"] == len(a.plan.sites)


def test_one_label_per_column_across_formats(exported, a, tmp_path):
    cols = [c for c in export.site_table(a).columns if c != "geometry"]
    want = [label(c) for c in cols]
    assert all(w != c for w, c in zip(want, cols, strict=True)), "a site column has no Chinese label"
    gpkg = list(pyogrio.read_info(exported[1]["gpkg"], layer="推荐站点")["fields"])
    xlsx = _sheet(load_workbook(exported[1]["xlsx"])["推荐站点"])[0]
    csv = list(pd.read_csv(exported[1]["csv"], encoding="utf-8-sig", nrows=0).columns)
    assert gpkg == cols and _aliases(exported[1]["gpkg"], "推荐站点") == xlsx == csv == want
    # the 街道 before/after table: the GPKG layer's aliases are the XLSX sheet's headers
    comp = list(pyogrio.read_info(exported[1]["gpkg"], layer="街道指标")["fields"])
    assert _aliases(exported[1]["gpkg"], "街道指标", comp) == _sheet(load_workbook(exported[1]["xlsx"])["街道前后对比"])[0]
    # scorecards: the bundle's sheet, the one-file XLSX/GPKG/CSV agree, every column has a label
    bundle = scorecard.write_scorecard(tmp_path / "sc", a)
    street_head = _sheet(load_workbook(bundle["xlsx"])["街道指标"])[0]
    cols = [c for c in a.streets.columns if c != "geometry"]
    assert street_head == [label(c) for c in cols] and all(label(c) != c for c in cols)
    assert all(label(c) != c for c in a.communities.columns if c != "geometry")
    one = {s: scorecard.write_scorecard_file(a.streets, tmp_path / f"one{s}") for s in (".xlsx", ".gpkg", ".csv")}
    assert _sheet(load_workbook(one[".xlsx"])["街道指标"])[0] == street_head
    assert list(pyogrio.read_info(one[".gpkg"], layer="街道指标")["fields"]) == street_head
    assert list(pd.read_csv(one[".csv"], encoding="utf-8-sig", nrows=0).columns) == street_head


def test_booleans_are_yes_no_in_every_sheet_of_every_workbook(exported, a, tmp_path):
    books = [exported[1]["xlsx"], scorecard.write_scorecard(tmp_path / "sc", a)["xlsx"],
             scorecard.write_scorecard_file(a.streets, tmp_path / "one.xlsx", communities=a.communities)]
    bool_cols = {label(c) for df in (a.streets, a.communities) for c in df.columns if df[c].dtype == bool}
    bool_cols |= {label(f"{c}_{w}") for c in a.streets.columns if a.streets[c].dtype == bool
                  for w in ("before", "after")}
    seen = 0
    for book in books:
        for ws in load_workbook(book).worksheets:
            head, rows = _sheet(ws)
            for r in rows:
                assert not any(isinstance(v, bool) for v in r), (book.name, ws.title, r)
            for h in set(head) & bool_cols:
                vals = set(_col(head, rows, h))
                assert vals and vals <= {YES, NO}, (book.name, ws.title, h, vals)
                seen += 1
    assert seen >= 5  # has_puhui (before/after, 街道指标 ×2), is_new, meets_standard …
    params = {r[0].value: r[1].value for r in load_workbook(books[0])["方案参数"].iter_rows(min_row=2)}
    assert params["一街道一普惠"] in (YES, NO)


def test_scorecard_bundle(a, tmp_path):
    paths = scorecard.write_scorecard(tmp_path / "out", a)
    assert {p.name for p in paths.values()} == set(scorecard.SCORECARD_FILES.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(scorecard.SCORECARD_FILES.values())
    csv = pd.read_csv(paths["street_csv"], encoding="utf-8-sig")
    assert list(csv.columns) == [c for c in a.streets.columns if c != "geometry"] and len(csv) == len(a.streets)
    assert len(pd.read_csv(paths["community_csv"], encoding="utf-8-sig")) == len(a.communities)
    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["街道指标", "小区指标", "说明"]
    head, rows = _sheet(wb["街道指标"])
    total = dict(zip(head, rows[-1], strict=True))
    assert len(rows) == len(a.streets) + 1 and total[label("name")] == "合计"
    for c in ("population", "places", "place_gap", "places_per_1000", "puhui_share"):
        assert total[label(c)] == pytest.approx(float(a.total[c])), c
    assert total[label("places")] == sum(_col(head, rows[:-1], label("places")))
    assert wb["街道指标"]["A1"].comment is not None and "街道/乡镇编号" in wb["街道指标"]["A1"].comment.text
    notes = {r[1].value: r[3].value for r in wb["说明"].iter_rows(min_row=2)}
    assert any(a.policy.name == r[2].value for r in wb["说明"].iter_rows(min_row=2))
    assert notes[f"{label('place_gap')}（place_gap）"].startswith("max(0, ceil(")


def test_write_scorecard_file_formats(a, tmp_path):
    for suffix in (".xlsx", ".csv", ".gpkg", ".geojson"):
        assert scorecard.write_scorecard_file(a.streets, tmp_path / f"sc{suffix}", communities=a.communities) \
            .stat().st_size > 0
    assert load_workbook(tmp_path / "sc.xlsx").sheetnames == ["街道指标", "小区指标"]
    assert dict(pyogrio.list_layers(tmp_path / "sc.gpkg")) == {"街道指标": "Polygon", "小区指标": "Point"}
    gj = json.loads((tmp_path / "sc.geojson").read_text(encoding="utf-8"))
    assert len(gj["features"]) == len(a.streets) and "street_id" in gj["features"][0]["properties"]
    with pytest.raises(ValueError, match="suffix"):
        scorecard.write_scorecard_file(a.streets, tmp_path / "sc.shp")


def test_formats_subset_and_errors(a, tmp_path):
    paths = export.export_plan(a, tmp_path / "o", formats=("csv",))
    assert set(paths) == {"csv", "manifest"}
    with pytest.raises(ValueError, match="unknown export formats"):
        export.export_plan(a, tmp_path / "o2", formats=("dxf",))
    with pytest.raises(ValueError, match="unknown gpkg_crs"):
        export.export_plan(a, tmp_path / "o2", gpkg_crs="gk6")
    with pytest.raises(ValueError, match="no site plan"):
        export.export_plan(assess(a.area, a.policy, with_isochrones=False), tmp_path / "o3")
    with pytest.raises(TypeError, match="takes an Assessment, got SitePlan"):
        export.export_plan(a.plan, tmp_path / "o5")  # the pre-refactor call
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    bare = export.export_plan(dataclasses.replace(a, isochrones=None), tmp_path / "o4", formats=("gpkg",))
    assert "服务范围" not in dict(pyogrio.list_layers(bare["gpkg"]))


def test_unwritable_out_dir(a, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not-a-folder") as ei:
        export.export_plan(a, blocker / "out")
    assert "fix:" in str(ei.value)
    with pytest.raises(OutputError, match="not a folder"):
        export.export_plan(a, blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_gdal_failure_midway_leaves_the_folder_as_it_was(a, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    (out / "keep.txt").write_text("mine")

    def fail(*args, **kw):
        raise pyogrio.errors.DataSourceError("Failed to commit transaction")

    monkeypatch.setattr(pyogrio, "write_dataframe", fail)
    with pytest.raises(OutputError, match="Failed to commit transaction"):
        export.export_plan(a, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]
    assert (out / "manifest.json").read_text() == "old"
    with pytest.raises(OutputError):
        export.export_plan(a, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the folder it would create is gone


def test_failure_while_moving_restores_old_files(a, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("old")
    (out / "keep.txt").write_text("mine")
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError("device full")
        return real(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky)
    with pytest.raises(OutputError, match="device full"):
        export.export_plan(a, out)
    monkeypatch.setattr(writer.os, "replace", real)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]
    assert (out / "manifest.json").read_text() == "old"


# ------------------------------------------------------------------------------------ CLI, end to end

def test_cli_demo_end_to_end(tmp_path, capsys):
    from tuoyu_geo import cli
    from tuoyu_geo.report import maps

    out, mp = tmp_path / "outputs", tmp_path / "maps" / "shanghai-xuhui_coverage.html"
    rc = cli.main(["demo", "--out", str(out), "--map", str(mp), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "上海市徐汇区" in text and "wall time" in text and str(mp) in text
    assert {p.name for p in out.iterdir()} == {export.FILE_NAMES[k] for k in export.DEFAULT_FORMATS} | {
        export.FILE_NAMES["manifest"], "street_place_gap.png"}
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["policy"]["name"] == "wuxi-2025" and man["plan"]["status"] in ("optimal", "time_limit")
    assert all(v["sha256"] for v in man["inputs"].values())
    n_sites = man["summary"]["sites"]
    assert n_sites > 0 and pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="推荐站点")["features"] == n_sites
    assert pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="小区覆盖")["features"] == 1709
    assert pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="街道指标")["features"] == 13
    html_text = mp.read_text(encoding="utf-8")
    assert "推荐新建普惠站点" in html_text and maps.remote_references(html_text) == []  # offline by default
    if CHROMIUM is not None:  # the render itself is checked only where a browser is installed
        dom, log = run_chromium(mp.as_uri(), tmp_path)
        assert "Uncaught" not in log, log[-2000:]
        assert dom.count('class="leaflet-marker-icon tuoyu-star') == n_sites


def test_cli_map_and_export_on_a_folder(tmp_path, capsys):
    from tuoyu_geo import cli, datasets
    from tuoyu_geo.report import maps

    folder = str(datasets.bundled_path())
    mp = tmp_path / "m.html"
    assert cli.main(["map", folder, "--out", str(mp), "--tiles", "amap", "--no-plan", "--no-progress"]) == 0
    text = mp.read_text(encoding="utf-8")
    assert "autonavi.com" in text and "推荐新建普惠站点" not in text.split("<body>")[1].split("<script>")[0]
    rc = cli.main(["export", folder, "--out", str(tmp_path / "exp"), "--budget", "500", "--no-progress",
                   "--map", str(tmp_path / "o.html"), "--gpkg-crs", "gk3", "--shapefile"])
    assert rc == 0
    assert maps.remote_references((tmp_path / "o.html").read_text(encoding="utf-8")) == []
    man = json.loads((tmp_path / "exp" / "manifest.json").read_text(encoding="utf-8"))
    assert man["plan"]["options"]["budget_wan"] == 500 and man["summary"]["cost_wan_yuan"] <= 500 + 1e-6
    # 徐汇区 lies at about 121.44°E: zone 40, CM 120°E → the GeoPackage and Shapefiles in EPSG:4528
    assert man["crs"]["gauss_kruger"]["epsg"] == 4528 and man["crs"]["gis_layers"].startswith("EPSG:4528")
    assert pyogrio.read_info(tmp_path / "exp" / "tuoyu_plan.gpkg", layer="街道指标")["crs"] == "EPSG:4528"
    assert gpd.read_file(tmp_path / "exp" / "tuoyu_plan.shp.zip", layer="streets").crs.to_epsg() == 4528
    with pytest.raises(SystemExit):
        cli.main(["export", folder, "--out", str(tmp_path / "x"), "--gk-zone", "46"])
    assert "invalid choice: 46" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["export", folder, "--out", str(blocker / "exp"), "--no-progress"]) == OutputError.exit_code
    assert "fix:" in capsys.readouterr().err


# ------------------------------------------------------------------- CGCS2000, Gauss-Krüger, QGIS hand-off

ASCII_FIELD = re.compile(r"[a-z_][a-z0-9_]*")
LAYERS = ("推荐站点", "街道指标", "小区覆盖", "服务范围")


def _english(a, layer: str) -> list[str]:
    """The English columns of each exported layer, as the export functions make them."""
    gdf = {"推荐站点": export.site_table, "街道指标": export.street_comparison, "小区覆盖": export.community_coverage,
           "服务范围": export.isochrone_layer}[layer](a)
    return [c for c in gdf.columns if c != gdf.geometry.name]


def _gdal_fields(path, layer: str) -> dict[str, tuple[str, str]]:
    """{field: (alternative name, comment)} as GDAL itself reads them (the libgdal pyogrio ships;
    QGIS reads field aliases through the same OGR calls)."""
    libs = glob.glob(os.path.join(os.path.dirname(pyogrio.__file__) + ".libs", "libgdal*"))
    name = libs[0] if libs else ctypes.util.find_library("gdal")
    assert name, "cannot find the libgdal pyogrio uses"
    lib = ctypes.CDLL(name)
    p = ctypes.c_void_p
    for fn, res, args in (("GDALOpenEx", p, [ctypes.c_char_p, ctypes.c_uint, p, p, p]),
                          ("GDALDatasetGetLayerByName", p, [p, ctypes.c_char_p]), ("OGR_L_GetLayerDefn", p, [p]),
                          ("OGR_FD_GetFieldCount", ctypes.c_int, [p]),
                          ("OGR_FD_GetFieldDefn", p, [p, ctypes.c_int]), ("GDALClose", None, [p]),
                          ("OGR_Fld_GetNameRef", ctypes.c_char_p, [p]),
                          ("OGR_Fld_GetAlternativeNameRef", ctypes.c_char_p, [p]),
                          ("OGR_Fld_GetComment", ctypes.c_char_p, [p])):
        getattr(lib, fn).restype, getattr(lib, fn).argtypes = res, args
    ds = lib.GDALOpenEx(str(path).encode(), 0x04, None, None, None)  # GDAL_OF_VECTOR
    assert ds, path
    try:
        defn = lib.OGR_L_GetLayerDefn(lib.GDALDatasetGetLayerByName(ds, layer.encode()))
        out = {}
        for i in range(lib.OGR_FD_GetFieldCount(defn)):
            f = lib.OGR_FD_GetFieldDefn(defn, i)
            out[lib.OGR_Fld_GetNameRef(f).decode()] = tuple(
                (v or b"").decode() for v in (lib.OGR_Fld_GetAlternativeNameRef(f), lib.OGR_Fld_GetComment(f)))
        return out
    finally:
        lib.GDALClose(ds)


def test_gpkg_ascii_field_names_with_chinese_aliases(exported, a):
    """Every field is ASCII, unique and the English column name; gpkg_data_columns gives its Chinese
    header (the same label() as the XLSX/CSV) as name/title and its definition as description; the
    schema extension is registered; GDAL reads them as alternative names and comments."""
    path = exported[1]["gpkg"]
    with closing(sqlite3.connect(path)) as con:
        ext = con.execute("SELECT table_name, column_name, scope FROM gpkg_extensions "
                          "WHERE extension_name = 'gpkg_schema'").fetchall()
        rows = con.execute("SELECT table_name, column_name, name, title, description FROM gpkg_data_columns").fetchall()
    assert sorted(ext) == [("gpkg_data_column_constraints", None, "read-write"),
                           ("gpkg_data_columns", None, "read-write")]
    for layer in LAYERS:
        fields = list(pyogrio.read_info(path, layer=layer)["fields"])
        assert fields == _english(a, layer) and all(ASCII_FIELD.fullmatch(f) for f in fields), layer
        assert len({f.lower() for f in fields}) == len(fields)
        dc = {r[1]: r[2:] for r in rows if r[0] == layer}
        sheet = "community" if layer == "小区覆盖" else "street"
        assert dc == {f: (label(f), label(f), definition(f, sheet) or None) for f in fields}, layer
        assert all(label(f) != f for f in fields)  # every field has a Chinese alias
        gdal = _gdal_fields(path, layer)
        assert gdal == {f: (label(f), definition(f, sheet)) for f in fields}, layer
    assert _gdal_fields(path, "街道指标")["street_id"][0] == "街道编号"
    assert "EPSG:4528" in _gdal_fields(path, "推荐站点")["east_gk4528"][0]


def _qml(text: str) -> ET.Element:
    root = ET.fromstring(text.split("\n", 1)[1] if text.startswith("<!DOCTYPE") else text)
    assert root.tag == "qgis"
    return root


def test_gpkg_default_qgis_style_per_layer(exported, a):
    """layer_styles has QGIS's columns and one default row per layer (schema '', the geometry column
    of the layer, useAsDefault = 1), registered as an attributes table so GDAL/QGIS open it; the
    QML parses, names only fields of its layer, and carries the Chinese aliases."""
    path = exported[1]["gpkg"]
    with closing(sqlite3.connect(path)) as con:
        cols = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
        rows = con.execute("SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, "
                           "styleQML, useAsDefault, update_time FROM layer_styles").fetchall()
        geom = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        contents = con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchall()
    assert cols == ["id", "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
                    "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time"]
    assert contents == [("attributes",)] and sorted(r[2] for r in rows) == sorted(LAYERS)
    styles = pyogrio.read_dataframe(path, layer="layer_styles")  # through GDAL, as QGIS reads it
    assert styles["useAsDefault"].tolist() == [True] * 4
    for cat, schema, layer, gcol, name, text, default, when in rows:
        assert (cat, schema, gcol, name, default) == ("", "", geom[layer], "tuoyu_geo", 1), layer
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", when)
        root = _qml(text)
        fields = set(pyogrio.read_info(path, layer=layer)["fields"])
        aliases = {e.get("field"): e.get("name") for e in root.iter("alias")}
        assert aliases == {f: label(f) for f in fields}, layer
        named = {e.get("attr") for e in root.iter("renderer-v2") if e.get("attr")}
        named |= {e.get("fieldName") for e in root.iter("text-style")}
        assert named <= fields, (layer, named)
        assert root.find("layerGeometryType").text == ("0" if pyogrio.read_info(path, layer=layer)["geometry_type"]
                                                       == "Point" else "2")
    by = {r[2]: _qml(r[5]) for r in rows}
    streets = by["街道指标"].find("renderer-v2")
    assert streets.get("type") == "categorizedSymbol" and streets.get("attr") == "status_after"
    values = {c.get("value") for c in streets.iter("category")}
    assert values == {MET, NOT_MET} and set(a.streets_after["status"]) <= values
    assert len(streets.find("symbols")) == 2 and by["街道指标"].find(".//text-style").get("fieldName") == "name"
    assert by["推荐站点"].find("renderer-v2").get("type") == "singleSymbol"
    assert {c.get("value") for c in by["服务范围"].iter("category")} == {"现有普惠机构", "推荐站点"}


def test_site_tables_carry_cgcs2000_and_gauss_kruger(exported, a):
    """The fixture's 街道 span 121.4368–121.4504°E: centroid ≈ 121.444, / 3 = 40.48 → zone 40, CM 120°E,
    EPSG:4528 (zone prefix).  CSV (= XLSX = GPKG headers): CGCS2000 lon/lat equal WGS-84 (1e-7°);
    easting/northing equal the Snyder series of test_crs (independent of PROJ) within 1 cm."""
    east, north = label("east_gk4528"), label("north_gk4528")
    assert "EPSG:4528" in east and "第40带" in east and "中央经线120°E" in east and "含带号" in east
    assert east.startswith("东坐标Y") and north.startswith("北坐标X") and "EPSG:4528" in north
    df = pd.read_csv(exported[1]["csv"], encoding="utf-8-sig").set_index(label("site_id"))
    head = list(df.columns)
    assert head.index(east) == head.index(label("lat_cgcs2000")) + 1 and head.index(north) == head.index(east) + 1
    truth = a.plan.sites.geometry.reindex(df.index)
    lon, lat = truth.x.to_numpy(), truth.y.to_numpy()
    assert df[label("lon_cgcs2000")].to_numpy() == pytest.approx(lon, abs=1e-7)
    assert df[label("lat_cgcs2000")].to_numpy() == pytest.approx(lat, abs=1e-7)
    se, sn = _tm_snyder(lon, lat, 120.0, 40_500_000.0)
    assert df[east].to_numpy() == pytest.approx(se, abs=0.01) and df[north].to_numpy() == pytest.approx(sn, abs=0.01)
    assert ((df[east] > 40_600_000) & (df[east] < 40_700_000)).all()  # ≈ 1.44° × 95 km east of 120°E
    man = json.loads(exported[1]["manifest"].read_text(encoding="utf-8"))
    gk = man["crs"]["gauss_kruger"]
    assert (gk["epsg"], gk["zone"], gk["central_meridian_deg"], gk["zone_prefix"], gk["false_easting_m"]) == \
        (4528, 40, 120, True, 40_500_000)
    assert gk["name"] == "CGCS2000 / 3-degree Gauss-Kruger zone 40" and "121.44" in gk["chosen_from"]
    assert gk["columns"] == {"east_gk4528": east, "north_gk4528": north}
    assert man["crs"]["cgcs2000"]["epsg"] == 4490 and "厘米" in man["crs"]["cgcs2000"]["note"]
    assert "Ballpark" in man["crs"]["cgcs2000"]["transform"] and man["crs"]["gis_layers"].startswith("EPSG:4326")
    params = {r[0].value: r[1].value for r in load_workbook(exported[1]["xlsx"])["方案参数"].iter_rows(min_row=2)}
    assert "EPSG:4528" in params["高斯-克吕格投影 Gauss-Krüger"] and "第40带" in params["高斯-克吕格投影 Gauss-Krüger"]
    assert params["坐标系 CGCS2000"].startswith("EPSG:4490")


def test_gpkg_in_the_zone_crs_or_cgcs2000(a, tmp_path):
    """gpkg_crs="gk3": the layers are in EPSG:4528 and a site's geometry is its GK columns (1 mm);
    without the zone prefix EPSG:4549 and the easting is 40 000 000 m less; gk_zone=41 is EPSG:4529;
    "cgcs2000": EPSG:4490 with the WGS-84 numbers."""
    def sites(**kw):
        p = export.export_plan(a, tmp_path / str(len(list(tmp_path.iterdir()))), formats=("gpkg",), **kw)["gpkg"]
        info = {lay: pyogrio.read_info(p, layer=lay)["crs"] for lay in LAYERS}
        return info, pyogrio.read_dataframe(p, layer="推荐站点").set_index("site_id").sort_index()

    crs_, g = sites(gpkg_crs="gk3")
    assert set(crs_.values()) == {"EPSG:4528"}
    assert g.geometry.x.to_numpy() == pytest.approx(g["east_gk4528"].to_numpy(), abs=1e-3)
    assert g.geometry.y.to_numpy() == pytest.approx(g["north_gk4528"].to_numpy(), abs=1e-3)
    crs_, g2 = sites(gpkg_crs="gk3", gk_zone_prefix=False)
    assert set(crs_.values()) == {"EPSG:4549"} and "east_gk4528" not in g2.columns
    assert g2["east_gk4549"].to_numpy() == pytest.approx(g["east_gk4528"].to_numpy() - 40_000_000, abs=1e-3)
    assert g2.geometry.x.to_numpy() == pytest.approx(g2["east_gk4549"].to_numpy(), abs=1e-3)
    crs_, g3 = sites(gpkg_crs="gk3", gk_zone=41)
    assert set(crs_.values()) == {"EPSG:4529"} and (g3["east_gk4529"] < 41_500_000).all()
    crs_, g4 = sites(gpkg_crs="cgcs2000")
    assert set(crs_.values()) == {"EPSG:4490"}
    assert g4.geometry.x.to_numpy() == pytest.approx(g4["lon_wgs84"].to_numpy(), abs=1e-7)


def _blank_text(gdf) -> pd.DataFrame:
    """Attributes with missing text as "": a DBF stores an empty and a missing text alike (blanks)."""
    df = pd.DataFrame(gdf.drop(columns="geometry"))
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype(object).where(df[c].notna(), "")
    return df


def test_shapefile_zip_round_trip(a, tmp_path):
    """tuoyu_plan.shp.zip: four Shapefiles with ASCII field names of ≤ 10 bytes, unique per layer,
    a UTF-8 .cpg, a .qml style each and field_names.csv; read back with geopandas and renamed by
    the mapping they equal the GeoPackage layers (values and geometry; an empty text reads back as
    missing, which a DBF cannot tell apart)."""
    paths = export.export_plan(a, tmp_path / "o", formats=("gpkg", "shp"), gpkg_crs="gk3")
    z = paths["shp"]
    assert z.name == "tuoyu_plan.shp.zip"
    layers = dict(zip(("sites", "streets", "communities", "service_areas"), LAYERS, strict=True))
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        assert names == {f"{lay}.{ext}" for lay in layers for ext in ("shp", "shx", "dbf", "prj", "cpg", "qml")} | {
            "field_names.csv"}
        assert {zf.read(f"{lay}.cpg").decode().strip() for lay in layers} == {"UTF-8"}
        mapping = pd.read_csv(io.BytesIO(zf.read("field_names.csv")), encoding="utf-8-sig", dtype=str)
        qmls = {lay: _qml(zf.read(f"{lay}.qml").decode("utf-8")) for lay in layers}
    man = json.loads(paths["manifest"].read_text(encoding="utf-8"))["columns"]["shapefile"]
    assert man["streets"]["fields"]["places_per_1000_after"] == "pl_k_a" and man["streets"]["fields"]["status_after"] == "st_a"
    for lay, gp_layer in layers.items():
        shp = gpd.read_file(z, layer=lay)
        assert shp.crs.to_epsg() == 4528
        fields = [c for c in shp.columns if c != "geometry"]
        assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", f) and len(f.encode()) <= 10 for f in fields), fields
        assert len({f.lower() for f in fields}) == len(fields)
        m = mapping[mapping["layer"] == lay]
        assert list(m["shp_field"]) == fields and list(m["column"]) == _english(a, gp_layer)
        assert list(m["label_zh"]) == [label(c) for c in m["column"]] and set(m["values_cut_to_254_bytes"]) == {"0"}
        back = shp.rename(columns=dict(zip(m["shp_field"], m["column"], strict=True)))
        ref = pyogrio.read_dataframe(paths["gpkg"], layer=gp_layer)
        pd.testing.assert_frame_equal(_blank_text(back), _blank_text(ref), check_dtype=False, check_exact=False,
                                      rtol=1e-12)
        assert back.geometry.normalize().geom_equals_exact(ref.geometry.normalize(), tolerance=1e-6).all()  # rings re-oriented
        aliases = {e.get("field"): e.get("name") for e in qmls[lay].iter("alias")}
        assert aliases == dict(zip(m["shp_field"], m["label_zh"], strict=True))
    assert qmls["streets"].find("renderer-v2").get("attr") == "st_a"


def test_shapefile_names_and_text_cut_by_hand(tmp_path):
    """Names: ≤ 10 characters are kept; longer ones are abbreviated word by word (places_per_1000_after →
    pl + k + a; long_comment → longcomment without "_" → its first 10, longcommen), and two 12-letter
    names cut to the same 10 get a numeric tail (abcdefghij, abcdefghi1).
    Text: 100 × "托育" is 600 UTF-8 bytes; a DBF field holds 254, i.e. 84 whole characters (252 bytes)."""
    assert gpkg.shapefile_names(["street_id", "places_per_1000_after", "abcdefghijkl", "abcdefghijkm",
                                 "long_comment"]) == {
        "street_id": "street_id", "places_per_1000_after": "pl_k_a", "abcdefghijkl": "abcdefghij",
        "abcdefghijkm": "abcdefghi1", "long_comment": "longcommen"}
    assert gpkg.ascii_names(["cover7.5_any", "7day", "fid"]) == {"cover7.5_any": "cover7_5_any", "7day": "f_7day",
                                                                 "fid": "fid1"}
    long_text = "托育" * 100
    g = gpd.GeoDataFrame({"long_comment": [long_text, "短"], "n": [1, 2]},
                         geometry=gpd.points_from_xy([121.4, 121.5], [31.2, 31.3]), crs="EPSG:4326")
    path = tmp_path / "t.shp.zip"
    info = gpkg.write_shapefile_zip({"t": (g, None)}, path, aliases={"long_comment": "长备注"})
    assert info == {"t": {"fields": {"long_comment": "longcommen", "n": "n"}, "truncated": {"long_comment": 1}}}
    back = gpd.read_file(path, layer="t")
    assert back["longcommen"].tolist() == ["托育" * 42, "短"] and back["n"].tolist() == [1, 2]
    with zipfile.ZipFile(path) as zf:
        rows = zf.read("field_names.csv").decode("utf-8-sig").splitlines()
    assert rows[1] == "t,longcommen,long_comment,长备注,1"


def test_area_outside_the_gauss_kruger_zones(a, tmp_path, monkeypatch, caplog):
    """An area outside 73.5–136.5°E has no zone: the exports are written without Gauss-Krüger columns
    (logged; manifest null), and gpkg_crs="gk3" without gk_zone is a ValueError naming the fix."""
    def no_zone(area, *, zone=None, zone_prefix=True):
        if zone is None:
            tcrs.gk3_zone(2.35)  # Paris: zone 1, no CGCS2000 code → ValueError
        return real(area, zone=zone, zone_prefix=zone_prefix)

    real = export.gauss_kruger
    monkeypatch.setattr(export, "gauss_kruger", no_zone)
    paths = export.export_plan(a, tmp_path / "o", formats=("csv", "xlsx"))
    head = list(pd.read_csv(paths["csv"], encoding="utf-8-sig", nrows=0).columns)
    assert label("lon_cgcs2000") in head and not [h for h in head if "EPSG:45" in h]
    assert json.loads(paths["manifest"].read_text(encoding="utf-8"))["crs"]["gauss_kruger"] is None
    assert "no Gauss-Krüger columns" in caplog.text
    with pytest.raises(ValueError, match="pass gk_zone="):
        export.export_plan(a, tmp_path / "o2", gpkg_crs="gk3")
    given = export.export_plan(a, tmp_path / "o3", formats=("csv",), gk_zone=40)
    assert label("east_gk4528") in pd.read_csv(given["csv"], encoding="utf-8-sig", nrows=0).columns
