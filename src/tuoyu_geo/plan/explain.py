"""Explain a solved plan: the order in which sites matter, the reasons each rule gives, the runner-up
candidate of each site and the nearest existing 普惠 institution."""

from __future__ import annotations

import heapq
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd

from ..network import distance_matrix
from ..rules import FALLBACK_REASON_RULE, SITE_REASON_RULES, SiteContext
from .model import PlanModel, class_mix

__all__ = ["CLASS_COLUMNS", "SITE_COLUMNS", "explain_sites", "greedy_order", "nearest_puhui"]

SITE_COLUMNS = ["site_id", "name", "kind", "street_id", "street_name", "places", "classes", "classes_infant",
                "classes_small", "classes_large", "classes_mixed", "carers", "floor_area_m2", "cost", "year",
                "new_infants_covered", "reason", "nearest_puhui_id", "nearest_puhui_m", "runner_up_id", "order",
                "geometry"]
#: class type → column of its count in :data:`SITE_COLUMNS`
CLASS_COLUMNS = {"乳儿班": "classes_infant", "托小班": "classes_small", "托大班": "classes_large",
                 "混龄班": "classes_mixed"}
#: network search radius (m) for the nearest existing 普惠 institution; straight line beyond
NEAREST_CUTOFF_M = 5000.0
NEAREST_START_M = 1000.0  # first cutoff of the growing search in nearest_puhui


def _reach_lists(model: PlanModel) -> list[np.ndarray]:
    rt = model.reach.T.tocsr()  # candidates × communities
    return [rt.indices[rt.indptr[j]:rt.indptr[j + 1]] for j in range(model.n_sites)]


def greedy_order(model: PlanModel, chosen: list[tuple[int, int, int]],
                 reach: list[np.ndarray]) -> tuple[list[int], dict, float]:
    """Chosen sites ordered year by year, each time the one adding most newly covered infants
    (ties: larger site, then smaller id); returns (order, marginal gains, infants newly covered)."""
    w, cov = model.infants, model.covered0.copy()
    order: list[int] = []
    marginal: dict[int, float] = {}
    places = {j: p for j, _, p in chosen}

    def gain(j: int) -> float:
        return float(w[reach[j]][~cov[reach[j]]].sum())

    for year in sorted({t for _, t, _ in chosen}):
        # lazy greedy: a site's gain only falls as others are picked, so a stale gain is an upper
        # bound; the top of the heap is taken once its recomputed gain still tops it (same order as
        # recomputing every gain at every pick, in O(n log n) instead of O(n²) on large plans)
        heap = [(-gain(j), -places[j], str(model.site_ids[j]), j) for j, t, _ in chosen if t == year]
        heapq.heapify(heap)
        while heap:
            _, neg_places, sid, j = heapq.heappop(heap)
            g = gain(j)
            if heap and (-g, neg_places, sid) > heap[0][:3]:
                heapq.heappush(heap, (-g, neg_places, sid, j))
                continue
            marginal[j] = g
            cov[reach[j]] = True
            order.append(j)
    return order, marginal, float(w[cov & ~model.covered0].sum())


def _runner_up(model: PlanModel, j: int, reach: list[np.ndarray], count: np.ndarray, chosen_sites: set) -> str:
    """Best unchosen allowed candidate of the same 街道 if it replaced site ``j``: most infants it
    would newly cover, then least cost, then smallest id."""
    w, mc = model.infants, model.min_cost
    mine = np.zeros(len(w), bool)
    mine[reach[j]] = True
    base = model.covered0 | (count - mine.astype(int) > 0)
    best, best_key = "", None
    for a in np.flatnonzero(model.allowed & (model.site_street == model.site_street[j])):
        if int(a) in chosen_sites:
            continue
        r = reach[a]
        key = (-float(w[r][~base[r]].sum()), float(mc[a]), str(model.site_ids[a]))
        if best_key is None or key < best_key:
            best, best_key = str(model.site_ids[a]), key
    return best


def _search_cutoffs() -> tuple[float, ...]:
    """The cutoffs :func:`nearest_puhui` tries in turn: 1 km, ×1.5 each time, up to
    :data:`NEAREST_CUTOFF_M` (a walking search costs about the square of its cutoff)."""
    out, c = [], min(NEAREST_START_M, NEAREST_CUTOFF_M)
    while c < NEAREST_CUTOFF_M:
        out.append(c)
        c *= 1.5
    return (*out, NEAREST_CUTOFF_M)


def nearest_puhui(area, site_ids: list[str], *, network=None) -> tuple[dict, dict, str]:
    """Nearest existing 普惠 institution of each site: walking metres on ``network`` (a WalkNet,
    within :data:`NEAREST_CUTOFF_M`), else — and beyond the cutoff — straight-line metres."""
    insts = area.institutions
    pu = insts[insts["puhui"].astype(bool)]
    if not site_ids or pu.empty:
        return {}, {}, "none"
    sp_pts, ip = area.points("candidates").loc[site_ids], area.points("institutions").loc[pu.index]
    near_id: dict[str, str] = {}
    near_m: dict[str, float] = {}
    how = "euclidean"
    if network is not None:
        # an engine (WalkNet / straight-line fallback) or a networkx graph
        dm = network.distance_matrix if hasattr(network, "distance_matrix") else partial(distance_matrix, network)
        # growing cutoffs: a site with a 普惠 institution within a smaller cutoff has its nearest
        # there (every pair within a cutoff is returned), so only the others search farther
        left = np.arange(len(site_ids))
        for cutoff in _search_cutoffs():
            d = dm(sp_pts.iloc[left], ip, max_distance_m=cutoff).tocsr()
            found = np.diff(d.indptr) > 0
            for r in np.flatnonzero(found):
                a, b = d.indptr[r], d.indptr[r + 1]
                k = a + int(np.argmin(d.data[a:b]))
                s = site_ids[left[r]]
                near_id[s], near_m[s] = str(pu.index[d.indices[k]]), float(d.data[k])
            left = left[~found]
            if not len(left):
                break
        factor = getattr(network, "detour_factor", None)
        how = (f"network (cutoff {NEAREST_CUTOFF_M:.0f} m; euclidean beyond)" if factor is None else
               f"straight-line × {factor:g} (no walk network; cutoff {NEAREST_CUTOFF_M:.0f} m; euclidean beyond)")
    xy_i = np.c_[ip.x.to_numpy(), ip.y.to_numpy()]
    for s, px, py in zip(site_ids, sp_pts.x.to_numpy(), sp_pts.y.to_numpy(), strict=True):
        if s not in near_id:
            d2 = np.hypot(xy_i[:, 0] - px, xy_i[:, 1] - py)
            k = int(np.argmin(d2))
            near_id[s], near_m[s] = str(pu.index[k]), float(d2[k])
    return near_id, near_m, how


def _reasons(model: PlanModel, ctx: SiteContext) -> dict[int, str]:
    parts: dict[int, list[str]] = {j: [] for j in ctx.order}
    for rule in SITE_REASON_RULES:
        for j, text in rule.explain_sites(model, ctx).items():
            parts[j].append(text)
    fallback = FALLBACK_REASON_RULE.explain_sites(model, ctx)
    return {j: "；".join(p) if p else fallback[j] for j, p in parts.items()}


def _classes(model: PlanModel, places: int) -> dict:
    """The class mix of a site (fewest carers), its carers and floor area (profile figures)."""
    pol = model.policy
    mix = class_mix(places, model.class_sizes, pol.carer_ratio)
    out = {col: int(mix.get(k, 0)) for k, col in CLASS_COLUMNS.items()}
    out["classes"] = "+".join(f"{k}×{v}" for k, v in mix.items())
    out["carers"] = int(pol.carers(mix))
    out["floor_area_m2"] = float(pol.floor_area_m2(places))
    return out


def explain_sites(area, model: PlanModel, *, network=None,
                  detour_factor: float | None = None) -> tuple[gpd.GeoDataFrame, float]:
    """One row per chosen site (columns :data:`SITE_COLUMNS`) and the infants newly covered.

    ``detour_factor``: the access was computed without a walk network (straight line × this
    factor); the reasons say so."""
    chosen = model.chosen_sites()
    reach = _reach_lists(model)
    order, marginal, infants_new = greedy_order(model, chosen, reach)
    places = {j: p for j, _, p in chosen}
    year = {j: t for j, t, _ in chosen}
    ctx = SiteContext(order=tuple(order), places=places, marginal=marginal, minutes=float(model.options.minutes),
                      detour_factor=detour_factor)
    reasons = _reasons(model, ctx)
    count = np.zeros(len(model.infants), np.int64)
    for j in places:
        count[reach[j]] += 1
    near_id, near_m, how = nearest_puhui(area, [str(model.site_ids[j]) for j in order], network=network)
    cands = area.candidates
    rows = []
    for rank, j in enumerate(order, start=1):
        sid, street = str(model.site_ids[j]), str(model.site_street[j])
        rows.append({"site_id": sid, "name": str(cands["name"].iloc[j]), "kind": str(cands["kind"].iloc[j]),
                     "street_id": street, "street_name": model.street_name(street), "places": places[j],
                     **_classes(model, places[j]), "cost": round(model.site_cost(j, places[j]), 4),
                     "year": int(model.years[year[j]]) if model.phased else int(model.available_year[j]),
                     "new_infants_covered": round(float(marginal[j]), 2), "reason": reasons[j],
                     "nearest_puhui_id": near_id.get(sid, ""), "nearest_puhui_m": near_m.get(sid, np.nan),
                     "runner_up_id": _runner_up(model, j, reach, count, set(places)), "order": rank,
                     "geometry": cands.geometry.iloc[j]})
    df = gpd.GeoDataFrame(pd.DataFrame(rows, columns=SITE_COLUMNS), geometry="geometry", crs="EPSG:4326")
    df.index = pd.Index(df["site_id"].astype(str).to_numpy(), name=None)
    df.attrs["nearest_puhui_distance"] = how
    return df, infants_new
