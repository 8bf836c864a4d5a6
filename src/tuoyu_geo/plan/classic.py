"""Private: classic facility-location models (LSCP, MCLP, p-median, capacitated coverage) and the
OR-Library p-median reader.  Public names are re-exported by :mod:`tuoyu_geo.optimize`."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .. import settings
from .._errors import DataError, InfeasiblePlanError, SolverError
from ..solvers import MILP, Solution, solve

log = logging.getLogger("tuoyu_geo.optimize")


@dataclass(frozen=True, eq=False)
class ModelResult:
    """Result of a classic location model.

    Attributes
    ----------
    model : str
        ``"lscp"``, ``"mclp"``, ``"p_median"`` or ``"capacitated_coverage"``.
    selected : numpy.ndarray
        Sorted indices (columns of the cost matrix) of the chosen facilities.
    objective : float
        Objective value of the returned solution (facilities for LSCP, covered weight for MCLP and
        the capacitated variant, total weighted cost for p-median).
    status : str
        ``"optimal"`` (proven within ``mip_gap``) or ``"time_limit"`` (best plan found when the time
        limit stopped the solver; see ``gap``).
    gap : float
        Relative gap between the returned objective and the solver's best bound.
    solve_seconds, build_seconds : float
        Wall-clock time spent in the solver, and building the model.
    assignment : numpy.ndarray
        Client → facility index (the nearest selected facility within the radius for coverage models,
        the allocated facility for p-median, the facility serving most of the client's weight for
        the capacitated variant), ``-1`` if none.
    covered_weight, n_uncovered, percent_covered : float, int, float or None
        Coverage summary (MCLP, capacitated coverage; also filled for LSCP).
    bound : float
        Solver's best bound on the objective.
    solver : str
        ``"highs"`` or ``"cbc"``.
    """

    model: str
    selected: np.ndarray
    objective: float
    status: str
    gap: float
    solve_seconds: float
    assignment: np.ndarray
    covered_weight: float | None = None
    n_uncovered: int | None = None
    percent_covered: float | None = None
    bound: float = math.nan
    build_seconds: float = 0.0
    solver: str = settings.DEFAULT_SOLVER

    def __repr__(self) -> str:
        return (f"ModelResult({self.model}: {len(self.selected)} facilities, objective={self.objective:.6g}, "
                f"status={self.status}, gap={self.gap:.2e}, {self.solve_seconds:.2f} s)")


# ------------------------------------------------------------------------------------ helpers

def _as_cost(cost) -> sp.csr_matrix | np.ndarray:
    if sp.issparse(cost):
        return sp.csr_matrix(cost)
    a = np.asarray(cost, float)
    if a.ndim != 2:
        raise DataError(f"cost must be a 2-D clients × facilities matrix, got shape {a.shape}",
                        file="cost", fix="pass a numpy array or scipy.sparse matrix (clients × facilities)")
    return a


def _pairs_within(cost, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(client, facility, cost) of every pair with cost ≤ radius.  For sparse input only stored pairs
    count (explicit zeros included: a stored 0 is a pair at distance 0)."""
    if sp.issparse(cost):
        coo = cost.tocoo()
        keep = coo.data <= radius
        return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep]
    i, j = np.nonzero(np.asarray(cost) <= radius)
    return i.astype(np.int64), j.astype(np.int64), np.asarray(cost)[i, j]


def _weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, float).ravel()
    if w.shape != (n,):
        raise DataError(f"weights has {w.size} values but the cost matrix has {n} clients", file="weights",
                        fix="pass one weight per row of the cost matrix")
    if (w < 0).any() or not np.isfinite(w).all():
        raise DataError("weights must be finite and non-negative", file="weights")
    return w


def _predef(predefined, n_fac: int) -> np.ndarray:
    if predefined is None:
        return np.zeros(0, np.int64)
    p = np.asarray(predefined)
    if p.dtype == bool:
        if p.shape != (n_fac,):
            raise DataError("boolean predefined mask must have one value per facility", file="predefined")
        return np.flatnonzero(p)
    p = np.unique(p.astype(np.int64))
    if len(p) and (p.min() < 0 or p.max() >= n_fac):
        raise DataError(f"predefined facility indices out of range 0..{n_fac - 1}: "
                        f"{[int(v) for v in p if v < 0 or v >= n_fac]}", file="predefined")
    return p


def _check(sol: Solution, model: str) -> None:
    if sol.x is None:
        if sol.status == "infeasible":
            raise InfeasiblePlanError([("model", model, "the solver proved the model infeasible")])
        raise SolverError(f"{model}: the {sol.solver} solver returned no feasible solution (status "
                          f"{sol.status} after {sol.seconds:.1f} s)\n  fix: raise time_limit_s or try the "
                          f"other solver (solver='cbc' / 'highs')")


def _nearest_selected(ci, fj, d, open_mask: np.ndarray, n_clients: int) -> np.ndarray:
    """For each client the selected facility with the least cost among pairs (ci, fj, d); -1 if none."""
    keep = open_mask[fj]
    ci, fj, d = ci[keep], fj[keep], d[keep]
    out = np.full(n_clients, -1, np.int64)
    if len(ci):
        order = np.lexsort((fj, d, ci))  # by client, then cost, then index
        ci_o = ci[order]
        first = np.r_[True, ci_o[1:] != ci_o[:-1]]
        out[ci_o[first]] = fj[order][first]
    return out


def _result(model, sol, sel, objective, assignment, build_s, **extra) -> ModelResult:
    return ModelResult(model=model, selected=np.sort(sel).astype(np.int64), objective=float(objective),
                       status=sol.status, gap=float(sol.gap), solve_seconds=float(sol.seconds),
                       assignment=assignment, bound=float(sol.bound), build_seconds=float(build_s),
                       solver=sol.solver, **extra)


def _greedy_cover(ci: np.ndarray, fj: np.ndarray, w: np.ndarray, pre: np.ndarray, p: int, n: int,
                  m: int, *, allowed: np.ndarray | None = None) -> np.ndarray:
    """Greedy MCLP selection (the predefined facilities, then each time the facility covering the most
    still-uncovered weight; ties to the smaller index): the MIP start of :func:`mclp`, so that a run
    cut off by the time limit returns at least this."""
    A = sp.csc_matrix((np.ones(len(ci)), (ci, fj)), shape=(n, m))
    chosen = list(pre)
    uncovered = np.ones(n, bool)
    for j in pre:
        uncovered[A.indices[A.indptr[j]:A.indptr[j + 1]]] = False
    free = np.ones(m, bool) if allowed is None else np.isin(np.arange(m), allowed)
    free[pre] = False
    while len(chosen) < p:
        gains = A.T @ (w * uncovered)
        gains[~free] = -1.0
        j = int(np.argmax(gains))
        chosen.append(j)
        free[j] = False
        uncovered[A.indices[A.indptr[j]:A.indptr[j + 1]]] = False
    return np.asarray(chosen, np.int64)


def _mclp_reduction(ci: np.ndarray, fj: np.ndarray, w: np.ndarray, pre: np.ndarray, p: int,
                    m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact reductions of an MCLP before solving.

    * Clients with the same set of facilities in reach are one row weighted by their sum (a client
      is covered exactly when any facility of its set is open, so they are covered together).
    * A facility whose set of clients in reach is contained in another's (equal sets: the larger
      index) is dominated and not offered, unless it is predefined or fewer than ``p`` facilities
      would remain (then the dominated ones with the most reach are kept, enough to open ``p``).
      Any optimum opening a dominated facility stays optimal with it swapped for its dominator, or
      — when that is open already — for any facility not yet open: coverage never falls.

    Returns
    -------
    group : ndarray
        Per client of ``ci`` order: its row (clients with no pair are absent); -1 unused.
    weights : ndarray
        Weight of each row.
    facilities : ndarray
        Facilities offered (sorted).
    """
    n = int(ci.max()) + 1 if len(ci) else 0
    A = sp.csr_matrix((np.ones(len(ci)), (ci, fj)), shape=(n, m))
    A.sum_duplicates()
    A.sort_indices()
    group = np.full(n, -1, np.int64)
    rows: dict[bytes, int] = {}
    for i in np.flatnonzero(np.diff(A.indptr) > 0):
        group[i] = rows.setdefault(A.indices[A.indptr[i]:A.indptr[i + 1]].tobytes(), len(rows))
    gw = np.bincount(group[group >= 0], weights=w[:n][group >= 0], minlength=len(rows))
    B = sp.csr_matrix((np.ones(len(ci)), (fj, group[ci])), shape=(m, len(rows)))
    B.data[:] = 1.0
    size = np.asarray(B.sum(axis=1)).ravel()
    inter = (B @ B.T).tocoo()
    jj, kk, cnt = inter.row, inter.col, inter.data
    sub = (jj != kk) & (cnt >= size[jj] - 0.5) & ((size[kk] > size[jj] + 0.5) | (kk < jj))
    dominated = np.zeros(m, bool)
    dominated[jj[sub]] = True
    dominated[size == 0] = True
    dominated[pre] = False
    fac = np.flatnonzero(~dominated)
    if len(fac) < p:
        extra = np.flatnonzero(dominated)
        extra = extra[np.argsort(-size[extra], kind="stable")][: p - len(fac)]
        fac = np.sort(np.r_[fac, extra])
    return group, gw, fac


def _group_pairs(group: np.ndarray, ci: np.ndarray, fj: np.ndarray,
                 fac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, facility) pairs of the reduced MCLP: one per row and offered facility in reach."""
    ok = np.isin(fj, fac)
    pairs = np.unique(np.column_stack([group[ci[ok]], fj[ok]]), axis=0)
    return pairs[:, 0], pairs[:, 1]


# ------------------------------------------------------------------------------------ models

def lscp(cost, *, radius: float, predefined=None, solver: str = settings.DEFAULT_SOLVER, time_limit_s: float | None = None,
         mip_gap: float = settings.MIP_GAP) -> ModelResult:
    """Location set covering: fewest facilities so that every client has one within ``radius``.

    Parameters
    ----------
    cost : array_like or scipy.sparse matrix, shape (clients, facilities)
        Travel cost (e.g. metres).  For sparse input only stored pairs exist.
    radius : float
        Service radius, same unit as ``cost`` (a pair covers when cost ≤ radius).
    predefined : sequence of int or bool mask, optional
        Facilities that are already open (forced into the solution and counted in the objective).
    solver, time_limit_s, mip_gap
        ``"highs"`` or ``"cbc"``; time limit in seconds; relative optimality gap.

    Raises
    ------
    InfeasiblePlanError
        When some clients have no facility within ``radius`` (they are listed).
    """
    t0 = time.perf_counter()
    C = _as_cost(cost)
    n, m = C.shape
    ci, fj, d = _pairs_within(C, radius)
    lonely = np.setdiff1d(np.arange(n), ci)
    if len(lonely):
        raise InfeasiblePlanError([("clients", "LSCP coverage",
                                    f"{len(lonely)} client(s) have no facility within {radius}: rows "
                                    f"{lonely[:20].tolist()}")], fix="increase radius or add candidate facilities")
    pre = _predef(predefined, m)
    lb = np.zeros(m)
    lb[pre] = 1
    mdl = MILP(sense=1)
    y = mdl.add_vars(m, lb=lb, ub=1, integer=True, cost=1.0)
    mdl.add_rows(ci, y[fj], 1.0, n, lo=1.0)
    build = time.perf_counter() - t0
    sol = solve(mdl, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    _check(sol, "lscp")
    open_ = sol.x[y] > 0.5
    assign = _nearest_selected(ci, fj, d, open_, n)
    return _result("lscp", sol, np.flatnonzero(open_), open_.sum(), assign, build,
                   covered_weight=float(n), n_uncovered=int((assign < 0).sum()),
                   percent_covered=100.0 * float((assign >= 0).mean()) if n else 100.0)


def mclp(cost, weights, *, p: int, radius: float, predefined=None, solver: str = settings.DEFAULT_SOLVER,
         time_limit_s: float | None = None, mip_gap: float = settings.MIP_GAP) -> ModelResult:
    """Maximal covering location: open exactly ``p`` facilities to cover the most client weight.

    ``p`` counts the ``predefined`` facilities too (they are forced open), as in spopt.
    Formulation: max Σ w_i z_i, z_i ≤ Σ_{j: c_ij ≤ r} y_j, Σ y_j = p, y binary, z ∈ [0, 1] (integral
    at every optimum because y is).  Rows exist only for clients with at least one facility in reach;
    clients with the same facilities in reach share a row, and dominated facilities are not offered
    (:func:`_mclp_reduction`; both exact).
    """
    t0 = time.perf_counter()
    C = _as_cost(cost)
    n, m = C.shape
    w = _weights(weights, n)
    if not 0 <= p <= m:
        raise DataError(f"p={p} must be between 0 and the number of facilities ({m})", file="p")
    pre = _predef(predefined, m)
    if len(pre) > p:
        raise DataError(f"{len(pre)} predefined facilities exceed p={p}", file="predefined",
                        fix="raise p (it includes the predefined facilities)")
    ci, fj, d = _pairs_within(C, radius)
    keep = w[ci] > 0
    group, gw, fac = _mclp_reduction(ci[keep], fj[keep], w, pre, p, m)
    gi, gj = _group_pairs(group, ci[keep], fj[keep], fac)
    lb = np.zeros(m)
    lb[pre] = 1
    mdl = MILP(sense=-1)
    y = mdl.add_vars(m, lb=lb, ub=np.isin(np.arange(m), fac).astype(float), integer=True)
    z = mdl.add_vars(len(gw), lb=0, ub=1, cost=gw)
    mdl.add_rows(np.r_[np.arange(len(gw)), gi], np.r_[z, y[gj]],
                 np.r_[np.ones(len(gw)), -np.ones(len(gi))], len(gw), hi=0.0)
    mdl.add_row(y, 1.0, lo=p, hi=p)
    start = np.zeros(mdl.n_cols)
    g = _greedy_cover(gi, gj, gw, pre, p, len(gw), m, allowed=fac)
    start[y[g]] = 1.0
    start[z[np.unique(gi[np.isin(gj, g)])]] = 1.0
    build = time.perf_counter() - t0
    sol = solve(mdl, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap, start=start,
                highs_options=settings.COVERING_HIGHS_OPTIONS)
    _check(sol, "mclp")
    open_ = sol.x[y] > 0.5
    assign = _nearest_selected(ci, fj, d, open_, n)
    covered = assign >= 0
    cw = float(w[covered].sum())
    tot = float(w.sum())
    return _result("mclp", sol, np.flatnonzero(open_), cw, assign, build, covered_weight=cw,
                   n_uncovered=int((~covered).sum()), percent_covered=100.0 * cw / tot if tot > 0 else 100.0)


def p_median(cost, weights, *, p: int, solver: str = settings.DEFAULT_SOLVER, time_limit_s: float | None = None,
             mip_gap: float = settings.MIP_GAP) -> ModelResult:
    """p-median: open ``p`` facilities minimising Σ w_i c_ij over each client's allocated facility.

    Formulation (Revelle–Swain): Σ_j x_ij = 1, x_ij ≤ y_j, Σ y_j = p, x ≥ 0, y binary.  For sparse
    ``cost`` only stored pairs may be allocated.
    """
    t0 = time.perf_counter()
    C = _as_cost(cost)
    n, m = C.shape
    w = _weights(weights, n)
    if not 1 <= p <= m:
        raise DataError(f"p={p} must be between 1 and the number of facilities ({m})", file="p")
    ci, fj, d = _pairs_within(C, np.inf)
    fin = np.isfinite(d)
    ci, fj, d = ci[fin], fj[fin], d[fin]
    lonely = np.setdiff1d(np.arange(n), ci)
    if len(lonely):
        raise InfeasiblePlanError([("clients", "p-median allocation",
                                    f"{len(lonely)} client(s) have no reachable facility: rows {lonely[:20].tolist()}")])
    mdl = MILP(sense=1)
    y = mdl.add_vars(m, lb=0, ub=1, integer=True)
    x = mdl.add_vars(len(ci), lb=0, ub=1, cost=w[ci] * d)
    mdl.add_rows(ci, x, 1.0, n, lo=1.0, hi=1.0)
    k = np.arange(len(ci))
    mdl.add_rows(np.r_[k, k], np.r_[x, y[fj]], np.r_[np.ones(len(k)), -np.ones(len(k))], len(k), hi=0.0)
    mdl.add_row(y, 1.0, lo=p, hi=p)
    build = time.perf_counter() - t0
    sol = solve(mdl, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    _check(sol, "p_median")
    open_ = sol.x[y] > 0.5
    assign = _nearest_selected(ci, fj, d, open_, n)  # the optimal allocation is to the nearest open one
    obj = float(sum(w[i] * C[i, j] for i, j in enumerate(assign)))
    return _result("p_median", sol, np.flatnonzero(open_), obj, assign, build)


def capacitated_coverage(cost, weights, capacities, *, p: int, radius: float, solver: str = settings.DEFAULT_SOLVER,
                         time_limit_s: float | None = None, mip_gap: float = settings.MIP_GAP) -> ModelResult:
    """Capacitated maximal coverage: open ``p`` facilities and assign client weight to open facilities
    within ``radius`` up to each facility's capacity, maximising the weight assigned.

    Formulation: max Σ x_ij over pairs with c_ij ≤ r; Σ_j x_ij ≤ w_i; Σ_i x_ij ≤ cap_j·y_j; Σ y = p;
    x ≥ 0 continuous (weight can be split), y binary.  ``covered_weight`` is the assigned weight;
    ``assignment`` gives, per client, the facility taking most of its weight (-1 if none).
    """
    t0 = time.perf_counter()
    C = _as_cost(cost)
    n, m = C.shape
    w = _weights(weights, n)
    cap = np.asarray(capacities, float).ravel()
    if cap.shape != (m,) or (cap < 0).any():
        raise DataError("capacities must be one non-negative value per facility", file="capacities")
    if not 0 <= p <= m:
        raise DataError(f"p={p} must be between 0 and the number of facilities ({m})", file="p")
    ci, fj, d = _pairs_within(C, radius)
    keep = w[ci] > 0
    ci, fj, d = ci[keep], fj[keep], d[keep]
    mdl = MILP(sense=-1)
    y = mdl.add_vars(m, lb=0, ub=1, integer=True)
    x = mdl.add_vars(len(ci), lb=0, ub=w[ci], cost=1.0)
    mdl.add_rows(ci, x, 1.0, n, hi=w)
    mdl.add_rows(np.r_[fj, np.arange(m)], np.r_[x, y], np.r_[np.ones(len(x)), -cap], m, hi=0.0)
    mdl.add_row(y, 1.0, lo=p, hi=p)
    build = time.perf_counter() - t0
    sol = solve(mdl, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
    _check(sol, "capacitated_coverage")
    open_ = sol.x[y] > 0.5
    xv = np.where(open_[fj], sol.x[x], 0.0)
    assign = np.full(n, -1, np.int64)
    pos = xv > 1e-9
    if pos.any():
        order = np.lexsort((-xv[pos], ci[pos]))
        cc, ff = ci[pos][order], fj[pos][order]
        first = np.r_[True, cc[1:] != cc[:-1]]
        assign[cc[first]] = ff[first]
    served = np.bincount(ci, weights=xv, minlength=n)
    cw = float(served.sum())
    tot = float(w.sum())
    return _result("capacitated_coverage", sol, np.flatnonzero(open_), cw, assign, build, covered_weight=cw,
                   n_uncovered=int((served < w - 1e-6).sum()),
                   percent_covered=100.0 * cw / tot if tot > 0 else 100.0)


# ------------------------------------------------------------------------------------ OR-Library

def read_orlib_pmed(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an OR-Library p-median instance (Beasley 1985, ``pmedNN.txt``).

    Format: first line ``n_vertices n_edges p``; then ``n_edges`` lines ``i j cost`` (1-based,
    undirected).  A repeated edge's last occurrence counts.  Returns ``(distances, p)`` where
    ``distances`` is the dense n × n all-pairs shortest-path matrix (scipy.sparse.csgraph).
    """
    from scipy.sparse.csgraph import shortest_path

    p_ = Path(path)
    try:
        toks = p_.read_text().split()
    except OSError as e:
        raise DataError(f"cannot read {p_}: {e}", file=str(p_)) from e
    try:
        nv, ne, p = (int(t) for t in toks[:3])
        vals = np.array([int(float(t)) for t in toks[3:3 + 3 * ne]], np.int64).reshape(-1, 3)
    except (ValueError, IndexError) as e:
        raise DataError(f"not an OR-Library p-median file: {e}", file=str(p_),
                        fix="first line 'n_vertices n_edges p', then one 'i j cost' line per edge") from e
    if len(vals) != ne:
        raise DataError(f"expected {ne} edges, found {len(vals)}", file=str(p_))
    W = {}
    for i, j, c in vals:  # last occurrence wins, in either direction
        a, b = int(i) - 1, int(j) - 1
        if not (0 <= a < nv and 0 <= b < nv):
            raise DataError(f"edge ({i}, {j}) refers to a vertex outside 1..{nv}", file=str(p_))
        W[(min(a, b), max(a, b))] = float(c)
    rows = np.array([k[0] for k in W] + [k[1] for k in W])
    cols = np.array([k[1] for k in W] + [k[0] for k in W])
    data = np.array(list(W.values()) * 2)
    G = sp.csr_matrix((data, (rows, cols)), shape=(nv, nv))
    D = shortest_path(G, method="D", directed=False)
    # explicit zero-cost edges would vanish from csr; handle them: vertices joined by a 0 edge
    zero = [k for k, v in W.items() if v == 0]
    if zero:
        import networkx as nx
        g = nx.Graph()
        g.add_nodes_from(range(nv))
        g.add_weighted_edges_from((a, b, c) for (a, b), c in W.items())
        D = np.array(nx.floyd_warshall_numpy(g, weight="weight"))
    return D, p
