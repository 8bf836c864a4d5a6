"""`tuoyu-geo` command line.

Exit codes
----------
0  success
2  bad input data (DataError: file, ids and fix are printed)
3  infeasible plan (InfeasiblePlanError: 街道 and rule are printed)
4  solver failure (SolverError)
5  output cannot be written (OutputError)
1  internal error (a bug: please report it with the log file)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._errors import TuoyuError

log = logging.getLogger("tuoyu_geo.cli")

EXIT_OK, EXIT_INTERNAL, EXIT_DATA, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5
EPILOG = ("exit codes: 0 ok · 2 bad input data · 3 infeasible plan · 4 solver failure · "
          "5 output not writable · 1 internal error")


def _out(msg: str = "") -> None:
    """Write a line of user-facing output (the CLI is the one place that prints)."""
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


class Progress:
    """Minimal step progress display for long CLI steps (stderr)."""

    def __init__(self, total: int, *, enabled: bool = True):
        self.total, self.i, self.enabled, self.t0 = total, 0, enabled, time.perf_counter()

    def step(self, label: str) -> None:
        self.i += 1
        if self.enabled:
            sys.stderr.write(f"[{self.i}/{self.total}] {label} … ({time.perf_counter() - self.t0:.1f} s)\n")
            sys.stderr.flush()


def _table(df: Any, cols: list[str] | None = None, *, floatfmt: str = "{:.2f}") -> str:
    import pandas as pd

    d = df if cols is None else df[cols]
    d = d.copy()
    for c in d.columns:
        if pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
    return d.to_string(index=False)


def _area(path: str | None, policy: str | None = None, *, load_graph: bool = True):
    from . import datasets
    from .io import load_area

    if path is None:
        return datasets.shanghai_xuhui(policy=policy, load_graph=load_graph)
    return load_area(path, policy=policy, load_graph=load_graph)


# ------------------------------------------------------------------------------------ commands

def cmd_policies(args: argparse.Namespace) -> int:
    from .policy import available_policies, load_policy

    for name in available_policies():
        p = load_policy(name)
        _out(f"{name}: {p.title}")
        _out(f"  places_per_1000={p.places_per_1000}  puhui_share={p.puhui_share:.0%}  "
             f"one_puhui_per_street={p.one_puhui_per_street}  new/existing residential="
             f"{p.new_residential_per_1000}/{p.existing_residential_per_1000} per 1000  "
             f"circle={dict(p.circle_m)} m  infant_share={p.infant_share}  target_year={p.target_year}")
        if args.sources:
            for k, v in p.sources.items():
                _out(f"    {k}: {v}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from ._errors import DataError

    try:
        area = _area(args.dir, load_graph=True)
    except DataError as exc:  # incl. PolicyError / NetworkError: list every problem on stdout
        _out(f"INVALID: {args.dir} ({type(exc).__name__})")
        _out(str(exc))
        return exc.exit_code
    _out(f"OK: {area!r}")
    _out(f"  input CRS {area.input_crs} → WGS-84; metric CRS {area.metric_crs}; policy {area.policy.name}")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    area = _area(args.dir, args.policy)
    s = area.summary()
    _out(f"{area.name} — policy {area.policy.name}; metric CRS {area.metric_crs}")
    _out(_table(s.rename(columns={"name": "街道"}), floatfmt="{:.0f}"))
    _out(f"total: population {s['population'].sum():,.0f}, infants {s['infants'].sum():,.0f}, "
         f"institutions {s['institutions'].sum()}, places {s['places'].sum()}, "
         f"candidates {s['candidates'].sum()}")
    return EXIT_OK


def cmd_fetch_network(args: argparse.Namespace) -> int:  # filled by the network issue
    from .network import graph_from_place, save_graph

    G = graph_from_place(args.place)
    out = save_graph(G, args.out)
    _out(f"walk network of {args.place}: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges "
         f"(CRS {G.graph.get('crs')}) → {out}")
    return EXIT_OK


def cmd_access(args: argparse.Namespace) -> int:  # filled by the access issue
    import os
    import tempfile

    import geopandas as gpd
    import pandas as pd

    from ._errors import OutputError
    from .access import compute_access

    area = _area(args.dir, args.policy)
    minutes = float(args.minutes)
    mins = sorted({5.0, 10.0, 15.0, minutes})
    acc = compute_access(area, minutes=mins)
    tag = int(minutes) if minutes.is_integer() else minutes
    com = area.communities
    keep = [c for c in ("community_id", "name", "street_id", "population", "infants", "is_new") if c in com.columns]
    res = pd.DataFrame(com[keep]).join(acc.communities)
    gdf = gpd.GeoDataFrame(res, geometry=com.geometry.values, crs=com.crs)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, write in (("community_access.gpkg", lambda p: gdf.to_file(p, driver="GPKG", layer="community_access")),
                            ("community_access.csv", lambda p: pd.DataFrame(gdf.drop(columns="geometry")).to_csv(
                                p, index=False, encoding="utf-8-sig"))):
            fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix, dir=out)
            os.close(fd)
            os.remove(tmp)  # the GPKG driver wants to create the file itself
            try:
                write(tmp)
                os.replace(tmp, out / name)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc}", fix="choose a writable --out folder") from None
    st = area.streets
    inf = res["infants"]
    rows = []
    for sid, g in res.groupby("street_id"):
        w = inf.loc[g.index]
        tot = float(w.sum())
        any_share, pu_share = (float(w[g[col]].sum()) / tot if tot > 0 else float("nan")
                               for col in (f"within{tag}_any", f"within{tag}_puhui"))
        rows.append({"street_id": sid, "街道": st.loc[sid, "name"] if sid in st.index else sid,
                     "infants": tot, f"any≤{tag}min": any_share, f"普惠≤{tag}min": pu_share})
    tab = pd.DataFrame(rows).sort_values("street_id")
    total = float(inf.sum())
    _out(f"{area.name}: share of infants within {tag} min ({acc.threshold_m(minutes):.0f} m walk) of an institution")
    _out(_table(tab.assign(**{c: tab[c] * 100 for c in tab.columns if "min" in c}).rename(
        columns={c: f"{c} %" for c in tab.columns if "min" in c}), floatfmt="{:.1f}"))
    _out(f"total: infants {total:,.0f}; any {float(inf[res[f'within{tag}_any']].sum()) / total:.1%}, "
         f"普惠 {float(inf[res[f'within{tag}_puhui']].sum()) / total:.1%}")
    _out(f"wrote {out / 'community_access.gpkg'} and {out / 'community_access.csv'}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Scorecards: ``tuoyu-geo analyze DIR --policy NAME --out DIR``.

    Loads the area, computes walking access, writes street_scorecard.csv, community_scorecard.csv
    and scorecard.xlsx to ``--out`` and prints a compact per-街道 table.
    """
    from . import access as _access
    from . import indicators as ind
    from ._xlsx import display_width
    from .policy import load_policy

    prog = Progress(4, enabled=not getattr(args, "no_progress", False))
    prog.step("loading the study area")
    area = _area(args.dir, args.policy)
    policy = load_policy(args.policy) if args.policy else area.policy
    prog.step("walking access (5/10/15 min)")
    acc = _access.compute_access(area, policy)
    prog.step("scorecards")
    ssc = ind.street_scorecard(area, acc, policy)
    csc = ind.community_scorecard(area, acc, policy)
    tot = ind.street_total(ssc)
    prog.step("writing files")
    paths = ind.write_scorecard(args.out, ssc, csc, policy, area_name=area.name)

    def pct(v: Any) -> str:
        return "—" if v != v else f"{v:.0%}"  # NaN → —

    head = [("街道", "street"), ("托位/千人", "per 1000"), ("缺口", "gap"), ("普惠占比", "puhui"),
            ("一街一普惠", "1 puhui"), ("15分钟覆盖 任一/普惠", "15-min any/puhui"), ("状态", "status")]
    rows = []
    for _, r in list(ssc.iterrows()) + [(None, tot)]:
        ppk = r["places_per_1000"]
        rows.append([str(r["name"]),
                     ("—" if ppk != ppk else f"{ppk:.2f}") + f" / {r['target_per_1000']:g}",
                     f"{int(r['place_gap']):,}",
                     f"{pct(r['puhui_share'])} / {r['puhui_target']:.0%}",
                     "✓" if r["status_one_puhui"] == ind.MET else "✗",
                     f"{pct(r.get('cover15_any', float('nan')))} / {pct(r.get('cover15_puhui', float('nan')))}",
                     str(r["status"])])
    widths = [max(display_width(x) for x in (*head[j], *(r[j] for r in rows))) for j in range(len(head))]

    def line(cells: list[str]) -> str:
        out = []
        for j, c in enumerate(cells):
            pad = " " * (widths[j] - display_width(c))
            out.append(c + pad if j in (0, 4, 6) else pad + c)
        return "  ".join(out).rstrip()

    _out(f"{area.name} — policy {policy.name}: {policy.title}")
    _out(line([h[0] for h in head]))
    _out(line([h[1] for h in head]))
    _out("  ".join("─" * w for w in widths))
    for i, r in enumerate(rows):
        if i == len(rows) - 1:
            _out("  ".join("─" * w for w in widths))
        _out(line(r))
    n_ok = int((ssc["status"] == ind.MET).sum())
    _out(f"{n_ok} of {len(ssc)} 街道 达标; place gap (sum over 街道) {int(tot['place_gap']):,}; "
         f"residential standard: {int(tot['res_miss']):,} of {int(tot['res_meet'] + tot['res_miss']):,} "
         f"communities miss it ({tot['res_missing_places']:,.0f} places)")
    for p in paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """Site plan: ``tuoyu-geo plan DIR --policy NAME [--budget 万元] … --out DIR``.

    Solves :func:`tuoyu_geo.optimize.plan_sites`, writes ``recommended_sites.csv`` and
    ``street_before_after.csv`` (UTF-8 with BOM for Excel, each written atomically) and prints the plan.
    """
    import pandas as pd

    from . import access as _access
    from .export import atomic_write
    from .optimize import plan_sites
    from .policy import load_policy

    prog = Progress(4, enabled=not getattr(args, "no_progress", False))
    prog.step("loading the study area")
    area = _area(args.dir, args.policy)
    policy = load_policy(args.policy) if args.policy else area.policy
    years = None
    if args.years:
        try:
            years = [int(y) for y in str(args.years).replace("，", ",").split(",") if y.strip()]
        except ValueError:
            from ._errors import DataError

            raise DataError(f"--years must be comma-separated years, got {args.years!r}", file="--years",
                            fix="e.g. --years 2026,2027") from None
    minutes = tuple(sorted({5.0, 10.0, 15.0, float(args.minutes)}))
    prog.step(f"walking access ({', '.join(f'{m:g}' for m in minutes)} min)")
    acc = _access.compute_access(area, policy, minutes=minutes)
    prog.step(f"solving the site plan ({args.solver}, limit {args.time_limit:g} s)")
    plan = plan_sites(area, acc, policy, budget=args.budget, max_new_sites=args.max_sites, minutes=args.minutes,
                      capacity_aware=args.capacity_aware, years=years, solver=args.solver,
                      time_limit_s=args.time_limit)
    prog.step("writing files")
    out = Path(args.out)
    sites = plan.sites
    tab = pd.DataFrame(sites.drop(columns=sites.geometry.name))
    tab["lon"] = sites.geometry.x.round(6)
    tab["lat"] = sites.geometry.y.round(6)
    tab = tab.sort_values("order")
    mkey = f"{args.minutes:g}".replace(".0", "")
    cov = f"cover{mkey}_puhui"
    keep = [c for c in ("population", "infants", "places", "puhui_places", "places_per_1000", "target_per_1000",
                        "place_gap", "puhui_share", "has_puhui", cov, "status") if c in plan.streets_before.columns]
    b, a = plan.streets_before, plan.streets_after
    sba = pd.DataFrame({"street_id": b.index.astype(str), "name": b["name"].astype(str)}, index=b.index)
    for c in keep:
        if c in ("population", "infants", "target_per_1000"):
            sba[c] = b[c]
            continue
        sba[f"{c}_before"] = b[c]
        sba[f"{c}_after"] = a[c].reindex(b.index)
    g = sites.groupby("street_id")
    sba["new_sites"] = g.size().reindex(b.index).fillna(0).astype(int)
    sba["new_places"] = g["places"].sum().reindex(b.index).fillna(0).astype(int)
    sba["new_cost_wan"] = g["cost"].sum().reindex(b.index).fillna(0.0).round(2)
    paths = {}
    for name, df in (("recommended_sites.csv", tab), ("street_before_after.csv", sba)):
        with atomic_write(out / name) as tmp:
            df.to_csv(tmp, index=False, encoding="utf-8-sig")
        paths[name] = out / name
    ov = plan.objective_values
    _out(f"{area.name} — policy {policy.name}; {args.minutes:g}-minute walk ({plan.parameters['radius_m']:.0f} m); "
         f"solver {args.solver}")
    _out(f"plan: {len(sites)} new 普惠 sites, {ov['places']:.0f} places, cost {ov['cost']:,.1f} 万元"
         + (f" (budget {args.budget:,.1f})" if args.budget is not None else ""))
    _out(f"infants newly within {args.minutes:g} min of 普惠: {ov['infants_newly_covered']:,.0f} "
         f"(before {plan.parameters['infants_covered_before']:,.0f}); remaining shortfall {ov['shortfall']:,.0f} places")
    _out(f"status: {plan.status} (gap {plan.gap:.1e}; solver {plan.solve_seconds:.1f} s)")
    show = ["order", "site_id", "name", "street_name", "places", "classes", "cost", "year", "new_infants_covered",
            "reason"]
    if len(tab):
        _out(_table(tab[show].head(30), floatfmt="{:.1f}"))
        if len(tab) > 30:
            _out(f"… {len(tab) - 30} more in {paths['recommended_sites.csv']}")
    cols = ["name"] + [c for c in ("places_before", "places_after", "place_gap_before", "place_gap_after",
                                   "has_puhui_before", "has_puhui_after", f"{cov}_before", f"{cov}_after",
                                   "new_sites") if c in sba.columns]
    _out(_table(sba[cols], floatfmt="{:.2f}"))
    for v in paths.values():
        _out(f"wrote {v}")
    return EXIT_OK


def cmd_map(args: argparse.Namespace) -> int:
    """HTML coverage map of any study area: load → access → scorecard → plan → map.

    ``tuoyu-geo map DIR --out map.html [--offline] [--tiles osm|amap|tencent|none] [--no-plan]``.
    """
    return cmd_demo(argparse.Namespace(
        dir=args.dir, policy=args.policy, map=args.out, out=None, offline=args.offline, tiles=args.tiles,
        budget=args.budget, max_sites=args.max_sites, no_plan=args.no_plan, no_progress=args.no_progress))


def cmd_export(args: argparse.Namespace) -> int:
    """Plan + exports for land-use review on any study area: load → access → scorecard → plan →
    GeoPackage/XLSX/CSV/GeoJSON + manifest (+ PNG figure).

    ``tuoyu-geo export DIR --out DIR [--policy NAME] [--budget 万元] [--map map.html]``.
    """
    return cmd_demo(argparse.Namespace(
        dir=args.dir, policy=args.policy, map=args.map, out=args.out, offline=True, tiles="none",
        budget=args.budget, max_sites=args.max_sites, no_plan=False, no_progress=args.no_progress))


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: load → access → scorecard → plan → map → exports, with a progress display.

    Without ``dir`` it runs on the bundled 上海市徐汇区 area with policy ``wuxi-2025``; ``map``/``out``
    set to None skip the map/the exports (that is how ``map`` and ``export`` reuse it).
    """
    from . import access as _access
    from . import export as _export
    from . import indicators as _indicators
    from . import maps as _maps
    from . import optimize as _optimize
    from ._errors import InfeasiblePlanError
    from .policy import load_policy

    t0 = time.perf_counter()
    folder = getattr(args, "dir", None)
    map_path = getattr(args, "map", None)
    out_dir = getattr(args, "out", None)
    offline = bool(getattr(args, "offline", True))
    tiles = getattr(args, "tiles", None) or ("none" if offline else "osm")
    no_plan = bool(getattr(args, "no_plan", False))
    policy_name = getattr(args, "policy", None) or (None if folder else "wuxi-2025")
    steps = 3 + (not no_plan) + bool(map_path) + 2 * bool(out_dir)
    prog = Progress(steps, enabled=not getattr(args, "no_progress", False))
    timings: dict[str, float] = {}

    def lap(key: str, t: float) -> float:
        now = time.perf_counter()
        timings[key] = round(now - t, 3)
        return now

    t = time.perf_counter()
    prog.step("读取研究区 loading the study area")
    area = _area(folder, policy_name)
    policy = load_policy(policy_name) if policy_name else area.policy
    t = lap("load_s", t)
    prog.step("步行可达性 walking access (5/10/15 min)")
    acc = _access.compute_access(area, policy)
    t = lap("access_s", t)
    prog.step("街道指标 per-街道 scorecard")
    sc = _indicators.street_scorecard(area, acc, policy)
    t = lap("scorecard_s", t)
    plan = None
    if not no_plan:
        prog.step("选址优化 solving the site plan (MILP)")
        try:
            plan = _optimize.plan_sites(area, acc, policy, budget=getattr(args, "budget", None),
                                        max_new_sites=getattr(args, "max_sites", None))
        except InfeasiblePlanError:
            if out_dir:
                raise
            log.warning("the site plan is infeasible; the map is drawn without recommended sites")
            _out("注意 note: 选址方案不可行，地图不含推荐站点 (plan infeasible: map drawn without recommended sites; "
                 "run `tuoyu-geo plan` for the reasons)")
        t = lap("plan_s", t)
    written: list[Path] = []
    if map_path:
        prog.step("绘制地图 coverage map" + ("（离线自包含 offline, self-contained）" if offline else ""))
        m = _maps.coverage_map(area, acc, sc, plan, tiles=tiles, offline=offline)
        written.append(_maps.save_map(m, map_path, offline=offline))
        t = lap("map_s", t)
    if out_dir and plan is not None:
        prog.step("统计图 scorecard figure (PNG)")
        written.append(_maps.plot_scorecard(sc, Path(out_dir) / "street_place_gap.png"))
        t = lap("figure_s", t)
        prog.step("导出 exports: GeoPackage / XLSX / CSV / GeoJSON / manifest")
        paths = _export.export_plan(plan, out_dir, timings=dict(timings))
        written.extend(paths.values())
        t = lap("export_s", t)

    # ---- summary (中文 / English)
    comm = area.communities
    w = comm["infants"].astype(float)

    def share(a: Any) -> float:
        col = a.communities["within15_puhui"].reindex(comm.index).fillna(False).astype(bool)
        return float((w * col).sum() / w.sum()) if w.sum() > 0 else float("nan")

    pop = float(sc["population"].sum())
    places = float(sc["places"].sum())
    ok = int((sc["status"] == "达标").sum())
    _out("")
    _out(f"{area.name} · 政策口径 policy {policy.name}（{policy.title}）")
    _out(f"现状 now:   {ok}/{len(sc)} 个街道达标 streets meet all targets; 托位 places {places:,.0f} "
         f"(每千人口 per 1000 {places / pop * 1000:.2f}, 目标 target {policy.places_per_1000:g}); "
         f"15分钟普惠覆盖 infants within 15 min of 普惠 {share(acc):.0%}")
    if plan is not None:
        s = plan.sites
        after = plan.streets_after
        new_places = float(s["places"].sum()) if len(s) else 0.0
        cost = float(s["cost"].sum()) if len(s) else 0.0
        _out(f"方案 plan:  新建 {len(s)} 处普惠站点 new 普惠 sites, 新增托位 +{new_places:,.0f} places, "
             f"投资 cost {cost:,.1f} 万元; status {plan.status} (gap {plan.gap:.1e})")
        a_ok = int((after["status"] == "达标").sum()) if "status" in after.columns else 0
        a_places = float(after["places"].sum()) if "places" in after.columns else places + new_places
        cov_after = share(plan.access_after) if plan.access_after is not None else float("nan")
        _out(f"方案后 after: {a_ok}/{len(after)} 个街道达标; 每千人口托位 per 1000 {a_places / pop * 1000:.2f}; "
             f"15分钟普惠覆盖 {cov_after:.0%}")
    _out(f"用时 wall time {time.perf_counter() - t0:.1f} s")
    for p in written:
        _out(f"已写出 wrote {p}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tuoyu-geo", description="0–3 托育 planning: coverage, scorecards, site plans",
                                 epilog=EPILOG)
    ap.add_argument("-v", "--verbose", action="store_true", help="log details (INFO)")
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EPILOG)
        p.set_defaults(func=fn)
        return p

    p = add("policies", cmd_policies, "list the shipped policy profiles with their numbers")
    p.add_argument("--sources", action="store_true", help="also print the source of every number")
    p = add("validate", cmd_validate, "load and validate a study-area folder")
    p.add_argument("dir")
    p = add("info", cmd_info, "per-街道 summary of a study area (default: bundled 徐汇区)")
    p.add_argument("dir", nargs="?")
    p.add_argument("--policy")
    p = add("fetch-network", cmd_fetch_network, "download a walk network with osmnx (needs internet)")
    p.add_argument("place")
    p.add_argument("--out", required=True)
    p = add("access", cmd_access, "walking coverage and access per community")
    p.add_argument("dir")
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--policy")
    p.add_argument("--out", required=True)
    p = add("analyze", cmd_analyze, "per-街道 and per-community scorecards against a policy")
    p.add_argument("dir", help="study-area folder (e.g. data/shanghai-xuhui)")
    p.add_argument("--policy", help="policy profile name or TOML file (default: the area's)")
    p.add_argument("--out", required=True, help="output folder for the CSV/XLSX scorecards")
    p.add_argument("--no-progress", action="store_true", help="no step progress on stderr")
    p = add("plan", cmd_plan, "optimal new sites (MILP)")
    p.add_argument("dir")
    p.add_argument("--policy")
    p.add_argument("--budget", type=float, help="budget in 万元")
    p.add_argument("--max-sites", type=int)
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--capacity-aware", action="store_true")
    p.add_argument("--years", help="phasing years, e.g. 2026,2027")
    p.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds")
    p.add_argument("--out", required=True)
    p.add_argument("--no-progress", action="store_true")
    p = add("map", cmd_map, "HTML coverage map of a study area (load → access → scorecard → plan → map)")
    p.add_argument("dir")
    p.add_argument("--policy")
    p.add_argument("--out", required=True, help="HTML file")
    p.add_argument("--offline", action="store_true",
                   help="self-contained HTML (Leaflet inlined, no tiles): opens without internet")
    p.add_argument("--tiles", choices=["osm", "amap", "tencent", "none"], default=None,
                   help="background tiles (default osm; amap/tencent are GCJ-02 and the data are shifted to match)")
    p.add_argument("--budget", type=float, help="plan budget in 万元")
    p.add_argument("--max-sites", type=int)
    p.add_argument("--no-plan", action="store_true", help="coverage only, no recommended sites")
    p.add_argument("--no-progress", action="store_true")
    p = add("export", cmd_export, "plan + GeoPackage/XLSX/CSV/GeoJSON exports for land-use review")
    p.add_argument("dir")
    p.add_argument("--policy")
    p.add_argument("--budget", type=float, help="plan budget in 万元")
    p.add_argument("--max-sites", type=int)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--map", help="also write an offline HTML map to this file")
    p.add_argument("--no-progress", action="store_true")
    p = add("demo", cmd_demo, "run the whole job on the bundled 上海市徐汇区 area (policy wuxi-2025)")
    p.add_argument("--out", default="outputs", help="export folder (default ./outputs)")
    p.add_argument("--map", default="maps/shanghai-xuhui_coverage.html", help="HTML map path")
    p.add_argument("--policy", help="policy profile (default wuxi-2025)")
    p.add_argument("--budget", type=float, help="plan budget in 万元 (default: none)")
    p.add_argument("--online", dest="offline", action="store_false",
                   help="map with OpenStreetMap tiles and CDN scripts instead of the self-contained offline map")
    p.add_argument("--no-progress", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)  # library warnings go through logging (one line, no source dump)
    if args.version:
        from . import __version__

        _out(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        ap.print_help()
        return EXIT_OK
    try:
        return int(args.func(args) or 0)
    except TuoyuError as exc:
        sys.stderr.write(f"error ({type(exc).__name__}): {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `tuoyu-geo info | head`: the reader went away, not an error
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback for users
        import tempfile
        import traceback

        logf = Path(tempfile.gettempdir()) / "tuoyu-geo-error.log"
        try:
            logf.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            pass
        sys.stderr.write(f"internal error ({type(exc).__name__}: {exc}). This is a bug in tuoyu-geo; "
                         f"details were written to {logf}\n")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
