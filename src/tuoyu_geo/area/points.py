"""THE representative point of a feature (used by :meth:`StudyArea.points` and street assignment)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd

__all__ = ["representative_points"]


def representative_points(geoms: gpd.GeoSeries, metric_crs: Any) -> gpd.GeoSeries:
    """One point per feature, in ``metric_crs``.

    A point stays itself (reprojected); a polygon gives its ``representative_point()`` computed in
    ``metric_crs`` (always inside the polygon).  This is the one definition used for walking
    distances (:meth:`tuoyu_geo.area.StudyArea.points`) and for assigning features to 街道.

    Parameters
    ----------
    geoms : geopandas.GeoSeries
        Geometries with a CRS.
    metric_crs : CRS-like
        Projected CRS in metres.

    Returns
    -------
    geopandas.GeoSeries
        Same index as ``geoms``.
    """
    if len(geoms) == 0:
        return gpd.GeoSeries([], index=geoms.index, crs=metric_crs)
    g = geoms.to_crs(metric_crs)
    poly = (g.geom_type != "Point").to_numpy()
    if not poly.any():
        return g
    out = g.copy()
    out[poly] = g[poly].representative_point().values
    return out
