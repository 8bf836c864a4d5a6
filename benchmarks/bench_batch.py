"""Benchmark: a SYNTHETIC province on Dask (``tuoyu_geo.batch.run_batch``), 1 vs 2 workers vs a serial loop.

Run from the repository root (one command; the figures in benchmarks/README.md came from it)::

    PYTHONPATH=src /work/venv/bin/python benchmarks/bench_batch.py --districts 50 \\
        --json benchmarks/results/batch_50.json

Options (defaults in brackets): ``--districts`` [50], ``--seed`` [16], ``--streets`` 街道 per
district [2], ``--community-share`` [0.25], ``--steps`` frontier budget steps in 万元 [0,200,500],
``--budget`` province budget in 万元 [300 × districts], ``--workers`` worker counts to time
[1,2], ``--no-serial`` (skip the serial loop), ``--time-limit`` seconds per district plan [20],
``--policy`` [binhai-2023], ``--province`` (reuse a province folder made earlier).

The province (``make_province``, documented in ``tuoyu_geo.batch.synthetic``): N moved, perturbed
copies of a cluster of ``--streets`` 街道 of the bundled 上海市徐汇区 area, ``--community-share`` of
its communities kept, labelled synthetic.  Each run does the whole batch: per district load +
assess + the frontier (one plan per non-zero step), the knapsack allocation, the plan at the
allocated budget written to ``districts/<name>/`` (scorecards, XLSX/CSV/GeoJSON exports, offline
map), the two naive splits' plans (population, gap), and the provincial XLSX/map/chart.

Timed, each in its own fresh cluster (``LocalCluster(processes=True, threads_per_worker=1)``):
wall time of ``run_batch`` with K workers (cluster start-up excluded, reported apart), the
phases (``ProvinceResult.timings``), the peak RSS of every worker process (``ru_maxrss`` read
on the workers through ``client.run`` at the end) and the CPU seconds the workers spent (user +
system, summed; on a loaded machine the robust figure).  The serial loop is the same ``run_batch``
with ``client=SerialClient()`` (every task in this process, in order, no Dask) — the same work.
Reported: speed-up = serial / K workers, time per district, the allocation's totals against the
naive splits (街道 达标 and infants newly covered after the plans).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tuoyu_geo.batch import SerialClient, cluster_client, make_province, run_batch


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _totals(r) -> list[dict]:
    c = r.comparison
    t = c[c["district_key"] == "合计"]
    return [{"split": s["split"], "budget_wan": float(s["budget_wan"]), "streets_met": float(s["streets_met_after"]),
             "infants_newly_covered": round(float(s["infants_newly_covered"]), 1),
             "streets_met_gain": float(s["streets_met_gain"]), "infants_gain": round(float(s["infants_gain"]), 1)}
            for _, s in t.iterrows()]


def _one(label: str, prov: Path, args, client, out: Path) -> dict:
    t = time.perf_counter()
    serial = isinstance(client, SerialClient)
    cpu0 = {"main": _cpu_s()} if serial else client.run(_cpu_s)
    r = run_batch(prov, out_dir=out, client=client, budget_wan=args.budget, budget_steps_wan=args.steps,
                  policy=args.policy, time_limit_s=args.time_limit)
    wall = time.perf_counter() - t
    mem = {"main": _peak_mb()} if serial else client.run(_peak_mb)
    cpu1 = {"main": _cpu_s()} if serial else client.run(_cpu_s)
    cpu = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1)
    n = len(r.province.districts)
    row = {"run": label, "wall_s": round(wall, 1), "per_district_s": round(wall / n, 2), "timings": dict(r.timings),
           "failed": dict(r.failed), "peak_rss_mb": {str(k): round(v, 1) for k, v in mem.items()},
           "cpu_s_in_tasks": round(cpu, 1), "cpu_s_per_district": round(cpu / n, 2),
           "totals": _totals(r)}
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--districts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--streets", type=int, default=2)
    ap.add_argument("--community-share", type=float, default=0.25)
    ap.add_argument("--steps", default="0,200,500")
    ap.add_argument("--budget", type=float)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-serial", action="store_true")
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--policy", default="binhai-2023")
    ap.add_argument("--province", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    args.steps = [float(x) for x in args.steps.split(",")]
    args.budget = args.budget if args.budget is not None else 300.0 * args.districts
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
                          "load_avg_at_start": os.getloadavg()},
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "runs": []}
    try:
        prov = args.province
        if prov is None:
            t = time.perf_counter()
            prov = make_province(tmp / "prov", districts=args.districts, seed=args.seed,
                                 streets_per_district=args.streets, community_share=args.community_share,
                                 policy=args.policy, budget_wan=args.budget)
            report["make_province_s"] = round(time.perf_counter() - t, 1)
            print(f"province of {args.districts} districts made in {report['make_province_s']} s", flush=True)
        for k in [int(x) for x in args.workers.split(",") if x]:
            t = time.perf_counter()
            with cluster_client(n_workers=k, processes=True) as client:
                start = round(time.perf_counter() - t, 1)
                row = _one(f"{k} worker(s)", prov, args, client, tmp / f"out{k}")
            row["cluster_start_s"] = start
            report["runs"].append(row)
        if not args.no_serial:
            report["runs"].append(_one("serial loop", prov, args, SerialClient(), tmp / "out_serial"))
        walls = {r["run"]: r["wall_s"] for r in report["runs"]}
        if "serial loop" in walls:
            report["speedup_vs_serial"] = {k: round(walls["serial loop"] / v, 2) for k, v in walls.items()}
        if "1 worker(s)" in walls:
            report["speedup_vs_1_worker"] = {k: round(walls["1 worker(s)"] / v, 2) for k, v in walls.items()}
        report["load_avg_at_end"] = os.getloadavg()
        print(json.dumps({k: report.get(k) for k in ("speedup_vs_serial", "speedup_vs_1_worker", "load_avg_at_end")}))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
