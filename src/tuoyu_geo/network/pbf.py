"""Walk networks from an OpenStreetMap extract (``.osm.pbf``), offline.

A planner without internet (政务内网) can carry a province extract onto the machine.  The walk
network of a study area is built from it in the way osmnx builds it from Overpass
(``ox.graph_from_polygon(poly, network_type="walk")``):

1. the PBF is streamed with pyosmium (``osmium``): node locations are cached in C++ and only ways
   with a ``highway`` tag reach Python;
2. a way is kept when it passes osmnx's own ``walk`` filter (the Overpass filter string of
   ``osmnx._overpass``, parsed here, not re-typed: ``highway`` present, ``area!~yes``,
   ``access!~private``, ``highway!~cycleway|motor|…``, ``foot!~no``, ``service!~private``,
   ``sidewalk*!~separate``) and has a node inside the bounding box of the area + buffer;
3. those ways and their nodes are written to a temporary OSM XML file and read by
   :func:`osmnx.graph_from_xml` (``bidirectional=True``, as for ``walk``), so nodes, edges, tags
   and great-circle ``length`` come from the same osmnx code as an Overpass download;
4. as in ``graph_from_polygon``: nodes outside the area + buffer are dropped (the rule of
   ``truncate_graph_polygon``: a node on the boundary stays), the largest weakly connected
   component is kept (the rule of ``ox.truncate.largest_component``; both done in place, as
   osmnx's copies took half of the build time), the graph is simplified (``simplify_graph``) and
   ``street_count`` is set.

Node tags (``highway=crossing`` …) are not read (it would take a second pass over the file); osmnx
does not use them for the walk graph's topology or lengths.

Why pyosmium: measured in ``benchmarks/bench_pbf.py`` (see ``benchmarks/README.md``); a 5 MB
wheel with no further dependencies, maintained with libosmium by the OSM community, and it streams
(memory grows with the node-location cache, ≈22 bytes per node of the file, not with the tags).
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import pyproj
import shapely

from .. import settings
from .._errors import NetworkError

log = logging.getLogger(__name__)

__all__ = ["graph_for_area", "graph_from_pbf", "is_pbf", "pbf_header_bounds", "walk_filter", "walkable"]

_FIX_CORRUPT = "the file is damaged or not an OSM PBF: download the extract again (compare its size/MD5 with the source)"
_CLAUSE = re.compile(r'\["([^"]+)"(?:(!?[~=])"([^"]*)")?\]')


def is_pbf(path: str | Path) -> bool:
    """True for a ``*.osm.pbf`` / ``*.pbf`` file name."""
    return str(path).lower().endswith(".pbf")


# ------------------------------------------------------------------------------ the walk filter

def _osmnx_walk_filter() -> str:
    """osmnx's Overpass filter string for ``network_type="walk"`` (osmnx ≥ 2: ``_get_network_filter``;
    1.x: ``_get_osm_filter``)."""
    from osmnx import _overpass

    get = getattr(_overpass, "_get_network_filter", None) or _overpass._get_osm_filter
    return str(get("walk"))


def walk_filter(text: str | None = None) -> tuple[tuple[str, str, Any], ...]:
    """The clauses ``(key, op, value)`` of an Overpass tag filter (default osmnx's ``walk`` filter).

    ``op`` is ``""`` (key present), ``"~"``/``"!~"`` (value matches / does not match a regular
    expression, unanchored, case-sensitive, as in Overpass) or ``"="``/``"!="``.

    Raises
    ------
    RuntimeError
        The filter has a clause this parser does not know (a newer osmnx): a bug to report.
    """
    text = _osmnx_walk_filter() if text is None else text
    out, pos = [], 0
    for m in _CLAUSE.finditer(text):
        if m.start() != pos:
            break
        key, op, val = m.group(1), m.group(2) or "", m.group(3)
        out.append((key, op, re.compile(val) if op in ("~", "!~") else val))
        pos = m.end()
    if pos != len(text) or not out:
        raise RuntimeError(f"cannot parse the osmnx walk filter {text!r} at {text[pos:pos + 40]!r}")
    return tuple(out)


def walkable(tags: Mapping[str, str], clauses: tuple[tuple[str, str, Any], ...] | None = None) -> bool:
    """Does a way with these tags pass the Overpass filter (default osmnx's ``walk`` filter)?

    Overpass semantics: ``[k!~re]`` and ``[k!=v]`` also pass ways without the key.
    """
    for key, op, val in clauses if clauses is not None else walk_filter():
        v = tags.get(key)
        if op == "":
            ok = v is not None
        elif op == "~":
            ok = v is not None and val.search(v) is not None
        elif op == "!~":
            ok = v is None or val.search(v) is None
        elif op == "=":
            ok = v == val
        else:  # "!="
            ok = v != val
        if not ok:
            return False
    return True


# ------------------------------------------------------------------------------ reading the PBF

def _bad_file(path: Path, exc: BaseException) -> NetworkError:
    return NetworkError(f"cannot read the OSM extract ({exc})", file=path.name, fix=_FIX_CORRUPT)


def _check_file(path: Path) -> None:
    try:
        found = path.is_file()
    except OSError:
        found = False
    if not found:
        raise NetworkError(f"OSM extract not found (or not a file): {str(path)[:200]}", file=path.name[:80],
                           fix="check the path of the .osm.pbf file (layers.network in area.toml or the command line)")


def pbf_header_bounds(path: str | Path) -> tuple[float, float, float, float] | None:
    """The bounding box ``(west, south, east, north)`` stored in the PBF header, or None.

    Cheap: reads the header block only (extracts cut with ``osmium extract`` carry one).

    Raises
    ------
    NetworkError
        Missing file, or a header that is not an OSM PBF header (names the file).
    """
    import osmium

    path = Path(path)
    _check_file(path)
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
    except RuntimeError as exc:
        raise _bad_file(path, exc) from None
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _fmt(b: tuple[float, float, float, float]) -> str:
    return f"lon {b[0]:.4f}–{b[2]:.4f}, lat {b[1]:.4f}–{b[3]:.4f}"


def _disjoint(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def _not_covering(path: Path, extent: tuple[float, ...], area: tuple[float, ...], what: str) -> NetworkError:
    return NetworkError(f"the OSM extract does not cover the study area: its {what} span {_fmt(extent)}, "
                        f"the area + buffer spans {_fmt(area)}", file=path.name,
                        fix="use the extract of the province/city that contains the area (OSM data are WGS-84; "
                            "check the area's crs in area.toml)")


def _way_nodes(w: Any) -> tuple[list[int], list[float], list[float]]:
    """Node ids, longitudes and latitudes of a way; nodes missing from the extract (ways cut at its
    edge) are skipped."""
    refs, lons, lats = [], [], []
    for nr in w.nodes:
        loc = nr.location
        if loc.valid():
            refs.append(nr.ref)
            lons.append(loc.lon)
            lats.append(loc.lat)
    return refs, lons, lats


def _read_ways(path: Path, bounds: tuple[float, float, float, float]) -> tuple[dict, dict, tuple | None]:
    """Walkable ways with a node inside ``bounds`` ({way id: (node ids, tags)}), their nodes
    ({id: (lon, lat)}) and the extent of every highway node read (None: none).

    The coordinates of every highway way are first taken from its line built in C++ (WKB), 3–4×
    faster than a Python loop over its nodes; only ways near the area are read node by node.
    """
    import osmium

    w0, s0, e0, n0 = bounds
    clauses = walk_filter()
    ways: dict[int, tuple[list[int], dict[str, str]]] = {}
    nodes: dict[int, tuple[float, float]] = {}
    ext = [180.0, 90.0, -180.0, -90.0]
    wkb, every_node = osmium.geom.WKBFactory(), osmium.geom.use_nodes.ALL
    fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway")))
    try:
        for w in fp:
            way = None
            try:  # little-endian WKB line: 9 header bytes, then x, y doubles
                line = bytes.fromhex(wkb.create_linestring(w, every_node))
                xy = memoryview(line)[9:].cast("d") if line[0] == 1 else None
            except (osmium.InvalidLocationError, RuntimeError):  # a node missing; < 2 nodes
                xy = None
            if xy is not None:
                xs, ys = xy[0::2], xy[1::2]
            else:
                way = _way_nodes(w)
                if not way[0]:
                    continue
                xs, ys = way[1], way[2]
            lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
            ext = [min(ext[0], lo_x), min(ext[1], lo_y), max(ext[2], hi_x), max(ext[3], hi_y)]
            if hi_x < w0 or lo_x > e0 or hi_y < s0 or lo_y > n0:
                continue
            if not any(w0 <= x <= e0 and s0 <= y <= n0 for x, y in zip(xs, ys, strict=True)):
                continue
            tags = dict(w.tags)
            if not walkable(tags, clauses):
                continue
            refs, lons, lats = way or _way_nodes(w)
            ways[w.id] = (refs, tags)
            nodes.update(zip(refs, zip(lons, lats, strict=True), strict=True))
    except RuntimeError as exc:  # libosmium: "PBF error: …", "unexpected EOF", "Open failed …"
        raise _bad_file(path, exc) from None
    return ways, nodes, (tuple(ext) if ext[0] <= ext[2] else None)


def _write_osm_xml(f: Any, ways: Mapping[int, tuple[list[int], dict]], nodes: Mapping[int, tuple[float, float]]) -> None:
    """OSM XML of the nodes and ways, as an Overpass ``out`` would give them."""
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="tuoyu_geo">\n')
    f.writelines(f' <node id="{i}" lat="{y!r}" lon="{x!r}"/>\n' for i, (x, y) in nodes.items())
    for wid, (refs, tags) in ways.items():
        f.write(f' <way id="{wid}">\n')
        f.writelines(f'  <nd ref="{r}"/>\n' for r in refs)
        f.writelines(f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>\n" for k, v in tags.items())
        f.write(" </way>\n")
    f.write("</osm>\n")


def _outside(nodes: Mapping[int, tuple[float, float]], poly: Any) -> list[int]:
    """Ids of the nodes outside ``poly`` (on its boundary counts as inside, as in osmnx's
    ``truncate_graph_polygon``)."""
    ids = np.fromiter(nodes.keys(), dtype=np.int64, count=len(nodes))
    xy = np.array(list(nodes.values()), dtype=float).reshape(-1, 2)
    shapely.prepare(poly)
    return ids[~shapely.intersects_xy(poly, xy[:, 0], xy[:, 1])].tolist()


def _buffered(polygon: Any, crs: Any, buffer_m: float) -> Any:
    """The polygon grown by ``buffer_m`` metres, in WGS-84 (buffered in its UTM zone, as osmnx does)."""
    from osmnx import projection

    if not pyproj.CRS.from_user_input(crs).equals(pyproj.CRS.from_epsg(4326)):
        tr = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        polygon = shapely.ops.transform(tr.transform, polygon)
    if buffer_m <= 0:
        return polygon
    proj, utm = projection.project_geometry(polygon)
    return projection.project_geometry(proj.buffer(buffer_m), crs=utm, to_latlong=True)[0]


def graph_from_pbf(path: str | Path, polygon: Any, *, crs: Any = "EPSG:4326", buffer_m: float | None = None,
                   simplify: bool = True, largest_component: bool = True,
                   progress: Callable[[str], None] | None = None) -> nx.MultiDiGraph:
    """Build the osmnx walk graph of a polygon (plus a buffer) from an OSM extract, offline.

    Parameters
    ----------
    path : str or Path
        An ``.osm.pbf`` extract (e.g. a province) covering the polygon.
    polygon : shapely Polygon or MultiPolygon
        The study area (e.g. the union of its 街道), in ``crs``.
    crs : CRS-like
        CRS of ``polygon`` (default WGS-84 longitude/latitude).
    buffer_m : float, optional
        Keep the network this many metres around the polygon (default
        ``settings.PBF_BUFFER_M``), so that walks that leave the area and come back are found.
    simplify, largest_component : bool
        As :func:`osmnx.graph_from_polygon` (``simplify=True``, ``retain_all=False``).
    progress : callable, optional
        Called with a short message at each step (the CLI prints them).

    Returns
    -------
    networkx.MultiDiGraph
        In EPSG:4326, edge ``length`` in metres, both directions of every way.

    Raises
    ------
    NetworkError
        Missing, damaged or truncated file; an extract that does not cover the area (both extents
        are named); no walkable ways in the area + buffer.
    """
    import osmnx as ox

    path = Path(path)
    say = progress or (lambda msg: log.info("%s", msg))
    buffer_m = settings.PBF_BUFFER_M if buffer_m is None else float(buffer_m)
    if not buffer_m >= 0:
        raise NetworkError(f"buffer of {buffer_m} m around the area", file=path.name,
                           fix="give a buffer of 0 m or more (e.g. --buffer-m 1000)")
    poly = _buffered(polygon, crs, buffer_m)
    bounds = tuple(float(v) for v in poly.bounds)
    header = pbf_header_bounds(path)
    if header is not None and _disjoint(header, bounds):
        raise _not_covering(path, header, bounds, "header bounds")
    t0 = time.perf_counter()
    say(f"reading walkable ways from {path.name} ({path.stat().st_size / 1e6:,.1f} MB)")
    ways, nodes, extent = _read_ways(path, bounds)
    if not ways:
        if extent is None:
            raise NetworkError("the OSM extract has no roads (no highway ways)", file=path.name,
                               fix="give an OSM extract with roads, e.g. the province's .osm.pbf")
        if _disjoint(extent, bounds):
            raise _not_covering(path, extent, bounds, "roads (highway ways)")
        raise NetworkError(f"no walkable ways in the study area + {buffer_m:g} m buffer ({_fmt(bounds)}); "
                           "the extract has roads elsewhere", file=path.name,
                           fix="check that the extract covers the area, or enlarge the buffer (--buffer-m)")
    cover = header or extent
    if cover is not None and not (cover[0] <= bounds[0] and cover[1] <= bounds[1] and cover[2] >= bounds[2]
                                  and cover[3] >= bounds[3]):
        log.warning("%s: the extract (%s: %s) covers only part of the study area + buffer (%s)", path.name,
                    "header bounds" if header else "roads", _fmt(cover), _fmt(bounds))
    say(f"{len(ways):,} walkable ways, {len(nodes):,} nodes in the area + {buffer_m:g} m "
        f"({time.perf_counter() - t0:.1f} s); building the graph")
    outside = _outside(nodes, poly)
    with tempfile.TemporaryDirectory(prefix="tuoyu-pbf-") as tmp:
        xml = Path(tmp) / "walk.osm"
        with open(xml, "w", encoding="utf-8") as f:
            _write_osm_xml(f, ways, nodes)
        del ways, nodes
        G = ox.graph_from_xml(xml, bidirectional=True, simplify=False, retain_all=True)
    G.remove_nodes_from(outside)  # = ox.truncate.truncate_graph_polygon(G, poly), without its copy
    if G.number_of_edges() == 0:
        raise NetworkError(f"no walkable ways inside the study area + {buffer_m:g} m buffer", file=path.name,
                           fix="check that the extract covers the area, or enlarge the buffer (--buffer-m)")
    if largest_component:  # = ox.truncate.largest_component(G, strongly=False), without its copy
        comps = list(nx.weakly_connected_components(G))
        if len(comps) > 1:
            big = max(comps, key=len)
            G.remove_nodes_from([n for c in comps if c is not big for n in c])
    if simplify:
        G = ox.simplify_graph(G)
    nx.set_node_attributes(G, ox.stats.count_streets_per_node(G), name="street_count")
    say(f"walk graph from {path.name}: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges "
        f"({time.perf_counter() - t0:.1f} s)")
    return G


def graph_for_area(path: str | Path, streets: Any, *, buffer_m: float | None = None,
                   progress: Callable[[str], None] | None = None) -> nx.MultiDiGraph:
    """The walk graph of a study area from an OSM extract: the union of its 街道 plus a buffer.

    Parameters
    ----------
    path : str or Path
        The ``.osm.pbf`` extract.
    streets : GeoDataFrame
        The 街道/乡镇 polygons (any CRS; :func:`tuoyu_geo.area.read_layer` gives WGS-84).
    buffer_m, progress
        As :func:`graph_from_pbf`.

    Raises
    ------
    NetworkError
        As :func:`graph_from_pbf`; also 街道 without a CRS or without area.
    """
    path = Path(path)
    if streets.crs is None:
        raise NetworkError("the 街道 layer has no CRS, so the extract cannot be clipped to it", file=path.name,
                           fix="give the streets layer a CRS (crs in area.toml)")
    parts = shapely.get_parts(shapely.make_valid(streets.geometry.dropna().values))
    poly = shapely.union_all(parts[shapely.get_type_id(parts) == 3])  # the polygons
    if poly.is_empty or poly.area == 0:
        raise NetworkError("the 街道 layer has no polygon to clip the extract to", file=path.name,
                           fix="give 街道/乡镇 boundaries as polygons")
    return graph_from_pbf(path, poly, crs=streets.crs, buffer_m=buffer_m, progress=progress)
