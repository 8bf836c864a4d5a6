"""Property-based tests (hypothesis): coordinate round trips and loaders that never crash."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import synth
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from tuoyu_geo import DataError, crs
from tuoyu_geo.area import LAYERS, StudyArea, make_area
from tuoyu_geo.loading import load_area

_GEOD = pyproj.Geod(ellps="WGS84")
FAST = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


def metres(lon1, lat1, lon2, lat2) -> float:
    return float(np.max(_GEOD.inv(lon1, lat1, lon2, lat2)[2]))


china_lon = st.floats(73.0, 135.0, allow_nan=False)
china_lat = st.floats(18.0, 53.5, allow_nan=False)
PAIRS = [("wgs84", "gcj02"), ("gcj02", "bd09"), ("wgs84", "bd09")]

# ------------------------------------------------------------------------------------ CRS


@FAST
@given(lon=china_lon, lat=china_lat, pair=st.sampled_from(PAIRS))
def test_round_trip_error_below_half_metre(lon, lat, pair):
    a, b = pair
    x, y = crs.convert([lon], [lat], a, b)
    x2, y2 = crs.convert(x, y, b, a)
    assert metres(lon, lat, x2, y2) < 0.5
    x3, y3 = crs.convert(*crs.convert([lon], [lat], b, a), a, b)
    assert metres(lon, lat, x3, y3) < 0.5


@FAST
@given(lon=china_lon, lat=china_lat)
def test_offsets_are_bounded(lon, lat):
    gx, gy = crs.wgs84_to_gcj02(lon, lat)
    assert 1.0 < metres(lon, lat, gx, gy) < 1200.0  # GCJ-02 moves every mainland point, by < 1.2 km
    bx, by = crs.gcj02_to_bd09(gx, gy)
    assert 200.0 < metres(gx, gy, bx, by) < 1500.0


@FAST
@given(lon=st.floats(-180, 180), lat=st.floats(-90, 90), pair=st.sampled_from(PAIRS))
def test_outside_china_is_identity(lon, lat, pair):
    assume(bool(crs.out_of_china(lon, lat)))
    for a, b in (pair, pair[::-1]):
        x, y = crs.convert([lon], [lat], a, b)
        assert (x[0], y[0]) == (lon, lat)


@FAST
@given(coords=st.lists(st.tuples(st.floats(121.3, 121.6), st.floats(31.0, 31.3)), min_size=3, max_size=8))
def test_geoseries_round_trip_keeps_shape(coords):
    geoms = [Point(coords[0]), LineString(coords)]
    if len(coords) >= 3:
        poly = Polygon(coords).convex_hull
        geoms.append(poly)
    gs = gpd.GeoSeries(geoms, crs="EPSG:4326")
    back = crs.convert_geoseries(crs.convert_geoseries(gs, "wgs84", "bd09"), "bd09", "wgs84")
    assert list(back.geom_type) == list(gs.geom_type)
    assert back.to_crs(32651).hausdorff_distance(gs.to_crs(32651)).max() < 0.5


# -------------------------------------------------------------------------------- loaders

text = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "" and "\x00" not in s)
NASTY = ["<script>alert(1)</script>", 'a"b\'c', "A & B", "徐汇\u3000小区", "=1+1", "nan", "None", "0"]
names = st.one_of(text, st.sampled_from(NASTY))


@FAST
@given(pops=st.lists(st.integers(0, 50_000), min_size=12, max_size=12),
       cnames=st.lists(names, min_size=12, max_size=12),
       ids=st.lists(st.one_of(text, st.integers(0, 10**9).map(str)), min_size=12, max_size=12, unique_by=str.strip),
       places=st.lists(st.integers(0, 200), min_size=4, max_size=4))
def test_random_valid_layers_load(pops, cnames, ids, places):
    assume(len({i.strip() for i in ids}) == 12)
    c = synth.communities()
    c["community_id"], c["name"], c["population"] = ids, cnames, pops
    i = synth.institutions()
    i["places"] = places
    area = make_area(streets=synth.streets(), communities=c, institutions=i, candidates=synth.candidates())
    assert list(area.communities.index) == [s.strip() for s in ids]
    assert area.communities["name"].tolist() == cnames
    assert area.communities["population"].sum() == sum(pops)
    assert area.institutions["places"].sum() == sum(places)


def _junk():
    return st.sampled_from(["abc", "12人", "-5", "-0.1", "inf", "-inf", "", None, np.nan, "∞", "1,000"])


CORRUPTIONS = ["drop_required", "duplicate_id", "blank_id", "bad_number", "no_geometry", "empty_geometry",
               "wrong_geometry", "invalid_polygon", "far_away", "swap_lonlat", "unknown_category",
               "unknown_kind", "empty_layer", "unknown_street_id", "min_gt_max", "null_category"]


def corrupt(layers: dict, op: str, layer: str, row: int, junk) -> bool:
    """Apply ``op`` in place; return False when it does not apply to ``layer``."""
    g = layers[layer]
    spec = LAYERS[layer]
    idc = spec["id"]
    row = row % len(g)
    if op == "drop_required":
        layers[layer] = g.drop(columns=spec["required"][row % len(spec["required"])])
    elif op == "duplicate_id":
        g.loc[(row + 1) % len(g), idc] = g.loc[row, idc]
    elif op == "blank_id":
        g[idc] = g[idc].astype(object)
        g.loc[row, idc] = junk if junk in ("", None) or junk is np.nan else "  "
    elif op == "bad_number":
        col = {"streets": "population", "communities": "population", "institutions": "places",
               "candidates": "max_places"}[layer]
        if junk in ("12人", "abc", "∞", "1,000", "", None) or junk is np.nan or str(junk).startswith("-"):
            g[col] = g[col].astype(object)
            g.loc[row, col] = junk
        else:
            return False
    elif op == "no_geometry":
        g.loc[row, "geometry"] = None
    elif op == "empty_geometry":
        g.loc[row, "geometry"] = Point()
    elif op == "wrong_geometry":
        p = g.geometry.iloc[row].representative_point()
        g.loc[row, "geometry"] = LineString([(p.x, p.y), (p.x + 1e-4, p.y)])
    elif op == "invalid_polygon":
        if layer != "streets":
            return False
        x0, y0, x1, y1 = g.geometry.iloc[row].bounds
        g.loc[row, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # bow-tie
    elif op == "far_away":
        if layer == "streets":
            return False
        g.loc[row, "geometry"] = Point(116.4, 39.9)
    elif op == "swap_lonlat":
        if layer == "streets":
            return False
        p = g.geometry.iloc[row]
        g.loc[row, "geometry"] = Point(p.y, p.x)
    elif op == "unknown_category":
        if layer != "institutions":
            return False
        g.loc[row, "category"] = "早教中心"
    elif op == "unknown_kind":
        if layer != "candidates":
            return False
        g.loc[row, "kind"] = "商场"
    elif op == "null_category":
        col = {"institutions": "category", "candidates": "kind"}.get(layer)
        if col is None:
            return False
        g[col] = g[col].astype(object)
        g.loc[row, col] = junk if junk is None or junk is np.nan else None
    elif op == "empty_layer":
        layers[layer] = g.iloc[0:0]
    elif op == "unknown_street_id":
        if layer == "streets":
            return False
        g["street_id"] = "S1"
        g.loc[row, "street_id"] = "XX9"
    elif op == "min_gt_max":
        if layer != "candidates":
            return False
        g["min_places"] = 0
        g.loc[row, "min_places"] = 999
    return True


@FAST
@given(op=st.sampled_from(CORRUPTIONS), layer=st.sampled_from(list(synth.LAYER_FUNCS)),
       row=st.integers(0, 20), junk=_junk())
def test_random_corruption_is_a_data_error(op, layer, row, junk):
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    assume(corrupt(layers, op, layer, row, junk))
    with pytest.raises(DataError) as ei:
        make_area(**layers)
    assert all(p.fix for p in ei.value.problems)
    assert all(p.file for p in ei.value.problems)


FORMATS = [".geojson", ".csv", ".gpkg", ".xlsx"]


@SLOW
@given(data=st.data(), fmt=st.sampled_from(FORMATS), layer=st.sampled_from(["communities", "institutions",
                                                                           "candidates"]))
def test_random_file_damage_never_crashes(tmp_path_factory, data, fmt, layer):
    folder = synth.write_area(tmp_path_factory.mktemp("fuzz"), suffix={layer: fmt})
    path = folder / f"{layer}{fmt}"
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        # a position drawn independently of the file's length: XLSX files differ in size between
        # runs (timestamps), and a length-dependent strategy makes Hypothesis' replay "flaky"
        pos = data.draw(st.integers(0, 2**20)) % max(len(raw), 1)
        if how == "truncate":
            del raw[pos:]
        elif how == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif how == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[pos:pos + data.draw(st.integers(1, 16))]
    path.write_bytes(bytes(raw))
    try:
        area = load_area(folder)
    except DataError as e:
        assert str(e)
    else:
        assert isinstance(area, StudyArea)


@SLOW
@given(pops=st.lists(st.one_of(st.integers(0, 10**6), st.floats(0, 1e6)), min_size=12, max_size=12),
       fmt=st.sampled_from([".geojson", ".csv", ".xlsx"]))
def test_random_valid_files_load(tmp_path_factory, pops, fmt):
    c = synth.communities()
    c["population"] = pops
    folder = synth.write_area(tmp_path_factory.mktemp("valid"), layers={"communities": c},
                              suffix={"communities": fmt})
    area = load_area(folder)
    np.testing.assert_allclose(area.communities["population"].to_numpy(), np.asarray(pops, float), rtol=1e-9)
    assert isinstance(area.communities.index, pd.Index) and area.communities.index.is_unique
