"""One HiGHS solve from plain arrays, in this process or in a worker process.

:func:`run_job` is what :func:`tuoyu_geo.solvers.solve` runs for HiGHS.  With
``settings.HIGHS_WORKER`` it runs in a separate process, this file run as a script with the parent's
``sys.path``: it reads jobs from stdin and writes answers to stdout, each a pickle preceded by its
length (8 bytes, big-endian), until stdin closes.  It imports numpy and highspy only —
not tuoyu_geo, whose import takes seconds — so starting one costs a fraction of a second.

Why a process: HiGHS 1.16 can loop for ever in its presolve (``HPresolve::strengthenInequalities``,
reached from a RINS sub-MIP), ignoring both its time limit and ``cancelSolve``; a thread cannot be
stopped, a process can (the model is ``tests/data/highs_hang.npz``).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any

#: bytes of the length that precedes each pickle
HEADER = struct.Struct("!Q")


def run_job(highspy: Any, job: dict, new_highs: Callable[[Any], Any], on_log: Callable[[str], None] | None) -> dict:
    """Solve one job with HiGHS; the answer is a dict of plain values.

    ``job``: ``c`` (costs, minimised), ``lb``, ``ub``, ``lo``, ``hi``, ``integer``, the column-wise matrix
    (``indptr``, ``indices``, ``data``, ``shape``), ``options`` (HiGHS option → value, in order) and
    ``start`` (a MIP start or None).  ``new_highs(highspy)`` makes the Highs object; ``on_log`` receives
    HiGHS's log lines (None: no log).
    """
    import numpy as np

    lp = highspy.HighsLp()
    n_rows, n_cols = (int(v) for v in job["shape"])
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = job["c"]
    lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_ = job["lb"], job["ub"], job["lo"], job["hi"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(job["indptr"], np.int32)
    lp.a_matrix_.index_ = np.asarray(job["indices"], np.int32)
    lp.a_matrix_.value_ = np.asarray(job["data"], float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_cols, n_rows
    integer = np.asarray(job["integer"], bool)
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else highspy.HighsVarType.kContinuous for f in integer]
    h = new_highs(highspy)
    h.setOptionValue("output_flag", on_log is not None)
    if on_log is not None:
        h.setOptionValue("log_to_console", False)
        h.cbLogging.subscribe(lambda e: on_log(str(e.message).rstrip()))
    for key, value in job["options"].items():
        h.setOptionValue(key, value)
    h.passModel(lp)
    if job.get("start") is not None:
        hs = highspy.HighsSolution()
        hs.col_value = list(np.asarray(job["start"], float))
        hs.value_valid = True
        h.setSolution(hs)
    h.run()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    return {"status": h.getModelStatus().name, "has_solution": bool(has_sol),
            "x": np.asarray(h.getSolution().col_value, float) if has_sol else None,
            "objective": float(info.objective_function_value), "dual_bound": float(info.mip_dual_bound),
            "is_mip": bool(integer.any())}


def _read_exactly(stream, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:  # pragma: no cover - runs in the worker process (tests/test_highs_worker.py drives it)
    """Serve jobs from stdin until it closes."""
    jobs = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # HiGHS prints its banner on file descriptor 1: never into the answers
    import highspy

    while True:
        head = _read_exactly(jobs, HEADER.size)
        if head is None:
            return
        body = _read_exactly(jobs, HEADER.unpack(head)[0])
        if body is None:
            return
        job = pickle.loads(body)
        lines: list[str] = []
        try:
            answer = run_job(highspy, job, lambda hp: hp.Highs(), lines.append if job.get("log") else None)
        except Exception:  # answered, not raised: the parent turns it into a SolverError
            answer = {"error": traceback.format_exc()}
        answer["log"] = lines
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(HEADER.pack(len(data)) + data)
        answers.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
