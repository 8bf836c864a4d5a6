"""Bounded multi-source Dijkstra on a :class:`~tuoyu_geo.network.WalkNet` (the distance kernel).

Each batch of nearby sources gets the subgraph of nodes inside the bounding box of the sources
grown by the cutoff (Euclidean ≤ network distance, corrected by the graph's minimum
length/geometry ratio), with one virtual node per source (edges to its edge's ends, out only) and
one per destination (edges from its edge's ends, in only), plus direct edges for sources and
destinations on the same edge.  One ``scipy.sparse.csgraph.dijkstra(limit=...)`` call per batch
gives the network distance between the attachment points of all its pairs; a pair's distance adds
the shorter of its two snap legs and its straight line (the distance model of
:mod:`tuoyu_geo.network.engine`).  Reached nodes add the source's snap leg only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from .engine import Snap, WalkNet

__all__ = ["sweep"]

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]


def _empty() -> Triple:
    return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float)


def ends(net: WalkNet, snap: Snap) -> tuple[np.ndarray, ...]:
    """Per point: edge, end node a, b (b = -1 for a self-loop), along-edge distances wa, wb."""
    e = snap.edge_index
    a, b = net.eu[e].copy(), net.ev[e].copy()
    wa, wb = snap.dist_u_m.copy(), snap.dist_v_m.copy()
    loop = a == b
    wa[loop] = np.minimum(wa[loop], wb[loop])
    b[loop] = -1
    return e, a, b, wa, wb


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for every position in the ranges [lo, hi)."""
    cnt = hi - lo
    tot = int(cnt.sum())
    if tot == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    owner = np.repeat(np.arange(len(lo)), cnt)
    start = np.cumsum(cnt) - cnt
    pos = np.repeat(lo, cnt) + (np.arange(tot) - np.repeat(start, cnt))
    return owner, pos


@dataclass(frozen=True)
class _Targets:
    """Destination side, prepared once: edge ends, in-cutoff points sorted by edge."""

    snap: Snap
    e: np.ndarray
    a: np.ndarray
    b: np.ndarray
    wa: np.ndarray
    wb: np.ndarray
    valid: np.ndarray
    order: np.ndarray
    e_sorted: np.ndarray


def _targets(net: WalkNet, dst: Snap) -> _Targets:
    e, a, b, wa, wb = ends(net, dst)
    valid = np.arange(len(dst))  # every destination: a co-located source reaches it whatever its snap leg
    order = valid[np.argsort(e[valid], kind="stable")]
    return _Targets(dst, e, a, b, wa, wb, valid, order, e[order])


class _Parts:
    """Triplets (row, col, weight) of a batch's sparse graph, in insertion order."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.w: list[np.ndarray] = []

    def add(self, r: np.ndarray, c: np.ndarray, w: np.ndarray) -> None:
        self.r.append(r)
        self.c.append(c)
        self.w.append(w)

    def matrix(self, n: int) -> sp.csr_matrix:
        return sp.csr_matrix((np.concatenate(self.w), (np.concatenate(self.r), np.concatenate(self.c))),
                             shape=(n, n))


def _groups(src: Snap, ok: np.ndarray, cutoff: float, batch_target: int, max_batch: int) -> list[np.ndarray]:
    """Positions (into ``ok``) of the sources of every batch: square tiles of nearby sources."""
    sx, sy = src.x[ok], src.y[ok]
    span = max((sx.max() - sx.min()) * (sy.max() - sy.min()), 1.0)
    tile = float(np.sqrt(span * batch_target / len(ok))) if np.isfinite(cutoff) else np.inf
    tile = min(max(tile, cutoff / 4.0, 1.0), max(4.0 * cutoff, 1.0))
    if np.isfinite(tile):
        tx = np.floor((sx - sx.min()) / tile).astype(np.int64)
        ty = np.floor((sy - sy.min()) / tile).astype(np.int64)
        tkey = tx * (int(ty.max()) + 1) + ty
    else:
        tkey = np.zeros(len(ok), np.int64)
    torder = np.argsort(tkey, kind="stable")
    cuts = np.flatnonzero(np.diff(tkey[torder])) + 1
    groups = []
    for g in np.split(torder, cuts):
        groups.extend(np.array_split(g, int(np.ceil(len(g) / max_batch))))
    return groups


def _window(net: WalkNet, src: Snap, b: np.ndarray, limit: float, eps: float) -> np.ndarray:
    """Nodes inside the bounding box of the sources ``b`` grown by the search radius."""
    R = limit / net.euclid_ratio + eps if net.euclid_ratio > 0 else np.inf
    bx0, bx1 = src.x[b].min() - R, src.x[b].max() + R
    by0, by1 = src.y[b].min() - R, src.y[b].max() + R
    lo = np.searchsorted(net.xsorted, bx0, side="left")
    hi = np.searchsorted(net.xsorted, bx1, side="right")
    cand = net.xorder[lo:hi]
    return cand[(net.y[cand] >= by0) & (net.y[cand] <= by1)]


def _subgraph(net: WalkNet, sel: np.ndarray, local: np.ndarray, parts: _Parts) -> None:
    """Edges of the adjacency between the selected nodes (local numbering set in ``local``)."""
    k = len(sel)
    local[sel] = np.arange(k)
    sub = net.adj[sel]
    cl = local[sub.indices]
    m = cl >= 0
    parts.add(np.repeat(np.arange(k), np.diff(sub.indptr))[m], cl[m], sub.data[m])


def _local_ends(local: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return local[a], np.where(b >= 0, local[np.maximum(b, 0)], -1)


def _targets_in(tg: _Targets, se_b: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, ...]:
    """Destinations of a batch: those with an end in the window, and those on a source's edge."""
    lda, ldb = _local_ends(local, tg.a[tg.valid], tg.b[tg.valid])
    near = tg.valid[(lda >= 0) | (ldb >= 0)]
    lo_e = np.searchsorted(tg.e_sorted, se_b, side="left")
    hi_e = np.searchsorted(tg.e_sorted, se_b, side="right")
    own, pos = _expand(lo_e, hi_e)
    same = tg.order[pos]
    return np.union1d(near, same), own, same


def _batch(net: WalkNet, src: Snap, sides: tuple[np.ndarray, ...], b: np.ndarray, cutoff: float, eps: float,
           tg: _Targets | None, local: np.ndarray, want_nodes: bool) -> tuple[Triple | None, Triple | None]:
    """One bounded Dijkstra from the sources ``b``: (source × destination pairs, reached nodes)."""
    se, sa, sb, swa, swb = sides
    nb = len(b)
    # pairs add ≥ 0 to the network part (the straight line may replace both snap legs); nodes add the snap leg
    limit = (cutoff if tg is not None else cutoff - float(src.snap_m[b].min())) + eps
    sel = _window(net, src, b, limit, eps)
    k = len(sel)
    parts = _Parts()
    _subgraph(net, sel, local, parts)
    vo = k + np.arange(nb)
    la, lb = _local_ends(local, sa[b], sb[b])
    for lx, wx in ((la, swa[b]), (lb, swb[b])):
        mm = lx >= 0
        parts.add(vo[mm], lx[mm], wx[mm])
    ntot = k + nb
    dall = np.empty(0, np.int64)
    if tg is not None:
        dall, own, same = _targets_in(tg, se[b], local)
        vd = ntot + np.arange(len(dall))
        ntot += len(dall)
        la_d, lb_d = _local_ends(local, tg.a[dall], tg.b[dall])
        for lx, wx in ((la_d, tg.wa[dall]), (lb_d, tg.wb[dall])):
            mm = lx >= 0
            parts.add(lx[mm], vd[mm], wx[mm])
        if len(own):
            parts.add(vo[own], vd[np.searchsorted(dall, same)], np.abs(src.offset_m[b[own]] - tg.snap.offset_m[same]))
    dist = dijkstra(parts.matrix(ntot), directed=True, indices=vo, limit=limit)
    local[sel] = -1
    sb_col = src.snap_m[b][:, None]
    pairs = nodes = None
    if len(dall):
        legs = sb_col + tg.snap.snap_m[dall][None, :]
        line = np.hypot(src.px[b][:, None] - tg.snap.px[dall][None, :], src.py[b][:, None] - tg.snap.py[dall][None, :])
        dd = dist[:, k + nb:] + np.minimum(legs, line)
        ri, ci = np.nonzero(dd <= cutoff)
        pairs = (b[ri], dall[ci], dd[ri, ci])
    if want_nodes:
        dn = dist[:, :k] + sb_col
        ri, ci = np.nonzero(dn <= cutoff)
        nodes = (b[ri], sel[ci], dn[ri, ci])
    return pairs, nodes


def _cat(lst: list[Triple]) -> Triple:
    if not lst:
        return _empty()
    return tuple(np.concatenate([x[i] for x in lst]) for i in range(3))  # type: ignore[return-value]


def sweep(net: WalkNet, src: Snap, cutoff: float, dst: Snap | None, *, want_nodes: bool = False,
          batch_target: int = 48, max_batch: int = 512) -> tuple[Triple, Triple]:
    """Bounded Dijkstra from snapped sources, batched by tiles on restricted subgraphs.

    Returns
    -------
    ((rows, cols, dist), (rows, node, dist))
        Source × destination pairs within ``cutoff`` (when ``dst`` is given) and the reached
        nodes (when ``want_nodes``); rows are source positions.
    """
    eps = 1e-9 * (1.0 + cutoff)
    sides = ends(net, src)
    tg = _targets(net, dst) if dst is not None else None
    ok = np.flatnonzero(src.snap_m <= cutoff) if tg is None else np.arange(len(src))
    if len(ok) == 0 or (tg is not None and len(tg.valid) == 0 and not want_nodes):
        return _empty(), _empty()
    pairs: list[Triple] = []
    nodes_out: list[Triple] = []
    local = np.full(net.n_nodes, -1, dtype=np.int64)
    for g in _groups(src, ok, cutoff, batch_target, max_batch):
        p, n = _batch(net, src, sides, ok[g], cutoff, eps, tg, local, want_nodes)
        if p is not None:
            pairs.append(p)
        if n is not None:
            nodes_out.append(n)
    return _cat(pairs), _cat(nodes_out)
