"""WalkNet.from_graph: the edge table of a networkx graph, whatever its node ids and graph class."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from tuoyu_geo import network as nw
from tuoyu_geo._errors import NetworkError

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0
CURVE = LineString([(X0 + 10, Y0), (X0 + 12, Y0 + 1), (X0 + 10, Y0 + 2)])

#: node id maps: ints that are not positions (hash index), the positions themselves (no lookup),
#: strings, floats that are not ints (1.5 must not be read as 1), tuples, numpy ints, mixed
ID_MAPS = {
    "sparse ints": {"a": 10, "b": 3, "c": 7},
    "positions": {"a": 0, "b": 1, "c": 2},
    "strings": {"a": "10", "b": "3", "c": "7"},
    "floats": {"a": 1.5, "b": 1.25, "c": 0.5},  # read as ints: 1, 1, 0
    "tuples": {"a": (1, "x"), "b": (0, "y"), "c": (2, "z")},
    "numpy ints": {"a": np.int64(10), "b": np.int64(3), "c": np.int64(7)},
    "mixed": {"a": 10, "b": "3", "c": 7},
}


def _graph(ids: dict, cls: type = nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Nodes a (0, 0), b (10, 0), c (10, 2) added in that order; edges in this order:
    a→b (5 m), a→c (9 m, key 0), a→c (4 m, key 1; multigraphs only), b→a (5 m), b→c (2 m, curved
    line), c→b (2 m)."""
    a, b, c = ids["a"], ids["b"], ids["c"]
    G = cls(crs=CRS)
    for n, (x, y) in ((a, (0, 0)), (b, (10, 0)), (c, (10, 2))):
        G.add_node(n, x=X0 + x, y=Y0 + y)
    G.add_edge(a, b, length=5.0)
    G.add_edge(a, c, length=9.0)
    if G.is_multigraph():
        G.add_edge(a, c, length=4.0)
    G.add_edge(b, a, length=5.0)
    G.add_edge(b, c, length=2.0, geometry=CURVE)
    G.add_edge(c, b, length=2.0)
    return G


@pytest.mark.parametrize("name", list(ID_MAPS))
def test_edge_table_by_hand(name):
    """Directed edges in adjacency order: a→b 5, a→c 9 (key 0), a→c 4 (key 1), b→a 5, b→c 2
    (curved), c→b 2.  b→a is the twin of a→b (same ends, same length) and c→b of b→c: both are
    dropped.  The two a→c edges differ in length: both are streets.  So, with a, b, c at positions
    0, 1, 2: u = [0, 0, 0, 1], v = [1, 2, 2, 2], length = [5, 9, 4, 2], key = [0, 0, 1, 0], only
    the last edge has a line; the adjacency keeps the shorter a–c edge (4 m)."""
    ids = ID_MAPS[name]
    net = nw.WalkNet.from_graph(_graph(ids))
    assert list(net.nodes) == [ids["a"], ids["b"], ids["c"]]
    assert [type(n) for n in net.nodes] == [type(ids[k]) for k in "abc"]
    assert net.eu.tolist() == [0, 0, 0, 1] and net.ev.tolist() == [1, 2, 2, 2]
    assert net.length.tolist() == [5.0, 9.0, 4.0, 2.0]
    assert net.key.tolist() == [0, 0, 1, 0]
    assert [g is CURVE for g in net.given_geoms] == [False, False, False, True]
    assert net.x.tolist() == [X0, X0 + 10, X0 + 10] and net.y.tolist() == [Y0, Y0, Y0 + 2]
    assert net.adj[0, 2] == 4.0 and net.adj[2, 0] == 4.0 and net.adj[0, 1] == 5.0
    assert net.built_from(net.source) and net._size == (3, 5)  # 5 adjacent pairs (a→c counts once)


def test_graph_without_keys():
    """A DiGraph (no keys, no parallel edges): a→b 5, a→c 9, b→a 5 (twin), b→c 2, c→b 2 (twin):
    u = [0, 0, 1], v = [1, 2, 2], length [5, 9, 2], every key 0."""
    net = nw.WalkNet.from_graph(_graph(ID_MAPS["sparse ints"], nx.DiGraph))
    assert net.eu.tolist() == [0, 0, 1] and net.ev.tolist() == [1, 2, 2]
    assert net.length.tolist() == [5.0, 9.0, 2.0] and net.key.tolist() == [0, 0, 0]
    assert shapely.is_missing(net.given_geoms).tolist() == [True, True, False]


@pytest.mark.parametrize(("length", "needle"), [(None, "non-negative 'length'"), ("far", "numeric 'length'"),
                                                (-1.0, "non-negative 'length'"), ("missing", "non-negative 'length'")])
def test_bad_lengths_are_refused(length, needle):
    """An edge whose length is not a number ("far"), negative, missing or None (read as NaN, like a
    missing one) stops the build with the fix."""
    G = _graph(ID_MAPS["sparse ints"])
    d = G.edges[10, 3, 0]
    if length == "missing":
        del d["length"]
    else:
        d["length"] = length
    with pytest.raises(NetworkError, match=needle):
        nw.WalkNet.from_graph(G)


def test_keys_of_a_multigraph_without_parallel_edges_are_read_when_needed():
    """MultiDiGraph a→b (key "x", 5 m), b→a (key "y", 5 m: the twin, dropped), b→c (key 5, 2 m).
    Kept edges: a–b with key "x", b–c with key 5.  A point at (11, 1) is 1 m from b–c (x = 10,
    y from 0 to 2): its Snap carries key 5, read from the graph for that edge alone; the whole
    key array, read later, is ["x", 5]."""
    G = nx.MultiDiGraph(crs=CRS)
    for n, (x, y) in (("a", (0, 0)), ("b", (10, 0)), ("c", (10, 2))):
        G.add_node(n, x=X0 + x, y=Y0 + y)
    G.add_edge("a", "b", key="x", length=5.0)
    G.add_edge("b", "a", key="y", length=5.0)
    G.add_edge("b", "c", key=5, length=2.0)
    net = nw.WalkNet.from_graph(G)
    s = net.snap([shapely.Point(X0 + 11, Y0 + 1)])
    assert (s.u[0], s.v[0], s.key[0], s.snap_m[0]) == ("b", "c", 5, 1.0)
    assert net._key is None  # not read for the snap
    assert net.key.tolist() == ["x", 5]
