"""`tuoyu-geo` command line: thin adapters over :mod:`tuoyu_geo.pipeline` and :mod:`tuoyu_geo.report`.

Exit codes
----------
0  success
2  bad input data (DataError: file, ids and fix are printed)
3  infeasible plan (InfeasiblePlanError: 街道 and rule are printed)
4  solver failure (SolverError)
5  output cannot be written (OutputError): also an output that is an input, a link, a FIFO or a
   device, an output folder another run is writing to, a non-empty folder for ``init``, and no
   font that can draw Chinese (FontError)
1  internal error (a bug: please report it with the log file)

Bad option values (``--time-limit 0``, ``--minutes nan`` …) are usage errors: exit 2 from argparse.

Output options work before or after the command: ``-v`` (INFO logs on stderr), ``-q`` (nothing but
errors), ``--json`` (one JSON object on stdout — keys in the README, "Machine-readable output").
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
from ._errors import DataError, OutputError, TuoyuError
from ._version import __version__
from .writer import terminal_text

log = logging.getLogger("tuoyu_geo.cli")

EXIT_OK, EXIT_INTERNAL, EXIT_DATA, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5
#: the demo's map, inside its --out folder
DEMO_MAP = "shanghai-xuhui_coverage.html"
EPILOG = ("exit codes: 0 ok · 2 bad input data · 3 infeasible plan · 4 solver failure · "
          "5 output not writable · 1 internal error")


class _Report:
    """What one command reports: text on stdout, or with ``--json`` one JSON object at the end
    (``--quiet``: nothing on stdout but that object)."""

    def __init__(self, *, json: bool = False, quiet: bool = False):
        self.json, self.quiet = json, quiet
        self.data: dict[str, Any] = {}
        self.files: list[str] = []


_REPORT = _Report()


def _out(msg: str = "") -> None:
    """Write a line of user-facing output (the CLI is the one place that prints); none with
    ``--json`` or ``--quiet``."""
    if _REPORT.json or _REPORT.quiet:
        return
    _stdout(terminal_text(msg) + "\n")


def _stdout(text: str) -> None:
    """Write ``text`` to stdout; OutputError (exit 5) when stdout is closed or its disk is full."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except (OSError, AttributeError, ValueError) as exc:  # /dev/full, a closed stream (None)
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more to flush at exit
        why = "it is closed" if isinstance(exc, AttributeError) else getattr(exc, "strerror", None) or exc
        raise OutputError(f"cannot write to standard output ({why})",
                          path="<stdout>", fix="send the output where it can be written (a file on a disk with "
                                               "space, a terminal), or use -q") from None


def _wrote(path: Any, prefix: str = "wrote") -> None:
    """Name a written file (and list it under ``files`` in the JSON summary)."""
    _REPORT.files.append(str(path))
    _out(f"{prefix} {path}")


def _summary(**fields: Any) -> None:
    """Add fields to the ``--json`` summary of the command."""
    from .report.summary import jsonable

    _REPORT.data.update(jsonable(fields))


def _progress(args: argparse.Namespace) -> Progress:
    """Step progress on stderr unless ``--no-progress``, ``--quiet`` or ``--json``."""
    return Progress(enabled=not (args.no_progress or args.quiet or args.json))


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


def _area(path: str | None, *, load_graph: bool = True, detour_factor: float | None = None):
    import dataclasses

    from . import datasets
    from .loading import load_area
    from .writer import add_inputs

    area = datasets.shanghai_xuhui(load_graph=load_graph) if path is None else load_area(path, load_graph=load_graph)
    add_inputs([area.folder, *area.files.values()])  # never written to (see main)
    if detour_factor is not None:
        if area.graph is not None:
            log.warning("--detour-factor %g is ignored: %s has a walk network (network distances are used)",
                        detour_factor, area.name)
        else:
            area = dataclasses.replace(area, detour_factor=detour_factor)
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

    prog = _progress(args)
    prog("读取研究区 loading the study area")
    area = area if area is not None else _area(getattr(args, "dir", None),
                                               detour_factor=getattr(args, "detour_factor", None))
    return assess(area, args.policy, plan=plan, with_isochrones=isochrones, progress=prog)


def _assessment_summary(a: Any, **extra: Any) -> None:
    from .report.summary import assessment_summary

    _summary(**assessment_summary(a), **extra)


def _plan_note(a: Any) -> None:
    """One line saying how far from proven optimal a plan made by this command may be (commands that
    plan on the fly without printing the plan's table; nothing when the plan is proven optimal)."""
    if a.plan is not None and str(a.plan.status) != "optimal":
        _out(f"方案 plan: {a.plan.optimality}")


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object of the JSON summary: type, message, exit code, problems (DataError)."""
    fields: dict[str, Any] = {"type": type(exc).__name__, "message": terminal_text(str(exc))}
    if isinstance(exc, DataError):
        fields["problems"] = [{"file": p.file, "message": p.message, "ids": list(p.ids), "fix": p.fix}
                              for p in exc.problems]
    return fields


# ------------------------------------------------------------------------------------ commands

def cmd_policies(args: argparse.Namespace) -> int:
    from .policy import available_policies, load_policy

    listed = []
    for name in available_policies():
        p = load_policy(name)
        listed.append({"name": name, "title": p.title, "places_per_1000": p.places_per_1000,
                       "puhui_share": p.puhui_share, "target_year": p.target_year})
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
    _summary(policies=listed)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        area = _area(args.dir)
    except DataError as exc:  # incl. PolicyError / NetworkError: list every problem on stdout
        _out(f"INVALID: {args.dir} ({type(exc).__name__})")
        _out(str(exc))
        _summary(error=_error_fields(exc))
        return exc.exit_code
    from .report.summary import area_summary

    _summary(**area_summary(area))
    _out(f"OK: {area!r}")
    _out(f"  input CRS {area.input_crs} → WGS-84; metric CRS {area.metric_crs}; policy {area.policy.name}")
    if area.graph is None:
        from .report.labels import distance_model_label

        _out(f"  no walk network: walking distances = {distance_model_label('straight-line', area.detour_factor)}")
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """Template study area: ``tuoyu-geo init DIR`` (a new or empty folder)."""
    from .area.template import write_template

    paths = write_template(args.folder)
    for p in paths:
        _wrote(p)
    _out(f"next: fill in the files (replace the 示例 rows), then: tuoyu-geo validate {args.folder}")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from .policy import load_policy

    area = _area(args.dir)
    if args.policy:
        area = area.with_policy(load_policy(args.policy))
    s = area.summary()
    from .report.summary import area_summary

    _summary(**area_summary(area), totals={k: s[k].sum() for k in ("population", "infants", "institutions",
                                                                   "places", "puhui_places", "candidates")},
             by_street=s.to_dict(orient="records"))
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
    _REPORT.files.append(str(out))
    _summary(nodes=G.number_of_nodes(), edges=G.number_of_edges(), crs=str(G.graph.get("crs")))
    _out(f"walk network of {args.place}: {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges "
         f"(CRS {G.graph.get('crs')}) → {out}")
    return EXIT_OK


def cmd_convert_network(args: argparse.Namespace) -> int:
    from .network import WalkNet, read_network, save_network

    if Path(args.out).suffix.lower() not in (".gpkg", ".parquet"):
        raise DataError(f"cannot write a network as {Path(args.out).name!r}", file=str(args.out),
                        fix="name the output walk.gpkg (nodes + edges layers) or walk_edges.parquet")
    net = WalkNet.from_graph(read_network(args.network, input_crs=args.network_crs))
    out = save_network(net, args.out)
    _REPORT.files.append(str(out))
    _summary(nodes=net.n_nodes, edges=net.n_edges, crs=net.crs.to_string())
    _out(f"walk network {Path(args.network).name}: {net.n_nodes:,} nodes, {net.n_edges:,} streets "
         f"(CRS {net.crs.to_string()}) → {out}")
    return EXIT_OK


def cmd_network_from_pbf(args: argparse.Namespace) -> int:
    from .network import save_graph
    from .network.pbf import graph_for_area

    area = _area(args.dir, load_graph=False)
    G = graph_for_area(args.pbf, area.streets, buffer_m=args.buffer_m, progress=_progress(args))
    out = save_graph(G, args.out)
    _REPORT.files.append(str(out))
    _summary(nodes=G.number_of_nodes(), edges=G.number_of_edges(), crs=str(G.graph.get("crs")),
             buffer_m=args.buffer_m)
    _out(f"walk network of {area.name} (+{args.buffer_m:g} m) from {Path(args.pbf).name}: "
         f"{G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges → {out}")
    return EXIT_OK


def cmd_access(args: argparse.Namespace) -> int:
    from .report.community import write_access

    minutes = float(args.minutes)
    if not (minutes > 0 and minutes < float("inf")):
        raise DataError(f"--minutes must be a positive number, got {args.minutes!r}", file="--minutes",
                        fix="e.g. --minutes 15")
    from .pipeline import assess

    prog = _progress(args)
    area = _area(args.dir, detour_factor=args.detour_factor)
    a = assess(area, args.policy, minutes=(*settings.MINUTES, minutes), with_isochrones=False, progress=prog)
    paths = write_access(a, args.out, minutes=minutes)
    from .report.console import access_table

    for line in access_table(a, minutes):
        _out(line)
    _assessment_summary(a, minutes=minutes)
    for p in paths.values():
        _wrote(p)
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Scorecards: ``tuoyu-geo analyze DIR --policy NAME --out DIR``."""
    from .report.console import scorecard_lines
    from .report.scorecard import write_scorecard

    a = _assess(args, isochrones=False)
    paths = write_scorecard(args.out, a)
    for line in scorecard_lines(a):
        _out(line)
    _assessment_summary(a)
    for p in paths.values():
        _wrote(p)
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
    _assessment_summary(a)
    for p in paths.values():
        _wrote(p)
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

    area = _area(args.dir, detour_factor=args.detour_factor)
    a = _assess(args, plan=_plan_arg(args, area), area=area)
    path = save_map(coverage_map(a, tiles=args.tiles, offline=True if args.offline else None), args.out)
    _assessment_summary(a)
    _plan_note(a)
    _wrote(path)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Exports for land-use review: ``tuoyu-geo export DIR --out DIR [--plan plan.json] [--map map.html]
    [--gpkg-crs gk3] [--shapefile]``."""
    from .report.export import DEFAULT_FORMATS, export_plan
    from .report.maps import coverage_map, save_map
    from .writer import transaction

    area = _area(args.dir, detour_factor=args.detour_factor)
    a = _assess(args, plan=_plan_arg(args, area), area=area)
    formats = (*DEFAULT_FORMATS, "shp") if args.shapefile else DEFAULT_FORMATS
    with transaction():  # the exports and the map together or not at all
        paths = export_plan(a, args.out, formats=formats, timings=dict(a.timings), gpkg_crs=args.gpkg_crs,
                            gk_zone=args.gk_zone)
        if args.map:
            paths["map"] = save_map(coverage_map(a, tiles="none", offline=True), args.map, offline=True)
    _assessment_summary(a)
    _plan_note(a)
    for p in paths.values():
        _wrote(p)
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
    map_path = args.map or Path(args.out) / DEMO_MAP  # under --out unless --map says otherwise
    with transaction():  # map, figure and exports together or not at all
        written = [save_map(coverage_map(a, tiles=tiles, offline=args.offline), map_path, offline=args.offline),
                   plot_scorecard(a.streets, Path(args.out) / "street_place_gap.png")]
        written.extend(export_plan(a, args.out, timings=dict(a.timings)).values())
    for line in summary_lines(a):
        _out(line)
    _plan_note(a)
    _assessment_summary(a, wall_time_s=round(time.perf_counter() - t0, 1))
    _out(f"用时 wall time {time.perf_counter() - t0:.1f} s")
    for p in written:
        _wrote(p, "已写出 wrote")
    return EXIT_OK


#: the most budgets ``--budgets`` takes (each one is a separate site plan)
MAX_BUDGETS = 50


def _budget_list(text: str) -> tuple[float, ...]:
    """argparse type of --budgets: comma-separated 万元 ≥ 0 (``1000,3000,6000``); else exit 2."""
    parts = [t for t in text.replace("，", ",").split(",") if t.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("must list budgets in 万元, e.g. 1000,3000,6000")
    if len(parts) > MAX_BUDGETS:  # one MILP per budget: a pasted column of numbers would run for hours
        raise argparse.ArgumentTypeError(f"lists {len(parts)} budgets; compare at most {MAX_BUDGETS} at a time")
    return tuple(_BUDGET(t.strip()) + 0.0 for t in parts)  # + 0.0: -0 → 0


def _compare(args: argparse.Namespace, area: Any, *, network: Any = None):
    from .scenarios import compare_budgets

    args.budget = None
    opts = _plan_options(args)
    prog = _progress(args)
    return compare_budgets(area, args.policy, budgets_wan=args.budgets, options=opts, progress=prog,
                           network=network)


def cmd_compare(args: argparse.Namespace) -> int:
    """Budget scenarios: ``tuoyu-geo compare DIR --budgets 1000,3000,6000 --out DIR``."""
    from .report.comparison import comparison_table, write_comparison
    from .report.labels import label

    cmp = _compare(args, _area(args.dir, detour_factor=args.detour_factor))
    paths = write_comparison(cmp, args.out)
    table = comparison_table(cmp).set_index(label("budget_wan"))
    _out(f"{label('budget_wan')} → " + "  ".join(f"{b:g}" for b in table.index))
    for name, row in table.T.iterrows():
        _out(f"  {name}: " + "  ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row))
    _summary(budgets=cmp.table.reset_index().to_dict(orient="records"))
    for p in paths.values():
        _wrote(p)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """The 专项规划 report: ``tuoyu-geo report DIR --out DIR [plan options] [--budgets ...] [--no-pdf]``."""
    from .network import area_engine
    from .pipeline import assess
    from .report.document import write_report

    area = _area(args.dir, detour_factor=args.detour_factor)
    net = area_engine(area)  # one engine for the plan and the scenarios (straight line without a network)
    a = assess(area, args.policy, plan=_plan_arg(args, area), network=net, with_isochrones=False,
               progress=_progress(args))
    cmp = _compare(args, area, network=net) if args.budgets else None
    files = write_report(a, args.out, pdf=not args.no_pdf, comparison=cmp)
    _assessment_summary(a, pdf_problem=files.pdf_problem)
    _plan_note(a)
    _wrote(files.html)
    if files.pdf is not None:
        _wrote(files.pdf)
    elif files.pdf_problem:
        sys.stderr.write(terminal_text(f"report.pdf not made: {files.pdf_problem}") + "\n")
    return EXIT_OK


def cmd_make_province(args: argparse.Namespace) -> int:
    """A SYNTHETIC province (合成省) of copies of the bundled area: ``tuoyu-geo make-province OUT -n N``."""
    from .batch import make_province

    path = make_province(args.out, districts=args.districts, seed=args.seed, base=args.base,
                         streets_per_district=args.streets_per_district, community_share=args.community_share,
                         policy=args.policy, budget_wan=args.budget_wan)
    _summary(synthetic=True, districts=args.districts)
    _wrote(path, "合成省（synthetic）→")
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    """Every district of a province on Dask: ``tuoyu-geo batch DIR --out OUT [--scheduler ADDR]``."""
    from .batch import run_batch

    if not getattr(args, "verbose", False):  # Dask logs every worker start/stop at INFO
        import distributed  # noqa: F401 - its import sets its loggers' levels: override them after it

        for name in ("distributed", "dask"):
            logging.getLogger(name).setLevel(logging.WARNING)
    steps = list(args.steps) if args.steps else None
    r = run_batch(args.dir, out_dir=args.out, scheduler=args.scheduler, n_workers=args.workers,
                  processes=not args.threads, budget_wan=args.budget_wan, budget_steps_wan=steps, policy=args.policy,
                  time_limit_s=args.time_limit, progress=not (args.no_progress or args.quiet or args.json))
    _out(repr(r))
    _summary(districts_done=len(r.districts),
             failed={name: str(err) for name, err in r.failed.items()})
    for name, err in r.failed.items():
        _out(f"  失败/跳过 {name}: {err}")
    if len(r.comparison):
        tot = r.comparison[r.comparison["district_key"] == "合计"]
        for _, t in tot.iterrows():
            _out(f"  {t['split']}: 预算 {t['budget_wan']:,.0f} 万元, 达标街道 {t['streets_met_after']:.0f}, "
                 f"新增覆盖婴幼儿 {t['infants_newly_covered']:,.0f}")
    for p in r.paths.values():
        _wrote(p)
    return EXIT_OK


# ------------------------------------------------------------------------------------ parser

def _number(what: str, *, low: float = 0.0, allow_low: bool = False, high: float = math.inf):
    """argparse type: a finite number above ``low`` (or at least ``low``) and at most ``high``; else a
    usage error (exit 2)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number ({what}), got {text!r}") from None
        if not math.isfinite(v) or v < low or (v == low and not allow_low):
            rel = "≥" if allow_low else ">"
            raise argparse.ArgumentTypeError(f"must be a finite number {rel} {low:g} ({what}), got {text!r}")
        if v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g} ({what}), got {text!r}")
        return v

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_MINUTES = _number("minutes of walking", high=settings.MAX_WALK_MINUTES)
_BUDGET = _number("万元", allow_low=True, high=settings.MAX_BUDGET_WAN)


def _detour(text: str) -> float:
    """argparse type of --detour-factor: a number from 1 to ``settings.MAX_DETOUR_FACTOR``; else exit 2."""
    from .area.validate import check_detour_factor

    try:
        return check_detour_factor(_number("detour factor", low=1.0, allow_low=True)(text), file="--detour-factor",
                                   key="--detour-factor")
    except DataError as exc:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to {settings.MAX_DETOUR_FACTOR:g}, got {text!r}") \
            from exc


_detour.__name__ = "detour factor"


def _detour_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detour-factor", type=_detour, default=None,
                   help=f"without a walk network: walking distance = straight line × this factor (1 to "
                        f"{settings.MAX_DETOUR_FACTOR:g}; default "
                        f"area.toml detour_factor, else {settings.DETOUR_FACTOR:g}, the average of 25 Chinese cities)")


def _count(what: str, low: int, high: int):
    """argparse type: a whole number from ``low`` to ``high``; else a usage error (exit 2)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number ({what}), got {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high} ({what}), got {text!r}")
        return v

    parse.__name__ = what
    return parse


def _path(text: str) -> str:
    """argparse type of --out/--map: not empty (an empty shell variable would write into the
    current folder); else a usage error (exit 2)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file or folder, got an empty string")
    return text


def _output_flags(p: argparse.ArgumentParser, *, default: Any) -> None:
    """-v/--verbose, -q/--quiet and --json: on the main parser (``default`` False) and on every
    subcommand (``default`` SUPPRESS, so a flag given before the subcommand is kept)."""
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log details (INFO) on stderr")
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="print nothing but errors (no progress, no tables, no warnings)")
    p.add_argument("--json", action="store_true", default=default,
                   help="print one JSON object (the command's summary) on stdout and nothing else")


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    _output_flags(p, default=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no step progress on stderr")
    return p


def _plan_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=_BUDGET, help="plan budget in 万元")
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
    p = add("init", cmd_init, "write a template study area to fill in (area.toml + XLSX/CSV/GeoJSON)")
    p.add_argument("folder", type=_path, help="a new or empty folder")
    p = add("validate", cmd_validate, "load and validate a study-area folder")
    p.add_argument("dir")
    p = add("info", cmd_info, "per-街道 summary of a study area (default: bundled 徐汇区)")
    p.add_argument("dir", nargs="?")
    p.add_argument("--policy")
    p = add("fetch-network", cmd_fetch_network, "download a walk network with osmnx (needs internet)")
    p.add_argument("place")
    p.add_argument("--out", type=_path, required=True)
    p = add("convert-network", cmd_convert_network,
            "write a GraphML or road-line network as nodes/edges tables (walk.gpkg or walk_edges.parquet; "
            "fast to load, cached)")
    p.add_argument("network", type=_path)
    p.add_argument("--out", type=_path, required=True)
    p.add_argument("--network-crs", default="wgs84", help="datum of road-line files (wgs84 or gcj02)")
    p = add("network-from-pbf", cmd_network_from_pbf, "build the walk network of an area from an OSM extract (offline)")
    p.add_argument("pbf", help="OSM extract (.osm.pbf), e.g. the province's")
    p.add_argument("--area", dest="dir", required=True, help="study-area folder: the network covers its 街道")
    p.add_argument("--buffer-m", type=_number("metres", allow_low=True), default=settings.PBF_BUFFER_M,
                   help=f"metres of network kept around the 街道 (default {settings.PBF_BUFFER_M:g})")
    p.add_argument("--out", type=_path, required=True, help="GraphML file to write (outside the area folder)")
    p = add("access", cmd_access, "walking coverage and access per community")
    p.add_argument("dir")
    _detour_flag(p)
    p.add_argument("--minutes", type=_MINUTES, default=15.0)
    p.add_argument("--policy")
    p.add_argument("--out", type=_path, required=True)
    p = add("analyze", cmd_analyze, "per-街道 and per-community scorecards against a policy")
    p.add_argument("dir", help="study-area folder (e.g. data/shanghai-xuhui)")
    p.add_argument("--policy", help="policy profile name or TOML file (default: the area's)")
    p.add_argument("--out", type=_path, required=True, help="output folder for the CSV/XLSX scorecards")
    _detour_flag(p)


def _solve_flags(p: argparse.ArgumentParser) -> None:
    """Model options of `plan` (also taken by `report` and `compare`)."""
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


def _add_plan_commands(add) -> None:
    p = add("plan", cmd_plan, "optimal new sites (MILP); writes plan.json for map/export --plan")
    p.add_argument("dir")
    _detour_flag(p)
    p.add_argument("--policy")
    _plan_flags(p)
    _solve_flags(p)
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
        _detour_flag(p)
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
    p.add_argument("--out", type=_path, default="outputs", help="output folder (default ./outputs); everything "
                   "is written there")
    p.add_argument("--map", type=_path, help=f"HTML map path (default OUT/{DEMO_MAP})")
    p.add_argument("--policy", help="policy profile (default wuxi-2025)")
    _plan_flags(p)
    p.add_argument("--online", dest="offline", action="store_false",
                   help="map with OpenStreetMap tiles and CDN scripts instead of the self-contained offline map")


_REPORT_EPILOG = ("report.pdf needs WeasyPrint (pip install 'tuoyu-geo[report]'; Debian/Ubuntu also "
                  "apt-get install libpango-1.0-0 libpangoft2-1.0-0); without it report.html is still written, "
                  "one line on stderr says why there is no PDF, and the exit code is 0. ")


def _add_report_commands(add) -> None:
    p = add("report", cmd_report, "专项规划 report: one self-contained HTML file and its PDF (A4)")
    p.epilog = _REPORT_EPILOG + EPILOG
    p.add_argument("dir")
    p.add_argument("--policy")
    p.add_argument("--out", type=_path, required=True, help="output folder (report.html, report.pdf)")
    p.add_argument("--plan", help="plan.json written by `tuoyu-geo plan` (no solving)")
    _plan_flags(p)
    _solve_flags(p)
    p.add_argument("--budgets", type=_budget_list, help="also compare these budgets (万元), e.g. 1000,3000,6000")
    p.add_argument("--no-pdf", action="store_true", help="write report.html only")
    _detour_flag(p)
    p = add("compare", cmd_compare, "budget scenarios: places, 普惠 coverage, 街道 达标 and Gini per budget")
    p.add_argument("dir")
    p.add_argument("--policy")
    p.add_argument("--budgets", type=_budget_list, required=True, help="budgets in 万元, e.g. 1000,3000,6000")
    p.add_argument("--out", type=_path, required=True,
                   help="output folder (budget_comparison.csv/.xlsx, budget_frontier.png)")
    p.add_argument("--max-sites", type=int, help="at most this many new sites (every scenario)")
    p.add_argument("--strict", action="store_true", help="exit 3 when a rule cannot be met anywhere")
    _solve_flags(p)
    _detour_flag(p)


def _add_batch_commands(add) -> None:
    p = add("make-province", cmd_make_province, "write a SYNTHETIC province (copies of the bundled area) for tests")
    p.add_argument("out", type=_path, help="province folder to write")
    p.add_argument("-n", "--districts", type=_count("districts", 1, 10000), required=True, help="number of districts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", help="study-area folder to copy (default the bundled 上海市徐汇区)")
    p.add_argument("--streets-per-district", type=_count("街道 per district", 1, 10000), help="keep this many 街道 per district (default all)")
    p.add_argument("--community-share", type=_number("share"), default=1.0, help="share of communities kept")
    p.add_argument("--policy", help="policy profile of the province")
    p.add_argument("--budget-wan", type=_BUDGET, help="province budget (万元)")
    p = add("batch", cmd_batch, "assess every district of a province on Dask, split a budget between them")
    p.add_argument("dir", help="province folder: one study-area folder per district (+ province.toml)")
    p.add_argument("--out", type=_path, required=True, help="output folder")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=_count("workers", 1, 1024), help="local workers (default: the number of cores)")
    p.add_argument("--threads", action="store_true", help="local workers as threads, not processes")
    p.add_argument("--budget-wan", type=_BUDGET, help="province budget (万元)")
    p.add_argument("--steps", type=_budget_list, help="frontier budget steps in 万元, e.g. 0,200,500")
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
    _output_flags(ap, default=False)
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    add = _Adder(ap.add_subparsers(dest="command", metavar="COMMAND"), _common())
    _add_area_commands(add)
    _add_plan_commands(add)
    _add_report_commands(add)
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
    for f in (getattr(args, "plan", None), getattr(args, "policy", None), getattr(args, "pbf", None)):
        if f and Path(f).exists():
            out.append(Path(f))
    return out


def _out_folders(args: argparse.Namespace) -> list[Path]:
    """Folders the command writes to (each held by a lock while it runs); file targets checked first."""
    from .writer import check_target

    files = [Path(f) for f in (getattr(args, "map", None),) if f]
    folders = []
    if args.command in ("map", "fetch-network", "network-from-pbf", "convert-network"):
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

    try:
        with protect_inputs(_inputs(args)), contextlib.ExitStack() as locks:
            for folder in _out_folders(args):
                locks.enter_context(output_lock(folder))
            return int(args.func(args) or 0)
    except FileNotFoundError:
        try:
            os.getcwd()
        except OSError:  # relative paths cannot be resolved
            raise DataError("the current folder no longer exists (it was deleted or moved)", file=".",
                            fix="cd into an existing folder and run again, or give absolute paths") from None
        raise


def _emit_json(args: argparse.Namespace, code: int) -> None:
    """The one JSON object of ``--json``: command, ok, exit_code, version, the command's fields, files."""
    import json

    from .report.summary import jsonable

    obj = {"command": getattr(args, "command", None), "ok": code == EXIT_OK, "exit_code": code,
           "version": __version__, **_REPORT.data, "files": _REPORT.files}
    enc = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("_", "-")
    ascii_only = not enc.startswith("utf")  # \uXXXX escapes: exact on a GBK or ASCII stdout too
    _stdout(json.dumps(jsonable(obj), ensure_ascii=ascii_only, allow_nan=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    global _REPORT
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.verbose and args.quiet:
        ap.error("-v/--verbose and -q/--quiet: choose one")
    _REPORT = _Report(json=args.json, quiet=args.quiet)
    handler = logging.StreamHandler()
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler])
    logging.captureWarnings(True)  # library warnings go through logging (one line, no source dump)
    root, root_level = logging.getLogger(), logging.getLogger().level
    root.setLevel(level)  # also when logging was configured before (a second call, an embedding program)
    errors = _replace_unencodable()
    try:
        return _main_parsed(ap, args)
    except OutputError as exc:  # stdout itself not writable (--version, the JSON object)
        sys.stderr.write(terminal_text(f"error (OutputError): {exc}") + "\n")
        return EXIT_OUTPUT
    finally:
        root.setLevel(root_level)
        _replace_unencodable(errors)


def _replace_unencodable(previous: dict[str, str] | None = None) -> dict[str, str]:
    """Print what the terminal's encoding cannot show as ``?`` (a GBK console and an emoji in a name, an
    ASCII pipe and 街道) instead of failing; ``previous`` (the returned modes) puts them back."""
    modes = {}
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        reconf = getattr(stream, "reconfigure", None)
        if reconf is None:
            continue
        modes[name] = getattr(stream, "errors", "strict")
        want = previous.get(name) if previous is not None else (
            "replace" if modes[name] == "strict" else modes[name])
        if want is not None and want != modes[name]:
            try:
                reconf(errors=want)
            except (ValueError, OSError, AttributeError):  # a closed or non-standard stream
                pass
    return modes


def _main_parsed(ap: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.version:
        if args.json:
            _emit_json(args, EXIT_OK)
        else:
            _out(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        if args.json:  # stdout holds the one JSON object: the help goes to stderr, and no command is an error
            ap.print_help(sys.stderr)
            _summary(error={"type": "usage", "message": "no command given"})
            _emit_json(args, EXIT_DATA)  # 2, as argparse's usage errors
            return EXIT_DATA
        ap.print_help()
        return EXIT_OK
    code = _main(args)
    if args.json:
        try:
            _emit_json(args, code)
        except BrokenPipeError:
            pass
    return code


def _main(args: argparse.Namespace) -> int:
    """Run the command; map errors to exit codes with one message on stderr."""
    try:
        return _run(args)
    except TuoyuError as exc:
        sys.stderr.write(terminal_text(f"error ({type(exc).__name__}): {exc}") + "\n")
        _summary(error=_error_fields(exc))
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
        _summary(error={"type": "internal", "message": terminal_text(f"{type(exc).__name__}: {exc}")})
        return _internal_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
