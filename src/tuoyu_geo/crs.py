"""Chinese map coordinate systems and the local metric CRS.

WGS-84 is what GPS and OpenStreetMap use.  GCJ-02 ("Mars coordinates") is the legally required
obfuscated datum of AMap (高德), Tencent and Google China; BD-09 is Baidu's further offset on top of
GCJ-02.  The offsets are 300–600 m in eastern China, so mixing them silently breaks a walking
analysis.  Forward transforms use the published formulas; inverses are solved iteratively (fixed
point on the forward transform) to well below 0.5 m.

Points outside mainland China's bounding box pass unchanged (as the official transform does).

Land-use review (用地审查) and the 国土空间规划 "一张图" use CGCS2000 (EPSG:4490), usually projected
in a 3° Gauss-Krüger zone: :func:`gk3_zone`, :func:`gk3_epsg`, :func:`wgs84_to_cgcs2000`,
:func:`cgcs2000_to_gk3`.  CGCS2000 and WGS-84 (G1762) differ by a few centimetres, below the accuracy
of any planning layer; PROJ has no published transformation between them and applies its
"ballpark" null transformation, so the CGCS2000 lon/lat equal the WGS-84 ones.  The transform is
still made explicitly with pyproj (:data:`CGCS2000_NOTE`), so a better one is picked up if PROJ gets one.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyproj
from shapely import transform as _shp_transform

from ._errors import DataError

__all__ = [
    "CGCS2000_EPSG",
    "CGCS2000_NOTE",
    "CRS_NAMES",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "cgcs2000_to_gk3",
    "convert",
    "convert_geoseries",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk3_crs",
    "gk3_epsg",
    "gk3_info",
    "gk3_to_cgcs2000",
    "gk3_zone",
    "out_of_china",
    "parse_crs",
    "transform_description",
    "utm_crs",
    "wgs84_to_bd09",
    "wgs84_to_cgcs2000",
    "wgs84_to_gcj02",
]

Array = npt.NDArray[np.float64]
CRS_NAMES = ("wgs84", "gcj02", "bd09")

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a point lies outside the rough mainland-China box (no offset applied there)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return ~((lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271))


def _tlat(x: Array, y: Array) -> Array:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlon(x: Array, y: Array) -> Array:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def _arr(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """WGS-84 → GCJ-02 (vectorised; degrees in, degrees out)."""
    lon, lat = _arr(lon, lat)
    dlat = _tlat(lon - 105.0, lat - 35.0)
    dlon = _tlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * sq) * np.pi)
    dlon = dlon * 180.0 / (_A / sq * np.cos(rad) * np.pi)
    out = out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → BD-09 (Baidu)."""
    x, y = _arr(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    th = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    out = out_of_china(x, y)
    return np.where(out, x, z * np.cos(th) + 0.0065), np.where(out, y, z * np.sin(th) + 0.006)


def _bd09_to_gcj02_approx(lon: Array, lat: Array) -> tuple[Array, Array]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    th = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(th), z * np.sin(th)


def _invert(forward, lon: Array, lat: Array, first: tuple[Array, Array], *, tol_deg: float = 1e-10,
            max_iter: int = 30) -> tuple[Array, Array]:
    """Solve forward(x) = (lon, lat) by fixed-point iteration starting at ``first``."""
    x, y = first
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        x, y = x - dx, y - dy
        if np.all(np.abs(dx) < tol_deg) and np.all(np.abs(dy) < tol_deg):
            break
    return x, y


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → WGS-84, iterative inverse (error ≪ 0.01 m)."""
    lon, lat = _arr(lon, lat)
    gx, gy = wgs84_to_gcj02(lon, lat)
    x, y = _invert(wgs84_to_gcj02, lon, lat, (2 * lon - gx, 2 * lat - gy))
    out = out_of_china(lon, lat)
    return np.where(out, lon, x), np.where(out, lat, y)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """BD-09 → GCJ-02, iterative inverse of :func:`gcj02_to_bd09`."""
    lon, lat = _arr(lon, lat)
    x, y = _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))
    out = out_of_china(lon, lat)
    return np.where(out, lon, x), np.where(out, lat, y)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """WGS-84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """BD-09 → WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_FUNCS = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}

CrsName = Literal["wgs84", "gcj02", "bd09"]


def parse_crs(value: object, *, file: str = "area.toml") -> str | pyproj.CRS:
    """Normalise a CRS setting: ``wgs84``/``gcj02``/``bd09`` (any case, also ``EPSG:4326``) or
    any EPSG/pyproj definition.  Raises :class:`DataError` when it is missing or unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError("no input coordinate system given", file=file,
                        fix='set crs = "wgs84" (GPS/OSM), "gcj02" (AMap/Tencent), "bd09" (Baidu) or an EPSG code')
    s = str(value).strip().lower().replace("-", "").replace("_", "")
    alias = {"wgs84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "gcj02": "gcj02",
             "gcj": "gcj02", "mars": "gcj02", "bd09": "bd09", "bd09ll": "bd09", "baidu": "bd09"}
    if s in alias:
        return alias[s]
    fix = 'use "wgs84", "gcj02", "bd09" or an EPSG code such as "EPSG:32651"'
    try:
        c = pyproj.CRS.from_user_input(int(s) if s.isdigit() else value)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        raise DataError(f"unknown coordinate system {value!r}", file=file, fix=fix) from None
    ell = c.ellipsoid
    if ell is None or not 6.3e6 < ell.semi_major_metre < 6.4e6:  # e.g. "Mars 2000" is a valid PROJ CRS
        raise DataError(f"unknown coordinate system {value!r} (not an Earth coordinate system: {c.name})",
                        file=file, fix=fix)
    return c


def convert(lon: npt.ArrayLike, lat: npt.ArrayLike, src: str, dst: str) -> tuple[Array, Array]:
    """Convert arrays of lon/lat between ``wgs84``, ``gcj02`` and ``bd09``."""
    src, dst = src.lower(), dst.lower()
    if src == dst:
        return _arr(lon, lat)
    try:
        return _FUNCS[(src, dst)](lon, lat)
    except KeyError:
        raise ValueError(f"cannot convert {src} -> {dst}; use one of {CRS_NAMES}") from None


def convert_geoseries(geoms, src: str, dst: str):
    """Convert every vertex of a GeoSeries/GeoDataFrame geometry between Chinese datums.

    The input must be in geographic degrees (EPSG:4326 axis order lon, lat).  Returns a new
    GeoSeries (or GeoDataFrame) with CRS EPSG:4326; the input is not modified.
    """
    if src == dst:
        return geoms.copy()

    def f(coords: Array) -> Array:
        x, y = convert(coords[:, 0], coords[:, 1], src, dst)
        return np.column_stack([x, y])

    out = geoms.copy()
    gs = out.geometry if hasattr(out, "geometry") else out
    new = _shp_transform(np.asarray(gs.values), f)
    if hasattr(out, "set_geometry"):
        out = out.set_geometry(type(gs)(new, index=gs.index, crs="EPSG:4326"))
    else:
        out = type(gs)(new, index=gs.index, crs="EPSG:4326")
    return out


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS-84 UTM zone CRS for a point (e.g. EPSG:32651 for Shanghai)."""
    zone = int((lon + 180.0) // 6.0) + 1
    zone = min(max(zone, 1), 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


# ------------------------------------------------------------------- CGCS2000 and Gauss-Krüger

#: EPSG code of CGCS2000 geographic coordinates (China Geodetic Coordinate System 2000)
CGCS2000_EPSG = 4490
#: what the exports say about the WGS-84 → CGCS2000 step (written into manifest.json)
CGCS2000_NOTE = ("CGCS2000 (EPSG:4490) 与 WGS-84 在厘米级一致：由 pyproj 显式转换，PROJ 无两者间的公布参数、"
                 "使用零偏移（ballpark）转换，经纬度数值与 WGS-84 相同。CGCS2000 and WGS-84 agree to a few "
                 "centimetres; the transform is made explicitly with pyproj, which applies its ballpark "
                 "(null) transformation, so the lon/lat values equal the WGS-84 ones.")
_GK3_ZONES = (25, 45)  # CGCS2000 3-degree zones with an EPSG code: CM 75°E (zone 25) … 135°E (zone 45)
_GK3_PREFIX_BASE, _GK3_CM_BASE = 4513, 4534  # EPSG:4513–4533 "zone 25–45", EPSG:4534–4554 "CM 75E–135E"


def gk3_zone(lon: float) -> int:
    """The 3° Gauss-Krüger zone of a longitude: n = floor(lon / 3 + 0.5), central meridian 3n°.

    Zone n covers 3n − 1.5° ≤ lon < 3n + 1.5° (a longitude on a border goes east).  Shanghai,
    121.4°E: 121.4 / 3 = 40.47 → zone 40, central meridian 120°E; Beijing, 116.4°E: 38.8 → zone 39
    (117°E); Urumqi, 87.6°E: 29.2 → zone 29 (87°E).

    Raises
    ------
    ValueError
        The zone has no CGCS2000 EPSG code (outside 73.5°E–136.5°E, i.e. zones 25–45).
    """
    zone = math.floor(float(lon) / 3.0 + 0.5)
    if not _GK3_ZONES[0] <= zone <= _GK3_ZONES[1]:
        raise ValueError(f"longitude {lon} is in 3-degree zone {zone}; CGCS2000 Gauss-Krüger zones have EPSG "
                         f"codes for zones {_GK3_ZONES[0]}–{_GK3_ZONES[1]} (73.5°E–136.5°E) only")
    return zone


def gk3_epsg(zone: int, *, zone_prefix: bool = True) -> int:
    """EPSG code of the CGCS2000 3° Gauss-Krüger CRS of ``zone`` (25–45).

    With ``zone_prefix`` (the default) the false easting carries the zone number,
    ``zone × 1 000 000 + 500 000`` m, so an easting says which zone it is in — "CGCS2000 / 3-degree
    Gauss-Kruger zone 40" is EPSG:4528 (4513 + zone − 25).  Without it the false easting is
    500 000 m — "CGCS2000 / 3-degree Gauss-Kruger CM 120E" is EPSG:4549 (4534 + zone − 25).
    """
    zone = int(zone)
    if not _GK3_ZONES[0] <= zone <= _GK3_ZONES[1]:
        raise ValueError(f"3-degree zone {zone} has no CGCS2000 EPSG code; use a zone from "
                         f"{_GK3_ZONES[0]} to {_GK3_ZONES[1]}")
    return (_GK3_PREFIX_BASE if zone_prefix else _GK3_CM_BASE) + zone - _GK3_ZONES[0]


def gk3_info(epsg: int) -> dict[str, int | bool]:
    """Zone, central meridian (°E), zone prefix and false easting (m) of a CGCS2000 3° GK EPSG code.

    >>> gk3_info(4528)
    {'zone': 40, 'central_meridian_deg': 120, 'zone_prefix': True, 'false_easting_m': 40500000}

    Raises
    ------
    ValueError
        ``epsg`` is not one of EPSG:4513–4554.
    """
    epsg = int(epsg)
    n = _GK3_ZONES[1] - _GK3_ZONES[0] + 1
    if _GK3_PREFIX_BASE <= epsg < _GK3_PREFIX_BASE + n:
        zone, prefix = epsg - _GK3_PREFIX_BASE + _GK3_ZONES[0], True
    elif _GK3_CM_BASE <= epsg < _GK3_CM_BASE + n:
        zone, prefix = epsg - _GK3_CM_BASE + _GK3_ZONES[0], False
    else:
        raise ValueError(f"EPSG:{epsg} is not a CGCS2000 3-degree Gauss-Krüger CRS (EPSG:4513–4554)")
    return {"zone": zone, "central_meridian_deg": 3 * zone, "zone_prefix": prefix,
            "false_easting_m": zone * 1_000_000 * prefix + 500_000}


def gk3_crs(zone: int, *, zone_prefix: bool = True) -> pyproj.CRS:
    """The pyproj CRS of :func:`gk3_epsg` (e.g. EPSG:4528 for zone 40)."""
    return pyproj.CRS.from_epsg(gk3_epsg(zone, zone_prefix=zone_prefix))


@functools.lru_cache(maxsize=64)
def _transformer(src: int, dst: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def transform_description(src: int, dst: int) -> str:
    """PROJ's description of the transformation pyproj uses from EPSG ``src`` to EPSG ``dst``."""
    return str(_transformer(int(src), int(dst)).description)


def wgs84_to_cgcs2000(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """WGS-84 (EPSG:4326) → CGCS2000 (EPSG:4490) lon/lat, with pyproj (see :data:`CGCS2000_NOTE`)."""
    x, y = _transformer(4326, CGCS2000_EPSG).transform(*_arr(lon, lat))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def cgcs2000_to_gk3(lon: npt.ArrayLike, lat: npt.ArrayLike, *, zone: int,
                    zone_prefix: bool = True) -> tuple[Array, Array]:
    """CGCS2000 lon/lat → (easting, northing) in metres in the 3° Gauss-Krüger ``zone``.

    Chinese surveying calls the northing X and the easting Y; this returns (easting, northing).
    A point on the central meridian has easting 500 000 m (plus ``zone`` × 1 000 000 with
    ``zone_prefix``) and a northing equal to the meridian arc length from the equator (scale 1).
    """
    epsg = gk3_epsg(zone, zone_prefix=zone_prefix)
    x, y = _transformer(CGCS2000_EPSG, epsg).transform(*_arr(lon, lat))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def gk3_to_cgcs2000(easting: npt.ArrayLike, northing: npt.ArrayLike, *, zone: int,
                    zone_prefix: bool = True) -> tuple[Array, Array]:
    """Inverse of :func:`cgcs2000_to_gk3`: (easting, northing) in metres → CGCS2000 lon/lat."""
    epsg = gk3_epsg(zone, zone_prefix=zone_prefix)
    x, y = _transformer(epsg, CGCS2000_EPSG).transform(*_arr(easting, northing))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
