"""Network: graph building from lines, the WalkNet engine, edge snapping, sparse cutoff distances vs networkx."""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point

import tuoyu_geo as tg
from tuoyu_geo import datasets
from tuoyu_geo import network as nw

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0


def _grid_graph(nodes: dict[str, tuple[float, float]], edges: list[tuple[str, str]]) -> nx.MultiDiGraph:
    """Tiny two-way walk graph in EPSG:32651, coordinates relative to (X0, Y0)."""
    G = nx.MultiDiGraph(crs=CRS)
    for n, (x, y) in nodes.items():
        G.add_node(n, x=X0 + x, y=Y0 + y)
    for u, v in edges:
        (x1, y1), (x2, y2) = nodes[u], nodes[v]
        L = float(np.hypot(x2 - x1, y2 - y1))
        G.add_edge(u, v, length=L)
        G.add_edge(v, u, length=L)
    return G


@pytest.fixture(scope="module")
def line_graph() -> nx.MultiDiGraph:
    # W(0,0) — C(400,0) — E(800,0) — F(1600,0); C — N(400,400); C — S(400,-400)
    return _grid_graph({"W": (0, 0), "C": (400, 0), "E": (800, 0), "F": (1600, 0), "N": (400, 400),
                        "S": (400, -400)},
                       [("W", "C"), ("C", "E"), ("E", "F"), ("C", "N"), ("C", "S")])


def _pts(xy: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


def test_snap_to_edge_interpolates(line_graph, caplog):
    # p0 (100, 30): nearest edge W–C at (100, 0): snap 30, 100 m from W, 300 m from C.
    # p1 (1500, 50): edge E–F at (1500, 0): snap 50, 700 m from E, 100 m from F.
    # p2 (410, 100): edge C–N at (400, 100): snap 10, 100 m from C, 300 m from N.
    # p3 (1000, 400): nearest edge E–F at (1000, 0): snap 400 > warn 300 → warning naming "far".
    pts = _pts([(100, 30), (1500, 50), (410, 100), (1000, 400)])
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.network"):
        s = nw.snap_points(line_graph, pts, ids=["a", "b", "c", "far"])
    assert list(s.ids) == ["a", "b", "c", "far"]
    np.testing.assert_allclose(s.snap_m, [30, 50, 10, 400])
    df = s.to_frame()
    for pid, ends in (("a", {"W": 100, "C": 300}), ("b", {"E": 700, "F": 100}), ("c", {"C": 100, "N": 300}),
                      ("far", {"E": 200, "F": 600})):
        r = df.loc[pid]
        assert {r.u, r.v} == set(ends)
        assert r.dist_u_m == pytest.approx(ends[r.u]) and r.dist_v_m == pytest.approx(ends[r.v])
        assert r.offset_m == pytest.approx(r.dist_u_m)
        assert (r.u, r.v, r.key) in set(line_graph.edges(keys=True))
    np.testing.assert_allclose(s.x - X0, [100, 1500, 400, 1000])
    np.testing.assert_allclose(s.y - Y0, [0, 0, 100, 0])
    assert "far" in caplog.text and "300" in caplog.text
    assert "a," not in caplog.text


def test_distance_matrix_hand(line_graph):
    # origins: a (100,30) [W–C, 300 to C]; b (1500,50) [E–F, 700 from E]
    # destinations: c (410,100) [C–N, 100 from C, snap 10]; d (1600,20) [E–F at F, snap 20];
    #               e (100, 0) [exactly the attachment point of a, snap 0]
    # a→c = 30 + 300 + 100 + 10 = 440;  a→d = 30 + 300 + 400 + 800 + 20 = 1550 (> 1000, absent)
    # a→e = 30 + 0 + 0 = 30;  b→c = 50 + 700 + 400 + 100 + 10 = 1260 (absent)
    # b→d = same edge: 50 + |700 − 800| + 20 = 170;  b→e = 50 + 700 + 400 + 300 = 1450 (absent)
    o = _pts([(100, 30), (1500, 50)])
    d = _pts([(410, 100), (1600, 20), (100, 0)])
    m = nw.distance_matrix(line_graph, o, d, max_distance_m=1000)
    assert m.shape == (2, 3) and m.nnz == 3
    assert m[0, 0] == pytest.approx(440) and m[0, 2] == pytest.approx(30) and m[1, 1] == pytest.approx(170)
    # a cutoff exactly on a distance keeps the pair; zero distances are stored explicitly
    m2 = nw.distance_matrix(line_graph, d.iloc[[2]], d.iloc[[2]], max_distance_m=440)
    assert m2.nnz == 1 and m2.data[0] == 0.0
    m3 = nw.distance_matrix(line_graph, o, d, max_distance_m=440)
    assert m3.nnz == 3 and m3[0, 0] == pytest.approx(440)
    m4 = nw.distance_matrix(line_graph, o, d, max_distance_m=439)
    assert m4.nnz == 2 and m4[0, 0] == 0 and (0, 0) not in set(zip(*m4.nonzero(), strict=False))
    # Snap objects are accepted as well and give the same matrix
    so, sd = nw.snap_points(line_graph, o), nw.snap_points(line_graph, d)
    assert (nw.distance_matrix(line_graph, so, sd, max_distance_m=1000) != m).nnz == 0


def test_walknet_reused_and_snaps_bound_to_their_net(line_graph):
    """Two WalkNets of one graph give identical matrices (hand values of test_distance_matrix_hand:
    a→c = 440, a→e = 30, b→d = 170); a Snap is only valid with the WalkNet it was made with."""
    n1, n2 = nw.WalkNet.from_graph(line_graph), nw.WalkNet.from_graph(line_graph)
    assert n1.n_nodes == 6 and n1.n_edges == 5 and n1.crs.to_epsg() == 32651  # reverse twins dropped
    o = _pts([(100, 30), (1500, 50)])
    d = _pts([(410, 100), (1600, 20), (100, 0)])
    m1 = n1.distance_matrix(o, d, max_distance_m=1000)
    m2 = nw.distance_matrix(n2, o, d, max_distance_m=1000)
    assert (m1.indptr == m2.indptr).all() and (m1.indices == m2.indices).all() and (m1.data == m2.data).all()
    assert m1[0, 0] == pytest.approx(440) and m1[0, 2] == pytest.approx(30) and m1[1, 1] == pytest.approx(170)
    s1 = n1.snap(o)
    assert s1.net is n1 and s1.take([1]).net is n1
    assert (nw.distance_matrix(n1, s1, d, max_distance_m=1000) != m1).nnz == 0
    with pytest.raises(ValueError, match="another walk network"):
        nw.distance_matrix(n2, s1, d, max_distance_m=1000)
    with pytest.raises(ValueError, match="another walk network"):
        n2.node_distances(s1, max_distance_m=100)
    with pytest.raises(ValueError, match="another walk network"):
        nw.service_areas(n2, s1, max_distance_m=100)
    # with the graph object itself, Snaps made on that (unchanged) graph are accepted …
    assert (nw.distance_matrix(line_graph, s1, nw.snap_points(line_graph, d), max_distance_m=1000) != m1).nnz == 0
    # … but not with another graph, nor after the graph changed size
    with pytest.raises(ValueError, match="another walk network"):
        nw.distance_matrix(line_graph.copy(), s1, d, max_distance_m=1000)
    changed = line_graph.copy()
    s_old = nw.snap_points(changed, o)
    changed.add_node("Z", x=X0 + 2000, y=Y0)
    with pytest.raises(ValueError, match="another walk network"):
        nw.distance_matrix(changed, s_old, d, max_distance_m=1000)


def test_walknet_components_and_nearest_edges(line_graph):
    # the line graph (6 nodes) plus a separate 2-node island edge far east
    G = line_graph.copy()
    G.add_node("I1", x=X0 + 5000, y=Y0)
    G.add_node("I2", x=X0 + 5100, y=Y0)
    G.add_edge("I1", "I2", length=100.0)
    G.add_edge("I2", "I1", length=100.0)
    net = nw.WalkNet.from_graph(G)
    comp, sizes = net.components()
    assert sizes.tolist() == [6, 2]
    names = dict(zip(net.nodes, comp, strict=True))
    assert {names[n] for n in "WCEFNS"} == {0} and names["I1"] == names["I2"] == 1
    # (100, 30) → edge W–C at 30 m; (5050, 20) → the island edge at 20 m
    e, dist = net.nearest_edges(np.array([X0 + 100, X0 + 5050]), np.array([Y0 + 30, Y0 + 20]))
    np.testing.assert_allclose(dist, [30, 20])
    assert {net.nodes[net.eu[e[0]]], net.nodes[net.ev[e[0]]]} == {"W", "C"}
    assert comp[net.eu[e[1]]] == 1


def test_snap_refuses_polygons_and_warns_once_per_net(line_graph, caplog):
    with pytest.raises(tg.DataError, match="only points") as ei:
        nw.snap_points(line_graph, _pts([(100, 30)]).buffer(10))
    assert "StudyArea.points" in str(ei.value)
    net = nw.WalkNet.from_graph(line_graph)
    far = _pts([(1000, 400)])  # 400 m from edge E–F > 300 m
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.network"):
        net.snap(far, ids=["far"])
        net.snap(far, ids=["far"])
        assert caplog.text.count("farther than 300 m") == 1
        nw.WalkNet.from_graph(line_graph).snap(far, ids=["far"])
        assert caplog.text.count("farther than 300 m") == 2


def test_node_distances_and_service_area(line_graph):
    # point at (400, 0) = node C, snap 0: W, E, N, S at 400 m, F at 1200 m.
    dm, nodes = nw.node_distances(line_graph, _pts([(400, 0)]), max_distance_m=1000)
    got = dict(zip(nodes[dm.indices], dm.data, strict=False))
    assert got == pytest.approx({"C": 0, "W": 400, "E": 400, "N": 400, "S": 400})
    # 300 m from C: a plus of four 300 m arms.  Buffer w=50 with 64-gon caps:
    # two strips of 600 × 100 + 2 half 64-gons each, overlapping in a 100 × 100 square:
    # 2·(600·100 + 32·50²·sin(π/32)) − 100² = 2·(60000 + 7841.4) − 10000 = 125682.8 m²
    w, a = 50.0, 300.0
    circle = 32 * w**2 * np.sin(np.pi / 32)  # area of the 64-gon inscribed in the cap circle
    expect = 2 * (2 * a * 2 * w + circle) - (2 * w) ** 2
    poly = nw.service_areas(line_graph, _pts([(400, 0)]), max_distance_m=300, buffer_m=w)[0]
    assert poly.area == pytest.approx(expect, rel=1e-6)


def test_graph_from_lines_nodes_crossings():
    # two lines crossing at (100, 100) with no shared vertex, and a T touching at (200, 100)
    lines = gpd.GeoDataFrame({"name": ["h", "v", "t"], "highway": ["residential", "footway", "motorway"]},
                             geometry=[LineString([(X0, Y0 + 100), (X0 + 200, Y0 + 100)]),
                                       LineString([(X0 + 100, Y0), (X0 + 100, Y0 + 300)]),
                                       LineString([(X0 + 200, Y0 + 100), (X0 + 400, Y0 + 100)])],
                             crs=CRS)
    G = nw.graph_from_lines(lines)
    # motorway dropped; h split into 2, v into 2 → 5 nodes, 4 two-way edges
    assert G.number_of_nodes() == 5 and G.number_of_edges() == 8
    xy = {(round(d["x"] - X0), round(d["y"] - Y0)): n for n, d in G.nodes(data=True)}
    assert (100, 100) in xy
    assert G.degree(xy[(100, 100)]) == 8  # 4 pieces × 2 directions
    assert nx.shortest_path_length(G, xy[(0, 100)], xy[(100, 0)], weight="length") == pytest.approx(200)
    assert sorted(round(d["length"]) for _, _, d in G.edges(data=True))[::2] == [100, 100, 100, 200]
    names = {d["name"] for _, _, d in G.edges(data=True)}
    assert names == {"h", "v"}
    assert tg.crs.utm_crs(121.4, 31.2).equals(G.graph["crs"]) or str(G.graph["crs"]).endswith("32651")
    # degrees in, projected graph out (UTM zone of the lines)
    G2 = nw.graph_from_lines(lines.to_crs("EPSG:4326"))
    assert not G2.graph["crs"].is_geographic and G2.number_of_nodes() == 5
    assert sum(d["length"] for _, _, d in G2.edges(data=True)) == pytest.approx(1000, rel=1e-3)


def test_load_graph_roundtrip(tmp_path, line_graph):
    line_graph = nx.convert_node_labels_to_integers(line_graph)  # osmnx GraphML wants int node ids
    p = nw.save_graph(line_graph, tmp_path / "g.graphml")
    G = nw.load_graph(p)
    assert G.number_of_edges() == line_graph.number_of_edges()
    G4 = nw.load_graph(p, to_crs="EPSG:4326")
    assert G4.graph["crs"] == "EPSG:4326" or str(G4.graph["crs"]).endswith("4326")
    with pytest.raises(tg.NetworkError):
        nw.load_graph(tmp_path / "missing.graphml")
    # written through tuoyu_geo.writer: an unwritable target is an OutputError, nothing left behind
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(tg.OutputError, match="file"):
        nw.save_graph(line_graph, blocker / "g.graphml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "g.graphml"]


@pytest.fixture(scope="module")
def xuhui():
    return datasets.shanghai_xuhui()


def test_distance_matrix_equals_networkx_on_bundled_graph(xuhui):
    """Engine = networkx reference on the bundled graph.

    Reference per pair: snap legs + Dijkstra via the ends of both edges (or the direct along-edge
    distance on a shared edge) between the attachment points, plus — since issue 12 — the shorter
    of both snap legs and the straight line between the two points (docs/CONTRACTS.md).  A pair
    whose value changed with that rule (e.g. 96.3 m → 47.6 m) has its two points closer to each
    other than their two snap legs add up to (side by side behind the same stretch of street).
    """
    G = xuhui.graph
    cut = 1000.0
    rng = np.random.default_rng(7)
    com = xuhui.points("communities")
    dst = gpd.GeoSeries(list(xuhui.points("institutions").values) + list(xuhui.points("candidates").values),
                        crs=xuhui.metric_crs)
    oi = rng.choice(len(com), 150, replace=False)
    so = nw.snap_points(G, com.iloc[oi])
    so_pts = list(com.iloc[oi].to_crs(G.graph["crs"]).values)
    dst = dst.to_crs(G.graph["crs"])
    sd = nw.snap_points(G, dst)
    m = nw.distance_matrix(G, so, sd, max_distance_m=cut).toarray()
    stored = nw.distance_matrix(G, so, sd, max_distance_m=cut)
    mask = np.zeros(m.shape, bool)
    mask[np.repeat(np.arange(stored.shape[0]), np.diff(stored.indptr)), stored.indices] = True
    # independent computation: networkx Dijkstra from both ends of each origin's edge
    sp_from = {}
    for n in set(so.u) | set(so.v):
        sp_from[n] = nx.single_source_dijkstra_path_length(G, n, weight="length")
    nchecked = 0
    for i in range(len(so)):
        for j in range(len(sd)):
            best = np.inf
            for a, wa in ((so.u[i], so.dist_u_m[i]), (so.v[i], so.dist_v_m[i])):
                for b, wb in ((sd.u[j], sd.dist_u_m[j]), (sd.v[j], sd.dist_v_m[j])):
                    best = min(best, wa + sp_from[a].get(b, np.inf) + wb)
            if {so.u[i], so.v[i]} == {sd.u[j], sd.v[j]} and G.edges[so.u[i], so.v[i], so.key[i]]["length"] == \
                    G.edges[sd.u[j], sd.v[j], sd.key[j]]["length"]:
                best = min(best, abs(so.offset_m[i] - sd.offset_m[j]))
            ref = best + min(so.snap_m[i] + sd.snap_m[j], so_pts[i].distance(dst.iloc[j]))
            if ref <= cut - 1e-6:
                assert mask[i, j], (i, j, ref)
                assert m[i, j] == pytest.approx(ref, abs=1e-6)
                nchecked += 1
            elif ref > cut + 1e-6:
                assert not mask[i, j], (i, j, ref, m[i, j])
    assert nchecked > 500


def test_distance_matrix_random_grid_matches_scipy_full():
    """Seeded random grid: batched matrix equals one unrestricted scipy run per source node."""
    from scipy.sparse.csgraph import dijkstra

    rng = np.random.default_rng(3)
    n = 30
    nodes = {f"{i},{j}": (i * 50.0 + rng.uniform(-5, 5), j * 50.0 + rng.uniform(-5, 5))
             for i in range(n) for j in range(n)}
    edges = [(f"{i},{j}", f"{i + 1},{j}") for i in range(n - 1) for j in range(n)] + \
            [(f"{i},{j}", f"{i},{j + 1}") for i in range(n) for j in range(n - 1)]
    edges = [e for e in edges if rng.random() > 0.15]
    G = _grid_graph(nodes, edges)
    names = list(nodes)
    src = rng.choice(len(names), 60, replace=False)
    tgt = rng.choice(len(names), 80, replace=False)
    o = _pts([nodes[names[k]] for k in src])
    d = _pts([nodes[names[k]] for k in tgt])
    m = nw.distance_matrix(G, o, d, max_distance_m=400).toarray()
    A = nx.to_scipy_sparse_array(nx.Graph(G), nodelist=names, weight="length")
    ref = dijkstra(A, directed=False, indices=src)[:, tgt]
    inside = ref <= 400
    np.testing.assert_allclose(np.where(inside, m, 0), np.where(inside, ref, 0), atol=1e-6)
    assert ((m > 0) | inside).sum() >= inside.sum()
    assert not (m[~inside] > 0).any()


@pytest.mark.network
def test_graph_from_place_online(tmp_path, monkeypatch):
    from tuoyu_geo import settings

    monkeypatch.setattr(settings, "CACHE_DIR", tmp_path)
    G = nw.graph_from_place("徐汇区, 上海市, 中国")
    assert not G.graph["crs"].is_geographic and G.number_of_edges() > 1000
    assert list((tmp_path / "graphs").glob("*.graphml"))


@pytest.mark.network
def test_graph_from_polygon_online(tmp_path, monkeypatch):
    from tuoyu_geo import settings

    monkeypatch.setattr(settings, "CACHE_DIR", tmp_path)
    poly = shapely.box(121.43, 31.19, 121.44, 31.20)
    G = nw.graph_from_polygon(poly)
    assert G.number_of_edges() > 10 and all("length" in d for _, _, d in G.edges(data=True))


def test_graph_from_place_cache_offline(tmp_path, monkeypatch, line_graph):
    """The online path with osmnx stubbed: projected result, GraphML cache reused, errors wrapped."""
    import osmnx as ox

    from tuoyu_geo import settings

    geo = ox.project_graph(nx.convert_node_labels_to_integers(line_graph), to_crs="EPSG:4326")
    calls = []

    def fake(name, network_type):
        calls.append((name, network_type))
        return geo

    monkeypatch.setattr(settings, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(ox, "graph_from_place", fake)
    G1 = nw.graph_from_place("某区")
    G2 = nw.graph_from_place("某区")
    assert calls == [("某区", "walk")]  # second call read the cached GraphML
    assert len(list((tmp_path / "graphs").glob("*.graphml"))) == 1
    for G in (G1, G2):
        assert not G.graph["crs"].is_geographic and G.number_of_edges() == line_graph.number_of_edges()
        assert sum(d["length"] for _, _, d in G.edges(data=True)) == pytest.approx(
            sum(d["length"] for _, _, d in line_graph.edges(data=True)))

    def boom(name, network_type):
        raise ConnectionError("offline")

    monkeypatch.setattr(ox, "graph_from_place", boom)
    with pytest.raises(tg.NetworkError, match="offline"):
        nw.graph_from_place("别的区")
