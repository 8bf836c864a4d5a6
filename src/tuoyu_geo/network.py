"""Walking networks: building/loading graphs, snapping points to edges, sparse cutoff distances."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import numpy as np

from ._errors import NetworkError

log = logging.getLogger(__name__)

#: OSM highway values that are never walkable
NON_WALK_HIGHWAYS = frozenset({"motorway", "motorway_link", "construction", "proposed", "raceway", "bus_guideway"})


def _walkable(tags: dict) -> bool:
    if "highway" not in tags:
        return False
    if tags.get("highway") in NON_WALK_HIGHWAYS:
        return False
    if tags.get("foot") == "no" or tags.get("access") in ("no", "private") and tags.get("foot") not in ("yes", "designated"):
        return False
    if tags.get("area") == "yes":
        return False
    return True


def graph_from_overpass_json(paths: str | Path | Iterable[str | Path], *, simplify: bool = True,
                             largest_component: bool = True) -> nx.MultiDiGraph:
    """Build an osmnx-compatible walk graph (EPSG:4326, ``length`` in metres) from Overpass JSON.

    Parameters
    ----------
    paths : path or iterable of paths
        Overpass JSON responses (``{"elements": [...]}``, as cached by osmnx).  Ways of several
        files are merged by OSM node id.
    simplify : bool
        Merge interstitial nodes with :func:`osmnx.simplify_graph`.
    largest_component : bool
        Keep only the largest weakly connected component.

    Notes
    -----
    Motorways, ``foot=no``, ``access=no/private`` (unless foot is allowed) and area ways are
    dropped.  Every way is walkable in both directions (pedestrians ignore ``oneway``).
    """
    import osmnx as ox

    if isinstance(paths, (str, Path)):
        paths = [paths]
    nodes: dict[int, dict] = {}
    ways: dict[int, dict] = {}
    for p in paths:
        p = Path(p)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NetworkError(f"cannot read Overpass JSON: {exc}", file=p.name,
                               fix="give the JSON saved from an Overpass query (osmnx cache format)") from None
        for el in data.get("elements", []):
            if el.get("type") == "node":
                nodes[el["id"]] = {"y": float(el["lat"]), "x": float(el["lon"]), "street_count": 0}
            elif el.get("type") == "way" and _walkable(el.get("tags", {})):
                ways[el["id"]] = el
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for wid, w in ways.items():
        seq = [n for n in w.get("nodes", []) if n in nodes]
        tags = w.get("tags", {})
        attrs = {"osmid": wid, "highway": tags.get("highway", ""), "oneway": False, "reversed": False}
        if "name" in tags:
            attrs["name"] = tags["name"]
        for u, v in zip(seq[:-1], seq[1:]):
            if u == v:
                continue
            for a, b, rev in ((u, v, False), (v, u, True)):
                G.add_node(a, osmid=a, **nodes[a])
                G.add_node(b, osmid=b, **nodes[b])
                G.add_edge(a, b, **{**attrs, "reversed": rev})
    if G.number_of_edges() == 0:
        raise NetworkError("no walkable ways in the Overpass JSON", file=", ".join(Path(p).name for p in paths),
                           fix="query highway ways (network_type='walk') for the study area")
    G = ox.distance.add_edge_lengths(G)
    if simplify:
        G = ox.simplify_graph(G)
    if largest_component:
        G = ox.truncate.largest_component(G, strongly=False)
    log.info("walk graph: %d nodes, %d edges", G.number_of_nodes(), G.number_of_edges())
    return G
