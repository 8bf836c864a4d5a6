"""Service areas (isochrone polygons) on a :class:`~tuoyu_geo.network.WalkNet`."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.ops import substring

from .engine import Snap, WalkNet, as_net, check_cutoff, snap_of
from .sweep import sweep

__all__ = ["service_areas"]


def _pieces(net: WalkNet, s: Snap, i: int, cutoff: float, nodes_i: np.ndarray, d_i: np.ndarray) -> list[Any]:
    """Reached edge pieces of point ``i``: along its own edge, then every edge at a reached node
    (whole, or cut at the remaining distance from either end)."""
    rem0 = cutoff - s.snap_m[i]
    e0 = s.edge_index[i]
    L0, gl0 = net.length[e0], net.geom_len[e0]
    f = gl0 / L0 if L0 > 0 else 0.0
    o = s.offset_m[i]
    pieces: list[Any] = [substring(net.geoms[e0], max(0.0, o - rem0) * f, min(L0, o + rem0) * f)]
    if not len(nodes_i):
        return pieces
    rem = np.full(net.n_nodes, -1.0)
    rem[nodes_i] = cutoff - d_i
    edges = np.unique(net.incidence[nodes_i].indices)
    L = net.length[edges]
    ra, rb = rem[net.eu[edges]], rem[net.ev[edges]]
    full = (ra >= 0) & (rb >= 0) & (ra + rb >= L) | (ra >= L) | (rb >= L)
    pieces.extend(net.geoms[edges[full]])
    for e, a_, b_, Le in zip(edges[~full], ra[~full], rb[~full], L[~full], strict=False):
        fe = net.geom_len[e] / Le if Le > 0 else 0.0
        if a_ >= 0:
            pieces.append(substring(net.geoms[e], 0.0, a_ * fe))
        if b_ >= 0:
            pieces.append(substring(net.geoms[e], (Le - b_) * fe, Le * fe))
    return pieces


def service_areas(graph: WalkNet | nx.MultiDiGraph, points: Any, *, max_distance_m: float,
                  buffer_m: float = 50.0, quad_segs: int = 16) -> np.ndarray:
    """Service-area polygons: the network reachable within a walking distance, buffered.

    Every edge reached from a point is taken whole or cut at the remaining distance (from either
    end, and directly along the point's own edge), buffered by ``buffer_m`` (round caps, ``quad_segs``
    segments per quarter circle) and unioned per point.  The snap distance of the point is
    deducted first; points farther than the cutoff from the network get an empty polygon.

    Parameters
    ----------
    graph : WalkNet or networkx.MultiDiGraph
        Engine or projected walk graph.
    points : GeoSeries or Snap
        Points in the graph CRS, or a Snap made with the same WalkNet.
    max_distance_m : float
        Walking distance (m).
    buffer_m : float
        Half-width of the corridor around reached edges (m).
    quad_segs : int
        Segments per quarter circle of the round caps.

    Returns
    -------
    numpy.ndarray of shapely geometries (graph CRS), one per point.
    """
    cutoff = check_cutoff(max_distance_m)
    net = as_net(graph, points)
    s = snap_of(net, points, graph=graph)
    _, (r, c, v) = sweep(net, s, cutoff, None, want_nodes=True)
    out = np.empty(len(s), dtype=object)
    order = np.argsort(r, kind="stable")
    r, c, v = r[order], c[order], v[order]
    bounds = np.searchsorted(r, np.arange(len(s) + 1))
    for i in range(len(s)):
        if cutoff - s.snap_m[i] < 0:
            out[i] = shapely.Polygon()
            continue
        pieces = _pieces(net, s, i, cutoff, c[bounds[i]:bounds[i + 1]], v[bounds[i]:bounds[i + 1]])
        out[i] = shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object), buffer_m, quad_segs=quad_segs))
    return out
