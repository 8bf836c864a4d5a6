"""HiGHS MIP solves in a worker process, stopped when they overrun their time limit.

HiGHS 1.16 loops for ever in its presolve on ``tests/data/highs_hang.npz`` (the 2-year plan's cost stage
with extra rows, HiGHS seed 2, RENS off, from its MIP start), ignoring its time limit and
``cancelSolve``; the worker process is what stops it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from tuoyu_geo import settings, solvers
from tuoyu_geo._errors import SolverError
from tuoyu_geo.solvers import MILP, Status

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the worker needs POSIX pipes (in-process there)")


def _knapsack() -> MILP:
    """max 5a + 4b + 3c  s.t.  2a + 2b + 2c ≤ 4, binary: two items fit, the best two are a and b → 9."""
    m = MILP(sense=-1)
    x = m.add_vars(3, ub=1, integer=True, cost=np.array([5.0, 4.0, 3.0]))
    m.add_row(x, np.array([2.0, 2.0, 2.0]), hi=4)
    return m


def _hang_model() -> tuple[MILP, np.ndarray]:
    z = np.load("tests/data/highs_hang.npz")
    A = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"])).tocoo()
    m = MILP(sense=1)
    m.add_vars(A.shape[1], lb=z["lb"], ub=z["ub"], cost=z["c"])
    m.integer = [z["integer"].astype(bool)]
    m.add_rows(A.row, A.col, A.data, A.shape[0], lo=z["lo"], hi=z["hi"])
    return m, z["start"]


def _in_thread(fn, wait_s: float):
    """Run ``fn`` in a new thread (so with a new worker: one per thread); its result and seconds, or
    fail when it has not returned within ``wait_s``."""
    out: dict = {}

    def run():
        t0 = time.perf_counter()
        try:
            out["value"] = fn()
        except Exception as e:  # re-raised below
            out["error"] = e
        out["seconds"] = time.perf_counter() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(wait_s)
    assert not th.is_alive(), f"the solve had not returned after {wait_s} s"
    if "error" in out:
        raise out["error"]
    return out["value"], out["seconds"]


@pytest.mark.parametrize("worker", [True, False])
def test_worker_and_in_process_give_the_hand_optimum(monkeypatch, worker):
    monkeypatch.setattr(settings, "HIGHS_WORKER", worker)
    sol = solvers.solve(_knapsack(), solver="highs", time_limit_s=10)
    assert sol.status == Status.OPTIMAL
    assert sol.objective == pytest.approx(9.0)
    assert np.round(sol.x).tolist() == [1.0, 1.0, 0.0]


def test_worker_forwards_the_highs_log(monkeypatch, caplog):
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    with caplog.at_level(logging.DEBUG, logger="tuoyu_geo.solvers"):
        _in_thread(lambda: solvers.solve(_knapsack(), solver="highs", time_limit_s=10), 30)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HiGHS: ")]
    assert any("Solving report" in line for line in lines)


def test_the_highs_hang_is_stopped_at_its_deadline(monkeypatch, caplog):
    """The real hang: the solve returns within its time limit + grace + 10 %, unproven, with its MIP
    start (the start costs 4,000.000056; nothing returned may cost more)."""
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    monkeypatch.setattr(settings, "HIGHS_WORKER_GRACE_S", 1.0)
    m, start = _hang_model()
    opts = {"mip_heuristic_run_rens": False, "random_seed": 2, "threads": 2}
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.solvers"):
        sol, secs = _in_thread(lambda: solvers.solve(m, solver="highs", time_limit_s=2.0, start=start,
                                                     highs_options=opts), 60)
    assert secs < 2.0 + 1.0 + 0.2 + 5.0  # the deadline, and time to start a process and read the model
    assert sol.status == Status.TIME_LIMIT
    assert sol.x is not None and m.violation(sol.x) <= 1e-6
    assert sol.objective <= 4000.000056 + 1e-6


def test_a_silent_worker_is_stopped_and_the_start_kept(monkeypatch, caplog):
    """A worker that never answers: stopped at the deadline (1 s + 0.5 s + 0.1 s), the MIP start comes
    back unproven; without a start, no solution."""
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    monkeypatch.setattr(settings, "HIGHS_WORKER_GRACE_S", 0.5)
    procs = []

    def silent(self):
        import subprocess

        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        procs.append(p)
        return p

    monkeypatch.setattr(solvers._HighsWorker, "_start", silent)
    start = np.array([1.0, 0.0, 1.0])  # a and c: 8, feasible
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.solvers"):
        sol, secs = _in_thread(lambda: solvers.solve(_knapsack(), solver="highs", time_limit_s=1.0, start=start),
                               30)
    assert 1.6 <= secs < 4.0
    assert sol.status == Status.TIME_LIMIT and sol.objective == pytest.approx(8.0)
    assert sol.bound == np.inf  # a maximisation without a bound
    assert procs[0].poll() is not None  # stopped
    assert "had not stopped" in caplog.text
    sol, _ = _in_thread(lambda: solvers.solve(_knapsack(), solver="highs", time_limit_s=1.0), 30)
    assert sol.x is None and sol.status == Status.TIME_LIMIT


def test_a_worker_that_dies_is_a_solver_error(monkeypatch):
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)

    def dying(self):
        import subprocess

        return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.buffer.read(8); sys.exit(3)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    monkeypatch.setattr(solvers._HighsWorker, "_start", dying)
    with pytest.raises(SolverError, match=r"exit code 3.*\n  fix: retry with --solver cbc .*set tuoyu_geo.settings.HIGHS_WORKER = False"):
        _in_thread(lambda: solvers.solve(_knapsack(), solver="highs", time_limit_s=5.0), 30)


def test_no_worker_in_a_daemonic_process_or_without_a_time_limit(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(settings, "HIGHS_WORKER", "auto")
    assert solvers._use_worker() is True  # POSIX, main process
    monkeypatch.setattr(multiprocessing, "current_process", lambda: type("P", (), {"daemon": True})())
    assert solvers._use_worker() is False
    monkeypatch.undo()
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    monkeypatch.setattr(solvers._HighsWorker, "run", lambda *a, **k: pytest.fail("no worker without a time limit"))
    assert solvers.solve(_knapsack(), solver="highs").objective == pytest.approx(9.0)


def test_a_threads_worker_ends_with_the_thread(monkeypatch):
    """One worker per thread; when the thread ends, its worker process is stopped."""
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    seen = []

    def solve_and_keep():
        sol = solvers.solve(_knapsack(), solver="highs", time_limit_s=10)
        seen.append(solvers._worker().proc)
        return sol

    sol, _ = _in_thread(solve_and_keep, 30)
    assert sol.objective == pytest.approx(9.0)
    import gc

    gc.collect()
    proc = seen[0]
    proc.wait(timeout=10)  # stopped: the thread's worker is gone
    assert proc.returncode is not None


def test_an_interrupted_exchange_stops_the_worker(monkeypatch):
    """Ctrl-C while waiting for the worker: the worker is stopped, so its late answer cannot be read as
    the next job's; the next solve starts a fresh worker and gets the hand optimum."""
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    w = solvers._HighsWorker()

    def interrupted(self, n, t_end):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(solvers._HighsWorker, "_read", interrupted)
        with pytest.raises(KeyboardInterrupt):
            w.run({"c": np.zeros(1)}, deadline_s=5)
        assert w.proc is None
    job_sol = solvers.solve(_knapsack(), solver="highs", time_limit_s=10)
    assert job_sol.objective == pytest.approx(9.0)


def test_a_highs_error_in_the_worker_names_the_fixes(monkeypatch):
    monkeypatch.setattr(settings, "HIGHS_WORKER", True)
    w = solvers._HighsWorker()
    with pytest.raises(SolverError, match=r"HiGHS failed: KeyError.*\n  fix: try solver='cbc'"):
        w.run({"c": np.zeros(1)}, deadline_s=30)  # a job without its arrays
    w.stop()
