"""Walking networks: building/loading graphs, the :class:`WalkNet` engine (snapping points to edges,
sparse cutoff walking distances, service areas) and the checks of an area against its network.

Modules: :mod:`~tuoyu_geo.network.build` (GraphML, road lines, Overpass JSON, osmnx downloads),
:mod:`~tuoyu_geo.network.engine` (:class:`WalkNet`, :class:`Snap`, :func:`distance_matrix`,
:func:`node_distances`), :mod:`~tuoyu_geo.network.service` (:func:`service_areas`, :func:`grouped_service_areas`),
:mod:`~tuoyu_geo.network.checks` (datum and reach checks), :mod:`~tuoyu_geo.network.straight`
(:class:`StraightLineNet`: straight line × detour factor for an area without a network;
:func:`area_engine` picks the engine of an area), :mod:`~tuoyu_geo.network.pbf` (walk networks
from an OSM extract, offline), :mod:`~tuoyu_geo.network.tables` (nodes/edges
GeoPackage and Parquet networks, read straight to a WalkNet), :mod:`~tuoyu_geo.network.cache` (prepared
engines cached by the input files' hashes).

Every function that computes on a network takes a :class:`WalkNet` or a networkx graph; with a
graph a WalkNet is built for that call only — build one with ``WalkNet.from_graph(G)`` and pass it
to reuse the arrays, the edge tree and the adjacency.
"""

from __future__ import annotations

from . import checks
from .build import (
    NON_WALK_HIGHWAYS,
    graph_from_lines,
    graph_from_overpass_json,
    graph_from_place,
    graph_from_polygon,
    load_graph,
    read_network,
    save_graph,
)
from .cache import read_walknet
from .engine import Snap, WalkNet, as_net, distance_matrix, node_distances, snap_points
from .pbf import graph_from_pbf
from .service import grouped_service_areas, service_areas
from .straight import StraightLineNet, area_engine, check_detour_factor, distance_model_of
from .tables import read_network_tables, save_network

__all__ = [
    "NON_WALK_HIGHWAYS",
    "Snap",
    "StraightLineNet",
    "WalkNet",
    "area_engine",
    "as_net",
    "check_detour_factor",
    "checks",
    "distance_matrix",
    "distance_model_of",
    "graph_from_lines",
    "graph_from_overpass_json",
    "graph_from_pbf",
    "graph_from_place",
    "graph_from_polygon",
    "grouped_service_areas",
    "load_graph",
    "node_distances",
    "read_network",
    "read_network_tables",
    "read_walknet",
    "save_graph",
    "save_network",
    "service_areas",
    "snap_points",
]
