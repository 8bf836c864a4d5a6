"""Demand for places from infants: the enrolment rate (入托率) and places = infants × rate.

Pure functions of a :class:`~tuoyu_geo.policy.Policy` (core layer, so that rules, access weights and
the plan can all use the one definition).

Definitions
-----------
rate
    The 入托率 used, in this order: the ``enrolment_rate`` argument (a run's override), else the
    profile's ``enrolment_rate``, else the rate *implied* by the places target,
    ``places_per_1000 / (1000 × infant_share)`` capped at 1 — the share of infants the target
    provides a place for when infants are ``infant_share`` of the residents (无锡 4.5 / (1000 ×
    0.0277) ≈ 16.2 %).  The implied rate is an estimate and is labelled so
    (:func:`demand_rate_basis`).
demand places
    ``infants × rate`` (not rounded).

Examples
--------
>>> from tuoyu_geo.policy import load_policy
>>> p = load_policy("wuxi-2025")
>>> round(demand_rate(p), 4)
0.1625
>>> demand_places(1000, p, enrolment_rate=0.35)
350.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._errors import DataError
from .policy import Policy, load_policy

__all__ = ["demand_places", "demand_rate", "demand_rate_basis", "implied_enrolment_rate"]


def implied_enrolment_rate(policy: Policy | str) -> float:
    """``min(1, places_per_1000 / (1000 × infant_share))``: the 入托率 the places target implies.

    1 when ``infant_share`` is 0 (every infant counted) and 0 when ``places_per_1000`` is 0.
    """
    pol = load_policy(policy)
    if pol.places_per_1000 <= 0:
        return 0.0
    if pol.infant_share <= 0:
        return 1.0
    return min(1.0, pol.places_per_1000 / (1000.0 * pol.infant_share))


def _check_rate(rate: Any) -> float:
    ok = isinstance(rate, (int, float, np.integer, np.floating)) and not isinstance(rate, bool)
    if not ok or not math.isfinite(float(rate)) or not 0 < float(rate) <= 1:
        raise DataError(f"enrolment_rate = {rate!r} is not a 入托率 in (0, 1]", file="enrolment_rate",
                        fix="give the share of infants needing a place as a fraction, e.g. 0.35 for 35 %")
    return float(rate)


def demand_rate(policy: Policy | str, *, enrolment_rate: float | None = None) -> float:
    """The 入托率 used for demand: the argument, else the profile's, else the implied rate.

    Raises
    ------
    DataError
        ``enrolment_rate`` not in (0, 1].
    """
    if enrolment_rate is not None:
        return _check_rate(enrolment_rate)
    pol = load_policy(policy)
    if pol.enrolment_rate is not None:
        return float(pol.enrolment_rate)
    return implied_enrolment_rate(pol)


def demand_rate_basis(policy: Policy | str, *, enrolment_rate: float | None = None) -> str:
    """One Chinese line saying which rate is used and where it comes from (for reports).

    >>> from tuoyu_geo.policy import load_policy
    >>> demand_rate_basis(load_policy("wuxi-2025"))
    '入托率 16.2%（估算：每千人口托位数 4.5 ÷ (1000 × 婴幼儿占比 0.0277)）'
    """
    rate = demand_rate(policy, enrolment_rate=enrolment_rate)
    pol = load_policy(policy)
    if enrolment_rate is not None:
        return f"入托率 {rate:.1%}（本次运行指定）"
    if pol.enrolment_rate is not None:
        return f"入托率 {rate:.1%}（政策档案 {pol.name} 的 enrolment_rate）"
    capped = "，上限100%" if rate >= 1.0 and pol.infant_share > 0 else ""
    return (f"入托率 {rate:.1%}（估算：每千人口托位数 {pol.places_per_1000:g} ÷ (1000 × 婴幼儿占比 "
            f"{pol.infant_share:g}){capped}）")


def demand_places(infants: Any, policy: Policy | str, *, enrolment_rate: float | None = None) -> Any:
    """Places needed: ``infants × rate`` (:func:`demand_rate`), not rounded.

    Parameters
    ----------
    infants : float, array-like or pandas.Series
        Infants (0–3) of each area unit; a Series keeps its index.
    policy : Policy or str
    enrolment_rate : float, optional
        A run's 入托率 (0 < rate ≤ 1), overriding the profile's.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Same shape as ``infants``.

    Raises
    ------
    DataError
        Negative or non-finite infants, or a rate not in (0, 1].
    """
    rate = demand_rate(policy, enrolment_rate=enrolment_rate)
    arr = np.asarray(infants, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        where = ""
        if isinstance(infants, pd.Series):
            where = " (" + ", ".join(map(str, infants.index[np.asarray(bad)][:10])) + ")"
        raise DataError(f"infants must be finite numbers ≥ 0{where}", file="infants",
                        fix="fill infants with counts ≥ 0 (or leave them empty to estimate them on load)")
    if isinstance(infants, pd.Series):
        return infants.astype(float) * rate
    out = arr * rate
    return float(out) if out.ndim == 0 else out
