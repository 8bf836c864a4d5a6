"""Building, reading, writing and downloading walk graphs (osmnx-compatible ``networkx.MultiDiGraph``).

Every graph returned has node ``x``/``y``, edge ``length`` in metres and ``graph["crs"]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyproj
import shapely

from .. import settings
from .._errors import DataError, NetworkError
from ..writer import atomic_write

log = logging.getLogger(__name__)

__all__ = ["NON_WALK_HIGHWAYS", "graph_crs", "graph_from_lines", "graph_from_overpass_json", "graph_from_place",
           "graph_from_polygon", "load_graph", "read_network", "save_graph"]

#: OSM highway values that are never walkable
NON_WALK_HIGHWAYS = frozenset({"motorway", "motorway_link", "construction", "proposed", "raceway", "bus_guideway"})


def _walkable(tags: dict) -> bool:
    if "highway" not in tags:
        return False
    if tags.get("highway") in NON_WALK_HIGHWAYS:
        return False
    if tags.get("foot") == "no" or tags.get("access") in ("no", "private") and tags.get("foot") not in ("yes", "designated"):
        return False
    return tags.get("area") != "yes"


# ------------------------------------------------------------------------------ Overpass JSON

def _overpass_elements(paths: list[str | Path]) -> tuple[dict[int, dict], dict[int, dict]]:
    """Nodes (lon/lat) and walkable ways of Overpass JSON files, merged by OSM id."""
    nodes: dict[int, dict] = {}
    ways: dict[int, dict] = {}
    for p in paths:
        p = Path(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NetworkError(f"cannot read Overpass JSON: {exc}", file=p.name,
                               fix="give the JSON saved from an Overpass query (osmnx cache format)") from None
        for el in data.get("elements", []):
            if el.get("type") == "node":
                nodes[el["id"]] = {"y": float(el["lat"]), "x": float(el["lon"]), "street_count": 0}
            elif el.get("type") == "way" and _walkable(el.get("tags", {})):
                ways[el["id"]] = el
    return nodes, ways


def graph_from_overpass_json(paths: str | Path | Iterable[str | Path], *, simplify: bool = True,
                             largest_component: bool = True) -> nx.MultiDiGraph:
    """Build an osmnx-compatible walk graph (EPSG:4326, ``length`` in metres) from Overpass JSON.

    Parameters
    ----------
    paths : path or iterable of paths
        Overpass JSON responses (``{"elements": [...]}``, as cached by osmnx).  Ways of several
        files are merged by OSM node id.
    simplify : bool
        Merge interstitial nodes with :func:`osmnx.simplify_graph`.
    largest_component : bool
        Keep only the largest weakly connected component.

    Returns
    -------
    networkx.MultiDiGraph

    Notes
    -----
    Motorways, ``foot=no``, ``access=no/private`` (unless foot is allowed) and area ways are
    dropped.  Every way is walkable in both directions (pedestrians ignore ``oneway``).
    """
    import osmnx as ox

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    nodes, ways = _overpass_elements(paths)
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for wid, w in ways.items():
        seq = [n for n in w.get("nodes", []) if n in nodes]
        tags = w.get("tags", {})
        attrs = {"osmid": wid, "highway": tags.get("highway", ""), "oneway": False, "reversed": False}
        if "name" in tags:
            attrs["name"] = tags["name"]
        for u, v in zip(seq[:-1], seq[1:], strict=False):
            if u == v:
                continue
            for a, b, rev in ((u, v, False), (v, u, True)):
                G.add_node(a, osmid=a, **nodes[a])
                G.add_node(b, osmid=b, **nodes[b])
                G.add_edge(a, b, **{**attrs, "reversed": rev})
    if G.number_of_edges() == 0:
        raise NetworkError("no walkable ways in the Overpass JSON", file=", ".join(Path(p).name for p in paths),
                           fix="query highway ways (network_type='walk') for the study area")
    G = ox.distance.add_edge_lengths(G)
    if simplify:
        G = ox.simplify_graph(G)
    if largest_component:
        G = ox.truncate.largest_component(G, strongly=False)
    log.info("walk graph: %d nodes, %d edges", G.number_of_nodes(), G.number_of_edges())
    return G


# ------------------------------------------------------------------------------ reading / writing

def graph_crs(G: nx.MultiDiGraph) -> pyproj.CRS:
    """The CRS of a graph (``G.graph["crs"]``); NetworkError when it has none."""
    crs = G.graph.get("crs")
    if crs is None:
        raise NetworkError("the graph has no 'crs' attribute", fix="build it with osmnx or tuoyu_geo.network")
    return pyproj.CRS.from_user_input(crs)


def ensure_lengths(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Add missing edge ``length`` (m): great-circle for a geographic graph, else planar."""
    import osmnx as ox

    if any("length" not in d for _, _, d in G.edges(data=True)):
        if graph_crs(G).is_geographic:
            G = ox.distance.add_edge_lengths(G)
        else:
            for u, v, d in G.edges(data=True):
                if "length" not in d:
                    g = d.get("geometry")
                    d["length"] = float(g.length) if g is not None else float(
                        np.hypot(G.nodes[u]["x"] - G.nodes[v]["x"], G.nodes[u]["y"] - G.nodes[v]["y"]))
    return G


def project(G: nx.MultiDiGraph, to_crs: Any | None) -> nx.MultiDiGraph:
    """Project to ``to_crs`` (None: the UTM zone of the graph when it is geographic)."""
    import osmnx as ox

    crs = graph_crs(G)
    if to_crs is None:
        return ox.project_graph(G) if crs.is_geographic else G
    if crs.equals(pyproj.CRS.from_user_input(to_crs)):
        return G
    return ox.project_graph(G, to_crs=to_crs)


def load_graph(path: str | Path, *, to_crs: Any | None = None) -> nx.MultiDiGraph:
    """Read an osmnx GraphML walk network.

    Parameters
    ----------
    path : str or Path
        GraphML file written by osmnx (``ox.save_graphml``) or :func:`save_graph`.
    to_crs : CRS-like, optional
        Project the graph to this CRS (e.g. ``"EPSG:32651"``).  Without it the graph is returned in
        its stored CRS.

    Returns
    -------
    networkx.MultiDiGraph
        With edge ``length`` in metres.

    Raises
    ------
    NetworkError
        The file is missing, not GraphML, or has no edges.
    """
    import osmnx as ox

    path = Path(path)
    if not path.exists():
        raise NetworkError(f"network file not found: {path}", file=path.name,
                           fix="check the path, or download one with `tuoyu-geo fetch-network PLACE --out FILE`")
    try:
        G = ox.load_graphml(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise NetworkError(f"cannot read GraphML ({type(exc).__name__}: {exc})", file=path.name,
                           fix="give a GraphML file written by osmnx (ox.save_graphml)") from None
    if G.number_of_edges() == 0:
        raise NetworkError("the network has no edges", file=path.name, fix="give a walk network covering the area")
    G = ensure_lengths(G)
    return G if to_crs is None else project(G, to_crs)


def read_network(path: str | Path, *, input_crs: str = "wgs84") -> nx.MultiDiGraph:
    """The walk network of a study area: osmnx GraphML, or road lines (GeoPackage/Shapefile/GeoJSON)
    noded into a graph by :func:`graph_from_lines`.

    ``input_crs`` is the datum of road-line coordinates (``network_crs`` in area.toml: ``wgs84`` for
    OpenStreetMap extracts, ``gcj02`` for AMap/Chinese GIS roads); GraphML keeps its own CRS.

    Raises
    ------
    NetworkError
        Missing or unreadable file, or no edges.
    DataError
        Road lines without lines or CRS.
    """
    from ..area import read_layer

    path = Path(path)
    try:
        found = path.is_file()
    except OSError:  # e.g. a file name too long for the file system
        found = False
    if not found:
        raise NetworkError(f"network file not found (or not a file): {str(path)[:200]}", file=path.name[:80],
                           fix="check layers.network in area.toml, or remove it to skip the network")
    try:
        if path.suffix.lower() == ".graphml":
            import osmnx as ox

            G = ox.load_graphml(path)
        else:
            G = graph_from_lines(read_layer(path, input_crs=input_crs))
    except (DataError, NetworkError):
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise NetworkError(f"cannot read the network ({type(exc).__name__}: {exc})", file=path.name,
                           fix="give an osmnx GraphML file or a road-line GeoPackage/Shapefile") from None
    if G.number_of_edges() == 0:
        raise NetworkError("the network has no edges", file=path.name, fix="give a walk network covering the area")
    from .checks import check_graph

    check_graph(G, file=path.name)
    return ensure_lengths(G)


def save_graph(G: nx.MultiDiGraph, path: str | Path) -> Path:
    """Write ``G`` as GraphML atomically (:func:`tuoyu_geo.writer.atomic_write`).

    Raises
    ------
    OutputError
        The file cannot be written (names the path and the fix).
    """
    import osmnx as ox

    path = Path(path)
    with atomic_write(path) as tmp:
        ox.save_graphml(G, tmp)
    return path


# ------------------------------------------------------------------------------ downloads

def _cached_download(key: str, fetch: Callable[[], nx.MultiDiGraph], *, cache: bool, to_crs: Any | None,
                     label: str) -> nx.MultiDiGraph:
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    fname = Path(settings.CACHE_DIR) / "graphs" / f"walk-{digest}.graphml"
    if cache and fname.exists():
        log.info("walk graph from cache %s", fname)
        return project(load_graph(fname), to_crs)
    try:
        G = fetch()
    except Exception as exc:  # noqa: BLE001 - osmnx raises many kinds (HTTP, geocoding, empty)
        raise NetworkError(f"cannot download the walk network of {label} ({type(exc).__name__}: {exc})",
                           file="OpenStreetMap", fix="check the internet connection and the place name (e.g. '徐汇区, 上海市, 中国'), "
                               "or load a saved GraphML with load_graph()") from None
    if cache:
        try:
            save_graph(G, fname)
        except OSError as exc:  # OutputError is an OSError: the download is still usable
            log.warning("cannot cache the walk graph at %s: %s", fname, exc)
    return project(G, to_crs)


def graph_from_place(name: str, *, cache: bool = True, to_crs: Any | None = None) -> nx.MultiDiGraph:
    """Download the OSM walk network of a place with osmnx (needs internet).

    Parameters
    ----------
    name : str
        Geocodable place, e.g. ``"徐汇区, 上海市, 中国"``.
    cache : bool
        Reuse / store the unprojected graph as GraphML under ``settings.CACHE_DIR / "graphs"``.
    to_crs : CRS-like, optional
        Target CRS; default the UTM zone of the place.

    Returns
    -------
    networkx.MultiDiGraph
        Projected walk graph (``network_type="walk"``) with edge ``length`` in metres.
    """
    import osmnx as ox

    return _cached_download(f"place:{name}", lambda: ox.graph_from_place(name, network_type="walk"),
                            cache=cache, to_crs=to_crs, label=repr(name))


def graph_from_polygon(poly: Any, *, crs: Any = "EPSG:4326", cache: bool = True,
                       to_crs: Any | None = None) -> nx.MultiDiGraph:
    """Download the OSM walk network inside a polygon with osmnx (needs internet).

    Parameters
    ----------
    poly : shapely Polygon or MultiPolygon
        Boundary, in ``crs``.
    crs : CRS-like
        CRS of ``poly`` (default WGS-84 longitude/latitude).
    cache, to_crs
        As in :func:`graph_from_place`.
    """
    import osmnx as ox

    if not pyproj.CRS.from_user_input(crs).equals(pyproj.CRS.from_epsg(4326)):
        tr = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        poly = shapely.ops.transform(tr.transform, poly)
    key = "polygon:" + hashlib.sha1(shapely.to_wkb(shapely.set_precision(poly, 1e-7))).hexdigest()
    return _cached_download(key, lambda: ox.graph_from_polygon(poly, network_type="walk"),
                            cache=cache, to_crs=to_crs, label="the polygon")


# ------------------------------------------------------------------------------ road lines

def _road_lines(roads: Any, crs: Any | None) -> tuple[np.ndarray, Any, Any, Any]:
    """(line geometries in the metric CRS, the kept frame or None, its geometries, the CRS)."""
    from ..crs import utm_crs

    gs = roads.geometry if hasattr(roads, "geometry") else roads
    if gs.crs is None:
        raise DataError("road lines have no CRS", file="roads", fix="set the CRS of the road layer (e.g. EPSG:4326)")
    frame = roads if hasattr(roads, "columns") else None
    if frame is not None and "highway" in frame.columns:
        keep = ~frame["highway"].astype(str).isin(NON_WALK_HIGHWAYS)
        frame, gs = frame[keep], gs[keep]
    if crs is None:
        if gs.crs.is_geographic:
            c = gs.to_crs("EPSG:4326").union_all().centroid
            crs = utm_crs(c.x, c.y)
        else:
            crs = gs.crs
    gs = gs.to_crs(crs)
    geoms = np.asarray(shapely.get_parts(gs.values[~(gs.isna() | gs.is_empty).values]))
    geoms = geoms[np.isin(shapely.get_type_id(geoms), (1, 2))]  # LineString / LinearRing
    if len(geoms) == 0:
        raise DataError("no road lines", file="roads", fix="give LineString/MultiLineString road centre-lines")
    return geoms, frame, gs, crs


def _piece_names(frame: Any, gs: Any, crs: Any, noded: np.ndarray) -> np.ndarray | None:
    """``name`` of the original line nearest to the middle of every noded piece (None: no names)."""
    if frame is None or "name" not in frame.columns:
        return None
    ex = frame[["name"]].assign(geometry=gs.values).set_geometry("geometry", crs=crs).explode(index_parts=False)
    tree, vals = shapely.STRtree(ex.geometry.values), ex["name"].astype(object).where(ex["name"].notna(), None).values
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    near = tree.query_nearest(mids, all_matches=False)
    name_of = np.full(len(noded), None, dtype=object)
    name_of[near[0]] = vals[near[1]]
    return name_of


def graph_from_lines(roads: Any, *, crs: Any | None = None, largest_component: bool = True,
                     tolerance_m: float = 0.01) -> nx.MultiDiGraph:
    """Build a walk graph from plain road centre-lines (Shapefile/GPKG roads not split at crossings).

    Lines are noded with ``shapely.union_all`` so that every crossing becomes a graph node, even
    where the two lines share no vertex.  Each noded piece becomes one edge in both directions.
    Plain lines carry no levels, so bridges and tunnels are joined to the streets they cross
    (on the bundled 徐汇区 edges this changes 0.4 % of the 15-minute coverage flags); drop such
    lines first, or use an OSM graph (:func:`graph_from_place`), where they stay separate.

    Parameters
    ----------
    roads : GeoDataFrame or GeoSeries
        LineString / MultiLineString geometries.  A ``highway`` column, if present, drops
        non-walkable classes (motorways …); ``name`` is kept on edges.
    crs : CRS-like, optional
        Metric CRS for the graph; default the UTM zone of the lines (when they are in degrees) or
        their own CRS (when already metric).
    largest_component : bool
        Keep only the largest connected component.
    tolerance_m : float
        Piece end points closer than this are merged into one node.

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-compatible (node ``x``/``y``, edge ``length`` m and ``geometry``, ``graph['crs']``).

    Raises
    ------
    DataError
        No line geometries, or no CRS.
    """
    geoms, frame, gs, crs = _road_lines(roads, crs)
    noded = shapely.get_parts(shapely.union_all(geoms))
    noded = noded[shapely.length(noded) > 0]
    allc = np.vstack([shapely.get_coordinates(shapely.get_point(noded, 0)),
                      shapely.get_coordinates(shapely.get_point(noded, -1))])
    keyc = np.round(allc / tolerance_m).astype(np.int64)
    _, first, inv = np.unique(keyc, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    nid_u, nid_v = inv[: len(noded)], inv[len(noded):]
    G = nx.MultiDiGraph(crs=pyproj.CRS.from_user_input(crs))
    for k, i in enumerate(first):
        G.add_node(int(k), x=float(allc[i, 0]), y=float(allc[i, 1]), street_count=0)
    name_of = _piece_names(frame, gs, crs, noded)
    for e, (u, v, g) in enumerate(zip(nid_u, nid_v, noded, strict=False)):
        u, v = int(u), int(v)
        attrs: dict[str, Any] = {"osmid": e, "highway": "", "oneway": False, "length": float(g.length)}
        if name_of is not None and name_of[e] is not None:
            attrs["name"] = name_of[e]
        G.add_edge(u, v, geometry=g, reversed=False, **attrs)
        G.add_edge(v, u, geometry=shapely.reverse(g), reversed=True, **attrs)
    for n, deg in G.degree():
        G.nodes[n]["street_count"] = deg // 2
    if largest_component and G.number_of_nodes():
        comp = max(nx.weakly_connected_components(G), key=len)
        G = G.subgraph(comp).copy()
    log.info("graph from lines: %d lines → %d nodes, %d edges", len(geoms), G.number_of_nodes(), G.number_of_edges())
    return G
