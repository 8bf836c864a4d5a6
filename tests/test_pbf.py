"""Walk networks from an OSM extract (.osm.pbf), offline (issue 12).

Every extract is written here with pyosmium's writer.  The fixture (lon/lat, area = the square
120.000–120.010 °E × 30.000–30.010 °N, buffer 200 m)::

    7 ─────W4 path────── 6          W10 motorway 1–5, W11 foot=no 8–2, W12 access=private 7–3,
    │                    │          W13 area=yes pedestrian ring 2–6–7–2, W14 service=private 4–3,
    W5 pedestrian        W3 service W15 cycleway 8–4, W16 building 2–3–6–2 (no highway),
    │                    │          W17 highway=proposed 1–6, W18 sidewalk=separate 5–3: each would
    1 ──W1 residential── 2 ──────── 3 ──W21── 93 ┄┄ 92   make a shortcut if it were walkable.
                         │                              W20: a walkable way ~14 km away.
                         W2 footway                     W21 runs from 3 out of the area: 93 is 96 m
                         4                              outside (inside the buffer), 92 2.7 km out.
                         │
    8 ──W6 living_street (oneway=yes)── 5

Nodes: 1 (120.002, 30.005), 2 (120.005, 30.005), 3 (120.008, 30.005), 4 (120.005, 30.002),
5 (120.005, 30.001), 6 (120.008, 30.008), 7 (120.002, 30.008), 8 (120.002, 30.001),
93 (120.011, 30.005), 92 (120.030, 30.005), 90/91 (120.100/120.101, 30.100); W7 footway 40–41
(120.009/120.0095, 30.009/30.0095) is an island of its own inside the area.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import networkx as nx
import osmium
import osmnx as ox
import pytest
import synth
from osmium.osm.mutable import Node, Way
from shapely.geometry import box

from tuoyu_geo import DataError, NetworkError
from tuoyu_geo.cli import main
from tuoyu_geo.loading import load_area
from tuoyu_geo.network import distance_matrix
from tuoyu_geo.network.pbf import graph_from_pbf, pbf_header_bounds, walk_filter, walkable

NODES = {1: (120.002, 30.005), 2: (120.005, 30.005), 3: (120.008, 30.005), 4: (120.005, 30.002),
         5: (120.005, 30.001), 6: (120.008, 30.008), 7: (120.002, 30.008), 8: (120.002, 30.001),
         93: (120.011, 30.005), 92: (120.030, 30.005), 90: (120.100, 30.100), 91: (120.101, 30.100),
         40: (120.009, 30.009), 41: (120.0095, 30.0095)}
WALK_WAYS = {1: ([1, 2, 3], {"highway": "residential", "name": "幸福路"}),
             2: ([2, 4, 5], {"highway": "footway"}),
             3: ([3, 6], {"highway": "service", "service": "driveway"}),
             4: ([6, 7], {"highway": "path"}),
             5: ([7, 1], {"highway": "pedestrian"}),
             6: ([5, 8], {"highway": "living_street", "oneway": "yes"}),
             21: ([3, 93, 92], {"highway": "tertiary"})}
NON_WALK_WAYS = {10: ([1, 5], {"highway": "motorway"}),
                 11: ([8, 2], {"highway": "residential", "foot": "no"}),
                 12: ([7, 3], {"highway": "footway", "access": "private"}),
                 13: ([2, 6, 7, 2], {"highway": "pedestrian", "area": "yes"}),
                 14: ([4, 3], {"highway": "service", "service": "private"}),
                 15: ([8, 4], {"highway": "cycleway"}),
                 16: ([2, 3, 6, 2], {"building": "yes"}),
                 17: ([1, 6], {"highway": "proposed"}),
                 18: ([5, 3], {"highway": "residential", "sidewalk": "separate"})}
FAR_WAY = {20: ([90, 91], {"highway": "residential"})}
ISLAND = {7: ([40, 41], {"highway": "footway"})}  # walkable, inside the area, joined to nothing
AREA = box(120.000, 30.000, 120.010, 30.010)
R = 6371009.0  # osmnx's mean earth radius (m) for great-circle lengths


def hav(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (m) between two (lon, lat) points, written out here."""
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


def write_pbf(path: Path, nodes: dict, ways: dict, *, bounds: tuple[float, float, float, float] | None = None) -> Path:
    hdr = osmium.io.Header()
    if bounds is not None:
        hdr.add_box(osmium.osm.Box(osmium.osm.Location(bounds[0], bounds[1]), osmium.osm.Location(bounds[2], bounds[3])))
    with osmium.SimpleWriter(str(path), header=hdr, overwrite=True) as w:
        for i in sorted(nodes):
            w.add_node(Node(id=i, location=nodes[i]))
        for i in sorted(ways):
            w.add_way(Way(id=i, nodes=ways[i][0], tags=ways[i][1]))
    return path


@pytest.fixture(scope="module")
def pbf(tmp_path_factory) -> Path:
    return write_pbf(tmp_path_factory.mktemp("pbf") / "province.osm.pbf", NODES,
                     {**WALK_WAYS, **NON_WALK_WAYS, **FAR_WAY, **ISLAND})


def osmids(G: nx.MultiDiGraph) -> set[int]:
    out: set[int] = set()
    for _, _, o in G.edges(data="osmid"):
        out.update(o if isinstance(o, list) else [o])
    return out


# ------------------------------------------------------------------------------ the walk rules

def test_walk_filter_is_osmnx_walk_filter():
    """Hand-listed Overpass semantics of osmnx's walk filter: a highway is needed; area=yes,
    access=private (not access=no), foot=no, service=private, sidewalk=separate and the highway values cycleway,
    motor*, construction, proposed … are out; ``!~`` is an unanchored regex that also passes a
    missing key."""
    keep = [{"highway": "residential"}, {"highway": "footway"}, {"highway": "steps"}, {"highway": "track"},
            {"highway": "service", "service": "parking_aisle"}, {"highway": "path", "foot": "yes"},
            {"highway": "primary", "access": "yes"}, {"highway": "pedestrian", "area": "no"},
            {"highway": "footway", "access": "no"}]  # osmnx keeps access=no (only "private" is matched)
    drop = [{"building": "yes"}, {"highway": "motorway"}, {"highway": "motorway_link"}, {"highway": "cycleway"},
            {"highway": "construction"}, {"highway": "proposed"}, {"highway": "footway", "foot": "no"},
            {"highway": "footway", "access": "private"}, {"highway": "service", "service": "private"},
            {"highway": "pedestrian", "area": "yes"}, {"highway": "residential", "sidewalk": "separate"},
            {"highway": "residential", "sidewalk:left": "separate"}, {"highway": "raceway"}]
    assert [t for t in keep if not walkable(t)] == []
    assert [t for t in drop if walkable(t)] == []


def test_walk_filter_is_read_from_osmnx_not_copied(monkeypatch):
    """Change osmnx's filter and the PBF rules follow (the rules are not re-typed here)."""
    from osmnx import _overpass

    name = "_get_network_filter" if hasattr(_overpass, "_get_network_filter") else "_get_osm_filter"
    monkeypatch.setattr(_overpass, name, lambda network_type: '["highway"]["highway"!~"footway"]["x"="1"]')
    assert not walkable({"highway": "footway", "x": "1"})
    assert walkable({"highway": "motorway", "x": "1"})
    assert not walkable({"highway": "motorway", "x": "2"})
    with pytest.raises(RuntimeError, match="cannot parse"):
        walk_filter('["highway"](around:5)')


# ------------------------------------------------------------------------------ same graph as the Overpass path

def test_pbf_graph_equals_osmnx_graph_from_xml_of_the_same_ways(pbf, tmp_path):
    """The Overpass path on the same ways: osmnx ``graph_from_xml(bidirectional=True)`` (walk is a
    bidirectional network type) of an OSM XML written here with exactly the ways Overpass would
    return for the walk filter, W21 already cut at the buffer (3–93; 92 is 2.7 km out).  Same
    nodes, same edges (with keys), same lengths (1e-6 m)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    lines += [f'<node id="{i}" lat="{y}" lon="{x}"/>' for i, (x, y) in NODES.items() if i not in (90, 91, 92)]
    for wid, (refs, tags) in {**WALK_WAYS, **ISLAND}.items():
        refs = [r for r in refs if r != 92]
        lines.append(f'<way id="{wid}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                     + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    lines.append("</osm>")
    xml = tmp_path / "overpass.osm"
    xml.write_text("\n".join(lines), encoding="utf-8")
    ref = ox.graph_from_xml(xml, bidirectional=True)
    G = graph_from_pbf(pbf, AREA, buffer_m=200)
    assert set(G.nodes) == set(ref.nodes)
    assert set(G.edges(keys=True)) == set(ref.edges(keys=True))
    for u, v, k, d in ref.edges(keys=True, data=True):
        assert G.edges[u, v, k]["length"] == pytest.approx(d["length"], abs=1e-6)
    assert G.graph["crs"] == "epsg:4326"
    assert 92 not in G and 93 in G  # W21 cut at the buffer, kept inside it
    assert osmids(G) == set(WALK_WAYS)  # the island W7 is not in the largest connected part


def test_non_walkable_ways_are_absent(pbf):
    ids = osmids(graph_from_pbf(pbf, AREA, buffer_m=200, simplify=False, largest_component=False))
    assert ids & (set(NON_WALK_WAYS) | set(FAR_WAY)) == set()
    assert ids == set(WALK_WAYS) | set(ISLAND)


def test_clip_drops_the_far_way_and_a_large_buffer_keeps_it(pbf):
    """W20 lies ~14 km from the area (0.1° east and north): out with a 200 m buffer (even with
    every component kept), in with a 20 km buffer."""
    assert 20 not in osmids(graph_from_pbf(pbf, AREA, buffer_m=200, largest_component=False))
    assert 20 in osmids(graph_from_pbf(pbf, AREA, buffer_m=20_000, largest_component=False))


def test_way_cut_at_the_extract_edge(pbf, tmp_path):
    """Node 92 of W21 missing from the file (an extract cut through the way, as at a province
    border): the way keeps its other nodes and the graph is the same as with the whole way."""
    cut = write_pbf(tmp_path / "cut.osm.pbf", {i: xy for i, xy in NODES.items() if i != 92},
                    {**WALK_WAYS, **NON_WALK_WAYS, **ISLAND})
    G, ref = graph_from_pbf(cut, AREA, buffer_m=200), graph_from_pbf(pbf, AREA, buffer_m=200)
    assert set(G.edges(keys=True)) == set(ref.edges(keys=True)) and 93 in G


def test_distances_follow_the_walkable_ways(pbf):
    """By hand along the fixture's ways (great-circle lengths, R = 6,371,009 m):

    * 8 → 2: 8–5 (W6, oneway but walkable both ways; 0.003° of longitude at 30.001°N ≈ 288.9 m),
      5–4 (0.001° of latitude ≈ 111.2 m), 4–2 (0.003° ≈ 333.6 m) ≈ 733.7 m — not the 530 m of the
      foot=no W11 8–2, nor the 643 m over the cycleway W15 8–4;
    * 2 → 6: 2–3 (≈ 288.7 m) + 3–6 (≈ 333.6 m) ≈ 622.3 m — not the 441 m over the area=yes ring;
    * 1 → 5 ≈ 288.7 + 333.6 + 111.2 ≈ 733.5 m — not the motorway W10 (≈ 577 m).
    """
    G = graph_from_pbf(pbf, AREA, buffer_m=200, simplify=False)
    d = lambda a, b: nx.shortest_path_length(G, a, b, weight="length")  # noqa: E731
    n = NODES
    assert d(8, 2) == pytest.approx(hav(n[8], n[5]) + hav(n[5], n[4]) + hav(n[4], n[2]), abs=1e-6)
    assert d(2, 8) == pytest.approx(d(8, 2), abs=1e-9)
    assert d(8, 2) == pytest.approx(733.7, abs=0.3)
    assert d(2, 6) == pytest.approx(hav(n[2], n[3]) + hav(n[3], n[6]), abs=1e-6)
    assert d(1, 5) == pytest.approx(hav(n[1], n[2]) + hav(n[2], n[4]) + hav(n[4], n[5]), abs=1e-6)
    Gs = graph_from_pbf(pbf, AREA, buffer_m=200)  # simplified: same distances between kept nodes
    assert nx.shortest_path_length(Gs, 8, 2, weight="length") == pytest.approx(d(8, 2), abs=1e-6)


# ------------------------------------------------------------------------------ bad extracts

def _fails(fn, *words):
    with pytest.raises(NetworkError) as ei:
        fn()
    msg = str(ei.value)
    assert all(w in msg for w in words), msg
    assert "fix:" in msg
    return msg


def test_missing_corrupt_and_truncated_extracts(pbf, tmp_path):
    _fails(lambda: graph_from_pbf(tmp_path / "nowhere.osm.pbf", AREA), "nowhere.osm.pbf", "not found")
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(bytes(range(256)) * 40)
    _fails(lambda: graph_from_pbf(junk, AREA), "junk.osm.pbf", "cannot read the OSM extract")
    cut = tmp_path / "cut.osm.pbf"
    data = pbf.read_bytes()
    cut.write_bytes(data[: len(data) - 40])
    _fails(lambda: graph_from_pbf(cut, AREA), "cut.osm.pbf", "cannot read the OSM extract")


def test_extract_that_misses_the_area_names_both_extents(tmp_path):
    """Header box: 113.0–113.1 °E, 23.0–23.1 °N (Guangzhou) for an area in Zhejiang; without a header
    box the extent of the extract's roads is compared (the far way W20 alone)."""
    far = {i: (x - 7.0, y - 7.0) for i, (x, y) in NODES.items()}
    p = write_pbf(tmp_path / "guangdong.osm.pbf", far, WALK_WAYS, bounds=(113.0, 23.0, 113.1, 23.1))
    assert pbf_header_bounds(p) == pytest.approx((113.0, 23.0, 113.1, 23.1))
    _fails(lambda: graph_from_pbf(p, AREA, buffer_m=200), "guangdong.osm.pbf", "does not cover",
           "lon 113.0000–113.1000, lat 23.0000–23.1000", "lon 119.99")
    q = write_pbf(tmp_path / "nobox.osm.pbf", NODES, FAR_WAY)
    assert pbf_header_bounds(q) is None
    _fails(lambda: graph_from_pbf(q, AREA, buffer_m=200), "nobox.osm.pbf", "does not cover",
           "roads", "lon 120.1000–120.1010, lat 30.1000–30.1000")


def test_extract_without_walkable_ways_in_the_area(tmp_path):
    """Only the non-walkable ways inside the area, plus the walkable far way: the extract covers the
    area (its roads span it) but nothing there is walkable."""
    p = write_pbf(tmp_path / "motorways.osm.pbf", NODES, {**NON_WALK_WAYS, **FAR_WAY})
    _fails(lambda: graph_from_pbf(p, AREA, buffer_m=200), "motorways.osm.pbf", "no walkable ways")


# ------------------------------------------------------------------------------ area.toml and the CLI

def _grid_pbf(path: Path) -> Path:
    """The synthetic test grid (tests/synth.py) as an extract: one residential way per grid row and
    column, node id 1000·(col+1) + row as in ``synth.grid_graph``."""
    nodes = {1000 * (c + 1) + r: synth.node_lonlat(c, r) for c in range(synth.NGRID) for r in range(synth.NGRID)}
    ways = {}
    for k in range(synth.NGRID):
        ways[1 + k] = ([1000 * (k + 1) + r for r in range(synth.NGRID)], {"highway": "residential"})
        ways[100 + k] = ([1000 * (c + 1) + k for c in range(synth.NGRID)], {"highway": "footway"})
    return write_pbf(path, nodes, ways)


def test_area_toml_network_pbf_is_built_on_load(tmp_path, caplog):
    """``network = "grid.osm.pbf"``: the network is built from the extract (街道 span cols/rows 4–12;
    + 1,000 m ≈ 6 cells keeps the whole 17 × 17 grid; its 4 corners have two neighbours each and
    are merged away by simplification: 289 − 4 nodes).  Communities C10 and C11 sit on
    neighbouring grid nodes (cols 5 and 6 of row 5): one cell of 0.0017° of longitude at
    31.1765 °N ≈ 161.9 m apart along the row's way."""
    folder = synth.write_area(tmp_path / "area")
    _grid_pbf(tmp_path / "grid.osm.pbf")
    with open(folder / "area.toml", "a", encoding="utf-8") as f:
        f.write('network = "../grid.osm.pbf"\n')
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.network.pbf"):
        area = load_area(folder)
    assert area.graph.number_of_nodes() == synth.NGRID ** 2 - 4
    # the grid ends 4 cells (≈ 650 m) beyond the 街道, short of the 1,000 m buffer: said, with both extents
    assert "covers only part of the study area + buffer (lon 121.42" in caplog.text
    assert "roads: lon 121.4300–121.4572, lat 31.1700–31.1908" in caplog.text
    com = area.metric("communities").set_index("community_id").geometry
    D = distance_matrix(area.graph, com.loc[["C10"]], com.loc[["C11"]], max_distance_m=1000).toarray()
    expected = hav(synth.node_lonlat(5, 5), synth.node_lonlat(6, 5))
    assert D[0, 0] == pytest.approx(expected, abs=1e-3)
    assert 161 < expected < 163


def _bad_extract(kind: str, path: Path) -> None:
    if kind == "corrupt":
        path.write_bytes(b"\x00\x00\x00\x0eOSMHeader" + bytes(64))
    elif kind == "elsewhere":  # the Hangzhou fixture, its header box saying so
        write_pbf(path, NODES, WALK_WAYS, bounds=(120.0, 30.0, 120.11, 30.11))
    elif kind == "motorways":  # the area's grid, but every way a motorway
        g = synth.grid_graph()
        write_pbf(path, {n: (d["x"], d["y"]) for n, d in g.nodes(data=True)},
                  {k + 1: ([u, v], {"highway": "motorway"}) for k, (u, v) in enumerate(g.edges(keys=False))})


@pytest.mark.parametrize(("kind", "words"), [
    ("corrupt", ["cannot read the OSM extract"]),
    ("missing", ["not found"]),
    ("elsewhere", ["does not cover", "lon 120.0000–120.1100, lat 30.0000–30.1100", "lon 121.4"]),
    ("motorways", ["no walkable ways"])])
def test_area_toml_bad_extract_fails_validate_with_exit_2(tmp_path, capsys, kind, words):
    """Each bad extract named in area.toml stops ``validate`` (exit 2), naming the file and a fix."""
    folder = synth.write_area(tmp_path / "area")
    _bad_extract(kind, folder / "roads.osm.pbf")
    with open(folder / "area.toml", "a", encoding="utf-8") as f:
        f.write('network = "roads.osm.pbf"\n')
    assert main(["validate", str(folder)]) == 2
    out = capsys.readouterr().out
    assert "roads.osm.pbf" in out and "NetworkError" in out and "fix:" in out
    assert all(w in out for w in words), out


def test_area_toml_extract_with_a_chinese_datum_is_refused(tmp_path):
    folder = synth.write_area(tmp_path / "area", extra='network_crs = "gcj02"')
    _grid_pbf(folder / "grid.osm.pbf")
    with open(folder / "area.toml", "a", encoding="utf-8") as f:
        f.write('network = "grid.osm.pbf"\n')
    with pytest.raises(DataError, match="OSM extract is WGS-84"):
        load_area(folder)


def test_cli_network_from_pbf(tmp_path, capsys):
    folder = synth.write_area(tmp_path / "area")
    pbf = _grid_pbf(tmp_path / "grid.osm.pbf")
    out = tmp_path / "walk.graphml"
    assert main(["network-from-pbf", str(pbf), "--area", str(folder), "--buffer-m", "0", "--out", str(out),
                 "--no-progress"]) == 0
    G = ox.load_graphml(out)
    # 街道 span cols/rows 4..12: with no buffer, the 9 × 9 grid nodes inside (boundary included),
    # less its 4 corners (two neighbours each: merged by simplification)
    assert G.number_of_nodes() == 77
    assert "77 nodes" in capsys.readouterr().out
    out2 = tmp_path / "walk2.graphml"
    assert main(["network-from-pbf", str(pbf), "--area", str(folder), "--buffer-m", "0", "--out", str(out2),
                 "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert (js["ok"], js["nodes"], js["buffer_m"], js["files"]) == (True, 77, 0.0, [str(out2)])
    assert main(["network-from-pbf", str(tmp_path / "none.osm.pbf"), "--area", str(folder),
                 "--out", str(tmp_path / "x.graphml")]) == 2
    assert "none.osm.pbf" in capsys.readouterr().err
    assert main(["network-from-pbf", str(pbf), "--area", str(folder), "--out", str(folder / "walk.graphml")]) == 5
    assert not (folder / "walk.graphml").exists()  # never into the input folder
