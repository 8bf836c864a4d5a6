"""Equity of access: weighted Gini coefficient, the lowest-access decile and the worst 街道.

Pure functions of a community scorecard (:func:`tuoyu_geo.indicators.community_scorecard`); every
figure weights a community by its infants, i.e. each infant counts once with the access of the
community it lives in.

Definitions
-----------
Access
    A community's ``sfca_all``: 2SFCA places per 1000 infants within the largest walking threshold
    (:mod:`tuoyu_geo.access`).  A community without a value counts as 0, as in ``sfca_mean``.
Weighted Gini (:func:`gini`)
    For access values ``x_i ≥ 0`` with infant weights ``w_i ≥ 0``, ``W = Σ w_i`` and the weighted
    mean ``μ = Σ w_i x_i / W``::

        G = Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ)

    — the mean absolute difference between two infants drawn at random (with replacement) divided
    by twice the mean; the population form, without the small-sample factor ``n / (n − 1)``.  With
    whole-number weights it equals the ordinary Gini of the list in which value ``x_i`` is repeated
    ``w_i`` times.  0 = everyone has the same access (also when everyone has 0); → 1 when one
    community holds all access.  Equal weights, ``[0, 0, 1, 1]``: 8 ordered pairs differ by 1,
    ``G = 8 / (2 · 4² · 0.5) = 0.5``.  Computed in O(n log n) from the sorted values:
    ``G = Σ_i w_i x_i (2 C_i − w_i − W) / (W² μ)`` with ``C_i`` the cumulative weight up to and
    including ``i`` (ties give the same result in any order).
Lowest decile (:func:`lowest_decile_threshold`, :func:`lowest_decile_share`)
    The threshold ``q`` is the weighted 10th percentile, lower form: the smallest access value
    ``x_k`` such that the infants with access ``≤ x_k`` are at least 10 % of all infants.  The share
    is ``Σ w_i [x_i ≤ q] / W`` — every infant whose access is at most ``q``.  Ties count whole: a
    community is never split, and all communities with access equal to ``q`` (within 1e-9
    relative) are in.  So the share is ≥ 0.1; it is exactly 0.1 only when the 10 % boundary falls
    between two values, and larger when many infants share the lowest values (e.g. 35 % of infants
    with no place in reach at all → 0.35).  A plan that lifts the worst-served lowers it towards 0.1.
Worst 街道 (``min_street_coverN_puhui``)
    Per 街道, the infant-weighted share of its communities with a 普惠 institution within N minutes
    (``withinN_puhui``; the street scorecard's ``coverN_puhui``), minimum over the 街道 that have
    community infants.

Examples
--------
>>> gini([0, 0, 1, 1], [1, 1, 1, 1])
0.5
>>> lowest_decile_share([0, 5, 10], [30, 50, 20])
0.3
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._errors import DataError
from .indicators import minute_key

__all__ = ["EQUITY_COLUMNS", "equity_before_after", "equity_table", "gini", "lowest_decile_share",
           "lowest_decile_threshold"]

#: relative tolerance under which two access values are ties
TIE_RTOL = 1e-9
#: rows of :func:`equity_table` (N = ``minutes``; 15 by default)
EQUITY_COLUMNS = ("infants", "sfca_mean", "gini_sfca", "gini_sfca_puhui", "lowest_decile_sfca",
                  "lowest_decile_share", "zero_sfca_share", "min_street_cover{N}_puhui",
                  "min_street_cover{N}_puhui_street")


def _arrays(values: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=float).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
    if x.shape != w.shape:
        raise DataError(f"{len(x)} values but {len(w)} weights", file="equity",
                        fix="give one weight (infants) per value (access)")
    bad_x = ~np.isfinite(x) | (x < 0)
    bad_w = ~np.isfinite(w) | (w < 0)
    if bad_x.any() or bad_w.any():
        what = "access values" if bad_x.any() else "weights"
        raise DataError(f"{what} must be finite numbers ≥ 0 (positions "
                        f"{', '.join(map(str, np.flatnonzero(bad_x | bad_w)[:10]))})", file="equity",
                        fix="fill missing access with 0 and infants with counts ≥ 0")
    return x, w


def gini(values: Sequence[float] | np.ndarray | pd.Series,
         weights: Sequence[float] | np.ndarray | pd.Series | None = None) -> float:
    """Weighted Gini coefficient ``Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ)`` (module docstring).

    Parameters
    ----------
    values : array-like
        Access values ≥ 0 (e.g. ``sfca_all``).
    weights : array-like, optional
        Weights ≥ 0 (infants); equal weights when None.

    Returns
    -------
    float
        In [0, 1); 0 when every weighted value is equal (also all 0); NaN when the weights sum to 0.

    Raises
    ------
    DataError
        Negative or non-finite values or weights, or lengths that differ.

    Examples
    --------
    >>> gini([0, 1], [3, 1])     # 0,0,0,1: Σ|diff| = 2·3·1 = 6; 6 / (2 · 16 · 0.25)
    0.75
    """
    x, w = _arrays(values, weights)
    W = w.sum()
    if W <= 0:
        return float("nan")
    mu = float((w * x).sum() / W)
    if mu <= 0:
        return 0.0
    order = np.argsort(x, kind="mergesort")
    xs, ws = x[order], w[order]
    cum = np.cumsum(ws)
    g = float((ws * xs * (2.0 * cum - ws - W)).sum() / (W * W * mu))
    return min(max(g, 0.0), 1.0)


def lowest_decile_threshold(values: Sequence[float] | np.ndarray | pd.Series,
                            weights: Sequence[float] | np.ndarray | pd.Series | None = None) -> float:
    """Weighted 10th percentile (lower form): the smallest value whose cumulative weight share
    (values ≤ it) reaches 0.1.  NaN when the weights sum to 0.

    >>> lowest_decile_threshold([0, 5, 10], [5, 50, 45])   # 5 % at 0, 55 % at ≤ 5
    5.0
    """
    x, w = _arrays(values, weights)
    W = w.sum()
    if W <= 0:
        return float("nan")
    keep = w > 0
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="mergesort")
    xs, share = x[order], np.cumsum(w[order]) / W
    k = int(np.searchsorted(share, 0.1 - 1e-12, side="left"))
    return float(xs[min(k, len(xs) - 1)])


def lowest_decile_share(values: Sequence[float] | np.ndarray | pd.Series,
                        weights: Sequence[float] | np.ndarray | pd.Series | None = None) -> float:
    """Share of the weight (infants) whose value is at most the weighted 10th percentile
    (:func:`lowest_decile_threshold`); ties count whole, so the share is ≥ 0.1.  NaN when the
    weights sum to 0.

    >>> lowest_decile_share([0, 5, 10], [5, 50, 45])       # threshold 5: 5 + 50 of 100
    0.55
    """
    x, w = _arrays(values, weights)
    W = w.sum()
    if W <= 0:
        return float("nan")
    q = lowest_decile_threshold(x, w)
    tie = x <= q + TIE_RTOL * max(1.0, abs(q))
    return float(w[tie].sum() / W)


def _street_min_cover(cs: pd.DataFrame, col: str) -> tuple[float, str]:
    if col not in cs.columns or "street_id" not in cs.columns:
        return float("nan"), ""
    w = cs["infants"].astype(float).fillna(0.0)
    covered = w.where(cs[col].astype(bool), 0.0)
    sid = cs["street_id"].astype(str).to_numpy()
    tot = w.groupby(sid).sum()
    share = (covered.groupby(sid).sum() / tot.where(tot > 0)).dropna()
    if share.empty:
        return float("nan"), ""
    share = share.sort_index(kind="mergesort")
    return float(share.min()), str(share.idxmin())


def equity_table(communities: pd.DataFrame, *, minutes: float = 15) -> pd.Series:
    """Equity figures of a community scorecard (definitions in the module docstring).

    Parameters
    ----------
    communities : DataFrame
        A community scorecard: ``infants``, ``sfca_all`` (and ``sfca_puhui``, ``street_id``,
        ``within{N}_puhui`` for the 普惠 figures; missing ones give NaN).
    minutes : float
        N of ``min_street_cover{N}_puhui`` (default 15).

    Returns
    -------
    pandas.Series (name ``equity``)
        ``infants`` (Σ weights), ``sfca_mean`` (infant-weighted mean access), ``gini_sfca``,
        ``gini_sfca_puhui``, ``lowest_decile_sfca`` (the threshold q), ``lowest_decile_share``,
        ``zero_sfca_share`` (share of infants with ``sfca_all`` = 0), ``min_street_cover{N}_puhui``
        and ``min_street_cover{N}_puhui_street`` (the 街道 id with that minimum; the first id on ties).
    """
    cs = pd.DataFrame(communities)
    if "infants" not in cs.columns or "sfca_all" not in cs.columns:
        raise DataError("the community table needs infants and sfca_all", file="communities",
                        fix="pass the community scorecard: tuoyu_geo.indicators.community_scorecard(area, access)")
    w = cs["infants"].astype(float).fillna(0.0).to_numpy()
    x = cs["sfca_all"].astype(float).fillna(0.0).to_numpy()
    W = float(w.sum())
    k = minute_key(minutes)
    out: dict[str, Any] = {"infants": W,
                           "sfca_mean": float((w * x).sum() / W) if W > 0 else float("nan"),
                           "gini_sfca": gini(x, w)}
    if "sfca_puhui" in cs.columns:
        out["gini_sfca_puhui"] = gini(cs["sfca_puhui"].astype(float).fillna(0.0).to_numpy(), w)
    else:
        out["gini_sfca_puhui"] = float("nan")
    out["lowest_decile_sfca"] = lowest_decile_threshold(x, w)
    out["lowest_decile_share"] = lowest_decile_share(x, w)
    out["zero_sfca_share"] = float(w[x <= 0].sum() / W) if W > 0 else float("nan")
    low, street = _street_min_cover(cs, f"within{k}_puhui")
    out[f"min_street_cover{k}_puhui"] = low
    out[f"min_street_cover{k}_puhui_street"] = street
    return pd.Series(out, name="equity", dtype=object)


def equity_before_after(before: pd.DataFrame, after: pd.DataFrame, *, minutes: float = 15) -> pd.DataFrame:
    """:func:`equity_table` of two community scorecards side by side.

    Returns
    -------
    DataFrame
        Index = the rows of :func:`equity_table`; columns ``before``, ``after`` and ``change``
        (after − before; empty for the 街道 id row).
    """
    b, a = equity_table(before, minutes=minutes), equity_table(after, minutes=minutes)
    out = pd.DataFrame({"before": b, "after": a})
    num = [i for i in out.index if not str(i).endswith("_street")]
    out["change"] = pd.Series(dtype=object)
    out.loc[num, "change"] = (out.loc[num, "after"].astype(float) - out.loc[num, "before"].astype(float))
    return out
