"""Walking coverage and capacity-aware access (2SFCA, Gaussian 2SFCA) per community, isochrones.

Distances come from :func:`tuoyu_geo.network.distance_matrix` (network metres plus both snap
distances or, when shorter, the straight line between the two points — co-located points are 0 m
apart; pairs within the largest threshold only) on a :class:`~tuoyu_geo.network.WalkNet` —
pass one as ``network=`` to reuse it, or it is built from ``area.graph`` for the call.  An area
without a walk network gets straight-line × detour-factor distances
(:class:`~tuoyu_geo.network.StraightLineNet`; ``Access.distance_model`` says which).  Thresholds in
minutes are converted with ``policy.threshold_m`` (life-circle table: 5/10/15 min ≈ 300/500/1000 m).
``within(mat, d)`` is THE definition of "within d metres" (stored distance ≤ d, no epsilon).

Examples
--------
>>> import tuoyu_geo as tg
>>> area = tg.datasets.shanghai_xuhui()
>>> acc = tg.access.compute_access(area)
>>> acc.communities[["within15_any", "within15_puhui"]].mean()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from . import _display as _d
from . import settings
from ._errors import DataError
from .area import StudyArea
from .network import (
    StraightLineNet,
    WalkNet,
    area_engine,
    distance_model_of,
    grouped_service_areas,
    service_areas,
)
from .policy import Policy, load_policy

log = logging.getLogger(__name__)

__all__ = ["Access", "compute_access", "gaussian_weight", "isochrones", "nearest", "two_step_fca", "within"]


@dataclass(frozen=True, eq=False)
class Access:
    """Walking access of every community to institutions and candidate sites.

    Attributes
    ----------
    minutes : tuple of float
        Thresholds in minutes, ascending (e.g. ``(5, 10, 15)``).
    thresholds_m : mapping
        Minutes → metres (``policy.threshold_m``).
    max_distance_m : float
        Cutoff of the matrices (the largest threshold).
    community_ids, institution_ids, candidate_ids : pandas.Index
        Row / column order of the matrices (the areas' layer index order).
    dist_institutions, dist_candidates : scipy.sparse.csr_matrix
        Communities × institutions / candidates walking metres; only pairs ≤ ``max_distance_m``
        are stored (zeros included).
    communities : pandas.DataFrame
        Indexed by community id: ``snap_m``, ``nearest_any_m``, ``nearest_puhui_m`` (NaN when none
        within the cutoff), ``within{m}_any`` / ``within{m}_puhui`` (bool), ``places15_all``,
        ``places15_puhui`` (places within the largest threshold), ``sfca_all``, ``sfca_puhui``,
        ``g2sfca_all``, ``g2sfca_puhui`` (places per 1000 infants), ``sfca_all_per1000_pop``,
        ``sfca_puhui_per1000_pop`` (2SFCA with residents as demand: places per 1000 residents).
    area_fingerprint : str, optional
        :meth:`StudyArea.fingerprint` of the area it was computed for (checked by every consumer).
    distance_model : str
        ``"network"`` (walking distances on the area's network) or ``"straight-line"`` (no network:
        straight line × :attr:`detour_factor`).
    detour_factor : float or None
        The factor of the straight-line fallback (None with a network).
    """

    minutes: tuple[float, ...]
    thresholds_m: Mapping[float, float]
    max_distance_m: float
    community_ids: pd.Index
    institution_ids: pd.Index
    candidate_ids: pd.Index
    dist_institutions: sp.csr_matrix
    dist_candidates: sp.csr_matrix
    communities: pd.DataFrame
    area_fingerprint: str | None = None
    distance_model: str = "network"
    detour_factor: float | None = None

    def check_area(self, area: StudyArea) -> None:
        """Raise DataError unless this result was computed for ``area``'s points (same ids, same
        positions, same institutions; :meth:`StudyArea.fingerprint`)."""
        if self.area_fingerprint is not None and self.area_fingerprint != area.fingerprint():
            raise DataError("the access result was computed for other inputs (same ids, but points moved or "
                            "institutions changed)", file="access",
                            fix="recompute access for this area: tuoyu_geo.access.compute_access(area, policy)")

    def threshold_m(self, minutes: float) -> float:
        """Metres of a threshold in :attr:`minutes`."""
        return float(self.thresholds_m[minutes])

    def _summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows of :meth:`__repr__` and :meth:`_repr_html_`: sizes, thresholds and the
        communities (counted, not weighted) within the largest threshold of any / a 普惠 institution."""
        n = len(self.community_ids)
        m = max(self.minutes) if self.minutes else 0.0
        tag = int(m) if float(m).is_integer() else m
        rows = [("communities × institutions", f"{n:,} × {len(self.institution_ids):,} "
                                               f"(candidates {len(self.candidate_ids):,})"),
                ("thresholds", " / ".join(f"{k:g}" for k in self.minutes) + " min = "
                 + " / ".join(_d.count(self.thresholds_m[k]) for k in self.minutes) + " m"),
                ("pairs within the cutoff", f"institutions {self.dist_institutions.nnz:,}, "
                                            f"candidates {self.dist_candidates.nnz:,}")]
        for what, label in (("any", "any institution"), ("puhui", "a 普惠 institution")):
            col = f"within{tag}_{what}"
            if col in self.communities:
                k = int(self.communities[col].astype(bool).sum())
                rows.append((f"communities within {tag} min of {label}",
                             f"{k:,} of {n:,} ({_d.percent(k / n if n else math.nan)})"))
        return rows

    def __repr__(self) -> str:
        return _d.text("Access (walking)", self._summary_rows())

    def _repr_html_(self) -> str:
        return _d.html("Access (walking)", self._summary_rows())


# ------------------------------------------------------------------------------------ helpers

def within(mat: sp.spmatrix, d: float) -> sp.csr_matrix:
    """Boolean CSR of the pairs whose stored distance is ≤ ``d`` (absent pairs are False).

    Explicit zeros count as stored distances of 0 m, i.e. they are within any ``d ≥ 0``.
    """
    m = sp.csr_matrix(mat)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    keep = m.data <= d
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool), (rows[keep], m.indices[keep])), shape=m.shape)


def nearest(mat: sp.spmatrix, columns: np.ndarray | None = None) -> np.ndarray:
    """Row-wise minimum of the stored distances (NaN for rows with none), optionally over a column mask."""
    m = sp.csr_matrix(mat)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    data, cols = m.data, m.indices
    if columns is not None:
        keep = np.asarray(columns, dtype=bool)[cols]
        rows, data = rows[keep], data[keep]
    out = np.full(m.shape[0], np.inf)
    np.minimum.at(out, rows, data)
    out[np.isinf(out)] = np.nan
    return out


def gaussian_weight(d: np.ndarray, d0: float) -> np.ndarray:
    """Gaussian distance decay G(d) = (e^{-½(d/D)²} − e^{-½}) / (1 − e^{-½}) for d ≤ D, else 0."""
    d = np.asarray(d, dtype=float)
    e = np.exp(-0.5)
    w = (np.exp(-0.5 * (d / d0) ** 2) - e) / (1.0 - e)
    return np.where(d <= d0, w, 0.0)


def two_step_fca(mat: sp.spmatrix, supply: np.ndarray, demand: np.ndarray, d0: float, *,
                 gaussian: bool = False, per: float = 1000.0) -> np.ndarray:
    """Two-step floating catchment area access per row (supply per ``per`` units of demand).

    Parameters
    ----------
    mat : sparse matrix
        Demand points × supply points distances (stored pairs only).
    supply : array
        Capacity per column (e.g. places).
    demand : array
        Demand per row (e.g. infants).
    d0 : float
        Catchment size (m); pairs with stored distance ≤ d0 count.
    gaussian : bool
        Weight both steps with :func:`gaussian_weight` (otherwise weight 1).
    per : float
        Scale (1000 → places per 1000 demand units).

    Notes
    -----
    R_j = S_j / Σ_{d_ij ≤ D} W(d_ij) P_i ;  A_i = Σ_{d_ij ≤ D} W(d_ij) R_j.
    A supply point with no demand in its catchment gets R_j = 0 (nobody can use it).
    """
    m = sp.csr_matrix(mat)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    keep = m.data <= d0
    r, c, d = rows[keep], m.indices[keep], m.data[keep]
    w = gaussian_weight(d, d0) if gaussian else np.ones(len(d))
    load = np.bincount(c, weights=w * np.asarray(demand, dtype=float)[r], minlength=m.shape[1])
    supply = np.asarray(supply, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(load > 0, supply / load, 0.0)
    return per * np.bincount(r, weights=w * ratio[c], minlength=m.shape[0])


def _policy(area: StudyArea, policy: Policy | str | None) -> Policy:
    if policy is None:
        return area.policy
    return load_policy(policy) if isinstance(policy, str) else policy


def _network(area: StudyArea, network: WalkNet | StraightLineNet | None) -> WalkNet | StraightLineNet:
    """``network``, or the engine of ``area`` built for this call (its WalkNet, or the straight-line
    fallback without a graph)."""
    return network if network is not None else area_engine(area)


# ------------------------------------------------------------------------------------ main

def _matrices(area: StudyArea, net: WalkNet | StraightLineNet,
              dmax: float) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Communities × institutions and × candidates walking metres (≤ ``dmax``), communities' snap m."""
    com, inst, cand = area.communities, area.institutions, area.candidates
    sc = net.snap(area.points("communities"), ids=com.index)
    dst_pts = pd.concat([area.points("institutions"), area.points("candidates")])
    dst_ids = list(inst.index) + list(cand.index)
    sd = net.snap(gpd.GeoSeries(dst_pts.values, crs=area.metric_crs), ids=dst_ids)
    full = net.distance_matrix(sc, sd, max_distance_m=dmax)
    ni = len(inst)
    d_inst = sp.csr_matrix(full[:, :ni])
    d_cand = sp.csr_matrix(full[:, ni:])
    d_inst.sort_indices()
    d_cand.sort_indices()
    return d_inst, d_cand, sc.snap_m


def _community_table(area: StudyArea, d_inst: sp.csr_matrix, snap_m: np.ndarray,
                     th: Mapping[float, float], dmax: float) -> pd.DataFrame:
    """``Access.communities``: snap, nearest, coverage flags, places reached, 2SFCA variants."""
    com, inst = area.communities, area.institutions
    ni = len(inst)
    puhui = inst["puhui"].to_numpy(dtype=bool) if ni else np.zeros(0, bool)
    places = inst["places"].to_numpy(dtype=float) if ni else np.zeros(0)
    infants = com["infants"].to_numpy(dtype=float)
    pop = com["population"].to_numpy(dtype=float)
    out = pd.DataFrame(index=com.index.copy())
    out["snap_m"] = snap_m
    out["nearest_any_m"] = nearest(d_inst)
    out["nearest_puhui_m"] = nearest(d_inst, puhui)
    for m, d in th.items():
        tag = int(m) if float(m).is_integer() else m
        out[f"within{tag}_any"] = (out["nearest_any_m"] <= d).to_numpy()
        out[f"within{tag}_puhui"] = (out["nearest_puhui_m"] <= d).to_numpy()
    reach = within(d_inst, dmax)
    out["places15_all"] = reach @ places if ni else 0.0
    out["places15_puhui"] = reach @ (places * puhui) if ni else 0.0
    pu_places = places * puhui
    for col, sup in (("all", places), ("puhui", pu_places)):
        out[f"sfca_{col}"] = two_step_fca(d_inst, sup, infants, dmax) if ni else 0.0
        out[f"g2sfca_{col}"] = two_step_fca(d_inst, sup, infants, dmax, gaussian=True) if ni else 0.0
    for col, sup in (("all", places), ("puhui", pu_places)):
        out[f"sfca_{col}_per1000_pop"] = two_step_fca(d_inst, sup, pop, dmax) if ni else 0.0
    return out


def compute_access(area: StudyArea, policy: Policy | str | None = None, *,
                   network: WalkNet | StraightLineNet | None = None,
                   minutes: Iterable[float] = settings.MINUTES) -> Access:
    """Coverage, nearest distances and 2SFCA access of every community.

    Parameters
    ----------
    area : StudyArea
        With or without a walk graph (``area.graph``); without one (and no ``network``), distances
        are straight line × detour factor (:class:`~tuoyu_geo.network.StraightLineNet`).
    policy : Policy or str, optional
        Thresholds come from ``policy.threshold_m``; estimated infants are re-estimated with it
        (:meth:`StudyArea.with_policy`).  Default the area's policy.
    network : WalkNet or StraightLineNet, optional
        The engine of ``area``; built for this call when None (:func:`tuoyu_geo.network.area_engine`).
    minutes : iterable of float
        Thresholds in minutes.  The largest one is the matrices' cutoff and the 2SFCA catchment.

    Returns
    -------
    Access

    Notes
    -----
    Demand is the communities' ``infants`` (2SFCA, per 1000 infants) and ``population``
    (``*_per1000_pop``, per 1000 residents); supply is the institutions' ``places``.  Communities
    far from any walkable edge are logged with their ids (see :func:`tuoyu_geo.network.snap_points`).
    """
    pol = _policy(area, policy)
    area = area.with_policy(pol)
    mins = tuple(sorted({float(m) for m in minutes}))
    if not mins or min(mins) <= 0:
        raise ValueError(f"minutes must be positive, got {minutes!r}")
    th = {m: pol.threshold_m(m) for m in mins}
    dmax = max(th.values())
    net = _network(area, network)
    d_inst, d_cand, snap_m = _matrices(area, net, dmax)
    out = _community_table(area, d_inst, snap_m, th, dmax)
    com, inst, cand = area.communities, area.institutions, area.candidates
    log.info("access: %d communities, %d institutions, %d candidates, cutoff %.0f m, %d/%d pairs",
             len(com), len(inst), len(cand), dmax, d_inst.nnz, d_cand.nnz)
    model, factor = distance_model_of(net)
    return Access(minutes=mins, thresholds_m=MappingProxyType(th), max_distance_m=float(dmax),
                  community_ids=com.index.copy(), institution_ids=inst.index.copy(),
                  candidate_ids=cand.index.copy(), dist_institutions=d_inst, dist_candidates=d_cand,
                  communities=out, area_fingerprint=area.fingerprint(), distance_model=model,
                  detour_factor=factor)


def isochrones(area: StudyArea, *, network: WalkNet | StraightLineNet | None = None, minutes: float = 15,
               layer: str = "institutions", ids: Sequence[str] | None = None,
               policy: Policy | str | None = None, buffer_m: float = 50.0,
               merge_by: str | None = None) -> gpd.GeoDataFrame:
    """Walking service areas (isochrones) of institutions or candidate sites.

    Built from the network edges reached within the threshold (partial edges cut at the remaining
    distance), buffered by ``buffer_m`` on each side and unioned per facility — not convex hulls.
    The facility's own snap distance is deducted from the budget.  Without a network (straight-line
    fallback) a service area is the disc of radius threshold / detour factor.

    Parameters
    ----------
    area : StudyArea
    network : WalkNet or StraightLineNet, optional
        The engine of ``area``; built for this call when None.
    minutes : float
        Threshold (``policy.threshold_m(minutes)`` metres).
    layer : {"institutions", "candidates"}
    ids : sequence of str, optional
        Subset of facility ids (default all).
    policy : Policy or str, optional
        Default the area's policy.
    buffer_m : float
        Half-width of the walkable corridor around reached edges (m).
    merge_by : str, optional
        A column of the layer (e.g. ``"street_id"``): one service area per value, the union of its
        facilities' areas computed at once (:func:`tuoyu_geo.network.grouped_service_areas`; a city's
        thousands of facilities in seconds instead of minutes).  Missing values form the group "".

    Returns
    -------
    GeoDataFrame
        Index = ids; columns ``id``, ``minutes``, ``distance_m``, ``area_m2`` (computed in the
        metric CRS), ``geometry`` (EPSG:4326).  With ``merge_by``: index and ``id`` = the group
        value, in the order the groups first appear, and ``facilities`` (how many were merged)
        after ``id``.

    Raises
    ------
    KeyError
        Unknown ids.
    """
    if layer not in ("institutions", "candidates"):
        raise ValueError(f"layer must be 'institutions' or 'candidates', got {layer!r}")
    pol = _policy(area, policy)
    area = area.with_policy(pol)
    dist = pol.threshold_m(minutes)
    net = _network(area, network)
    gdf = getattr(area, layer)
    if ids is not None:
        ids = [str(i) for i in ids]
        unknown = [i for i in ids if i not in gdf.index]
        if unknown:
            raise KeyError(f"unknown {layer} ids: {', '.join(unknown[:10])}")
        gdf = gdf.loc[ids]
    pts = area.points(layer).loc[gdf.index]
    keys = list(gdf.index)
    cols = {"id": keys}
    if merge_by is not None:
        values = gdf[merge_by].astype(object).where(gdf[merge_by].notna(), "").astype(str).to_numpy()
        counts = pd.Series(values).value_counts(sort=False)
        keys = list(pd.unique(values))
        cols = {"id": keys, "facilities": [int(counts[k]) for k in keys]}
    if len(pts):
        snap = net.snap(pts, ids=gdf.index)
        if merge_by is not None:
            geoms = _merged_areas(net, snap, values, dist=dist, buffer_m=buffer_m)
        elif isinstance(net, StraightLineNet):
            geoms = net.service_areas(snap, max_distance_m=dist)
        else:
            geoms = service_areas(net, snap, max_distance_m=dist, buffer_m=buffer_m)
    else:
        geoms = np.empty(0, dtype=object)
    out = gpd.GeoDataFrame({**cols, "minutes": float(minutes), "distance_m": float(dist)},
                           geometry=gpd.GeoSeries(geoms, crs=area.metric_crs).values, crs=area.metric_crs,
                           index=pd.Index(keys, name=None))
    out["area_m2"] = out.geometry.area
    return out[[*cols, "minutes", "distance_m", "area_m2", "geometry"]].to_crs("EPSG:4326")


def _merged_areas(net: WalkNet | StraightLineNet, snap: Any, groups: np.ndarray, *, dist: float,
                  buffer_m: float) -> np.ndarray:
    """One service area per group value, in the order the values first appear."""
    if isinstance(net, StraightLineNet):
        discs = net.service_areas(snap, max_distance_m=dist)
        return np.array([shapely.union_all(discs[groups == g]) for g in pd.unique(groups)], dtype=object)
    _, geoms = grouped_service_areas(net, snap, groups, max_distance_m=dist, buffer_m=buffer_m)
    return geoms
