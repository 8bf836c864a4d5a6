"""The documented distance model (issue 12, network/engine.py docstring, docs/CONTRACTS.md).

distance(p, q) = network(A(p), A(q)) + min(s(p) + s(q), |pq|): the shortest walk between the two
attachment points plus the shorter of the two snap legs and the straight line p–q.

Checked against an independent brute-force reference on seeded random graphs: every point is
snapped by brute force (nearest edge over all edges) and inserted as a real node splitting its
edge; networkx gives the walks between these nodes.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString, Point

import tuoyu_geo as tg
from tuoyu_geo import network as nw
from tuoyu_geo.access import compute_access, within

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0
BIG = 1e7  # a cutoff no pair reaches


def _random_graph(seed: int, n: int = 25) -> tuple[nx.MultiDiGraph, dict]:
    """Connected random two-way walk graph (spanning tree + short extra edges), one stray component.

    Edge lengths are the straight length × U(1, 1.3) (streets a bit longer than the chord).
    Returns the graph and {node: (x, y)} relative to (X0, Y0).
    """
    rng = np.random.default_rng(seed)
    xy = {i: tuple(rng.uniform(0, 1000, 2)) for i in range(n)}
    edges = set()
    for i in range(1, n):  # spanning tree: each node to a random earlier one
        j = int(rng.integers(0, i))
        edges.add((j, i))
    d = np.array([[np.hypot(xy[a][0] - xy[b][0], xy[a][1] - xy[b][1]) for b in range(n)] for a in range(n)])
    for a in range(n):
        for b in np.argsort(d[a])[1:3]:
            edges.add((min(a, int(b)), max(a, int(b))))
    xy[n], xy[n + 1] = (2000.0, 2000.0), (2300.0, 2000.0)  # a separate component
    edges.add((n, n + 1))
    G = nx.MultiDiGraph(crs=CRS)
    for k, (x, y) in xy.items():
        G.add_node(k, x=X0 + x, y=Y0 + y)
    for a, b in sorted(edges):
        L = float(np.hypot(xy[a][0] - xy[b][0], xy[a][1] - xy[b][1]) * rng.uniform(1.0, 1.3))
        G.add_edge(a, b, length=L)
        G.add_edge(b, a, length=L)
    return G, xy


def _random_points(seed: int, xy: dict, m: int = 24) -> list[tuple[float, float]]:
    """Random points, plus exact copies (co-located), a point 0.3 m from another, points on nodes."""
    rng = np.random.default_rng(seed + 1000)
    pts = [tuple(rng.uniform(-100, 1100, 2)) for _ in range(m)]
    pts += [pts[0], pts[1], pts[1]]  # co-located: same coordinates
    pts.append((pts[2][0] + 0.3, pts[2][1]))  # nearly co-located
    pts += [xy[3], xy[3], xy[7]]  # exactly on nodes
    pts.append((2150.0, 2100.0))  # beside the stray component
    return pts


def _reference(G: nx.MultiDiGraph, xy: dict, pts: list[tuple[float, float]]) -> np.ndarray:
    """Brute-force distances between all points (independent of the engine)."""
    und = {}
    for a, b, d in G.edges(data=True):
        und[(min(a, b), max(a, b))] = d["length"]
    keys = sorted(und)
    lines = [LineString([xy[a], xy[b]]) for a, b in keys]
    # brute-force snap: nearest edge over all edges; offset in length units from the edge's first node
    snaps = []
    for p in pts:
        P = Point(p)
        dist = [ln.distance(P) for ln in lines]
        e = int(np.argmin(dist))
        frac = lines[e].project(P) / lines[e].length
        snaps.append((e, frac * und[keys[e]], dist[e]))
    H = nx.Graph()
    for e, (a, b) in enumerate(keys):  # split every edge at its points' attachments
        on = sorted((off, i) for i, (ee, off, _) in enumerate(snaps) if ee == e)
        chain = [(0.0, ("n", a))] + [(off, ("a", i)) for off, i in on] + [(und[(a, b)], ("n", b))]
        for (o1, n1), (o2, n2) in zip(chain[:-1], chain[1:], strict=True):
            H.add_edge(n1, n2, w=o2 - o1)
    n = len(pts)
    ref = np.full((n, n), np.inf)
    for i in range(n):
        sp_i = nx.single_source_dijkstra_path_length(H, ("a", i), weight="w")
        for j in range(n):
            line = float(np.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]))
            ref[i, j] = sp_i.get(("a", j), np.inf) + min(snaps[i][2] + snaps[j][2], line)
    return ref


def _gs(pts: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in pts], crs=CRS)


@pytest.fixture(scope="module", params=[1, 2, 3, 4])
def case(request):
    G, xy = _random_graph(request.param)
    pts = _random_points(request.param, xy)
    net = nw.WalkNet.from_graph(G)
    s = net.snap(_gs(pts), warn_m=1e9)
    stored = net.distance_matrix(s, s, max_distance_m=BIG)
    D = stored.toarray()
    D[~_explicit(stored)] = np.inf
    return G, xy, pts, net, s, D


def _explicit(m) -> np.ndarray:
    """Boolean mask of the stored entries (explicit zeros included)."""
    mask = np.zeros(m.shape, bool)
    mask[np.repeat(np.arange(m.shape[0]), np.diff(m.indptr)), m.indices] = True
    return mask


def test_equals_bruteforce_reference(case):
    """Every pair equals the brute-force reference; unreachable pairs (stray component) are absent."""
    G, xy, pts, _, _, D = case
    ref = _reference(G, xy, pts)
    assert np.isinf(ref).any() and np.isfinite(ref).sum() > 500  # the stray component is not reached
    np.testing.assert_array_equal(np.isinf(D), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(D[fin], ref[fin], atol=1e-6)


def test_symmetric_and_triangle_inequality_exact(case):
    """Undirected graph: D = Dᵀ; D[a, c] ≤ D[a, b] + D[b, c] for every triple (no tolerance beyond
    float rounding: the model is a metric, see the engine's docstring)."""
    *_, D = case
    np.testing.assert_allclose(D, D.T, atol=1e-9)
    rhs = D[:, :, None] + D[None, :, :]  # [a, b, c] = D[a, b] + D[b, c]; inf when unreachable
    assert (D[:, None, :] <= rhs + 1e-7).all()


def test_colocated_points_are_zero_apart(case):
    """Exact copies (indices 0/m, 1/m+1/m+2, the two node points) are 0 m apart, also each point to
    itself; the point 0.3 m from point 2 is at most 0.3 + 0.3 × 1.3 m away (straight line + the
    walk between the attachment points along their edge: their projections on the straight edge
    are ≤ 0.3 m apart, × the length/chord factor ≤ 1.3)."""
    _, _, pts, _, s, D = case
    m = 24
    for i, j in ((0, m), (1, m + 1), (1, m + 2), (m + 1, m + 2), (m + 4, m + 5)):
        assert D[i, j] == 0 and D[j, i] == 0
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert 0 < D[2, m + 3] <= 0.3 + 0.3 * 1.3 + 1e-9
    assert s.snap_m[0] > 0  # the old model would have said 2 × snap_m[0] > 0


def test_node_points_equal_networkx(case):
    """Points placed exactly on nodes (snap 0) are the plain networkx shortest path apart."""
    G, _, _, _, s, D = case
    m = 24
    Gu = nx.Graph(G)
    assert s.snap_m[m + 4] == 0 and s.snap_m[m + 6] == 0
    assert D[m + 4, m + 6] == pytest.approx(nx.shortest_path_length(Gu, 3, 7, weight="length"), abs=1e-6)
    nodes = list(range(0, 25, 3))
    net = case[3]
    sn = net.snap(_gs([case[1][k] for k in nodes]))
    Dn = net.distance_matrix(sn, sn, max_distance_m=BIG).toarray()
    for a, i in enumerate(nodes):
        lens = nx.single_source_dijkstra_path_length(Gu, i, weight="length")
        for b, j in enumerate(nodes):
            assert Dn[a, b] == pytest.approx(lens[j], abs=1e-6)


def test_cutoff_keeps_exactly_the_pairs_within_it(case):
    """With a cutoff, stored pairs are those with reference ≤ cutoff, with the same values."""
    G, xy, pts, net, s, _ = case
    ref = _reference(G, xy, pts)
    cut = 400.0
    M = net.distance_matrix(s, s, max_distance_m=cut)
    mask = _explicit(M)
    clear = np.abs(ref - cut) > 1e-6
    np.testing.assert_array_equal(mask[clear], (ref <= cut)[clear])
    np.testing.assert_allclose(M.toarray()[mask], ref[mask], atol=1e-6)


def test_colocated_far_from_network_beyond_cutoff_is_zero():
    """Two points at one spot 500 m from the only street, cutoff 300 m: stored, 0 m (the snap legs
    alone, 2 × 500 m, exceed the cutoff); a third point across the street (snap 500 m, straight line
    1000 m, network 0 m: 1000 m) is absent."""
    G = nx.MultiDiGraph(crs=CRS)
    G.add_node("a", x=X0, y=Y0)
    G.add_node("b", x=X0 + 1000, y=Y0)
    G.add_edge("a", "b", length=1000.0)
    G.add_edge("b", "a", length=1000.0)
    o = _gs([(500, 500)])
    d = _gs([(500, 500), (500, -500)])
    M = nw.distance_matrix(G, o, d, max_distance_m=300.0)
    assert M.nnz == 1 and M[0, 0] == 0 and _explicit(M)[0, 0]


@pytest.fixture(scope="module")
def xuhui():
    return tg.datasets.shanghai_xuhui()


def test_bundled_colocated_community_and_site_within_5_minutes(xuhui):
    """Bundled data: every community at the very coordinates of a candidate site (89 pairs, e.g.
    XQ0027/HX111; 0.0 m apart) is stored at 0 m and within the 5-minute threshold (was: twice the
    snap distance, up to 607 m)."""
    acc = compute_access(xuhui)
    c = xuhui.points("communities")
    k = xuhui.points("candidates")
    cx = {(round(p.x, 6), round(p.y, 6)): i for i, p in enumerate(c.values)}
    pairs = [(cx[(round(p.x, 6), round(p.y, 6))], j) for j, p in enumerate(k.values)
             if (round(p.x, 6), round(p.y, 6)) in cx]
    assert len(pairs) >= 10
    m = acc.dist_candidates
    w5 = within(m, acc.threshold_m(5)).toarray()
    mask = _explicit(m)
    for i, j in pairs:
        assert mask[i, j] and m[i, j] == 0 and w5[i, j], (c.index[i], k.index[j])


def test_bundled_community_on_an_institution_is_covered(xuhui):
    """A community moved onto an institution's location is 0 m from it: nearest_any_m = 0 and
    within5_any is True (the old model gave 2 × its snap distance)."""
    inst = xuhui.institutions
    com = xuhui.communities.copy()
    target = xuhui.points("institutions").iloc[0]
    target_wgs = inst.geometry.iloc[0]
    com.loc[com.index[0], "geometry"] = target_wgs
    com.loc[com.index[0], "street_id"] = inst["street_id"].iloc[0]
    area = xuhui.replace(communities=com)
    acc = compute_access(area)
    row = acc.communities.iloc[0]
    assert row["snap_m"] > 0, "pick an institution off the street, or the test proves nothing"
    assert row["nearest_any_m"] == 0 and bool(row["within5_any"])
    assert area.points("communities").iloc[0].distance(target) < 1e-6
