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


PLAN_VARIANTS = (("default", {}), ("budget 3000 万元", {"budget_wan": 3000}),
                 ("capacity-aware", {"capacity_aware": True}),
                 ("phased 2026-27, 2000/yr", {"years": (2026, 2027), "budget_per_year_wan": 2000}),
                 ("phased 2026-28, 2000/yr", {"years": (2026, 2027, 2028), "budget_per_year_wan": 2000}))

#: "before": the model of issue 11 (per-year size binaries, no strengthening); "previous": the defaults
#: before the one-column "open" per site and year and the merged coverage rows; "no-dp": the defaults
#: without the dynamic-programming bound of the shortfall stage (``bound_fixing``); "no-counts": the
#: defaults before the per-街道 site counts (``street_counts`` off, ``year_budget_cuts`` on); "no-lb": the
#: defaults without local branching (``local_branching`` off: each stage in one solve); "after": the defaults
MODELS = {"before": ("per_year", dict.fromkeys(("disaggregate", "served_rows", "site_counts", "complete_start",
                                               "budget_cuts", "floor_cuts", "cap_coefficients", "site_vars",
                                               "merge_reach"), False)),
          "previous": ("cumulative", {"site_vars": False, "merge_reach": False}),
          "no-dp": ("cumulative", {"bound_fixing": False}),
          "no-counts": ("cumulative", {"street_counts": False, "year_budget_cuts": True}),
          "no-lb": ("cumulative", {"local_branching": False}),
          "after": ("cumulative", {})}


def bench_plan(*, time_limit_s: float = 60.0, solvers=("highs",), models=("before", "after"), variants=None,
               ablate: bool = False):
    """Every plan variant on the bundled area, per model and solver, in one run (same machine load).

    ``ablate`` adds, for the "after" model, one run per strengthening switched off."""
    import tuoyu_geo as tg
    from tuoyu_geo import settings

    area = tg.datasets.shanghai_xuhui()
    pol = tg.load_policy("wuxi-2025")
    t0 = time.perf_counter()
    acc = tg.access.compute_access(area, pol)
    t_acc = time.perf_counter() - t0
    runs = [(m, solver, {}) for m in models for solver in solvers]
    if ablate:
        runs += [("after", "highs", {k: False}) for k in settings.PLAN_MILP]
    out = []
    saved = settings.PLAN_FORMULATION, dict(settings.PLAN_MILP)
    try:
        for label, kw in PLAN_VARIANTS:
            if variants and label.split()[0] not in variants and label not in variants:
                continue
            for model, solver, off in runs:
                form, switches = MODELS[model]
                settings.PLAN_FORMULATION = form
                settings.PLAN_MILP = {**saved[1], **switches, **off}
                name = model + (" −" + ",".join(off) if off else "")
                t0 = time.perf_counter()
                plan = tg.plan.plan_sites(area, acc, pol, time_limit_s=time_limit_s, solver=solver, **kw)
                tot = time.perf_counter() - t0
                out.append({"variant": label, "model": name, "solver": solver, "plan": plan, "total_s": tot})
                _print_plan_row(out[-1])
    finally:
        settings.PLAN_FORMULATION, settings.PLAN_MILP = saved[0], saved[1]
    return t_acc, out


def _stage(s: dict) -> str:
    return f"{s['stage'][:5]}:{s['seconds']:.1f}s/" + ("ok" if s["status"] == "optimal" else f"{s['gap']:.1e}")


def _print_plan_row(r) -> None:
    p = r["plan"]
    ov = p.objective_values
    stages = " ".join(_stage(s) for s in p.stages)
    print(f"{r['variant']:24} {r['model']:18} {r['solver']:5} {p.model_size['n_vars']:>6}x{p.model_size['n_rows']:<6} "
          f"{ov['sites']:4.0f} {ov['places']:6.0f} {ov['cost']:8.1f} {ov['coverage']:9.1f} {ov['shortfall']:7.1f} "
          f"{str(p.status):10} {p.gap:8.1e} {p.build_seconds:5.2f} {p.solve_seconds:6.1f} {r['total_s']:6.1f}  {stages}",
          flush=True)


def _mclp(a) -> None:
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


def _option_value(text: str):
    """A HiGHS option value from the command line: true/false, an int, a float, else the text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--radius", type=float, default=1000.0)
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--no-plan", action="store_true")
    ap.add_argument("--no-mclp", action="store_true")
    ap.add_argument("--time-limit", type=float, default=60.0, help="per plan (s)")
    ap.add_argument("--solvers", default="highs,cbc", help="for the plans")
    ap.add_argument("--models", default="before,after")
    ap.add_argument("--variants", default="", help="comma-separated first words: default,budget,capacity-aware,phased")
    ap.add_argument("--ablate", action="store_true", help="also each strengthening switched off")
    ap.add_argument("--highs-options", default=None,
                    help="HiGHS options for every plan stage instead of settings.PLAN_HIGHS_OPTIONS, e.g. "
                         "'mip_heuristic_run_rens=true' ('' for none)")
    a = ap.parse_args(argv)
    if a.highs_options is not None:
        from tuoyu_geo import settings

        settings.PLAN_HIGHS_OPTIONS = {k: _option_value(v) for k, v in
                                       (kv.split("=", 1) for kv in a.highs_options.split(",") if kv)}
    if not a.no_mclp:
        _mclp(a)
    if not a.no_plan:
        print(f"\nbundled 徐汇区, wuxi-2025, time limit {a.time_limit:g} s per plan")
        print(f"{'variant':24} {'model':18} {'solver':5} {'vars x rows':13} {'sites':>4} {'places':>6} {'cost':>8} "
              f"{'coverage':>9} {'short':>7} {'status':10} {'gap':>8} {'build':>5} {'solve':>6} {'total':>6}  per stage")
        t_acc, _ = bench_plan(time_limit_s=a.time_limit, solvers=tuple(a.solvers.split(",")),
                              models=tuple(a.models.split(",")), variants=a.variants.split(",") if a.variants else None,
                              ablate=a.ablate)
        print(f"(compute_access {t_acc:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
