"""Policy scorecards: per-community, per-街道, area-total and per-district indicators.

Pure functions of an area, its access result and a policy.  The *facts* (counts, places, coverage
shares, 2SFCA means) are computed here; every judgement against a target is made by the rule
objects of :mod:`tuoyu_geo.rules` (:data:`~tuoyu_geo.rules.SCORED_RULES`), which add their own
columns and status.  Column definitions are written on the 说明 sheet (:mod:`tuoyu_geo.report`).

Definitions
-----------
普惠
    An institution whose ``puhui`` is true (given, or from its ``category``).
Places of a 街道
    Sum of ``places`` of the institutions whose ``street_id`` is that 街道.
places_per_1000
    ``places / population × 1000`` (NaN when the population is 0).
coverN_any / coverN_puhui
    Infant-weighted share of the 街道's communities with an institution (any / 普惠) within the
    N-minute walking distance: ``Σ infants of covered communities / Σ infants of its communities``
    (NaN without community infants).
sfca_mean
    Infant-weighted mean of the communities' ``sfca_all`` (a community without a value counts as 0).
status
    达标 only when every scored rule's status column is 达标.

Examples
--------
>>> import tuoyu_geo as tg
>>> area = tg.datasets.shanghai_xuhui()                                   # doctest: +SKIP
>>> acc = tg.access.compute_access(area)                                  # doctest: +SKIP
>>> sc = tg.indicators.street_scorecard(area, acc, tg.load_policy("wuxi-2025"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._errors import DataError
from .policy import Policy, load_policy
from .rules import DEMONSTRATION, MET, NOT_MET, RULES, SCORED_RULES, status

__all__ = ["MET", "NOT_MET", "STATUS_COLUMNS", "community_scorecard", "district_scorecard", "minute_key",
           "street_scorecard", "street_total"]

log = logging.getLogger(__name__)

#: the status columns making up ``status``, one per scored rule
STATUS_COLUMNS: tuple[str, ...] = tuple(r.status_column for r in SCORED_RULES)
_ACCESS_COLUMNS = ("snap_m", "nearest_any_m", "nearest_puhui_m", "places15_all", "places15_puhui", "sfca_all",
                   "sfca_puhui", "g2sfca_all", "g2sfca_puhui", "sfca_all_per1000_pop", "sfca_puhui_per1000_pop")


def minute_key(m: float) -> str:
    """``15.0 → "15"``, ``7.5 → "7.5"`` (the N in ``withinN_any`` / ``coverN_puhui``)."""
    return str(int(m)) if float(m).is_integer() else str(m)


def _policy(area, policy: Policy | str | None) -> tuple[Any, Policy]:
    pol = load_policy(policy if policy is not None else area.policy)
    return area.with_policy(pol), pol


def _access_communities(area, access) -> pd.DataFrame:
    """``access.communities`` aligned to ``area.communities`` (checks they belong together)."""
    ac = access.communities
    want = pd.Index(area.communities.index.astype(str))
    have = pd.Index(ac.index.astype(str))
    if list(want) != list(have) or list(map(str, access.institution_ids)) != list(map(str, area.institutions.index)):
        missing = tuple(want[~want.isin(have)][:10])
        raise DataError("the access result does not belong to this area (communities or institutions differ"
                        + (f", e.g. {', '.join(missing)}" if missing else "") + ")", file="access",
                        fix="recompute access for this area: tuoyu_geo.access.compute_access(area, policy)")
    if hasattr(access, "check_area"):
        access.check_area(area)
    out = ac.copy()
    out.index = have
    return out


def _sum_by(values: pd.Series, keys: pd.Series, index: pd.Index) -> pd.Series:
    return values.groupby(keys.to_numpy()).sum().reindex(index).fillna(0)


def community_scorecard(area, access, policy: Policy | str | None = None) -> gpd.GeoDataFrame:
    """Per-community scorecard: coverage flags, distances, accessibility and the rules' columns.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per community (index = the ids, unnamed; EPSG:4326, order of ``area.communities``):
        ``community_id, name, street_id, street_name, population, infants, infants_estimated, is_new,
        built_year, within{N}_any, within{N}_puhui`` (N in ``access.minutes``), the access columns
        present (``snap_m, nearest_any_m, nearest_puhui_m, places15_all, places15_puhui, sfca_*``) and
        the community columns of the rules (residential standard: ``standard_per_1000,
        required_places, meets_standard, missing_places``).
    """
    area, pol = _policy(area, policy)
    com = area.communities
    ac = _access_communities(area, access)
    out = pd.DataFrame(index=pd.Index(com.index.astype(str), name=None))
    for c in ("community_id", "name", "street_id"):
        out[c] = com[c].astype(str).to_numpy()
    out["street_name"] = out["street_id"].map(area.streets["name"].astype(str)).fillna("").to_numpy()
    out["population"] = com["population"].astype(float).to_numpy()
    out["infants"] = com["infants"].astype(float).to_numpy()
    out["infants_estimated"] = com["infants_estimated"].astype(bool).to_numpy()
    out["infants_source"] = com["infants_source"].astype(str).to_numpy()
    out["is_new"] = com["is_new"].astype(bool).to_numpy()
    out["built_year"] = pd.to_numeric(com["built_year"], errors="coerce").to_numpy()
    for m in access.minutes:
        for what in ("any", "puhui"):
            col = f"within{minute_key(m)}_{what}"
            out[col] = ac[col].astype(bool).to_numpy()
    for c in _ACCESS_COLUMNS:
        if c in ac.columns:
            out[c] = ac[c].astype(float).to_numpy()
    for rule in SCORED_RULES:
        cols = rule.score_communities(out, pol)
        if cols is not None:
            out = out.join(cols)
    return gpd.GeoDataFrame(out, geometry=com.geometry.to_numpy(), crs="EPSG:4326")


def street_facts(area, access, communities: pd.DataFrame) -> pd.DataFrame:
    """Per-街道 facts (no judgement): counts, places, 普惠, coverage shares, 2SFCA mean."""
    st, inst = area.streets, area.institutions
    idx = pd.Index(st.index.astype(str), name=None)
    isid, csid = inst["street_id"].astype(str), communities["street_id"].astype(str)
    puhui, places = inst["puhui"].astype(bool), inst["places"].astype(float)
    w = communities["infants"].astype(float).fillna(0)
    out = pd.DataFrame({"street_id": st["street_id"].astype(str).to_numpy(), "name": st["name"].astype(str).to_numpy(),
                        "district": st["district"].astype(str).to_numpy(),
                        "population": st["population"].astype(float).to_numpy(),
                        "infants": st["infants"].astype(float).to_numpy(),
                        "infants_estimated": st["infants_estimated"].astype(bool).to_numpy(),
                        "infants_source": st["infants_source"].astype(str).to_numpy()}, index=idx)
    out["communities"] = _sum_by(pd.Series(1, index=communities.index), csid, idx).astype(int)
    out["community_infants"] = _sum_by(w, csid, idx).astype(float)
    out["institutions"] = _sum_by(pd.Series(1, index=inst.index), isid, idx).astype(int)
    out["places"] = _sum_by(places, isid, idx).round().astype(int)
    out["puhui_institutions"] = _sum_by(puhui.astype(int), isid, idx).astype(int)
    out["puhui_places"] = _sum_by(places.where(puhui, 0.0), isid, idx).round().astype(int)
    out["demonstration_institutions"] = _sum_by(inst["is_demonstration"].astype(int), isid, idx).astype(int)
    pop = out["population"]
    out["places_per_1000"] = (out["places"] / pop.where(pop > 0) * 1000.0).astype(float)
    wsum = out["community_infants"]
    for m in access.minutes:
        for what in ("any", "puhui"):
            k = minute_key(m)
            covered = _sum_by(w.where(communities[f"within{k}_{what}"], 0.0), csid, idx)
            out[f"cover{k}_{what}"] = (covered / wsum.where(wsum > 0)).astype(float)
    sfca = communities["sfca_all"].fillna(0.0) if "sfca_all" in communities else pd.Series(0.0, index=w.index)
    out["sfca_mean"] = (_sum_by(sfca * w, csid, idx) / wsum.where(wsum > 0)).astype(float)
    return out


def street_scorecard(area, access, policy: Policy | str | None = None, *,
                     communities: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Per-街道 scorecard: the facts of :func:`street_facts` plus every scored rule's columns.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per 街道 (index = the ids, unnamed; order of ``area.streets``, EPSG:4326): facts
        (``street_id, name, district, population, infants, infants_estimated, communities,
        community_infants, institutions, places, puhui_institutions, puhui_places,
        demonstration_institutions, places_per_1000, cover{N}_any, cover{N}_puhui, sfca_mean``), the
        rules' columns (``target_per_1000, place_gap, puhui_share, puhui_target, has_puhui, res_meet,
        res_miss, res_missing_places`` and the status columns :data:`STATUS_COLUMNS`), ``status``.
    """
    area, pol = _policy(area, policy)
    cs = communities if communities is not None else community_scorecard(area, access, pol)
    out = street_facts(area, access, cs)
    statuses = []
    for rule in SCORED_RULES:
        cols = rule.score(out, pol, cs)
        statuses.append(cols.pop(rule.status_column))
        out = out.join(cols)
    for rule, col in zip(SCORED_RULES, statuses, strict=True):
        out[rule.status_column] = col
    out["status"] = status((out[list(STATUS_COLUMNS)] == MET).all(axis=1))
    log.info("street scorecard (%s): %d of %d 街道 达标", pol.name, int((out["status"] == MET).sum()), len(out))
    card = gpd.GeoDataFrame(out, geometry=area.streets.geometry.to_numpy(), crs="EPSG:4326")
    card.attrs.update(area_fingerprint=area.fingerprint(), policy_fingerprint=pol.fingerprint())
    return card


def street_total(scorecard: pd.DataFrame, policy: Policy | str) -> pd.Series:
    """Area total row (``street_id = "total"``, ``name = "合计"``) of a street scorecard.

    Counts are summed (``place_gap`` = places needed so that *every* 街道 reaches the target); ratios
    are recomputed from the sums, never averaged; coverage and ``sfca_mean`` are weighted by
    ``community_infants``; each rule judges the total (:meth:`Rule.score_total`: area-wide for the
    places target and the 普惠 share, every 街道 for 一街道一普惠 and the residential standard).
    """
    pol = load_policy(policy)
    sc = pd.DataFrame(scorecard).drop(columns=["geometry"], errors="ignore")
    t: dict[str, Any] = {}
    for c in sc.columns:
        s = sc[c]
        if pd.api.types.is_bool_dtype(s):
            t[c] = bool(s.any()) if c == "infants_estimated" else bool(s.all())
        elif pd.api.types.is_numeric_dtype(s):
            t[c] = s.sum()
    sources = sorted(set(sc["infants_source"].astype(str))) if "infants_source" in sc else []
    t.update(infants_source="、".join(sources), street_id="total", name="合计", district="、".join(sorted({str(v) for v in sc["district"] if str(v)})),
             target_per_1000=float(pol.places_per_1000), puhui_target=float(pol.puhui_share))
    pop, places = float(sc["population"].sum()), float(sc["places"].sum())
    t["places_per_1000"] = places / pop * 1000.0 if pop > 0 else np.nan
    w = sc["community_infants"].astype(float)
    for c in sc.columns:
        if c.startswith("cover") or c == "sfca_mean":
            t[c] = float((sc[c].fillna(0) * w).sum() / w.sum()) if w.sum() > 0 else np.nan
    for rule in RULES:
        rule.score_total(t, sc, pol)
    t["status"] = status(all(t[c] == MET for c in STATUS_COLUMNS))
    return pd.Series(t, name="total").reindex(list(sc.columns))


def district_scorecard(scorecard: pd.DataFrame, policy: Policy | str) -> pd.DataFrame:
    """Per district (``district`` of the 街道): 街道 and 达标 counts, places per 1000, 普惠 share,
    demonstration institutions and the 一县区一示范 status."""
    pol = load_policy(policy)
    sc = pd.DataFrame(scorecard).drop(columns=["geometry"], errors="ignore")
    g = sc.groupby(sc["district"].astype(str))
    out = pd.DataFrame({"streets": g.size(), "streets_met": g["status"].apply(lambda s: int((s == MET).sum())),
                        "population": g["population"].sum(), "places": g["places"].sum(),
                        "puhui_places": g["puhui_places"].sum(),
                        "demonstration_institutions": g["demonstration_institutions"].sum()})
    out["places_per_1000"] = out["places"] / out["population"].where(out["population"] > 0) * 1000.0
    out["puhui_share"] = (out["puhui_places"] / out["places"].where(out["places"] > 0)).fillna(0.0)
    out["status_demonstration"] = (DEMONSTRATION.score_district(out["demonstration_institutions"], pol)
                                   if DEMONSTRATION.applies(pol) else MET)
    out.index.name = "district"
    return out
