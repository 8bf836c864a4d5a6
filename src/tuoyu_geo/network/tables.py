"""Walk networks as tables: node and edge layers in a GeoPackage, or GeoParquet files, read
straight to arrays (pyogrio / pyarrow) and turned into a :class:`~tuoyu_geo.network.WalkNet`
without building a networkx graph.

Formats (written by :func:`save_network`, read by :func:`read_network_tables`):

* **GeoPackage** ``walk.gpkg`` with a layer ``edges`` (fields ``u``, ``v``, ``key`` optional,
  ``length`` in metres optional; LineString geometry from ``u`` to ``v``) and optionally a layer
  ``nodes`` (field ``osmid`` = node id, point geometry).  osmnx's ``save_graph_geopackage``
  writes this format.  A GeoPackage without an ``edges`` layer is read as road lines (noded).
* **GeoParquet** ``walk_edges.parquet`` (same columns) and optionally ``walk_nodes.parquet``
  next to it (any ``<name>_edges.parquet`` pairs with ``<name>_nodes.parquet``).

Without nodes, the nodes are the end points of the edge lines.  A file must give every edge its
``length`` (as GraphML must); :meth:`WalkNet.from_edges` computes missing ones from the lines
(great-circle in degrees, planar otherwise).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from .._errors import NetworkError, Problem
from ..writer import atomic_paths, atomic_write

log = logging.getLogger(__name__)

__all__ = ["TABLE_SUFFIXES", "edge_arrays", "is_table_network", "read_network_tables", "save_network"]

#: file suffixes read as network tables (a .gpkg only when it has an ``edges`` layer)
TABLE_SUFFIXES = (".gpkg", ".parquet")
_EARTH_R_M = 6_371_008.8  # mean Earth radius (osmnx's great-circle lengths use the same)


def _node_frame_xy(nodes: Any, crs: pyproj.CRS) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """(ids, x, y) of a node table: ids from the index (or ``osmid``), x/y from the point geometry
    (reprojected to ``crs``), else from ``x``/``y`` columns (in the network's CRS; the file readers
    read these instead of the geometry when a file has both)."""
    nf = nodes
    if "osmid" in getattr(nf, "columns", ()) and isinstance(nf.index, pd.RangeIndex):
        nf = nf.set_index("osmid")
    geom = getattr(nf, "geometry", None) if hasattr(nf, "geometry") and "geometry" in nf.columns else None
    if geom is not None:
        if geom.crs is not None and not pyproj.CRS.from_user_input(geom.crs).equals(crs):
            geom = geom.to_crs(crs)
        g = np.asarray(geom.values, dtype=object)
        x = np.full(len(g), np.nan)
        y = np.full(len(g), np.nan)
        ok = ~(shapely.is_missing(g) | shapely.is_empty(g))
        x[ok], y[ok] = shapely.get_x(g[ok]), shapely.get_y(g[ok])
    else:
        x = pd.to_numeric(nf["x"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(nf["y"], errors="coerce").to_numpy(float)
    return pd.Index(nf.index), x, y


def _lengths(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray,
             geographic: bool) -> np.ndarray:
    """Length (m) of every edge: its line, or the straight segment between its ends."""
    line = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = np.empty(len(u))
    if geographic:
        coords, owner = shapely.get_coordinates(geoms[line], return_index=True)
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        same = owner[1:] == owner[:-1]
        dlat, dlon = lat[1:] - lat[:-1], lon[1:] - lon[:-1]
        h = np.sin(dlat / 2) ** 2 + np.cos(lat[1:]) * np.cos(lat[:-1]) * np.sin(dlon / 2) ** 2
        seg = 2 * _EARTH_R_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
        out[line] = np.bincount(owner[1:][same], weights=seg[same], minlength=int(line.sum()))
        a, b = u[~line], v[~line]
        la, lb = np.radians(y[a]), np.radians(y[b])
        h = np.sin((lb - la) / 2) ** 2 + np.cos(la) * np.cos(lb) * np.sin(np.radians(x[b] - x[a]) / 2) ** 2
        out[~line] = 2 * _EARTH_R_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    else:
        out[line] = shapely.length(geoms[line])
        out[~line] = np.hypot(x[u[~line]] - x[v[~line]], y[u[~line]] - y[v[~line]])
    return out


def _drop_straight(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """None for the lines that are just the straight segment between their end nodes (the engine
    draws those from the node coordinates when it needs them), the other lines kept."""
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    ok = (u >= 0) & (v >= 0)
    two = ok & ~shapely.is_missing(geoms)
    two[two] = shapely.get_num_coordinates(geoms[two]) == 2
    if not two.any():
        return geoms
    a = shapely.get_coordinates(shapely.get_point(geoms[two], 0))
    b = shapely.get_coordinates(shapely.get_point(geoms[two], -1))
    tol = 1e-9 * (1.0 + np.abs(a).max())
    same = ((np.abs(a[:, 0] - x[u[two]]) <= tol) & (np.abs(a[:, 1] - y[u[two]]) <= tol)
            & (np.abs(b[:, 0] - x[v[two]]) <= tol) & (np.abs(b[:, 1] - y[v[two]]) <= tol))
    out = geoms.copy()
    out[np.flatnonzero(two)[same]] = None
    return out


def edge_arrays(edges: Any, nodes: Any = None, *, crs: Any = None, file: str = "network",
                compute_lengths: bool = True) -> dict[str, Any]:
    """The arguments of :meth:`WalkNet.from_arrays` for an edge table (and optional node table).

    See :meth:`WalkNet.from_edges`.  Every problem (no CRS, no edges, edge ends not among the
    nodes, nodes without coordinates, negative or non-finite lengths, and — unless
    ``compute_lengths`` — missing lengths) is raised together as one NetworkError naming ``file``.
    """
    e = edges
    if isinstance(e.index, pd.MultiIndex) and {"u", "v"} <= set(e.index.names):
        e = e.reset_index()
    crs = crs if crs is not None else getattr(e, "crs", None)
    problems: list[Problem] = []
    if crs is None:
        raise NetworkError([Problem(file, "the network has no CRS", (),
                                    "write the layers with a CRS (osmnx and save_network do)")])
    crs = pyproj.CRS.from_user_input(crs)
    if "u" not in e.columns or "v" not in e.columns:
        raise NetworkError([Problem(file, "the edge table has no u/v columns (the node ids of each edge's ends)",
                                    (), "write the edges with osmnx (save_graph_geopackage) or "
                                    "tuoyu_geo.network.save_network")])
    if len(e) == 0:
        raise NetworkError([Problem(file, "the network has no edges: nothing to walk on", (),
                                    "give a walk network covering the study area")])
    if "geometry" in e.columns:
        gs = e.geometry
        if getattr(gs, "crs", None) is not None and not pyproj.CRS.from_user_input(gs.crs).equals(crs):
            gs = gs.to_crs(crs)
        geoms = np.asarray(gs.values, dtype=object)
        geoms = np.where(shapely.is_empty(geoms), None, geoms)
    else:
        geoms = np.full(len(e), None, dtype=object)
    if nodes is not None:
        ids, x, y = _node_frame_xy(nodes, crs)
        u, v = ids.get_indexer(e["u"]), ids.get_indexer(e["v"])
        bad = (u < 0) | (v < 0)
        if bad.any():
            lost = pd.unique(np.concatenate([e["u"].to_numpy()[u < 0], e["v"].to_numpy()[v < 0]]))
            problems.append(Problem(file, "edge ends that are not in the node table", tuple(map(str, lost[:20])),
                                    "write the nodes and edges of the same graph"))
    else:
        miss = shapely.is_missing(geoms)
        if miss.any():
            raise NetworkError([Problem(file, "edges without a line and no node table to place their ends", (),
                                        "give a nodes layer (or file), or a line for every edge")])
        codes, uniq = pd.factorize(pd.concat([e["u"], e["v"]], ignore_index=True))
        ne = len(e)
        u, v = codes[:ne].astype(np.int64), codes[ne:].astype(np.int64)
        ends = np.vstack([shapely.get_coordinates(shapely.get_point(geoms, 0)),
                          shapely.get_coordinates(shapely.get_point(geoms, -1))])
        first = np.full(len(uniq), -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]  # first occurrence of every node
        x, y, ids = ends[first, 0], ends[first, 1], pd.Index(uniq)
    geoms = _drop_straight(geoms, x, y, u, v)
    noxy = ~(np.isfinite(x) & np.isfinite(y))
    if noxy.any():
        problems.append(Problem(file, "network nodes without coordinates (x/y missing or not a number)",
                                tuple(map(str, ids[noxy][:20])), "give every node a point geometry"))
    if len(ids) < 2:
        problems.append(Problem(file, f"the network has {len(ids)} node(s): nothing to walk on", (),
                                "give a walk network covering the study area"))
    if problems:
        raise NetworkError(problems)
    u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
    if not compute_lengths and ("length" not in e.columns or e["length"].isna().any()):
        miss = e["length"].isna().to_numpy() if "length" in e.columns else np.ones(len(e), bool)
        eu_, ev_ = e["u"].to_numpy()[miss], e["v"].to_numpy()[miss]
        raise NetworkError([Problem(file, "network edges without a length (metres)",
                                    tuple(f"{a}-{b}" for a, b in zip(eu_[:20], ev_[:20], strict=True)),
                                    "give every edge its length in metres (osmnx and save_network write it)")])
    if "length" in e.columns:
        length = pd.to_numeric(e["length"], errors="coerce").to_numpy(float)
        raw = e["length"]
        given = raw.notna().to_numpy()
        badlen = given & ~(np.isfinite(length) & (length >= 0))
        if badlen.any():
            eu_, ev_ = e["u"].to_numpy()[badlen], e["v"].to_numpy()[badlen]
            raise NetworkError([Problem(file, "network edges with a negative, infinite or non-numeric length",
                                        tuple(f"{a}-{b}" for a, b in zip(eu_[:20], ev_[:20], strict=True)),
                                        "give edge length in metres ≥ 0, or leave it out to have it computed")])
        if not given.all():
            length[~given] = _lengths(geoms[~given], x, y, u[~given], v[~given], crs.is_geographic)
    else:
        length = _lengths(geoms, x, y, u, v, crs.is_geographic)
    key = e["key"].to_numpy() if "key" in e.columns else None
    return {"crs": crs, "x": x, "y": y, "u": u, "v": v, "length": length, "node_ids": ids.to_numpy(),
            "key": key, "geometry": geoms}


# ------------------------------------------------------------------------------ files

def _nodes_path(path: Path) -> Path:
    """The node file of an edge file: ``walk_edges.parquet`` → ``walk_nodes.parquet``, ``x.parquet`` →
    ``x_nodes.parquet``."""
    stem = path.stem
    return path.with_name((stem[: -len("edges")] if stem.endswith("edges") else stem + "_") + "nodes" + path.suffix)


def _nodes_parquet(path: Path) -> Path | None:
    """The node file next to a GeoParquet edge file, if there is one."""
    cand = _nodes_path(path)
    return cand if cand.is_file() else None


def is_table_network(path: str | Path) -> bool:
    """True for a GeoParquet edge file, or a GeoPackage with an ``edges`` layer holding ``u``/``v``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return True
    if suffix != ".gpkg":
        return False
    import pyogrio

    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        if "edges" not in layers:
            return False
        fields = set(pyogrio.read_info(path, layer="edges")["fields"])
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the road-line reader
        return False
    return {"u", "v"} <= fields


def _read_gpkg(path: Path) -> tuple[Any, Any]:
    import pyogrio

    layers = {str(name) for name, _ in pyogrio.list_layers(path)}
    fields = set(pyogrio.read_info(path, layer="edges")["fields"])
    cols = [c for c in ("u", "v", "key", "length") if c in fields]
    edges = pyogrio.read_dataframe(path, layer="edges", columns=cols, use_arrow=True)
    nodes = None
    if "nodes" in layers:
        nfields = set(pyogrio.read_info(path, layer="nodes")["fields"])
        xy = {"x", "y"} <= nfields
        ncols = [c for c in ("osmid", "x", "y") if c in nfields]
        nodes = pyogrio.read_dataframe(path, layer="nodes", columns=ncols, use_arrow=True, read_geometry=not xy)
        if xy:  # x/y in the layer's CRS
            nodes.attrs["crs"] = pyogrio.read_info(path, layer="nodes")["crs"]
        if "osmid" not in nodes.columns:
            raise NetworkError([Problem(path.name, "the nodes layer has no osmid field (the node id)", (),
                                        "write the layers with osmnx or tuoyu_geo.network.save_network")])
    return edges, nodes


def _read_parquet(path: Path) -> tuple[Any, Any]:
    import geopandas as gpd
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    cols = [c for c in ("u", "v", "key", "length", "geometry") if c in names]
    edges = gpd.read_parquet(path, columns=cols) if "geometry" in names else pd.read_parquet(path, columns=cols)
    npath = _nodes_parquet(path)
    nodes = None
    if npath is not None:
        nnames = set(pq.read_schema(npath).names)
        if {"x", "y"} <= nnames:  # x/y in the network's CRS: no WKB to decode
            nodes = pd.read_parquet(npath, columns=[c for c in ("osmid", "x", "y") if c in nnames])
        else:
            nodes = gpd.read_parquet(npath, columns=[c for c in ("osmid", "geometry") if c in nnames])
    if edges.__class__.__name__ != "GeoDataFrame" and getattr(edges, "crs", None) is None:
        edges.attrs["crs"] = getattr(nodes, "crs", None)
    return edges, nodes


def read_network_tables(path: str | Path) -> Any:
    """Read a GeoPackage (``nodes`` + ``edges`` layers) or GeoParquet walk network to a WalkNet.

    Returns
    -------
    WalkNet
        In the file's CRS (reproject with :meth:`WalkNet.to_crs`); ``source`` is None.

    Raises
    ------
    NetworkError
        Unreadable file, or a network breaking the contract (names the file and the fix).
    """
    from .engine import WalkNet

    path = Path(path)
    try:
        edges, nodes = _read_gpkg(path) if path.suffix.lower() == ".gpkg" else _read_parquet(path)
    except NetworkError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise NetworkError(f"cannot read the network ({type(exc).__name__}: {exc})", file=path.name,
                           fix="give a GeoPackage with nodes/edges layers or a walk_edges.parquet "
                               "(tuoyu_geo.network.save_network writes both)") from None
    crs = getattr(edges, "crs", None) or edges.attrs.get("crs")
    return WalkNet.from_arrays(**edge_arrays(edges, nodes, crs=crs, file=path.name, compute_lengths=False))


def save_network(network: Any, path: str | Path) -> Path:
    """Write a walk network (networkx graph or WalkNet) as tables, atomically.

    ``.gpkg``: layers ``nodes`` (``osmid``, ``x``, ``y``, point) and ``edges`` (``u``, ``v``,
    ``key``, ``length``, line from u to v, empty for a straight segment); ``…_edges.parquet``:
    GeoParquet edges plus ``…_nodes.parquet`` next to it.  One row per street (a WalkNet keeps one direction of every
    two-way street; walking is both ways).

    Raises
    ------
    ValueError
        Another suffix.
    OutputError
        The file cannot be written.
    """
    import geopandas as gpd

    from .engine import WalkNet, as_net

    net = network if isinstance(network, WalkNet) else as_net(network)
    path = Path(path)
    suffix = path.suffix.lower()
    key = net.key
    if len(key) and all(isinstance(k, (int, np.integer)) for k in key[:1000]):
        key = key.astype(np.int64)
    ids = np.asarray(list(net.nodes))
    nodes = gpd.GeoDataFrame({"osmid": ids, "x": net.x, "y": net.y}, geometry=shapely.points(net.x, net.y),
                             crs=net.crs)
    edges = gpd.GeoDataFrame({"u": ids[net.eu], "v": ids[net.ev], "key": key, "length": net.length},
                             geometry=net.given_geoms, crs=net.crs)  # None: straight between the nodes
    if suffix == ".gpkg":
        with atomic_write(path) as tmp:
            nodes.to_file(tmp, layer="nodes", driver="GPKG", engine="pyogrio")
            edges.to_file(tmp, layer="edges", driver="GPKG", engine="pyogrio")
        return path
    if suffix == ".parquet":
        npath = _nodes_path(path)
        with atomic_paths([path, npath]) as (tmp, ntmp):
            edges.to_parquet(tmp)
            nodes.to_parquet(ntmp)
        return path
    raise ValueError(f"save_network writes .gpkg or .parquet, not {suffix!r}")
