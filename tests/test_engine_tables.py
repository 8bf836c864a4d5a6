"""The WalkNet engine built from tables (issue 12 "fast cold start", issue 17 "loading"): edge
GeoDataFrames, GeoPackage / Parquet nodes + edges files, and the engine cache.

Every way of building the engine must give the same distances as the networkx graph it came from.
"""

from __future__ import annotations

import logging
import re
import shutil

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
from shapely.geometry import LineString, Point

import tuoyu_geo as tg
from tuoyu_geo import NetworkError
from tuoyu_geo import network as nw
from tuoyu_geo.access import compute_access
from tuoyu_geo.loading import load_area
from tuoyu_geo.network import cache as engine_cache

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0


def _line_graph() -> nx.MultiDiGraph:
    """A(0,0) — B(100,0) — C(200,0), every street both ways.

    A–B has three parallel streets of 120, 100 and 150 m (the 100 m one listed last in one
    direction, first in the other); B–C is one 100 m street; C–D(200,100) is 100 m.
    Walks: A→B 100 (the shortest parallel street), A→C 200, A→D 300, B→D 200.
    """
    G = nx.MultiDiGraph(crs=CRS)
    for n, (x, y) in {"A": (0, 0), "B": (100, 0), "C": (200, 0), "D": (200, 100)}.items():
        G.add_node(n, x=X0 + x, y=Y0 + y)
    for L in (120.0, 150.0, 100.0):
        G.add_edge("A", "B", length=L)
    for L in (100.0, 120.0, 150.0):
        G.add_edge("B", "A", length=L)
    for a, b in (("B", "C"), ("C", "B"), ("C", "D"), ("D", "C")):
        G.add_edge(a, b, length=100.0)
    return G


def _at(G: nx.MultiDiGraph, names: list[str]) -> gpd.GeoSeries:
    return gpd.GeoSeries([Point(G.nodes[n]["x"], G.nodes[n]["y"]) for n in names], index=names, crs=CRS)


def _random_graph(seed: int, n: int = 40) -> nx.MultiDiGraph:
    """Seeded connected two-way graph with curved edge lines (a middle vertex off the chord) and
    lengths = line length × U(1, 1.2)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1500, (n, 2))
    G = nx.MultiDiGraph(crs=CRS)
    for i, (x, y) in enumerate(xy):
        G.add_node(int(1000 + i), x=X0 + x, y=Y0 + y)
    pairs = {(int(rng.integers(0, i)), i) for i in range(1, n)}
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    pairs |= {(min(a, int(b)), max(a, int(b))) for a in range(n) for b in np.argsort(d[a])[1:3]}
    for a, b in sorted(pairs):
        pa, pb = np.array([X0, Y0]) + xy[a], np.array([X0, Y0]) + xy[b]
        mid = (pa + pb) / 2 + rng.uniform(-30, 30, 2)
        line = LineString([pa, mid, pb])
        L = float(line.length * rng.uniform(1.0, 1.2))
        G.add_edge(1000 + a, 1000 + b, length=L, geometry=line)
        G.add_edge(1000 + b, 1000 + a, length=L, geometry=LineString(line.coords[::-1]))
    return G


def _points(seed: int, m: int = 30) -> gpd.GeoSeries:
    rng = np.random.default_rng(seed + 7)
    xy = rng.uniform(-50, 1550, (m, 2))
    return gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


def _same(a, b) -> None:
    """Same stored pairs, values within 1e-6 m."""
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.abs(a.data - b.data).max(initial=0) <= 1e-6


# ------------------------------------------------------------------------------ engine builders

def test_parallel_streets_count_with_the_shortest():
    """Hand values of _line_graph: A→B 100, A→C 200, A→D 300, B→D 200 (nodes as points, snap 0)."""
    G = _line_graph()
    for net in (nw.WalkNet.from_graph(G),
                nw.WalkNet.from_edges(ox.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True))):
        m = nw.distance_matrix(net, _at(G, ["A", "B"]), _at(G, ["B", "C", "D"]), max_distance_m=1e6).toarray()
        np.testing.assert_allclose(m, [[100, 200, 300], [0, 100, 200]], atol=1e-9)
        # the reverse twins are dropped, the three different A–B streets kept: 3 + 1 + 1 edges
        assert net.n_edges == 5


@pytest.mark.parametrize("seed", [1, 2])
def test_graph_edges_and_arrays_give_identical_distances(seed):
    """from_graph, from_edges (edges + nodes, edges alone, one direction only, shuffled rows) and
    from_arrays build the same engine: the same pairs and distances, equal to networkx on nodes."""
    G = _random_graph(seed)
    pts = _points(seed)
    ref = nw.distance_matrix(nw.WalkNet.from_graph(G), pts, pts, max_distance_m=900)
    nodes, edges = ox.graph_to_gdfs(G)
    one_way = edges.reset_index()
    one_way = one_way[one_way["u"] < one_way["v"]].sample(frac=1.0, random_state=seed)
    ids = list(G.nodes)
    pos = {n: i for i, n in enumerate(ids)}
    arrays = nw.WalkNet.from_arrays(
        crs=CRS, x=[G.nodes[n]["x"] for n in ids], y=[G.nodes[n]["y"] for n in ids], node_ids=ids,
        u=[pos[u] for u, _, _ in G.edges(keys=True)], v=[pos[v] for _, v, _ in G.edges(keys=True)],
        length=[d["length"] for *_, d in G.edges(keys=True, data=True)],
        geometry=[d["geometry"] for *_, d in G.edges(keys=True, data=True)])
    for net in (nw.WalkNet.from_edges(edges, nodes), nw.WalkNet.from_edges(edges),
                nw.WalkNet.from_edges(one_way, nodes), arrays):
        assert net.source is None and net.n_nodes == G.number_of_nodes()
        _same(ref, nw.distance_matrix(net, pts, pts, max_distance_m=900))
    # independent check on node points: networkx shortest paths
    names = ids[:12]
    m = nw.distance_matrix(arrays, _at(G, names), _at(G, names), max_distance_m=1e6).toarray()
    for i, s in enumerate(names):
        d = nx.single_source_dijkstra_path_length(G, s, weight="length")
        np.testing.assert_allclose(m[i], [d[t] for t in names], atol=1e-6)


def test_to_crs_keeps_lengths_and_distances():
    """An engine read in WGS-84 and projected gives the distances of the projected graph (lengths
    are kept; only coordinates and lines move)."""
    G = _random_graph(3)
    pts = _points(3)
    ref = nw.distance_matrix(nw.WalkNet.from_graph(G), pts, pts, max_distance_m=900)
    nodes, edges = ox.graph_to_gdfs(G)
    geo = nw.WalkNet.from_edges(edges.to_crs("EPSG:4326"), nodes.to_crs("EPSG:4326"))
    assert geo.crs.is_geographic
    back = geo.to_crs(CRS)
    np.testing.assert_allclose(back.length, nw.WalkNet.from_graph(G).length)
    m = nw.distance_matrix(back, pts, pts, max_distance_m=900)
    assert m.nnz == ref.nnz and abs(m - ref).max() < 1e-3  # coordinates round-trip through degrees


# ------------------------------------------------------------------------------ files

def test_gpkg_and_parquet_give_the_graphml_distances(tmp_path):
    """One graph written as GraphML, GeoPackage (nodes + edges layers) and GeoParquet: the same
    distances from all three; the table formats build no networkx graph."""
    G = _random_graph(4)
    pts = _points(4)
    nw.save_graph(G, tmp_path / "walk.graphml")
    gpkg = nw.save_network(G, tmp_path / "walk.gpkg")
    parq = nw.save_network(G, tmp_path / "walk_edges.parquet")
    assert (tmp_path / "walk_nodes.parquet").is_file()
    ref = nw.distance_matrix(nw.WalkNet.from_graph(nw.load_graph(tmp_path / "walk.graphml")), pts, pts,
                             max_distance_m=900)
    assert ref.nnz > len(pts)  # not only the diagonal
    for path in (gpkg, parq):
        net = nw.read_network_tables(path)
        assert isinstance(net, nw.WalkNet) and net.source is None
        assert sorted(net.nodes) == sorted(G.nodes) and isinstance(net.nodes[0], int)
        _same(ref, nw.distance_matrix(net, pts, pts, max_distance_m=900))


def test_table_lengths_computed_in_memory_refused_in_a_file(tmp_path):
    """Without a length column ``from_edges`` takes the line's: an L-shaped line 0→(30,0)→(30,40) is
    70 m (not the 50 m chord); a file without lengths is refused (as GraphML is), naming the file."""
    edges = gpd.GeoDataFrame({"u": [1], "v": [2]}, geometry=[LineString([(X0, Y0), (X0 + 30, Y0),
                                                                          (X0 + 30, Y0 + 40)])], crs=CRS)
    np.testing.assert_allclose(nw.WalkNet.from_edges(edges).length, [70.0])
    geo = nw.WalkNet.from_edges(edges.to_crs("EPSG:4326"))
    assert abs(geo.length[0] - 70.0) < 0.2  # great-circle over the same vertices
    path = tmp_path / "walk.gpkg"
    edges.to_file(path, layer="edges")
    with pytest.raises(NetworkError, match="without a length") as ei:
        nw.read_network_tables(path)
    assert "walk.gpkg" in str(ei.value)


@pytest.mark.parametrize("case, needle", [
    ("negative", "negative, infinite or non-numeric length"),
    ("no_xy", "nodes without coordinates"),
    ("no_crs", "no CRS"),
    ("stray_end", "not in the node table"),
])
def test_bad_tables_name_the_file(tmp_path, case, needle):
    G = _random_graph(5, n=6)
    nodes, edges = ox.graph_to_gdfs(G)
    nodes, edges = nodes[["geometry"]].reset_index(), edges[["length", "geometry"]].reset_index()
    if case == "negative":
        edges.loc[0, "length"] = -5.0
    elif case == "no_xy":
        nodes.loc[1, "geometry"] = None
    elif case == "no_crs":
        nodes, edges = nodes.set_crs(None, allow_override=True), edges.set_crs(None, allow_override=True)
    else:
        edges.loc[0, "v"] = 99
    path = tmp_path / "net_edges.parquet"
    edges.to_parquet(path)
    nodes.to_parquet(tmp_path / "net_nodes.parquet")
    with pytest.raises(NetworkError) as ei:
        nw.read_network_tables(path)
    assert needle in str(ei.value) and "net_edges.parquet" in str(ei.value)


def test_load_area_with_a_gpkg_network(tmp_path):
    """The bundled area with its network as walk.gpkg: the same access distances as with GraphML,
    and area.graph is the engine itself (no networkx graph)."""
    folder = tmp_path / "area"
    shutil.copytree(tg.datasets.bundled_path("shanghai-xuhui"), folder)
    a = tg.datasets.shanghai_xuhui()  # the same folder read with its GraphML
    nw.save_network(a.graph, folder / "walk.gpkg")
    toml = (folder / "area.toml").read_text(encoding="utf-8")
    (folder / "area.toml").write_text(re.sub(r'network = "[^"]*"', 'network = "walk.gpkg"', toml), encoding="utf-8")
    b = load_area(folder, cache=False)
    assert isinstance(b.graph, nw.WalkNet) and b.files["network"].endswith("walk.gpkg")
    assert nw.WalkNet.from_area(b) is b.graph
    ra, rb = compute_access(a), compute_access(b)
    _same(ra.dist_institutions, rb.dist_institutions)
    _same(ra.dist_candidates, rb.dist_candidates)


# ------------------------------------------------------------------------------ cache

def test_cache_hit_change_and_corruption(tmp_path, monkeypatch, caplog):
    """The second read comes from the cache (the reader is not called) with identical distances;
    a changed network file gets a new entry; a damaged entry is rebuilt with a warning."""
    G = _line_graph()
    net_dir, cache_dir = tmp_path / "in", tmp_path / "cache"
    path = nw.save_network(G, net_dir / "walk.gpkg")
    pts = _at(G, ["A", "B", "C", "D"])
    first = nw.read_walknet(path, metric_crs=CRS, cache_dir=cache_dir)
    entries = list(cache_dir.glob("*.npz"))
    assert len(entries) == 1 and sorted(p.name for p in net_dir.iterdir()) == ["walk.gpkg"]  # never in the input folder
    ref = nw.distance_matrix(first, pts, pts, max_distance_m=1e6)

    def no_read(*a, **k):
        raise AssertionError("read the file instead of the cache")
    with monkeypatch.context() as mp:
        mp.setattr(engine_cache, "read_network_tables", no_read)
        again = nw.read_walknet(path, metric_crs=CRS, cache_dir=cache_dir)
    _same(ref, nw.distance_matrix(again, pts, pts, max_distance_m=1e6))
    assert list(again.nodes) == list(first.nodes) and list(again.key) == list(first.key)

    # a changed file: B–C becomes 250 m → A→C = 100 + 250 = 350 m, A→D 450 m
    G2 = _line_graph()
    for a, b in (("B", "C"), ("C", "B")):
        G2.edges[a, b, 0]["length"] = 250.0
    nw.save_network(G2, path)
    changed = nw.read_walknet(path, metric_crs=CRS, cache_dir=cache_dir)
    m = nw.distance_matrix(changed, pts, pts, max_distance_m=1e6).toarray()
    assert m[0, 2] == pytest.approx(350.0) and m[0, 3] == pytest.approx(450.0)
    assert len(list(cache_dir.glob("*.npz"))) == 2

    # a damaged entry (truncated, then garbage): rebuilt with a warning, same distances
    entry = max(cache_dir.glob("*.npz"), key=lambda p: p.stat().st_mtime_ns)
    for damage in (lambda b: b[: len(b) // 2], lambda b: b"not a cache entry"):
        entry.write_bytes(damage(entry.read_bytes()))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tuoyu_geo"):
            rebuilt = nw.read_walknet(path, metric_crs=CRS, cache_dir=cache_dir)
        assert any("not usable" in r.getMessage() for r in caplog.records)
        np.testing.assert_allclose(nw.distance_matrix(rebuilt, pts, pts, max_distance_m=1e6).toarray(), m)
        engine_cache.load_engine(entry)  # rewritten whole


def test_cache_entry_for_other_inputs_is_refused(tmp_path):
    """An entry whose stored key differs from the inputs' key is not used."""
    G = _line_graph()
    net = nw.WalkNet.from_graph(G)
    entry = engine_cache.save_engine(net, tmp_path / "e.npz", key="abc")
    assert engine_cache.load_engine(entry, key="abc").n_edges == net.n_edges
    with pytest.raises(ValueError, match="other input files"):
        engine_cache.load_engine(entry, key="abd")


def test_inconsistent_cache_entry_is_refused(tmp_path):
    """A readable entry whose edge ends point past the node table (4 nodes, an end at 9) is refused."""
    entry = engine_cache.save_engine(nw.WalkNet.from_graph(_line_graph()), tmp_path / "e.npz", key="k")
    with np.load(entry) as z:
        d = {k: z[k] for k in z.files}
    d["eu"] = d["eu"].copy()
    d["eu"][0] = 9
    with open(entry, "wb") as f:
        np.savez(f, **d)
    with pytest.raises(ValueError, match="inconsistent"):
        engine_cache.load_engine(entry, key="k")


def test_cli_convert_network(tmp_path):
    """`tuoyu-geo convert-network walk.graphml --out walk_edges.parquet` writes the same network
    (same streets, same distances) as tables."""
    from tuoyu_geo.cli import main

    G = _random_graph(6)
    src = nw.save_graph(G, tmp_path / "walk.graphml")
    assert main(["convert-network", str(src), "--out", str(tmp_path / "walk_edges.parquet")]) == 0
    net = nw.read_network_tables(tmp_path / "walk_edges.parquet")
    pts = _points(6)
    ref = nw.WalkNet.from_graph(G)
    assert net.n_edges == ref.n_edges
    _same(nw.distance_matrix(ref, pts, pts, max_distance_m=900), nw.distance_matrix(net, pts, pts, max_distance_m=900))
