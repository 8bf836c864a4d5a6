"""Chinese map coordinate systems and the local metric CRS.

WGS-84 is what GPS and OpenStreetMap use.  GCJ-02 ("Mars coordinates") is the legally required
obfuscated datum of AMap (高德), Tencent and Google China; BD-09 is Baidu's further offset on top of
GCJ-02.  The offsets are 300–600 m in eastern China, so mixing them silently breaks a walking
analysis.  Forward transforms use the published formulas; inverses are solved iteratively (fixed
point on the forward transform) to well below 0.5 m.

Points outside mainland China's bounding box pass unchanged (as the official transform does).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pyproj
from shapely import transform as _shp_transform

from ._errors import DataError

__all__ = [
    "CRS_NAMES",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "convert_geoseries",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "parse_crs",
    "utm_crs",
    "wgs84_to_bd09",
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
