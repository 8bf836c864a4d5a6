"""report.export and report.scorecard on a real assessment: GeoPackage layers/CRS/rows, the GCJ-02
columns, the 合计 row, XLSX yes/no rule, one label per column across formats, the manifest,
all-or-nothing writes (incl. GDAL failures), and the CLI end to end.

The fixture is a real :func:`tuoyu_geo.pipeline.assess` run with a plan on the synthetic walk-grid
area of ``tests/synth.py`` (see ``tests/test_maps.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os

import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pytest
from openpyxl import load_workbook
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
from tuoyu_geo.report import export, scorecard
from tuoyu_geo.report.labels import NO, YES, label


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


def _metres(lon1, lat1, lon2, lat2):
    k = math.pi / 180
    dx = (lon2 - lon1) * k * 6371000 * np.cos(lat1 * k)
    return np.hypot(dx, (lat2 - lat1) * k * 6371000)


def test_files_written_and_nothing_else(exported):
    out, paths = exported
    assert set(paths) == {"gpkg", "xlsx", "csv", "geojson", "manifest"}
    assert sorted(p.name for p in out.iterdir()) == sorted(export.FILE_NAMES.values())
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
                                               "服务范围": "Polygon"}
    rows = {"推荐站点": len(a.plan.sites), "街道指标": len(a.streets), "小区覆盖": len(a.area.communities),
            "服务范围": len(a.isochrones)}
    for name, n in rows.items():
        info = pyogrio.read_info(gpkg, layer=name)
        assert info["crs"] == "EPSG:4326" and info["features"] == n > 0, name
    sites = pyogrio.read_dataframe(gpkg, layer="推荐站点").set_index(label("site_id"))
    assert sites.loc[EVIL_SITE, label("name")] == EVIL and sites.loc[FORMULA_SITE, label("name")] == FORMULA  # raw
    comm = pyogrio.read_dataframe(gpkg, layer="小区覆盖").set_index(label("community_id"))
    before = a.access.communities[f"within{MK}_puhui"].reindex(comm.index)
    after = a.access_after.communities[f"within{MK}_puhui"].reindex(comm.index)
    assert comm[f"{MK}分钟内有普惠机构（方案前）"].tolist() == before.tolist()
    assert comm[f"{MK}分钟内有普惠机构（方案后）"].tolist() == after.tolist()
    assert comm[label("newly_covered")].tolist() == (after & ~before).tolist() and (after & ~before).any()
    iso = pyogrio.read_dataframe(gpkg, layer="服务范围")
    assert set(iso[label("kind")]) == {"现有普惠机构", "推荐站点"}


def test_coordinate_columns_are_the_right_datum(exported, a):
    """Mutation test: GCJ-02 values labelled WGS-84 (or the reverse) fail here."""
    truth = a.plan.sites.geometry
    df = pd.read_csv(exported[1]["csv"], encoding="utf-8-sig").set_index(label("site_id"))
    g = pyogrio.read_dataframe(exported[1]["gpkg"], layer="推荐站点").set_index(label("site_id"))
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
    assert set(outs) == {n for k, n in export.FILE_NAMES.items() if k != "manifest"}
    for name, o in outs.items():
        assert o["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert man["summary"]["sites"] == len(a.plan.sites)


def test_one_label_per_column_across_formats(exported, a, tmp_path):
    cols = [c for c in export.site_table(a).columns if c != "geometry"]
    want = [label(c) for c in cols]
    assert all(w != c for w, c in zip(want, cols, strict=True)), "a site column has no Chinese label"
    gpkg = [f for f in pyogrio.read_info(exported[1]["gpkg"], layer="推荐站点")["fields"]]
    xlsx = _sheet(load_workbook(exported[1]["xlsx"])["推荐站点"])[0]
    csv = list(pd.read_csv(exported[1]["csv"], encoding="utf-8-sig", nrows=0).columns)
    assert list(gpkg) == xlsx == csv == want
    # the 街道 before/after table: GPKG layer and XLSX sheet have the same headers
    comp = list(pyogrio.read_info(exported[1]["gpkg"], layer="街道指标")["fields"])
    assert comp == _sheet(load_workbook(exported[1]["xlsx"])["街道前后对比"])[0]
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
        export.export_plan(a, tmp_path / "o2", formats=("shp",))
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
    assert {p.name for p in out.iterdir()} == set(export.FILE_NAMES.values()) | {"street_place_gap.png"}
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
                   "--map", str(tmp_path / "o.html")])
    assert rc == 0
    assert maps.remote_references((tmp_path / "o.html").read_text(encoding="utf-8")) == []
    man = json.loads((tmp_path / "exp" / "manifest.json").read_text(encoding="utf-8"))
    assert man["plan"]["options"]["budget_wan"] == 500 and man["summary"]["cost_wan_yuan"] <= 500 + 1e-6
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["export", folder, "--out", str(blocker / "exp"), "--no-progress"]) == OutputError.exit_code
    assert "fix:" in capsys.readouterr().err
