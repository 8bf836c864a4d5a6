"""Bad-input catalogue: every broken input gets one clear error, a documented exit code, no traceback
and no partial output.

Each data case is checked four ways: ``load_area`` raises exactly the listed error class whose
message names the file, the offending ids and the fix; ``tuoyu-geo validate DIR`` exits 2 and
prints no traceback; ``tuoyu-geo analyze DIR --out OUT`` exits 2 and leaves OUT without any
file; the input folder is left unchanged.  Exit codes: 2 bad data, 3 infeasible plan, 4 solver,
5 output not writable, 1 internal error.

Catalogue (id — broken input → error class, exit code)
-------------------------------------------------------
 1. missing_column — communities without a ``population`` column → DataError, 2
 2. duplicate_ids — two institutions with ``institution_id`` I2 → DataError, 2
 3. negative_population — a 街道 with population −100 → DataError, 2
 4. nan_population — a community with an empty (NaN) population → DataError, 2
 5. text_population — a community with population "约3000人" → DataError, 2
 6. infinite_population — a community with population "inf" → DataError, 2
 7. negative_places — an institution with −10 places → DataError, 2
 8. blank_id — a candidate without ``site_id`` → DataError, 2
 9. empty_geometry — an institution with a null geometry → DataError, 2
10. invalid_geometry — a self-intersecting (bow-tie) 街道 polygon → DataError, 2
10a. overlapping_streets — a 街道 polygon duplicated under a second id → DataError, 2
11. wrong_geometry_type — a candidate given as a LineString → DataError, 2
12. community_outside — a community outside every 街道 → DataError, 2
13. institution_outside — an institution in another district (Pudong) → DataError, 2
14. unknown_category — institution category "早教中心" → DataError, 2
15. unknown_kind — candidate kind "商场" → DataError, 2
16. unknown_street_id — candidate with street_id "XH99" → DataError, 2
17. min_gt_max — candidate with min_places > max_places → DataError, 2
18. puhui_not_bool — institution with puhui "maybe" → DataError, 2
19. empty_layer — a candidates file with no features → DataError, 2
20. no_crs — area.toml without ``crs`` → DataError, 2
21. unknown_crs — area.toml ``crs = "mars2000"`` → DataError, 2
22. gcj02_declared_wgs84 — AMap (GCJ-02) coordinates declared as WGS-84 (≈480 m off the network) → DataError, 2
23. bd09_declared_gcj02 — Baidu (BD-09) coordinates declared as GCJ-02 → DataError, 2
23a. one_layer_gcj02_outside — only the candidates file is GCJ-02 (no network): points fall outside every 街道 but inside under GCJ-02 → DataError, 2
23b. one_layer_gcj02_network — only the institutions file (AMap POIs) is GCJ-02, the rest WGS-84, with a network → DataError, 2
24. xuhui_gcj02_declared_wgs84 — the bundled 徐汇区 layers shifted to GCJ-02 but declared WGS-84 → DataError, 2
24a. metres_as_degrees — UTM metres in a file declared as WGS-84 degrees → DataError, 2
25. lonlat_swapped — CSV with lon/lat columns swapped → DataError, 2
26. network_nothing_near — a candidate > 1000 m from every road of the walk network → NetworkError, 2
27. network_island — a candidate next to a small disconnected island of the network → NetworkError, 2
28. network_not_graphml — the network file is not a GraphML → NetworkError, 2
29. policy_unknown_key — area policy file with ``places_per_thousand`` → PolicyError, 2
30. policy_wrong_type — area policy file with ``puhui_share = "70%"`` → PolicyError, 2
31. policy_unknown_profile — ``policy = "shanghai-2030"`` → PolicyError, 2
32. missing_layer_file — ``layers.institutions`` names a file that does not exist → DataError, 2
33. layer_not_listed — area.toml without ``layers.candidates`` → DataError, 2
34. area_toml_syntax — area.toml that is not valid TOML → DataError, 2
35. area_toml_unknown_key — area.toml with an unknown top-level key → DataError, 2
35a. area_toml_wrong_type — area.toml ``policy = 2025`` (a number, not a string) → DataError, 2
35b. area_toml_unknown_layer — area.toml ``[layers] schools = "x.csv"`` → DataError, 2
35c. area_toml_bad_metric_crs — area.toml ``metric_crs = "EPSG:4326"`` (degrees, not metres) → DataError, 2
36. no_area_toml — a folder without area.toml → DataError, 2
37. corrupt_geojson — a truncated GeoJSON file → DataError, 2
38. csv_no_coordinates — an institutions CSV without lon/lat columns → DataError, 2
39. undecodable_csv — a CSV in neither UTF-8, GBK nor UTF-16 → DataError, 2
Input validation (issue 15; all → exit 2, checked like 1–39):
53. year_with_text — candidate ``available_year`` "2030年" → DataError
54. year_as_date — candidate ``available_year`` "2030-01-01" → DataError ("a date, not a year")
55. blank_fixed_cost — a blank ``fixed_cost`` cell (not a free site) → DataError
56. huge_places — institution ``places`` 1e20 → DataError (implausibly large)
57. huge_max_places — candidate ``max_places`` 10⁷ (> 2000 per site) → DataError
58. unknown_bool_word — ``is_new`` "maybe" (Y/N/是/否/√/× accepted) → DataError
59. unknown_status — institution ``status`` "装修中" → DataError
60. street_id_elsewhere — a candidate whose ``street_id`` names another 街道 than it stands in → DataError
61. population_in_wan — 街道 populations 0.6–0.9 (万人) → DataError
62. infants_above_population — a community with more infants than residents → DataError
63. gpkg_several_layers — a GeoPackage with two layers and no ``layer`` → DataError (lists the layers)
64. gpkg_unknown_layer — ``{ file = …, layer = "x" }`` with no such layer → DataError
65. network_negative_length — a network edge of −50 m → NetworkError
66. network_node_without_xy — a network node without x → NetworkError
67. network_no_crs — a GraphML without crs → NetworkError
67a. network_missing_length — a GraphML edge without ``length`` → NetworkError (not measured silently)
67b. detour_factor_below_one — ``detour_factor = 0.9`` in area.toml → DataError
67c. detour_factor_text — ``detour_factor = "1.3"`` (a string) in area.toml → DataError
68. policy_nan_target — ``places_per_1000 = nan`` → PolicyError
69. policy_zero_infant_share — ``infant_share = 0.0`` → PolicyError
70. policy_is_directory — the policy path is a folder → PolicyError
71. area_toml_is_directory — ``area.toml`` is a folder → DataError
71a. layer_is_directory — a layer entry that names a folder → DataError
71b. file_name_too_long — a layer file name of 200 Chinese characters (too long for the file system) → DataError
71c. layer_is_device — a layer that is /dev/zero (an endless device, never read) → DataError
Accepted: 72. shapefile whose .cpg names the wrong encoding (decoded from the bytes, warning),
73. GeoPackage layer named in area.toml, 74. area.toml/policy TOML with BOM, GBK or UTF-16;
rejected with a clear error: 75. an Excel date cell as ``available_year``; 76. a point on a shared
街道 border is inside either neighbour, one 8 m outside is "just outside" (no GCJ-02 blame);
77. a candidate that cannot hold one whole class is named in a warning; 78. upper-case contract
column names (ArcGIS Shapefiles) are read.
Property tests (tests/test_validation_props.py): damage to every typed column, numbers/years in
any spelling, yes/no words, status words, street_id vs location, encodings + blank rows + padded
headers.
Accepted (must load, exit 0): 40. gbk_shapefile (GBK Shapefile without .cpg), 41. csv_bom (UTF-8 CSV
with BOM), 42. xlsx_merged_header (XLSX with merged title cells above the header), 43. gbk_csv,
43a. utf16_tab_text (Excel "Unicode 文本" export: UTF-16, tab separated).
Planning and output:
44. street_without_candidate — a 街道 with no 普惠 and no candidate under 一街道一普惠 → InfeasiblePlanError, 3
45. budget_below_required — budget below the cheapest required site → InfeasiblePlanError, 3
46. time_limit_too_short — a tiny solver time limit → best plan with status/gap, no exception
47. unwritable_output — export into a path under a regular file → OutputError, 5 (nothing left behind)
48. cli_solver_error — a SolverError inside a command → exit 4, no traceback
49. cli_internal_error — an unexpected exception → exit 1, "internal error", log file, no traceback
50. cli_subprocess — ``python -m tuoyu_geo.cli validate``/``info`` on bad data in a fresh process → exit 2, no traceback
51. every_command — access/analyze/plan/export/map/info/validate on 5 bad areas → exit 2, no traceback, no file in --out
52. html_escaping — names with <script>, quotes and & → ``tuoyu-geo map`` writes them escaped, never as live markup
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import synth
from shapely.geometry import LineString, Point, Polygon

import tuoyu_geo as tg
from tuoyu_geo import (
    DataError,
    InfeasiblePlanError,
    NetworkError,
    OutputError,
    PolicyError,
    SolverError,
    crs,
)
from tuoyu_geo.cli import main

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], Path]  # tmp folder -> area folder
    error: type
    file: str  # must appear in the message
    ids: tuple[str, ...]  # must all appear in the message
    fix: str  # must appear in the message (after "fix:")
    msg: str  # the problem, as worded in the message


def L(**changes):
    d = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    d.update(changes)
    return d


def area(**kw) -> Callable[[Path], Path]:
    return lambda tmp: synth.write_area(tmp / "area", **kw)


def _c(**cols):
    g = synth.communities()
    for k, v in cols.items():
        g[k] = v
    return g


def _set(layer: str, row: int, col: str, value) -> gpd.GeoDataFrame:
    g = synth.LAYER_FUNCS[layer]()
    if col != "geometry":
        g[col] = g[col].astype(object)
    g.loc[row, col] = value
    return g


def _with_policy(text: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area", policy="city.toml")
        (f / "city.toml").write_text(text, encoding="utf-8")
        return f
    return build


def _edit_toml(fn: Callable[[str], str], **kw) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area", **kw)
        t = f / "area.toml"
        t.write_text(fn(t.read_text(encoding="utf-8")), encoding="utf-8")
        return f
    return build


def _raw_file(layer: str, name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area")
        (f / name).write_bytes(data)
        t = f / "area.toml"
        t.write_text(t.read_text(encoding="utf-8").replace(f'"{layer}.geojson"', f'"{name}"'), encoding="utf-8")
        return f
    return build


def _raw_network(data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area")
        (f / "walk.graphml").write_bytes(data)
        t = f / "area.toml"
        t.write_text(t.read_text(encoding="utf-8") + 'network = "walk.graphml"\n', encoding="utf-8")
        return f
    return build


def _shifted(to: str) -> dict:
    return {k: crs.convert_geoseries(f(), "wgs84", to) for k, f in synth.LAYER_FUNCS.items()}


def _inner_institutions_gcj() -> gpd.GeoDataFrame:
    """24 institutions on grid nodes that stay inside the 街道 after the GCJ-02 shift."""
    g = gpd.GeoDataFrame({"institution_id": [f"I{j}" for j in range(24)], "name": "托育园", "category": "公办",
                          "places": 10},
                         geometry=[Point(*synth.node_lonlat(5 + j % 4, 6 + j // 4)) for j in range(24)],
                         crs="EPSG:4326")
    return crs.convert_geoseries(g, "wgs84", "gcj02")


def _xuhui_shifted(tmp: Path) -> Path:
    x = tg.datasets.shanghai_xuhui()
    f = tmp / "xuhui"
    f.mkdir()
    lines = ['name = "徐汇 (GCJ-02 labelled WGS-84)"', 'crs = "wgs84"', 'policy = "wuxi-2025"', "[layers]"]
    for layer in ("streets", "communities", "institutions", "candidates"):
        g = crs.convert_geoseries(getattr(x, layer).reset_index(drop=True), "wgs84", "gcj02")
        g.to_file(f / f"{layer}.geojson", driver="GeoJSON", engine="pyogrio")
        lines.append(f'{layer} = "{layer}.geojson"')
    lines.append(f'network = "{(tg.datasets.bundled_path() / "walk_network.graphml").as_posix()}"')
    (f / "area.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def _swapped_csv(tmp: Path) -> Path:
    f = synth.write_area(tmp / "area", suffix={"institutions": ".csv"})
    p = f / "institutions.csv"
    df = pd.read_csv(p).rename(columns={"lon": "lat", "lat": "lon"})
    df.to_csv(p, index=False)
    return f


def _island_candidates() -> gpd.GeoDataFrame:
    k = synth.candidates()
    k.loc[k.index[-1], "geometry"] = Point(*synth.node_lonlat(10.5, 10.5))
    return k


_BOWTIE = Polygon([(121.4436, 31.1752), (121.4504, 31.1804), (121.4504, 31.1752), (121.4436, 31.1804)])
_CSV_NOXY = "institution_id,name,category,places\nI1,a,公办,10\n"

CASES = [
    Case("missing_column", area(layers=L(communities=synth.communities().drop(columns="population"))),
         DataError, "communities.geojson", ("population",), "add or rename the column",
         "missing required column(s): population"),
    Case("duplicate_ids", area(layers=L(institutions=_set("institutions", 2, "institution_id", "I2"))),
         DataError, "institutions.geojson", ("I2",), "make institution_id unique", "duplicate institution_id"),
    Case("negative_population", area(layers=L(streets=_set("streets", 2, "population", -100))),
         DataError, "streets.geojson", ("S3",), "must be a finite number ≥ 0", "population is negative"),
    Case("nan_population", area(layers=L(communities=_set("communities", 4, "population", None))),
         DataError, "communities.geojson", ("C21",), "fill population", "population is missing"),
    Case("text_population", area(layers=L(communities=_set("communities", 6, "population", "约3000人"))),
         DataError, "communities.geojson", ("C30",), "write population as a number", "population is not a number"),
    Case("infinite_population", area(layers=L(communities=_set("communities", 1, "population", "inf"))),
         DataError, "communities.geojson", ("C11",), "finite number", "negative or infinite"),
    Case("negative_places", area(layers=L(institutions=_set("institutions", 0, "places", -10))),
         DataError, "institutions.geojson", ("I1",), "finite number ≥ 0", "places is negative"),
    Case("blank_id", area(layers=L(candidates=_set("candidates", 3, "site_id", ""))),
         DataError, "candidates.geojson", ("row 4",), "give every row a unique site_id", "without site_id"),
    Case("empty_geometry", area(layers=L(institutions=_set("institutions", 2, "geometry", None))),
         DataError, "institutions.geojson", ("I3",), "give every row a geometry", "empty or missing geometry"),
    Case("invalid_geometry", area(layers=L(streets=_set("streets", 1, "geometry", _BOWTIE))),
         DataError, "streets.geojson", ("S2",), "Fix Geometries", "invalid geometry"),
    Case("wrong_geometry_type",
         area(layers=L(candidates=_set("candidates", 1, "geometry", LineString([(121.44, 31.18), (121.45, 31.18)])))),
         DataError, "candidates.geojson", ("K18",), "use Point geometries", "wrong geometry type (LineString)"),
    Case("overlapping_streets",
         area(layers=L(streets=pd.concat([synth.streets(), synth.streets().iloc[[0]].assign(street_id="S5")],
                                         ignore_index=True))),
         DataError, "streets.geojson", ("S1/S5",), "remove the duplicate or fix the boundaries",
         "街道 polygons overlap"),
    Case("community_outside", area(layers=L(communities=_set("communities", 2, "geometry", Point(121.40, 31.30)))),
         DataError, "communities.geojson", ("C12",), "check their coordinates and CRS", "outside every 街道"),
    Case("institution_outside", area(layers=L(institutions=_set("institutions", 3, "geometry", Point(121.55, 31.23)))),
         DataError, "institutions.geojson", ("I4",), "add the missing 街道", "institutions outside every 街道"),
    Case("unknown_category", area(layers=L(institutions=_set("institutions", 0, "category", "早教中心"))),
         DataError, "institutions.geojson", ("I1",), "use one of 公办, 普惠", "unknown category (早教中心)"),
    Case("unknown_kind", area(layers=L(candidates=_set("candidates", 0, "kind", "商场"))),
         DataError, "candidates.geojson", ("K16",), "use one of 社区服务中心", "unknown kind (商场)"),
    Case("unknown_street_id", area(layers=L(candidates=synth.candidates().assign(street_id=["S1"] * 7 + ["XH99"]))),
         DataError, "candidates.geojson", ("K48",), "use a street_id of the streets layer",
         "street_id not in the streets layer"),
    Case("min_gt_max", area(layers=L(candidates=synth.candidates().assign(min_places=[0] * 7 + [99]))),
         DataError, "candidates.geojson", ("K48",), "make min_places ≤ max_places", "min_places > max_places"),
    Case("puhui_not_bool", area(layers=L(institutions=synth.institutions().assign(puhui=["maybe", "", "", ""]))),
         DataError, "institutions.geojson", ("I1",), "write puhui as true/false", "puhui is not a yes/no value"),
    Case("empty_layer", area(layers=L(candidates=synth.candidates().iloc[0:0])),
         DataError, "candidates.geojson", (), "add at least one candidate", "the candidates layer is empty"),
    Case("no_crs", area(crs=None), DataError, "area.toml", (), 'set crs = "wgs84"', "no input coordinate system"),
    Case("unknown_crs", area(crs="mars2000"), DataError, "area.toml", ("mars2000",), 'use "wgs84", "gcj02"',
         "unknown coordinate system"),
    Case("gcj02_declared_wgs84", area(layers=_shifted("gcj02"), crs="wgs84", network=True),
         DataError, "area.toml", ("communities.geojson", "institutions.geojson"), 'set crs = "gcj02"',
         "looks like GCJ-02 (AMap/Tencent) coordinates declared as WGS-84"),
    Case("one_layer_gcj02_outside", area(layers=L(candidates=crs.convert_geoseries(synth.candidates(), "wgs84", "gcj02"))),
         DataError, "candidates.geojson", ("K28", "K48"), 'convert_geoseries(gdf, "gcj02", "wgs84")',
         "would fall inside one if read as GCJ-02 (AMap/Tencent)"),
    Case("one_layer_gcj02_network", area(layers=L(institutions=_inner_institutions_gcj()), network=True),
         DataError, "institutions.geojson", ("I0", "I9"), 'convert_geoseries(gdf, "gcj02", "wgs84")',
         "institutions look like GCJ-02 (AMap/Tencent) coordinates while the other layers are WGS-84"),
    Case("bd09_declared_gcj02", area(layers=_shifted("bd09"), crs="gcj02", network=True),
         DataError, "area.toml", ("streets.geojson", "candidates.geojson"), 'set crs = "bd09"',
         "looks like BD-09 (Baidu) coordinates declared as GCJ-02"),
    Case("xuhui_gcj02_declared_wgs84", _xuhui_shifted, DataError, "area.toml", ("communities.geojson",),
         'set crs = "gcj02"', "looks like GCJ-02 (AMap/Tencent) coordinates declared as WGS-84"),
    Case("metres_as_degrees", area(layers=L(institutions=synth.institutions().to_crs(32651).set_crs(4326, allow_override=True))),
         DataError, "institutions.geojson", ("I1", "I4"), "set crs in area.toml to the projected EPSG code",
         "coordinates out of range for degrees"),
    Case("lonlat_swapped", _swapped_csv, DataError, "institutions.csv", ("I1", "I4"), "swap the lon/lat columns",
         "longitude and latitude look swapped"),
    Case("network_nothing_near", area(network=synth.grid_graph(cols=range(7), rows=range(7))),
         NetworkError, "candidates.geojson", ("K48",), "extend the network", "farther than 1000 m from every road"),
    Case("network_island", area(layers=L(candidates=_island_candidates()), network=synth.grid_graph(island=(10.5, 10.5))),
         NetworkError, "candidates.geojson", ("K48",), "largest_component", "disconnected island"),
    Case("network_not_graphml", _raw_network(b"<graphml><graph>not a graph"),
         NetworkError, "walk.graphml", (), "give an osmnx GraphML file", "cannot read the network"),
    Case("policy_unknown_key", _with_policy('base = "wuxi-2025"\nplaces_per_thousand = 6\n'),
         PolicyError, "city.toml", ("places_per_thousand",), "allowed keys", "unknown key(s)"),
    Case("policy_wrong_type", _with_policy('base = "wuxi-2025"\npuhui_share = "70%"\n'),
         PolicyError, "city.toml", ("puhui_share",), "write puhui_share as a number", "has type str"),
    Case("policy_unknown_profile", area(policy="shanghai-2030"), PolicyError, "policy", ("shanghai-2030",),
         "use one of binhai-2023", "unknown policy profile"),
    Case("missing_layer_file", _edit_toml(lambda t: t.replace('"institutions.geojson"', '"机构.geojson"')),
         DataError, "机构.geojson", (), "check the file name in area.toml", "file not found"),
    Case("layer_not_listed", area(omit=("candidates",)), DataError, "area.toml", ("layers.candidates",),
         'add candidates = "<file>" under [layers]', "is not given"),
    Case("area_toml_syntax", _edit_toml(lambda t: t.replace('crs = "wgs84"', "crs = wgs84")), DataError,
         "area.toml", (), "fix the TOML syntax", "not valid TOML"),
    Case("area_toml_unknown_key", _edit_toml(lambda t: 'projection = "utm"\n' + t), DataError, "area.toml",
         ("projection",), "allowed keys", "unknown key(s) in area.toml"),
    Case("area_toml_wrong_type", _edit_toml(lambda t: t.replace('policy = "national-2025"', "policy = 2025")),
         DataError, "area.toml", ("policy",), "write it in quotes", "policy = 2025 is not a string"),
    Case("area_toml_unknown_layer", _edit_toml(lambda t: t.replace("[layers]\n", '[layers]\nschools = "x.csv"\n')),
         DataError, "area.toml", ("layers.schools",), "layers are: streets", "unknown layer layers.schools"),
    Case("area_toml_bad_metric_crs", _edit_toml(lambda t: 'metric_crs = "EPSG:4326"\n' + t), DataError,
         "area.toml", ("metric_crs",), 'use e.g. "EPSG:32651"', "is not a projected CRS in metres"),
    Case("no_area_toml", lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", DataError, "area.toml", (),
         "create area.toml", "no area.toml"),
    Case("corrupt_geojson", _raw_file("streets", "jd.geojson", b'{"type": "FeatureCollection", "features": [{"ty'),
         DataError, "jd.geojson", (), "check that it is a valid GeoJSON", "cannot read the file"),
    Case("csv_no_coordinates", _raw_file("institutions", "inst.csv", _CSV_NOXY.encode("utf-8")),
         DataError, "inst.csv", ("lon", "lat"), "name the coordinate columns lon and lat", "no lon/lat columns"),
    Case("undecodable_csv", _raw_file("institutions", "inst.csv", b"institution_id,name\nI1,\x80\x80\xff\n"),
         DataError, "inst.csv", (), "save the file as UTF-8", "cannot decode"),
]



# ---------------------------------------------------------------- input validation (issue 15), 53–70

def _graph(edit: Callable) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        G = synth.grid_graph()
        edit(G)
        return synth.write_area(tmp / "area", network=G)
    return build


def _neg_length(G) -> None:
    u, v, k = next(iter(G.edges(keys=True)))
    G.edges[u, v, k]["length"] = -50.0


def _no_length(G) -> None:
    """Both directions of the street between grid nodes 1003 and 1004 lose their length."""
    for u, v in ((1003, 1004), (1004, 1003)):
        G.edges[u, v, 0].pop("length")


def _gpkg_two_layers(tmp: Path) -> Path:
    f = synth.write_area(tmp / "area")
    synth.candidates().to_file(f / "sites.gpkg", layer="sites_2030", engine="pyogrio")
    synth.candidates().iloc[:2].to_file(f / "sites.gpkg", layer="sites_2025", engine="pyogrio")
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"candidates.geojson"', '"sites.gpkg"'), encoding="utf-8")
    return f


def _put(layer: str, col: str, row: int, value, fill) -> gpd.GeoDataFrame:
    """Layer with a new column ``col`` = ``fill`` except ``value`` in ``row``."""
    g = synth.LAYER_FUNCS[layer]()
    g[col] = [value if i == row else fill for i in range(len(g))]
    return g


def _toml_dir(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area", policy=None if name == "area.toml" else name)
        if name == "area.toml":
            (f / "area.toml").unlink()
        (f / name).mkdir()
        return f
    return build


VALIDATION_CASES = [
    Case("year_with_text", area(layers=L(candidates=_put("candidates", "available_year", 2, "2030年", "2026"))),
         DataError, "candidates.geojson", ("K26",), "four-digit number, e.g. 2030", "available_year is not a year"),
    Case("year_as_date", area(layers=L(candidates=_put("candidates", "available_year", 3, "2030-01-01", "2026"))),
         DataError, "candidates.geojson", ("K28",), "not 日期", "available_year is a date, not a year"),
    Case("blank_fixed_cost", area(layers=L(candidates=_set("candidates", 4, "fixed_cost", None))),
         DataError, "candidates.geojson", ("K36",), "a blank is not read as 0", "fixed_cost is missing"),
    Case("huge_places", area(layers=L(institutions=_set("institutions", 1, "places", 1e20))),
         DataError, "institutions.geojson", ("I2",), "places must be at most 100,000",
         "places is implausibly large"),
    Case("huge_max_places", area(layers=L(candidates=_set("candidates", 0, "max_places", 10**7))),
         DataError, "candidates.geojson", ("K16",), "split a larger site into several candidates",
         "max_places is implausibly large"),
    Case("unknown_bool_word", area(layers=L(communities=synth.communities().assign(is_new=["Y", "maybe"] + ["N"] * 10))),
         DataError, "communities.geojson", ("C11",), "write is_new as true/false or 是/否",
         "is_new is not a yes/no value ('maybe')"),
    Case("unknown_status", area(layers=L(institutions=synth.institutions().assign(status=["运营", "装修中", "", "停业"]))),
         DataError, "institutions.geojson", ("I2",), "a blank status means 运营", "unknown status (装修中)"),
    Case("street_id_elsewhere", area(layers=L(candidates=synth.candidates().assign(street_id=["S2"] + [""] * 7))),
         DataError, "candidates.geojson", ("K16 (street_id S2, stands in S1",), "correct street_id",
         "street_id names another 街道 than the one they stand in"),
    Case("population_in_wan", area(layers=L(streets=synth.streets().assign(population=[0.6, 0.7, 0.8, 0.9]))),
         DataError, "streets.geojson", ("S1", "S4"), "multiply a column in 万人 by 10000", "looks like 万人"),
    Case("infants_above_population", area(layers=L(communities=synth.communities().assign(infants=[5000] + [50] * 11))),
         DataError, "communities.geojson", ("C10",), "in persons (not 万人)", "infants (aged 0–3) exceed the population"),
    Case("gpkg_several_layers", _gpkg_two_layers, DataError, "sites.gpkg", ("sites_2030", "sites_2025"),
         'candidates = { file = "sites.gpkg", layer = "sites_2030" }', "the file has 2 layers"),
    Case("gpkg_unknown_layer",
         _edit_toml(lambda t: t.replace('"candidates.geojson"', '{ file = "candidates.geojson", layer = "x" }')),
         DataError, "candidates.geojson", (), "use one of candidates", "no layer 'x' in the file"),
    Case("network_negative_length", _graph(_neg_length), NetworkError, "walk.graphml", ("1000-2000",),
         "give edge length in metres ≥ 0", "negative, infinite or non-numeric length"),
    Case("network_node_without_xy", _graph(lambda G: G.nodes[1003].pop("x")), NetworkError, "walk.graphml",
         ("1003",), "numeric x and y", "network nodes without coordinates"),
    Case("network_no_crs", _graph(lambda G: G.graph.pop("crs")), NetworkError, "walk.graphml", (),
         "save it with osmnx", "the network has no CRS"),
    Case("network_missing_length", _graph(_no_length), NetworkError, "walk.graphml", ("1003-1004", "1004-1003"),
         "ox.distance.add_edge_lengths(G)", "2 of 1088 network edges have no length attribute"),
    Case("detour_factor_below_one", area(extra="detour_factor = 0.9"), DataError, "area.toml", (),
         "write e.g. detour_factor = 1.324", "detour_factor = 0.9 is not a detour factor (a number from 1 to 3"),
    Case("detour_factor_text", area(extra='detour_factor = "1.3"'), DataError, "area.toml", (),
         "write e.g. detour_factor = 1.324", "detour_factor = '1.3' is not a detour factor"),
    Case("policy_nan_target", _with_policy('base = "wuxi-2025"\nplaces_per_1000 = nan\n'), PolicyError, "city.toml",
         ("places_per_1000",), "not nan or inf", "places_per_1000 = nan is not a finite number"),
    Case("policy_zero_infant_share", _with_policy('base = "wuxi-2025"\ninfant_share = 0.0\n'), PolicyError,
         "city.toml", ("infant_share",), "e.g. 0.0277", "infant_share = 0.0 must be above 0"),
    Case("policy_is_directory", _toml_dir("city.toml"), PolicyError, "city.toml", (), "the .toml file itself",
         "is a folder, not a TOML file"),
    Case("area_toml_is_directory", _toml_dir("area.toml"), DataError, "area.toml", (), "the .toml file itself",
         "is a folder, not a TOML file"),
    Case("layer_is_directory", _edit_toml(lambda t: t.replace('"candidates.geojson"', '"."')), DataError,
         "area.toml [layers]", (), "name the file itself", "is a folder, not a layer file"),
    Case("layer_is_device", _edit_toml(lambda t: t.replace('"candidates.geojson"', '"/dev/zero"')), DataError,
         "zero", (), "name an ordinary layer file", "is not a regular file"),
    Case("file_name_too_long", _edit_toml(lambda t: t.replace('"candidates.geojson"', '"' + "候" * 200 + '.geojson"')),
         DataError, "候候候", (), "use a shorter file name", "cannot use the path"),
]
CASES += VALIDATION_CASES

@pytest.fixture
def built(request, tmp_path):
    case: Case = request.param
    return case, case.build(tmp_path)


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")} if folder.exists() else {}


def _check_message(case: Case, text: str) -> None:
    assert case.file in text, f"file {case.file!r} not named:\n{text}"
    for i in case.ids:
        assert i in text, f"id {i!r} not named:\n{text}"
    assert case.msg in text, f"problem {case.msg!r} not stated:\n{text}"
    assert "fix" in text and case.fix in text, f"fix {case.fix!r} not given:\n{text}"
    assert "Traceback" not in text


@pytest.mark.parametrize("built", CASES, ids=[c.id for c in CASES], indirect=True)
def test_load_area_raises_the_exact_error(built):
    case, folder = built
    with pytest.raises(case.error) as ei:
        tg.load_area(folder)
    assert type(ei.value) is case.error
    _check_message(case, str(ei.value))


@pytest.mark.parametrize("built", CASES, ids=[c.id for c in CASES], indirect=True)
def test_cli_validate_exit_code_no_traceback_no_output(built, capsys):
    case, folder = built
    before = _listing(folder)
    rc = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out.startswith("INVALID:")
    _check_message(case, out)
    assert "Traceback" not in err
    assert _listing(folder) == before  # nothing written into the input folder


@pytest.mark.parametrize("built", CASES, ids=[c.id for c in CASES], indirect=True)
def test_cli_analyze_leaves_no_partial_output(built, tmp_path, capsys):
    case, folder = built
    out_dir = tmp_path / "out"
    rc = main(["analyze", str(folder), "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert "Traceback" not in out + err
    assert case.fix in out + err
    assert not out_dir.exists() or not any(out_dir.rglob("*"))


@pytest.mark.parametrize("case_id", ["text_population", "gcj02_declared_wgs84"])
def test_cli_subprocess_exit_code(case_id, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    folder = case.build(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    r = subprocess.run([sys.executable, "-m", "tuoyu_geo.cli", "validate", str(folder)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stdout + r.stderr
    _check_message(case, r.stdout)
    r = subprocess.run([sys.executable, "-m", "tuoyu_geo.cli", "info", str(folder)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr and case.msg in r.stderr


# -------------------------------------------------------------------------- accepted inputs


def _gbk_shp(tmp: Path) -> Path:
    f = synth.write_area(tmp / "area")
    synth.communities().to_file(f / "xq.shp", engine="pyogrio", encoding="gbk")
    (f / "xq.cpg").unlink(missing_ok=True)
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"communities.geojson"', '"xq.shp"'), encoding="utf-8")
    return f


def _csv(encoding: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        f = synth.write_area(tmp / "area", suffix={"institutions": ".csv"})
        p = f / "institutions.csv"
        pd.read_csv(p).to_csv(p, index=False, encoding=encoding)
        return f
    return build


def _xlsx_merged(tmp: Path) -> Path:
    import openpyxl

    f = synth.write_area(tmp / "area", suffix={"institutions": ".csv"})
    df = pd.read_csv(f / "institutions.csv")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "托育机构名单"
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(df.columns))
    ws["A2"] = "基本信息"
    ws.merge_cells("A2:C2")
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))
    wb.save(f / "inst.xlsx")
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"institutions.csv"', '"inst.xlsx"'), encoding="utf-8")
    return f


def _utf16_tab(tmp: Path) -> Path:
    f = synth.write_area(tmp / "area", suffix={"institutions": ".csv"})
    p = f / "institutions.csv"
    pd.read_csv(p).to_csv(p, index=False, sep="\t", encoding="utf-16")
    return f


ACCEPTED = {"gbk_shapefile": _gbk_shp, "csv_bom": _csv("utf-8-sig"), "xlsx_merged_header": _xlsx_merged,
            "gbk_csv": _csv("gbk"), "utf16_tab_text": _utf16_tab}


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
@pytest.mark.filterwarnings("ignore:Column names longer than 10")
@pytest.mark.parametrize("name", list(ACCEPTED))
def test_messy_but_valid_inputs_load(name, tmp_path, capsys):
    folder = ACCEPTED[name](tmp_path)
    a = tg.load_area(folder)
    want = synth.LAYER_FUNCS["communities" if name == "gbk_shapefile" else "institutions"]()
    layer = a.communities if name == "gbk_shapefile" else a.institutions
    assert layer["name"].tolist() == want["name"].tolist()
    assert main(["validate", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK:") and "Traceback" not in out + err


def _shp(tmp: Path, written: str, cpg: str) -> Path:
    f = synth.write_area(tmp / "area")
    synth.communities().to_file(f / "xq.shp", engine="pyogrio", encoding=written)
    (f / "xq.cpg").write_text(cpg, encoding="ascii")
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"communities.geojson"', '"xq.shp"'), encoding="utf-8")
    return f


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
@pytest.mark.parametrize(("written", "cpg"), [("utf-8", "GBK"), ("gbk", "UTF-8"), ("utf-8", "UTF-8")])
def test_shapefile_with_a_wrong_cpg_is_decoded_from_its_bytes(written, cpg, tmp_path, caplog):
    """72. A UTF-8 .dbf whose .cpg says GBK (and the reverse) reads without mojibake, with a warning
    naming the .cpg; a correct .cpg gives no warning."""
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo"):
        a = tg.load_area(_shp(tmp_path, written, cpg))
    assert a.communities["name"].tolist() == synth.communities()["name"].tolist()
    assert ("xq.cpg says" in caplog.text) is (written.upper() != cpg.upper())


def test_gpkg_layer_named_in_area_toml(tmp_path):
    """73. ``candidates = { file = "sites.gpkg", layer = "sites_2025" }`` reads that layer (2 rows, not 8)."""
    f = _gpkg_two_layers(tmp_path)
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"sites.gpkg"', '{ file = "sites.gpkg", layer = "sites_2025" }'),
                 encoding="utf-8")
    assert list(tg.load_area(f).candidates.index) == ["K16", "K18"]


@pytest.mark.parametrize("enc", ["utf-8-sig", "gbk", "utf-16"])
def test_toml_files_with_bom_or_gbk_are_read(enc, tmp_path, capsys):
    """74. area.toml and the policy TOML saved with a BOM, as GBK or UTF-16 load (name and target kept)."""
    f = synth.write_area(tmp_path / "area", policy="city.toml")
    (f / "city.toml").write_bytes('base = "wuxi-2025"\ntitle = "某市"\nplaces_per_1000 = 5.5\n'.encode(enc))
    t = f / "area.toml"
    t.write_bytes(t.read_text(encoding="utf-8").replace('"synthetic"', '"某区"').encode(enc))
    a = tg.load_area(f)
    assert (a.name, a.policy.title, a.policy.places_per_1000) == ("某区", "某市", 5.5)
    assert main(["validate", str(f)]) == 0 and capsys.readouterr().out.startswith("OK:")


def test_excel_date_cell_as_year_is_rejected(tmp_path):
    """75. An XLSX whose available_year cell is a real Excel date (2030-01-01) is an error naming
    the file, the site and the fix — never "available now"."""
    import datetime

    import openpyxl

    f = synth.write_area(tmp_path / "area", suffix={"candidates": ".csv"})
    df = pd.read_csv(f / "candidates.csv")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([*df.columns, "available_year"])
    for j, row in enumerate(df.itertuples(index=False)):
        ws.append([*row, datetime.datetime(2030, 1, 1) if j == 1 else 2026])
    wb.save(f / "k.xlsx")
    t = f / "area.toml"
    t.write_text(t.read_text(encoding="utf-8").replace('"candidates.csv"', '"k.xlsx"'), encoding="utf-8")
    with pytest.raises(DataError) as ei:
        tg.load_area(f)
    (p,) = ei.value.problems
    assert p.file == "k.xlsx" and p.ids == ("K18",) and "is a date, not a year" in p.message and "日期" in p.fix


def test_point_on_a_shared_border_is_inside_either_neighbour(tmp_path):
    """76. A community exactly on the S1/S2 border (grid node 8, 6) loads: without street_id in S1
    (first in layer order), with street_id S2 in S2; one 8 m outside S2's east edge is "just
    outside", not blamed on GCJ-02."""
    c = synth.communities()
    c.loc[0, "geometry"] = Point(*synth.node_lonlat(8, 6))
    c.loc[1, "geometry"] = Point(*synth.node_lonlat(8, 6))
    c["street_id"] = ["", "S2"] + [""] * 10
    a = tg.load_area(synth.write_area(tmp_path / "a", layers={"communities": c}))
    assert a.communities.loc[["C10", "C11"], "street_id"].tolist() == ["S1", "S2"]
    c.loc[2, "geometry"] = Point(*synth.node_lonlat(12.05, 6))  # 0.05 × 162 m ≈ 8.1 m east of S2
    with pytest.raises(DataError) as ei:
        tg.load_area(synth.write_area(tmp_path / "b", layers={"communities": c}))
    text = str(ei.value)
    assert "just outside the 街道 polygons" in text and "C12 (8.1 m)" in text and "GCJ" not in text



def test_candidate_that_cannot_hold_a_class_is_warned(caplog):
    """77. Class sizes 10/15/18/20: max_places 5 (K16) and 21–24 (K18; totals 10, 15, 18, 20, 25 …)
    hold no whole class → one warning naming both; 10–35 (the others) hold one → not named."""
    k = synth.candidates()
    k["max_places"] = [5, 24] + [35] * 6
    k["min_places"] = [0, 21] + [10] * 6
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo"):
        tg.make_area(**{**L(), "candidates": k})
    assert "K16 (1–5), K18 (21–24)" in caplog.text and "K26" not in caplog.text


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
@pytest.mark.filterwarnings("ignore:Column names longer than 10")
@pytest.mark.parametrize("suffix", [".csv", ".shp"])
def test_contract_names_in_upper_case_are_read(suffix, tmp_path):
    """78. ArcGIS-style upper-case field names (COMMUNITY_ID, NAME, POPULATION; COMMUNITY_ when cut to
    10 characters by the Shapefile) load as the contract columns: each of the 4 街道 has communities of
    2000, 2100 and 2200 residents → 4 × 6300 = 25,200."""
    c = synth.communities()
    c = c.rename(columns={k: k.upper() for k in c.columns if k != "geometry"})
    a = tg.load_area(synth.write_area(tmp_path / "a", layers={"communities": c}, suffix={"communities": suffix}))
    assert a.communities["population"].sum() == 25200 and a.communities.index[0] == "C10"


# -------------------------------------------------------------------------- planning & output


@pytest.fixture(scope="module")
def grid_area(tmp_path_factory):
    return tg.load_area(synth.write_area(tmp_path_factory.mktemp("grid") / "area", network=True))


def test_street_without_candidate_under_one_puhui_rule(tmp_path):
    k = synth.candidates()
    a = tg.load_area(synth.write_area(tmp_path / "a", network=True, layers={"candidates": k[~k["site_id"].str.startswith("K4")]}))
    acc = tg.access.compute_access(a)
    with pytest.raises(InfeasiblePlanError) as ei:
        tg.optimize.plan_sites(a, acc, strict=True)
    assert type(ei.value) is InfeasiblePlanError and ei.value.exit_code == 3
    reasons = [r for r in ei.value.reasons if r[1] == "一街道一普惠"]
    (street, rule, why), = reasons
    assert "S4" in street and "no allowed candidate" in why
    assert "fix:" in str(ei.value)
    # best effort (the default): a plan for the others, S4 named under 一街道一普惠 with its reason
    plan = tg.optimize.plan_sites(a, acc)
    assert "S4" not in set(plan.sites["street_id"]) and plan.objective_values["penalty_one_puhui"] == 1


def test_budget_below_cheapest_required_site(grid_area):
    acc = tg.access.compute_access(grid_area)
    with pytest.raises(InfeasiblePlanError) as ei:
        tg.optimize.plan_sites(grid_area, acc, budget_wan=10, required=["K16"])
    assert any(rule in ("预算", "指定点位") for _, rule, _ in ei.value.reasons)
    assert "K16" in str(ei.value) and "fix: raise the budget" in str(ei.value)


def test_time_limit_too_short_gives_best_plan_not_exception():
    x = tg.datasets.shanghai_xuhui()
    acc = tg.access.compute_access(x)
    plan = tg.optimize.plan_sites(x, acc, time_limit_s=0.001, capacity_aware=True)
    assert plan.status in ("optimal", "time_limit")
    assert len(plan.sites) > 0
    if plan.status == "time_limit":
        assert plan.gap >= 0


def test_unwritable_output_folder_raises_output_error(grid_area, tmp_path):
    a = tg.assess(grid_area, plan=tg.PlanOptions())
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(OutputError) as ei:
        tg.export.export_plan(a, blocker / "out")
    assert type(ei.value) is OutputError and ei.value.exit_code == 5
    assert "a_file" in str(ei.value) and "fix:" in str(ei.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing partial left behind


def test_cli_unwritable_output_exit_5(tmp_path, capsys):
    folder = synth.write_area(tmp_path / "area", network=True)
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    rc = main(["analyze", str(folder), "--out", str(blocker / "out")])
    out, err = capsys.readouterr()
    assert rc == 5 and "Traceback" not in out + err and "fix" in err
    assert blocker.read_text(encoding="utf-8") == "x"


def test_cli_plan_infeasible_exit_3_no_output(tmp_path, capsys):
    k = synth.candidates()
    folder = synth.write_area(tmp_path / "a", network=True, layers={"candidates": k[~k["site_id"].str.startswith("K4")]})
    out_dir = tmp_path / "out"
    rc = main(["plan", str(folder), "--strict", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert rc == 3 and "一街道一普惠" in out + err and "Traceback" not in out + err
    assert not out_dir.exists() or not any(out_dir.rglob("*"))
    rc = main(["plan", str(folder), "--no-progress", "--out", str(out_dir)])
    out, _ = capsys.readouterr()
    assert rc == 0 and "✗ 一街道一普惠" in out and "无可用候选点" in out


def test_cli_solver_error_exit_4(monkeypatch, capsys):
    def boom(args):
        raise SolverError("no MILP solver found\n  fix: pip install highspy")
    monkeypatch.setattr("tuoyu_geo.cli.cmd_info", boom)
    assert main(["info"]) == 4
    out, err = capsys.readouterr()
    assert "SolverError" in err and "pip install highspy" in err and "Traceback" not in out + err


def test_cli_internal_error_exit_1(monkeypatch, capsys):
    def boom(args):
        return {}["missing"]
    monkeypatch.setattr("tuoyu_geo.cli.cmd_info", boom)
    assert main(["info"]) == 1
    out, err = capsys.readouterr()
    assert "internal error" in err and "tuoyu-geo-error.log" in err and "Traceback" not in out + err


def test_exit_codes_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("2 bad input data", "3 infeasible plan", "4 solver failure", "5 output not writable",
                 "1 internal error"):
        assert text in out


def test_catalogue_is_listed_in_readme():
    readme = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")
    for c in CASES:
        assert c.id in readme, c.id
    assert len(CASES) + len(ACCEPTED) >= 30


def test_errors_classes_and_exit_codes():
    assert (DataError.exit_code, PolicyError.exit_code, NetworkError.exit_code) == (2, 2, 2)
    assert (InfeasiblePlanError.exit_code, SolverError.exit_code, OutputError.exit_code) == (3, 4, 5)


CLI_COMMANDS = [["access"], ["analyze"], ["plan"], ["export"], ["map"], ["info"], ["validate"]]
CLI_CASES = ["duplicate_ids", "gcj02_declared_wgs84", "network_island", "policy_wrong_type", "no_crs"]


@pytest.mark.parametrize("command", CLI_COMMANDS, ids=[c[0] for c in CLI_COMMANDS])
@pytest.mark.parametrize("case_id", CLI_CASES)
def test_every_command_rejects_bad_data_cleanly(command, case_id, tmp_path, capsys):
    """51. every CLI command that reads an area → exit 2, no traceback, nothing written to --out."""
    case = next(c for c in CASES if c.id == case_id)
    folder = case.build(tmp_path)
    out = tmp_path / "out"
    argv = [*command, str(folder)]
    if command[0] == "map":
        argv += ["--out", str(out / "map.html")]
    elif command[0] not in ("info", "validate"):
        argv += ["--out", str(out)]
    rc = main(argv)
    o, e = capsys.readouterr()
    assert rc == 2, o + e
    assert "Traceback" not in o + e and case.fix in o + e
    assert not out.exists() or not any(out.rglob("*"))


NASTY = ["<script>alert('x')</script>", 'He said "托育" & left', "<img src=x onerror=alert(1)>"]


def test_user_strings_are_escaped_in_the_html_map(tmp_path, capsys):
    """52. names with <script>, quotes and & → the CLI map escapes them (no live markup)."""
    s, c, i, k = (f() for f in synth.LAYER_FUNCS.values())
    s["name"] = [NASTY[j % 3] + f"街道{j}" for j in range(len(s))]
    c["name"] = [NASTY[j % 3] for j in range(len(c))]
    i["name"] = [NASTY[(j + 1) % 3] for j in range(len(i))]
    k["name"] = [NASTY[(j + 2) % 3] for j in range(len(k))]
    folder = synth.write_area(tmp_path / "area", network=True,
                              layers={"streets": s, "communities": c, "institutions": i, "candidates": k})
    html = tmp_path / "out" / "map.html"
    rc = main(["map", str(folder), "--out", str(html), "--offline", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    text = html.read_text(encoding="utf-8")
    for raw in NASTY:
        assert raw not in text
    assert "<script>alert" not in text and "<img src=x" not in text
    # present, but HTML-escaped (possibly inside a JSON string: \u0026lt; is "&lt;")
    assert any(e in text for e in ("&lt;script&gt;", "\\u0026lt;script\\u0026gt;"))
    assert any(e in text for e in ("&amp;", "\\u0026amp;"))


def test_cli_plan_short_time_limit_reports_best_plan(tmp_path, capsys):
    """46 (CLI). ``plan --time-limit 0.001`` → exit 0 with the best plan found and its status/gap."""
    rc = main(["plan", str(tg.datasets.bundled_path()), "--capacity-aware", "--time-limit", "0.001",
               "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert rc == 0, err
    assert "optimal" in out or "time_limit" in out


def test_absurd_vertex_counts_are_refused_before_geometry_work():
    """A 街道 polygon densified to > 200,000 vertices (the box of S1, perimeter 4 × 4 cells ≈
    0.0240°, segmentized every 1e-7° → ≈ 240,000 vertices) is one DataError naming S1 and the
    simplification fix; the same polygon at 1e-6° (≈ 24,000 vertices) is accepted."""
    import shapely

    from tuoyu_geo.area.validate import MAX_GEOMETRY_VERTICES

    def area_with(step):
        st = synth.streets()
        st.loc[0, "geometry"] = shapely.segmentize(st.geometry.iloc[0], step)
        return st, int(shapely.get_num_coordinates(st.geometry.iloc[0]))

    st, n = area_with(1e-7)
    assert n > MAX_GEOMETRY_VERTICES
    with pytest.raises(DataError) as e:
        tg.make_area(streets=st, communities=synth.communities(), institutions=synth.institutions(),
                     candidates=synth.candidates())
    assert "too many vertices" in str(e.value) and "S1" in str(e.value) and "Simplify" in str(e.value)
    st, n = area_with(1e-6)
    assert 20_000 < n < MAX_GEOMETRY_VERTICES
    area = tg.make_area(streets=st, communities=synth.communities(), institutions=synth.institutions(),
                        candidates=synth.candidates())
    assert len(area.streets) == 4
