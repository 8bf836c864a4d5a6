"""Optimizer benchmark: MCLP on a seeded synthetic city (ours with CBC and HiGHS vs spopt), and the
full planning model on the bundled 徐汇区 area.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_optimize.py [--p 50] [--seed 7] [--no-spopt]

spopt is a benchmark-only dependency (``pip install spopt``); it is not needed by tuoyu_geo.

Synthetic city: 20 km × 15 km, 20 街道 (5 × 4 blocks), 5,000 demand points (uniform, weights 1–60
infants), 1,500 uniform candidate sites, 15-minute walk = 1,000 m straight-line radius (≈75,000
pairs in reach).  A clustered variant (5,000 points around 60 centres in 12 × 10 km, ≈195,000 pairs)
is not solved to optimality by HiGHS in 60 s even for p = 20 (gap 9e-4), so the uniform city is used.  Both libraries get the same dense
5,000 × 1,500 cost matrix (metres) and must open ``p`` facilities.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def city(seed: int = 7, n_demand: int = 5000, n_cand: int = 1500):
    rng = np.random.default_rng(seed)
    W, H = 20000.0, 15000.0
    demand = rng.random((n_demand, 2)) * [W, H]
    cand = rng.random((n_cand, 2)) * [W, H]
    weights = rng.integers(1, 61, n_demand).astype(float)
    street = (np.minimum(demand[:, 0] // (W / 5), 4) + 5 * np.minimum(demand[:, 1] // (H / 4), 3)).astype(int)
    cost = np.sqrt(((demand[:, None, :] - cand[None, :, :]) ** 2).sum(axis=2))
    return cost, weights, street


def run_ours(cost, w, p, radius, solver):
    from tuoyu_geo.optimize import mclp

    t0 = time.perf_counter()
    r = mclp(cost, w, p=p, radius=radius, solver=solver, time_limit_s=600)
    total = time.perf_counter() - t0
    return r.objective, total, r.build_seconds, r.solve_seconds, r.status


def run_spopt(cost, w, p, radius, solver):
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    m = MCLP.from_cost_matrix(cost, w, service_radius=radius, p_facilities=p, name="bench")
    t_build = time.perf_counter() - t0
    s = pulp.HiGHS(msg=False, timeLimit=600) if solver == "highs" else pulp.PULP_CBC_CMD(msg=False, timeLimit=600)
    m.solve(s)
    total = time.perf_counter() - t0
    # covered weight recomputed from the chosen facilities (independent of either model's objective)
    chosen = [j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5]
    covered = float(w[(cost[:, chosen] <= radius).any(axis=1)].sum())
    return covered, total, t_build, total - t_build, pulp.LpStatus[m.problem.status]


def bench_plan():
    import tuoyu_geo as tg

    area = tg.datasets.shanghai_xuhui()
    pol = tg.load_policy("wuxi-2025")
    t0 = time.perf_counter()
    tg.access.compute_access(area, pol)  # timed: access before the plans
    t_acc = time.perf_counter() - t0
    out = []
    for label, kw in (("default", {}), ("budget 3000 万元", {"budget_wan": 3000}),
                      ("capacity-aware", {"capacity_aware": True}),
                      ("phased 2026,2027, 2000 万元/year", {"years": (2026, 2027), "budget_per_year_wan": 2000})):
        t0 = time.perf_counter()
        a = tg.assess(area, pol, plan=tg.PlanOptions(**kw), with_isochrones=False)
        plan = a.plan
        tot = time.perf_counter() - t0
        ov = plan.objective_values
        out.append((label, len(plan.sites), ov["places"], ov["cost"], ov["infants_newly_covered"], ov["shortfall"],
                    plan.status, plan.gap, plan.solve_seconds, tot,
                    bool(a.streets_after["has_puhui"].all())))
    return t_acc, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--radius", type=float, default=1000.0)
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--no-plan", action="store_true")
    a = ap.parse_args(argv)
    cost, w, street = city(a.seed)
    pairs = int((cost <= a.radius).sum())
    print(f"synthetic city: {cost.shape[0]} demand points × {cost.shape[1]} candidates, {len(set(street))} 街道, "
          f"radius {a.radius:.0f} m, {pairs:,} pairs in reach, p={a.p}, total weight {w.sum():,.0f}")
    rows = []
    for solver in ("cbc", "highs"):
        obj, tot, tb, ts, st = run_ours(cost, w, a.p, a.radius, solver)
        rows.append(("tuoyu_geo", solver, obj, tb, ts, tot, st))
        if not a.no_spopt:
            try:
                obj2, tot2, tb2, ts2, st2 = run_spopt(cost, w, a.p, a.radius, solver)
                rows.append(("spopt", solver, obj2, tb2, ts2, tot2, st2))
            except ImportError as e:
                print(f"spopt not installed ({e}); `pip install spopt` to compare", file=sys.stderr)
    print(f"{'library':10} {'solver':6} {'covered weight':>15} {'build s':>8} {'solve s':>8} {'total s':>8}  status")
    for lib, solver, obj, tb, ts, tot, st in rows:
        print(f"{lib:10} {solver:6} {obj:15,.1f} {tb:8.2f} {ts:8.2f} {tot:8.2f}  {st}")
    for solver in ("cbc", "highs"):
        ours = [r for r in rows if r[0] == "tuoyu_geo" and r[1] == solver]
        theirs = [r for r in rows if r[0] == "spopt" and r[1] == solver]
        if ours and theirs:
            o, t = ours[0], theirs[0]
            print(f"{solver}: objective ours/spopt = {o[2]:,.1f} / {t[2]:,.1f} "
                  f"({'identical' if abs(o[2] - t[2]) < 1e-6 else 'DIFFERENT'}); "
                  f"time spopt/ours = {t[5] / o[5]:.1f}× (build {t[3] / max(o[3], 1e-9):.0f}×)")
    if not a.no_plan:
        t_acc, plans = bench_plan()
        print(f"\nbundled 徐汇区, wuxi-2025 (compute_access {t_acc:.2f} s):")
        print(f"{'variant':34} {'sites':>5} {'places':>6} {'cost 万元':>9} {'new infants':>11} {'short':>6} "
              f"{'status':8} {'gap':>7} {'solve s':>7} {'total s':>7} 一街道一普惠")
        for r in plans:
            print(f"{r[0]:34} {r[1]:5d} {r[2]:6.0f} {r[3]:9.1f} {r[4]:11.0f} {r[5]:6.0f} {r[6]:8} {r[7]:7.1e} "
                  f"{r[8]:7.2f} {r[9]:7.2f} {'all 13' if r[10] else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
