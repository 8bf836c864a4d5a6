"""Benchmark: loading a city's walk network (GraphML / GeoPackage / GeoParquet, engine cache cold and
warm) and the whole ``access`` step (``compute_access``) at city scale, with peak memory.

Run from the repository root::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_engine_city.py
        [--nodes 50000,200000,500000] [--communities 20000] [--candidates 5000] [--institutions 1500]
        [--streets 300] [--graphml-max-nodes 250000] [--networkx-max-nodes 600000] [--seed 7]

The city is the one of ``bench_plan_city.py`` (seeded; 30 km × 20 km, 300 街道, 20,000 communities,
1,500 institutions, 5,000 candidate sites: 6,500 destinations) with its walk grid made denser to
reach the node count (spacing = √(area / nodes): 34.6 m for 500k nodes), ±10 m jitter, 5 % of the
edges dropped.  The network is written once per size as ``walk_edges.parquet`` (+ nodes),
``walk.gpkg`` (nodes + edges layers) and, up to ``--graphml-max-nodes``, ``walk.graphml``.

Every step runs in a forked child process of a lean parent (layers and the validated StudyArea,
no graph): ``seconds`` is the step's wall time, ``peak MB`` the child's peak RSS (VmHWM, which
includes the parent's ≈ inherited pages — so it is the peak of a whole run doing just this).

Steps per size:

* ``load <fmt>`` — file → engine in the metric CRS, no cache (GraphML: ``read_network`` +
  ``WalkNet.from_graph``, the networkx graph kept as ``load_area`` keeps it);
* ``load <fmt> cache cold`` — the same, then the engine written to an empty cache;
* ``load <fmt> cache warm`` — the engine read from the cache;
* ``access (engine from cache)`` — warm load + ``compute_access(area)`` (the whole step: snapping
  26,500 points, the 20,000 × 6,500 distances within 1,000 m, 2SFCA); time of compute_access only;
* ``access (networkx graph)`` — ``compute_access`` on an area holding a networkx graph (what an
  area read from GraphML does; the engine is built inside), up to ``--networkx-max-nodes``;
* memory breakdown: RSS added by the engine's core arrays, its snap index (KD-tree of the edge
  segments, what snapping uses), its edge lines and their STRtree (built only for service areas),
  the incidence matrix, and by the networkx graph of the same network.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_plan_city as city  # noqa: E402

import tuoyu_geo as tg  # noqa: E402
from tuoyu_geo import network as nw  # noqa: E402
from tuoyu_geo.access import compute_access  # noqa: E402

CRS = city.CRS


def _kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def _child(fn, conn) -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    try:
        out = fn()
        conn.send((out, _kb("VmHWM") / 1024.0))
    except BaseException as exc:  # noqa: BLE001 - report and go on
        conn.send((exc, _kb("VmHWM") / 1024.0))
    conn.close()


def in_child(fn):
    """(result of fn, peak RSS MB of the child) — fn runs in a forked child."""
    a, b = mp.get_context("fork").Pipe(duplex=False)
    p = mp.get_context("fork").Process(target=_child, args=(fn, b))
    p.start()
    out, peak = a.recv()
    p.join()
    if isinstance(out, BaseException):
        raise out
    return out, peak


# ------------------------------------------------------------------------------ the city

def grid_arrays(w: float, h: float, nodes: int, rng: np.random.Generator) -> dict:
    """Jittered street grid with about ``nodes`` nodes over w × h metres, 5 % of edges dropped."""
    spacing = math.sqrt(w * h / nodes)
    ncol, nrow = int(round(w / spacing)) + 1, int(round(h / spacing)) + 1
    ii, jj = np.meshgrid(np.arange(ncol), np.arange(nrow), indexing="ij")
    jit = min(city.JITTER, spacing / 4)
    x = city.X0 + ii.ravel() * spacing + rng.uniform(-jit, jit, ii.size)
    y = city.Y0 + jj.ravel() * spacing + rng.uniform(-jit, jit, ii.size)
    nid = np.arange(ii.size).reshape(ncol, nrow)
    e = np.vstack([np.stack([nid[:-1, :].ravel(), nid[1:, :].ravel()], 1),
                   np.stack([nid[:, :-1].ravel(), nid[:, 1:].ravel()], 1)])
    e = e[rng.random(len(e)) >= city.DROP]
    length = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    return {"x": x, "y": y, "u": e[:, 0], "v": e[:, 1], "length": length, "spacing": spacing}


def to_networkx(g: dict) -> nx.MultiDiGraph:
    """The osmnx-style graph of the arrays (both directions)."""
    G = nx.MultiDiGraph(crs=CRS)
    G.add_nodes_from((int(n), {"x": float(a), "y": float(b)}) for n, (a, b) in enumerate(zip(g["x"], g["y"],
                                                                                             strict=True)))
    for a_, b_ in (("u", "v"), ("v", "u")):
        G.add_edges_from((int(a), int(b), {"length": float(d), "oneway": False, "highway": "residential"})
                         for a, b, d in zip(g[a_], g[b_], g["length"], strict=True))
    return G


def engine(g: dict) -> nw.WalkNet:
    return nw.WalkNet.from_arrays(crs=CRS, x=g["x"], y=g["y"], u=g["u"], v=g["v"], length=g["length"])


# ------------------------------------------------------------------------------ steps

def timed(fn):
    def run():
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return run


def run_size(n_nodes: int, layers: dict, area, args, folder: Path) -> list[dict]:
    rng = np.random.default_rng(args.seed + n_nodes)
    g = grid_arrays(*layers["extent_m"], n_nodes, rng)
    nn, ne = len(g["x"]), len(g["u"])
    print(f"\n== {nn:,} nodes, {ne:,} streets (spacing {g['spacing']:.1f} m)", flush=True)
    rows = []

    def row(step, secs, peak, note=""):
        rows.append({"nodes": nn, "step": step, "seconds": secs, "peak_mb": peak, "note": note})
        print(f"  {step:<34} {secs:8.2f} s  peak {peak:8.0f} MB  {note}", flush=True)

    files = {"parquet": folder / "walk_edges.parquet", "gpkg": folder / "walk.gpkg"}
    t = time.perf_counter()
    in_child(lambda: (nw.save_network(engine(g), files["parquet"]), nw.save_network(engine(g), files["gpkg"])))
    if nn <= args.graphml_max_nodes:
        files["graphml"] = folder / "walk.graphml"
        in_child(lambda: nw.save_graph(to_networkx(g), files["graphml"]))
    sizes = ", ".join(f"{k} {sum(q.stat().st_size for q in folder.glob(f'walk*{p.suffix}')) / 1e6:.0f} MB"
                      for k, p in files.items())
    print(f"  files written in {time.perf_counter() - t:.0f} s: {sizes}", flush=True)
    mcrs = area.metric_crs
    for fmt, path in files.items():
        if fmt == "graphml":
            def load(path=path):
                G = nw.read_network(path)
                return nw.WalkNet.from_graph(G).prepare(), G
            secs, peak = in_child(timed(load))
            row("load graphml (networkx + engine)", secs, peak, "no cache: GraphML is parsed every run")
            continue
        cache = folder / f"cache-{fmt}"
        secs, peak = in_child(timed(lambda path=path: nw.read_walknet(path, metric_crs=mcrs, cache=False).prepare()))
        row(f"load {fmt}", secs, peak)
        secs, peak = in_child(timed(lambda path=path, c=cache: nw.read_walknet(path, metric_crs=mcrs,
                                                                               cache_dir=c).prepare()))
        row(f"load {fmt} cache cold", secs, peak, "read + entry written")
        secs, peak = in_child(timed(lambda path=path, c=cache: nw.read_walknet(path, metric_crs=mcrs,
                                                                               cache_dir=c).prepare()))
        row(f"load {fmt} cache warm", secs, peak)
    logging.getLogger("tuoyu_geo").setLevel(logging.ERROR)

    def access_cached():
        net = nw.read_walknet(files["parquet"], metric_crs=mcrs, cache_dir=folder / "cache-parquet")
        a = dataclasses.replace(area, graph=net)
        t = time.perf_counter()
        acc = compute_access(a)
        return time.perf_counter() - t, acc.dist_institutions.nnz + acc.dist_candidates.nnz
    (secs, pairs), peak = in_child(access_cached)
    row("access (engine from cache)", secs, peak, f"{pairs:,} pairs within 1,000 m; peak incl. the load")
    if nn <= args.networkx_max_nodes:
        def access_nx():
            a = dataclasses.replace(area, graph=to_networkx(g))
            t = time.perf_counter()
            compute_access(a)
            return time.perf_counter() - t
        secs, peak = in_child(access_nx)
        row("access (networkx graph)", secs, peak, "engine built inside; peak incl. the graph")

    def breakdown():
        out = {}
        base = _kb("VmRSS")
        net = nw.read_walknet(files["parquet"], metric_crs=mcrs, cache_dir=folder / "cache-parquet")
        out["engine arrays + CSR"] = _kb("VmRSS") - base
        parts = {"snap_index": "snap index", "geoms": "edge lines", "tree": "STRtree", "incidence": "incidence"}
        for part, label in parts.items():
            if hasattr(type(net), part):  # the snap index is new in the engine of issue 12
                b = _kb("VmRSS")
                getattr(net, part)
                out[label] = _kb("VmRSS") - b
        del net
        if nn <= args.networkx_max_nodes:
            b = _kb("VmRSS")
            G = to_networkx(g)
            out["networkx graph"] = _kb("VmRSS") - b
            del G
        return {k: v / 1024.0 for k, v in out.items()}
    parts, _ = in_child(breakdown)
    print("  memory (RSS added, MB): " + ", ".join(f"{k} {v:.0f}" for k, v in parts.items()), flush=True)
    rows.append({"nodes": nn, "step": "memory", "parts_mb": parts})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", default="50000,200000,500000")
    ap.add_argument("--communities", type=int, default=20000)
    ap.add_argument("--candidates", type=int, default=5000)
    ap.add_argument("--institutions", type=int, default=1500)
    ap.add_argument("--streets", type=int, default=300)
    ap.add_argument("--graphml-max-nodes", type=int, default=250000)
    ap.add_argument("--networkx-max-nodes", type=int, default=600000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, networkx {nx.__version__}, "
          f"tuoyu_geo {tg.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    city.walk_graph = lambda w, h, rng, **_: None  # the grid is drawn per size below
    t = time.perf_counter()
    layers = city.make_city(n_communities=args.communities, n_candidates=args.candidates,
                            n_streets=args.streets, n_institutions=args.institutions, seed=args.seed)
    area = tg.make_area(streets=layers["streets"], communities=layers["communities"],
                        institutions=layers["institutions"], candidates=layers["candidates"],
                        policy="wuxi-2025", metric_crs=CRS)
    print(f"city: {len(area.communities):,} communities, {len(area.institutions):,} institutions, "
          f"{len(area.candidates):,} candidates, {len(area.streets)} 街道 ({time.perf_counter() - t:.0f} s)")
    for n in (int(v) for v in args.nodes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            run_size(n, layers, area, args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
