"""Benchmark: sparse cutoff walking distances (tuoyu_geo.network.distance_matrix) vs the usual ways.

Run from the repository root::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_distances.py [--side 450] [--sources 2000]
        [--targets 5000] [--cutoff 1200] [--seed 42] [--skip-networkx] [--skip-bundled] [--pandana]

Part 1 — a seeded synthetic street grid (``side × side`` nodes ≈ 50 m apart with ±5 m jitter,
10 % of the edges deleted at random) stored as an osmnx-style ``MultiDiGraph`` (both directions,
edge ``length``).  Sources and targets are random nodes (given as points at the node coordinates).
Methods, each run in a forked child process (peak memory = VmHWM increase over the child's start):

* ``distance_matrix`` cold, three ways: given the networkx graph (builds its WalkNet — one
  C-level pass over the adjacency, numpy de-duplication and CSR, the KD-tree snap index of the
  edge segments on the first snap —, snaps, computes); given node/edge arrays (``WalkNet.from_arrays``, what a
  GeoParquet/GeoPackage network gives); given an engine cache entry (``.npz``, what a second run
  of ``load_area`` reads);
* ``distance_matrix`` warm (given a WalkNet built and prepared beforehand: snapping + distances);
* a plain **scipy recipe**: CSR built from the edge list with numpy (shortest parallel edge),
  points snapped to their nearest node with ``scipy.spatial.cKDTree``, ``csgraph.dijkstra(A,
  directed=True, indices=chunk of 64 sources, limit=cutoff)`` on the whole CSR; cold = CSR + tree
  + queries, warm = queries only (exact here because the points are nodes);
* networkx ``single_source_dijkstra_path_length(G, s, cutoff=..., weight="length")`` per source on
  the MultiDiGraph (what osmnx users usually do);
* with ``--pandana``: pandana (contraction hierarchies; ``Network(...)`` then ``nodes_in_range``
  per source), build and query timed separately — its build takes minutes at this size.

All results are checked to hold the same pairs (values equal to 1e-6 m).

Part 2 — the bundled 上海市徐汇区 graph, all communities × all institutions + candidates, cutoff
1000 m (the 15-minute threshold), same methods; for networkx / the scipy loop each community runs
from both ends of its snapped edge (the exact definition, snap and along-edge parts added).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

import tuoyu_geo as tg
from tuoyu_geo import network as nw
from tuoyu_geo.network import cache as engine_cache

CRS = "EPSG:32651"


# ---------------------------------------------------------------------------------------- helpers

def _kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", open("/proc/self/status").read()).group(1))


def _child(fn, conn) -> None:
    try:
        open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    base = _kb("VmRSS")
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    conn.send((dt, (_kb("VmHWM") - base) / 1024.0, out))
    conn.close()


def measure(fn):
    """Run ``fn`` in a forked child: (seconds, peak MB above the child's start RSS, result)."""
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(fn, b))
    p.start()
    res = a.recv()
    p.join()
    return res


def same_pairs(a: sp.csr_matrix, b: sp.csr_matrix) -> tuple[bool, float]:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    same = a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    err = float(np.max(np.abs(a.data - b.data))) if same and a.nnz else (0.0 if same else np.inf)
    return same and err <= 1e-6, err


def plain_csr(G: nx.MultiDiGraph, nodes: list) -> sp.csr_matrix:
    """Symmetric CSR of a walk MultiDiGraph, shortest of parallel edges (the usual scipy recipe)."""
    idx = {n: k for k, n in enumerate(nodes)}
    r, c, w = [], [], []
    for u, v, d in G.edges(data="length"):
        r.append(idx[u]), c.append(idx[v]), w.append(d)
    r, c, w = np.array(r + c), np.array(c + r), np.array(w + w)
    o = np.lexsort((w, c, r))
    r, c, w = r[o], c[o], w[o]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    return sp.csr_matrix((w[first], (r[first], c[first])), shape=(len(nodes), len(nodes)))


def to_csr(rows, cols, vals, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.asarray(vals, float), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))), shape=shape)
    m.sort_indices()
    return m


# ---------------------------------------------------------------------------------------- part 1

def synthetic_grid(side: int, seed: int, *, spacing: float = 50.0, jitter: float = 5.0, drop: float = 0.10):
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = 350_000.0 + ii.ravel() * spacing + rng.uniform(-jitter, jitter, side * side)
    y = 3_440_000.0 + jj.ravel() * spacing + rng.uniform(-jitter, jitter, side * side)
    nid = (ii * side + jj).ravel()
    h = np.stack([nid.reshape(side, side)[:-1, :].ravel(), nid.reshape(side, side)[1:, :].ravel()], 1)
    v = np.stack([nid.reshape(side, side)[:, :-1].ravel(), nid.reshape(side, side)[:, 1:].ravel()], 1)
    e = np.vstack([h, v])
    e = e[rng.random(len(e)) >= drop]
    L = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    G = nx.MultiDiGraph(crs=CRS)
    G.add_nodes_from((int(n), {"x": float(x[n]), "y": float(y[n])}) for n in nid)
    G.add_edges_from((int(a), int(b), {"length": float(w), "oneway": False}) for (a, b), w in zip(e, L, strict=False))
    G.add_edges_from((int(b), int(a), {"length": float(w), "oneway": False}) for (a, b), w in zip(e, L, strict=False))
    return G, x, y


def part1(args) -> None:
    t = time.perf_counter()
    G, x, y = synthetic_grid(args.side, args.seed)
    print(f"synthetic grid: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} directed edges "
          f"(built in {time.perf_counter() - t:.1f} s); {args.sources} sources × {args.targets} targets, "
          f"cutoff {args.cutoff:.0f} m")
    rng = np.random.default_rng(args.seed + 1)
    nodes = np.array([n for n in G.nodes if G.degree(n) > 0])  # an isolated node would snap to another street
    src = rng.choice(nodes, args.sources, replace=False)
    tgt = rng.choice(nodes, args.targets, replace=False)
    src_pts = gpd.GeoSeries([Point(x[n], y[n]) for n in src], crs=CRS)
    tgt_pts = gpd.GeoSeries([Point(x[n], y[n]) for n in tgt], crs=CRS)
    shape = (len(src), len(tgt))
    cut = args.cutoff

    def ours_cold():
        return nw.distance_matrix(G, src_pts, tgt_pts, max_distance_m=cut)

    def ours_warm():
        net = nw.WalkNet.from_graph(G).prepare()  # CSR, snap index, x-order built once, reused by every call
        t0 = time.perf_counter()
        m = nw.distance_matrix(net, src_pts, tgt_pts, max_distance_m=cut)
        return time.perf_counter() - t0, m

    def nx_loop():
        col = {int(n): j for j, n in enumerate(tgt)}
        r, c, v = [], [], []
        for i, s in enumerate(src):
            d = nx.single_source_dijkstra_path_length(G, int(s), cutoff=cut, weight="length")
            for n, dist in d.items():
                j = col.get(n)
                if j is not None:
                    r.append(i), c.append(j), v.append(dist)
        return to_csr(r, c, v, shape)

    def ours_arrays():
        t0 = time.perf_counter()
        net = nw.WalkNet.from_arrays(crs=CRS, x=x, y=y, u=eu, v=ev, length=el)
        m = nw.distance_matrix(net, src_pts, tgt_pts, max_distance_m=cut)
        return time.perf_counter() - t0, m

    def ours_cache():
        t0 = time.perf_counter()
        net = engine_cache.load_engine(entry)
        m = nw.distance_matrix(net, src_pts, tgt_pts, max_distance_m=cut)
        return time.perf_counter() - t0, m

    def scipy_recipe(warm: bool):
        """csgraph dijkstra on a CSR built from the edges (numpy), points snapped to nodes with a KD-tree."""
        t0 = time.perf_counter()
        A, tree = recipe_prepare(G)
        t1 = time.perf_counter()
        m = recipe_query(A, tree, src_pts, tgt_pts, cut)
        t2 = time.perf_counter()
        return (t2 - t1 if warm else t2 - t0), m

    res = {}
    res["distance_matrix (cold, networkx graph)"] = measure(ours_cold)
    with tempfile.TemporaryDirectory() as tmp:
        net0 = nw.WalkNet.from_graph(G)
        entry = engine_cache.save_engine(net0, Path(tmp) / "engine.npz")
        eu, ev, el = net0.eu, net0.ev, net0.length
        del net0
        for label, fn in (("distance_matrix (cold, edge arrays)", ours_arrays),
                          ("distance_matrix (cold, engine cache)", ours_cache)):
            _, mb, (t_in, m) = measure(fn)
            res[label] = (t_in, mb, m)
    tw, mw, (tin, m_warm) = measure(ours_warm)
    res["distance_matrix (warm)"] = (tin, mw, m_warm)
    for warm in (False, True):
        _, mb, (t_in, m) = measure(lambda w=warm: scipy_recipe(w))
        res[f"scipy recipe ({'warm' if warm else 'cold'})"] = (t_in, mb, m)
    if not args.skip_networkx:
        res["networkx per source"] = measure(nx_loop)
    if args.pandana:
        res.update(pandana_rows(G, src, tgt, cut, shape))
    report(res, ref_key="distance_matrix (cold, networkx graph)")


def recipe_prepare(G: nx.MultiDiGraph):
    """The plain scipy recipe's preparation: symmetric CSR (shortest parallel edge) from the edge
    list with numpy, and a KD-tree of the node coordinates."""
    from scipy.spatial import cKDTree

    nodes = list(G.nodes)
    idx = {n: k for k, n in enumerate(nodes)}
    ed = list(G.edges(data="length"))
    r = np.fromiter((idx[u] for u, _, _ in ed), np.int64, len(ed))
    c = np.fromiter((idx[v] for _, v, _ in ed), np.int64, len(ed))
    w = np.fromiter((d for _, _, d in ed), float, len(ed))
    r, c, w = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([w, w])
    o = np.lexsort((w, c, r))
    r, c, w = r[o], c[o], w[o]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    n = len(nodes)
    A = sp.csr_matrix((w[first], (r[first], c[first])), shape=(n, n))
    xy = np.array([[G.nodes[k]["x"], G.nodes[k]["y"]] for k in nodes])
    return A, cKDTree(xy)


def recipe_query(A, tree, src_pts, tgt_pts, cut: float, chunk: int = 64) -> sp.csr_matrix:
    """Sources and targets snapped to their nearest node; dijkstra(directed=True, limit=cut) from
    chunks of sources on the whole (symmetric) CSR."""
    s = tree.query(np.column_stack([src_pts.x, src_pts.y]))[1]
    t = tree.query(np.column_stack([tgt_pts.x, tgt_pts.y]))[1]
    r, c, v = [], [], []
    for k in range(0, len(s), chunk):
        d = dijkstra(A, directed=True, indices=s[k:k + chunk], limit=cut)[:, t]
        i, j = np.nonzero(d <= cut)
        r.append(i + k), c.append(j), v.append(d[i, j])
    return to_csr(np.concatenate(r), np.concatenate(c), np.concatenate(v), (len(s), len(t)))


def pandana_rows(G, src, tgt, cut, shape) -> dict:
    """pandana (contraction hierarchies): build, then nodes_in_range per source; skipped with the
    reason when it does not import."""
    try:
        import pandana
    except Exception as exc:  # noqa: BLE001
        print(f"pandana: not available ({type(exc).__name__}: {exc})")
        return {}
    nodes = list(G.nodes)
    idx = {n: k for k, n in enumerate(nodes)}
    import pandas as pd

    ed = [(u, v, d) for u, v, d in G.edges(data="length") if idx[u] < idx[v]]
    xs = pd.Series([G.nodes[n]["x"] for n in nodes], index=nodes)
    ys = pd.Series([G.nodes[n]["y"] for n in nodes], index=nodes)
    e = pd.DataFrame(ed, columns=["from", "to", "length"])

    def build():
        t0 = time.perf_counter()
        net = pandana.Network(xs, ys, e["from"], e["to"], e[["length"]], twoway=True)
        return time.perf_counter() - t0, net

    def query():
        tb, net = build()
        t0 = time.perf_counter()
        col = {int(n): j for j, n in enumerate(tgt)}
        rng_ = net.nodes_in_range([int(n) for n in src], cut)
        pos = {int(n): i for i, n in enumerate(src)}
        keep = rng_["destination"].map(col).notna()
        rr = rng_.loc[keep]
        r = rr["source"].map(pos).to_numpy()
        cc = rr["destination"].map(col).to_numpy()
        m = to_csr(r, cc, rr["length"].to_numpy(), shape)
        return tb, time.perf_counter() - t0, m

    dt, mb, (tb, tq, m) = measure(query)
    print(f"pandana: build (contraction hierarchies) {tb:.1f} s")
    return {"pandana (query, after build)": (tq, mb, m), "pandana (build + query)": (tb + tq, mb, m)}


def report(res: dict, *, ref_key: str, extra: str = "") -> None:
    ref = res[ref_key][2]
    print(f"{'method':40s} {'time s':>9s} {'peak MB':>9s} {'pairs':>10s}  identical  max|Δ| m")
    for k, (dt, mb, m) in res.items():
        ok, err = same_pairs(ref, m)
        print(f"{k:40s} {dt:9.3f} {mb:9.1f} {m.nnz:10,d}  {str(ok):9s}  {err:.1e}")
    if extra:
        print(extra)
    for fast in (k for k in res if k.startswith("distance_matrix")):
        ratios = ", ".join(f"{slow} {res[slow][0] / res[fast][0]:.1f}×" for slow in res
                           if not slow.startswith("distance_matrix"))
        print(f"  {fast}: faster than {ratios}")


# ---------------------------------------------------------------------------------------- part 2

def part2(args) -> None:
    a = tg.datasets.shanghai_xuhui()
    G = a.graph
    cut = a.policy.threshold_m(15)
    com = a.points("communities")
    dst = gpd.GeoSeries(list(a.points("institutions").values) + list(a.points("candidates").values), crs=a.metric_crs)
    print(f"\nbundled {a.name}: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges; "
          f"{len(com)} communities × {len(dst)} institutions+candidates, cutoff {cut:.0f} m")
    import logging

    logging.getLogger("tuoyu_geo").setLevel(logging.ERROR)
    so, sd = nw.snap_points(G, com), nw.snap_points(G, dst)
    shape = (len(so), len(sd))

    def combine(dist_from):
        """along-edge + node distances + along-edge (or same-edge direct) + min(both snaps, straight line)."""
        r, c, v = [], [], []
        ends_d = [(sd.u, sd.dist_u_m), (sd.v, sd.dist_v_m)]
        for i in range(len(so)):
            best = np.full(len(sd), np.inf)
            for a_, wa in ((so.u[i], so.dist_u_m[i]), (so.v[i], so.dist_v_m[i])):
                dd = dist_from(a_)
                for nodes_d, wd in ends_d:
                    best = np.minimum(best, wa + np.array([dd.get(n, np.inf) for n in nodes_d]) + wd)
            same = sd.edge_index == so.edge_index[i]
            best[same] = np.minimum(best[same], np.abs(sd.offset_m[same] - so.offset_m[i]))
            line = np.hypot(sd.px - so.px[i], sd.py - so.py[i])  # straight line replaces both legs if shorter
            tot = best + np.minimum(so.snap_m[i] + sd.snap_m, line)
            j = np.flatnonzero(tot <= cut)
            r.append(np.full(len(j), i)), c.append(j), v.append(tot[j])
        return to_csr(np.concatenate(r), np.concatenate(c), np.concatenate(v), shape)

    def ours_cold():
        return nw.distance_matrix(G, com, dst, max_distance_m=cut)

    def nx_loop():
        cache = {}

        def f(n):
            if n not in cache:
                cache[n] = nx.single_source_dijkstra_path_length(G, n, cutoff=cut, weight="length")
            return cache[n]
        return combine(f)

    def scipy_loop():
        nodes = list(G.nodes)
        idx = {n: k for k, n in enumerate(nodes)}
        A = plain_csr(G, nodes)

        def f(n):
            d = dijkstra(A, directed=True, indices=idx[n], limit=cut)  # A is symmetric
            k = np.flatnonzero(np.isfinite(d))
            return {nodes[q]: d[q] for q in k}
        return combine(f)

    res = {"distance_matrix (cold)": measure(ours_cold)}

    def ours_warm():
        net = nw.WalkNet.from_graph(G).prepare()
        t0 = time.perf_counter()
        m = nw.distance_matrix(net, com, dst, max_distance_m=cut)
        return time.perf_counter() - t0, m
    _, mb, (tin, m) = measure(ours_warm)
    res["distance_matrix (warm)"] = (tin, mb, m)
    res["scipy dijkstra loop"] = measure(scipy_loop)
    res["networkx per source"] = measure(nx_loop)
    report(res, ref_key="distance_matrix (cold)",
           extra="(networkx / scipy loop: one run per distinct end node of the communities' snapped edges, "
                 "snap + along-edge parts added in Python)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=450, help="grid side (nodes); 450 → 202,500 nodes")
    ap.add_argument("--sources", type=int, default=2000)
    ap.add_argument("--targets", type=int, default=5000)
    ap.add_argument("--cutoff", type=float, default=1200.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-networkx", action="store_true")
    ap.add_argument("--skip-bundled", action="store_true")
    ap.add_argument("--pandana", action="store_true", help="also pandana (its build takes minutes)")
    args = ap.parse_args()
    import os
    import platform

    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {__import__('scipy').__version__}, "
          f"networkx {nx.__version__}; {os.cpu_count()} CPUs")
    part1(args)
    if not args.skip_bundled:
        part2(args)


if __name__ == "__main__":
    main()
