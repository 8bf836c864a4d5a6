"""Save a plan as JSON and read it back, so it can be mapped and exported later without solving."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import DataError
from .._version import __version__
from ..solvers import Status
from ..writer import atomic_write
from .explain import SITE_COLUMNS
from .options import PlanOptions
from .result import SitePlan, area_with_sites

__all__ = ["load_plan", "save_plan"]

FORMAT = "tuoyu-geo plan"


def save_plan(plan: SitePlan, path: str | Path, *, area) -> Path:
    """Write ``plan`` (sites, options, status, values, capacity table) to a JSON file, atomically.

    The file also names the study area and its 街道/candidate ids, which :func:`load_plan` checks.
    """
    d = plan.to_dict()
    cap = plan.street_capacity
    d.update(format=FORMAT, tool_version=__version__, area=str(area.name),
             candidates=sorted(map(str, area.candidates.index)),
             street_capacity={"rows": cap.reset_index().to_dict(orient="records"), "attrs": dict(cap.attrs)})
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(d, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


def _read(path: Path) -> dict:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read the plan file ({type(exc).__name__}: {exc})", file=str(path),
                        fix="give a plan.json written by `tuoyu-geo plan` or tuoyu_geo.plan.save_plan") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DataError("not a tuoyu-geo plan file", file=str(path),
                        fix="give a plan.json written by `tuoyu-geo plan` or tuoyu_geo.plan.save_plan")
    return d


def load_plan(path: str | Path, area) -> SitePlan:
    """Read a plan written by :func:`save_plan` for ``area`` (no solving).

    Raises
    ------
    DataError
        The file is unreadable, or its sites are not candidates of ``area`` (another area, or the
        candidates changed since the plan was made).
    """
    path = Path(path)
    d = _read(path)
    recs = pd.DataFrame(d["sites"], columns=[c for c in SITE_COLUMNS if c != "geometry"] + ["lon", "lat"])
    ids = recs["site_id"].astype(str)
    cands = area.candidates
    unknown = sorted(set(ids) - set(map(str, cands.index)))
    moved_street = [s for s, st in zip(ids, recs["street_id"].astype(str), strict=True)
                    if s in cands.index and str(cands.loc[s, "street_id"]) != st]
    if unknown or moved_street or sorted(map(str, cands.index)) != d.get("candidates"):
        detail = (f"sites not among its candidates: {', '.join(unknown[:10])}" if unknown else
                  f"sites in other 街道: {', '.join(moved_street[:10])}" if moved_street else
                  "its candidate list differs")
        raise DataError(f"{path.name} was made for study area {d.get('area')!r}, not for {area.name!r} as loaded "
                        f"({detail})", file=str(path),
                        fix="load the study area the plan was made for, or plan again for this one")
    geom = area.candidates.geometry.loc[list(ids)].to_numpy()
    moved = [s for s, g, x, y in zip(ids, geom, recs.pop("lon"), recs.pop("lat"), strict=True)
             if abs(g.x - float(x)) > 1e-7 or abs(g.y - float(y)) > 1e-7]
    if moved:
        raise DataError(f"candidate sites moved since the plan was made: {', '.join(moved[:10])}", file=str(path),
                        fix="plan again for the current candidates")
    sites = gpd.GeoDataFrame(recs.assign(geometry=geom), geometry="geometry", crs="EPSG:4326")
    sites.index = pd.Index(ids.to_numpy(), name=None)
    cap = pd.DataFrame(d["street_capacity"]["rows"]).set_index("street_id")
    cap.attrs.update(d["street_capacity"]["attrs"])
    designated = pd.DataFrame(d.get("designated", []), columns=["district", "id", "kind", "places"])
    opts = d["options"]
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in opts.items()}
    return SitePlan(sites=sites, objective_values=d["objective_values"], status=Status(d["status"]),
                    gap=float(d["gap"]) if d["gap"] is not None else np.inf, solve_seconds=d["solve_seconds"],
                    build_seconds=d["build_seconds"], options=PlanOptions(**opts), radius_m=d["radius_m"],
                    stages=tuple(d["stages"]), model_size=d["model_size"],
                    nearest_puhui_distance=d["nearest_puhui_distance"],
                    area_after=area_with_sites(area, sites, designated), street_capacity=cap, designated=designated,
                    area_fingerprint=area.fingerprint(), policy_name=(d.get("policy") or {}).get("name"),
                    policy_fingerprint=(d.get("policy") or {}).get("fingerprint"))
