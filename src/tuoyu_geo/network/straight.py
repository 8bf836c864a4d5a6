"""The straight-line fallback: distances when a study area has no walk network.

Distance model
--------------
Without a network, the walking distance between two points p and q is

    distance(p, q) = |pq| × f

where ``|pq|`` is the straight-line distance in the area's metric CRS (its UTM zone) and ``f`` ≥ 1 is
the *detour factor* (network distance / straight-line distance).  The default,
:data:`tuoyu_geo.settings.DETOUR_FACTOR` = 1.324, is the average detour index measured across 25
Chinese cities (:data:`tuoyu_geo.settings.DETOUR_SOURCE`); set it per area with ``detour_factor``
in area.toml (or ``--detour-factor``).  It is a metric (symmetric, triangle inequality, co-located
points 0 m apart), and a service area ("isochrone") of walking distance D is the disc of radius
D / f around the facility.

:class:`StraightLineNet` offers what the analysis uses of a
:class:`~tuoyu_geo.network.WalkNet` — ``snap``, ``distance_matrix`` and ``service_areas`` — so
access, plans, maps and exports run on an area without a network; every output then says
"直线距离 × f" (:func:`tuoyu_geo.report.labels.distance_model_label`).  :func:`area_engine` picks
the engine of an area: its WalkNet, or this fallback (with a warning) when it has no graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from .. import settings
from ..area.validate import check_detour_factor
from .engine import WalkNet, _as_points, check_cutoff

log = logging.getLogger(__name__)

__all__ = ["NETWORK", "STRAIGHT_LINE", "STRAIGHT_LINE_LABEL", "StraightLineNet", "StraightSnap", "area_engine",
           "check_detour_factor", "distance_model_of", "straight_line_label"]

#: values of :attr:`tuoyu_geo.access.Access.distance_model`
NETWORK = "network"
STRAIGHT_LINE = "straight-line"

#: how every output states straight-line distances (:func:`straight_line_label`)
STRAIGHT_LINE_LABEL = "直线距离 × {factor:g}（无路网，估算）"
STRAIGHT_LINE_LABEL_EN = "straight line × {factor:g} (no walk network; estimate)"

_warned: set[tuple[str, float]] = set()  # (area name, factor) already warned about in this process


@dataclass(frozen=True, eq=False)
class StraightSnap:
    """Points prepared for straight-line distances (the fallback's counterpart of a
    :class:`~tuoyu_geo.network.Snap`: no network, so every snap distance is 0).

    Attributes
    ----------
    ids : pandas.Index
        Point ids (strings), in input order.
    px, py : numpy.ndarray
        Coordinates in the engine's metric CRS.
    snap_m : numpy.ndarray
        Zeros (no leg to a network).
    net : StraightLineNet
        The engine the points were prepared with.
    """

    ids: pd.Index
    px: np.ndarray
    py: np.ndarray
    snap_m: np.ndarray
    net: StraightLineNet = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: Sequence[int] | np.ndarray) -> StraightSnap:
        """The points at ``positions``."""
        p = np.asarray(positions, dtype=np.int64)
        return StraightSnap(ids=self.ids[p], px=self.px[p], py=self.py[p], snap_m=self.snap_m[p], net=self.net)


class StraightLineNet:
    """Walking distances as straight line × detour factor (an area without a walk network).

    Parameters
    ----------
    crs : CRS-like
        A projected CRS in metres (the area's ``metric_crs``).
    detour_factor : float, optional
        Network/straight-line ratio, finite and ≥ 1; default :data:`tuoyu_geo.settings.DETOUR_FACTOR`
        (read at call time).

    Attributes
    ----------
    crs : pyproj.CRS
    detour_factor : float
    distance_model : str
        ``"straight-line"`` (a WalkNet's distances are ``"network"``; :func:`distance_model_of`).
    """

    distance_model = STRAIGHT_LINE

    def __init__(self, crs: Any, *, detour_factor: float | None = None):
        self.crs = pyproj.CRS.from_user_input(crs)
        if not self.crs.is_projected:
            raise ValueError(f"straight-line distances need a projected CRS in metres, got {self.crs.to_string()}")
        self.detour_factor = check_detour_factor(settings.DETOUR_FACTOR if detour_factor is None else detour_factor,
                                                 file="detour_factor")

    @classmethod
    def from_area(cls, area: Any, *, detour_factor: float | None = None) -> StraightLineNet:
        """The fallback engine of ``area`` (its ``metric_crs``; factor: ``detour_factor``, else the
        area's ``detour_factor``, else the default).  Logs a warning once per area and factor."""
        f = detour_factor if detour_factor is not None else getattr(area, "detour_factor", None)
        net = cls(area.metric_crs, detour_factor=f)
        key = (str(area.name), net.detour_factor)
        if key not in _warned:
            _warned.add(key)
            log.warning("study area %r has no walk network: walking distances are estimated as 直线距离 × %g "
                        "(straight line × detour factor; %s). Add layers.network to area.toml for network distances.",
                        area.name, net.detour_factor,
                        "set in area.toml or --detour-factor" if f is not None else settings.DETOUR_SOURCE)
        return net

    def __repr__(self) -> str:
        return f"StraightLineNet(× {self.detour_factor:g}, {self.crs.to_string()})"

    def snap(self, points: Any, *, ids: Sequence[Any] | None = None,
             warn_m: float = settings.SNAP_WARN_M) -> StraightSnap:
        """The points (GeoSeries in any CRS, or bare shapely points in :attr:`crs`) with their ids."""
        del warn_m  # no network to be far from
        geoms, idx = _as_points(points, self.crs, purpose="measured in straight line")
        n = len(geoms)
        if ids is None:
            ids = idx if idx is not None else pd.RangeIndex(n)
        ids = pd.Index([str(i) for i in ids], dtype=object)
        if len(ids) != n:
            raise ValueError(f"{len(ids)} ids for {n} points")
        xy = shapely.get_coordinates(geoms) if n else np.empty((0, 2))
        return StraightSnap(ids=ids, px=xy[:, 0].copy(), py=xy[:, 1].copy(), snap_m=np.zeros(n), net=self)

    def _of(self, pts: Any) -> StraightSnap:
        if isinstance(pts, StraightSnap):
            if pts.net.crs != self.crs:
                raise ValueError("the points were prepared in another CRS; prepare them with this engine")
            return pts
        return self.snap(pts)

    def distance_matrix(self, origins: Any, destinations: Any, *, max_distance_m: float) -> sp.csr_matrix:
        """Straight-line × factor distances (m) of all pairs within the cutoff.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``len(origins) × len(destinations)``; value = ``|pq| × detour_factor`` for every pair with
            a value ≤ ``max_distance_m`` (explicit zeros kept: co-located points are 0 m apart); other
            pairs absent.  Same layout as :func:`tuoyu_geo.network.distance_matrix`.
        """
        cutoff = check_cutoff(max_distance_m)
        o, d = self._of(origins), self._of(destinations)
        f = self.detour_factor
        r = c = np.empty(0, dtype=np.int64)
        if len(o) and len(d):
            to, td = cKDTree(np.c_[o.px, o.py]), cKDTree(np.c_[d.px, d.py])
            pairs = to.sparse_distance_matrix(td, cutoff / f * (1 + 1e-9) + 1e-9, output_type="ndarray")
            r, c = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        v = np.hypot(o.px[r] - d.px[c], o.py[r] - d.py[c]) * f
        keep = v <= cutoff
        out = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=(len(o), len(d)))
        out.sort_indices()
        return out

    def service_areas(self, points: Any, *, max_distance_m: float, buffer_m: float = 0.0,
                      quad_segs: int = 16) -> np.ndarray:
        """Discs of radius ``max_distance_m / detour_factor`` around the points (metric CRS).

        ``buffer_m`` is accepted for the interface of :func:`tuoyu_geo.network.service_areas` and
        ignored: the disc already holds every point within the walking distance.
        """
        del buffer_m
        cutoff = check_cutoff(max_distance_m)
        s = self._of(points)
        if not len(s):
            return np.empty(0, dtype=object)
        return shapely.buffer(shapely.points(s.px, s.py), cutoff / self.detour_factor, quad_segs=quad_segs)


def straight_line_label(factor: float, *, english: bool = False, short: bool = False) -> str:
    """``直线距离 × 1.324（无路网，估算）`` (or the English wording; ``short``: ``直线距离 × 1.324``)."""
    if short:
        return f"{'straight line' if english else '直线距离'} × {factor:g}"
    return (STRAIGHT_LINE_LABEL_EN if english else STRAIGHT_LINE_LABEL).format(factor=factor)


def distance_model_of(net: Any) -> tuple[str, float | None]:
    """(``"network"`` or ``"straight-line"``, the detour factor or None) of an engine."""
    if isinstance(net, StraightLineNet):
        return STRAIGHT_LINE, net.detour_factor
    return NETWORK, None


def area_engine(area: Any, *, detour_factor: float | None = None) -> WalkNet | StraightLineNet:
    """The distance engine of a study area: the WalkNet of ``area.graph`` or, without one, the
    straight-line fallback (:class:`StraightLineNet`, warned about once)."""
    if area.graph is not None:
        return WalkNet.from_area(area)  # a networkx graph, or the engine of a table network
    return StraightLineNet.from_area(area, detour_factor=detour_factor)
