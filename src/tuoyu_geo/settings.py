"""Typed package-wide defaults (overridable per call)."""

from __future__ import annotations

import os
from pathlib import Path

#: default walking speed used when a threshold in minutes has no explicit distance in the profile
WALK_SPEED_KMH: float = 4.0
#: default accessibility thresholds in minutes (GB 50180-2018 life circles)
MINUTES: tuple[int, ...] = (5, 10, 15)
#: points farther than this from any walkable edge are reported
SNAP_WARN_M: float = 300.0
#: detour factor of the straight-line fallback (an area without a walk network): walking distance =
#: straight-line distance (metric CRS) × this factor.  1.324 is the average detour index (network
#: distance / straight-line distance) measured across 25 Chinese cities in "Quantifying the
#: relationships between network distance and straight-line distance: applications in spatial bias
#: correction", Annals of GIS (2021), pp. 351–369, doi:10.1080/19475683.2021.1966503 (DETOUR_SOURCE).
#: The same study finds short trips detour more than long ones, so at walking distances (300–1000 m)
#: this is, if anything, an optimistic (low) factor.  Set per area with ``detour_factor`` in area.toml
#: or ``--detour-factor`` on the command line (finite, between 1 and :data:`MAX_DETOUR_FACTOR`).
DETOUR_FACTOR: float = 1.324
#: the largest detour factor accepted: walking routes more than 3 × the straight line are not a street
#: network's detour but a data or unit mistake (measured city averages lie between about 1.1 and 2)
MAX_DETOUR_FACTOR: float = 3.0
DETOUR_SOURCE: str = ("average detour index (network/straight-line distance) of 25 Chinese cities, 1.324: "
                      "'Quantifying the relationships between network distance and straight-line distance: "
                      "applications in spatial bias correction', Annals of GIS (2021) 351–369, "
                      "doi:10.1080/19475683.2021.1966503")
#: metres of walk network kept around a study area when it is built from an OSM extract (.osm.pbf):
#: a 15-minute walk (1,000 m at 4 km/h) from the boundary may leave the area and come back
PBF_BUFFER_M: float = 1000.0
#: metric CRS fallback (UTM 51N covers Shanghai); areas choose their own UTM zone via crs.utm_crs
DEFAULT_SOLVER: str = "highs"
TIME_LIMIT_S: float = 120.0
MIP_GAP: float = 1e-4
#: HiGHS options for the classic covering models (MCLP): their root LP is large and degenerate,
#: and the interior-point solver (IPX) takes about a quarter of dual simplex's time on the
#: 5,000 × 1,500 benchmark city; the plan's models solve faster with the default (benchmarks/README.md)
COVERING_HIGHS_OPTIONS: dict = {"mip_lp_solver": "ipx"}
#: HiGHS MIP solves with a time limit run in a worker process (``_highs_worker.py``, one per
#: thread, started on first use and reused), stopped when it has not answered ``HIGHS_WORKER_GRACE_S``
#: + 10 % after its time limit: HiGHS 1.16 can loop for ever in its presolve, past its time limit and
#: ``cancelSolve`` (``tests/data/highs_hang.npz``).  True, False (in this process) or ``"auto"``: on POSIX,
#: outside daemonic processes (which may not start children).
HIGHS_WORKER: bool | str = "auto"
HIGHS_WORKER_GRACE_S: float = 10.0
#: HiGHS options for every stage of the site plan (``solvers.solve``'s ``highs_options``; see
#: benchmarks/README.md for what was measured)
PLAN_HIGHS_OPTIONS: dict = {"mip_heuristic_run_rens": False}
#: added to ``PLAN_HIGHS_OPTIONS`` in the named stages.  Coverage without RINS (a sub-MIP around the
#: incumbent, which there is the 配建 plan) and without the root reduced-cost heuristic: the bundled
#: 2-year plan took 9.4 / 7.7 / 8.7 / 8.9 / 11.5 / 10.4 s over HiGHS seeds 0–5 (mean 9.4); RINS off alone
#: 10.3 / 8.5 / 9.2 / 9.8 / 12.0 / 10.7 (10.1); neither 11.0 / 9.4 / 10.2 / 10.3 / 12.8 / 11.7 (10.9).
#: Not in the other stages: without RINS the 配建 stage took 8.8–9.5 s instead of 4.5–7.9 (seeds 1–3),
#: the shortfall stage 6.3 s instead of 2.5, the capacity-aware cost stage 10.7–11.1 s instead of 8.3;
#: without the reduced-cost heuristic the dumped 配建 stage took 12.6 s instead of 6.0
PLAN_HIGHS_STAGE_OPTIONS: dict = {"coverage": {"mip_heuristic_run_rins": False,
                                               "mip_heuristic_run_root_reduced_cost": False}}
#: relative tolerance used when an earlier lexicographic objective is held as a constraint
LEX_TOLERANCE: float = 1e-6
#: cost (万元) added per opened site in the cost stage only, so that equal-cost plans (e.g. free
#: sites) go to the one with fewer sites; far below any cost difference of real data (0.01 万元)
SITE_TIE_BREAK_WAN: float = 1e-6
#: MILP formulation of the plan's sites and years: "cumulative" (default), "per_year" or "classes"
#: (see :mod:`tuoyu_geo.plan.model`; the others are kept for the benchmark)
PLAN_FORMULATION: str = "cumulative"
#: strengthenings of the plan's MILP (each valid: it removes no plan), switchable for the benchmark
#: (``benchmarks/bench_optimize.py``): ``disaggregate`` — capacity-aware links x_ij ≤ f·w_i·open_j;
#: ``served_rows`` — once the coverage stage reaches the most every community can get, each
#: community's row is held (:meth:`tuoyu_geo.rules.base.Rule.hold`); ``site_counts`` — integer counts
#: of interchangeable candidates per year; ``complete_start`` — each stage's MIP start with its
#: continuous part re-optimised for the stage (one LP); ``budget_cuts`` — places bought by each budget
#: (total, yearly, years so far) at most what whole sites can buy (a knapsack solved exactly);
#: ``floor_cuts`` — once a shortfall stage reaches the least its rows allow, each row is held at its
#: floor and its sites cost at least what whole sites need (:meth:`tuoyu_geo.plan.model.PlanModel.hold_shortfalls`).
#: ``cap_coefficients`` — in a shortfall row, a site counts for at most what the row needs;
#: ``value_cuts`` — per shortfall row, what its sites can achieve for what they cost, in whole sites
#: (:meth:`tuoyu_geo.plan.model.PlanModel.add_value_cuts`; only when a budget binds the plan).
#: ``merge_demand`` — capacity-aware: communities with the same candidates in reach share one demand
#: row and one flow per candidate (exact; :meth:`tuoyu_geo.rules.sites.Coverage.merge_same_reach`);
#: ``"highs"`` (default): with HiGHS only — on the bundled capacity-aware plan it took HiGHS from 35 s to
#: ≈ 18 s, while CBC 2.10 lost the merged model in its preprocessing (see ``solvers._solve_cbc``).
#: ``site_vars`` — one continuous "open" column per (candidate, year), ``o = Σ_p Y``, read by every
#: "is it open" row, with each places/cost row's smallest size coefficient moved onto it
#: (:meth:`tuoyu_geo.plan.model.PlanModel.factor_open`; same LP, 2-year plan 148k → 38k nonzeros);
#: ``merge_reach`` — plain coverage: communities with the same candidates in reach share one row.
#: Measured (benchmarks/README.md): ``floor_cuts`` and ``value_cuts`` slow the capacity-aware cost
#: stage of the bundled area down, and ``value_cuts`` gained nothing on budget-bound plans (off);
#: ``floor_cuts`` are on for large areas only (``FLOOR_CUTS_MIN_CANDIDATES``); with ``site_counts`` the capacity-aware plan
#: was proven optimal in 36–44 s (3 runs), without it not in 60 s.
PLAN_MILP: dict[str, bool | str] = {"disaggregate": True, "served_rows": True, "site_counts": "auto",
                                    "complete_start": True, "budget_cuts": True, "floor_cuts": "auto",
                                    "cap_coefficients": True, "value_cuts": False, "merge_demand": "highs",
                                    "site_vars": True, "merge_reach": True, "cpsat_start": False,
                                    "bound_fixing": True, "street_counts": "auto", "year_budget_cuts": False,
                                    "local_branching": "auto"}
#: ``local_branching`` — searching the plans within ``LOCAL_BRANCHING_FLIPS`` binary flips of a stage's best
#: (:func:`tuoyu_geo.solvers.local_branching`); True, False, ``"cbc"`` or ``"auto"``:
#: * with CBC (``"cbc"``, ``"auto"``): a stage not proven in the first third of its time is searched so,
#:   then solved whole again from the best plan.  Measured (benchmarks/README.md): CBC's bundled default
#:   cost stage stalled at 9,424.5 万元 (bound 9,422.7) for 59 s; with it, 9,426 after 20 s → 9,423.5 in
#:   one 0.8 s neighbourhood → proven (HiGHS's value) in 26 s;
#: * with HiGHS (``"auto"``, in ``LOCAL_BRANCHING_HIGHS_STAGES``): a stage not proven in the first
#:   ``1 − LOCAL_BRANCHING_POLISH_SHARE`` of its time spends the rest polishing HiGHS's plan (its bound
#:   stands; a restart would lose its tree).  HiGHS held the 3-year plan's coverage stage at its start
#:   for 231 s, where one 4-flip neighbourhood gains 333 children in 1.4 s; stages proven in time (every
#:   bundled plan but the 3-year one, at 60 s and at 30 s) never reach it.
#: ``street_counts`` — one integer count of open sites per 街道, cost kind (fixed cost, cost per place)
#: and year (:meth:`tuoyu_geo.plan.model.PlanModel.add_site_counts` with ``by_street``), with
#: ``"auto"`` below ``SITE_COUNTS_MAX_CANDIDATES`` allowed candidates.  Measured on the bundled area
#: (benchmarks/README.md, six HiGHS seeds each): the 2-year plan 16.6 → 10.9 s on average (with
#: ``year_budget_cuts`` off), the capacity-aware plan 3.1–9.0 → 1.3–1.5 s, the default 1.3–1.8 → 0.9–1.1 s.
#: ``year_budget_cuts`` — the per-year budget cuts of a phased plan (places opening in, and by, each
#: year within what whole sites buy); off: with the street counts they slowed the bundled 2-year plan
#: from 11.2 to 14.7 s on average (six seeds) — the total budget keeps its cut (``budget_cuts``), which
#: helps (3,000 万元 plan 2.8 → 1.7 s; 2-year plan with a 4,000 万元 total 8.1 → 6.3 s).
#: ``bound_fixing``: a budget-bound shortfall stage is bounded by dynamic programming over 街道
#: (:mod:`tuoyu_geo.plan.bounds`); the stage is first solved among the sizes whose forced bound is within
#: ``BOUND_FIX_SLACK`` (relative) of it, and once its optimum is held the sizes beyond it are fixed out
BOUND_FIX_SLACK: float = 1e-3
#: binary flips around the incumbent in one local-branching neighbourhood (``PLAN_MILP["local_branching"]``)
LOCAL_BRANCHING_FLIPS: int = 4
#: with ``PLAN_MILP["local_branching"] = "auto"``: the stages where HiGHS uses it too
LOCAL_BRANCHING_HIGHS_STAGES: tuple[str, ...] = ("residential", "coverage")
#: HiGHS in those stages: the share of the stage's time left to polish its plan by local branching
LOCAL_BRANCHING_POLISH_SHARE: float = 0.25
#: with ``floor_cuts = "auto"``: on from this many allowed candidates (measured: on the 5,000-candidate
#: city they take the cost stage from a 34 % gap to 0.6 % in 120 s; on the 162-candidate bundled area
#: they keep the capacity-aware plan from being proven optimal within 60 s)
FLOOR_CUTS_MIN_CANDIDATES: int = 1000
#: ``cpsat_start`` (off by default; needs OR-Tools, ``pip install "tuoyu-geo[cpsat]"``): the cost stage
#: first asks CP-SAT for a plan (:func:`tuoyu_geo.solvers.cpsat_plan`, at most ``CPSAT_SHARE`` of the
#: stage's time) and hands it to HiGHS as the MIP start; True, or "auto" = from this many allowed
#: candidates.  Measured (benchmarks/README.md): on the S2 city (2,000 candidates, 30 s limit) the plan
#: took 16.0–20.7 s instead of 29.5–31.3 s, proven optimal (CP-SAT 9–14 s, then HiGHS proves at its
#: root in ≈ 2 s); but on S3 (5,000 candidates, 30 s) HiGHS was then left too little time for its
#: root and reported gap 0.99 for a better plan, and on the bundled 2-year stages CP-SAT found no plan
#: in 30 s — so it is not on by default
CPSAT_MIN_CANDIDATES: int = 1000
#: share of a stage's time CP-SAT may take before HiGHS starts
CPSAT_SHARE: float = 0.75
#: CP-SAT's parallel search workers (it is much weaker with one)
CPSAT_WORKERS: int = max(2, min(8, os.cpu_count() or 1))
#: with ``site_counts = "auto"``: on below this many allowed candidates (measured: on the S2 city, 2,000
#: candidates, its three count rows of 6,000–10,000 columns held HiGHS's first round of cuts for 46 s and
#: the cost stage found nothing better than its start in 60 s; without them it reached gap 7.8e-4.
#: On the bundled capacity-aware plan, before merged demand rows, they made it provable in a minute)
SITE_COUNTS_MAX_CANDIDATES: int = 1000
#: above this many service areas of one kind (existing 普惠 institutions, recommended sites) an
#: assessment computes them merged per 街道 of their facilities — one area per (街道, kind), the union
#: of its facilities' areas computed directly (:func:`tuoyu_geo.network.grouped_service_areas`) —
#: instead of one per facility; rows then hold ``facilities`` (how many are merged) and ``merged``.
#: At this size and above a per-facility map is unreadable and its polygons are most of an export;
#: the S2 benchmark city (2,381 areas) takes ≈ 25 s merged instead of ≈ 12 minutes
#: (benchmarks/README.md, issue 17).  Up to it every facility keeps its own area.
ISO_MERGE_ABOVE: int = 200
#: threads that build service areas (one facility, or one 街道 when merged, per task; shapely
#: releases the GIL in buffer and union): on the 2-core benchmark machine the S2 city's 1,918
#: recommended sites → 156 merged areas took 21.0 s in one thread and 12.7 s in two, with the same
#: polygons.  1 = no thread pool (e.g. inside a batch that already runs one process per CPU)
SERVICE_AREA_THREADS: int = min(4, os.cpu_count() or 1)
#: monetary unit of every cost figure
COST_UNIT: str = "万元"

CACHE_DIR: Path = Path(os.environ.get("TUOYU_GEO_CACHE", Path.home() / ".cache" / "tuoyu_geo"))

#: the longest walk accepted as a service radius (``--minutes``, ``PlanOptions(minutes=)``): 托育 radii are
#: 5–15 minutes; beyond an hour the distance matrices grow towards every pair of points
MAX_WALK_MINUTES: float = 60.0

#: the largest budget accepted (万元; 10^8 万元 = 1 万亿元, more than any city's whole budget): above it a
#: number is a unit mistake (元 for 万元) or a typo, and figures cannot draw the axis
MAX_BUDGET_WAN: float = 1e8
