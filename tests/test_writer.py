"""tuoyu_geo.writer: atomic writes (single and all-or-nothing), write errors as OutputError (incl.
GDAL errors that are not OSError), the format registry, and THE XLSX writer's rules."""

from __future__ import annotations

import errno
import json
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pytest
from openpyxl import load_workbook
from shapely.geometry import Point

from tuoyu_geo import OutputError, writer
from tuoyu_geo.writer import atomic_paths, atomic_write, display_width, write_table, write_xlsx


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _gdf():
    return gpd.GeoDataFrame({"site_id": ["K1", "K2"], "places": [20, 35], "ok": [True, False]},
                            geometry=[Point(121.4, 31.2), Point(121.41, 31.21)], crs="EPSG:4326")


# ------------------------------------------------------------------------------------ atomicity

def test_atomic_write_replaces_on_success(tmp_path):
    target = tmp_path / "new" / "sub" / "t.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and not tmp.exists()
        tmp.write_text("ok")
    assert target.read_text() == "ok" and _names(target.parent) == ["t.txt"]


def test_failure_inside_block_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old")
    with pytest.raises(KeyError), atomic_write(target) as tmp:  # a non-write error passes through as is
        tmp.write_text("half")
        raise KeyError("x")
    assert target.read_text() == "old" and _names(tmp_path) == ["t.csv"]


def test_oserror_inside_block_becomes_output_error(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old")
    with pytest.raises(OutputError, match="t.csv") as ei, atomic_write(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "fix:" in str(ei.value) and "No space left" in str(ei.value)
    assert target.read_text() == "old" and _names(tmp_path) == ["t.csv"]


def test_gdal_commit_failure_is_output_error_and_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "plan.gpkg"
    write_table(_gdf(), target, layer="sites")
    before = target.read_bytes()

    def fail(df, path, **kw):
        open(path, "wb").write(b"SQLite format 3\0 half a file")  # GDAL got as far as creating it
        raise pyogrio.errors.DataSourceError("Failed to commit transaction")

    monkeypatch.setattr(pyogrio, "write_dataframe", fail)
    assert not issubclass(pyogrio.errors.DataSourceError, OSError)  # why it must be caught explicitly
    with pytest.raises(OutputError, match="plan.gpkg") as ei:
        write_table(_gdf(), target, layer="sites")
    assert "Failed to commit transaction" in str(ei.value) and "fix:" in str(ei.value)
    assert target.read_bytes() == before and _names(tmp_path) == ["plan.gpkg"]


def test_gdal_layer_error_is_output_error(tmp_path, monkeypatch):
    def fail(df, path, **kw):
        raise pyogrio.errors.FieldError("could not create field")  # a DataLayerError subclass

    monkeypatch.setattr(pyogrio, "write_dataframe", fail)
    with pytest.raises(OutputError, match="could not create field"):
        write_table(_gdf(), tmp_path / "x.gpkg")
    assert _names(tmp_path) == []


def test_openpyxl_disk_full_is_output_error(tmp_path, monkeypatch):
    from openpyxl import Workbook

    def full(self, filename):
        open(filename, "wb").write(b"PK")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Workbook, "save", full)
    with pytest.raises(OutputError, match="x.xlsx"):
        write_xlsx(tmp_path / "x.xlsx", {"表": pd.DataFrame({"a": [1]})})
    assert _names(tmp_path) == []


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="afile") as ei:
        write_table(pd.DataFrame({"a": [1]}), blocker / "sub" / "t.csv")
    assert "fix:" in str(ei.value) and _names(tmp_path) == ["afile"]
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(OutputError, match="folder of that name"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "d.csv")


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"), atomic_write(tmp_path / "t.txt"):
        pass
    assert _names(tmp_path) == []


def test_atomic_paths_all_or_nothing_on_block_failure(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    out = tmp_path / "new-folder"
    with pytest.raises(RuntimeError), atomic_paths([tmp_path / "a.txt", out / "b.txt"]) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("new b")
        raise RuntimeError("boom")
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert _names(tmp_path) == ["a.txt"]  # the folder it created is gone too


def test_atomic_paths_restores_old_files_when_a_move_fails(tmp_path, monkeypatch):
    paths = [tmp_path / n for n in ("a.txt", "b.txt", "c.txt")]
    paths[0].write_text("old a")
    paths[2].write_text("old c")
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if str(src).endswith(".txt") and ".tmp-" in str(src) and str(dst).endswith("c.txt"):
            raise OSError(errno.EIO, "device error")
        return real(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky)
    with pytest.raises(OutputError, match="device error"), atomic_paths(paths) as temps:
        for t in temps:
            t.write_text("new")
    monkeypatch.setattr(writer.os, "replace", real)
    assert paths[0].read_text() == "old a" and not paths[1].exists() and paths[2].read_text() == "old c"
    assert _names(tmp_path) == ["a.txt", "c.txt"] and len(calls) >= 4


def test_atomic_paths_success_replaces_every_file(tmp_path):
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    paths[0].write_text("old")
    with atomic_paths(paths) as temps:
        for t, s in zip(temps, ("A", "B"), strict=True):
            t.write_text(s)
    assert [p.read_text() for p in paths] == ["A", "B"] and _names(tmp_path) == ["a.txt", "b.txt"]


# ------------------------------------------------------------------------------------ formats

def test_format_registry():
    assert set(writer.FORMATS) == {"csv", "xlsx", "gpkg", "geojson", "json", "html", "png"}
    assert writer.format_of("x/a.GeoJSON").name == "geojson" and writer.format_of("a.htm").name == "html"
    with pytest.raises(ValueError, match="suffix"):
        writer.format_of("a.shp")
    with pytest.raises(ValueError, match="unknown format"):
        writer.format_of("a.csv", "parquet")
    with pytest.raises(ValueError, match="not a table format"):
        write_table(pd.DataFrame({"a": [1]}), "a.html")
    with pytest.raises(TypeError):
        writer.FORMATS["csv"] = writer.FORMATS["json"]  # the registry is read-only


def test_csv_bom_no_geometry_and_formulas_neutralised(tmp_path):
    df = _gdf().assign(name=["=HYPERLINK(\"x\")", "普通名称"])
    p = write_table(df, tmp_path / "t.csv")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(p, encoding="utf-8-sig")
    assert list(back.columns) == ["site_id", "places", "ok", "name"]
    assert back["name"].tolist() == ["'=HYPERLINK(\"x\")", "普通名称"]


def test_gpkg_geojson_json_html_png(tmp_path):
    g = _gdf()
    write_table({"甲": g, "乙": g.iloc[:1]}, tmp_path / "t.gpkg")
    assert dict(pyogrio.list_layers(tmp_path / "t.gpkg")) == {"甲": "Point", "乙": "Point"}
    back = pyogrio.read_dataframe(tmp_path / "t.gpkg", layer="甲")
    assert back.crs.to_epsg() == 4326 and back["ok"].tolist() == [True, False]
    gj = json.loads(write_table(g, tmp_path / "t.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["site_id"] for f in gj["features"]] == ["K1", "K2"]
    js = json.loads(writer.write_file({"x": np.float64("nan"), "y": np.int64(3)}, tmp_path / "t.json").read_text())
    assert js == {"x": None, "y": 3}
    assert writer.write_file("<p>地图</p>", tmp_path / "m.html").read_text(encoding="utf-8") == "<p>地图</p>"
    png = b"\x89PNG\r\n\x1a\nrest"
    assert writer.write_file(png, tmp_path / "f.png").read_bytes() == png
    with pytest.raises(ValueError, match="no CRS"):
        write_table(gpd.GeoDataFrame(g.drop(columns="geometry"), geometry=list(g.geometry)), tmp_path / "n.gpkg")
    write_table(g, tmp_path / "one.gpkg")
    assert dict(pyogrio.list_layers(tmp_path / "one.gpkg")) == {"one": "Point"}
    assert "n.gpkg" not in _names(tmp_path) and not [n for n in _names(tmp_path) if n.startswith(".")]


# ------------------------------------------------------------------------------------ XLSX

def test_xlsx_rules(tmp_path):
    df = pd.DataFrame({"街道名称": ["湖南路街道", "=1+2"], "有普惠机构": [True, False],
                       "状态": pd.Series([np.bool_(True), None], dtype=object),
                       "普惠托位占比": [0.4213, np.nan], "托位数": [np.int64(12), np.int64(3)]})
    p = write_xlsx(tmp_path / "t.xlsx", {"街道指标": df, "其他": df.iloc[:1]},
                   number_formats={"普惠托位占比": "0.0%", "其他": {"托位数": "#,##0"}},
                   notes={"有普惠机构": "街道内至少有1个普惠机构。"})
    wb = load_workbook(p)
    assert wb.sheetnames == ["街道指标", "其他"]
    ws = wb["街道指标"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == ["街道名称", "有普惠机构", "状态", "普惠托位占比", "托位数"]
    assert rows[1] == ["湖南路街道", "是", "是", 0.4213, 12] and rows[2] == ["'=1+2", "否", None, None, 3]
    assert ws["A3"].data_type == "s"  # escaped text, never a formula
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb.endswith("DDEBF7") and ws.freeze_panes == "A2"
    assert ws["D2"].number_format == "0.0%" and ws["E2"].number_format == "General"
    assert wb["其他"]["E2"].number_format == "#,##0" and wb["其他"]["D2"].number_format == "0.0%"
    assert ws["B1"].comment is not None and "普惠机构" in ws["B1"].comment.text and ws["A1"].comment is None
    # widths by display width: the CJK name column is wider than the short numeric one
    assert ws.column_dimensions["A"].width >= display_width("湖南路街道") + 2 > ws.column_dimensions["E"].width
    with pytest.raises(ValueError, match="invalid sheet name"):
        write_xlsx(tmp_path / "bad.xlsx", {"a/b": df})
    assert _names(tmp_path) == ["t.xlsx"]


def test_xlsx_whole_columns_and_long_sheet_widths(tmp_path):
    """Cells written a column at a time (numpy bool/int/float) read back as the per-cell rules say:
    bool → 是/否, NaN and ±inf → empty, int and float as numbers, text escaped.  A 300-row column
    whose one long value (30 CJK characters = 60 display columns, over the 200-row width sample)
    sits at row 290 still gets the capped width 60 + 2 → 60 (``_MAX_COL_WIDTH``)."""
    n = 300
    long_name = "徐" * 30
    df = pd.DataFrame({"b": np.arange(n) % 2 == 0, "i": np.arange(n, dtype=np.int64) - 5,
                       "f": np.r_[[np.nan, np.inf, -np.inf, -1.5], np.arange(n - 4) / 4],
                       "t": ["@SUM(A1)" if k == 1 else (long_name if k == 290 else "短") for k in range(n)]})
    ws = load_workbook(write_xlsx(tmp_path / "c.xlsx", {"s": df}))["s"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2, max_row=6)]
    assert rows[0] == ["是", -5, None, "短"] and rows[1] == ["否", -4, None, "'@SUM(A1)"]
    assert rows[2] == ["是", -3, None, "短"] and rows[3] == ["否", -2, -1.5, "短"] and rows[4][2] == 0.0
    assert ws.cell(row=292, column=4).value == long_name
    assert ws.column_dimensions["D"].width == 60


def test_display_width():
    assert display_width("ab") == 2 and display_width("徐汇") == 4 and display_width("ａ") == 2
    assert display_width(None) == 0 and display_width(12.5) == 4


# ------------------------------------------------------------------------- errors name the fix

def test_output_error_fix_follows_the_cause(tmp_path):
    """OutputError takes fix= (and path=); output_error picks the fix from errno: a full disk asks
    for disk space, a read-only drive for another folder, a too-long name for a shorter one; a
    reason without errno gets the general advice."""
    e = OutputError("cannot write x", path="x", fix="do y")
    assert str(e) == "cannot write x\n  fix: do y" and e.path == "x" and e.exit_code == 5
    full = writer.output_error("o.csv", OSError(errno.ENOSPC, "No space left on device"))
    assert "fix: free disk space" in str(full) and "o.csv" in str(full)
    assert "read-only" in str(writer.output_error("o", OSError(errno.EROFS, "Read-only file system")))
    assert "fix: choose a folder you can write to" in str(writer.output_error("o", "nothing was written"))
    with pytest.raises(OutputError, match="shorter") as ei:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / ("长" * 200 + ".csv"))
    assert "File name too long" in str(ei.value) and _names(tmp_path) == []


def test_sqlite_disk_full_is_output_error_but_sql_mistakes_are_not(tmp_path):
    """Editing a GeoPackage in place (report.gpkg.add_schema) can hit a full disk as SQLite's
    OperationalError, which is not an OSError: it becomes an OutputError; a SQL syntax error (a
    bug) passes through unchanged."""
    import sqlite3

    with pytest.raises(OutputError, match="database or disk is full"), atomic_write(tmp_path / "x.gpkg") as tmp:
        tmp.write_bytes(b"x")
        raise sqlite3.OperationalError("database or disk is full")
    with pytest.raises(sqlite3.OperationalError, match="syntax"), atomic_write(tmp_path / "x.gpkg") as tmp:
        tmp.write_bytes(b"x")
        raise sqlite3.OperationalError('near "SELEC": syntax error')
    assert _names(tmp_path) == []
