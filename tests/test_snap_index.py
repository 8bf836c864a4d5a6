"""Snapping with the KD-tree segment index (tuoyu_geo.network.nearest) against hand-worked cases and
a brute-force shapely reference (every edge line, ``shapely.distance``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from tuoyu_geo import datasets
from tuoyu_geo import network as nw
from tuoyu_geo.network.nearest import SegmentIndex, point_segment_distance

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0


def _net(nodes: list[tuple[float, float]], edges: list[tuple[int, int]],
         lines: dict[int, list[tuple[float, float]]] | None = None) -> nw.WalkNet:
    """A WalkNet of node coordinates (relative to X0, Y0), edges u→v and curved lines by edge position."""
    xy = np.array(nodes, dtype=float) + [X0, Y0]
    u, v = np.array([e[0] for e in edges]), np.array([e[1] for e in edges])
    geoms = [None] * len(edges)
    for k, pts in (lines or {}).items():
        geoms[k] = LineString([(X0 + a, Y0 + b) for a, b in pts])
    length = [geoms[k].length if geoms[k] is not None else float(np.hypot(*(xy[u[k]] - xy[v[k]])))
              for k in range(len(edges))]
    return nw.WalkNet.from_arrays(crs=CRS, x=xy[:, 0], y=xy[:, 1], u=u, v=v, length=length, geometry=geoms)


def _pts(xy: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries([Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


def test_point_beside_a_straight_segment():
    """Segment A(0,0)–B(100,0), point (30, 40): its projection r = 30/100 lies inside, so the
    attachment point is (30, 0), 40 m away, 30 m from A and 70 m from B."""
    net = _net([(0, 0), (100, 0)], [(0, 1)])
    s = net.snap(_pts([(30, 40)]))
    assert s.edge_index.tolist() == [0]
    assert s.snap_m[0] == 40.0
    assert (s.offset_m[0], s.dist_v_m[0]) == (30.0, 70.0)
    assert (s.x[0] - X0, s.y[0] - Y0) == (30.0, 0.0)


def test_point_beyond_a_segment_end():
    """Segment A(0,0)–B(100,0), point (130, 40): r = 1.3 > 1, so the nearest point is the end B,
    at |(30, 40)| = 50 m (not the 40 m to the segment's line): offset 100 m, attachment (100, 0).
    A projection without the clamp of r to [0, 1] would give 40 m."""
    net = _net([(0, 0), (100, 0)], [(0, 1)])
    s = net.snap(_pts([(130, 40)]))
    assert s.snap_m[0] == 50.0
    assert s.offset_m[0] == 100.0 and s.dist_v_m[0] == 0.0
    assert (s.x[0] - X0, s.y[0] - Y0) == (100.0, 0.0)
    # and before A: (-30, -40) is 50 m from A, offset 0
    s = net.snap(_pts([(-30, -40)]))
    assert s.snap_m[0] == 50.0 and s.offset_m[0] == 0.0


def test_point_nearest_a_curved_street():
    """Edge 0 is the straight street A(0,0)–B(100,0); edge 1 joins the same nodes along the curve
    A → (50, 60) → B (each leg √(50² + 60²) = √6100 ≈ 78.10 m).  The point (50, 50) is 50 m from
    the straight street but |50·60 − 50·50| / √6100 = 500 / √6100 ≈ 6.402 m from each leg of the
    curve, so it snaps to the curve (a straight-only index would wrongly pick edge 0)."""
    net = _net([(0, 0), (100, 0)], [(0, 1), (0, 1)], lines={1: [(0, 0), (50, 60), (100, 0)]})
    assert net.n_edges == 2  # different lengths: two streets, not twins
    s = net.snap(_pts([(50, 50)]))
    assert s.edge_index.tolist() == [1]
    assert s.snap_m[0] == pytest.approx(500 / np.sqrt(6100), abs=1e-9)
    assert net.nearest_edges(np.array([X0 + 50]), np.array([Y0 + 50]))[0].tolist() == [1]


def test_point_equidistant_to_two_edges_takes_the_lower_index():
    """Parallel streets y = 0 and y = 20 (x from 0 to 100); the point (50, 10) is 10 m from both.
    The tie goes to the edge listed first in the edge table, whichever street that is."""
    nodes = [(0, 0), (100, 0), (0, 20), (100, 20)]
    net = _net(nodes, [(0, 1), (2, 3)])
    s = net.snap(_pts([(50, 10)]))
    assert s.edge_index.tolist() == [0] and s.snap_m[0] == 10.0 and s.y[0] == Y0
    net = _net(nodes, [(2, 3), (0, 1)])  # the same streets listed the other way round
    s = net.snap(_pts([(50, 10)]))
    assert s.edge_index.tolist() == [0] and s.snap_m[0] == 10.0 and s.y[0] == Y0 + 20


def test_far_points_use_the_exact_fallback():
    """A 10 × 10 grid (50 m blocks); a point 5 km east of the east edge x = 450 m is nearest to the
    east side: (4950, 225) is 4500 m from x = 450, on the street from (450, 200) to (450, 250).
    With k = 1 every point goes through the fallback; the result must not change."""
    nodes = [(50.0 * i, 50.0 * j) for i in range(10) for j in range(10)]
    edges = [(10 * i + j, 10 * i + j + 1) for i in range(10) for j in range(9)]
    edges += [(10 * i + j, 10 * (i + 1) + j) for i in range(9) for j in range(10)]
    net = _net(nodes, edges)
    e, d = net.nearest_edges(np.array([X0 + 4950.0]), np.array([Y0 + 225.0]))
    assert d.tolist() == [4500.0]
    assert {net.eu[e[0]], net.ev[e[0]]} == {94, 95}  # (450, 200) and (450, 250)
    rng = np.random.default_rng(1)
    px, py = X0 + rng.uniform(-300, 800, 300), Y0 + rng.uniform(-300, 800, 300)
    e12, d12 = net.snap_index.nearest(px, py)
    e1, d1 = net.snap_index.nearest(px, py, k=1)
    assert (e12 == e1).all() and (d12 == d1).all()


def test_point_segment_distance_is_geos_bit_for_bit():
    """The numpy formula gives exactly shapely's (GEOS's) distance, on random segments, degenerate
    ones, and points at either end or on the segment."""
    rng = np.random.default_rng(0)
    n = 5000
    a = rng.uniform(0, 100, (n, 2)) + [X0, Y0]
    b = a + rng.normal(0, 30, (n, 2))
    b[:100] = a[:100]
    p = a + rng.normal(0, 40, (n, 2))
    p[100:200], p[200:300] = a[100:200], b[200:300]
    p[300:400] = a[300:400] + 0.3 * (b[300:400] - a[300:400])
    ref = shapely.distance(shapely.points(p), shapely.linestrings(np.stack([a, b], 1)))
    got = point_segment_distance(p[:, 0], p[:, 1], a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert (got == ref).all()


@st.composite
def _graphs(draw):
    n = draw(st.integers(3, 9))
    coord = st.floats(0, 300, allow_nan=False).map(lambda v: round(v, 1))
    nodes = [(draw(coord), draw(coord)) for _ in range(n)]
    m = draw(st.integers(1, 14))
    edges, lines = [], {}
    for k in range(m):
        u, v = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        edges.append((u, v))
        if draw(st.booleans()):  # curved: 1–3 interior vertices
            mid = [(draw(coord), draw(coord)) for _ in range(draw(st.integers(1, 3)))]
            lines[k] = [nodes[u], *mid, nodes[v]]
    pts = [(draw(st.floats(-400, 700).map(lambda v: round(v, 1))), draw(st.floats(-400, 700).map(lambda v: round(v, 1))))
           for _ in range(draw(st.integers(1, 8)))]
    pts += [nodes[draw(st.integers(0, n - 1))]]  # one point on a node (ties between its edges)
    return nodes, edges, lines, pts, draw(st.sampled_from([1, 2, 12]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_graphs())
def test_nearest_edge_matches_brute_force(case):
    """Against every edge's shapely line: the index's distance equals the smallest
    ``shapely.distance`` (within 1e-9 m; in fact exactly), the chosen edge is at that distance,
    and it is the lowest-index edge at that distance."""
    nodes, edges, lines, pts, k = case
    net = _net(nodes, edges, lines)
    lines_all = net.geoms
    px = np.array([X0 + a for a, _ in pts])
    py = np.array([Y0 + b for _, b in pts])
    e, d = net.snap_index.nearest(px, py, k=k)
    ref = shapely.distance(shapely.points(px, py)[:, None], lines_all[None, :])
    best = ref.min(axis=1)
    np.testing.assert_allclose(d, best, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ref[np.arange(len(pts)), e], best, rtol=0, atol=1e-9)
    assert (e == np.argmax(ref == best[:, None], axis=1)).all()
    s = net.snap(gpd.GeoSeries(shapely.points(px, py), crs=CRS))
    np.testing.assert_allclose(s.snap_m, best, rtol=0, atol=1e-9)


def test_bundled_area_snaps_as_the_strtree_does():
    """The bundled 徐汇 network: communities, institutions, candidates and 3,000 random points snap
    at exactly the distance the STRtree of all edge lines gives, to the lowest-index edge among
    those the STRtree finds equidistant, and at the same attachment point."""
    a = datasets.shanghai_xuhui()
    net = nw.WalkNet.from_graph(a.graph)
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = net.x.min(), net.y.min(), net.x.max(), net.y.max()
    rand = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)), crs=net.crs)
    pts = gpd.GeoSeries(np.concatenate([a.points(k).to_crs(net.crs).values for k in
                                        ("communities", "institutions", "candidates")] + [rand.values]), crs=net.crs)
    s = net.snap(pts)
    (pi, ei), dist = net.tree.query_nearest(pts.values, return_distance=True, all_matches=True)
    lowest = np.full(len(pts), np.iinfo(np.int64).max)
    np.minimum.at(lowest, pi, ei)
    ref = np.full(len(pts), np.inf)
    np.minimum.at(ref, pi, dist)
    assert (s.snap_m == ref).all()
    assert (s.edge_index == lowest).all()
    eg = net.geoms[lowest]
    xy = shapely.get_coordinates(shapely.line_interpolate_point(eg, shapely.line_locate_point(eg, pts.values)))
    assert (s.x == xy[:, 0]).all() and (s.y == xy[:, 1]).all()


def test_index_of_only_curved_or_degenerate_edges():
    """Edges of zero length (A = B) are points: the distance to (3, 4) from the degenerate edge at
    the origin is 5; an index of curved lines only holds their segments."""
    idx = SegmentIndex(np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]), np.array([0]))
    e, d = idx.nearest(np.array([3.0]), np.array([4.0]))
    assert e.tolist() == [0] and d.tolist() == [5.0]
    net = _net([(0, 0), (100, 0)], [(0, 1)], lines={0: [(0, 0), (50, 50), (100, 0)]})
    assert len(net.snap_index.owner) == 2 and set(net.snap_index.owner.tolist()) == {0}


def test_points_and_nodes_without_finite_coordinates():
    """A node at NaN: its edge (1–2) is nearest to nothing, so (3, 1) snaps to edge 0 (0,0)–(10,0)
    at 1 m.  A point at (NaN, 1) cannot be snapped: DataError naming the points."""
    from tuoyu_geo._errors import DataError

    net = nw.WalkNet.from_arrays(crs=CRS, x=[X0, X0 + 10, np.nan], y=[Y0, Y0, Y0 + 5], u=[0, 1], v=[1, 2],
                                 length=[10.0, 5.0])
    e, d = net.nearest_edges(np.array([X0 + 3, np.nan]), np.array([Y0 + 1, Y0]))
    assert e.tolist() == [0, -1] and d.tolist() == [1.0, np.inf]
    assert net.snap(_pts([(3, 1)])).edge_index.tolist() == [0]
    with pytest.raises(DataError, match="non-finite"):
        net.snap(gpd.GeoSeries([Point(np.nan, Y0 + 1)], crs=CRS))
