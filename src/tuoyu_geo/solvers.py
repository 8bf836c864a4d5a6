"""Sparse MILP layer: build a model as numpy/scipy arrays, solve it with HiGHS or CBC.

Models are assembled as ``min/max c·x  s.t.  row_lo ≤ A x ≤ row_hi,  lb ≤ x ≤ ub`` with an integrality
mask, so that building a 100,000-nonzero coverage model is a handful of vectorised numpy calls.

Solvers
-------
``"highs"``
    HiGHS through its Python API ``highspy`` (the library PuLP's ``pulp.HiGHS`` drives).  The arrays are
    passed in one ``passModel`` call (PuLP's wrapper adds rows one by one in Python, which dominates the
    run time on large models).  The true status and gap come from HiGHS itself: ``getModelStatus()``
    (``kOptimal`` vs ``kTimeLimit``) and ``getInfo().mip_dual_bound`` / ``mip_gap``.
``"cbc"``
    CBC bundled with PuLP (``pulp.PULP_CBC_CMD``).  The model is written through PuLP; PuLP's
    ``LpStatus`` reads "Optimal" for a run stopped by its time limit, so the status is taken from
    ``prob.sol_status`` and CBC's own log (``Result - Stopped on time limit``, ``Lower bound:``),
    from which the gap ``|incumbent − bound| / max(|incumbent|, 1e-9)`` is computed.

A solution is reported ``"optimal"`` only when the solver proved optimality within ``mip_gap``.

:func:`cpsat_plan` asks OR-Tools' CP-SAT (an optional dependency, ``tuoyu-geo[cpsat]``) for a good
solution to hand to either solver as its MIP start; its claims about optimality are not used.

Nothing is printed: the solvers' own logs go to this module's logger at DEBUG level (HiGHS line by
line, CBC as one record) and a one-line result per solve at INFO, e.g.
``logging.getLogger("tuoyu_geo.solvers").setLevel(logging.DEBUG)`` with a handler to see them.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import math
import os
import pickle
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import settings
from ._errors import SolverError
from ._highs_worker import HEADER, run_job

log = logging.getLogger(__name__)

SOLVERS = ("highs", "cbc")


class Status(str, Enum):
    """Outcome of a solve (a ``str``: ``Status.OPTIMAL == "optimal"``)."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

_FIX_INSTALL = ("install a MILP solver: `pip install highspy` (HiGHS) or `pip install pulp` (ships CBC); "
                "or pass solver='cbc' / solver='highs' to use the other one")


@dataclass
class MILP:
    """Growing sparse MILP.  Columns are added in blocks, rows as COO triplets."""

    sense: int = 1  # +1 minimise, -1 maximise
    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    cost: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    rows_i: list[np.ndarray] = field(default_factory=list)
    rows_j: list[np.ndarray] = field(default_factory=list)
    rows_v: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0

    def add_vars(self, n: int, *, lb: float | np.ndarray = 0.0, ub: float | np.ndarray = np.inf,
                 integer: bool = False, cost: float | np.ndarray = 0.0) -> np.ndarray:
        """Add ``n`` columns; return their indices."""
        idx = np.arange(self.n_cols, self.n_cols + n)
        self.lb.append(np.broadcast_to(np.asarray(lb, float), (n,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, float), (n,)).copy())
        self.cost.append(np.broadcast_to(np.asarray(cost, float), (n,)).copy())
        self.integer.append(np.full(n, integer, bool))
        self.n_cols += n
        return idx

    def add_rows(self, row: np.ndarray, col: np.ndarray, val: np.ndarray | float, n_rows: int, *,
                 lo: float | np.ndarray = -np.inf, hi: float | np.ndarray = np.inf) -> np.ndarray:
        """Add ``n_rows`` rows given COO entries (``row`` local 0..n_rows-1); return row indices."""
        row = np.asarray(row, np.int64)
        col = np.asarray(col, np.int64)
        val = np.broadcast_to(np.asarray(val, float), row.shape)
        self.rows_i.append(row + self.n_rows)
        self.rows_j.append(col)
        self.rows_v.append(np.array(val, float))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, float), (n_rows,)).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(hi, float), (n_rows,)).copy())
        idx = np.arange(self.n_rows, self.n_rows + n_rows)
        self.n_rows += n_rows
        return idx

    def add_row(self, col: np.ndarray, val: np.ndarray | float, *, lo: float = -np.inf,
                hi: float = np.inf) -> int:
        """Add one row Σ val·x[col] in [lo, hi]."""
        col = np.asarray(col, np.int64)
        return int(self.add_rows(np.zeros(len(col), np.int64), col, val, 1, lo=lo, hi=hi)[0])

    def fix_upper(self, cols: np.ndarray, value: float = 0.0) -> None:
        """Lower the upper bound of columns ``cols`` to ``value`` (e.g. rule sizes out)."""
        cols = np.asarray(cols, np.int64)
        if not len(cols):
            return
        ub = np.concatenate(self.ub)  # a new array: copies keep theirs
        ub[cols] = np.minimum(ub[cols], value)
        self.ub = [ub]

    def arrays(self) -> tuple:
        def cat(parts, dt):
            return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

        A = sp.csc_matrix((cat(self.rows_v, float), (cat(self.rows_i, np.int64), cat(self.rows_j, np.int64))),
                          shape=(self.n_rows, self.n_cols))
        A.sum_duplicates()
        return (cat(self.cost, float), cat(self.lb, float), cat(self.ub, float), cat(self.integer, bool),
                A, cat(self.row_lo, float), cat(self.row_hi, float))

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of a bound, a row or integrality by ``x`` (0.0 when ``x`` is feasible); a
        row's violation is relative to its bound when that exceeds 1 in size."""
        _, lb, ub, integer, A, lo, hi = self.arrays()
        x = np.asarray(x, float)
        act = A @ x
        with np.errstate(invalid="ignore"):
            parts = [lb - x, x - ub, (lo - act) / np.maximum(1.0, np.abs(lo)),
                     (act - hi) / np.maximum(1.0, np.abs(hi)), np.abs(x - np.round(x))[integer]]
        parts = [np.nan_to_num(p, nan=0.0, posinf=0.0, neginf=0.0) for p in parts]
        return float(max((np.max(p, initial=0.0) for p in parts), default=0.0))

    def copy(self) -> MILP:
        m = MILP(sense=self.sense)
        for name in ("lb", "ub", "cost", "integer", "rows_i", "rows_j", "rows_v", "row_lo", "row_hi"):
            setattr(m, name, list(getattr(self, name)))
        m.n_cols, m.n_rows = self.n_cols, self.n_rows
        return m

    def set_objective(self, cost: np.ndarray, sense: int) -> None:
        """Replace the whole objective (length n_cols)."""
        cost = np.asarray(cost, float)
        self.cost = [cost.copy()]
        # keep lb/ub/integer block structure independent of cost blocks
        self.sense = sense


@dataclass(frozen=True)
class Solution:
    """Outcome of one solve."""

    x: np.ndarray | None
    objective: float
    bound: float
    status: Status
    gap: float
    seconds: float
    solver: str
    #: local-branching neighbourhoods searched (:func:`local_branching`); 0 for a plain solve
    searched: int = 0


def _gap(obj: float, bound: float) -> float:
    """Relative gap ``|obj − bound| / |obj|`` (HiGHS's definition); 0 when they agree within 1e-9, and
    infinite when the objective is 0 but the bound is not (e.g. a coverage stage that found nothing
    against a bound of 19,000 children: no finite relative figure says how far it is)."""
    if not (math.isfinite(obj) and math.isfinite(bound)):
        return math.inf
    if abs(obj - bound) <= 1e-9:
        return 0.0
    return abs(obj - bound) / abs(obj) if abs(obj) > 1e-9 else math.inf


def solve(model: MILP, *, solver: str = settings.DEFAULT_SOLVER, time_limit_s: float | None = None,
          mip_gap: float = settings.MIP_GAP, threads: int | None = None,
          start: np.ndarray | None = None, highs_options: Mapping[str, Any] | None = None) -> Solution:
    """Solve ``model``; raise :class:`SolverError` when the solver is missing or fails.

    ``start`` is a feasible solution handed to the solver as its first incumbent (MIP start), so a
    run stopped by the time limit never returns less than it.  ``highs_options`` are extra HiGHS
    options (ignored by CBC), e.g. ``{"mip_lp_solver": "ipx"}``.
    """
    solver = str(solver).lower()
    if solver not in SOLVERS:
        raise SolverError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if solver == "highs":
        sol = _solve_highs(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, start=start,
                           options=highs_options)
    else:
        sol = _solve_cbc(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, start=start)
    return _checked(model, sol, start)


def raise_bound(sol: Solution, lower: float, mip_gap: float) -> Solution:
    """``sol`` of a minimisation with its bound raised to ``lower`` (a valid bound known from
    elsewhere) where that is higher, its gap with it — and proven optimal when that gap is within
    ``mip_gap``."""
    if sol.x is None or not lower > sol.bound:
        return sol
    gap = min(sol.gap, _gap(sol.objective, lower))
    status = Status.OPTIMAL if sol.status == Status.TIME_LIMIT and gap <= mip_gap else sol.status
    return dataclasses.replace(sol, bound=lower, gap=gap, status=status)


def _binary_columns(model: MILP) -> np.ndarray:
    _, lb, ub, integer, *_ = model.arrays()
    return np.flatnonzero(integer & (lb >= 0) & (ub <= 1) & (ub > lb))


def neighbourhood(model: MILP, x: np.ndarray, k: int) -> MILP | None:
    """A copy of ``model`` holding only the plans within ``k`` flips of the binary columns of ``x``:
    ``Σ_{x_j=1} (1 − y_j) + Σ_{x_j=0} y_j ≤ k``; ``None`` without binary columns."""
    binary = _binary_columns(model)
    if not len(binary):
        return None
    on = np.asarray(x, float)[binary] > 0.5
    near = model.copy()
    near.add_row(binary, np.where(on, -1.0, 1.0), hi=float(k - on.sum()))
    return near


def local_branching(model: MILP, *, solver: str, time_limit_s: float, mip_gap: float, start: np.ndarray | None,
                    k: int = 4, first_share: float = 1 / 3, search_share: float = 1 / 3,
                    neighbourhood_s: float = 10.0, highs_options: Mapping[str, Any] | None = None,
                    resolve: bool = True, first: Solution | None = None) -> Solution:
    """Solve ``model`` in three steps, for a solver whose own search stalls on a plan close to the best
    (CBC on the bundled cost stages): the whole model for ``first_share`` of the time; then, while the
    plan improves and ``search_share`` of the time is not spent, the plans within ``k`` binary flips of
    the incumbent (local branching, Fischetti & Lodi, *Math. Program.* 98, 2003: one row
    ``Σ_{x̄_j=1} (1 − x_j) + Σ_{x̄_j=0} x_j ≤ k``), each for at most ``neighbourhood_s`` — a
    neighbourhood not searched through in that time is halved; then (``resolve``) the whole model
    again from the best plan, for the rest of the time.  Without ``resolve`` the search only polishes
    the plan of the first solve, whose bound stands.

    The bound is the better of the two whole-model solves' (a neighbourhood's bound holds for the
    neighbourhood only), and the plan the best found; it is proven optimal when that gap is within
    ``mip_gap``.  Without a time limit (the first solve then has no limit either), or when the first
    solve ends (optimal, infeasible, no plan), it is that solve's answer.  ``first``: that first solve, already run (its ``seconds`` count as spent).
    """
    timed = time_limit_s is not None and math.isfinite(time_limit_s)
    t0 = time.perf_counter()
    if first is None:
        first = solve(model, solver=solver, time_limit_s=max(1.0, first_share * time_limit_s) if timed else None,
                      mip_gap=mip_gap, start=start, highs_options=highs_options)
    else:
        t0 -= first.seconds
    if not timed or first.x is None or first.status != Status.TIME_LIMIT:
        return first
    best, obj, sense = first.x, first.objective, model.sense
    searched = 0
    while (time.perf_counter() - t0) < (first_share + search_share) * time_limit_s:
        near = neighbourhood(model, best, k)
        if near is None:
            break
        left = (first_share + search_share) * time_limit_s - (time.perf_counter() - t0)
        sol = solve(near, solver=solver, time_limit_s=max(1.0, min(neighbourhood_s, left)), mip_gap=mip_gap,
                    start=best, highs_options=highs_options)
        searched += 1
        if sol.x is not None and sense * (sol.objective - obj) < -1e-9 * max(1.0, abs(obj)):
            best, obj = sol.x, sol.objective  # better: search around it
        elif sol.status == Status.TIME_LIMIT and k > 1:
            k //= 2  # not searched through: a smaller neighbourhood
        else:
            break  # no better plan within k flips (or none found in the smallest)
    bounds, proven = [first.bound], False
    if resolve:
        left = max(1.0, time_limit_s - (time.perf_counter() - t0))
        last = solve(model, solver=solver, time_limit_s=left, mip_gap=mip_gap, start=best,
                     highs_options=highs_options)
        if last.x is not None and sense * (last.objective - obj) <= 0:
            best, obj = last.x, last.objective
        bounds.append(last.bound)
        proven = last.status == Status.OPTIMAL
    finite = [b for b in bounds if math.isfinite(b)]
    bound = (max(finite) if sense == 1 else min(finite)) if finite else first.bound
    gap = _gap(obj, bound)
    status = Status.OPTIMAL if proven or gap <= mip_gap else Status.TIME_LIMIT
    log.info("local branching: %d neighbourhood(s) (last of %d flips), %s → %s, bound %s", searched, k,
             first.objective, obj, bound)
    return Solution(x=np.asarray(best, float), objective=obj, bound=bound, status=status, gap=gap,
                    seconds=time.perf_counter() - t0, solver=first.solver, searched=searched)


def proven_start(model: MILP, start: np.ndarray | None, lower: float, mip_gap: float) -> Solution | None:
    """``start`` as the proven solution of a minimisation, without a solve, when it meets every row of
    ``model`` and its objective is within ``mip_gap`` of ``lower`` (a valid bound known from
    elsewhere); else ``None``."""
    if start is None or model.sense != 1 or not math.isfinite(lower):
        return None
    x = np.asarray(start, float)
    if model.violation(x) > _FEASIBLE_TOL:
        return None
    obj = float(model.arrays()[0] @ x)
    if obj < lower - 1e-6 * max(1.0, abs(lower)):
        # below a bound that should hold for every feasible point: trust neither, let the solver decide
        log.warning("a feasible start (objective %s) lies below the bound %s; solving the stage", obj, lower)
        return None
    gap = 0.0 if obj <= lower else _gap(obj, lower)
    if gap > mip_gap:
        return None
    return Solution(x=x, objective=obj, bound=min(lower, obj), status=Status.OPTIMAL, gap=gap, seconds=0.0,
                    solver="bound")


def _checked(model: MILP, sol: Solution, start: np.ndarray | None) -> Solution:
    """``sol`` if its solution meets every bound, row and integrality of ``model``; otherwise the MIP
    start when that does (``time_limit``: not proven), else no solution (``error``).  A solver's answer
    is never passed on unchecked: CBC 2.10 has returned, under a time limit, a "solution" of the
    bundled capacity-aware cost stage that costs less than its own bound and breaks rows."""
    if sol.x is None:
        return sol
    broken = model.violation(sol.x)
    if broken <= _FEASIBLE_TOL:
        return sol
    keep = start is not None and model.violation(start) <= _FEASIBLE_TOL
    log.warning("%s returned a solution that breaks the model (largest violation %.3g); %s", sol.solver,
                broken, "keeping the MIP start" if keep else "no solution")
    if keep:
        x = np.asarray(start, float)
        obj = float(model.arrays()[0] @ x)
        return dataclasses.replace(sol, x=x, objective=obj, status=Status.TIME_LIMIT, gap=_gap(obj, sol.bound))
    return dataclasses.replace(sol, x=None, objective=math.nan, status=Status.ERROR, gap=math.inf)


def complete_start(model: MILP, start: np.ndarray) -> np.ndarray:
    """The best completion of a MIP start for ``model``'s objective: its integer columns fixed (rounded),
    its continuous ones re-optimised by one LP (HiGHS; milliseconds).  A start found for another
    objective (the previous lexicographic stage) then enters the solver with the continuous part it
    would have chosen for this one, e.g. every coverage variable already at its best.  Returns
    ``start`` unchanged when the LP cannot be solved (no highspy, or not feasible)."""
    try:
        import highspy
    except ImportError:  # pragma: no cover - environment dependent
        return start
    start = np.asarray(start, float)
    c, lb, ub, integer, A, lo, hi = model.arrays()
    fixed = np.round(start)
    lp = (c, np.where(integer, fixed, lb), np.where(integer, fixed, ub), np.zeros(len(c), bool), A, lo, hi)
    answer = _run_here(highspy, _highs_job(lp, model.sense, {}))
    if _highs_status(highspy, getattr(highspy.HighsModelStatus, answer["status"])) != Status.OPTIMAL:
        return start
    x = np.asarray(answer["x"], float)
    x[integer] = fixed[integer]
    return x


def cpsat_plan(model: MILP, *, time_limit_s: float, mip_gap: float = settings.MIP_GAP,
               workers: int | None = None) -> np.ndarray | None:
    """A good solution of ``model`` from OR-Tools' CP-SAT, to hand to HiGHS as its MIP start.

    CP-SAT (through ``ortools.linear_solver.python.model_builder``: the arrays in one call) searches
    with ``workers`` parallel strategies and stops at ``mip_gap`` or ``time_limit_s``.  Its answer
    is then cleaned and checked like every solver answer: integer columns rounded, continuous ones
    re-optimised by one HiGHS LP (:func:`complete_start`), and kept only when it meets every bound,
    row and integrality of ``model`` (:meth:`MILP.violation`).  Nothing CP-SAT says about optimality
    is reported: it is a heuristic here, HiGHS proves.

    Returns
    -------
    numpy.ndarray or None
        The checked solution, or None (no solution in time, OR-Tools missing, or a broken answer).
    """
    try:
        from ortools.linear_solver.python import model_builder as mb
    except ImportError:  # pragma: no cover - environment dependent
        log.warning("settings.PLAN_MILP['cpsat_start'] asks for CP-SAT, but OR-Tools is not installed "
                    "(pip install \"tuoyu-geo[cpsat]\"): HiGHS starts without it")
        return None
    c, lb, ub, integer, A, lo, hi = model.arrays()
    t = time.perf_counter()
    try:
        m = mb.Model()
        m.helper.fill_model_from_sparse_data(lb, ub, c * model.sense, lo, hi, A.tocsr())
        for k in np.flatnonzero(integer):
            m.helper.set_var_integrality(int(k), True)
        solver = mb.Solver("sat")
        solver.set_time_limit_in_seconds(max(float(time_limit_s), 0.1))
        n = int(workers if workers is not None else settings.CPSAT_WORKERS)
        solver.set_solver_specific_parameters(f"relative_gap_limit:{float(mip_gap)!r},num_workers:{max(1, n)}")
        status = solver.solve(m)
        x = (solver.values(m.get_variables()).to_numpy(dtype=float)
             if status in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE) else None)
    except Exception as exc:  # a heuristic: whatever goes wrong in OR-Tools, HiGHS starts without it
        log.warning("CP-SAT failed (%s: %s); HiGHS starts without its plan", type(exc).__name__, exc)
        return None
    seconds = time.perf_counter() - t
    if x is None:
        log.info("CP-SAT: no solution (%s) in %.1f s", status.name, seconds)
        return None
    x = complete_start(model, x)
    broken = model.violation(x)
    if broken > _FEASIBLE_TOL:
        log.warning("CP-SAT returned a solution that breaks the model (largest violation %.3g); not used", broken)
        return None
    log.info("CP-SAT: objective %.6g (%s) in %.1f s", float(c @ x), status.name, seconds)
    return x


def _quiet_highs(highspy):
    """A Highs object, built with file descriptor 1 pointed at /dev/null: the constructor prints its
    banner to stdout before any option (``output_flag``) can be set."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _highs_job(arrays: tuple, sense: int, options: Mapping[str, Any], start: np.ndarray | None = None) -> dict:
    """A :func:`run_job` job of the arrays ``(c, lb, ub, integer, A, lo, hi)`` of a model of ``sense``
    (column-wise matrix, always minimising)."""
    c, lb, ub, integer, A, lo, hi = arrays
    A = A.tocsc()
    return {"c": c * sense, "lb": lb, "ub": ub, "lo": lo, "hi": hi, "integer": integer, "shape": A.shape,
            "indptr": A.indptr, "indices": A.indices, "data": A.data, "options": dict(options),
            "start": None if start is None else np.asarray(start, float), "log": log.isEnabledFor(logging.DEBUG)}


def _run_here(highspy, job: dict) -> dict:
    """:func:`run_job` in this process, HiGHS's log to this module's logger at DEBUG (never to stdout)."""
    return run_job(highspy, job, _quiet_highs, (lambda line: log.debug("HiGHS: %s", line)) if job["log"] else None)


def _highs_status(highspy, ms) -> Status:
    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        return Status.OPTIMAL
    if ms in (S.kTimeLimit, S.kInterrupt, S.kIterationLimit, S.kSolutionLimit):
        return Status.TIME_LIMIT
    if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return Status.INFEASIBLE
    return Status.UNBOUNDED if ms == S.kUnbounded else Status.ERROR


def _solve_highs(model: MILP, *, time_limit_s, mip_gap, threads, start=None, options=None) -> Solution:
    try:
        import highspy
    except ImportError as e:  # pragma: no cover - environment dependent
        raise SolverError(f"HiGHS (highspy) is not installed: {e}\n  fix: {_FIX_INSTALL}") from e
    arrays = model.arrays()
    c, integer, A = arrays[0], arrays[3], arrays[4]
    opts: dict[str, Any] = {"mip_rel_gap": float(mip_gap), "mip_abs_gap": 1e-9}
    if time_limit_s is not None:
        opts["time_limit"] = float(time_limit_s)
    if threads:
        opts["threads"] = int(threads)
    opts.update(options or {})
    job = _highs_job(arrays, model.sense, opts, start)
    t0 = time.perf_counter()
    if integer.any() and time_limit_s is not None and _use_worker():
        answer = _worker().run(job, deadline_s=time_limit_s + settings.HIGHS_WORKER_GRACE_S
                               + 0.1 * time_limit_s)
        for line in answer.get("log", ()) if answer else ():
            log.debug("HiGHS: %s", line)
    else:
        answer = _run_here(highspy, job)
    secs = time.perf_counter() - t0
    if answer is None:
        return _stopped(model, start, time_limit_s, secs)
    status = _highs_status(highspy, getattr(highspy.HighsModelStatus, answer["status"]))
    has_sol, x = answer["has_solution"], answer["x"]
    obj = float(c @ x) if has_sol else math.nan
    if has_sol and start is not None and abs(obj * model.sense - answer["objective"]) > 1e-6 * max(1.0, abs(obj)):
        # HiGHS 1.16 can report the optimum but hand back the MIP start as its solution (seen when
        # presolve removes the whole model): solve again without the start
        log.warning("HiGHS returned a solution (objective %s) that is not its optimum (%s); solving again "
                    "without the MIP start", obj, answer["objective"] * model.sense)
        return _solve_highs(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, start=None,
                            options=options)
    bound = answer["dual_bound"] * model.sense if answer["is_mip"] else obj
    gap = _gap(obj, bound) if has_sol else math.inf
    log.info("HiGHS: %s obj=%s bound=%s gap=%.2e in %.2f s (%d×%d, %d nz)", status, obj, bound,
             gap, secs, A.shape[0], A.shape[1], A.nnz)
    return Solution(x=x, objective=obj, bound=bound, status=status, gap=gap, seconds=secs, solver="highs")


def _stopped(model: MILP, start: np.ndarray | None, time_limit_s: float, secs: float) -> Solution:
    """A HiGHS run stopped at its deadline (:class:`_HighsWorker`): not proven, no bound; its plan is the
    MIP start when that meets the model, else none."""
    log.warning("HiGHS had not stopped %.0f s after its %.0f s time limit; its process was stopped (HiGHS 1.16 "
                "can loop in its presolve), and %s", secs - time_limit_s, time_limit_s,
                "the MIP start is returned, not proven" if start is not None else "no solution is returned")
    x = None if start is None else np.asarray(start, float)
    if x is not None and model.violation(x) > _FEASIBLE_TOL:
        x = None
    obj = float(model.arrays()[0] @ x) if x is not None else math.nan
    # no bound: −∞ for a minimisation, +∞ for a maximisation
    return Solution(x=x, objective=obj, bound=-math.inf * model.sense, status=Status.TIME_LIMIT, gap=math.inf,
                    seconds=secs, solver="highs")


def _use_worker() -> bool:
    """Whether HiGHS MIP solves run in a worker process (``settings.HIGHS_WORKER``: True, False or "auto"
    = on POSIX, where a pipe can be waited on with a deadline, and not inside a daemonic process, which
    may not start children — e.g. a Dask worker)."""
    flag = settings.HIGHS_WORKER
    if flag == "auto":
        import multiprocessing

        return os.name == "posix" and bool(sys.executable) and not multiprocessing.current_process().daemon
    return bool(flag)


#: what to do when the worker cannot run: something the CLI user can do, then the Python switch
_FIX_WORKER = ("retry with --solver cbc (solver='cbc'), or in Python set tuoyu_geo.settings.HIGHS_WORKER = False "
               "to solve HiGHS in this process")


class _HighsWorker:
    """A ``_highs_worker.py`` process that solves one job at a time (:func:`run_job`), started on
    first use and reused; stopped and restarted when it does not answer by a job's deadline."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        # the worker imports what this process imports (its sys.path: user site, PYTHONPATH, editable
        # installs), without the working directory or the worker's own folder, whose modules
        # (tuoyu_geo's) must not shadow others
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_highs_worker.py")
        boot = "import runpy, sys; sys.path[:] = sys.argv[2:]; runpy.run_path(sys.argv[1], run_name='__main__')"
        return subprocess.Popen([sys.executable, "-c", boot, script, *[p for p in sys.path if p]],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def run(self, job: dict, *, deadline_s: float) -> dict | None:
        """The worker's answer to ``job``, or None when it has not answered within ``deadline_s`` (it is
        then stopped).  Raises SolverError when the worker fails or ends."""
        if self.proc is None or self.proc.poll() is not None:
            try:
                self.proc = self._start()
            except OSError as e:
                raise SolverError(f"could not start the HiGHS worker process ({e})\n  fix: {_FIX_WORKER}") from e
        t_end = time.monotonic() + deadline_s
        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(HEADER.pack(len(data)) + data)
            self.proc.stdin.flush()
            head = self._read(HEADER.size, t_end)
            body = None if head is None else self._read(HEADER.unpack(head)[0], t_end)
        except (BrokenPipeError, EOFError) as e:
            code = self.stop()
            raise SolverError(f"the HiGHS worker process ended (exit code {code}) during a solve\n  fix: {_FIX_WORKER}"
                              ) from e
        except BaseException:
            self.stop()  # interrupted (e.g. Ctrl-C) mid-exchange: its answer must not reach the next job
            raise
        if body is None:  # past the deadline
            self.stop()
            return None
        answer = pickle.loads(body)
        if "error" in answer:
            raise SolverError(f"HiGHS failed: {answer['error'].strip().splitlines()[-1]}\n  fix: try solver='cbc' "
                              "(--solver cbc), or set tuoyu_geo.settings.HIGHS_WORKER = False to see the error here")
        return answer

    def _read(self, n: int, t_end: float) -> bytes | None:
        """``n`` bytes from the worker, or None at ``t_end``; EOFError when it closes its end."""
        fd, out = self.proc.stdout.fileno(), b""
        while len(out) < n:
            left = t_end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, min(n - len(out), 1 << 20))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def __del__(self) -> None:
        self.stop()

    def stop(self) -> int | None:
        """Stop the worker (if running); returns its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        with contextlib.suppress(OSError):
            proc.kill()
        code = proc.wait()
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        return code


_WORKERS = threading.local()
#: every live worker (weakly: a thread's worker is stopped when the thread ends, :meth:`_HighsWorker.__del__`)
_ALL_WORKERS: weakref.WeakSet = weakref.WeakSet()


def _worker() -> _HighsWorker:
    """This thread's HiGHS worker (one per thread: solves from several threads run side by side)."""
    w = getattr(_WORKERS, "worker", None)
    if w is None:
        w = _WORKERS.worker = _HighsWorker()
        _ALL_WORKERS.add(w)
    return w


@atexit.register
def _stop_workers() -> None:
    for w in list(_ALL_WORKERS):
        w.stop()


_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_NUM = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan))"


def _cbc_problem(pulp, model: MILP):
    """The model as a PuLP problem; returns (problem, variables, objective vector)."""
    c, lb, ub, integer, A, lo, hi = model.arrays()
    prob = pulp.LpProblem("m", pulp.LpMinimize if model.sense == 1 else pulp.LpMaximize)
    xs = [pulp.LpVariable(f"x{k}", lowBound=float(lb[k]) if np.isfinite(lb[k]) else None,
                          upBound=float(ub[k]) if np.isfinite(ub[k]) else None,
                          cat=pulp.LpInteger if integer[k] else pulp.LpContinuous) for k in range(len(c))]
    prob.setObjective(pulp.LpAffineExpression([(xs[k], float(c[k])) for k in np.flatnonzero(c)]))
    R = A.tocsr()
    for r in range(R.shape[0]):
        s, e = R.indptr[r], R.indptr[r + 1]
        expr = pulp.LpAffineExpression([(xs[k], float(v)) for k, v in zip(R.indices[s:e], R.data[s:e], strict=True)])
        if lo[r] == hi[r]:
            prob.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintEQ, rhs=float(lo[r])), f"r{r}")
            continue
        if np.isfinite(lo[r]):
            prob.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintGE, rhs=float(lo[r])), f"r{r}l")
        if np.isfinite(hi[r]):
            prob.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintLE, rhs=float(hi[r])), f"r{r}u")
    return prob, xs, c


def _run_cbc(pulp, prob, xs, *, time_limit_s, mip_gap, threads, start) -> tuple[str, float]:
    """Solve with CBC; return (CBC's log text, seconds)."""
    fd, logpath = tempfile.mkstemp(prefix="tuoyu_cbc_", suffix=".log")
    os.close(fd)
    try:
        if start is not None:
            for v, val in zip(xs, np.asarray(start, float), strict=True):
                if v.cat == pulp.LpInteger:  # CBC's MIP start uses the integer columns
                    v.setInitialValue(round(val))
        cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, gapRel=mip_gap, logPath=logpath,
                                threads=threads, warmStart=start is not None)
        if not cmd.available():
            raise SolverError(f"CBC binary not available at {cmd.path}\n  fix: {_FIX_INSTALL}")
        t0 = time.perf_counter()
        try:
            prob.solve(cmd)
        except pulp.PulpSolverError as e:
            raise SolverError(f"CBC failed: {e}\n  fix: {_FIX_INSTALL}") from e
        secs = time.perf_counter() - t0
        with open(logpath, encoding="utf-8", errors="replace") as fh:
            return fh.read(), secs
    finally:
        with contextlib.suppress(OSError):
            os.remove(logpath)


def _cbc_status(pulp, prob, result: str, text: str = "") -> Status:
    r, sol = result.lower(), prob.sol_status
    timed_out = "Exiting on maximum time" in text or "stopped on time" in r
    if "infeasible" in r or prob.status == pulp.LpStatusInfeasible:
        # stopped by the time limit before any solution: not a proof of infeasibility
        return Status.TIME_LIMIT if timed_out else Status.INFEASIBLE
    if "unbounded" in r or prob.status == pulp.LpStatusUnbounded:
        return Status.UNBOUNDED
    if sol == pulp.LpSolutionOptimal and r.startswith("optimal"):
        return Status.OPTIMAL
    if "stopped" in r or sol == pulp.LpSolutionIntegerFeasible:
        return Status.TIME_LIMIT
    if sol == pulp.LpSolutionOptimal and prob.status == pulp.LpStatusOptimal:
        return Status.OPTIMAL
    return Status.ERROR


#: largest violation of a bound, row (relative to its bound) or integrality for a solution to count as
#: feasible: HiGHS's optimal capacity-aware plan has a flow at −9.4e-7 (its tolerances apply to the
#: scaled model); the bad CBC answers broke rows by whole units
_FEASIBLE_TOL = 1e-5


def _cbc_distrust(text: str, status: Status, bound: float) -> tuple[Status, float]:
    """CBC 2.10 can give up on an LP at the root ("Cbc0006I The LP relaxation is infeasible or too
    expensive") and still end with "Optimal solution found" — seen on a capacity-aware coverage stage
    that it called optimal at 1,860.2 children while 1,862.3 are feasible.  Such a run is not proven:
    it becomes ``time_limit`` with the LP relaxation ("Continuous objective value is …", a valid bound
    in the model's sense) as its bound, so the gap shows how far it may be."""
    if status != Status.OPTIMAL or "Cbc0006I" not in text:
        return status, bound
    m = re.search(r"Continuous objective value is\s+" + _CBC_NUM, text)
    log.warning("CBC abandoned an LP relaxation at the root and still reported optimal; not counted as proven")
    return Status.TIME_LIMIT, float(m.group(1)) if m else math.nan


def _solve_cbc(model: MILP, *, time_limit_s, mip_gap, threads, start=None) -> Solution:
    try:
        import pulp
    except ImportError as e:  # pragma: no cover
        raise SolverError(f"PuLP (CBC) is not installed: {e}\n  fix: {_FIX_INSTALL}") from e
    prob, xs, c = _cbc_problem(pulp, model)
    text, secs = _run_cbc(pulp, prob, xs, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads,
                          start=start)
    log.debug("CBC log:\n%s", text)
    res = _CBC_RESULT.search(text)
    result = res.group(1).strip() if res else ""
    status = _cbc_status(pulp, prob, result, text)
    has_sol = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    x = np.array([v.varValue if v.varValue is not None else 0.0 for v in xs], float) if has_sol else None
    obj = float(c @ x) if has_sol else math.nan
    m_bnd = re.search(r"(?:Lower|Upper) bound:\s+" + _CBC_NUM, text)  # in the model's own sense
    bound = float(m_bnd.group(1)) if (m_bnd and has_sol) else (obj if status == Status.OPTIMAL else math.nan)
    status, bound = _cbc_distrust(text, status, bound)
    if status == Status.INFEASIBLE and start is not None and model.violation(start) <= _FEASIBLE_TOL:
        # CBC 2.10 can lose a model in its preprocessing (huge dual infeasibilities when it undoes it)
        # and call it "proven infeasible" although it has just accepted the MIP start: seen on the
        # bundled capacity-aware cost stage.  The start is feasible, so the stage is not infeasible.
        log.warning("CBC called a model infeasible that its MIP start satisfies; keeping the start, not proven")
        m_lp = re.search(r"Continuous objective value is\s+" + _CBC_NUM, text)
        x, obj, has_sol = np.asarray(start, float), float(c @ start), True
        status, bound = Status.TIME_LIMIT, float(m_lp.group(1)) if m_lp else math.nan
    gap = _gap(obj, bound) if has_sol and math.isfinite(bound) else (0.0 if status == Status.OPTIMAL else math.inf)
    log.info("CBC: %s (%s) obj=%s gap=%s in %.2f s", status, result, obj, gap, secs)
    return Solution(x=x, objective=obj, bound=bound, status=status, gap=gap, seconds=secs, solver="cbc")
