"""Nearest edge of points, with numpy and a KD-tree (no shapely lines, no STRtree).

Every edge is a chain of straight segments: one segment between its end nodes for a straight
street (no stored geometry), the segments of its line for a curved one.  The segments are cut
into *chunks* no longer than twice the median segment length; a ``scipy.spatial.cKDTree`` holds the chunk
midpoints.  For a point p, the K nearest chunk midpoints give candidate segments; the exact
point-to-segment distance (GEOS's formula, :func:`point_segment_distance`) of every candidate is
computed with numpy, and the nearest edge is the one of the nearest candidate.

Why this is exact: a chunk of half-length h lies within h of its midpoint, so an edge none of whose
chunks is among the K nearest midpoints (the K-th at distance d_K) is at least d_K − h_max away.
When the best candidate is closer than that, it is the nearest edge; the other points (rare: far
from the network, or among long chunks) query every midpoint within best + h_max instead.

Ties: of two edges at exactly the same distance the one with the lower index (edge-table
position) is taken, whatever the order in which they were found.

The distance of a point to an edge is the minimum over the edge's segments of GEOS's
point-to-segment distance, evaluated with the same floating-point operations in the same order,
so it is bit for bit what ``shapely.distance(point, edge_line)`` returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

__all__ = ["SegmentIndex", "point_segment_distance"]

#: chunk midpoints examined per point before the exactness test
_K = 12


def point_segment_distance(px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray,
                           by: np.ndarray) -> np.ndarray:
    """Distance of points p to segments AB (broadcast), GEOS's ``Distance::pointToSegment``.

    With ``r = ((p − A)·(B − A)) / |B − A|²`` (the position of p's projection, 0 at A and 1 at B):
    ``|pA|`` when ``r ≤ 0`` (or A = B), ``|pB|`` when ``r ≥ 1``, else the perpendicular distance
    ``|(A_y − p_y)(B_x − A_x) − (A_x − p_x)(B_y − A_y)| / |B − A|``, computed as GEOS does
    (same operations, same order: bit-identical results).

    >>> import numpy as np
    >>> float(point_segment_distance(np.array(3.0), np.array(4.0), 0.0, 0.0, 10.0, 0.0))   # beside: 4
    4.0
    >>> float(point_segment_distance(np.array(13.0), np.array(4.0), 0.0, 0.0, 10.0, 0.0))  # beyond B: |(3, 4)| = 5
    5.0
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
        perp = np.abs(s) * np.sqrt(len2)
    qax, qay = px - ax, py - ay
    qbx, qby = px - bx, py - by
    da = np.sqrt(qax * qax + qay * qay)
    db = np.sqrt(qbx * qbx + qby * qby)
    degenerate = (ax == bx) & (ay == by)
    return np.where(degenerate | (r <= 0.0), da, np.where(r >= 1.0, db, perp))


class SegmentIndex:
    """Nearest edge of points among edges given as chains of straight segments.

    Parameters
    ----------
    ax, ay, bx, by : numpy.ndarray
        Segment ends.
    owner : numpy.ndarray
        Edge index of every segment.
    """

    def __init__(self, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, owner: np.ndarray):
        owner = np.asarray(owner, dtype=np.int64)
        ok = np.isfinite(ax) & np.isfinite(ay) & np.isfinite(bx) & np.isfinite(by)
        if not ok.all():  # a segment without coordinates is nearest to nothing
            ax, ay, bx, by, owner = ax[ok], ay[ok], bx[ok], by[ok], owner[ok]
        self.ax, self.ay, self.bx, self.by = ax, ay, bx, by
        self.owner = owner
        seg_len = np.hypot(bx - ax, by - ay)
        pos = seg_len[seg_len > 0]
        step = 2.0 * float(np.median(pos)) if len(pos) else 1.0
        m = np.maximum(np.ceil(seg_len / step), 1.0).astype(np.int64)  # chunks per segment
        self.chunk_seg = np.repeat(np.arange(len(ax), dtype=np.int64), m)
        first = np.cumsum(m) - m
        t = ((np.arange(len(self.chunk_seg)) - np.repeat(first, m)) + 0.5) / np.repeat(m, m)
        s = self.chunk_seg
        mx = ax[s] + t * (bx[s] - ax[s])
        my = ay[s] + t * (by[s] - ay[s])
        # every point of a chunk is within its half-length of the midpoint (rounding covered by the margin)
        self.h_max = float(np.max(seg_len / (2 * m))) * (1 + 1e-9) + 1e-9 if len(m) else 0.0
        self.tree = cKDTree(np.column_stack([mx, my]), balanced_tree=False, compact_nodes=False)

    @classmethod
    def of_edges(cls, x: np.ndarray, y: np.ndarray, eu: np.ndarray, ev: np.ndarray, lines: np.ndarray) -> SegmentIndex:
        """The index of an edge table: one segment u → v where ``lines`` is missing, else the segments
        of the line."""
        curved = ~shapely.is_missing(lines)
        straight = np.flatnonzero(~curved)
        ax, ay, bx, by = x[eu[straight]], y[eu[straight]], x[ev[straight]], y[ev[straight]]
        owner = straight
        if curved.any():
            ce = np.flatnonzero(curved)
            coords, ci = shapely.get_coordinates(lines[ce], return_index=True)
            nxt = ci[1:] == ci[:-1]  # consecutive vertices of the same line
            a, b = coords[:-1][nxt], coords[1:][nxt]
            ax, ay = np.concatenate([ax, a[:, 0]]), np.concatenate([ay, a[:, 1]])
            bx, by = np.concatenate([bx, b[:, 0]]), np.concatenate([by, b[:, 1]])
            owner = np.concatenate([owner, ce[ci[:-1][nxt]]])
        return cls(ax, ay, bx, by, owner)

    def _dist(self, px: np.ndarray, py: np.ndarray, seg: np.ndarray) -> np.ndarray:
        return point_segment_distance(px, py, self.ax[seg], self.ay[seg], self.bx[seg], self.by[seg])

    def nearest(self, px: Any, py: Any, *, k: int = _K) -> tuple[np.ndarray, np.ndarray]:
        """(edge index, distance) of the nearest edge of every point; ties → the lower edge index;
        (-1, inf) for a point without finite coordinates or when no segment has them.

        ``k`` chunk midpoints are examined per point first (any k ≥ 1 gives the same answer; a
        small k sends more points to the exact fallback)."""
        px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
        n = len(px)
        edge = np.full(n, -1, dtype=np.int64)
        best = np.full(n, np.inf)
        nchunk = len(self.chunk_seg)
        fin = np.isfinite(px) & np.isfinite(py)
        if not fin.all():
            e_f, d_f = self.nearest(px[fin], py[fin], k=k)
            edge[fin], best[fin] = e_f, d_f
            return edge, best
        if n == 0 or nchunk == 0:
            return edge, best
        k = max(1, min(int(k), nchunk))
        dk, ck = self.tree.query(np.column_stack([px, py]), k=k)
        dk, ck = dk.reshape(n, k), ck.reshape(n, k)
        seg = self.chunk_seg[ck]
        d = self._dist(px[:, None], py[:, None], seg)
        best = d.min(axis=1)
        own = self.owner[seg]
        edge = np.where(d == best[:, None], own, np.iinfo(np.int64).max).min(axis=1)
        # exact unless an unseen chunk could hold an edge as close: every unseen edge is ≥ d_K − h_max away
        tol = 1e-9 * (1.0 + np.abs(px) + np.abs(py))
        if k < nchunk:
            redo = np.flatnonzero(~(best + tol < dk[:, -1] - self.h_max))
            for i in redo:
                cand = np.asarray(self.tree.query_ball_point((px[i], py[i]), best[i] + self.h_max + tol[i]),
                                  dtype=np.int64)
                s = self.chunk_seg[cand]
                di = self._dist(px[i], py[i], s)
                bi = di.min()
                best[i] = bi
                edge[i] = self.owner[s][di == bi].min()
        return edge, best
