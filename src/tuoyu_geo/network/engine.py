"""The walk-network engine: :class:`WalkNet` (arrays, edge STRtree, CSR adjacency built once from a
graph), snapping points to edges (:class:`Snap`) and exact sparse cutoff walking distances.

Distance model
--------------
Every point p is attached to its nearest edge at its *attachment point* A(p) (``offset_m`` along the
edge); its *snap leg* is the straight line p → A(p), of length ``snap_m`` = s(p).  Between two points

    distance(p, q) = network(A(p), A(q)) + min(s(p) + s(q), |pq|)

* ``network(A(p), A(q))`` is the shortest walk on the graph between the two attachment points (edges
  both ways, parallel edges at their shortest; along the shared edge, ``|offset_p − offset_q|``, when
  both are on the same edge, else leaving each edge by one of its ends);
* the off-network part is both snap legs, or the straight line between the two points when that is
  shorter.  Two points at the same location have the same attachment point and ``|pq| = 0``, so
  they are **0 m apart**; two points side by side behind a street pay their straight-line gap
  instead of walking out to the street and back.  There is no tolerance and no cliff: the
  straight line takes over continuously as points come closer than their snap legs add up to.

Without the ``min`` (legs always) this is the shortest-path distance on the graph with every point
hung on its attachment point by its leg.  With it, it is still a metric: symmetric (undirected
graph) and the triangle inequality holds **exactly**.  Proof: ``network`` obeys it; for the
off-network part, ``min(s_a + s_c, |ac|) ≤ min(s_a + s_b, |ab|) + min(s_b + s_c, |bc|)`` in each of
the four cases, using ``|ac| ≤ |ab| + |bc|`` and ``s_a ≤ s_b + |ab|`` (s is the distance to the
network, which is 1-Lipschitz).  A pairwise rule "closer than ε → straight line" would not be a
metric: a chain a–b–c with 0.9 m steps, or two points 0.9 m apart snapping to different streets,
breaks the triangle inequality by hundreds of metres.  The straight line never joins two streets
(it replaces the legs of one pair only), so no distance depends on which other points are in the
call.  Ties between equidistant edges at a node do not matter: the attachment point is the node.
:func:`node_distances` (point → graph node) is snap leg + network.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from .. import settings
from .._errors import DataError, NetworkError
from .build import graph_crs
from .sweep import sweep

log = logging.getLogger(__name__)

__all__ = ["Snap", "WalkNet", "as_net", "distance_matrix", "node_distances", "snap_points"]


# ------------------------------------------------------------------------------ building

def _edge_table(G: nx.MultiDiGraph, idx: dict[Any, int]) -> tuple[np.ndarray, ...]:
    """(u index, v index, length, key, geometry) of every directed edge, in adjacency order."""
    # C arrays, not lists: no per-edge Python int/float objects are kept while building
    eu, ev, lens = array("q"), array("q"), array("d")
    keys: list[Any] = []
    geoms: list[Any] = []
    try:
        for u, nbrs in getattr(G, "_adj", G.adj).items():
            iu = idx[u]
            for v, kd in nbrs.items():
                iv = idx[v]
                for k, d in kd.items():
                    eu.append(iu)
                    ev.append(iv)
                    lens.append(d.get("length", np.nan))
                    keys.append(k)
                    geoms.append(d.get("geometry"))
    except TypeError:
        raise NetworkError("graph edges need a numeric 'length' (metres)",
                           fix="build the graph with osmnx or tuoyu_geo.network (they add 'length')") from None
    karr = np.empty(len(keys), dtype=object)
    karr[:] = keys
    garr = np.empty(len(geoms), dtype=object)
    garr[:] = geoms
    return (np.frombuffer(eu, dtype=np.int64).copy(), np.frombuffer(ev, dtype=np.int64).copy(),
            np.frombuffer(lens, dtype=float).copy(), karr, garr)


def _one_per_street(a_all: np.ndarray, b_all: np.ndarray, l_all: np.ndarray) -> np.ndarray:
    """Positions kept after dropping the reverse twin of every two-way street (same ends, same length)."""
    lo_, hi_ = np.minimum(a_all, b_all), np.maximum(a_all, b_all)
    o = np.lexsort((np.round(np.nan_to_num(l_all, nan=-1.0), 6), hi_, lo_))
    first = np.ones(len(o), dtype=bool)
    if len(o) > 1:
        lr = np.round(np.nan_to_num(l_all[o], nan=-1.0), 6)
        first[1:] = (lo_[o][1:] != lo_[o][:-1]) | (hi_[o][1:] != hi_[o][:-1]) | (lr[1:] != lr[:-1])
    return np.sort(o[first])


def _adjacency(eu: np.ndarray, ev: np.ndarray, length: np.ndarray, n: int) -> sp.csr_matrix:
    """Undirected CSR adjacency; parallel edges count with their shortest length; no self-loops."""
    loop = eu == ev
    r = np.concatenate([eu[~loop], ev[~loop]])
    c = np.concatenate([ev[~loop], eu[~loop]])
    w = np.concatenate([length[~loop], length[~loop]])
    if len(r):  # min length over parallel edges
        o = np.lexsort((w, c, r))
        r, c, w = r[o], c[o], w[o]
        first = np.ones(len(r), dtype=bool)
        first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        r, c, w = r[first], c[first], w[first]
    adj = sp.csr_matrix((w, (r, c)), shape=(n, n))
    adj.sort_indices()
    return adj


def _size(G: nx.MultiDiGraph) -> tuple[int, int]:
    """(nodes, adjacent node pairs): a cheap check that a graph did not change since a WalkNet was built."""
    return len(G), sum(map(len, getattr(G, "_adj", G.adj).values()))


class WalkNet:
    """A walk graph in array form, built once and then only read.

    Holds the node ids and coordinates, one edge per street (the reverse twin of a two-way
    street dropped) with its length, key and geometry, an STRtree of the edge lines, the
    undirected CSR adjacency (shortest parallel edge) and the node × edge incidence.

    Build it with :meth:`from_graph`; pass it to :func:`snap_points`, :func:`distance_matrix`,
    :func:`node_distances`, :func:`~tuoyu_geo.network.service_areas` and the checks to reuse it.
    The graph must not change afterwards (build a new WalkNet from a changed graph).

    Attributes
    ----------
    crs : pyproj.CRS
        CRS of the graph (metric for snapping and distances).
    nodes : numpy.ndarray
        Graph node ids (object array); position = internal node index.
    x, y : numpy.ndarray
        Node coordinates.
    eu, ev, length, key, geoms, geom_len : numpy.ndarray
        Per edge: end node indices, ``length`` (m), multigraph key, line geometry, geometry length.
    tree : shapely.STRtree
        Over :attr:`geoms`.
    adj : scipy.sparse.csr_matrix
        ``n_nodes × n_nodes`` undirected adjacency (metres).
    incidence : scipy.sparse.csr_matrix
        ``n_nodes × n_edges`` (1 where the node is an end of the edge).
    euclid_ratio : float
        Lower bound of ``length / geometry length`` (≤ 1), used to bound searches.
    source : networkx.MultiDiGraph
        The graph it was built from.
    """

    def __init__(self, G: nx.MultiDiGraph):
        self.crs = graph_crs(G)
        nodes = list(G.nodes)
        self.nodes = np.empty(len(nodes), dtype=object)
        self.nodes[:] = nodes
        nd = getattr(G, "_node", G.nodes)  # raw dicts: the views are ~5× slower on 10⁵ nodes
        self.x = np.fromiter((nd[n]["x"] for n in nodes), dtype=float, count=len(nodes))
        self.y = np.fromiter((nd[n]["y"] for n in nodes), dtype=float, count=len(nodes))
        a_all, b_all, l_all, keys, geoms = _edge_table(G, {n: i for i, n in enumerate(nodes)})
        keep = _one_per_street(a_all, b_all, l_all)
        self.eu, self.ev, self.length, self.key = a_all[keep], b_all[keep], l_all[keep], keys[keep]
        if len(self.length) == 0:
            raise NetworkError("the walk graph has no edges", fix="give a walk network covering the study area")
        if np.isnan(self.length).any() or (self.length < 0).any():
            raise NetworkError("graph edges need a non-negative 'length' (metres)",
                               fix="build the graph with osmnx or tuoyu_geo.network (they add 'length')")
        self.geoms = self._lines(geoms[keep])
        self.geom_len = shapely.length(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        # lower bound network/Euclidean (edge lengths may be a bit shorter than projected geometry)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.geom_len > 0, self.length / self.geom_len, np.inf)
        self.euclid_ratio = float(min(1.0, np.min(ratio))) if len(ratio) else 1.0
        n, ne = len(nodes), len(self.length)
        self.adj = _adjacency(self.eu, self.ev, self.length, n)
        self.incidence = sp.csr_matrix((np.ones(2 * ne), (np.concatenate([self.eu, self.ev]),
                                                          np.tile(np.arange(ne), 2))), shape=(n, ne))
        self.xorder = np.argsort(self.x, kind="stable")
        self.xsorted = self.x[self.xorder]
        self.source = G
        self._size = _size(G)
        self._warned: set[tuple[float, tuple[str, ...]]] = set()  # far-point warnings already logged

    def _lines(self, geoms: np.ndarray) -> np.ndarray:
        """Edge geometries; straight lines between the end nodes where the graph has none."""
        g = np.empty(len(geoms), dtype=object)
        g[:] = list(geoms)
        missing = np.array([x is None for x in g], dtype=bool)
        if missing.any():
            a, b = self.eu[missing], self.ev[missing]
            pts = np.stack([np.stack([self.x[a], self.y[a]], 1), np.stack([self.x[b], self.y[b]], 1)], 1)
            g[missing] = shapely.linestrings(pts)
        return g

    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph) -> WalkNet:
        """Build the engine of a projected walk graph (edge ``length`` in metres).

        Raises
        ------
        NetworkError
            No ``crs`` attribute, no edges, or edges without a non-negative numeric ``length``.
        """
        return cls(G)

    @classmethod
    def from_area(cls, area: Any) -> WalkNet:
        """Build the engine of a study area's walk graph (``area.graph``).

        Raises
        ------
        NetworkError
            The area has no walk network (names the area and how to add one).
        """
        if area.graph is None:
            raise NetworkError(f"study area {area.name!r} has no walk network",
                               fix="add layers.network (GraphML or road lines) to area.toml, or download one with "
                                   "`tuoyu-geo fetch-network PLACE --out FILE`")
        return cls(area.graph)

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Number of edges kept (one per street direction pair)."""
        return len(self.length)

    def built_from(self, G: Any) -> bool:
        """True when this engine was built from the graph object ``G`` and ``G`` kept its size."""
        return G is self.source and _size(G) == self._size

    def __repr__(self) -> str:
        return f"WalkNet({self.n_nodes} nodes, {self.n_edges} edges, {self.crs.to_string()})"

    # -------------------------------------------------------------------- queries

    def nearest_edges(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the nearest edge of every point (x, y in :attr:`crs`) and the distance to it."""
        pts = shapely.points(x, y)
        idx, dist = self.tree.query_nearest(pts, return_distance=True, all_matches=False)
        order = np.argsort(idx[0], kind="stable")
        return idx[1][order], dist[order]

    def components(self) -> tuple[np.ndarray, np.ndarray]:
        """(component of every node, size of every component); component 0 is the largest."""
        _, lab = connected_components(self.adj, directed=False)
        sizes = np.bincount(lab)
        rank = np.empty(len(sizes), dtype=np.int64)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
        return rank[lab], np.sort(sizes)[::-1]

    def snap(self, points: Any, *, ids: Sequence[Any] | None = None,
             warn_m: float = settings.SNAP_WARN_M) -> Snap:
        """Attach points to their nearest edge; see :func:`snap_points`."""
        return _snap(self, points, ids=ids, warn_m=warn_m)

    def distance_matrix(self, origins: Any, destinations: Any, *, max_distance_m: float) -> sp.csr_matrix:
        """Walking distances within a cutoff; see :func:`distance_matrix`."""
        return distance_matrix(self, origins, destinations, max_distance_m=max_distance_m)

    def node_distances(self, points: Any, *, max_distance_m: float) -> tuple[sp.csr_matrix, np.ndarray]:
        """Walking distances from points to every node within a cutoff; see :func:`node_distances`."""
        return node_distances(self, points, max_distance_m=max_distance_m)


# ------------------------------------------------------------------------------ snapping

@dataclass(frozen=True, eq=False)
class Snap:
    """Points attached to their nearest walkable edge.

    Attributes
    ----------
    ids : pandas.Index
        Point ids (strings), in input order.
    u, v, key : numpy.ndarray
        The edge ``(u, v, key)`` of the graph each point is attached to.
    offset_m : numpy.ndarray
        Distance along the edge from ``u`` to the attachment point (edge ``length`` units, m).
    dist_u_m, dist_v_m : numpy.ndarray
        Along-edge distances from the attachment point to ``u`` and to ``v``
        (``dist_u_m + dist_v_m`` = edge length).
    snap_m : numpy.ndarray
        Straight-line distance point → attachment point (m).
    x, y : numpy.ndarray
        Attachment point coordinates (graph CRS).
    px, py : numpy.ndarray
        Coordinates of the points themselves (graph CRS).
    edge_index : numpy.ndarray
        Index of the edge in the WalkNet's edge table.
    net : WalkNet
        The engine the points were snapped with (a Snap is only valid with it).
    """

    ids: pd.Index
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray
    offset_m: np.ndarray
    dist_u_m: np.ndarray
    dist_v_m: np.ndarray
    snap_m: np.ndarray
    x: np.ndarray
    y: np.ndarray
    px: np.ndarray
    py: np.ndarray
    edge_index: np.ndarray
    net: WalkNet = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def edges(self) -> list[tuple[Any, Any, Any]]:
        """``(u, v, key)`` per point."""
        return list(zip(self.u, self.v, self.key, strict=False))

    def to_frame(self) -> pd.DataFrame:
        """One row per point: u, v, key, offset_m, dist_u_m, dist_v_m, snap_m, x, y."""
        return pd.DataFrame({"u": self.u, "v": self.v, "key": self.key, "offset_m": self.offset_m,
                             "dist_u_m": self.dist_u_m, "dist_v_m": self.dist_v_m, "snap_m": self.snap_m,
                             "x": self.x, "y": self.y}, index=self.ids)

    def take(self, positions: Sequence[int] | np.ndarray) -> Snap:
        """A Snap of a subset of the points (by position)."""
        p = np.asarray(positions, dtype=np.int64)
        return Snap(ids=self.ids[p], **{f: getattr(self, f)[p] for f in (
            "u", "v", "key", "offset_m", "dist_u_m", "dist_v_m", "snap_m", "x", "y", "px", "py", "edge_index")},
            net=self.net)


def as_net(x: WalkNet | nx.MultiDiGraph, *points: Any) -> WalkNet:
    """The WalkNet to compute with: ``x`` itself, the WalkNet of a Snap in ``points`` built from the
    graph ``x``, or a new WalkNet of the graph ``x`` (for this call only)."""
    if isinstance(x, WalkNet):
        return x
    for p in points:
        if isinstance(p, Snap) and p.net.built_from(x):
            return p.net
    return WalkNet.from_graph(x)


def _as_points(points: Any, crs: pyproj.CRS) -> tuple[np.ndarray, pd.Index | None]:
    idx = None
    if hasattr(points, "geometry"):
        gs = points.geometry
        idx = gs.index
        if gs.crs is not None and not pyproj.CRS.from_user_input(gs.crs).equals(crs):
            gs = gs.to_crs(crs)
        geoms = np.asarray(gs.values, dtype=object)
    else:
        geoms = np.asarray(points, dtype=object)
    if len(geoms) and (shapely.is_missing(geoms) | shapely.is_empty(geoms)).any():
        raise DataError("points without geometry cannot be snapped to the network", file="points",
                        fix="give every community/institution/candidate a location")
    notpt = shapely.get_type_id(geoms) != 0 if len(geoms) else np.zeros(0, bool)
    if notpt.any():
        kinds = ", ".join(sorted(set(shapely.get_type_id(geoms[notpt]).astype(str))))
        raise DataError(f"only points can be snapped to the network (geometry type ids {kinds} given)",
                        file="points", fix="pass representative points: StudyArea.points(layer)")
    return geoms, idx


def _warn_far(net: WalkNet, ids: pd.Index, dist: np.ndarray, warn_m: float) -> None:
    """Log the points farther than ``warn_m`` from every edge (once per WalkNet and point set)."""
    far = dist > warn_m
    if not far.any():
        return
    far_ids = tuple(dict.fromkeys(str(i) for i in ids[far]))
    if (warn_m, far_ids) in net._warned:
        return
    net._warned.add((warn_m, far_ids))
    shown = ", ".join(far_ids[:20])
    more = f" … (+{len(far_ids) - 20} more)" if len(far_ids) > 20 else ""
    log.warning("%d point(s) are farther than %.0f m from any walkable edge (max %.0f m): %s%s",
                int(far.sum()), warn_m, float(dist[far].max()), shown, more)


def _snap(net: WalkNet, points: Any, *, ids: Sequence[Any] | None, warn_m: float) -> Snap:
    if net.crs.is_geographic:
        raise NetworkError("the walk graph is in degrees", fix="project it first (load_graph(path, to_crs=...))")
    geoms, idx = _as_points(points, net.crs)
    n = len(geoms)
    if ids is None:
        ids = idx if idx is not None else pd.RangeIndex(n)
    ids = pd.Index([str(i) for i in ids], dtype=object)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} points")
    if n == 0:
        e = np.empty(0)
        return Snap(ids=ids, u=np.empty(0, object), v=np.empty(0, object), key=np.empty(0, object), offset_m=e,
                    dist_u_m=e, dist_v_m=e, snap_m=e, x=e, y=e, px=e, py=e, edge_index=np.empty(0, np.int64), net=net)
    (pi, ei), dist = net.tree.query_nearest(geoms, return_distance=True, all_matches=False)
    order = np.argsort(pi, kind="stable")
    pi, ei, dist = pi[order], ei[order], dist[order]
    keep = np.ones(len(pi), dtype=bool)
    keep[1:] = pi[1:] != pi[:-1]
    pi, ei, dist = pi[keep], ei[keep].astype(np.int64), dist[keep]
    assert len(pi) == n and (pi == np.arange(n)).all()
    eg = net.geoms[ei]
    proj = shapely.line_locate_point(eg, geoms)
    gl = net.geom_len[ei]
    L = net.length[ei]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(gl > 0, proj / gl, 0.0) * L
    off = np.clip(off, 0.0, L)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(eg, proj))
    _warn_far(net, ids, dist, warn_m)
    pxy = shapely.get_coordinates(geoms)
    return Snap(ids=ids, u=net.nodes[net.eu[ei]], v=net.nodes[net.ev[ei]], key=net.key[ei], offset_m=off,
                dist_u_m=off, dist_v_m=L - off, snap_m=np.asarray(dist, dtype=float), x=xy[:, 0], y=xy[:, 1],
                px=pxy[:, 0], py=pxy[:, 1], edge_index=ei, net=net)


def snap_points(graph: WalkNet | nx.MultiDiGraph, points: Any, *, ids: Sequence[Any] | None = None,
                warn_m: float = settings.SNAP_WARN_M) -> Snap:
    """Attach points to the nearest walkable edge (interpolated point on the edge).

    Parameters
    ----------
    graph : WalkNet or networkx.MultiDiGraph
        Engine or projected walk graph (metric CRS, edge ``length`` m).  Edges are walkable both ways.
    points : GeoSeries, GeoDataFrame or array of shapely Points
        Points; a GeoSeries in another CRS is reprojected to the graph CRS; bare geometries must
        already be in it.  Polygons are refused: pass :meth:`StudyArea.points` (THE representative
        point).
    ids : sequence, optional
        Point ids; default the index of ``points`` (as strings) or positions.
    warn_m : float
        Log a warning naming the points farther than this from any edge (once per WalkNet and
        point set).

    Returns
    -------
    Snap
        Valid with the WalkNet it holds (``snap.net``); with a graph, pass the same graph object.
    """
    return _snap(as_net(graph), points, ids=ids, warn_m=warn_m)


def snap_of(net: WalkNet, pts: Any, *, graph: Any = None) -> Snap:
    """``pts`` snapped with ``net``.

    A Snap is accepted when it was made with this very WalkNet or — when the caller passed a
    networkx ``graph`` rather than a WalkNet — with any WalkNet built from that same, unchanged
    graph object (the edge tables are then identical).  Otherwise ValueError.
    """
    if isinstance(pts, Snap):
        if pts.net is net or (graph is not None and not isinstance(graph, WalkNet)
                              and pts.net.built_from(graph) and net.built_from(graph)):
            return pts
        raise ValueError("the Snap was made on another walk network (another graph or WalkNet); "
                         "snap the points with this one (net.snap(points))")
    return _snap(net, pts, ids=None, warn_m=settings.SNAP_WARN_M)


# ------------------------------------------------------------------------------ distances

def check_cutoff(max_distance_m: float) -> float:
    """The cutoff as a float; ValueError unless ≥ 0."""
    c = float(max_distance_m)
    if not c >= 0:
        raise ValueError(f"max_distance_m must be ≥ 0, got {max_distance_m!r}")
    return c


def distance_matrix(graph: WalkNet | nx.MultiDiGraph, origins: Any, destinations: Any, *,
                    max_distance_m: float) -> sp.csr_matrix:
    """Walking distances (m) between all origin/destination pairs within a cutoff.

    Parameters
    ----------
    graph : WalkNet or networkx.MultiDiGraph
        Engine or projected walk graph with edge ``length`` (m).  Edges are walked both ways;
        parallel edges count with their shortest length.
    origins, destinations : GeoSeries or Snap
        Points in (or reprojectable to) the graph CRS, or :func:`snap_points` results made with
        the same WalkNet (or, when ``graph`` is a graph, on that graph object).
    max_distance_m : float
        Cutoff (m).  Pairs farther apart are not stored.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(origins) × len(destinations)``; value = network distance between the two attachment
        points + the shorter of (both snap distances) and (the straight line between the two
        points): points at the same location are 0 m apart (the module's distance model).  Every
        pair within the cutoff is stored, zeros included (explicit zeros are kept); pairs beyond it
        are absent.

    Raises
    ------
    ValueError
        Negative cutoff, or a Snap made with another WalkNet.

    Notes
    -----
    Exact (same numbers as Dijkstra on the graph, with the along-edge parts of the two snapped
    edges).  Points on the same edge also get their direct along-edge distance.  Points whose
    snap legs alone exceed the cutoff still reach the points close to them.  One bounded
    ``scipy.sparse.csgraph.dijkstra`` per tile of nearby origins (or destinations, whichever are
    fewer: walking distances are symmetric), on the subgraph within the cutoff of the tile.
    """
    cutoff = check_cutoff(max_distance_m)
    net = as_net(graph, origins, destinations)
    o = snap_of(net, origins, graph=graph)
    d = snap_of(net, destinations, graph=graph)
    if len(d) < len(o):  # walking is symmetric: search from the smaller side
        (c, r, v), _ = sweep(net, d, cutoff, o)
    else:
        (r, c, v), _ = sweep(net, o, cutoff, d)
    out = sp.csr_matrix((v, (r, c)), shape=(len(o), len(d)))
    out.sort_indices()
    return out


def node_distances(graph: WalkNet | nx.MultiDiGraph, points: Any, *,
                   max_distance_m: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """Walking distances (m, snap distance included) from points to every graph node within a cutoff.

    Returns
    -------
    (csr_matrix, numpy.ndarray)
        ``len(points) × n_nodes`` distances (explicit zeros kept) and the node ids of the columns.
    """
    cutoff = check_cutoff(max_distance_m)
    net = as_net(graph, points)
    s = snap_of(net, points, graph=graph)
    _, (r, c, v) = sweep(net, s, cutoff, None, want_nodes=True)
    out = sp.csr_matrix((v, (r, c)), shape=(len(s), net.n_nodes))
    out.sort_indices()
    return out, net.nodes.copy()
