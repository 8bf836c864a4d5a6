"""area.toml ``[columns]`` mapping, per-layer ``crs`` and ``tuoyu-geo init`` (issue 14, "CLI")."""

from __future__ import annotations

import json
import math
import shutil

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import synth

from tuoyu_geo import DataError
from tuoyu_geo.area.readers import read_layer
from tuoyu_geo.area.schema import COLUMN_ALIASES, LAT_NAMES, LON_NAMES
from tuoyu_geo.area.template import TEMPLATE_HEADERS
from tuoyu_geo.cli import main
from tuoyu_geo.loading import load_area

_GEOD = pyproj.Geod(ellps="WGS84")

# ------------------------------------------------------------------ BD-09, computed independently
# The public formulas (googollee/eviltransform for WGS-84 → GCJ-02, the Baidu offset for
# GCJ-02 → BD-09), written out here and checked against the published pairs that tests/test_crs.py
# uses; they are not tuoyu_geo.crs.

_A, _EE = 6378245.0, 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _tlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    dlat, dlon = _tlat(lon - 105.0, lat - 35.0), _tlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * math.pi)
    dlon = (dlon * 180.0) / (_A / sq * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def test_independent_formulas_match_the_published_pairs():
    """eviltransform's Shanghai pair and wandergis's GCJ-02 → BD-09 pair (see test_crs.py)."""
    assert wgs_to_gcj(121.5272106, 31.1774276) == pytest.approx((121.531541859215, 31.17530398364597), abs=1e-7)
    assert gcj_to_bd(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2])


# ------------------------------------------------------------------ [columns] + per-layer crs

def _mapped_area(folder, *, institutions_crs: str | None = "bd09"):
    """The synthetic area with the user's own headers: streets code/jdmc/常住人口2024 (GeoJSON);
    institutions in an XLSX with a title row above jg_code/jg_name/leibie/tuowei/bd_lng/bd_lat,
    coordinates in BD-09."""
    folder.mkdir()
    st = synth.streets().rename(columns={"street_id": "code", "name": "jdmc", "population": "常住人口2024"})
    st.to_file(folder / "streets.geojson", driver="GeoJSON", engine="pyogrio")
    for key in ("communities", "candidates"):
        synth.write_layer(synth.LAYER_FUNCS[key](), folder / f"{key}.geojson")
    inst = synth.institutions()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["某区托育机构名单（2024年）"])
    ws.append(["jg_code", "jg_name", "leibie", "tuowei", "bd_lng", "bd_lat"])
    for r in inst.itertuples():
        bd = gcj_to_bd(*wgs_to_gcj(r.geometry.x, r.geometry.y))
        ws.append([r.institution_id, r.name, r.category, r.places, bd[0], bd[1]])
    wb.save(folder / "institutions.xlsx")
    crs = f', crs = "{institutions_crs}"' if institutions_crs else ""
    (folder / "area.toml").write_text(f'''name = "mapped"
crs = "wgs84"
policy = "national-2025"

[layers]
streets = "streets.geojson"
communities = "communities.geojson"
institutions = {{ file = "institutions.xlsx"{crs} }}
candidates = "candidates.geojson"

[columns.streets]
street_id = "code"
name = "jdmc"
population = "常住人口2024"

[columns.institutions]
institution_id = "jg_code"
name = "jg_name"
category = "leibie"
places = "tuowei"
lon = "bd_lng"
lat = "bd_lat"
''', encoding="utf-8")
    return folder, inst


def test_columns_mapping_and_a_bd09_layer(tmp_path, capsys):
    """Mapped headers give the synthetic values (streets S1–S4 with 6000/7000/8000/9000
    residents; institutions I1–I4 with 20/25/30/35 places), and each BD-09 point lands within
    0.5 m of the WGS-84 grid node it was computed from (BD-09 sits ~500 m away, so a layer read
    without its crs would be off by hundreds of metres); `validate` exits 0."""
    folder, inst = _mapped_area(tmp_path / "a")
    area = load_area(folder)
    assert area.streets.index.tolist() == ["S1", "S2", "S3", "S4"]
    assert area.streets["population"].tolist() == [6000, 7000, 8000, 9000]
    assert area.streets["name"].tolist() == ["第1街道", "第2街道", "第3街道", "第4街道"]
    got = area.institutions.loc[inst["institution_id"]]
    assert got["places"].tolist() == [20, 25, 30, 35]
    for (_, want), g in zip(inst.iterrows(), got.geometry, strict=True):
        w = (want.geometry.x, want.geometry.y)
        assert metres((g.x, g.y), w) < 0.5
        assert metres(gcj_to_bd(*wgs_to_gcj(*w)), w) > 300
    assert main(["validate", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("OK:")


def test_layer_read_without_its_crs_is_caught(tmp_path, capsys):
    """The same BD-09 file declared WGS-84 (no per-layer crs): the points stand ~500 m off and the
    area does not validate (exit 2) — so the test above depends on the per-layer crs."""
    folder, _ = _mapped_area(tmp_path / "a", institutions_crs=None)
    assert main(["validate", str(folder)]) == 2
    assert "institutions.xlsx" in capsys.readouterr().out


BAD = {
    "unknown layer": ('[columns.streetz]\nstreet_id = "code"\n', "columns.streetz",
                      "unknown layer columns.streetz", "streets, communities, institutions, candidates"),
    "unknown column": ('[columns.streets]\npopluation = "人口"\n', "columns.streets.popluation",
                       "streets have no column 'popluation'", "street_id, name, population"),
    "missing header": ('[columns.streets]\nstreet_id = "code"\n', "columns.streets.street_id",
                       'streets.geojson has no column "code"', "write the header exactly as it is in streets.geojson"),
    "both names": ('[columns.streets]\nstreet_id = "name"\n', "columns.streets.street_id",
                   'also has a column "street_id"', 'remove the line to use "street_id"'),
    "lon on a GeoJSON": ('[columns.communities]\nlon = "x1"\n', "columns.communities.lon",
                         "not a CSV/XLSX table", "remove lon/lat from [columns.communities]"),
    "bad layer crs": (None, "layers.institutions.crs", "unknown coordinate system 'bd10'", "bd09"),
    "same header twice": ('[columns.streets]\nname = "population"\npopulation = "population"\n', "columns.streets",
                          "names the column(s) population twice", "map each column"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_columns_and_crs_name_area_toml_the_key_and_the_fix(case, tmp_path, capsys):
    extra, key, message, fix = BAD[case]
    folder = synth.write_area(tmp_path / "a")
    toml = folder / "area.toml"
    text = toml.read_text(encoding="utf-8")
    if extra is None:
        text = text.replace('institutions = "institutions.geojson"',
                            'institutions = { file = "institutions.geojson", crs = "bd10" }')
    else:
        text += extra
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as ei:
        load_area(folder)
    probs = [p for p in ei.value.problems if key in p.ids]
    assert len(probs) == 1, ei.value
    p = probs[0]
    assert p.file == "area.toml" and message in p.message and fix in p.fix, p
    assert main(["validate", str(folder)]) == 2
    assert key in capsys.readouterr().out


def test_read_layer_columns_argument(tmp_path):
    """The API path: read_layer(columns=...) renames before the aliases; a CSV's coordinates
    columns by name (x1/y1 are not lon/lat names)."""
    df = pd.DataFrame({"编码": ["A", "B"], "mc": ["甲", "乙"], "renkou": [100, 200], "x1": [121.4, 121.5],
                       "y1": [31.1, 31.2]})
    df.to_csv(tmp_path / "c.csv", index=False)
    g = read_layer(tmp_path / "c.csv", columns={"community_id": "编码", "name": "mc", "population": "renkou",
                                                "lon": "x1", "lat": "y1"})
    assert g["community_id"].tolist() == ["A", "B"] and g["population"].tolist() == ["100", "200"]
    assert [(p.x, p.y) for p in g.geometry] == [(121.4, 31.1), (121.5, 31.2)]


# ------------------------------------------------------------------ init

def test_template_headers_are_accepted_spellings():
    for layer, heads in TEMPLATE_HEADERS.items():
        for col, head in heads.items():
            names = LON_NAMES if col == "lon" else LAT_NAMES if col == "lat" else COLUMN_ALIASES[col]
            assert head in names, (layer, col, head)


def _fill_xlsx(path, layer: str) -> None:
    """As a planner would: open the template, delete the example row, type the synthetic rows
    under the template's headers, save."""
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    heads = [c.value for c in ws[1]]
    ws.delete_rows(2)
    back = {h: c for c, h in TEMPLATE_HEADERS[layer].items()}
    gdf = synth.LAYER_FUNCS[layer]()
    for _, r in gdf.iterrows():
        row = []
        for h in heads:
            col = back[h]
            row.append(r.geometry.x if col == "lon" else r.geometry.y if col == "lat" else
                       (r[col] if col in gdf.columns and not pd.isna(r[col]) else None))
        ws.append(row)
    wb.save(path)


def _fill_csv(path, layer: str) -> None:
    heads = pd.read_csv(path, encoding="utf-8-sig").columns
    back = {h: c for c, h in TEMPLATE_HEADERS[layer].items()}
    gdf = synth.LAYER_FUNCS[layer]()
    cols = {h: (gdf.geometry.x if back[h] == "lon" else gdf.geometry.y if back[h] == "lat" else
                gdf[back[h]] if back[h] in gdf.columns else "") for h in heads}
    pd.DataFrame(cols).to_csv(path, index=False, encoding="utf-8-sig")


def _fill_streets(path) -> None:
    g = gpd.read_file(path)
    heads = [c for c in g.columns if c != "geometry"]
    back = {h: c for c, h in TEMPLATE_HEADERS["streets"].items()}
    st = synth.streets()
    out = gpd.GeoDataFrame({h: st[back[h]] if back[h] in st.columns else "某区" for h in heads},
                           geometry=st.geometry, crs="EPSG:4326")
    out.to_file(path, driver="GeoJSON", engine="pyogrio")


def test_init_untouched_example_validates_and_never_overwrites(tmp_path, capsys):
    """The untouched template is a valid one-街道 area (decided: it validates, exit 0, and its
    names say 示例); init refuses a non-empty folder (exit 5) and leaves it as it was."""
    d = tmp_path / "area"
    assert main(["init", str(d), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert sorted(p.name for p in d.iterdir()) == sorted(
        ["area.toml", "streets.geojson"] + [f"{k}.{e}" for k in ("communities", "institutions", "candidates")
                                            for e in ("xlsx", "csv")]) == sorted(p.split("/")[-1] for p in files)
    area = load_area(d)
    assert [len(getattr(area, k)) for k in ("streets", "communities", "institutions", "candidates")] == [1, 1, 1, 1]
    assert all("示例" in str(getattr(area, k)["name"].iloc[0]) for k in ("streets", "communities", "institutions"))
    assert area.institutions["places"].iloc[0] == 60 and area.candidates["max_places"].iloc[0] == 60
    # the CSV templates hold the same rows
    for layer in ("communities", "institutions", "candidates"):
        x = read_layer(d / f"{layer}.xlsx")
        c = read_layer(d / f"{layer}.csv")
        assert x.drop(columns="geometry").astype(str).equals(c.drop(columns="geometry").astype(str))
        assert x.geometry.equals(c.geometry)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    assert main(["init", str(d)]) == 5
    assert "not empty" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_init_fill_validate(fmt, tmp_path, capsys):
    """init → the synthetic area typed into the templates (XLSX, or the CSV templates named in
    area.toml instead) → validate exits 0 with 4 街道, 12 小区, 4 institutions, 8 candidates."""
    d = tmp_path / "area"
    assert main(["init", str(d), "-q"]) == 0
    _fill_streets(d / "streets.geojson")
    for layer in ("communities", "institutions", "candidates"):
        (_fill_xlsx if fmt == "xlsx" else _fill_csv)(d / f"{layer}.{fmt}", layer)
    if fmt == "csv":
        toml = d / "area.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace('.xlsx"\n', '.csv"\n'), encoding="utf-8")
    capsys.readouterr()
    assert main(["validate", str(d), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["counts"] == {"streets": 4, "communities": 12, "institutions": 4, "candidates": 8}
    area = load_area(d)
    assert area.institutions["places"].sort_index().tolist() == [20, 25, 30, 35]
    assert area.communities["street_id"].loc["C10"] == "S1"
    assert np.allclose(area.candidates["fixed_cost"], 50.0)
    shutil.rmtree(d)
