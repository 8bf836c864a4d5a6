"""`tuoyu-geo` command line: thin adapters over :mod:`tuoyu_geo.pipeline` and :mod:`tuoyu_geo.report`.

Exit codes
----------
0  success
2  bad input data (DataError: file, ids and fix are printed)
3  infeasible plan (InfeasiblePlanError: 街道 and rule are printed)
4  solver failure (SolverError)
5  output cannot be written (OutputError): also an output that is an input, a link, a FIFO or a
   device, and an output folder another run is writing to
1  internal error (a bug: please report it with the log file)

Bad option values (``--time-limit 0``, ``--minutes nan`` …) are usage errors: exit 2 from argparse.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import settings
from ._errors import DataError, TuoyuError
from ._version import __version__
from .writer import terminal_text

log = logging.getLogger("tuoyu_geo.cli")

EXIT_OK, EXIT_INTERNAL, EXIT_DATA, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5
EPILOG = ("exit codes: 0 ok · 2 bad input data · 3 infeasible plan · 4 solver failure · "
          "5 output not writable · 1 internal error")


def _out(msg: str = "") -> None:
    """Write a line of user-facing output (the CLI is the one place that prints)."""
    sys.stdout.write(terminal_text(msg) + "\n")
    sys.stdout.flush()


class Progress:
    """Step progress on stderr: ``[i] label … (seconds)``."""

    def __init__(self, *, enabled: bool = True):
        self.i, self.enabled, self.t0 = 0, enabled, time.perf_counter()

    def __call__(self, label: str) -> None:
        self.i += 1
        if self.enabled:
            sys.stderr.write(terminal_text(f"[{self.i}] {label} … ({time.perf_counter() - self.t0:.1f} s)") + "\n")
            sys.stderr.flush()


def _table(df: Any, *, floatfmt: str = "{:.2f}") -> str:
    import pandas as pd

    d = df.copy()
    for c in d.columns:
        if pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
    return d.to_string(index=False)


def _area(path: str | None, *, load_graph: bool = True):
    from . import datasets
    from .loading import load_area
    from .writer import add_inputs

    area = datasets.shanghai_xuhui(load_graph=load_graph) if path is None else load_area(path, load_graph=load_graph)
    add_inputs([area.folder, *area.files.values()])  # never written to (see main)
    return area


def _plan_options(args: argparse.Namespace):
    from .plan import PlanOptions

    years = None
    if getattr(args, "years", None):
        try:
            years = tuple(int(y) for y in str(args.years).replace("，", ",").split(",") if y.strip())
        except ValueError:
            raise DataError(f"--years must be comma-separated years, got {args.years!r}", file="--years",
                            fix="e.g. --years 2026,2027") from None
    kw = dict(budget_wan=args.budget, max_new_sites=args.max_sites, minutes=getattr(args, "minutes", 15.0),
              capacity_aware=getattr(args, "capacity_aware", False), years=years,
              street_puhui_share=not getattr(args, "no_street_puhui_share", False),
              equity=getattr(args, "equity", False), strict=getattr(args, "strict", False),
              demand_factor=getattr(args, "enrolment_rate", None))
    if getattr(args, "solver", None):
        kw["solver"] = args.solver
    if getattr(args, "time_limit", None) is not None:
        kw["time_limit_s"] = args.time_limit
    return PlanOptions(**kw)


def _assess(args: argparse.Namespace, *, plan: Any = None, isochrones: bool = True, area: Any = None):
    from .pipeline import assess

    prog = Progress(enabled=not args.no_progress)
    prog("读取研究区 loading the study area")
    area = area if area is not None else _area(getattr(args, "dir", None))
    return assess(area, args.policy, plan=plan, with_isochrones=isochrones, progress=prog)


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
        _out(f"  class_types={list(p.class_types)}  carer_ratio={dict(p.carer_ratio)}  floor_area="
             f"{p.floor_area_m2_per_place:g} m²/place  enrolment_rate="
             f"{p.enrolment_rate if p.enrolment_rate is not None else 'implied'}  infant_survival={p.infant_survival}  "
             f"street_puhui_share={p.street_puhui_share:.0%}  demonstration_min_places={p.demonstration_min_places}")
        if args.sources:
            for k, v in p.sources.items():
                _out(f"    {k}: {v}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        area = _area(args.dir)
    except DataError as exc:  # incl. PolicyError / NetworkError: list every problem on stdout
        _out(f"INVALID: {args.dir} ({type(exc).__name__})")
        _out(str(exc))
        return exc.exit_code
    _out(f"OK: {area!r}")
    _out(f"  input CRS {area.input_crs} → WGS-84; metric CRS {area.metric_crs}; policy {area.policy.name}")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from .policy import load_policy

    area = _area(args.dir)
    if args.policy:
        area = area.with_policy(load_policy(args.policy))
    s = area.summary()
    _out(f"{area.name} — policy {area.policy.name}; metric CRS {area.metric_crs}")
    _out(_table(s.rename(columns={"name": "街道"}), floatfmt="{:.0f}"))
    _out(f"total: population {s['population'].sum():,.0f}, infants {s['infants'].sum():,.0f}, "
         f"institutions {s['institutions'].sum()}, places {s['places'].sum()}, "
         f"candidates {s['candidates'].sum()}")
    return EXIT_OK


def cmd_fetch_network(args: argparse.Namespace) -> int:
    from .network import graph_from_place, save_graph

    G = graph_from_place(args.place)
    out = save_graph(G, args.out)
    _out(f"walk network of {args.place}: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges "
         f"(CRS {G.graph.get('crs')}) → {out}")
    return EXIT_OK


def cmd_access(args: argparse.Namespace) -> int:
    from .report.community import write_access

    minutes = float(args.minutes)
    if not (minutes > 0 and minutes < float("inf")):
        raise DataError(f"--minutes must be a positive number, got {args.minutes!r}", file="--minutes",
                        fix="e.g. --minutes 15")
    from .pipeline import assess

    prog = Progress(enabled=not args.no_progress)
    area = _area(args.dir)
    a = assess(area, args.policy, minutes=(*settings.MINUTES, minutes), with_isochrones=False, progress=prog)
    paths = write_access(a, args.out, minutes=minutes)
    from .report.console import access_table

    for line in access_table(a, minutes):
        _out(line)
    for p in paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Scorecards: ``tuoyu-geo analyze DIR --policy NAME --out DIR``."""
    from .report.console import scorecard_lines
    from .report.scorecard import write_scorecard

    a = _assess(args, isochrones=False)
    paths = write_scorecard(args.out, a)
    for line in scorecard_lines(a):
        _out(line)
    for p in paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """Site plan: solve, write ``plan.json`` (re-usable by map/export) and the site CSV, print it."""
    from .plan import save_plan
    from .report.console import plan_lines
    from .report.export import export_plan
    from .writer import transaction

    a = _assess(args, plan=_plan_options(args), isochrones=False)
    out = Path(args.out)
    with transaction():  # the site CSV, manifest and plan.json together or not at all
        paths = export_plan(a, out, formats=("csv",))
        paths["plan"] = save_plan(a.plan, out / "plan.json", area=a.area)
    for line in plan_lines(a):
        _out(line)
    for p in paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


def _plan_arg(args: argparse.Namespace, area: Any):
    """--plan FILE → the saved plan; --no-plan → None; else solve with the command's options."""
    from .plan import load_plan

    if getattr(args, "plan", None):
        clash = [flag for flag, on in (("--no-plan", getattr(args, "no_plan", False)),
                                       ("--budget", args.budget is not None),
                                       ("--max-sites", args.max_sites is not None),
                                       ("--strict", getattr(args, "strict", False))) if on]
        if clash:
            raise DataError(f"--plan {args.plan} is a plan already made; {', '.join(clash)} would be ignored",
                            file="--plan", fix=f"drop {', '.join(clash)}, or drop --plan to plan again")
        return load_plan(args.plan, area)
    if getattr(args, "no_plan", False):
        return None
    return _plan_options(args)


def cmd_map(args: argparse.Namespace) -> int:
    """HTML coverage map: ``tuoyu-geo map DIR --out map.html [--plan plan.json | --no-plan]``."""
    from .report.maps import coverage_map, save_map

    area = _area(args.dir)
    a = _assess(args, plan=_plan_arg(args, area), area=area)
    path = save_map(coverage_map(a, tiles=args.tiles, offline=True if args.offline else None), args.out)
    _out(f"wrote {path}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Exports for land-use review: ``tuoyu-geo export DIR --out DIR [--plan plan.json] [--map map.html]
    [--gpkg-crs gk3] [--shapefile]``."""
    from .report.export import DEFAULT_FORMATS, export_plan
    from .report.maps import coverage_map, save_map
    from .writer import transaction

    area = _area(args.dir)
    a = _assess(args, plan=_plan_arg(args, area), area=area)
    formats = (*DEFAULT_FORMATS, "shp") if args.shapefile else DEFAULT_FORMATS
    with transaction():  # the exports and the map together or not at all
        paths = export_plan(a, args.out, formats=formats, timings=dict(a.timings), gpkg_crs=args.gpkg_crs,
                            gk_zone=args.gk_zone)
        if args.map:
            paths["map"] = save_map(coverage_map(a, tiles="none", offline=True), args.map, offline=True)
    for p in paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the bundled 上海市徐汇区 area: assess → plan → map → figure → exports."""
    from .report.console import summary_lines
    from .report.export import export_plan
    from .report.maps import coverage_map, plot_scorecard, save_map
    from .writer import transaction

    t0 = time.perf_counter()
    args.dir = None
    args.policy = args.policy or "wuxi-2025"
    a = _assess(args, plan=_plan_options(args))
    tiles = "none" if args.offline else "osm"
    with transaction():  # map, figure and exports together or not at all
        written = [save_map(coverage_map(a, tiles=tiles, offline=args.offline), args.map, offline=args.offline),
                   plot_scorecard(a.streets, Path(args.out) / "street_place_gap.png")]
        written.extend(export_plan(a, args.out, timings=dict(a.timings)).values())
    for line in summary_lines(a):
        _out(line)
    _out(f"用时 wall time {time.perf_counter() - t0:.1f} s")
    for p in written:
        _out(f"已写出 wrote {p}")
    return EXIT_OK


def cmd_make_province(args: argparse.Namespace) -> int:
    """A SYNTHETIC province (合成省) of copies of the bundled area: ``tuoyu-geo make-province OUT -n N``."""
    from .batch import make_province

    path = make_province(args.out, districts=args.districts, seed=args.seed, base=args.base,
                         streets_per_district=args.streets_per_district, community_share=args.community_share,
                         policy=args.policy, budget_wan=args.budget_wan)
    _out(f"合成省（synthetic）: {args.districts} districts → {path}")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    """Every district of a province on Dask: ``tuoyu-geo batch DIR --out OUT [--scheduler ADDR]``."""
    from .batch import run_batch

    if not getattr(args, "verbose", False):  # Dask logs every worker start/stop at INFO
        import distributed  # noqa: F401 - its import sets its loggers' levels: override them after it

        for name in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.WARNING)
    steps = None
    if args.steps:
        try:
            steps = [float(x) for x in str(args.steps).replace("，", ",").split(",") if x.strip()]
        except ValueError:
            raise DataError(f"--steps must be comma-separated numbers (万元), got {args.steps!r}", file="--steps",
                            fix="e.g. --steps 0,200,500,1000") from None
    r = run_batch(args.dir, out_dir=args.out, scheduler=args.scheduler, n_workers=args.workers,
                  processes=not args.threads, budget_wan=args.budget_wan, budget_steps_wan=steps, policy=args.policy,
                  time_limit_s=args.time_limit, progress=not args.no_progress)
    _out(repr(r))
    for name, err in r.failed.items():
        _out(f"  失败/跳过 {name}: {err}")
    if len(r.comparison):
        tot = r.comparison[r.comparison["district_key"] == "合计"]
        for _, t in tot.iterrows():
            _out(f"  {t['split']}: 预算 {t['budget_wan']:,.0f} 万元, 达标街道 {t['streets_met_after']:.0f}, "
                 f"新增覆盖婴幼儿 {t['infants_newly_covered']:,.0f}")
    for p in r.paths.values():
        _out(f"wrote {p}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ parser

def _number(what: str, *, low: float = 0.0, allow_low: bool = False):
    """argparse type: a finite number above ``low`` (or at least ``low``); else a usage error (exit 2)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number ({what}), got {text!r}") from None
        if not math.isfinite(v) or v < low or (v == low and not allow_low):
            rel = "≥" if allow_low else ">"
            raise argparse.ArgumentTypeError(f"must be a finite number {rel} {low:g} ({what}), got {text!r}")
        return v

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_MINUTES = _number("minutes of walking")


def _path(text: str) -> str:
    """argparse type of --out/--map: not empty (an empty shell variable would write into the
    current folder); else a usage error (exit 2)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file or folder, got an empty string")
    return text


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log details (INFO)")
    p.add_argument("--no-progress", action="store_true", help="no step progress on stderr")
    return p


def _plan_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=_number("万元", allow_low=True), help="plan budget in 万元")
    p.add_argument("--max-sites", type=int, help="at most this many new sites")
    p.add_argument("--strict", action="store_true",
                   help="exit 3 when a rule cannot be met anywhere (default: best effort, unmet rules listed)")


def _tiles(value: str) -> str:
    from .report.maps import TILES, is_tile_url

    if value in (*TILES, "none") or is_tile_url(value):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: use one of {', '.join(TILES)}, none, "
                                     "or a URL template with {z}/{x}/{y}")


def _add_area_commands(add) -> None:
    p = add("policies", cmd_policies, "list the shipped policy profiles with their numbers")
    p.add_argument("--sources", action="store_true", help="also print the source of every number")
    p = add("validate", cmd_validate, "load and validate a study-area folder")
    p.add_argument("dir")
    p = add("info", cmd_info, "per-街道 summary of a study area (default: bundled 徐汇区)")
    p.add_argument("dir", nargs="?")
    p.add_argument("--policy")
    p = add("fetch-network", cmd_fetch_network, "download a walk network with osmnx (needs internet)")
    p.add_argument("place")
    p.add_argument("--out", type=_path, required=True)
    p = add("access", cmd_access, "walking coverage and access per community")
    p.add_argument("dir")
    p.add_argument("--minutes", type=_MINUTES, default=15.0)
    p.add_argument("--policy")
    p.add_argument("--out", type=_path, required=True)
    p = add("analyze", cmd_analyze, "per-街道 and per-community scorecards against a policy")
    p.add_argument("dir", help="study-area folder (e.g. data/shanghai-xuhui)")
    p.add_argument("--policy", help="policy profile name or TOML file (default: the area's)")
    p.add_argument("--out", type=_path, required=True, help="output folder for the CSV/XLSX scorecards")


def _add_plan_commands(add) -> None:
    p = add("plan", cmd_plan, "optimal new sites (MILP); writes plan.json for map/export --plan")
    p.add_argument("dir")
    p.add_argument("--policy")
    _plan_flags(p)
    p.add_argument("--minutes", type=_MINUTES, default=15.0)
    p.add_argument("--capacity-aware", action="store_true")
    p.add_argument("--enrolment-rate", type=_number("share of infants"),
                   help="入托率: share of infants needing a place (capacity-aware; default the profile's, else implied)")
    p.add_argument("--no-street-puhui-share", action="store_true",
                   help="hold the 普惠 share area-wide only (default: also in every 街道, soft)")
    p.add_argument("--equity", action="store_true",
                   help="first raise the lowest 街道 15-minute 普惠 coverage, then total coverage")
    p.add_argument("--years", help="phasing years, e.g. 2026,2027")
    p.add_argument("--solver", default=settings.DEFAULT_SOLVER, choices=["highs", "cbc"])
    p.add_argument("--time-limit", type=_number("seconds"), default=settings.TIME_LIMIT_S,
                   help="seconds (all stages); must be above 0")
    p.add_argument("--out", type=_path, required=True)
    for name, fn, help_, out_help in (
            ("map", cmd_map, "HTML coverage map of a study area", "HTML file"),
            ("export", cmd_export, "plan + GeoPackage/XLSX/CSV/GeoJSON exports for land-use review", "output folder")):
        p = add(name, fn, help_)
        p.add_argument("dir")
        p.add_argument("--policy")
        p.add_argument("--out", type=_path, required=True, help=out_help)
        p.add_argument("--plan", help="plan.json written by `tuoyu-geo plan` (no solving)")
        _plan_flags(p)
    p.add_argument("--map", type=_path, help="also write an offline HTML map to this file")
    p.add_argument("--gpkg-crs", choices=["wgs84", "cgcs2000", "gk3"], default="wgs84",
                   help="CRS of the GeoPackage/Shapefile: WGS-84 (default), CGCS2000 lon/lat (EPSG:4490) or "
                        "the area's CGCS2000 3-degree Gauss-Krüger zone (e.g. EPSG:4528)")
    p.add_argument("--gk-zone", type=int, choices=range(25, 46), metavar="ZONE",
                   help="Gauss-Krüger 3-degree zone 25–45 (default: from the area's centroid)")
    p.add_argument("--shapefile", action="store_true",
                   help="also write tuoyu_plan.shp.zip (Shapefiles with 10-byte field names, UTF-8)")
    pm = add.parser("map")
    pm.add_argument("--offline", action="store_true",
                    help="self-contained HTML (Leaflet inlined, no tiles): opens without internet")
    pm.add_argument("--tiles", type=_tiles, default=None, metavar="{osm,amap,tencent,none,URL}",
                    help="background tiles (default none = offline; amap/tencent are GCJ-02 and the data are shifted; "
                         "a URL template with {z}/{x}/{y}, e.g. an intranet tile server, keeps the map offline)")
    pm.add_argument("--no-plan", action="store_true", help="coverage only, no recommended sites")
    p = add("demo", cmd_demo, "run the whole job on the bundled 上海市徐汇区 area (policy wuxi-2025)")
    p.add_argument("--out", type=_path, default="outputs", help="export folder (default ./outputs)")
    p.add_argument("--map", type=_path, default="maps/shanghai-xuhui_coverage.html", help="HTML map path")
    p.add_argument("--policy", help="policy profile (default wuxi-2025)")
    _plan_flags(p)
    p.add_argument("--online", dest="offline", action="store_false",
                   help="map with OpenStreetMap tiles and CDN scripts instead of the self-contained offline map")


def _add_batch_commands(add) -> None:
    p = add("make-province", cmd_make_province, "write a SYNTHETIC province (copies of the bundled area) for tests")
    p.add_argument("out", type=_path, help="province folder to write")
    p.add_argument("-n", "--districts", type=int, required=True, help="number of districts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", help="study-area folder to copy (default the bundled 上海市徐汇区)")
    p.add_argument("--streets-per-district", type=int, help="keep this many 街道 per district (default all)")
    p.add_argument("--community-share", type=_number("share"), default=1.0, help="share of communities kept")
    p.add_argument("--policy", help="policy profile of the province")
    p.add_argument("--budget-wan", type=_number("万元", allow_low=True), help="province budget (万元)")
    p = add("batch", cmd_batch, "assess every district of a province on Dask, split a budget between them")
    p.add_argument("dir", help="province folder: one study-area folder per district (+ province.toml)")
    p.add_argument("--out", type=_path, required=True, help="output folder")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, help="local workers (default: the number of cores)")
    p.add_argument("--threads", action="store_true", help="local workers as threads, not processes")
    p.add_argument("--budget-wan", type=_number("万元", allow_low=True), help="province budget (万元)")
    p.add_argument("--steps", help="frontier budget steps in 万元, e.g. 0,200,500")
    p.add_argument("--policy", help="policy profile for every district")
    p.add_argument("--time-limit", type=_number("seconds"), default=settings.TIME_LIMIT_S,
                   help="seconds per district plan")


class _Adder:
    """Adds a subcommand with the common flags; remembers the parsers by name."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser):
        self.sub, self.common, self.parsers = sub, common, {}

    def __call__(self, name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p = self.sub.add_parser(name, help=help, description=help, epilog=EPILOG, parents=[self.common])
        p.set_defaults(func=fn)
        self.parsers[name] = p
        return p

    def parser(self, name: str) -> argparse.ArgumentParser:
        return self.parsers[name]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tuoyu-geo", description="0–3 托育 planning: coverage, scorecards, site plans",
                                 epilog=EPILOG)
    ap.add_argument("-v", "--verbose", action="store_true", help="log details (INFO)")
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    add = _Adder(ap.add_subparsers(dest="command", metavar="COMMAND"), _common())
    _add_area_commands(add)
    _add_plan_commands(add)
    _add_batch_commands(add)
    return ap


class _SafeFormatter(logging.Formatter):
    """Log lines without terminal escape sequences or control characters (names come from data)."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_text(super().format(record))


def _internal_error(exc: BaseException) -> int:
    """Write the traceback to ``tuoyu-geo-error.log`` in a new private folder (``mkdtemp``: mode
    0700, never an existing folder or link; the file itself created with O_EXCL | O_NOFOLLOW, mode
    0600) and print one line naming it."""
    import tempfile
    import traceback

    where = "no log file could be written"
    try:
        name = Path(tempfile.mkdtemp(prefix="tuoyu-geo-")) / "tuoyu-geo-error.log"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"tuoyu-geo {__version__}, argv {sys.argv!r}\n{traceback.format_exc()}")
        where = f"details were written to {name}"
    except OSError:
        pass
    sys.stderr.write(terminal_text(f"internal error ({type(exc).__name__}: {exc}). This is a bug in tuoyu-geo; "
                                   f"please report it; {where}") + "\n")
    return EXIT_INTERNAL


def _inputs(args: argparse.Namespace) -> list[Path]:
    """Inputs named on the command line (the area folder, --plan, a --policy file): never written."""
    out = []
    d = getattr(args, "dir", None)
    if d:
        out.append(Path(d).parent if Path(d).suffix.lower() == ".toml" and Path(d).is_file() else Path(d))
    for f in (getattr(args, "plan", None), getattr(args, "policy", None)):
        if f and Path(f).exists():
            out.append(Path(f))
    return out


def _out_folders(args: argparse.Namespace) -> list[Path]:
    """Folders the command writes to (each held by a lock while it runs); file targets checked first."""
    from .writer import check_target

    files = [Path(f) for f in (getattr(args, "map", None),) if f]
    folders = []
    if args.command in ("map", "fetch-network"):
        files.append(Path(args.out))
    elif getattr(args, "out", None):
        folders.append(Path(args.out))
    for f in files:
        check_target(f)
        folders.append(f.parent)
    return list(dict.fromkeys(folders))


def _run(args: argparse.Namespace) -> int:
    """The command with its inputs protected and its output folders locked."""
    from .writer import output_lock, protect_inputs

    with protect_inputs(_inputs(args)), contextlib.ExitStack() as locks:
        for folder in _out_folders(args):
            locks.enter_context(output_lock(folder))
        return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        handlers=[handler])
    logging.captureWarnings(True)  # library warnings go through logging (one line, no source dump)
    if args.version:
        _out(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        ap.print_help()
        return EXIT_OK
    try:
        return _run(args)
    except TuoyuError as exc:
        sys.stderr.write(terminal_text(f"error ({type(exc).__name__}): {exc}") + "\n")
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
        return _internal_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
