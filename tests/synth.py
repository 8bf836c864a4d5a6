"""Synthetic study areas for the area/loading and bad-input tests (imported by the test modules).

A regular walk grid in Shanghai (121.43 °E, 31.17 °N) with cells of 0.0017° × 0.0013° (≈162 m ×
144 m); four 2×2-block 街道 whose boundaries run along grid lines; every community, institution
and candidate sits exactly on a grid node.  Everything is WGS-84 unless a test shifts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

LON0, LAT0 = 121.43, 31.17
DLON, DLAT = 0.0017, 0.0013
NGRID = 17  # nodes per side (0..16); streets span cols/rows 4..12


def node_lonlat(c: float, r: float) -> tuple[float, float]:
    return LON0 + c * DLON, LAT0 + r * DLAT


# street id -> (col0, row0, col1, row1)
STREET_CELLS = {"S1": (4, 4, 8, 8), "S2": (8, 4, 12, 8), "S3": (4, 8, 8, 12), "S4": (8, 8, 12, 12)}


def streets() -> gpd.GeoDataFrame:
    rows = []
    for i, (sid, (c0, r0, c1, r1)) in enumerate(STREET_CELLS.items()):
        x0, y0 = node_lonlat(c0, r0)
        x1, y1 = node_lonlat(c1, r1)
        rows.append({"street_id": sid, "name": f"第{i + 1}街道", "population": 6000 + 1000 * i,
                     "geometry": box(x0, y0, x1, y1)})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _interior(sid: str, k: int) -> tuple[float, float]:
    """k-th interior node (0..8) of street ``sid``."""
    c0, r0, _, _ = STREET_CELLS[sid]
    return node_lonlat(c0 + 1 + k % 3, r0 + 1 + k // 3)


def communities() -> gpd.GeoDataFrame:
    rows = []
    for sid in STREET_CELLS:
        for k in range(3):
            rows.append({"community_id": f"C{sid[1]}{k}", "name": f"{sid}小区{k}", "population": 2000 + 100 * k,
                         "geometry": Point(*_interior(sid, k))})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def institutions() -> gpd.GeoDataFrame:
    cats = {"S1": "公办", "S2": "普惠", "S3": "民办", "S4": "幼儿园托班"}
    rows = [{"institution_id": f"I{sid[1]}", "name": f"{sid}托育园", "category": cats[sid], "places": 20 + 5 * j,
             "geometry": Point(*_interior(sid, 4))} for j, sid in enumerate(STREET_CELLS)]
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def candidates() -> gpd.GeoDataFrame:
    rows = []
    for sid in STREET_CELLS:
        for k in (6, 8):
            rows.append({"site_id": f"K{sid[1]}{k}", "name": f"{sid}候选{k}", "kind": "社区服务中心",
                         "max_places": 35, "fixed_cost": 50.0, "cost_per_place": 1.0,
                         "geometry": Point(*_interior(sid, k))})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


LAYER_FUNCS: dict[str, Callable[[], gpd.GeoDataFrame]] = {
    "streets": streets, "communities": communities, "institutions": institutions, "candidates": candidates}


def grid_graph(*, cols: range | None = None, rows: range | None = None,
               island: tuple[float, float] | None = None) -> nx.MultiDiGraph:
    """osmnx-compatible walk grid (EPSG:4326) over the given node columns/rows.

    ``island`` = (col, row) adds a separate 2-node edge of ±0.1 cell around that grid position.
    """
    cols = cols if cols is not None else range(NGRID)
    rows = rows if rows is not None else range(NGRID)
    G = nx.MultiDiGraph(crs="EPSG:4326")
    nid = {}
    for c in cols:
        for r in rows:
            n = 1000 * (c + 1) + r
            nid[(c, r)] = n
            x, y = node_lonlat(c, r)
            G.add_node(n, x=x, y=y, street_count=4)

    def edge(a: int, b: int) -> None:
        ax, ay = G.nodes[a]["x"], G.nodes[a]["y"]
        bx, by = G.nodes[b]["x"], G.nodes[b]["y"]
        length = float(np.hypot((ax - bx) * 111320 * np.cos(np.radians(LAT0)), (ay - by) * 110574))
        for u, v in ((a, b), (b, a)):
            G.add_edge(u, v, osmid=len(G.edges) + 1, length=length, highway="residential", oneway=False,
                       reversed=False)

    for (c, r), n in nid.items():
        if (c + 1, r) in nid:
            edge(n, nid[(c + 1, r)])
        if (c, r + 1) in nid:
            edge(n, nid[(c, r + 1)])
    if island is not None:
        c, r = island
        for k, dc in enumerate((-0.1, 0.1)):
            x, y = node_lonlat(c + dc, r)
            G.add_node(900000 + k, x=x, y=y, street_count=1)
        edge(900000, 900001)
    return G


def write_graph(G: nx.MultiDiGraph, path: Path) -> Path:
    import osmnx as ox

    ox.save_graphml(G, path)
    return path


def write_layer(gdf: gpd.GeoDataFrame | pd.DataFrame, path: Path) -> Path:
    """Write a layer in the format given by the suffix (.geojson/.gpkg/.shp/.csv/.xlsx)."""
    suf = path.suffix.lower()
    if suf in (".csv", ".xlsx"):
        df = pd.DataFrame(gdf.drop(columns="geometry")) if "geometry" in gdf else pd.DataFrame(gdf)
        if "geometry" in gdf:
            df["lon"] = gdf.geometry.x
            df["lat"] = gdf.geometry.y
        if suf == ".csv":
            df.to_csv(path, index=False, encoding="utf-8")
        else:
            df.to_excel(path, index=False)
    else:
        driver = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}[suf]
        gdf.to_file(path, driver=driver, engine="pyogrio")
    return path


def write_area(folder: Path, *, layers: Mapping[str, Any] | None = None, crs: str | None = "wgs84",
               policy: str | None = "national-2025", network: Any = False, extra: str = "",
               suffix: Mapping[str, str] | None = None, omit: tuple[str, ...] = ()) -> Path:
    """Write a synthetic area folder with ``area.toml``; ``layers`` overrides layer frames (a
    GeoDataFrame, or a str written verbatim as the file's text), ``network`` = True for the full
    grid or a graph.  Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = dict(layers or {})
    suffix = dict(suffix or {})
    lines = ['name = "synthetic"']
    if crs is not None:
        lines.append(f'crs = "{crs}"')
    if policy is not None:
        lines.append(f'policy = "{policy}"')
    lines.append(extra)
    lines.append("[layers]")
    for key, fn in LAYER_FUNCS.items():
        if key in omit:
            continue
        path = folder / f"{key}{suffix.get(key, '.geojson')}"
        val = layers.get(key, None)
        if isinstance(val, str):
            path.write_text(val, encoding="utf-8")
        else:
            write_layer(val if val is not None else fn(), path)
        lines.append(f'{key} = "{path.name}"')
    if network is not False and network is not None:
        G = grid_graph() if network is True else network
        write_graph(G, folder / "walk.graphml")
        lines.append('network = "walk.graphml"')
    (folder / "area.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
