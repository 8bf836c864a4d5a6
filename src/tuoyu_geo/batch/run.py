"""Batch run of a province on ``dask.distributed``: assess → frontiers → allocation → plans → summary.

1. Every district is one task (:func:`~tuoyu_geo.batch.district.assess_district`): load, assess,
   frontier (the plan at every budget step).  A failed district is reported by name with its error
   (``ProvinceResult.failed``) and skipped; the others go on.
2. With a province budget, the naive splits (population, gap) are planned first (not written), and
   their plans join the frontiers: their budgets fall between the frontier steps.  The budget is then
   split by :func:`~tuoyu_geo.batch.allocate.allocate` (exact multiple-choice knapsack over the
   frontiers, in the client), which can therefore choose each naive split and is never worse than one
   (by the points' values: a plan cut off by its time limit may differ when solved again in step 3).
3. Every district's plan is solved at its allocated budget, and its scorecards, exports and map are
   written to ``<out>/districts/<name>/`` (one task each; all-or-nothing per district).
4. The provincial summary (:mod:`tuoyu_geo.batch.outputs`) is built from the districts that fully
   succeeded only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .. import settings
from .._errors import DataError
from .allocate import Allocation, allocate, naive_split
from .district import (
    DISTRICT_FORMATS,
    DistrictJob,
    DistrictOutcome,
    DistrictPlan,
    assess_district,
    plan_district,
)
from .province import MAX_STEPS, Province, budget_ok, read_province, steps_ok

log = logging.getLogger(__name__)

__all__ = ["NAIVE_RULES", "ProvinceResult", "SerialClient", "cluster_client", "run_batch"]

#: naive splits the allocation is compared with
NAIVE_RULES = ("population", "gap")
#: seconds to wait for a scheduler given by address
SCHEDULER_TIMEOUT_S = 10.0


@dataclass(frozen=True, eq=False)
class ProvinceResult:
    """Everything a batch run produced.

    Attributes
    ----------
    province : Province
    outcomes : mapping
        District name → :class:`DistrictOutcome` (assessment and frontier; ``ok`` False when failed).
    plans : mapping
        District name → :class:`DistrictPlan` at the allocated budget (empty without a budget).
    naive : mapping
        Naive rule → district name → :class:`DistrictPlan` at the naive budget.
    allocation : Allocation or None
    failed : mapping
        District name → error, for every district left out of the summary (failed or skipped).
    districts, streets, frontiers, comparison : DataFrame
        The provincial tables (:mod:`tuoyu_geo.batch.outputs`).
    paths : mapping
        Provincial files written (kind → path).
    timings : mapping
        Seconds per phase.
    """

    province: Province
    outcomes: Mapping[str, DistrictOutcome]
    plans: Mapping[str, DistrictPlan]
    naive: Mapping[str, Mapping[str, DistrictPlan]]
    allocation: Allocation | None
    failed: Mapping[str, str]
    districts: pd.DataFrame
    streets: gpd.GeoDataFrame
    frontiers: pd.DataFrame
    comparison: pd.DataFrame
    paths: Mapping[str, Path] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        ok = len(self.outcomes) - len(self.failed)
        return (f"ProvinceResult({self.province.name!r}: {ok}/{len(self.province.districts)} districts, "
                f"{len(self.failed)} failed or skipped)")


def _check_options(*, n_workers: Any, budget_wan: Any, budget_steps_wan: Any) -> None:
    """DataError for options no batch can run with (before any district is read)."""
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                  or not 1 <= n_workers <= 1024):
        raise DataError(f"n_workers = {n_workers!r} is not a whole number from 1 to 1024", file="--workers",
                        fix="give the number of local workers, e.g. --workers 2 (default: the number of cores)")
    if budget_wan is not None and not budget_ok(budget_wan):
        raise DataError(f"budget_wan = {budget_wan!r} is not a number from 0 to {settings.MAX_BUDGET_WAN:g} 万元",
                        file="--budget-wan", fix="give the province budget in 万元, e.g. --budget-wan 15000")
    if budget_steps_wan is not None and not steps_ok(list(budget_steps_wan)):
        raise DataError(f"budget steps {list(budget_steps_wan)!r} are not at most {MAX_STEPS} numbers from 0 to "
                        f"{settings.MAX_BUDGET_WAN:g} 万元", file="--steps", fix="e.g. --steps 0,200,500,1000")


@contextlib.contextmanager
def cluster_client(*, scheduler: str | None = None, n_workers: int | None = None, processes: bool = True,
                   timeout_s: float = SCHEDULER_TIMEOUT_S) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` (``tcp://host:port``) or to a new ``LocalCluster``
    (``n_workers`` workers, default the number of cores; one thread each).

    Raises
    ------
    DataError
        The scheduler does not answer within ``timeout_s`` seconds (names the address).
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise DataError(f"the Dask scheduler {scheduler} does not answer within {timeout_s:g} s "
                            f"({type(exc).__name__})", file="--scheduler",
                            fix="start it (`dask scheduler`), check host and port, or omit --scheduler to "
                                "run on this machine") from None
        with client:
            yield client
        return
    n = n_workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


class _Done:
    """A finished "future" of :class:`SerialClient`."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


class SerialClient:
    """Runs every task at once in this process, in order (no Dask): ``run_batch(client=SerialClient())``
    is the plain serial loop over the districts — for debugging and for timing the cluster against."""

    def map(self, fn: Any, items: Sequence[Any], **_: Any) -> list[_Done]:
        return [_Done(fn(x)) for x in items]

    def submit(self, fn: Any, *args: Any, key: Any = None, pure: Any = None, **kwargs: Any) -> _Done:
        return _Done(fn(*args, **kwargs))


def _gather(client: Any, futures: Sequence[Any], names: Sequence[str], make_failed, progress: bool) -> list:
    """Results of ``futures`` in order; a task that died (worker lost …) becomes ``make_failed(name, err)``."""
    if progress and futures and not isinstance(client, SerialClient):
        from distributed import progress as _progress

        _progress(list(futures))
    out = []
    for fut, name in zip(futures, names, strict=True):
        try:
            out.append(fut.result())
        except Exception as exc:  # noqa: BLE001 - a lost worker: reported by name, others go on
            out.append(make_failed(name, f"{type(exc).__name__}: {exc}"))
    return out


def _frontiers(outcomes: Mapping[str, DistrictOutcome]) -> pd.DataFrame:
    rows = [{"district": n, **vars(p)} for n, o in outcomes.items() if o.ok for p in o.frontier]
    cols = ["district", "budget_wan", "streets_met", "infants_newly_covered", "places", "cost_wan", "status"]
    return pd.DataFrame(rows, columns=cols)


def _plan_all(cl: Any, jobs: Mapping[str, Any], tasks: Sequence[tuple], formats: Sequence[str],
              progress: bool) -> dict[str | None, dict[str, DistrictPlan]]:
    """Plan every ``(split, district, budget, out_dir)`` task on the cluster; split → district → plan."""
    futs = [cl.submit(plan_district, jobs[n], b, out_dir=o, formats=tuple(formats), pure=False,
                      key=f"plan-{r or 'allocated'}-{n}-{time.time_ns()}") for r, n, b, o in tasks]
    done = _gather(cl, futs, [n for _, n, _, _ in tasks], lambda n, e: DistrictPlan(n, float("nan"), False, e),
                   progress)
    out: dict[str | None, dict[str, DistrictPlan]] = {r: {} for r, *_ in tasks}
    for (r, n, _, _), p in zip(tasks, done, strict=True):
        out[r][n] = p
    return out


def _with_points(frontiers: pd.DataFrame, plans: Mapping[str, Mapping[str, DistrictPlan]]) -> pd.DataFrame:
    """The frontiers with the plans' points added (those solved, at their budgets), each district's
    points by budget."""
    rows = [{"district": n, **vars(p.point)} for split in plans.values() for n, p in split.items()
            if p.ok and p.point is not None]
    if not rows:
        return frontiers
    out = pd.concat([frontiers, pd.DataFrame(rows, columns=frontiers.columns)], ignore_index=True)
    order = {d: i for i, d in enumerate(dict.fromkeys(out["district"]))}  # the districts' own order
    return out.sort_values(["district", "budget_wan"], key=lambda c: c.map(order) if c.name == "district" else c,
                           kind="stable", ignore_index=True)


def _weights(outcomes: Mapping[str, DistrictOutcome], rule: str) -> dict[str, float]:
    col = "population" if rule == "population" else "place_gap"
    return {n: float(o.streets[col].sum()) for n, o in outcomes.items()}


def _check_forced(ok: Mapping[str, DistrictOutcome], budget_wan: float) -> None:
    forced = {n: o.forced_cost_wan for n, o in ok.items() if o.forced_cost_wan > 0}
    if sum(forced.values()) > budget_wan + 1e-9:
        raise DataError(f"the province budget {budget_wan:g} 万元 is below the least cost of the required sites "
                        f"({sum(forced.values()):g} 万元: " + ", ".join(f"{n} {v:g}" for n, v in forced.items()) + ")",
                        file="province.toml", fix="raise budget_wan, or remove sites from [required_sites]")


def _usable(outcomes: Mapping[str, DistrictOutcome]) -> dict[str, DistrictOutcome]:
    return {n: o for n, o in outcomes.items() if o.ok and o.frontier}


def run_batch(province_dir: str | Path, *, out_dir: str | Path | None = None, scheduler: str | None = None,
              n_workers: int | None = None, processes: bool = True, client: Any = None,
              budget_wan: float | None = None, budget_steps_wan: Sequence[float] | None = None,
              policy: str | None = None, solver: str = settings.DEFAULT_SOLVER,
              time_limit_s: float = settings.TIME_LIMIT_S, naive: bool = True,
              formats: Sequence[str] = DISTRICT_FORMATS, progress: bool = False,
              timeout_s: float = SCHEDULER_TIMEOUT_S) -> ProvinceResult:
    """Assess, plan and allocate a budget for every district of a province on Dask.

    Parameters
    ----------
    province_dir : str or Path
        Folder of district study-area folders (+ optional ``province.toml``,
        :mod:`tuoyu_geo.batch.province`).
    out_dir : str or Path, optional
        Where to write ``districts/<name>/…`` and the provincial files; nothing written without it.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``); default a new ``LocalCluster``.
    n_workers : int, optional
        Workers of the LocalCluster (default the number of cores), one thread each.
    processes : bool
        LocalCluster workers as processes (default) or threads.  Scripts using processes need the
        ``if __name__ == "__main__":`` guard.
    client : distributed.Client, optional
        Use this client (its cluster) instead of making one.
    budget_wan, budget_steps_wan, policy : optional
        Override ``province.toml``: the province budget (万元; no allocation without one), the
        frontier budget steps, the policy profile.
    solver, time_limit_s
        MILP solver and time limit of each district plan.
    naive : bool
        Also plan the naive splits (population, gap) for the comparison.
    formats : sequence of str
        Export formats of each district (:func:`tuoyu_geo.report.export.export_plan`).
    progress : bool
        Show Dask's progress bar (the CLI does).
    timeout_s : float
        Seconds to wait for ``scheduler``.

    Returns
    -------
    ProvinceResult

    Raises
    ------
    DataError
        Bad province folder or ``province.toml``, duplicate district names, a scheduler that does
        not answer, a budget below the required sites' cost, or no district could be assessed.
    """
    t0 = time.perf_counter()
    _check_options(n_workers=n_workers, budget_wan=budget_wan, budget_steps_wan=budget_steps_wan)
    prov = read_province(province_dir)
    prov = replace(prov, policy=policy if policy is not None else prov.policy,
                   budget_wan=float(budget_wan) if budget_wan is not None else prov.budget_wan,
                   budget_steps_wan=tuple(sorted({0.0, *map(float, budget_steps_wan)})) if budget_steps_wan
                   else prov.budget_steps_wan)
    jobs = {d.name: DistrictJob(d, prov.policy, prov.budget_steps_wan, solver, time_limit_s) for d in prov.districts}
    timings: dict[str, float] = {}
    ctx = contextlib.nullcontext(client) if client is not None else cluster_client(
        scheduler=scheduler, n_workers=n_workers, processes=processes, timeout_s=timeout_s)
    with ctx as cl:
        names = list(jobs)
        futs = cl.map(assess_district, [jobs[n] for n in names], key=[f"assess-{n}-{time.time_ns()}" for n in names])
        got = _gather(cl, futs, names, lambda n, e: DistrictOutcome(n, jobs[n].district.folder,
                                                                    jobs[n].district.area_name, False, e), progress)
        outcomes = dict(zip(names, got, strict=True))
        timings["assess_frontier_s"] = round(time.perf_counter() - t0, 3)
        ok = _usable(outcomes)
        if not ok:
            raise DataError("no district could be assessed: " + "; ".join(f"{n}: {o.error}" for n, o in outcomes.items()),
                            file=str(prov.folder), fix="fix the districts named above (tuoyu-geo validate <folder>)")
        frontiers = _frontiers(ok)
        allocation, budgets = None, {n: None for n in ok}
        naive_plans: dict[str, dict[str, DistrictPlan]] = {}
        t1 = time.perf_counter()
        if prov.budget_wan is not None:
            _check_forced(ok, prov.budget_wan)
            if naive:
                # the naive splits first: their budgets fall between the frontier steps, and their plans
                # join the frontier, so the allocation can choose each split and is never worse than one
                naive_budgets = {r: naive_split(_weights(ok, r), prov.budget_wan) for r in NAIVE_RULES}
                naive_plans = _plan_all(cl, jobs, [(r, n, b, None) for r, split in naive_budgets.items()
                                                   for n, b in split.items()], formats, progress)
                frontiers = _with_points(frontiers, naive_plans)
            allocation = allocate(frontiers, prov.budget_wan)
            budgets = {n: float(allocation.choice.loc[n, "budget_wan"]) for n in ok}
        out = Path(out_dir) if out_dir is not None else None
        plans = _plan_all(cl, jobs, [(None, n, budgets[n], out / "districts" / n if out is not None else None)
                                     for n in ok], formats, progress)[None]
        timings["plans_s"] = round(time.perf_counter() - t1, 3)
    failed = {n: o.error or "no frontier point" for n, o in outcomes.items() if n not in ok}
    failed.update({n: p.error for n, p in plans.items() if not p.ok})
    from .outputs import summarise, write_outputs

    tables = summarise(prov, outcomes, plans, naive_plans, allocation, failed, frontiers)
    result = ProvinceResult(province=prov, outcomes=outcomes, plans=plans, naive=naive_plans,
                            allocation=allocation, failed=failed, timings=timings, **tables)
    if out is not None:
        t2 = time.perf_counter()
        result = replace(result, paths=write_outputs(result, out))
        timings["outputs_s"] = round(time.perf_counter() - t2, 3)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    return result
