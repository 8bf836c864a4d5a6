"""Benchmark: a whole city, end to end — load, access, scorecards, plan, service areas, map, export.

Run from the repository root (one command; before/after in one run; the lead's table in
``benchmarks/README.md`` comes from it)::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_city.py --sizes S1,S2 --before 926c890

    [--steps load_area,compute_access,scorecard,plan_sites,assess,map,export] [--data DIR]
    [--seed 7] [--time-limit 120] [--json out.json] [--keep] [--network graphml|parquet|memory]

A big city as a planner should run it (issue 17): the walk network as GeoParquet tables
(``tuoyu-geo convert-network walk.graphml --out walk_edges.parquet``) and the engine cache::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_city.py --sizes S2 --network parquet --json s2.json

Each (size, code) pair runs in its own child process (``python bench_city.py --child …``) with
``PYTHONPATH`` set to the ``src`` of the code under test: ``--before REF`` checks REF out with
``git worktree add --detach`` into ``DATA/worktrees/REF`` (once) and runs it first; "after" is the
``src`` beside this script.  The study areas are generated once per size and seed into
``DATA/<size>-seed<seed>/`` (default ``DATA`` = ``$TMPDIR/tuoyu-bench-city``) and reused.

What is timed, per step (wall seconds, and in brackets the process's CPU seconds, which a loaded
machine inflates less) with its peak memory: the process's peak resident set size
during that step (Linux ``VmHWM``, reset before each step through ``/proc/self/clear_refs``), so it
includes everything the earlier steps still hold (printed beside it: the resident size when the
step starts).  The child's overall peak is the largest of those and of its ``ru_maxrss``
(``os.wait4``; resetting ``VmHWM`` resets it too).

1. **load_area** — ``tg.load_area(folder)``: read the layers (GeoPackage) and the GraphML walk
   network, validate, project, datum and reach checks.  With ``--network parquet`` the network is
   ``parquet/walk_edges.parquet`` (+ nodes; written once from ``walk.npz`` by :func:`parquet_folder`,
   the same tables ``convert-network`` writes) and the step runs twice: **load_area_cold** with an
   empty engine cache (read the tables, build the engine, write the cache entry), then
   **load_area** reading that entry (warm);
2. **compute_access** — ``WalkNet.from_area(area)`` then ``compute_access(area, policy,
   network=net, minutes=(5, 10, 15))``;
3. **scorecard** — community, 街道, total and district scorecards (``tuoyu_geo.indicators``);
4. **plan_sites** — ``plan_sites(area, access, policy, network=net, scorecard=…,
   time_limit_s=…)`` (default options, HiGHS);
5. **assess** — ``assess(area, policy, network=net, plan=<that SitePlan>)``: what the map and the
   exports consume.  It repeats access and scorecards, adds the after-plan access and scorecards
   and the service areas (isochrones of the existing 普惠 institutions and the recommended sites;
   above ``settings.ISO_MERGE_ABOVE`` facilities of a kind, merged per 街道); its own ``timings``
   are printed beside it;
6. **map** — ``coverage_map(a)`` + ``save_map`` (offline HTML; the size is reported);
7. **export** — ``export_plan(a, out)``: GeoPackage, XLSX, CSV, GeoJSON, manifest.

The cities
----------
``bench_plan_city.make_city`` draws them (seeded: ``numpy.random.default_rng(seed)``; see its
docstring for the layout — 街道 grid, clustered communities, institutions near communities,
candidates uniform, population log-uniform 500–5,000).  This script chooses the counts and the
walk-grid spacing so that the grid has about the target number of nodes:

====  ===========  ==========  ===========  ======  ============  ========================
size  communities  candidates  institutions  街道    grid nodes    extent
====  ===========  ==========  ===========  ======  ============  ========================
S1    1,700        400         80            16      ≈ 22,000      8.7 × 5.8 km, 49 m grid
S2    20,000       2,000       780           156     ≈ 500,000     30 × 20 km, 34.6 m grid
S3    50,000       5,000       1,950         390     ≈ 1,000,000   47 × 32 km, 38.7 m grid
====  ===========  ==========  ===========  ======  ============  ========================

The folder holds ``area.toml`` (``crs = "wgs84"``, policy ``wuxi-2025``), the four layers as
GeoPackages and ``walk.graphml`` in osmnx's GraphML form (node ``x``/``y`` in WGS-84, edge
``length`` in metres, both directions of every edge), written by a streaming writer (osmnx reads
it back as it reads its own files).

The benchmark is not a test; timings on a shared machine vary by ±50 %.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEPS = ("load_area", "compute_access", "scorecard", "plan_sites", "assess", "map", "export")
#: size → communities, candidates, institutions, 街道, target grid nodes
SIZES = {
    "S1": {"communities": 1700, "candidates": 400, "institutions": 80, "streets": 16, "nodes": 22_000},
    "S2": {"communities": 20_000, "candidates": 2000, "institutions": 780, "streets": 156, "nodes": 500_000},
    "S3": {"communities": 50_000, "candidates": 5000, "institutions": 1950, "streets": 390, "nodes": 1_000_000},
}


# ------------------------------------------------------------------------------------ memory

def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024.0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024.0


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------------ the city

def spacing_for(size: str) -> float:
    """Walk-grid spacing (m) that gives about ``SIZES[size]['nodes']`` nodes over the extent."""
    from bench_plan_city import FULL_H, FULL_N, FULL_W

    s = SIZES[size]
    scale = math.sqrt(s["communities"] / FULL_N)
    w, h = FULL_W * scale, FULL_H * scale
    # (w/d + 1)(h/d + 1) = n  →  solve the quadratic in 1/d
    n = s["nodes"]
    a, b, c = w * h, w + h, 1 - n
    return 1.0 / ((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a))


def write_graphml(path: Path, x: np.ndarray, y: np.ndarray, edges: np.ndarray,
                  length: np.ndarray) -> None:
    """osmnx-style GraphML (directed, both directions of every edge), streamed from arrays."""

    head = ('<?xml version=\'1.0\' encoding=\'utf-8\'?>\n'
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
            '  <key id="d8" for="edge" attr.name="reversed" attr.type="string" />\n'
            '  <key id="d7" for="edge" attr.name="oneway" attr.type="string" />\n'
            '  <key id="d6" for="edge" attr.name="highway" attr.type="string" />\n'
            '  <key id="d5" for="edge" attr.name="length" attr.type="string" />\n'
            '  <key id="d4" for="edge" attr.name="osmid" attr.type="string" />\n'
            '  <key id="d3" for="node" attr.name="street_count" attr.type="string" />\n'
            '  <key id="d2" for="node" attr.name="y" attr.type="string" />\n'
            '  <key id="d1" for="node" attr.name="x" attr.type="string" />\n'
            '  <key id="d0" for="graph" attr.name="crs" attr.type="string" />\n'
            '  <graph edgedefault="directed">\n')
    degree = np.bincount(edges.ravel(), minlength=len(x))
    chunk = 200_000
    with open(path, "w", encoding="utf-8") as f:
        f.write(head)
        for s in range(0, len(x), chunk):
            f.write("".join(f'    <node id="{i}">\n      <data key="d1">{xi!r}</data>\n      <data key="d2">{yi!r}'
                            f'</data>\n      <data key="d3">{d}</data>\n    </node>\n'
                            for i, xi, yi, d in zip(range(s, min(s + chunk, len(x))), x[s:s + chunk].tolist(),
                                                    y[s:s + chunk].tolist(), degree[s:s + chunk].tolist(),
                                                    strict=True)))
        k = 0
        for s in range(0, len(edges), chunk):
            part = []
            for (a, b), d in zip(edges[s:s + chunk].tolist(), length[s:s + chunk].tolist(), strict=True):
                for u, v in ((a, b), (b, a)):
                    k += 1
                    part.append(f'    <edge source="{u}" target="{v}" id="0">\n      <data key="d4">{k}</data>\n'
                                f'      <data key="d5">{d!r}</data>\n      <data key="d6">residential</data>\n'
                                f'      <data key="d7">False</data>\n      <data key="d8">False</data>\n'
                                f'    </edge>\n')
            f.write("".join(part))
        f.write('    <data key="d0">EPSG:4326</data>\n  </graph>\n</graphml>\n')


def graph_from_npz(path: Path):
    """The walk grid of ``walk.npz`` as an osmnx-style MultiDiGraph in EPSG:32651 (metres), the
    same network as ``walk.graphml`` without parsing it (``--network memory``)."""
    import networkx as nx
    from bench_plan_city import CRS

    z = np.load(path)
    x, y, e, length = z["x"], z["y"], z["edges"], z["length"]
    G = nx.MultiDiGraph(crs=CRS)
    G.add_nodes_from((n, {"x": a, "y": b}) for n, a, b in zip(range(len(x)), x.tolist(), y.tolist(), strict=True))
    attrs = [{"length": d, "oneway": False, "highway": "residential"} for d in length.tolist()]
    G.add_edges_from((a, b, d) for (a, b), d in zip(e.tolist(), attrs, strict=True))
    G.add_edges_from((b, a, dict(d)) for (a, b), d in zip(e.tolist(), attrs, strict=True))
    return G


def parquet_folder(folder: Path) -> Path:
    """``folder/parquet``: the same study area with its walk network as GeoParquet tables
    (``walk_edges.parquet`` + ``walk_nodes.parquet``, WGS-84, what ``tuoyu-geo convert-network`` writes),
    made once from ``walk.npz`` (converting the GraphML would parse it); the layers are hard links."""
    import pyproj
    from bench_plan_city import CRS

    sub = folder / "parquet"
    if (sub / "area.toml").is_file() and (sub / "walk_edges.parquet").is_file():
        return sub
    import tuoyu_geo.network as nw

    sub.mkdir(exist_ok=True)
    z = np.load(folder / "walk.npz")
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(z["x"], z["y"])
    e = z["edges"]
    net = nw.WalkNet.from_arrays(crs="EPSG:4326", x=lon, y=lat, u=e[:, 0], v=e[:, 1], length=z["length"])
    nw.save_network(net, sub / "walk_edges.parquet")
    for key in ("streets", "communities", "institutions", "candidates"):
        if not (sub / f"{key}.gpkg").exists():
            os.link(folder / f"{key}.gpkg", sub / f"{key}.gpkg")
    toml = (folder / "area.toml").read_text(encoding="utf-8").replace('"walk.graphml"', '"walk_edges.parquet"')
    (sub / "area.toml").write_text(toml, encoding="utf-8")
    return sub


def generate(size: str, folder: Path, seed: int) -> dict:
    """Write the study area of ``size`` into ``folder`` (see the module docstring)."""
    import pyproj
    from bench_plan_city import CRS, make_city

    s = SIZES[size]
    t = time.perf_counter()
    city = make_city(n_communities=s["communities"], n_candidates=s["candidates"], n_streets=s["streets"],
                     n_institutions=s["institutions"], seed=seed, spacing=spacing_for(size), graph=False)
    folder.mkdir(parents=True, exist_ok=True)
    layers = {}
    for key in ("streets", "communities", "institutions", "candidates"):
        city[key].to_file(folder / f"{key}.gpkg", driver="GPKG", engine="pyogrio")
        layers[key] = f"{key}.gpkg"
    x, y, e, length = city["graph"]
    np.savez(folder / "walk.npz", x=x, y=y, edges=e, length=length)
    lon, lat = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    write_graphml(folder / "walk.graphml", lon, lat, e, length)
    lines = [f'name = "synthetic city {size} (seed {seed})"', 'crs = "wgs84"', 'policy = "wuxi-2025"', "",
             "[layers]", *(f'{k} = "{v}"' for k, v in layers.items()), 'network = "walk.graphml"']
    (folder / "area.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = {"size": size, "seed": seed, **s, "nodes_actual": len(x), "edges_undirected": len(e),
            "spacing_m": spacing_for(size), "extent_km": [v / 1000 for v in city["extent_m"]],
            "streets_actual": len(city["streets"]), "generate_s": time.perf_counter() - t}
    (folder / "city.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return info


# ------------------------------------------------------------------------------------ one run (child)

def mappingproxy(d: dict):
    """Rebuilds a read-only mapping of a pickled assessment (``BENCH_CITY_PICKLE``)."""
    import types

    return types.MappingProxyType(d)


def proxy_isochrones(a, net, k: int):
    """Service areas as ``assess`` makes them (existing 普惠 institutions, recommended sites), but
    only ``k`` of them computed (spread evenly over the list); every facility gets a copy of one
    of those, moved to its own position (same shape and vertex count).  Returns (frame, n)."""
    import geopandas as gpd
    import pandas as pd
    import shapely.affinity

    from tuoyu_geo.access import isochrones

    area = a.area
    inst = area.institutions
    rows = [("institutions", i, "existing_puhui", inst.at[i, "name"]) for i in inst.index[inst["puhui"].astype(bool)]]
    rows += [("candidates", i, "recommended", area.candidates.at[i, "name"]) for i in a.plan.sites.index]
    n = len(rows)
    pick = sorted({int(j) for j in np.linspace(0, n - 1, min(k, n))})
    sample = {}
    for layer in ("institutions", "candidates"):
        ids = [rows[j][1] for j in pick if rows[j][0] == layer]
        if ids:
            g = isochrones(area, network=net, minutes=a.minutes, layer=layer, ids=ids).to_crs(area.metric_crs)
            for i, geom in zip(g.index, g.geometry, strict=True):
                sample[(layer, i)] = geom
    keys = list(sample)
    src_xy = {key: area.metric(key[0]).geometry.loc[key[1]] for key in keys}
    geoms = []
    for j, (layer, i, _, _) in enumerate(rows):
        key = keys[j % len(keys)]
        p, q = area.metric(layer).geometry.loc[i], src_xy[key]
        geoms.append(shapely.affinity.translate(sample[key], p.x - q.x, p.y - q.y))
    gs = gpd.GeoSeries(geoms, crs=area.metric_crs)
    frame = gpd.GeoDataFrame({"id": [r[1] for r in rows], "kind": [r[2] for r in rows],
                              "name": [str(r[3]) for r in rows], "minutes": a.minutes,
                              "distance_m": a.policy.threshold_m(a.minutes), "area_m2": gs.area.to_numpy()},
                             geometry=gs.values, crs=area.metric_crs, index=pd.Index([r[1] for r in rows]))
    return frame.to_crs("EPSG:4326"), n, len(keys)


def child(folder: Path, steps: list[str], time_limit: float, out: Path, iso_sample: int = 0,
          network: str = "graphml", cpsat_start: bool = False) -> None:
    """Run the steps on the area in ``folder``; print one JSON line per step."""
    import gc

    import tuoyu_geo as tg
    from tuoyu_geo import settings

    if cpsat_start:
        settings.PLAN_MILP = {**settings.PLAN_MILP, "cpsat_start": True}
    from tuoyu_geo.access import compute_access
    from tuoyu_geo.indicators import (
        community_scorecard,
        district_scorecard,
        street_scorecard,
        street_total,
    )
    from tuoyu_geo.pipeline import assess
    from tuoyu_geo.plan import plan_sites
    from tuoyu_geo.report.export import export_plan
    from tuoyu_geo.report.maps import coverage_map, save_map

    print(json.dumps({"code": str(Path(tg.__file__).resolve().parent)}), flush=True)
    need = max(STEPS.index(s) for s in steps)
    state: dict = {}

    def run(name: str, fn) -> None:
        gc.collect()
        exact, rss0 = _reset_hwm(), _rss_mb()
        t, cpu = time.perf_counter(), time.process_time()
        extra = fn() or {}
        row = {"step": name, "seconds": round(time.perf_counter() - t, 3), "cpu_s": round(time.process_time() - cpu, 3),
               "peak_mb": round(_hwm_mb(), 1), "rss_before_mb": round(rss0, 1), "peak_is_step": exact, **extra}
        print(json.dumps(row, ensure_ascii=False), flush=True)

    def load_cold():
        """In a forked process (a planner's first run; its memory does not stay in this one): an
        empty engine cache, so the tables are read, the engine built and its entry written."""
        from tuoyu_geo import settings

        cold = out / "engine-cache"  # removed with the run's outputs (unless --keep)
        settings.CACHE_DIR = cold
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the forked process
            os.close(r)
            _reset_hwm()
            cpu = time.process_time()
            tg.load_area(folder)
            os.write(w, json.dumps({"cpu_s": round(time.process_time() - cpu, 3),
                                    "peak_mb": round(_hwm_mb(), 1)}).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            got = json.loads(f.read() or "{}")
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("the cold load failed")
        return {**got, "network": network, "cache": str(cold), "peak_is_step": True}

    def load():
        if network == "memory":
            area = tg.load_area(folder, load_graph=False)
            state["area"] = area.replace(graph=graph_from_npz(folder / "walk.npz"))
        else:
            state["area"] = tg.load_area(folder)
        state["policy"] = tg.load_policy(state["area"].policy)
        return {"network": network}

    def access():
        state["net"] = tg.WalkNet.from_area(state["area"])
        state["acc"] = compute_access(state["area"], state["policy"], network=state["net"], minutes=(5, 10, 15))
        return {"pairs_candidates": int(state["acc"].dist_candidates.nnz)}

    def scorecard():
        a, acc, pol = state["area"], state["acc"], state["policy"]
        cs = community_scorecard(a, acc, pol)
        st = street_scorecard(a, acc, pol, communities=cs)
        street_total(st, pol), district_scorecard(st, pol)
        state["st"] = st

    def plan():
        p = plan_sites(state["area"], state["acc"], state["policy"], network=state["net"], scorecard=state["st"],
                       time_limit_s=time_limit)
        state["plan"] = p
        return {"sites": len(p.sites), "status": str(p.status), "gap": float(p.gap),
                "cost_wan": round(float(p.objective_values.get("cost", float("nan"))), 2),
                "solve_s": round(p.solve_seconds, 2), "build_s": round(p.build_seconds, 2)}

    def assessment():
        a = assess(state["area"], state["policy"], network=state["net"], plan=state["plan"],
                   with_isochrones=not iso_sample)
        extra = {}
        if iso_sample:
            import dataclasses

            t = time.perf_counter()
            iso, n, k = proxy_isochrones(a, state["net"], iso_sample)
            dt = time.perf_counter() - t
            extra = {"isochrones_sampled": k, "isochrones_sample_s": round(dt, 2),
                     "isochrones_extrapolated_s": round(dt * n / k, 1)}
            a = dataclasses.replace(a, isochrones=iso)
        state["a"] = a
        if os.environ.get("BENCH_CITY_PICKLE"):  # for profiling the map and the exports on their own
            import copyreg
            import pickle
            import types

            from bench_city import mappingproxy

            copyreg.pickle(types.MappingProxyType, lambda m: (mappingproxy, (dict(m),)))
            with open(os.environ["BENCH_CITY_PICKLE"], "wb") as f:
                pickle.dump(a, f)
        return {"timings": dict(a.timings), "isochrones": 0 if a.isochrones is None else len(a.isochrones), **extra}

    def draw():
        path = out / "map.html"
        t = time.perf_counter()
        m = coverage_map(state["a"])
        build = time.perf_counter() - t
        save_map(m, path)
        return {"mb": round(path.stat().st_size / 1e6, 2), "build_s": round(build, 3)}

    def export():
        paths = export_plan(state["a"], out / "export")
        return {"mb": {k: round(Path(p).stat().st_size / 1e6, 2) for k, p in paths.items()}}

    funcs = [load, access, scorecard, plan, assessment, draw, export]
    if network == "parquet":
        run("load_area_cold", load_cold)  # then load_area reads the entry it wrote (warm)
    for i, name in enumerate(STEPS[:need + 1]):
        run(name, funcs[i])


# ------------------------------------------------------------------------------------ parent

def _worktree(ref: str, data: Path) -> Path:
    """``src`` of ``ref`` checked out (detached) under ``data/worktrees``."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True, text=True,
                         check=True).stdout.strip()
    wt = data / "worktrees" / sha
    if not (wt / "src" / "tuoyu_geo").is_dir():
        wt.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), sha], check=True,
                       capture_output=True)
    return wt / "src"


def run_child(size: str, folder: Path, src: Path, steps: list[str], args, label: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench-city-{size}-{label}-"))
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{HERE}"}
    if args.network == "parquet":
        folder = folder / "parquet"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(folder), "--steps", ",".join(steps),
           "--time-limit", str(args.time_limit), "--out", str(out), "--iso-sample", str(args.iso_sample),
           "--network", args.network] + (["--cpsat-start"] if args.cpsat_start else [])
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    rows, code = [], None
    for line in proc.stdout:
        try:
            r = json.loads(line)
        except ValueError:
            print("   ", line.rstrip())
            continue
        if "code" in r:
            code = r["code"]
            print(f"  [{size} {label}] code: {code}", flush=True)
            continue
        rows.append(r)
        more = {k: v for k, v in r.items()
                if k not in ("step", "seconds", "cpu_s", "peak_mb", "peak_is_step", "rss_before_mb")}
        print(f"  [{size} {label}] {r['step']:<15} {r['seconds']:8.2f} s (cpu {r['cpu_s']:7.2f} s)  "
              f"peak {r['peak_mb']:7.0f} MB (held before {r.get('rss_before_mb', 0):7.0f})  "
              f"{json.dumps(more, ensure_ascii=False) if more else ''}", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if not args.keep:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    return {"size": size, "label": label, "code": code, "steps": rows, "exit": os.waitstatus_to_exitcode(status),
            "maxrss_mb": round(usage.ru_maxrss / 1024.0, 1), "wall_s": round(wall, 1)}


def table(results: list[dict], steps: list[str]) -> str:
    """Markdown: one row per step, a column pair (s, peak MB) per (size, code)."""
    heads = [f"{r['size']} {r['label']}" for r in results]
    out = ["| step | " + " | ".join(f"{h} s | {h} peak MB" for h in heads) + " |",
           "|---|" + "---:|" * (2 * len(heads))]
    for s in steps:
        cells = []
        for r in results:
            row = next((x for x in r["steps"] if x["step"] == s), None)
            if row is None:
                cells += ["–", "–"]
                continue
            sec = f"{row['seconds']:.2f} (cpu {row['cpu_s']:.2f})" if "cpu_s" in row else f"{row['seconds']:.2f}"
            if s == "map" and "mb" in row:
                sec += f" ({row['mb']:.1f} MB)"
            cells += [sec, f"{row['peak_mb']:,.0f}"]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    out.append("| whole child process | " + " | ".join(
        f"{r['wall_s']:.0f} | {max([r['maxrss_mb'], *(x['peak_mb'] for x in r['steps'])]):,.0f}" for r in results) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--sizes", default="S1", help="comma-separated: " + ",".join(SIZES))
    ap.add_argument("--steps", default=",".join(STEPS),
                    help="comma-separated subset of " + ",".join(STEPS) + " (earlier steps they need also run)")
    ap.add_argument("--before", default=None, help="git ref of the code to compare with (e.g. 926c890)")
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "tuoyu-bench-city"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--time-limit", type=float, default=120.0, help="plan_sites time_limit_s")
    ap.add_argument("--cpsat-start", action="store_true",
                    help="settings.PLAN_MILP['cpsat_start'] = True: the cost stage starts from a CP-SAT plan "
                         "(needs OR-Tools)")
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the maps and exports written")
    ap.add_argument("--iso-sample", type=int, default=0,
                    help="compute only this many service areas (0 = all, as assess does); the others are "
                         "moved copies of them and their time is extrapolated (see proxy_isochrones)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--generate-only", action="store_true", help="write the study areas and stop")
    ap.add_argument("--network", choices=("graphml", "parquet", "memory"), default="graphml",
                    help="load_area reads walk.graphml (default); 'parquet': the same grid as GeoParquet "
                         "tables (what convert-network writes; see parquet_folder) with the engine cache, "
                         "timed cold (empty cache: load_area_cold) and warm (load_area) — the path a planner "
                         "should use for a big city; 'memory': the layers with load_area(load_graph=False) and "
                         "the grid built from walk.npz in memory (no GraphML parsing, no datum/reach checks)")
    args = ap.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    bad = [s for s in steps if s not in STEPS]
    if bad:
        ap.error(f"unknown steps {bad}; choose from {STEPS}")
    if args.child:
        child(Path(args.child), steps, args.time_limit, Path(args.out), args.iso_sample, args.network,
              args.cpsat_start)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown sizes {bad}; choose from {list(SIZES)}")
    data = Path(args.data)
    codes = ([("before", _worktree(args.before, data))] if args.before else []) + [("after", ROOT / "src")]
    results = []
    for size in sizes:
        folder = data / f"{size}-seed{args.seed}"
        if not ((folder / "city.json").is_file() and (folder / "walk.npz").is_file()):
            print(f"generating {size} into {folder} …", flush=True)
            subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(HERE)!r}]; "
                            f"from bench_city import generate; from pathlib import Path; "
                            f"generate({size!r}, Path({str(folder)!r}), {args.seed})"], check=True)
        info = json.loads((folder / "city.json").read_text(encoding="utf-8"))
        print(f"{size}: {info['nodes_actual']:,} nodes, {info['edges_undirected']:,} edges, "
              f"{info['communities']:,} communities, {info['candidates']:,} candidates, "
              f"{info['institutions']:,} institutions, {info['streets_actual']} 街道; "
              f"grid {info['spacing_m']:.1f} m, {info['extent_km'][0]:.1f} × {info['extent_km'][1]:.1f} km "
              f"(generated in {info['generate_s']:.0f} s)", flush=True)
        if args.generate_only:
            continue
        if args.network == "parquet":
            subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(ROOT / 'src')!r}]; "
                            f"from bench_city import parquet_folder; from pathlib import Path; "
                            f"parquet_folder(Path({str(folder)!r}))"], check=True)
        for label, src in codes:
            results.append(run_child(size, folder, src, steps, args, label))
    if results:
        all_steps = [s for s in ("load_area_cold", *STEPS) if any(x["step"] == s for r in results for x in r["steps"])]
        print("\n" + table(results, all_steps))
        if args.json:
            Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
