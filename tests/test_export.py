"""Exports for land-use review: GeoPackage layers/CRS/rows, XLSX sheets/headers/values, CSV, GeoJSON,
manifest, and atomicity (nothing partial is ever left behind)."""

from __future__ import annotations

import hashlib
import json
import os

import _map_standins as S  # noqa: E402
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook

import tuoyu_geo as tg
from tuoyu_geo import export


@pytest.fixture(autouse=True)
def _fake_isochrones(monkeypatch):
    monkeypatch.setattr(tg.access, "isochrones", S.fake_isochrones, raising=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    f = d / "streets.geojson"
    f.write_bytes(b'{"type": "FeatureCollection", "features": []}')
    return {"streets": str(f), "missing": str(d / "gone.csv")}


@pytest.fixture(scope="module")
def built(inputs):
    return S.build(files=inputs)


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory, ):
    out = tmp_path_factory.mktemp("exp") / "plan out"
    mp = pytest.MonkeyPatch()
    mp.setattr(tg.access, "isochrones", S.fake_isochrones, raising=False)
    try:
        paths = export.export_plan(built[3], out, timings={"access_s": 1.5})
    finally:
        mp.undo()
    return out, paths


def test_files_written(exported):
    out, paths = exported
    assert set(paths) == {"gpkg", "xlsx", "csv", "geojson", "manifest"}
    assert sorted(p.name for p in out.iterdir()) == sorted(export.FILE_NAMES.values())
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # temp folder removed


def test_geopackage_layers_crs_rows(exported, built):
    area, acc, sc, plan = built
    gpkg = exported[1]["gpkg"]
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers == {"推荐站点": "Point", "街道指标": "Polygon", "小区覆盖": "Point", "服务范围": "Polygon"}
    rows = {"推荐站点": 2, "街道指标": 2, "小区覆盖": 6, "服务范围": 2 + 2}  # 2 普惠 institutions + 2 sites
    for name, n in rows.items():
        info = pyogrio.read_info(gpkg, layer=name)
        assert info["crs"] == "EPSG:4326" and info["features"] == n, name
    st = pyogrio.read_dataframe(gpkg, layer="街道指标")
    assert {"托位数（方案前）", "托位数（方案后）", "新增托位数"} <= set(st.columns)
    assert st["新增托位数"].tolist() == [0, 55]
    sites = pyogrio.read_dataframe(gpkg, layer="推荐站点")
    assert sites["推荐理由（满足的规则）"][0] == "一街道一普惠：" + S.EVIL  # data stay raw (not HTML)
    comm = pyogrio.read_dataframe(gpkg, layer="小区覆盖")
    # independent: straight-line ≤ 1000 m to an existing 普惠 institution / to one or a chosen site
    a, b, c = area.points("communities"), area.points("institutions"), area.points("candidates")
    def near(p):
        return np.hypot(a.x.values[:, None] - p.x.values[None, :], a.y.values[:, None] - p.y.values[None, :]) <= 1000
    before = near(b[area.institutions["puhui"]]).any(1)
    after = before | near(c.loc[["K1", "K2"]]).any(1)
    assert comm["15分钟内有普惠机构（方案前）"].tolist() == before.tolist()
    assert comm["15分钟内有普惠机构（方案后）"].tolist() == after.tolist()
    assert comm["方案后新增普惠覆盖"].tolist() == (after & ~before).tolist()


def test_xlsx_sheets_headers_values(exported, built):
    plan = built[3]
    wb = load_workbook(exported[1]["xlsx"])
    assert wb.sheetnames == ["推荐站点", "街道前后对比", "方案参数"]
    ws = wb["推荐站点"]
    header = [c.value for c in ws[1]]
    need = ["站点编号", "名称", "站点类型", "所属街道", "托位数", "班级配置", "投资估算（万元）", "新增覆盖婴幼儿数",
            "推荐理由（满足的规则）", "经度（WGS-84）", "纬度（WGS-84）", "经度（GCJ-02）", "纬度（GCJ-02）", "建设年份"]
    assert header[:3] == need[:3] and set(need) <= set(header)
    assert ws.max_row == 1 + len(plan.sites)
    row = {h: c.value for h, c in zip(header, ws[2], strict=True)}
    for h in header:  # a value per column (first site has every field)
        assert row[h] not in (None, ""), h
    assert row["站点编号"] == "K1" and row["托位数"] == 35 and row["投资估算（万元）"] == 72.5
    assert row["班级配置"] == "托大班×1+托小班×1" and row["建设年份"] == 2025 and row["新增覆盖婴幼儿数"] == 36
    lon, lat = plan.sites.geometry.iloc[0].x, plan.sites.geometry.iloc[0].y
    glon, glat = tg.crs.wgs84_to_gcj02(lon, lat)
    assert row["经度（WGS-84）"] == pytest.approx(lon, abs=1e-7) and row["纬度（WGS-84）"] == pytest.approx(lat, abs=1e-7)
    assert row["经度（GCJ-02）"] == pytest.approx(float(glon), abs=1e-7)
    assert row["纬度（GCJ-02）"] == pytest.approx(float(glat), abs=1e-7)
    # a name that looks like a formula stays text
    cell = ws.cell(row=3, column=header.index("名称") + 1)
    assert cell.value == S.FORMULA and cell.data_type == "s"
    comp = wb["街道前后对比"]
    ch = [c.value for c in comp[1]]
    assert "托位缺口（方案前）" in ch and "托位缺口（方案后）" in ch
    if comp.max_row == 4:  # area total row from indicators.street_total
        total = {h: c.value for h, c in zip(ch, comp[4], strict=True)}
        assert total[ch[0]] == "合计" and total["新增托位数"] == 55 and total["常住人口"] == 30000
        assert total["托位数（方案前）"] == 100 and total["托位数（方案后）"] == 155
    else:
        assert comp.max_row == 3
    params = {r[0].value: r[1].value for r in wb["方案参数"].iter_rows(min_row=2)}
    assert params["求解状态 status"] == "optimal" and params["推荐站点数 sites"] == 2
    assert params["总投资（万元）total cost"] == pytest.approx(112.5)


def test_csv_geojson(exported):
    raw = exported[1]["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM so Excel/WPS read UTF-8
    df = pd.read_csv(exported[1]["csv"], encoding="utf-8-sig")
    assert list(df.columns[:3]) == ["站点编号", "名称", "站点类型"] and len(df) == 2
    assert df.loc[1, "名称"] == "'" + S.FORMULA  # CSV formula injection neutralised
    gj = json.loads(exported[1]["geojson"].read_text(encoding="utf-8"))
    assert len(gj["features"]) == 2
    p = gj["features"][0]["properties"]
    assert p["site_id"] == "K1" and p["places"] == 35 and p["name"] == S.EVIL
    assert gj["features"][0]["geometry"]["coordinates"] == pytest.approx([p["lon_wgs84"], p["lat_wgs84"]])


def test_manifest(exported, inputs, built):
    man = json.loads(exported[1]["manifest"].read_text(encoding="utf-8"))
    for k in ("tool_version", "inputs", "policy", "parameters", "solver", "status", "gap", "timings", "outputs"):
        assert k in man, k
    assert man["tool_version"] == tg.__version__ and man["solver"] == "highs" and man["status"] == "optimal"
    sha = hashlib.sha256(open(inputs["streets"], "rb").read()).hexdigest()
    assert man["inputs"]["streets"]["sha256"] == sha and man["inputs"]["missing"]["sha256"] is None
    assert man["policy"]["name"] == "wuxi-2025" and man["policy"]["places_per_1000"] == built[0].policy.places_per_1000
    assert man["timings"]["access_s"] == 1.5 and man["timings"]["solve_s"] == 0.12
    outs = {o["file"]: o for o in man["outputs"]}
    assert set(outs) == {"tuoyu_plan.gpkg", "tuoyu_plan.xlsx", "recommended_sites.csv", "recommended_sites.geojson"}
    for name, o in outs.items():
        assert o["sha256"] == hashlib.sha256((exported[0] / name).read_bytes()).hexdigest()


def test_formats_subset(built, tmp_path):
    paths = export.export_plan(built[3], tmp_path / "o", formats=("csv",))
    assert set(paths) == {"csv", "manifest"}
    with pytest.raises(ValueError, match="unknown export formats"):
        export.export_plan(built[3], tmp_path / "o2", formats=("shp",))


def test_unwritable_out_dir(built, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(tg.OutputError, match="not-a-folder") as ei:
        export.export_plan(built[3], blocker / "out")
    assert "fix:" in str(ei.value)
    with pytest.raises(tg.OutputError, match="not a folder"):
        export.export_plan(built[3], blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_failure_midway_leaves_nothing(built, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export, "_write_xlsx", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export.export_plan(built[3], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_moving_restores_old_files(built, tmp_path, monkeypatch):
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

    monkeypatch.setattr(export.os, "replace", flaky)
    with pytest.raises(tg.OutputError, match="device full"):
        export.export_plan(built[3], out)
    monkeypatch.setattr(export.os, "replace", real)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]
    assert (out / "manifest.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write(tmp_path):
    target = tmp_path / "a" / "t.txt"
    with export.atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("ok")
    assert target.read_text() == "ok"
    with pytest.raises(KeyError), export.atomic_write(target) as tmp:
        tmp.write_text("half")
        raise KeyError("x")
    assert target.read_text() == "ok" and [p.name for p in target.parent.iterdir()] == ["t.txt"]


def test_write_scorecard(built, tmp_path):
    sc = built[2]
    for suffix in (".xlsx", ".csv", ".gpkg", ".geojson"):
        p = export.write_scorecard_file(sc, tmp_path / f"sc{suffix}")
        assert p.stat().st_size > 0
    assert load_workbook(tmp_path / "sc.xlsx").sheetnames == ["街道指标"]
    assert dict(pyogrio.list_layers(tmp_path / "sc.gpkg")) == {"街道指标": "Polygon"}


# ------------------------------------------------------------------------------------ CLI, end to end



def test_cli_demo_end_to_end(tmp_path, capsys):
    from test_maps import CHROMIUM, run_chromium

    from tuoyu_geo import cli, maps

    out, mp = tmp_path / "outputs", tmp_path / "maps" / "shanghai-xuhui_coverage.html"
    rc = cli.main(["demo", "--out", str(out), "--map", str(mp), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "上海市徐汇区" in text and "wall time" in text and str(mp) in text
    assert {p.name for p in out.iterdir()} == set(export.FILE_NAMES.values()) | {"street_place_gap.png"}
    html_text = mp.read_text(encoding="utf-8")
    assert maps.remote_references(html_text) == []
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["policy"]["name"] == "wuxi-2025" and man["status"] in ("optimal", "time_limit")
    assert all(v["sha256"] for v in man["inputs"].values())
    n_sites = man["summary"]["sites"]
    assert n_sites > 0 and pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="推荐站点")["features"] == n_sites
    assert pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="小区覆盖")["features"] == 1709
    assert pyogrio.read_info(out / "tuoyu_plan.gpkg", layer="街道指标")["features"] == 13
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed: demo map not rendered")
    dom, log = run_chromium(mp.as_uri(), tmp_path)
    assert "Uncaught" not in log, log[-2000:]
    assert dom.count("leaflet-interactive") > 1709 and "leaflet-control-layers" in dom
    assert dom.count('class="leaflet-marker-icon tuoyu-star') == n_sites


def test_cli_map_and_export_on_a_folder(tmp_path, capsys):
    from tuoyu_geo import cli, datasets, maps

    folder = str(datasets.bundled_path())
    mp = tmp_path / "m.html"
    assert cli.main(["map", folder, "--out", str(mp), "--tiles", "amap", "--no-plan", "--no-progress"]) == 0
    text = mp.read_text(encoding="utf-8")
    assert "autonavi.com" in text and "推荐新建普惠站点" not in text.split("<body>")[1].split("<script>")[0]
    assert cli.main(["map", folder, "--out", str(tmp_path / "o.html"), "--offline", "--no-progress",
                     "--budget", "500"]) == 0
    assert maps.remote_references((tmp_path / "o.html").read_text(encoding="utf-8")) == []
    rc = cli.main(["export", folder, "--out", str(tmp_path / "exp"), "--budget", "500", "--no-progress"])
    assert rc == 0
    man = json.loads((tmp_path / "exp" / "manifest.json").read_text(encoding="utf-8"))
    assert man["parameters"]["budget"] == 500 and man["summary"]["cost_wan_yuan"] <= 500 + 1e-6
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["export", folder, "--out", str(blocker / "exp"), "--no-progress"]) == tg.OutputError.exit_code
    assert "fix:" in capsys.readouterr().err
