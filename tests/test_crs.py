"""Coordinate systems: published reference pairs, round trips, out-of-China, UTM zone."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from shapely.geometry import LineString, Point, Polygon

from tuoyu_geo import DataError, crs

_GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


# (wgs_lat, wgs_lng, gcj_lat, gcj_lng) — googollee/eviltransform, python/test.py and
# go/transform_test.go (TESTS: shanghai, shenzhen, beijing)
EVIL_WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
# Note: eviltransform's TESTS_bd pairs are not reproduced by eviltransform's own bd2wgs either
# (10–41 m apart; they look like outputs of Baidu's online API, which is not the public formula),
# so BD-09 is checked against wandergis/coordtransform and by exact round trips instead.
# wandergis/coordtransform test/app.js, input (116.404, 39.915):
WANDERGIS = {
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),  # closed-form approximate inverse
}


@pytest.mark.parametrize("wlat,wlng,glat,glng", EVIL_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(wlat, wlng, glat, glng):
    x, y = crs.wgs84_to_gcj02(wlng, wlat)
    assert float(x) == pytest.approx(glng, abs=1e-7)
    assert float(y) == pytest.approx(glat, abs=1e-7)


@pytest.mark.parametrize("wlat,wlng,glat,glng", EVIL_WGS_GCJ)
def test_gcj02_to_wgs84_exact_within_half_metre(wlat, wlng, glat, glng):
    x, y = crs.gcj02_to_wgs84(glng, glat)
    assert metres(x, y, wlng, wlat) < 0.5  # eviltransform's bound for gcj2wgs_exact


def test_wandergis_reference_pairs():
    x, y = crs.wgs84_to_gcj02(116.404, 39.915)
    assert (float(x), float(y)) == pytest.approx(WANDERGIS["wgs84_to_gcj02"], abs=1e-9)
    x, y = crs.gcj02_to_bd09(116.404, 39.915)
    assert (float(x), float(y)) == pytest.approx(WANDERGIS["gcj02_to_bd09"], abs=1e-9)
    x, y = crs.bd09_to_gcj02(116.404, 39.915)
    assert metres(x, y, *WANDERGIS["bd09_to_gcj02"]) < 0.5


def test_offset_size_in_shanghai():
    # GCJ-02 is 300–600 m off WGS-84 in eastern China; BD-09 adds another ~0.6–1 km
    x, y = crs.wgs84_to_gcj02(121.437, 31.188)
    assert 300 < metres(121.437, 31.188, x, y) < 700
    bx, by = crs.gcj02_to_bd09(x, y)
    assert 500 < metres(x, y, bx, by) < 1300


def test_round_trips_vectorised():
    rng = np.random.default_rng(0)
    lon = rng.uniform(100, 125, 500)
    lat = rng.uniform(20, 45, 500)
    for fwd, inv in ((crs.wgs84_to_gcj02, crs.gcj02_to_wgs84), (crs.gcj02_to_bd09, crs.bd09_to_gcj02),
                     (crs.wgs84_to_bd09, crs.bd09_to_wgs84)):
        x, y = inv(*fwd(lon, lat))
        assert x.shape == lon.shape
        assert metres(x, y, lon, lat).max() < 0.5
        x, y = fwd(*inv(lon, lat))
        assert metres(x, y, lon, lat).max() < 0.5


def test_outside_china_unchanged():
    lon = np.array([2.35, -74.0, 151.2, 139.69])
    lat = np.array([48.85, 40.7, -33.9, 35.69])  # Paris, New York, Sydney, Tokyo
    for name in ("wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_to_bd09", "bd09_to_gcj02",
                 "wgs84_to_bd09", "bd09_to_wgs84"):
        x, y = getattr(crs, name)(lon, lat)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)
    assert crs.out_of_china(lon, lat).all()
    assert not crs.out_of_china(121.4, 31.2)


def test_convert_dispatch_and_identity():
    x, y = crs.convert([121.4], [31.2], "WGS84", "gcj02")
    ex, ey = crs.wgs84_to_gcj02(121.4, 31.2)
    assert x[0] == pytest.approx(float(ex)) and y[0] == pytest.approx(float(ey))
    x, y = crs.convert([121.4], [31.2], "bd09", "bd09")
    assert (x[0], y[0]) == (121.4, 31.2)
    with pytest.raises(ValueError, match="cannot convert"):
        crs.convert([1.0], [1.0], "wgs84", "mars")


def test_convert_geoseries_all_vertices_and_no_mutation():
    poly = Polygon([(121.40, 31.15), (121.45, 31.15), (121.45, 31.20), (121.40, 31.15)])
    gs = gpd.GeoSeries([Point(121.43, 31.17), LineString([(121.4, 31.1), (121.5, 31.2)]), poly],
                       index=["a", "b", "c"], crs="EPSG:4326")
    before = gs.copy()
    out = crs.convert_geoseries(gs, "wgs84", "gcj02")
    assert list(out.index) == ["a", "b", "c"] and out.crs.to_epsg() == 4326
    assert gs.geom_equals(before).all()  # input untouched
    for g_in, g_out in zip(gs, out, strict=True):
        cin = np.array(g_in.exterior.coords if g_in.geom_type == "Polygon" else g_in.coords)
        cout = np.array(g_out.exterior.coords if g_out.geom_type == "Polygon" else g_out.coords)
        ex, ey = crs.wgs84_to_gcj02(cin[:, 0], cin[:, 1])
        np.testing.assert_allclose(cout, np.column_stack([ex, ey]), atol=1e-12)
    back = crs.convert_geoseries(out, "gcj02", "wgs84")
    assert back.geom_equals_exact(gs, tolerance=1e-8).all()
    gdf = gpd.GeoDataFrame({"v": [1, 2, 3]}, geometry=gs)
    out2 = crs.convert_geoseries(gdf, "wgs84", "bd09")
    assert isinstance(out2, gpd.GeoDataFrame) and list(out2["v"]) == [1, 2, 3]


@pytest.mark.parametrize("value,expected", [("wgs84", "wgs84"), ("WGS-84", "wgs84"), ("EPSG:4326", "wgs84"),
                                            ("GCJ02", "gcj02"), ("gcj-02", "gcj02"), ("bd09", "bd09"),
                                            ("BD-09", "bd09"), ("baidu", "bd09")])
def test_parse_crs_names(value, expected):
    assert crs.parse_crs(value) == expected


def test_parse_crs_epsg_and_errors():
    c = crs.parse_crs("EPSG:32651")
    assert isinstance(c, pyproj.CRS) and c.to_epsg() == 32651
    assert crs.parse_crs(4490).to_epsg() == 4490  # CGCS2000 as an integer code
    for bad in (None, "", "  "):
        with pytest.raises(DataError, match="no input coordinate system") as ei:
            crs.parse_crs(bad, file="area.toml")
        assert "area.toml" in str(ei.value) and 'crs = "wgs84"' in str(ei.value)
    with pytest.raises(DataError, match="unknown coordinate system 'marsxyz'"):
        crs.parse_crs("marsxyz")


@pytest.mark.parametrize("lon,lat,epsg", [(121.47, 31.23, 32651), (116.4, 39.9, 32650),
                                          (117.2, 39.1, 32650), (120.3, 31.5, 32651),
                                          (113.3, 23.1, 32649), (-74.0, -33.0, 32718)])
def test_utm_zone(lon, lat, epsg):
    assert crs.utm_crs(lon, lat).to_epsg() == epsg
