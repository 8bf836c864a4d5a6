"""The walk-network engine: :class:`WalkNet` (arrays, KD-tree snap index, CSR adjacency built once from a
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
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat
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
from .nearest import SegmentIndex
from .sweep import sweep

log = logging.getLogger(__name__)

__all__ = ["Snap", "WalkNet", "as_net", "distance_matrix", "node_distances", "snap_points"]


# ------------------------------------------------------------------------------ building

_NAN = float("nan")
_get_length = operator.methodcaller("get", "length", _NAN)
_item_length = operator.itemgetter("length")
_get_geometry = operator.itemgetter("geometry")
_get_x, _get_y = operator.itemgetter("x"), operator.itemgetter("y")
_LENGTH_FIX = "build the graph with osmnx or tuoyu_geo.network (they add 'length')"


def _objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of ``values`` (never a 2-D array of tuples)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _plain(values: Sequence[Any]) -> list[Any]:
    """``values`` as a list of plain Python objects (numpy scalars → int/float/str)."""
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


class _Positions:
    """Node id → position in ``nodes``, for many ids at once.

    When every id is an int (osmnx's OSM ids, synthetic graphs), the ids are read into an int64
    array by ``np.fromiter`` and looked up with a pandas hash index (or not at all when the ids
    are the positions 0 … n−1); otherwise one dict lookup per id (C-level ``map``).
    """

    def __init__(self, nodes: list[Any]):
        self._dict: dict[Any, int] | None = None
        self._index: pd.Index | None = None
        try:
            ids = np.fromiter(nodes, np.int64, len(nodes))
        except (TypeError, ValueError, OverflowError):
            ids = None
        if ids is None or ids.tolist() != nodes:  # not all ints (e.g. 1.5 read as 1, or "7" as 7)
            self._dict = dict(zip(nodes, range(len(nodes)), strict=True))
        elif not np.array_equal(ids, np.arange(len(ids))):
            self._index = pd.Index(ids)

    def __call__(self, ids: Any, count: int) -> np.ndarray:
        """Positions of ``count`` ids (an iterable of node ids of the graph)."""
        if self._dict is not None:
            return np.fromiter(map(self._dict.__getitem__, ids), np.int64, count)
        v = np.fromiter(ids, np.int64, count)
        return v if self._index is None else self._index.get_indexer(v)


def _graph_edges(G: nx.MultiDiGraph, nodes: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None,
                                                                 list, int]:
    """(u index, v index, length, {key: attributes} per adjacent pair — only when some pair has
    parallel edges, else None —, attribute dict per edge, number of adjacent pairs) of every
    directed edge, in adjacency order; see :func:`_pick` for the keys and geometries of chosen edges.

    C-level passes over the adjacency dicts (``itertools.chain``, ``map``, ``np.fromiter``): no
    Python bytecode runs per edge.  networkx deletes a pair's key dict with its last edge, so
    there are more edges than pairs exactly when some pair has parallel edges.
    """
    adj = getattr(G, "_adj", G.adj)
    nbrs = list(adj.values())
    pos = _Positions(nodes)
    deg = np.fromiter(map(len, nbrs), np.int64, len(nbrs))
    npairs = int(deg.sum())
    eu = np.repeat(pos(adj, len(nbrs)), deg)
    ev = pos(chain.from_iterable(nbrs), npairs)
    kds: list | None = None
    if G.is_multigraph():
        ds = list(chain.from_iterable(map(dict.values, chain.from_iterable(map(dict.values, nbrs)))))
        if len(ds) != npairs:  # parallel edges: repeat the pair's ends for each
            kds = list(chain.from_iterable(map(dict.values, nbrs)))
            mult = np.fromiter(map(len, kds), np.int64, npairs)
            eu, ev = np.repeat(eu, mult), np.repeat(ev, mult)
    else:
        ds = list(chain.from_iterable(map(dict.values, nbrs)))
    try:
        try:
            lens = np.fromiter(map(_item_length, ds), float, len(ds))
        except KeyError:  # an edge without a length: NaN, refused by _setup
            lens = np.fromiter(map(_get_length, ds), float, len(ds))
    except (TypeError, ValueError):
        raise NetworkError("graph edges need a numeric 'length' (metres)", fix=_LENGTH_FIX) from None
    return eu, ev, lens, kds, ds, npairs


def _pick(G: nx.MultiDiGraph, kds: list | None, ds: list, keep: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(keys, geometries) of the edges at positions ``keep``: geometries read only from the edges
    that have one; keys None (read from the graph when needed, :meth:`WalkNet.edge_keys`) when
    every adjacent pair of a multigraph has one edge, 0 for a graph without keys."""
    keep = keep.tolist()  # Python ints index lists ~3× faster than numpy ints
    if not G.is_multigraph():
        keys: np.ndarray | None = np.zeros(len(keep), dtype=object)
    elif kds is None:  # one edge per adjacent pair (the usual case): its key is the pair's only key
        keys = None
    else:
        allkeys = list(chain.from_iterable(kds))
        keys = _objects(list(map(allkeys.__getitem__, keep)))
    geoms = np.full(len(keep), None, dtype=object)
    has = np.fromiter(map(operator.contains, map(ds.__getitem__, keep), repeat("geometry")), bool, len(keep))
    if has.any():
        w = np.flatnonzero(has)
        at = np.asarray(keep, dtype=np.int64)[w].tolist()
        geoms[w] = np.fromiter(map(_get_geometry, map(ds.__getitem__, at)), object, len(w))
    return keys, geoms


def _one_per_street(a_all: np.ndarray, b_all: np.ndarray, l_all: np.ndarray, n: int | None = None) -> np.ndarray:
    """Positions kept after dropping the reverse twin of every two-way street (same ends, same length).

    The first edge (in input order) of every group with the same unordered ends and the same length
    rounded to 1e-6 m is kept; the positions are returned sorted.  One int64 ``argsort`` of the
    unordered ends; only runs of three or more edges between the same two nodes (parallel
    streets) are sorted by length as well.
    """
    n = int(max(a_all.max(initial=-1), b_all.max(initial=-1)) + 1) if n is None else n
    lohi = np.minimum(a_all, b_all) * np.int64(max(n, 1)) + np.maximum(a_all, b_all)
    lr = np.round(np.nan_to_num(l_all, nan=-1.0), 6)
    o = np.argsort(lohi, kind="stable")
    k = lohi[o]
    new_run = np.r_[True, k[1:] != k[:-1]] if len(k) else np.zeros(0, bool)
    run = np.cumsum(new_run) - 1
    size = np.bincount(run) if len(run) else np.zeros(0, np.int64)
    big = size[run] > 2
    if big.any():  # parallel streets: order the run by length too (stable: input order within a length)
        pos = np.flatnonzero(big)
        sub = o[pos]
        o[pos] = sub[np.lexsort((lr[sub], lohi[sub]))]
    r = lr[o]
    first = new_run.copy()
    first[1:] |= r[1:] != r[:-1]
    return np.sort(o[first])


def _adjacency(eu: np.ndarray, ev: np.ndarray, length: np.ndarray, n: int) -> sp.csr_matrix:
    """Undirected CSR adjacency; parallel edges count with their shortest length; no self-loops.

    Built directly in CSR form: one int64 ``argsort`` of ``row * n + col`` and a per-run minimum.
    """
    loop = eu == ev
    r = np.concatenate([eu[~loop], ev[~loop]])
    c = np.concatenate([ev[~loop], eu[~loop]])
    w = np.concatenate([length[~loop], length[~loop]])
    if len(r) == 0:
        return sp.csr_matrix((n, n))
    key = r * np.int64(n) + c
    o = np.argsort(key, kind="stable")
    key, w = key[o], w[o]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    w = np.minimum.reduceat(w, start)  # shortest of parallel edges
    key = key[start]
    rows, cols = key // n, key % n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    adj = sp.csr_matrix((w, cols, indptr), shape=(n, n))
    adj.has_sorted_indices = True
    return adj


def _size(G: nx.MultiDiGraph) -> tuple[int, int]:
    """(nodes, adjacent node pairs): a cheap check that a graph did not change since a WalkNet was built."""
    return len(G), sum(map(len, getattr(G, "_adj", G.adj).values()))


class WalkNet:
    """A walk graph in array form, built once and then only read.

    Holds the node ids and coordinates, one edge per street (the reverse twin of a two-way
    street dropped) with its length, key and geometry, a KD-tree of the edge segments, the
    undirected CSR adjacency (shortest parallel edge) and the node × edge incidence.

    Build it with :meth:`from_graph` (a networkx graph), :meth:`from_edges` (edge and node
    GeoDataFrames, e.g. read from a GeoPackage or Parquet file) or :meth:`from_arrays`; pass it to
    :func:`snap_points`, :func:`distance_matrix`, :func:`node_distances`,
    :func:`~tuoyu_geo.network.service_areas` and the checks to reuse it.  The graph must not
    change afterwards (build a new WalkNet from a changed graph).

    Building is vectorised: one pass of C-level comprehensions over a networkx graph's adjacency
    (none for tables), then numpy.  The snap index, the incidence and the x-order are built on
    first use; snapping needs no shapely line of a straight street (the segment between its end
    nodes, see :mod:`~tuoyu_geo.network.nearest`), and the edge lines and their STRtree are built
    only when asked for (straight lines from the node coordinates where an edge has no geometry,
    with ``shapely.linestrings``).

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
    snap_index : tuoyu_geo.network.nearest.SegmentIndex
        KD-tree of the edge segments (nearest edge of points; ties → lowest edge index).
    tree : shapely.STRtree
        Over :attr:`geoms` (built on first use only).
    adj : scipy.sparse.csr_matrix
        ``n_nodes × n_nodes`` undirected adjacency (metres).
    incidence : scipy.sparse.csr_matrix
        ``n_nodes × n_edges`` (1 where the node is an end of the edge).
    euclid_ratio : float
        Lower bound of ``length / geometry length`` (≤ 1), used to bound searches.
    source : networkx.MultiDiGraph or None
        The graph it was built from (None when built from tables or arrays).
    """

    def __init__(self, G: nx.MultiDiGraph):
        crs = graph_crs(G)
        nodes = list(G.nodes)
        nd = getattr(G, "_node", G.nodes)  # raw dicts: the views are ~5× slower on 10⁵ nodes
        x = np.fromiter(map(_get_x, nd.values()), float, len(nodes))
        y = np.fromiter(map(_get_y, nd.values()), float, len(nodes))
        a_all, b_all, l_all, kds, ds, npairs = _graph_edges(G, nodes)
        keep = _one_per_street(a_all, b_all, l_all, len(nodes))
        key, geoms = _pick(G, kds, ds, keep)
        self._setup(crs=crs, nodes=_objects(nodes), x=x, y=y, eu=a_all[keep], ev=b_all[keep], length=l_all[keep],
                    key=key, geoms=geoms, source=G, size=(len(nodes), npairs))

    def _setup(self, *, crs: Any, nodes: np.ndarray, x: np.ndarray, y: np.ndarray, eu: np.ndarray, ev: np.ndarray,
               length: np.ndarray, key: np.ndarray | None, geoms: np.ndarray | None, source: Any = None,
               adj: sp.csr_matrix | None = None, size: tuple[int, int] | None = None) -> None:
        """Store the (already de-duplicated) edge table and build the adjacency (unless given).

        ``nodes`` may be an object array or a plain int64/str array (turned into Python objects on
        first use of :attr:`nodes`); ``key`` None reads the keys from ``source`` when needed."""
        self.crs = crs if isinstance(crs, pyproj.CRS) else pyproj.CRS.from_user_input(crs)
        self._node_ids = nodes
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.eu, self.ev = np.asarray(eu, dtype=np.int64), np.asarray(ev, dtype=np.int64)
        self.length, self._key = np.asarray(length, dtype=float), key
        if len(self.length) == 0:
            raise NetworkError("the walk graph has no edges", fix="give a walk network covering the study area")
        if np.isnan(self.length).any() or (self.length < 0).any():
            raise NetworkError("graph edges need a non-negative 'length' (metres)", fix=_LENGTH_FIX)
        #: the given edge lines (None where an edge is a straight segment between its ends)
        self.given_geoms = geoms if geoms is not None else np.full(len(self.length), None, dtype=object)
        self.adj = adj if adj is not None else _adjacency(self.eu, self.ev, self.length, len(nodes))
        self.source = source
        self._size = (size or _size(source)) if source is not None else None
        self._warned: set[tuple[float, tuple[str, ...]]] = set()  # far-point warnings already logged

    @classmethod
    def _from_parts(cls, **parts: Any) -> WalkNet:
        """A WalkNet from a de-duplicated edge table (see :meth:`_setup`)."""
        self = cls.__new__(cls)
        self._setup(**parts)
        return self

    # ------------------------------------------------------------ lazily built parts

    @property
    def key(self) -> np.ndarray:
        """Multigraph key of every edge (object array)."""
        if self._key is None:
            self._key = self.edge_keys(np.arange(self.n_edges))
        return self._key

    def edge_keys(self, edges: np.ndarray) -> np.ndarray:
        """Keys of the edges at positions ``edges``.  Built from a multigraph whose adjacent pairs
        all have one edge, the keys are not read at build time: each is its pair's only key in the
        (unchanged) source graph, read here for the edges asked for."""
        edges = np.asarray(edges, dtype=np.int64)
        if self._key is not None:
            return self._key[edges]
        adj = getattr(self.source, "_adj", self.source.adj)
        us, vs = self.nodes[self.eu[edges]].tolist(), self.nodes[self.ev[edges]].tolist()
        return _objects(list(map(next, map(iter, map(operator.getitem, map(adj.__getitem__, us), vs)))))

    @cached_property
    def nodes(self) -> np.ndarray:
        """Graph node ids (object array of Python objects); position = internal node index."""
        ids = self._node_ids
        return ids if ids.dtype == object else _objects(ids.tolist())

    def edge_lines(self, edges: np.ndarray) -> np.ndarray:
        """Line geometries of the edges at positions ``edges``: the given line, or the straight
        segment between the end nodes (``shapely.linestrings``) where none was given."""
        edges = np.asarray(edges, dtype=np.int64)
        if "geoms" in self.__dict__:
            return self.geoms[edges]
        g = self.given_geoms[edges]
        missing = shapely.is_missing(g)
        if missing.any():
            a, b = self.eu[edges[missing]], self.ev[edges[missing]]
            pts = np.stack([np.stack([self.x[a], self.y[a]], 1), np.stack([self.x[b], self.y[b]], 1)], 1)
            g[missing] = shapely.linestrings(pts)
        return g

    @cached_property
    def geoms(self) -> np.ndarray:
        """Edge geometries; straight lines between the end nodes where none was given (built on
        first use: service areas need them, snapping and distances do not)."""
        return self.edge_lines(np.arange(self.n_edges))

    @cached_property
    def geom_len(self) -> np.ndarray:
        """Length of every edge geometry (CRS units); for a straight edge ``sqrt(dx·dx + dy·dy)``,
        GEOS's formula (bit-identical to ``shapely.length`` of the segment), no line built."""
        g = self.given_geoms
        given = ~shapely.is_missing(g)
        dx, dy = self.x[self.ev] - self.x[self.eu], self.y[self.ev] - self.y[self.eu]
        out = np.sqrt(dx * dx + dy * dy)
        if given.any():
            out[given] = shapely.length(g[given])
        return out

    @cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over :attr:`geoms` (built on first use; snapping uses :attr:`snap_index`)."""
        return shapely.STRtree(self.geoms)

    @cached_property
    def snap_index(self) -> SegmentIndex:
        """KD-tree of the edges' segments (:class:`~tuoyu_geo.network.nearest.SegmentIndex`): the
        nearest edge of points, exact, with numpy."""
        return SegmentIndex.of_edges(self.x, self.y, self.eu, self.ev, self.given_geoms)

    @cached_property
    def euclid_ratio(self) -> float:
        """Lower bound network/Euclidean (edge lengths may be a bit shorter than projected geometry)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.geom_len > 0, self.length / self.geom_len, np.inf)
        return float(min(1.0, np.min(ratio))) if len(ratio) else 1.0

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """``n_nodes × n_edges`` incidence (1 where the node is an end of the edge)."""
        ne = len(self.length)
        return sp.csr_matrix((np.ones(2 * ne), (np.concatenate([self.eu, self.ev]), np.tile(np.arange(ne), 2))),
                             shape=(self.n_nodes, ne))

    @cached_property
    def xorder(self) -> np.ndarray:
        """Node positions sorted by x."""
        return np.argsort(self.x, kind="stable")

    @cached_property
    def xsorted(self) -> np.ndarray:
        """Node x coordinates in :attr:`xorder`."""
        return self.x[self.xorder]

    def prepare(self) -> WalkNet:
        """Build every lazily built part that snapping and distances use now (snap index, geometry
        lengths, incidence, x-order); returns self.  Edge lines and their STRtree (:attr:`geoms`,
        :attr:`tree`) are only built when asked for (service areas)."""
        for name in ("snap_index", "geom_len", "euclid_ratio", "incidence", "xorder", "xsorted"):
            getattr(self, name)
        return self

    # ------------------------------------------------------------ constructors

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
    def from_arrays(cls, *, crs: Any, x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                    length: np.ndarray, node_ids: Sequence[Any] | None = None, key: Sequence[Any] | None = None,
                    geometry: Sequence[Any] | None = None) -> WalkNet:
        """Build the engine from node coordinates and an edge table of node positions.

        Parameters
        ----------
        crs : CRS-like
            CRS of ``x``/``y`` and the geometries (metric for snapping).
        x, y : array
            Node coordinates.
        u, v : array of int
            Edge ends as positions into ``x``/``y``; an edge listed both ways (with the same
            length) counts once; every edge is walkable both ways.
        length : array of float
            Edge length (m, ≥ 0).
        node_ids : sequence, optional
            Node ids (default the positions).
        key : sequence, optional
            Multigraph key per edge (default 0).
        geometry : sequence of shapely LineStrings or None, optional
            Edge lines from ``u`` to ``v``; None (or missing) for a straight segment.

        Raises
        ------
        NetworkError
            No edges, negative or missing lengths, or edge ends that are not node positions.
        """
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        n = len(x)
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        if len(u) and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
            raise NetworkError("edge ends are not node positions", fix="give u/v as positions into x/y")
        length = np.asarray(length, dtype=float)
        keep = _one_per_street(u, v, length, n)
        if node_ids is None:
            ids = np.arange(n, dtype=np.int64)
        elif isinstance(node_ids, np.ndarray) and node_ids.dtype.kind in "iuU":
            ids = node_ids
        else:
            ids = _objects(_plain(node_ids))
        karr = np.zeros(len(u), dtype=object) if key is None else _objects(_plain(key))
        garr = None if geometry is None else _objects(list(geometry))[keep]
        return cls._from_parts(crs=crs, nodes=ids, x=x, y=y, eu=u[keep], ev=v[keep], length=length[keep],
                               key=karr[keep], geoms=garr)

    @classmethod
    def from_edges(cls, edges: Any, nodes: Any = None, *, crs: Any = None) -> WalkNet:
        """Build the engine from an edge GeoDataFrame (and optionally a node GeoDataFrame).

        Parameters
        ----------
        edges : GeoDataFrame
            Columns (or index levels, as from ``osmnx.graph_to_gdfs``) ``u`` and ``v`` (node ids),
            optional ``key`` and ``length`` (m; computed from the geometry when absent), and a
            LineString geometry from ``u`` to ``v`` (may be empty for a straight segment when
            ``nodes`` is given).
        nodes : GeoDataFrame or DataFrame, optional
            Indexed by node id (or with an ``osmid`` column), with ``x``/``y`` columns or point
            geometries.  Without it the nodes are the edge geometries' end points.
        crs : CRS-like, optional
            Default the CRS of ``edges``.

        Raises
        ------
        NetworkError
            No CRS, no edges, edge ends missing from ``nodes``, or bad lengths.
        """
        from .tables import edge_arrays

        return cls.from_arrays(**edge_arrays(edges, nodes, crs=crs))

    def to_crs(self, crs: Any) -> WalkNet:
        """The same network in another CRS (coordinates and geometries transformed; lengths kept)."""
        crs = pyproj.CRS.from_user_input(crs)
        if crs.equals(self.crs):
            return self
        tr = pyproj.Transformer.from_crs(self.crs, crs, always_xy=True)
        x, y = tr.transform(self.x, self.y)
        g = self.given_geoms
        given = ~shapely.is_missing(g)
        if given.any():
            g = g.copy()
            g[given] = shapely.transform(g[given], lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        return WalkNet._from_parts(crs=crs, nodes=self._node_ids, x=np.asarray(x), y=np.asarray(y), eu=self.eu,
                                   ev=self.ev, length=self.length, key=self.key, geoms=g, adj=self.adj)

    @classmethod
    def from_area(cls, area: Any) -> WalkNet:
        """The engine of a study area's walk network (``area.graph``: the WalkNet itself, or one
        built from its networkx graph).

        Raises
        ------
        NetworkError
            The area has no walk network (names the area and how to add one).
        """
        if area.graph is None:
            raise NetworkError(f"study area {area.name!r} has no walk network",
                               fix="add layers.network (GraphML or road lines) to area.toml, or download one with "
                                   "`tuoyu-geo fetch-network PLACE --out FILE`")
        if isinstance(area.graph, WalkNet):
            return area.graph
        return cls(area.graph)

    @property
    def n_nodes(self) -> int:
        """Number of graph nodes."""
        return len(self.x)

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
        """Index of the nearest edge of every point (x, y in :attr:`crs`) and the distance to it (of
        edges at exactly the same distance, the lowest index)."""
        return self.snap_index.nearest(x, y)

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


def _as_points(points: Any, crs: pyproj.CRS, *,
               purpose: str = "snapped to the network") -> tuple[np.ndarray, pd.Index | None]:
    """Point geometries in ``crs`` and the index of a GeoSeries/GeoDataFrame (None for a plain
    sequence); DataError for missing or non-point geometries (``purpose`` words the message)."""
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
        raise DataError(f"points without geometry cannot be {purpose}", file="points",
                        fix="give every community/institution/candidate a location")
    notpt = shapely.get_type_id(geoms) != 0 if len(geoms) else np.zeros(0, bool)
    if notpt.any():
        kinds = ", ".join(sorted(set(shapely.get_type_id(geoms[notpt]).astype(str))))
        raise DataError(f"only points can be {purpose} (geometry type ids {kinds} given)",
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
    pxy = np.column_stack([shapely.get_x(geoms), shapely.get_y(geoms)])
    if not np.isfinite(pxy).all():
        raise DataError("points with non-finite coordinates cannot be snapped to the network", file="points",
                        fix="give every community/institution/candidate a location")
    ei, dist = net.snap_index.nearest(pxy[:, 0], pxy[:, 1])
    if (ei < 0).any():
        raise NetworkError("the walk graph has no edge with finite node coordinates",
                           fix="give every network node its x/y (validate the network)")
    eg = net.edge_lines(ei)
    proj = shapely.line_locate_point(eg, geoms)
    gl = net.geom_len[ei]
    L = net.length[ei]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(gl > 0, proj / gl, 0.0) * L
    off = np.clip(off, 0.0, L)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(eg, proj))
    _warn_far(net, ids, dist, warn_m)
    return Snap(ids=ids, u=net.nodes[net.eu[ei]], v=net.nodes[net.ev[ei]], key=net.edge_keys(ei), offset_m=off,
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
