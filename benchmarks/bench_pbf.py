"""Reading a walk network from an OSM extract (.osm.pbf): pyosmium vs pyrosm vs quackosm.

Writes a synthetic "province" extract with pyosmium's writer — a jittered grid of nodes with
highway ways (residential, footway, primary, service, path …, every way ~10 nodes), plus
non-walkable ways (motorway, foot=no, access=private, area=yes) and buildings (closed ways without
``highway``) — then, each in a fresh child process, reads the walkable ways inside a district
(the central 1/``--district`` of the extent per side) with each reader and reports the time and
the peak memory of the child (``ru_maxrss``, imports included; time excludes imports).  Readers that are not installed are reported as such.

* ``tuoyu_geo`` — :func:`tuoyu_geo.network.pbf.graph_from_pbf` (pyosmium stream + osmnx graph),
  split into its read step and the whole build;
* ``pyosmium read`` — the read step alone (walk-filtered ways of the district with their nodes);
* ``pyrosm`` — ``OSM(file, bounding_box=…).get_network("walking", nodes=True)``;
* ``imports only`` / ``pyrosm imports only`` — the memory a process has before reading (subtract
  it from the peaks);
* ``quackosm`` — ``convert_pbf_to_geodataframe(file, tags_filter={"highway": True},
  geometry_filter=box)`` (highway ways only; the walk filter would still have to be applied).

Run (the figures in benchmarks/README.md)::

    PYTHONPATH=src python benchmarks/bench_pbf.py --side 450      # 202,500-node grid
    PYTHONPATH=src python benchmarks/bench_pbf.py --side 230 --python /tmp/pbfbench/bin/python

``--python`` runs pyrosm/quackosm with another interpreter (a venv where they are installed, so
that their dependencies stay out of the project's environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WALK_HIGHWAYS = ("residential", "footway", "service", "tertiary", "primary", "path", "living_street",
                 "secondary", "steps", "unclassified", "pedestrian")


def write_grid_pbf(path: str | Path, *, side: int, spacing_deg: float = 0.0005, seed: int = 42,
                   lon0: float = 120.0, lat0: float = 30.0, way_len: int = 10) -> dict:
    """A ``side`` × ``side`` jittered grid of highway nodes (+ building nodes) as an OSM PBF.

    Rows and columns are cut into ways of ``way_len`` nodes; each way takes a random walkable
    highway value, and 6 % / 4 % / 4 % / 3 % of them are motorway / foot=no / access=private / area=yes.
    One building (closed 4-node way, no highway) per 4 grid cells.
    """
    import numpy as np
    import osmium
    from osmium.osm.mutable import Node, Way

    rng = np.random.default_rng(seed)
    jit = rng.uniform(-0.2, 0.2, size=(side, side, 2)) * spacing_deg
    nid = lambda r, c: 1 + r * side + c  # noqa: E731
    hdr = osmium.io.Header()
    hdr.add_box(osmium.osm.Box(osmium.osm.Location(lon0 - spacing_deg, lat0 - spacing_deg),
                               osmium.osm.Location(lon0 + side * spacing_deg, lat0 + side * spacing_deg)))
    n_ways = n_nodes = 0
    wid = 1
    with osmium.SimpleWriter(str(path), header=hdr, overwrite=True) as w:
        for r in range(side):
            for c in range(side):
                w.add_node(Node(id=nid(r, c), location=(lon0 + c * spacing_deg + jit[r, c, 0],
                                                        lat0 + r * spacing_deg + jit[r, c, 1])))
        n_nodes = side * side
        bid = side * side + 1
        for r in range(0, side - 1, 2):
            for c in range(0, side - 1, 2):
                x, y = lon0 + (c + 0.3) * spacing_deg, lat0 + (r + 0.3) * spacing_deg
                d = 0.3 * spacing_deg
                for k, (dx, dy) in enumerate(((0, 0), (d, 0), (d, d), (0, d))):
                    w.add_node(Node(id=bid + k, location=(x + dx, y + dy)))
                n_nodes += 4
                bid += 4
        for horizontal in (True, False):
            for a in range(side):
                for b0 in range(0, side - 1, way_len - 1):
                    seq = [nid(a, b) if horizontal else nid(b, a) for b in range(b0, min(b0 + way_len, side))]
                    if len(seq) < 2:
                        continue
                    tags = {"highway": WALK_HIGHWAYS[int(rng.integers(len(WALK_HIGHWAYS)))], "name": f"路{wid % 97}"}
                    u = rng.random()
                    if u < 0.06:
                        tags = {"highway": "motorway"}
                    elif u < 0.10:
                        tags["foot"] = "no"
                    elif u < 0.14:
                        tags["access"] = "private"
                    elif u < 0.17:
                        tags["area"] = "yes"
                    w.add_way(Way(id=wid, nodes=seq, tags=tags))
                    wid += 1
                    n_ways += 1
        first_b = side * side + 1
        for k in range(first_b, bid, 4):
            w.add_way(Way(id=wid, nodes=[k, k + 1, k + 2, k + 3, k], tags={"building": "yes"}))
            wid += 1
            n_ways += 1
    return {"nodes": n_nodes, "ways": n_ways, "bounds": (lon0, lat0, lon0 + (side - 1) * spacing_deg,
                                                         lat0 + (side - 1) * spacing_deg)}


_CHILD = r'''
import json, resource, sys, tempfile, time
import shapely
method, path, west, south, east, north = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:7])
box = shapely.box(west, south, east, north)
out = {}
t0 = time.perf_counter()
if method == "imports only":
    import osmnx  # noqa: F401 - the memory every tuoyu_geo session starts with
    import tuoyu_geo.network.pbf  # noqa: F401
    t0 = time.perf_counter()
elif method == "pyrosm imports only":
    import geopandas  # noqa: F401
    from pyrosm import OSM  # noqa: F401
    t0 = time.perf_counter()
elif method == "tuoyu_geo":
    import osmnx  # noqa: F401 - imported before the clock starts, as by any tuoyu_geo session
    from tuoyu_geo.network.pbf import graph_from_pbf
    t0 = time.perf_counter()
    G = graph_from_pbf(path, box, buffer_m=0)
    out["nodes"], out["edges"] = G.number_of_nodes(), G.number_of_edges()
elif method == "pyosmium read":
    import osmnx  # noqa: F401
    from tuoyu_geo.network.pbf import _read_ways
    from pathlib import Path
    t0 = time.perf_counter()
    ways, nodes, _ = _read_ways(Path(path), (west, south, east, north))
    out["ways"], out["nodes"] = len(ways), len(nodes)
elif method == "pyrosm":
    from pyrosm import OSM
    t0 = time.perf_counter()
    osm = OSM(path, bounding_box=[west, south, east, north])
    nodes, edges = osm.get_network("walking", nodes=True)
    out["nodes"], out["edges"] = len(nodes), len(edges)
elif method == "quackosm":
    import quackosm as qosm
    t0 = time.perf_counter()
    gdf = qosm.convert_pbf_to_geodataframe(path, tags_filter={"highway": True}, geometry_filter=box,
                                           keep_all_tags=True, verbosity_mode="silent",
                                           working_directory=tempfile.mkdtemp())
    out["ways"] = len(gdf)
out["seconds"] = round(time.perf_counter() - t0, 3)
out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print("RESULT " + json.dumps(out))
'''


def _run(method: str, python: str, path: Path, bounds: tuple[float, ...]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([python, "-c", _CHILD, method, str(path), *map(str, bounds)], capture_output=True,
                       text=True, env=env, timeout=3600)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    if "Failed to download extension" in p.stderr:
        return {"error": "needs DuckDB's spatial extension, downloaded at run time (fails offline)"}
    errs = [ln for ln in p.stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", ln)]
    return {"error": (errs or p.stderr.strip().splitlines() or ["?"])[-1][:160]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=450, help="grid side (nodes = side², default 450 → 202,500)")
    ap.add_argument("--district", type=float, default=4.0, help="district = central 1/N of the extent per side")
    ap.add_argument("--python", default=sys.executable, help="interpreter for pyrosm/quackosm")
    ap.add_argument("--methods", default="imports only,tuoyu_geo,pyosmium read,pyrosm imports only,pyrosm,quackosm")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pbf-") as tmp:
        path = Path(tmp) / "province.osm.pbf"
        t0 = time.perf_counter()
        info = write_grid_pbf(path, side=args.side)
        w, s, e, n = info["bounds"]
        dx, dy = (e - w) / args.district, (n - s) / args.district
        cx, cy = (w + e) / 2, (s + n) / 2
        dist = (cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2)
        print(f"extract: {info['nodes']:,} nodes, {info['ways']:,} ways, {path.stat().st_size / 1e6:.1f} MB "
              f"(written in {time.perf_counter() - t0:.1f} s); district = central 1/{args.district:g} per side")
        print("| reader | time s | peak MB | result |\n|---|---:|---:|---|")
        for m in args.methods.split(","):
            py = sys.executable if m in ("imports only", "tuoyu_geo", "pyosmium read") else args.python
            r = _run(m, py, path, dist)
            if "error" in r:
                print(f"| {m} | – | – | {r['error']} |")
                continue
            res = ", ".join(f"{k} {v:,}" for k, v in r.items() if k not in ("seconds", "peak_mb"))
            print(f"| {m} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {res} |")


if __name__ == "__main__":
    main()
