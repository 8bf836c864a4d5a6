"""Machine-readable summaries (plain dicts of numbers and strings) for ``tuoyu-geo … --json``.

The keys are stable (documented in the README, "Machine-readable output"); a missing value is
``None`` (JSON ``null``), never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..rules import MET

__all__ = ["area_summary", "assessment_summary", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars, paths, NaN/inf (→ None) and tuples made JSON-safe."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _share_within(cs: pd.DataFrame, column: str) -> float | None:
    """Infant-weighted share of communities with ``column`` true."""
    if column not in cs:
        return None
    w = cs["infants"].astype(float)
    return float((w * cs[column].astype(bool)).sum() / w.sum()) if w.sum() > 0 else None


def area_summary(area: Any) -> dict[str, Any]:
    """``area``, ``input_crs``, ``metric_crs``, ``policy`` and ``counts`` (rows per layer)."""
    return jsonable({"area": area.name, "input_crs": area.input_crs, "metric_crs": str(area.metric_crs),
                     "policy": area.policy.name,
                     "counts": {k: len(getattr(area, k)) for k in ("streets", "communities", "institutions",
                                                                   "candidates")}})


def _state(streets: pd.DataFrame, communities: pd.DataFrame, total: Mapping[str, Any]) -> dict[str, Any]:
    pop = float(streets["population"].sum())
    places = float(streets["places"].sum())
    return {"streets_meeting": int((streets["status"] == MET).sum()), "places": places,
            "places_per_1000": places / pop * 1000 if pop > 0 else None,
            "puhui_share": total.get("puhui_share"), "place_gap": total.get("place_gap"),
            "infants_within15_puhui_share": _share_within(communities, "within15_puhui")}


def assessment_summary(a: Any) -> dict[str, Any]:
    """The figures of an :class:`~tuoyu_geo.pipeline.Assessment`.

    Keys: ``area``, ``policy``, ``streets`` (count), ``population``, ``infants``,
    ``target_per_1000``, ``now`` and (with a plan) ``after`` — each ``streets_meeting``,
    ``places``, ``places_per_1000``, ``puhui_share``, ``place_gap`` (Σ over 街道),
    ``infants_within15_puhui_share`` — ``plan`` (None, or ``status``, ``gap``, ``sites``,
    ``places_added``, ``cost_wan``) and ``unmet`` (rows of ``Assessment.gaps``).
    """
    st = a.streets
    out: dict[str, Any] = {
        "area": a.area.name, "policy": a.policy.name, "streets": len(st),
        "population": float(st["population"].sum()), "infants": float(st["infants"].sum()),
        "target_per_1000": a.policy.places_per_1000,
        "now": _state(st, a.communities, a.total), "after": None, "plan": None, "unmet": len(a.gaps)}
    if a.plan is not None:
        s = a.plan.sites
        out["plan"] = {"status": str(a.plan.status), "gap": a.plan.gap, "sites": len(s),
                       "places_added": float(s["places"].sum()), "cost_wan": float(s["cost"].sum())}
        out["after"] = _state(a.streets_after, a.communities_after, a.total_after)
    return jsonable(out)
