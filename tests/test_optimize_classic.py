"""Classic location models against brute force, OR-Library p-median optima, solver status/gap.

OR-Library instances: ``tests/data/orlib/pmed1.txt`` and ``pmed5.txt`` are Beasley's public files
(OR-Library, "pmed" p-median set).  pmed2, pmed3 and pmed4 could not be obtained in this offline
environment; their check is replaced by generated graph instances in the same format whose optimum
is found by brute force (``test_orlib_format_generated_bruteforce``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tuoyu_geo import InfeasiblePlanError, SolverError
from tuoyu_geo.optimize import capacitated_coverage, lscp, mclp, p_median, read_orlib_pmed

ORLIB = Path(__file__).parent / "data" / "orlib"
SOLVERS = ["highs", "cbc"]


def _instance(seed: int, n: int = 12, m: int = 7):
    rng = np.random.default_rng(seed)
    a, b = rng.random((n, 2)) * 10, rng.random((m, 2)) * 10
    cost = np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(1, 20, n).astype(float)
    return cost, w


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mclp_matches_brute_force(solver, seed):
    cost, w = _instance(seed)
    p, r = 2, 3.0
    best = max(w[(cost[:, list(s)] <= r).any(axis=1)].sum() for s in itertools.combinations(range(7), p))
    res = mclp(cost, w, p=p, radius=r, solver=solver)
    assert res.status == "optimal" and res.gap <= 1e-4
    assert res.covered_weight == pytest.approx(best)
    assert res.objective == pytest.approx(best)
    assert len(res.selected) == p
    cov = (cost[:, res.selected] <= r).any(axis=1)
    assert res.n_uncovered == int((~cov).sum())
    assert res.percent_covered == pytest.approx(100 * best / w.sum())
    # assignment: nearest selected facility within the radius, -1 otherwise
    for i in range(len(w)):
        if cov[i]:
            assert res.assignment[i] == res.selected[np.argmin(cost[i, res.selected])]
        else:
            assert res.assignment[i] == -1


def test_mclp_hand_instance_and_predefined():
    # client 0 near f0, clients 1-2 near f1, client 3 near f2; weights 5, 1, 1, 4
    cost = np.array([[0, 9, 9], [9, 1, 9], [9, 1, 9], [9, 9, 0]], float)
    w = [5, 1, 1, 4]
    assert mclp(cost, w, p=1, radius=2).selected.tolist() == [0]
    assert mclp(cost, w, p=2, radius=2).selected.tolist() == [0, 2]
    forced = mclp(cost, w, p=2, radius=2, predefined=[1])  # p counts the predefined facility
    assert forced.selected.tolist() == [0, 1] and forced.covered_weight == 7


def test_mclp_reduction_rows_and_dominated_facilities():
    """Clients 0 and 3 both reach only f0 and f1 → one row of weight 2 + 7 = 9; client 1 reaches f0
    only, client 2 reaches f2 only, client 4 (weight 0) is dropped.  f1 reaches {0, 3} ⊂ f0's
    {0, 1, 3}: dominated, not offered for p = 2 (optimum f0 + f2 covers 2 + 3 + 5 + 7 = 17), but
    kept for p = 3, where exactly three facilities must open (f0, f1, f2; still 17).  A predefined
    dominated facility (f1) is always offered."""
    from tuoyu_geo.plan.classic import _mclp_reduction

    r = 1.0
    cost = np.array([[0, 0, 9], [0, 9, 9], [9, 9, 0], [0, 0, 9], [0, 9, 9]], float)
    w = np.array([2, 3, 5, 7, 0], float)
    i, j = np.nonzero(cost <= r)
    keep = w[i] > 0
    group, gw, fac = _mclp_reduction(i[keep], j[keep], w, np.array([], np.int64), 2, 3)
    assert group[0] == group[3] and len({group[0], group[1], group[2]}) == 3
    assert sorted(gw.tolist()) == [3.0, 5.0, 9.0] and fac.tolist() == [0, 2]
    assert _mclp_reduction(i[keep], j[keep], w, np.array([], np.int64), 3, 3)[2].tolist() == [0, 1, 2]
    assert _mclp_reduction(i[keep], j[keep], w, np.array([1]), 2, 3)[2].tolist() == [0, 1, 2]
    two = mclp(cost, w, p=2, radius=r)
    assert two.selected.tolist() == [0, 2] and two.covered_weight == 17
    three = mclp(cost, w, p=3, radius=r)
    assert three.selected.tolist() == [0, 1, 2] and three.covered_weight == 17
    # f3, a copy of f2: equal sets keep the smaller index only (dropping both would lose client 2)
    dup = np.column_stack([cost, cost[:, 2]])
    assert _mclp_reduction(*np.nonzero(dup[:4] <= r), w, np.array([], np.int64), 2, 4)[2].tolist() == [0, 2]
    assert mclp(dup, w, p=2, radius=r).covered_weight == 17


def test_mclp_sparse_matches_dense():
    cost, w = _instance(5, 30, 10)
    dense = mclp(cost, w, p=3, radius=2.5)
    masked = np.where(cost <= 2.5, cost, 0)
    S = sp.csr_matrix(masked)
    S = sp.csr_matrix((cost[masked > 0], S.nonzero()), shape=cost.shape)
    sparse = mclp(S, w, p=3, radius=2.5)
    assert sparse.covered_weight == pytest.approx(dense.covered_weight)


def test_sparse_explicit_zero_is_a_pair():
    S = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([1]))), shape=(2, 2))
    assert S.nnz == 1  # explicit zero stored
    res = mclp(S, [3, 1], p=1, radius=10)
    assert res.selected.tolist() == [1] and res.covered_weight == 3


@pytest.mark.parametrize("solver", SOLVERS)
def test_lscp_brute_force(solver):
    cost, _ = _instance(3, 15, 8)
    r = 4.0
    best = next(k for k in range(1, 9) for s in itertools.combinations(range(8), k)
                if (cost[:, list(s)] <= r).any(axis=1).all())
    res = lscp(cost, radius=r, solver=solver)
    assert res.status == "optimal"
    assert res.objective == best and len(res.selected) == best
    assert (cost[:, res.selected] <= r).any(axis=1).all()
    assert (res.assignment >= 0).all()


def test_lscp_predefined_and_infeasible():
    cost = np.array([[0, 9, 9], [9, 0, 0]], float)
    assert lscp(cost, radius=1).objective == 2
    res = lscp(cost, radius=1, predefined=[1, 2])
    assert res.selected.tolist() == [0, 1, 2] and res.objective == 3
    with pytest.raises(InfeasiblePlanError, match="no facility within"):
        lscp(np.array([[0.0], [5.0]]), radius=1)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 4])
def test_p_median_brute_force(solver, seed):
    cost, w = _instance(seed, 10, 6)
    best = min((w * cost[:, list(s)].min(axis=1)).sum() for s in itertools.combinations(range(6), 2))
    res = p_median(cost, w, p=2, solver=solver)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, rel=1e-6)
    assert (res.assignment == np.array(res.selected)[np.argmin(cost[:, res.selected], axis=1)]).all()


def _brute_capacitated(cost, w, cap, p, r):
    from scipy.optimize import linprog

    best = 0.0
    n, m = cost.shape
    for s in itertools.combinations(range(m), p):
        pairs = [(i, j) for i in range(n) for j in s if cost[i, j] <= r]
        if not pairs:
            continue
        A, b = [], []
        for i in range(n):
            A.append([1.0 if pi == i else 0.0 for pi, _ in pairs])
            b.append(w[i])
        for j in s:
            A.append([1.0 if pj == j else 0.0 for _, pj in pairs])
            b.append(cap[j])
        lp = linprog(-np.ones(len(pairs)), A_ub=A, b_ub=b, bounds=(0, None), method="highs")
        best = max(best, -lp.fun)
    return best


@pytest.mark.parametrize("solver", SOLVERS)
def test_capacitated_coverage_brute_force(solver):
    cost, w = _instance(7, 10, 6)
    cap = np.array([10, 25, 8, 30, 12, 5], float)
    best = _brute_capacitated(cost, w, cap, 2, 4.0)
    res = capacitated_coverage(cost, w, cap, p=2, radius=4.0, solver=solver)
    assert res.status == "optimal"
    assert res.covered_weight == pytest.approx(best, rel=1e-6)


def test_capacitated_hand():
    # one facility of capacity 3 reaches both clients (weights 2 and 5): 3 units served
    res = capacitated_coverage(np.array([[1.0], [1.0]]), [2, 5], [3], p=1, radius=2)
    assert res.covered_weight == pytest.approx(3) and res.n_uncovered >= 1


# ------------------------------------------------------------------------------------ OR-Library

@pytest.mark.parametrize("name, optimum", [("pmed1", 5819), ("pmed5", 1355)])
@pytest.mark.parametrize("solver", SOLVERS)
def test_orlib_pmed(name, optimum, solver):
    D, p = read_orlib_pmed(ORLIB / f"{name}.txt")
    assert D.shape == (100, 100) and np.isfinite(D).all()
    res = p_median(D, np.ones(100), p=p, solver=solver)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(optimum)
    assert len(res.selected) == p


def test_orlib_reader_last_occurrence_and_shortest_paths(tmp_path):
    f = tmp_path / "toy.txt"
    # path 1-2-3 plus a repeated edge 1 3: first 100, then 4 (last one counts)
    f.write_text("3 4 1\n1 2 3\n2 3 3\n1 3 100\n3 1 4\n")
    D, p = read_orlib_pmed(f)
    assert p == 1
    assert D[0, 2] == 4 and D[2, 0] == 4 and D[0, 1] == 3 and D[1, 2] == 3


def test_orlib_reader_hand_median(tmp_path):
    f = tmp_path / "toy.txt"
    f.write_text("3 4 1\n1 2 3\n2 3 3\n1 3 100\n3 1 4\n")
    D, _ = read_orlib_pmed(f)
    assert p_median(D, np.ones(3), p=1).objective == 6  # vertex 2: 3 + 0 + 3


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_orlib_format_generated_bruteforce(tmp_path, seed):
    """Stand-in for pmed2–pmed4 (not obtainable offline): random graph in OR-Library format."""
    rng = np.random.default_rng(seed)
    n, p = 14, 3
    edges = [(i, i % n + 1, int(rng.integers(1, 50))) for i in range(1, n + 1)]  # ring keeps it connected
    edges += [(int(a), int(b), int(c)) for a, b, c in
              zip(rng.integers(1, n + 1, 20), rng.integers(1, n + 1, 20), rng.integers(1, 50, 20), strict=True) if a != b]
    f = tmp_path / "gen.txt"
    f.write_text(f"{n} {len(edges)} {p}\n" + "\n".join(f" {a} {b} {c} " for a, b, c in edges) + "\n")
    D, pp = read_orlib_pmed(f)
    # independent Floyd–Warshall with last-occurrence edge weights
    W = np.full((n, n), np.inf)
    np.fill_diagonal(W, 0)
    last = {}
    for a, b, c in edges:
        last[(min(a, b) - 1, max(a, b) - 1)] = c
    for (a, b), c in last.items():
        W[a, b] = W[b, a] = c
    for k in range(n):
        W = np.minimum(W, W[:, [k]] + W[[k], :])
    assert np.array_equal(D, W)
    best = min(D[:, list(s)].min(axis=1).sum() for s in itertools.combinations(range(n), pp))
    assert p_median(D, np.ones(n), p=pp).objective == pytest.approx(best)


# ------------------------------------------------------------------------------------ limits

@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limit_cuts_off_with_gap(solver):
    rng = np.random.default_rng(0)
    pts, fac = rng.random((3000, 2)) * 10000, rng.random((1000, 2)) * 10000
    from scipy.spatial import cKDTree

    C = cKDTree(pts).sparse_distance_matrix(cKDTree(fac), 500, output_type="coo_matrix").tocsr()
    w = rng.integers(1, 100, 3000)
    res = mclp(C, w, p=150, radius=500, solver=solver, time_limit_s=1)
    # the greedy cover (computed here independently, dense) is the MIP start: never worse than it,
    # even when the machine is loaded and the solver finds nothing better within the limit
    cover = C.toarray() <= 500
    cover[C.toarray() == 0] = False
    unc, greedy = np.ones(len(w), bool), 0.0
    for _ in range(150):
        gains = (w * unc) @ cover
        j = int(np.argmax(gains))
        greedy += gains[j]
        unc &= ~cover[:, j]
    assert res.objective >= greedy - 1e-6
    assert res.status == "time_limit"
    assert res.gap > 1e-4 and np.isfinite(res.gap)
    assert len(res.selected) == 150 and res.covered_weight > 0
    assert res.bound >= res.objective  # maximisation: bound above the incumbent
    assert res.solve_seconds < 15


def test_unknown_solver():
    with pytest.raises(SolverError, match="unknown solver"):
        mclp(np.zeros((1, 1)), [1], p=1, radius=1, solver="gurobi")


def test_no_highspy(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "highspy":
            raise ImportError("no highspy")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(SolverError, match="pip install highspy"):
        mclp(np.zeros((1, 1)), [1], p=1, radius=1, solver="highs")
