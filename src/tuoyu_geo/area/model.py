"""The validated study area (:class:`StudyArea`) and :func:`make_area` (in-memory layers → area)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from .. import _display as _d
from .. import crs as _crs
from .._errors import DataError, Problem
from ..policy import Policy, load_policy
from . import validate as _v
from .points import representative_points
from .schema import LAYERS

__all__ = ["StudyArea", "make_area"]

_FIELDS = ("name", "streets", "communities", "institutions", "candidates", "policy", "graph", "metric_crs",
           "input_crs", "folder", "files", "attribution", "detour_factor")


@dataclass(frozen=True)
class StudyArea:
    """A validated study area.  All layers are WGS-84 (EPSG:4326), indexed by their id.

    Attributes
    ----------
    name : str
        Display name (e.g. ``上海市徐汇区``).
    streets, communities, institutions, candidates : geopandas.GeoDataFrame
        Layers in EPSG:4326 with the contract columns; the index equals the id column
        (``street_id``, ``community_id``, ``institution_id``, ``site_id``; ids are strings).
        ``communities``, ``institutions`` and ``candidates`` always carry ``street_id``;
        ``infants`` is always filled: where it was missing, ``streets`` and ``communities`` estimate
        it from the row's ``births_<year>`` columns when it has any (Σ births of its last three years
        present × ``policy.infant_survival``), else as population × ``policy.infant_share``; the bool
        column ``infants_estimated`` flags those rows and ``infants_source`` says "given", "births"
        or "population share".  ``institutions.puhui`` is a bool.
    policy : Policy
        The policy the estimated infants were computed with (see :meth:`with_policy`).
    graph : networkx.MultiDiGraph, WalkNet or None
        Walk network in ``metric_crs`` (edge ``length`` in metres), if the area has one: a networkx
        graph (GraphML, road lines, in-memory graphs) or, for networks read from nodes/edges
        tables (GeoPackage, Parquet), the :class:`~tuoyu_geo.network.WalkNet` engine itself (no
        networkx graph is built).  Use ``WalkNet.from_area(area)`` to compute on either.
    metric_crs : str
        Local metric CRS (UTM zone of the area) used for every distance.
    input_crs : str
        Coordinate system the files were written in (converted to WGS-84 on load).
    folder : Path or None
        Folder the area was read from.
    files : mapping
        Layer name → file path (for manifests / hashes).
    attribution : str
        Data sources and licences to show on maps and exports.
    detour_factor : float or None
        Detour factor of the straight-line fallback used when the area has no walk network
        (``detour_factor`` in area.toml; None: ``settings.DETOUR_FACTOR``).  Ignored with a network.
    """

    name: str
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    institutions: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    policy: Policy
    graph: Any = None
    metric_crs: str = "EPSG:32651"
    input_crs: str = "wgs84"
    folder: Path | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    attribution: str = ""
    detour_factor: float | None = None

    def metric(self, layer: str) -> gpd.GeoDataFrame:
        """A copy of ``layer`` projected to :attr:`metric_crs`."""
        return getattr(self, layer).to_crs(self.metric_crs)

    def points(self, layer: str) -> gpd.GeoSeries:
        """THE representative points of ``layer`` in :attr:`metric_crs` (polygons → inner point).

        Every walking distance and every 街道 assignment uses these points
        (:func:`tuoyu_geo.area.points.representative_points`).  Index = the layer's ids.
        """
        return representative_points(getattr(self, layer).geometry, self.metric_crs)

    def with_policy(self, policy: Policy | str | None) -> StudyArea:
        """The area under ``policy``: estimated infants re-computed, ``policy`` replaced.

        Rows of ``streets`` and ``communities`` whose ``infants_estimated`` is True are estimated
        again: from births (× ``policy.infant_survival``) where the row has births, else as
        ``population × policy.infant_share``; given infants are kept.  Returns ``self`` when
        ``policy`` is None or equals the area's policy (same object or same values), so a different
        profile — or the same profile with another ``infant_share`` or ``infant_survival`` — never
        silently keeps the old estimate.

        Parameters
        ----------
        policy : Policy, str or None
            A Policy, a shipped profile name or a TOML path.

        Returns
        -------
        StudyArea
            Frames of the new area are copies (the graph is shared).
        """
        if policy is None:
            return self
        pol = load_policy(policy)
        if pol is self.policy or pol == self.policy:
            return self
        layers = {}
        for key in ("streets", "communities"):
            g = getattr(self, key).copy()
            _v.fill_infants(g, pol)
            layers[key] = g
        return dataclasses.replace(self, policy=pol, **layers)

    def summary(self) -> pd.DataFrame:
        """Per-街道 summary: population, infants, communities, institutions, places, 普惠, candidates."""
        s = self.streets
        out = pd.DataFrame({"street_id": s["street_id"], "name": s["name"],
                            "population": s["population"], "infants": s["infants"]}, index=s.index)
        out["communities"] = self.communities.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        inst = self.institutions
        out["institutions"] = inst.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        out["places"] = inst.groupby("street_id")["places"].sum().reindex(s.index).fillna(0).astype(int)
        pu = inst[inst["puhui"]]
        out["puhui_institutions"] = pu.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        out["puhui_places"] = pu.groupby("street_id")["places"].sum().reindex(s.index).fillna(0).astype(int)
        out["candidates"] = self.candidates.groupby("street_id").size().reindex(s.index).fillna(0).astype(int)
        return out

    def fingerprint(self) -> str:
        """Hash of what walking access depends on: the ids and positions (WGS-84, to 1e-7°, ≈ 1 cm) of
        communities, institutions and candidate sites, and the institutions' places, 普惠 flag and
        category.  Results computed for one area (:class:`tuoyu_geo.access.Access`) carry it, so
        they cannot be used with another area that merely has the same ids."""
        h = hashlib.sha1()
        for name, layer, cols in (("communities", self.communities, ()),
                                  ("institutions", self.institutions, ("places", "puhui", "category")),
                                  ("candidates", self.candidates, ())):
            xy = np.round(np.column_stack([layer.geometry.x.to_numpy(float), layer.geometry.y.to_numpy(float)]), 7)
            h.update(name.encode())
            h.update("\x1f".join(map(str, layer.index)).encode("utf-8"))
            h.update(np.ascontiguousarray(xy + 0.0).tobytes())
            for c in cols:
                if c in layer:
                    h.update("\x1f".join(map(str, layer[c].tolist())).encode("utf-8"))
        return h.hexdigest()[:16]

    def replace(self, **changes: Any) -> StudyArea:
        """A copy with some fields replaced (layers are re-validated by :func:`make_area`)."""
        kw = {k: getattr(self, k) for k in _FIELDS}
        kw.update(changes)
        return make_area(**kw)

    def _summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows of :meth:`__repr__` and :meth:`_repr_html_`."""
        inst = self.institutions
        pu = inst["puhui"].astype(bool)
        g = self.graph
        return [("policy", self.policy.name),
                ("街道 streets", f"{len(self.streets):,}"),
                ("population", f"{_d.count(self.streets['population'].sum())} "
                               f"(infants {_d.count(self.streets['infants'].sum())})"),
                ("小区 communities", f"{len(self.communities):,}"),
                ("托育机构 institutions", f"{len(inst):,} (普惠 {int(pu.sum()):,}), "
                                       f"places {_d.count(inst['places'].sum())} "
                                       f"(普惠 {_d.count(inst['places'][pu].sum())})"),
                ("候选站点 candidates", f"{len(self.candidates):,}"),
                ("walk graph", "none" if g is None else
                 f"{g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges ({self.metric_crs})")]

    def __repr__(self) -> str:
        return _d.text(f"StudyArea {self.name}", self._summary_rows())

    def _repr_html_(self) -> str:
        return _d.html(f"StudyArea {self.name}", self._summary_rows())


# -------------------------------------------------------------------------------- make_area

def _validated_layers(given: Mapping[str, Any], names: Mapping[str, str],
                      problems: list[Problem]) -> dict[str, gpd.GeoDataFrame | None]:
    """Every layer checked on its own (WGS-84, ids, numbers, geometry)."""
    layers: dict[str, gpd.GeoDataFrame | None] = {}
    for key in LAYERS:
        gdf = given[key]
        if gdf is None:
            problems.append(Problem(names[key], f"no {key} layer given", (), f"add layers.{key} to area.toml"))
            layers[key] = None
            continue
        if not isinstance(gdf, gpd.GeoDataFrame):
            problems.append(Problem(names[key], "not a GeoDataFrame", (), "pass a geopandas.GeoDataFrame"))
            layers[key] = None
            continue
        g = gdf
        if g.crs is None:
            g = g.set_crs("EPSG:4326")
        elif not g.crs.equals(pyproj.CRS.from_epsg(4326)):
            g = g.to_crs("EPSG:4326")
        layers[key] = _v.validate_layer(g.reset_index(drop=True), key, names[key], problems)
    return layers


def _finish_point_layer(key: str, g: gpd.GeoDataFrame, pol: Policy, fname: str,
                        problems: list[Problem]) -> gpd.GeoDataFrame:
    if key == "institutions":
        return _v.finish_institutions(g, fname, problems)
    if key == "candidates":
        _v.finish_candidates(g, fname, problems, pol.target_year - 1)
        _v.warn_unusable_candidates(g, pol, fname)
    else:
        _v.finish_communities(g, pol)
    return g


def _metric_crs(streets: gpd.GeoDataFrame) -> str:
    """UTM zone of the streets' centre."""
    c = streets.geometry.union_all().centroid
    return _crs.utm_crs(c.x, c.y).to_string()


def _project_graph(graph: Any, metric_crs: str) -> Any:
    if not hasattr(graph, "graph") and hasattr(graph, "to_crs"):  # a WalkNet engine (network layer)
        return graph.to_crs(metric_crs)
    gcrs = graph.graph.get("crs")
    if gcrs is not None and pyproj.CRS.from_user_input(gcrs).equals(pyproj.CRS.from_user_input(metric_crs)):
        return graph
    import osmnx as ox  # only here: importing osmnx takes ≈ 1.6 s (a plan re-makes its area with the engine)

    return ox.project_graph(graph, to_crs=metric_crs)


def make_area(*, streets: gpd.GeoDataFrame, communities: gpd.GeoDataFrame,
              institutions: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame,
              policy: Policy | str = "national-2025", graph: Any = None, name: str = "study area",
              metric_crs: str | None = None, input_crs: str = "wgs84", folder: Path | None = None,
              files: Mapping[str, str] | None = None, attribution: str = "",
              file_names: Mapping[str, str] | None = None, detour_factor: float | None = None) -> StudyArea:
    """Validate in-memory layers and build a :class:`StudyArea`.

    Parameters
    ----------
    streets, communities, institutions, candidates : GeoDataFrame
        Layers following the data contract, in EPSG:4326 (or any CRS, reprojected to WGS-84).
    policy : Policy or str
        Policy profile or its name; missing ``infants`` are estimated from births (its
        ``infant_survival``) or population (its ``infant_share``), flagged in ``infants_estimated``
        and ``infants_source`` (see :meth:`StudyArea.with_policy`).
    graph : networkx.MultiDiGraph or WalkNet, optional
        Walk network; projected to ``metric_crs`` if it is not already.
    metric_crs : str, optional
        Metric CRS; default the UTM zone of the streets' centre.
    file_names : mapping, optional
        Layer → file name used in error messages.
    detour_factor : float, optional
        Detour factor of the straight-line fallback (no walk network); finite and ≥ 1.

    Returns
    -------
    StudyArea

    Raises
    ------
    DataError
        With every problem of every layer.
    """
    pol = load_policy(policy)
    if detour_factor is not None:
        detour_factor = _v.check_detour_factor(detour_factor, file="detour_factor")
    names = {k: (file_names or {}).get(k, k) for k in LAYERS}
    problems: list[Problem] = []
    layers = _validated_layers({"streets": streets, "communities": communities, "institutions": institutions,
                                "candidates": candidates}, names, problems)
    st = layers["streets"]
    if st is not None:
        _v.finish_streets(st, pol)
    valid_streets = st is not None and not any(p.file == names["streets"] for p in problems)
    if valid_streets:
        _v.check_overlaps(st, names["streets"], problems)
        valid_streets = not any(p.file == names["streets"] for p in problems)
    if valid_streets and metric_crs is None:
        metric_crs = _metric_crs(st)
    for key in ("communities", "institutions", "candidates"):
        g = layers[key]
        if g is None:
            continue
        g = layers[key] = _finish_point_layer(key, g, pol, names[key], problems)
        if key == "communities" and st is not None:
            _v.warn_population_units(st, g, names[key])
        if valid_streets and not (g.geometry.isna() | g.geometry.is_empty).any():
            _v.assign_streets(g, st, key, names[key], problems, metric_crs=metric_crs,
                              declared=str(input_crs).lower())
    DataError.collect(problems)
    assert st is not None and metric_crs is not None
    for key in LAYERS:
        g = layers[key]
        g.index = pd.Index(g[LAYERS[key]["id"]].astype(str).values, name=None)
    if graph is not None:
        graph = _project_graph(graph, metric_crs)
    return StudyArea(name=name, streets=st, communities=layers["communities"],
                     institutions=layers["institutions"], candidates=layers["candidates"], policy=pol,
                     graph=graph, metric_crs=metric_crs, input_crs=input_crs, folder=folder,
                     files=MappingProxyType(dict(files or {})), attribution=attribution,
                     detour_factor=detour_factor)


