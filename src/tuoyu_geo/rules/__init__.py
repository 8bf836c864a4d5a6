"""Policy rules as objects: each scores the status quo, adds its MILP block, explains and names itself.

:data:`RULES` lists one instance of every rule, in the order their blocks are added to the plan's
MILP.  :data:`SCORED_RULES` are the rules with a per-街道 status (their status columns make up the
scorecard's overall ``status``); :data:`SITE_REASON_RULES` give the reasons of a chosen site, in
the order they are written, with :data:`FALLBACK_REASON_RULE` used when none applies.

>>> from tuoyu_geo.rules import RULES
>>> [r.name for r in RULES][:3]
['指定点位', '一街道一普惠', '预算']
"""

from __future__ import annotations

from .base import EPS, MET, NOT_MET, Rule, SiteContext, Unmet, status
from .sites import Budget, Coverage, MaxSites, Phasing, SiteChoice
from .standards import Demonstration, Residential
from .targets import AreaPuhuiShare, OnePuhuiPerStreet, PlacesPer1000, StreetPuhuiShare, place_gap

__all__ = [
    "BY_KEY", "DEMONSTRATION", "EPS", "FALLBACK_REASON_RULE", "MET", "NOT_MET", "RULES", "SCORED_RULES", "SITE_REASON_RULES",
    "AreaPuhuiShare", "Budget", "Coverage", "Demonstration", "MaxSites", "OnePuhuiPerStreet", "Phasing",
    "PlacesPer1000", "Residential", "Rule", "SiteChoice", "SiteContext", "StreetPuhuiShare", "Unmet",
    "place_gap", "status",
]

SITE_CHOICE, ONE_PUHUI, BUDGET, MAX_SITES = SiteChoice(), OnePuhuiPerStreet(), Budget(), MaxSites()
PHASING, PLACES, AREA_SHARE, STREET_SHARE = Phasing(), PlacesPer1000(), AreaPuhuiShare(), StreetPuhuiShare()
COVERAGE, RESIDENTIAL, DEMONSTRATION = Coverage(), Residential(), Demonstration()

#: every rule, in MILP block order
RULES: tuple[Rule, ...] = (SITE_CHOICE, ONE_PUHUI, BUDGET, MAX_SITES, PHASING, PLACES, AREA_SHARE, STREET_SHARE,
                           COVERAGE, RESIDENTIAL, DEMONSTRATION)
BY_KEY: dict[str, Rule] = {r.key: r for r in RULES}
#: rules with a per-街道 status, in scorecard column order
SCORED_RULES: tuple[Rule, ...] = (PLACES, STREET_SHARE, ONE_PUHUI, RESIDENTIAL)
#: rules whose reasons explain a chosen site, in writing order
SITE_REASON_RULES: tuple[Rule, ...] = (ONE_PUHUI, DEMONSTRATION, SITE_CHOICE, PLACES, COVERAGE)
FALLBACK_REASON_RULE: Rule = AREA_SHARE
