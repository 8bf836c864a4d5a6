"""Per-community access files (``tuoyu-geo access``): GeoPackage and CSV, written together."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from ..writer import FORMATS, atomic_paths

__all__ = ["ACCESS_FILES", "write_access"]

ACCESS_FILES = {"gpkg": "community_access.gpkg", "csv": "community_access.csv"}


def write_access(assessment, out_dir: str | Path, *, minutes: float = 15.0) -> dict[str, Path]:
    """Write ``community_access.gpkg`` (layer community_access, EPSG:4326) and ``community_access.csv``
    (UTF-8 with BOM, no geometry): the community layer's ids and population joined to every column
    of ``assessment.access.communities``.  Both files or neither (:func:`tuoyu_geo.writer.atomic_paths`)."""
    com = assessment.area.communities
    keep = [c for c in ("community_id", "name", "street_id", "population", "infants", "infants_estimated", "is_new")
            if c in com.columns]
    res = pd.DataFrame(com[keep]).join(assessment.access.communities)
    gdf = gpd.GeoDataFrame(res, geometry=com.geometry.to_numpy(), crs="EPSG:4326")
    out = Path(out_dir)
    paths = {k: out / v for k, v in ACCESS_FILES.items()}
    with atomic_paths([paths["gpkg"], paths["csv"]]) as (t_gpkg, t_csv):
        FORMATS["gpkg"].write(gdf, t_gpkg, layer="community_access")
        FORMATS["csv"].write(pd.DataFrame(gdf.drop(columns="geometry")), t_csv)
    return paths
