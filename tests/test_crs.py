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


# ------------------------------------------------------------------- CGCS2000 and Gauss-Krüger

# CGCS2000 ellipsoid (GB/T 2000 国家大地坐标系): a = 6378137 m, f = 1 / 298.257222101 (as GRS 80)
_A_CGCS, _F_CGCS = 6378137.0, 1 / 298.257222101


def _tm_snyder(lon, lat, lon0, false_easting):
    """Transverse Mercator (k0 = 1) by Snyder, *Map Projections — A Working Manual* (USGS PP 1395),
    eqs. 3-21, 4-20, 8-9, 8-10 — written out here, independent of PROJ; well under 1 cm within 1.5°
    of the central meridian."""
    e2 = _F_CGCS * (2 - _F_CGCS)
    ep2 = e2 / (1 - e2)
    phi, dl = np.radians(lat), np.radians(lon - lon0)
    n = _A_CGCS / np.sqrt(1 - e2 * np.sin(phi) ** 2)
    t, c, a = np.tan(phi) ** 2, ep2 * np.cos(phi) ** 2, dl * np.cos(phi)
    m = _A_CGCS * ((1 - e2 / 4 - 3 * e2**2 / 64 - 5 * e2**3 / 256) * phi
                   - (3 * e2 / 8 + 3 * e2**2 / 32 + 45 * e2**3 / 1024) * np.sin(2 * phi)
                   + (15 * e2**2 / 256 + 45 * e2**3 / 1024) * np.sin(4 * phi)
                   - (35 * e2**3 / 3072) * np.sin(6 * phi))
    x = n * (a + (1 - t + c) * a**3 / 6 + (5 - 18 * t + t**2 + 72 * c - 58 * ep2) * a**5 / 120)
    y = m + n * np.tan(phi) * (a**2 / 2 + (5 - t + 9 * c + 4 * c**2) * a**4 / 24
                               + (61 - 58 * t + t**2 + 600 * c - 330 * ep2) * a**6 / 720)
    return x + false_easting, y


@pytest.mark.parametrize("lon,zone,cm", [(121.4, 40, 120), (116.4, 39, 117), (87.6, 29, 87), (120.0, 40, 120),
                                         (121.4999, 40, 120), (121.5, 41, 123), (73.5, 25, 75), (136.49, 45, 135)])
def test_gk3_zone_by_hand(lon, zone, cm):
    """Shanghai 121.4°E: 121.4 / 3 = 40.47 → zone 40, CM 120°E; Beijing 116.4 / 3 = 38.8 → 39 (117°E);
    Urumqi 87.6 / 3 = 29.2 → 29 (87°E); a zone border (121.5 = 40.5 × 3) goes to the eastern zone."""
    assert crs.gk3_zone(lon) == zone and 3 * zone == cm
    assert crs.gk3_info(crs.gk3_epsg(zone))["central_meridian_deg"] == cm


def test_gk3_zone_outside_china():
    for lon in (73.49, 136.5, 2.35):
        with pytest.raises(ValueError, match="zones 25–45"):
            crs.gk3_zone(lon)
    with pytest.raises(ValueError, match="no CGCS2000 EPSG"):
        crs.gk3_epsg(46)
    with pytest.raises(ValueError, match="not a CGCS2000 3-degree"):
        crs.gk3_info(4555)


def test_gk3_epsg_codes_against_the_proj_database():
    """Zone 40 with the zone prefix is EPSG:4528 (4513 + 15), without it EPSG:4549 "CM 120E" (4534 + 15);
    every zone 25–45 checked against the name and false easting PROJ has for the code."""
    assert crs.gk3_epsg(40) == 4528 and crs.gk3_epsg(40, zone_prefix=False) == 4549
    assert crs.gk3_info(4528) == {"zone": 40, "central_meridian_deg": 120, "zone_prefix": True,
                                  "false_easting_m": 40_500_000}
    for zone in range(25, 46):
        for prefix in (True, False):
            c = crs.gk3_crs(zone, zone_prefix=prefix)
            assert c.name == (f"CGCS2000 / 3-degree Gauss-Kruger zone {zone}" if prefix
                              else f"CGCS2000 / 3-degree Gauss-Kruger CM {3 * zone}E")
            tm = {p.name: p.value for p in c.coordinate_operation.params}
            assert tm["Longitude of natural origin"] == 3 * zone and tm["Scale factor at natural origin"] == 1
            assert tm["False easting"] == (zone * 1e6 if prefix else 0) + 500_000
            assert c.geodetic_crs.to_epsg() == crs.CGCS2000_EPSG


def test_gk3_on_the_central_meridian_by_hand():
    """On the central meridian the easting is exactly the false easting (500 000 m, + 40 × 10⁶ with
    the zone prefix) and the northing is the meridian arc from the equator: 0 at the equator and
    3 320 113.398 m at 30°N on the CGCS2000/GRS 80 ellipsoid (published meridian-arc tables)."""
    e, n = crs.cgcs2000_to_gk3([120.0, 120.0], [0.0, 30.0], zone=40)
    assert e.tolist() == pytest.approx([40_500_000.0, 40_500_000.0], abs=1e-6)
    assert n[0] == pytest.approx(0.0, abs=1e-6) and n[1] == pytest.approx(3_320_113.398, abs=1e-3)
    e2, n2 = crs.cgcs2000_to_gk3(120.0, 30.0, zone=40, zone_prefix=False)
    assert float(e2) == pytest.approx(500_000.0, abs=1e-6) and float(n2) == pytest.approx(n[1], abs=1e-6)


def test_gk3_off_the_meridian_against_snyder_and_back():
    """Shanghai points 1.2–1.5° east of CM 120°E (and two west of CM 123°E): PROJ's eastings and
    northings agree with the Snyder series within 1 cm, are mirror images across the meridian, and
    the inverse gives back the lon/lat within 1e-9°."""
    lon = np.array([121.2, 121.4, 121.4436, 121.4999, 119.0])
    lat = np.array([31.0, 31.2, 31.18, 31.4, 30.0])
    e, n = crs.cgcs2000_to_gk3(lon, lat, zone=40)
    se, sn = _tm_snyder(lon, lat, 120.0, 40_500_000.0)
    np.testing.assert_allclose(e, se, atol=0.01)
    np.testing.assert_allclose(n, sn, atol=0.01)
    assert 40_600_000 < e[1] < 40_700_000  # 1.4° × 111 km × cos 31.2° ≈ 133 km east of the meridian
    we, wn = crs.cgcs2000_to_gk3(240.0 - lon, lat, zone=40)  # mirrored across 120°E
    np.testing.assert_allclose(we - 40_500_000, -(e - 40_500_000), atol=1e-6)
    np.testing.assert_allclose(wn, n, atol=1e-6)
    blon, blat = crs.gk3_to_cgcs2000(e, n, zone=40)
    np.testing.assert_allclose(blon, lon, atol=1e-9)
    np.testing.assert_allclose(blat, lat, atol=1e-9)
    e41, _ = crs.cgcs2000_to_gk3(121.4, 31.2, zone=41, zone_prefix=False)  # same point, CM 123°E
    assert float(e41) == pytest.approx(_tm_snyder(121.4, 31.2, 123.0, 500_000.0)[0], abs=0.01) and e41 < 500_000


def test_wgs84_to_cgcs2000_is_explicit_and_centimetre_level():
    lon, lat = np.array([121.4, 116.4, 87.6]), np.array([31.2, 39.9, 43.8])
    clon, clat = crs.wgs84_to_cgcs2000(lon, lat)
    assert metres(lon, lat, clon, clat).max() < 0.05  # the datums agree to a few centimetres
    assert "China Geodetic Coordinate System 2000" in crs.transform_description(4326, crs.CGCS2000_EPSG)
    assert "EPSG:4490" in crs.CGCS2000_NOTE and "WGS-84" in crs.CGCS2000_NOTE
