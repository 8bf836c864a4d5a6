"""Benchmark: the site plan (``tuoyu_geo.plan.plan_sites``) on a seeded synthetic city of ~20,000 communities.

Run from the repository root::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_plan_city.py [--communities 20000]
        [--candidates 5000] [--streets 300] [--institutions 1500] [--seed 7] [--time-limit 300]
        [--variants default,capacity-aware] [--solver highs|cbc] [--population 500,5000] [--json out.json]

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_plan_city.py --small   # quick check, < 2 min

``--small`` is 2,000 communities, 500 candidates, 30 街道, 150 institutions and a 30 s time limit
per plan (any size option or ``--time-limit`` given with it overrides that).

What it times, each step separately, with the process's peak RSS (``VmHWM``) after the step:

1. **city** — drawing the synthetic layers and the networkx walk graph (numpy + networkx; not
   tuoyu_geo);
2. **make_area** — ``tuoyu_geo.make_area(...)``: validation, 街道 assignment, infants estimated
   from population (policy ``wuxi-2025``), the graph is already in the metric CRS (no projection);
3. **compute_access** — ``tuoyu_geo.access.compute_access(area, policy)``: WalkNet, snapping,
   community × institution / candidate distances within the 15-minute cutoff, 2SFCA;
4. per plan variant (``default``; ``capacity-aware`` = ``capacity_aware=True``) —
   ``plan_sites(area, access, policy, capacity_aware=…, time_limit_s=…, solver=…)``: model build
   (``plan.build_seconds``), every lexicographic stage (``plan.stages``: status, objective, bound,
   gap, seconds), the rest (MIP starts, explanations, area after), total wall time, model size
   (``plan.model_size``), sites, places, cost (``plan.objective_values``) and ``plan.optimality``.

The city (every number scales with the options; the defaults in brackets)
--------------------------------------------------------------------------
* **Extent.** A rectangle of 30 km × 20 km for 20,000 communities, scaled by
  √(communities / 20,000) on both sides so the density stays the same (``--small``: 9.5 × 6.3 km),
  lower-left corner at UTM 51N (EPSG:32651) E 330,000 m, N 3,440,000 m (≈ 121.2 °E, 31.1 °N,
  Shanghai).  Layers are built in metres and handed to ``make_area`` in WGS-84 (EPSG:4326).
* **Walk network.** A street grid with 100 m spacing (301 × 201 = 60,501 nodes for the full
  city), every node moved by up to ±10 m (uniform), 5 % of the grid edges deleted at random; an
  osmnx-style ``MultiDiGraph`` in EPSG:32651 with both directions of every edge and ``length`` =
  the straight length in metres.
* **街道.** A grid of nx × ny rectangles (``--streets`` approximately: the factorisation closest to
  the number, aspect near the city's 1.5; 300 → 20 × 15 of 1.5 km × 1.33 km), ids ``S0000``…,
  ``population`` = the sum of their communities' populations.  Districts (``district``): blocks
  of about 5 × 5 街道 (300 街道 → 4 × 3 = 12 districts), for 一县区一示范.
* **Communities.** Each 街道 gets a share of the communities proportional to a log-normal weight
  (σ = 0.5), so some 街道 are denser than others; within its 街道 a community lies at the centre
  plus a normal offset (σ = ¼ of the 街道's width/height), clipped to 25 m inside the border.
  ``population`` log-uniform between 500 and 5,000 (``--population``; mean ≈ 1,950, a full city
  of ≈ 39 million residents, ≈ 130,000 per 街道 — dense, so the plan opens most candidates; a
  lower range such as ``--population 200,2000`` gives smaller gaps and a sparser choice); ``infants`` are left to the policy (population × 2.77 %).
  10 % are new residential areas (``is_new``, ``built_year`` 2021–2025; the others 1980–2015).
* **Existing institutions** (~1,500, 5 per 街道 on average): each near a random community
  (offset σ = 200 m, clipped inside its 街道); ``category`` 普惠 40 %, 民办 50 %, 公办 10 %;
  ``places`` uniform from {20, 30, 40, 50, 60} (mean 40).  Seed 7, full size: 38.9 million
  residents, 1.08 million infants; under wuxi-2025 (4.5 places per 1,000 residents, 70 % 普惠) the
  city needs 175,095 places and has 61,260, so every 街道 has a gap (113,835 places in all), and
  53 of the 300 街道 have no 普惠 institution yet (一街道一普惠).
* **Candidate sites** (~5,000): uniform over the city (25 m inside their 街道), three kinds drawn
  like the bundled 徐汇 data: 幼儿园富余 60 % (fixed 20 万元, 1.5 万元/place, 15–35 places),
  新建小区配建 16 % (40 万元, 2.0, 20–65), 社区服务中心 24 % (60 万元, 2.5, 10–45);
  ``available_year`` 2026 (85 %) or 2027.  Capacity 210,810 places (seed 7), so most gaps can be
  closed; a few dense 街道 with few candidates cannot (the plan's shortfall).  15-minute reach
  (1,000 m): 308,224 community × candidate pairs, 111,208 community × institution pairs.

Everything is drawn from ``numpy.random.default_rng(seed)`` (``--seed``, default 7) in a fixed
order; the same options give the same city.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import time
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
from shapely.geometry import box

import tuoyu_geo as tg
from tuoyu_geo.access import compute_access
from tuoyu_geo.plan import plan_sites

CRS = "EPSG:32651"
X0, Y0 = 330_000.0, 3_440_000.0  # lower-left corner (UTM 51N), ≈ 121.2 °E, 31.1 °N
FULL_W, FULL_H, FULL_N = 30_000.0, 20_000.0, 20_000  # extent (m) for FULL_N communities
SPACING, JITTER, DROP = 100.0, 10.0, 0.05  # walk grid
MARGIN = 25.0  # points stay this far inside their 街道
POP_LO, POP_HI = 500.0, 5000.0
#: kind → (share, fixed_cost 万元, cost_per_place 万元, min_places, max_places), as in the bundled data
KINDS = {"幼儿园富余": (0.60, 20.0, 1.5, 15, 35), "新建小区配建": (0.16, 40.0, 2.0, 20, 65),
         "社区服务中心": (0.24, 60.0, 2.5, 10, 45)}
CATEGORIES = {"普惠": 0.40, "民办": 0.50, "公办": 0.10}
PLACES = (20, 30, 40, 50, 60)
SMALL = {"communities": 2000, "candidates": 500, "streets": 30, "institutions": 150}
VARIANTS = {"default": {"capacity_aware": False}, "capacity-aware": {"capacity_aware": True}}


# ------------------------------------------------------------------------------------ measuring

def peak_mb() -> float:
    """Peak resident memory of this process so far (VmHWM; ru_maxrss as a fallback), MB."""
    try:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024.0
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Timer:
    rows: list = field(default_factory=list)

    def step(self, label: str, fn, /, *args, **kw):
        t = time.perf_counter()
        out = fn(*args, **kw)
        dt = time.perf_counter() - t
        self.rows.append({"step": label, "seconds": dt, "peak_mb": peak_mb()})
        print(f"  {label:<28} {dt:9.2f} s   peak RSS {peak_mb():8.0f} MB", flush=True)
        return out


# ------------------------------------------------------------------------------------ the city

def street_grid(n_streets: int, aspect: float) -> tuple[int, int]:
    """nx × ny closest to ``n_streets`` (then aspect nx/ny closest to ``aspect``)."""
    best = None
    for ny in range(1, n_streets + 1):
        nx_ = max(1, round(n_streets / ny))
        if not (aspect / 2.5 <= nx_ / ny <= aspect * 2.5) and n_streets > 3:
            continue
        key = (abs(nx_ * ny - n_streets), abs(math.log(nx_ / ny / aspect)))
        if best is None or key < best[0]:
            best = (key, nx_, ny)
    return best[1], best[2]


def walk_arrays(w: float, h: float, rng: np.random.Generator, *,
                spacing: float = SPACING) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Jittered grid (``spacing`` m, nodes moved by up to ±``JITTER`` m) over [X0, X0 + w] × [Y0, Y0 + h],
    5 % of edges dropped: node x, y (EPSG:32651), undirected edges (k × 2 node indices), lengths (m)."""
    ncol, nrow = int(round(w / spacing)) + 1, int(round(h / spacing)) + 1
    ii, jj = np.meshgrid(np.arange(ncol), np.arange(nrow), indexing="ij")
    x = X0 + ii.ravel() * spacing + rng.uniform(-JITTER, JITTER, ii.size)
    y = Y0 + jj.ravel() * spacing + rng.uniform(-JITTER, JITTER, ii.size)
    nid = np.arange(ii.size).reshape(ncol, nrow)
    e = np.vstack([np.stack([nid[:-1, :].ravel(), nid[1:, :].ravel()], 1),
                   np.stack([nid[:, :-1].ravel(), nid[:, 1:].ravel()], 1)])
    e = e[rng.random(len(e)) >= DROP]
    length = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    return x, y, e, length


def walk_graph(w: float, h: float, rng: np.random.Generator, *, spacing: float = SPACING) -> nx.MultiDiGraph:
    """:func:`walk_arrays` as an osmnx-style ``MultiDiGraph`` (both directions of every edge)."""
    x, y, e, length = walk_arrays(w, h, rng, spacing=spacing)
    nid = np.arange(len(x))
    G = nx.MultiDiGraph(crs=CRS)
    G.add_nodes_from((int(n), {"x": float(x[n]), "y": float(y[n])}) for n in nid.ravel())
    G.add_edges_from((int(a), int(b), {"length": float(d), "oneway": False, "highway": "residential"})
                     for (a, b), d in zip(e, length, strict=True))
    G.add_edges_from((int(b), int(a), {"length": float(d), "oneway": False, "highway": "residential"})
                     for (a, b), d in zip(e, length, strict=True))
    return G


def _wgs(xs: np.ndarray, ys: np.ndarray) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=CRS).to_crs("EPSG:4326")


def make_city(*, n_communities: int, n_candidates: int, n_streets: int, n_institutions: int,
              seed: int, population: tuple[float, float] = (POP_LO, POP_HI), spacing: float = SPACING,
              graph: bool = True) -> dict:
    """The synthetic layers (GeoDataFrames in EPSG:4326) and walk graph (EPSG:32651); see the docstring.

    ``spacing``: of the walk grid (m); ``graph=False``: ``"graph"`` holds the :func:`walk_arrays`
    tuple instead of a networkx graph (same numbers; no per-edge Python objects)."""
    rng = np.random.default_rng(seed)
    scale = math.sqrt(n_communities / FULL_N)
    w, h = FULL_W * scale, FULL_H * scale
    nsx, nsy = street_grid(n_streets, w / h)
    sw, sh = w / nsx, h / nsy
    # 街道 (row-major from the lower left) and districts of ~5 × 5 街道
    sx, sy = np.meshgrid(np.arange(nsx), np.arange(nsy), indexing="xy")
    sx, sy = sx.ravel(), sy.ravel()
    ns = len(sx)
    sid = np.array([f"S{k:04d}" for k in range(ns)])
    ndx, ndy = max(1, round(nsx / 5)), max(1, round(nsy / 5))
    dist_x = np.minimum(sx * ndx // nsx, ndx - 1)
    dist_y = np.minimum(sy * ndy // nsy, ndy - 1)
    district = np.array([f"第{d + 1}区" for d in dist_y * ndx + dist_x])
    x0s, y0s = X0 + sx * sw, Y0 + sy * sh
    # communities: per-街道 counts ∝ log-normal weights, clustered around the 街道 centre
    weight = rng.lognormal(0.0, 0.5, ns)
    counts = rng.multinomial(n_communities, weight / weight.sum())
    cs = np.repeat(np.arange(ns), counts)
    cx = np.clip(x0s[cs] + sw / 2 + rng.normal(0, sw / 4, len(cs)), x0s[cs] + MARGIN, x0s[cs] + sw - MARGIN)
    cy = np.clip(y0s[cs] + sh / 2 + rng.normal(0, sh / 4, len(cs)), y0s[cs] + MARGIN, y0s[cs] + sh - MARGIN)
    pop = np.round(np.exp(rng.uniform(math.log(population[0]), math.log(population[1]), len(cs))))
    is_new = rng.random(len(cs)) < 0.10
    built = np.where(is_new, rng.integers(2021, 2026, len(cs)), rng.integers(1980, 2016, len(cs)))
    communities = gpd.GeoDataFrame({
        "community_id": [f"C{k:05d}" for k in range(len(cs))], "name": [f"小区{k}" for k in range(len(cs))],
        "street_id": sid[cs], "population": pop, "is_new": is_new, "built_year": built},
        geometry=_wgs(cx, cy).values, crs="EPSG:4326")
    street_pop = np.bincount(cs, weights=pop, minlength=ns)
    streets = gpd.GeoDataFrame({
        "street_id": sid, "name": [f"第{k + 1}街道" for k in range(ns)], "district": district,
        "population": street_pop},
        geometry=gpd.GeoSeries([box(a, b, a + sw, b + sh) for a, b in zip(x0s, y0s, strict=True)],
                               crs=CRS).to_crs("EPSG:4326").values, crs="EPSG:4326")
    # existing institutions near random communities
    pick = rng.integers(0, len(cs), n_institutions)
    ist = cs[pick]
    ix = np.clip(cx[pick] + rng.normal(0, 200, len(pick)), x0s[ist] + MARGIN, x0s[ist] + sw - MARGIN)
    iy = np.clip(cy[pick] + rng.normal(0, 200, len(pick)), y0s[ist] + MARGIN, y0s[ist] + sh - MARGIN)
    cat = rng.choice(list(CATEGORIES), n_institutions, p=list(CATEGORIES.values()))
    institutions = gpd.GeoDataFrame({
        "institution_id": [f"I{k:05d}" for k in range(n_institutions)],
        "name": [f"托育机构{k}" for k in range(n_institutions)], "street_id": sid[ist], "category": cat,
        "places": rng.choice(PLACES, n_institutions)}, geometry=_wgs(ix, iy).values, crs="EPSG:4326")
    # candidate sites, uniform over the city
    kx = rng.uniform(X0, X0 + w, n_candidates)
    ky = rng.uniform(Y0, Y0 + h, n_candidates)
    kcol = np.minimum(((kx - X0) // sw).astype(int), nsx - 1)
    krow = np.minimum(((ky - Y0) // sh).astype(int), nsy - 1)
    kst = krow * nsx + kcol
    kx = np.clip(kx, x0s[kst] + MARGIN, x0s[kst] + sw - MARGIN)
    ky = np.clip(ky, y0s[kst] + MARGIN, y0s[kst] + sh - MARGIN)
    kind = rng.choice(list(KINDS), n_candidates, p=[v[0] for v in KINDS.values()])
    spec = np.array([KINDS[k][1:] for k in kind])
    candidates = gpd.GeoDataFrame({
        "site_id": [f"K{k:05d}" for k in range(n_candidates)], "name": [f"候选点{k}" for k in range(n_candidates)],
        "street_id": sid[kst], "kind": kind, "fixed_cost": spec[:, 0], "cost_per_place": spec[:, 1],
        "min_places": spec[:, 2].astype(int), "max_places": spec[:, 3].astype(int),
        "available_year": np.where(rng.random(n_candidates) < 0.85, 2026, 2027)},
        geometry=_wgs(kx, ky).values, crs="EPSG:4326")
    graph = walk_graph(w, h, rng, spacing=spacing) if graph else walk_arrays(w, h, rng, spacing=spacing)
    return {"streets": streets, "communities": communities, "institutions": institutions,
            "candidates": candidates, "graph": graph, "extent_m": (w, h), "street_grid": (nsx, nsy),
            "districts": ndx * ndy}


# ------------------------------------------------------------------------------------ main

def _fmt(v, spec: str = ",.1f") -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if not math.isfinite(v) else format(v, spec)


def run_variant(name: str, area, access, pol, args, timer: Timer) -> dict:
    t = time.perf_counter()
    plan = plan_sites(area, access, pol, time_limit_s=args.time_limit, solver=args.solver, **VARIANTS[name])
    total = time.perf_counter() - t
    ov = plan.objective_values
    solve = sum(float(s.get("seconds", 0.0)) for s in plan.stages)
    timer.rows.append({"step": f"plan {name}", "seconds": total, "peak_mb": peak_mb()})
    print(f"\n  plan '{name}' ({args.solver}, time limit {args.time_limit:g} s): total {total:.2f} s, "
          f"peak RSS {peak_mb():.0f} MB")
    print(f"    model: {plan.model_size.get('n_vars', '?'):,} vars × {plan.model_size.get('n_rows', '?'):,} rows; "
          f"build {plan.build_seconds:.2f} s")
    print(f"    {'stage':<14} {'status':<12} {'objective':>14} {'bound':>14} {'gap':>9} {'seconds':>9}")
    for s in plan.stages:  # "*": the stage found no plan in its time, the previous stage's plan is kept
        status = str(s.get("status", "?")) + ("*" if s.get("kept_previous") else "")
        print(f"    {s.get('stage', '?'):<14} {status:<12} {_fmt(s.get('objective')):>14} "
              f"{_fmt(s.get('bound')):>14} {_fmt(s.get('gap'), '.1e'):>9} {_fmt(s.get('seconds'), '.2f'):>9}")
    print(f"    rest (MIP starts, explanations, area after): {total - plan.build_seconds - solve:.2f} s")
    print(f"    {len(plan.sites):,} sites, {ov['places']:,.0f} places, cost {ov['cost']:,.1f} 万元, "
          f"shortfall {ov['shortfall']:,.0f}, infants newly covered {ov['infants_newly_covered']:,.0f}; "
          f"status {plan.status}, gap {plan.gap:.1e}")
    print(f"    {plan.optimality}", flush=True)
    return {"variant": name, "total_s": total, "build_s": plan.build_seconds, "solve_s": solve,
            "rest_s": total - plan.build_seconds - solve, "n_vars": plan.model_size.get("n_vars"),
            "n_rows": plan.model_size.get("n_rows"), "sites": len(plan.sites), "places": float(ov["places"]),
            "cost_wan": float(ov["cost"]), "shortfall": float(ov["shortfall"]), "status": str(plan.status),
            "gap": float(plan.gap), "optimality": plan.optimality, "peak_mb": peak_mb(),
            "stages": [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                        for k, v in s.items()} for s in plan.stages]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="2,000 communities, 500 candidates, 30 街道, 150 institutions")
    ap.add_argument("--communities", type=int, default=None, help="default 20000")
    ap.add_argument("--candidates", type=int, default=None, help="default 5000")
    ap.add_argument("--streets", type=int, default=None, help="approximate number of 街道, default 300")
    ap.add_argument("--institutions", type=int, default=None, help="existing institutions, default 1500")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--population", default=f"{POP_LO:g},{POP_HI:g}",
                    help="LO,HI: community population, log-uniform (default 500,5000)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="plan_sites time_limit_s per plan (s); default 300, with --small 30")
    ap.add_argument("--variants", default="default,capacity-aware", help="comma-separated: " + ",".join(VARIANTS))
    ap.add_argument("--solver", choices=("highs", "cbc"), default="highs")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    try:
        pop_range = tuple(float(v) for v in args.population.split(","))
    except ValueError:
        pop_range = ()
    if len(pop_range) != 2 or not 0 < pop_range[0] <= pop_range[1]:
        ap.error("--population must be LO,HI with 0 < LO <= HI")
    if args.time_limit is None:
        args.time_limit = 30.0 if args.small else 300.0
    base = SMALL if args.small else {"communities": 20000, "candidates": 5000, "streets": 300, "institutions": 1500}
    sizes = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")

    timer = Timer()
    print(f"synthetic city: {sizes}, population {pop_range[0]:g}–{pop_range[1]:g}, seed {args.seed}; policy wuxi-2025; solver {args.solver}", flush=True)
    city = timer.step("city (layers + graph)", make_city, n_communities=sizes["communities"],
                      n_candidates=sizes["candidates"], n_streets=sizes["streets"],
                      n_institutions=sizes["institutions"], seed=args.seed, population=pop_range)
    G = city["graph"]
    w, h = city["extent_m"]
    print(f"    {w / 1000:.1f} × {h / 1000:.1f} km; 街道 {city['street_grid'][0]} × {city['street_grid'][1]} = "
          f"{len(city['streets'])}, {city['districts']} districts; graph {G.number_of_nodes():,} nodes, "
          f"{G.number_of_edges():,} directed edges", flush=True)
    pol = tg.load_policy("wuxi-2025")
    area = timer.step("make_area", tg.make_area, streets=city["streets"], communities=city["communities"],
                      institutions=city["institutions"], candidates=city["candidates"], policy=pol, graph=G,
                      name=f"synthetic city (seed {args.seed})")
    del city
    st, ins = area.streets, area.institutions
    need = st["population"].to_numpy() * pol.places_per_1000 / 1000.0
    have = ins.groupby("street_id")["places"].sum().reindex(st["street_id"]).fillna(0).to_numpy()
    puhui_streets = ins.loc[ins["category"].isin(["普惠", "公办"]), "street_id"].nunique()
    print(f"    population {st['population'].sum():,.0f}, infants {area.communities['infants'].sum():,.0f}; "
          f"places needed {need.sum():,.0f}, existing {have.sum():,.0f}, gap {np.maximum(need - have, 0).sum():,.0f} "
          f"in {(need > have).sum()} 街道; 街道 without 普惠 {len(st) - puhui_streets}; candidate capacity "
          f"{area.candidates['max_places'].sum():,.0f}", flush=True)
    access = timer.step("compute_access", compute_access, area, pol)
    pairs = access.dist_candidates.nnz
    print(f"    community × candidate pairs within the cutoff: {pairs:,}; × institution: "
          f"{access.dist_institutions.nnz:,}", flush=True)
    results = [run_variant(v, area, access, pol, args, timer) for v in variants]

    print("\nsummary (wall seconds; peak RSS after the step)")
    print(f"  {'step':<28} {'seconds':>9} {'peak MB':>9}")
    for r in timer.rows:
        print(f"  {r['step']:<28} {r['seconds']:9.2f} {r['peak_mb']:9.0f}")
    print(f"\n  {'variant':<16} {'vars':>9} {'rows':>9} {'build s':>8} {'solve s':>8} {'total s':>8} {'sites':>6} "
          f"{'places':>8} {'cost 万元':>10} {'status':<11} {'gap':>8}")
    for r in results:
        print(f"  {r['variant']:<16} {r['n_vars'] or 0:>9,} {r['n_rows'] or 0:>9,} {r['build_s']:8.2f} "
              f"{r['solve_s']:8.2f} {r['total_s']:8.2f} {r['sites']:>6,} {r['places']:>8,.0f} "
              f"{r['cost_wan']:>10,.1f} {r['status']:<11} {r['gap']:8.1e}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"sizes": sizes, "population": pop_range, "seed": args.seed, "solver": args.solver, "time_limit_s": args.time_limit,
                       "steps": timer.rows, "plans": results, "pairs_candidates": int(pairs)},
                      f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
