"""Checks of a study area against its walk network: the Chinese-datum check and the reach check.

Both snap probe points to a :class:`~tuoyu_geo.network.WalkNet` (its snap index, :mod:`~tuoyu_geo.network.nearest`).  :func:`tuoyu_geo.loading.load_area`
runs them on every area read with a network; :func:`tuoyu_geo.area.make_area` does not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely

from .. import crs as _crs
from .._errors import DataError, NetworkError, Problem
from ..area import LAYERS, POINT_LAYERS, StudyArea
from ..area.schema import DATUM_LABEL
from .engine import WalkNet

log = logging.getLogger(__name__)

__all__ = [
    "DATUM_BOUNDARY_STEP_M",
    "DATUM_COVER_M",
    "DATUM_LAYER_CLOSER",
    "DATUM_LAYER_MIN_GAIN_M",
    "DATUM_LAYER_RATIO",
    "DATUM_MIN_COVER",
    "DATUM_MIN_GAIN_M",
    "DATUM_MIN_LAYER_POINTS",
    "DATUM_RATIO",
    "DATUM_TOLERANCE",
    "check_datum",
    "check_graph",
    "check_reach",
    "datum_check",
    "warn_datum_undecided",
]

#: a probe set "clearly prefers" datum A over the declared datum D when
#: median_A <= DATUM_RATIO * median_D and median_D - median_A >= DATUM_MIN_GAIN_M
DATUM_RATIO = 0.5
DATUM_MIN_GAIN_M = 10.0
#: ... and the other probe set does not contradict it: median_A <= 1.25 * median_D + 5 m
DATUM_TOLERANCE = (1.25, 5.0)
#: the check only runs where the network covers the area: >= 75 % of the probes within 300 m of an
#: edge under the declared datum and under the alternative (else the reach check reports the gap)
DATUM_COVER_M = 300.0
DATUM_MIN_COVER = 0.75
#: Calibration (bundled 徐汇区 network, 42 areas of 1, 2 or 4 街道 with their real points): 0 false
#: alarms on the real WGS-84 layers; GCJ-02-as-WGS-84, BD-09-as-GCJ-02 and BD-09-as-WGS-84 mix-ups
#: detected in 98 of 126 cases (all on the whole district).  Looser settings (2× + 10 m, 75 %)
#: detected more but raised false alarms on single 街道, so they were not used.
#: boundary sampling step (m) of the 街道 polygons used as probes
DATUM_BOUNDARY_STEP_M = 50.0

#: single-layer rule (stricter: it has no second probe set): ≥ 20 points, median_A ≤ 0.3 × median_D,
#: median_D − median_A ≥ 15 m and ≥ 90 % of the layer's points closer to the network under A.  On the
#: bundled 徐汇区 network (sparse, median 40 m) random subsets of real WGS-84 points of 20 give a false
#: alarm rate ≤ 0.1 % (0 in 20,000 draws for 40 points); the 5/10-point rates were 1–3 %, hence the 20.
DATUM_MIN_LAYER_POINTS = 20
DATUM_LAYER_RATIO = 0.3
DATUM_LAYER_MIN_GAIN_M = 15.0
DATUM_LAYER_CLOSER = 0.9


def check_graph(G: nx.MultiDiGraph, *, file: str = "network") -> None:
    """A walk graph read from a file is usable: a CRS, ≥ 2 nodes and ≥ 1 edge, every node with
    finite x/y, every edge with a ``length`` that is a finite number ≥ 0.

    A GraphML edge without ``length`` is refused rather than measured: a file that lost its lengths
    (or a part of them) was not written by osmnx as it is, and its geometry may be in degrees or
    simplified.  Road lines (:func:`~tuoyu_geo.network.graph_from_lines`) get their lengths when they
    are noded, before this check.

    Raises
    ------
    NetworkError
        With every problem found, naming the nodes/edges.
    """
    problems = []
    if G.graph.get("crs") is None:
        problems.append(Problem(file, "the network has no CRS", (),
                                "save it with osmnx (GraphML keeps the crs), or give road lines with a CRS (.prj)"))
    if G.number_of_nodes() < 2 or G.number_of_edges() == 0:
        problems.append(Problem(file, f"the network has {G.number_of_nodes()} node(s) and {G.number_of_edges()} "
                                "edge(s): nothing to walk on", (), "give a walk network covering the study area"))

    def bad_num(v: object) -> bool:
        try:
            return not np.isfinite(float(v))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True
    noxy = [str(n) for n, d in G.nodes(data=True) if bad_num(d.get("x")) or bad_num(d.get("y"))]
    if noxy:
        problems.append(Problem(file, "network nodes without coordinates (x/y missing or not a number)",
                                tuple(noxy), "give every node numeric x and y attributes (osmnx does)"))
    nolen = [f"{u}-{v}" for u, v, d in G.edges(data=True) if "length" not in d]
    if nolen:
        problems.append(Problem(file, f"{len(nolen)} of {G.number_of_edges()} network edges have no length attribute",
                                tuple(nolen), "give every edge its length in metres (osmnx graphs have it; "
                                "ox.distance.add_edge_lengths(G) adds it before ox.save_graphml), or give the roads "
                                "as lines (GeoPackage/Shapefile), whose lengths are measured"))
    badlen = [f"{u}-{v}" for u, v, d in G.edges(data=True)
              if "length" in d and (bad_num(d["length"]) or float(d["length"]) < 0)]
    if badlen:
        problems.append(Problem(file, "network edges with a negative, infinite or non-numeric length",
                                tuple(badlen), "give edge length in metres ≥ 0"))
    if problems:
        raise NetworkError(problems)


def _net_of(area: StudyArea, net: WalkNet | None) -> WalkNet:
    if net is not None:
        return net
    if area.graph is None:
        raise ValueError("the area has no walk network")
    return WalkNet.from_area(area)


def _probes(area: StudyArea) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """WGS-84 lon/lat of the probe sets: 街道 boundary samples and all point-layer points
    (:meth:`StudyArea.points`)."""
    b = area.streets.to_crs(area.metric_crs).boundary
    coords = shapely.get_coordinates(shapely.segmentize(b.values, DATUM_BOUNDARY_STEP_M))
    tr = pyproj.Transformer.from_crs(area.metric_crs, "EPSG:4326", always_xy=True)
    bx, by = tr.transform(coords[:, 0], coords[:, 1])
    out = {"streets": (np.asarray(bx), np.asarray(by))}
    px, py = [], []
    for layer in POINT_LAYERS:
        p = area.points(layer)
        x, y = tr.transform(p.x.to_numpy(), p.y.to_numpy())
        px.append(np.asarray(x, dtype=float))
        py.append(np.asarray(y, dtype=float))
        out[layer] = (px[-1], py[-1])
    out["points"] = (np.concatenate(px), np.concatenate(py))
    return out


def datum_check(area: StudyArea, declared: str = "wgs84", *, net: WalkNet | None = None) -> pd.DataFrame:
    """How well the layers fit the walk network under each Chinese datum hypothesis.

    The layers of ``area`` are stored in WGS-84 after conversion from the ``declared`` datum.  For
    each hypothesis ``h`` in (wgs84, gcj02, bd09) the raw file coordinates are re-interpreted as
    ``h`` and the median distance (m) to the nearest network edge is computed for two probe sets:
    the 街道 boundaries (sampled every 50 m; boundaries usually follow roads) and the points of
    the community/institution/candidate layers.

    Parameters
    ----------
    area : StudyArea
        With a walk graph (or pass ``net``).
    declared : str
        The datum the files were declared in.
    net : WalkNet, optional
        The engine of ``area.graph`` (built for this call when None).

    Returns
    -------
    DataFrame
        Index: hypotheses; columns ``streets_m`` and ``points_m`` (median distances), the same
        per point layer (``communities_m``, ``institutions_m``, ``candidates_m``), the share of a
        layer's points that are closer than under the declared datum (``<layer>_closer``) and
        ``covered`` (share of all probes within 300 m of an edge).

    Raises
    ------
    ValueError
        The area has no walk network and no ``net`` is given.
    """
    net = _net_of(area, net)
    tr = pyproj.Transformer.from_crs("EPSG:4326", area.metric_crs, always_xy=True)
    rows: dict[str, dict[str, float]] = {}
    probes = _probes(area)
    dists: dict[str, dict[str, np.ndarray]] = {}
    for h in _crs.CRS_NAMES:
        row: dict[str, float] = {}
        near = []
        dists[h] = {}
        for key, (lon, lat) in probes.items():
            rx, ry = _crs.convert(lon, lat, "wgs84", declared)
            hx, hy = _crs.convert(rx, ry, h, "wgs84")
            mx, my = tr.transform(hx, hy)
            dist = net.nearest_edges(np.asarray(mx), np.asarray(my))[1]
            dists[h][key] = dist
            row[f"{key}_m"] = float(np.median(dist)) if len(dist) else float("nan")
            if key in ("streets", "points"):
                near.append(dist <= DATUM_COVER_M)
        row["covered"] = float(np.concatenate(near).mean())
        rows[h] = row
    for h in _crs.CRS_NAMES:
        for layer in POINT_LAYERS:
            a, d = dists[h][layer], dists[declared][layer]
            rows[h][f"{layer}_closer"] = float((a < d).mean()) if len(a) else 0.0
    return pd.DataFrame.from_dict(rows, orient="index")


def _prefers(t: pd.DataFrame, declared: str) -> str | None:
    """The alternative datum both probe sets prefer by the rule of :func:`check_datum`, if any."""
    d = t.loc[declared]
    ratio, tol = DATUM_RATIO, DATUM_TOLERANCE

    def better(md: float, ma: float) -> bool:
        return ma <= ratio * md and md - ma >= DATUM_MIN_GAIN_M

    def not_worse(md: float, ma: float) -> bool:
        return ma <= tol[0] * md + tol[1]

    hits = []
    for alt in t.index:
        if alt == declared:
            continue
        a = t.loc[alt]
        if a.covered < DATUM_MIN_COVER:
            continue
        if ((better(d.streets_m, a.streets_m) and not_worse(d.points_m, a.points_m))
                or (better(d.points_m, a.points_m) and not_worse(d.streets_m, a.streets_m))):
            hits.append((a.streets_m + a.points_m, alt))
    return min(hits)[1] if hits else None


def warn_datum_undecided(declared: str, fnames: Mapping[str, str] | None = None, *, why: str) -> str:
    """Log (WARNING) and return that the datum check cannot tell WGS-84 from GCJ-02 here.

    Parameters
    ----------
    declared : str
        The declared datum (``crs`` in area.toml).
    fnames : mapping, optional
        Layer → file name; the message names the layer files.
    why : str
        Why the check is inconclusive (no network; the points lie away from its roads).
    """
    fnames = fnames or {}
    files = ", ".join(fnames.get(k, k) for k in LAYERS)
    msg = (f"cannot tell WGS-84 from GCJ-02 for {files} (declared crs = \"{declared}\"): {why}. A GCJ-02 file read "
           "as WGS-84 (or the reverse) shifts every point by 300–700 m without any other sign. What would decide it: "
           "a walk network covering the area (layers.network in area.toml, e.g. built from an OSM extract), or one "
           "known landmark — compare one point of these files with the same place on a WGS-84 map or a GPS "
           "reading (GCJ-02 is ~500 m off; AMap/Tencent coordinates are GCJ-02, Baidu's BD-09)")
    log.warning(msg)
    return msg


def check_datum(area: StudyArea, declared: str, fnames: Mapping[str, str] | None = None, *,
                network_crs: str = "wgs84",
                net: WalkNet | None = None) -> None:
    """Raise DataError when the layers clearly fit the network better under another datum.

    Rule: an alternative datum A is chosen over the declared datum D when, for one probe set
    (街道 boundaries or points), ``median_A <= 0.5 * median_D`` and ``median_D - median_A >= 10 m``,
    and for the other probe set ``median_A <= 1.25 * median_D + 5 m`` (no contradiction).  It is
    skipped unless the network covers the area (≥ 75 % of the probes within 300 m of an edge under
    both datums); when it is not, a warning says the datum cannot be told
    (:func:`warn_datum_undecided`).  Without such a mix-up of all layers, one point layer in another datum is looked
    for (single-layer rule, ``DATUM_LAYER_*``).

    Parameters
    ----------
    area : StudyArea
    declared : str
        Declared datum (``wgs84``, ``gcj02`` or ``bd09``).
    fnames : mapping, optional
        Layer → file name for the messages.
    network_crs : str
        Datum the road lines were read in (named in the message as the other suspect).
    net : WalkNet, optional
        The engine of ``area.graph`` (built for this call when None).
    """
    fnames = fnames or {}
    t = datum_check(area, declared, net=net)
    d = t.loc[declared]
    if d.covered < DATUM_MIN_COVER:
        net_file = fnames.get("network", "the walk network")
        warn_datum_undecided(declared, fnames, why=f"only {d.covered:.0%} of the 街道 boundary samples and points lie "
                             f"within {DATUM_COVER_M:.0f} m of a road of {net_file} (the check needs "
                             f"{DATUM_MIN_COVER:.0%})")
        return
    alt = _prefers(t, declared)
    if alt is None:
        _check_layer_datum(area, t, declared, fnames)
        return
    a = t.loc[alt]
    files = tuple(fnames.get(k, k) for k in LAYERS) + ((fnames["network"],) if "network" in fnames else ())
    net_file = fnames.get("network", "the walk network")
    raise DataError([Problem(
        "area.toml",
        f"looks like {DATUM_LABEL[alt]} coordinates declared as {DATUM_LABEL[declared].split(' (')[0]}: "
        f"median distance to the walk network is {d.streets_m:.0f} m (街道 boundaries) / "
        f"{d.points_m:.0f} m (points) as declared, but {a.streets_m:.0f} m / {a.points_m:.0f} m if the "
        f"files are {alt} — or the layers are {declared} and the road lines of {net_file} are read in "
        f"another datum ({network_crs})", files,
        f'set crs = "{alt}" in area.toml (or convert the files to {declared} first); if instead the road '
        f'lines of {net_file} are {declared} like the other layers, set network_crs = "{declared}"')])


def _layer_alternative(t: pd.DataFrame, layer: str, declared: str) -> tuple[str, float] | None:
    """(datum, median) one layer clearly prefers by the single-layer rule, if any."""
    col = f"{layer}_m"
    d = t.loc[declared]
    best = None
    for alt in t.index:
        if alt == declared or t.loc[alt, "covered"] < DATUM_MIN_COVER:
            continue
        md, ma = d[col], t.loc[alt, col]
        if (ma <= DATUM_LAYER_RATIO * md and md - ma >= DATUM_LAYER_MIN_GAIN_M
                and t.loc[alt, f"{layer}_closer"] >= DATUM_LAYER_CLOSER and (best is None or ma < best[1])):
            best = (alt, ma)
    return best


def _check_layer_datum(area: StudyArea, t: pd.DataFrame, declared: str, fnames: Mapping[str, str]) -> None:
    """One point layer in another datum than the rest (e.g. AMap POIs in GCJ-02 among WGS-84
    layers), by the single-layer rule above (DATUM_LAYER_*)."""
    d = t.loc[declared]
    problems = []
    for layer in POINT_LAYERS:
        if len(getattr(area, layer)) < DATUM_MIN_LAYER_POINTS or f"{layer}_m" not in t:
            continue
        best = _layer_alternative(t, layer, declared)
        if best is None:
            continue
        alt, ma = best
        ids = tuple(getattr(area, layer).index[:10])
        problems.append(Problem(
            fnames.get(layer, layer),
            f"{layer} look like {DATUM_LABEL[alt]} coordinates while the other layers are "
            f"{DATUM_LABEL[declared].split(' (')[0]}: median distance to the walk network {d[f'{layer}_m']:.0f} m as "
            f"declared, {ma:.0f} m as {alt}", ids,
            f"convert this file to {declared} first (tuoyu_geo.crs.convert_geoseries(gdf, \"{alt}\", "
            f"\"{declared}\")); crs in area.toml applies to every layer"))
    DataError.collect(problems)


def check_reach(area: StudyArea, fnames: Mapping[str, str] | None = None, *, net: WalkNet | None = None) -> None:
    """Raise NetworkError for points with no network edge within the largest walking threshold
    or whose nearest edge lies on a small disconnected part (island) of the network.

    Parameters
    ----------
    area : StudyArea
        With a walk graph (or pass ``net``); the threshold is the largest of ``area.policy.circle_m``
        (1000 m when it has none).
    fnames : mapping, optional
        Layer → file name for the messages.
    net : WalkNet, optional
        The engine of ``area.graph`` (built for this call when None).
    """
    fnames = fnames or {}
    net = _net_of(area, net)
    comp, sizes = net.components()
    max_m = max(area.policy.circle_m.values()) if area.policy.circle_m else 1000.0
    problems = []
    for layer in POINT_LAYERS:
        pts = area.points(layer)
        edge, dist = net.nearest_edges(pts.x.to_numpy(), pts.y.to_numpy())
        ids = getattr(area, layer).index.to_numpy()
        fname = fnames.get(layer, layer)
        far = dist > max_m
        if far.any():
            problems.append(Problem(fname, f"{layer} farther than {max_m:.0f} m from every road of the "
                                    "walk network (nothing is reachable from them)", tuple(ids[far]),
                                    "extend the network to cover them (a larger download area) or check "
                                    "their coordinates"))
        ecomp = comp[net.eu[edge]]
        island = ~far & (ecomp != 0)
        if island.any():
            isl_sizes = sorted({int(sizes[c]) for c in ecomp[island]})
            problems.append(Problem(
                fname, f"{layer} lie next to a disconnected island of the walk network "
                f"({', '.join(map(str, isl_sizes))} nodes; the main network has {int(sizes[0])})",
                tuple(ids[island]),
                "connect the island's roads to the main network, or keep only the largest connected "
                "component (osmnx.truncate.largest_component) and check these points"))
    if problems:
        raise NetworkError(problems)


