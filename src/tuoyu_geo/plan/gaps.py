"""Why each 街道 still misses a rule after the plan (or now, without one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ..rules import BY_KEY, DEMONSTRATION, MET, SCORED_RULES
from .options import PlanOptions
from .result import SitePlan

__all__ = ["GAP_COLUMNS", "RULE_STATUS_COLUMNS", "GapContext", "explain_gaps", "residential_fixers", "rule_status"]

GAP_COLUMNS = ["street_id", "name", "rule", "why"]
RULE_STATUS_COLUMNS = ["street_id", "name", "rule", "status", "figure", "target", "why"]


@dataclass(frozen=True)
class GapContext:
    """What a rule's ``explain_street`` may ask: the plan options, each 街道's spare capacity and,
    for the residential standard, the communities still missing places and the candidates that
    could fix them (``fixers``: community id → candidate ids within reach)."""

    plan: SitePlan | None
    communities: pd.DataFrame | None = None
    fixers: Mapping[str, list] | None = None

    def residential_misses(self, sid: str) -> list[tuple[str, float, list, int]]:
        """(community name, places missing, fixing candidates not yet chosen, fixing candidates in all)
        of the 街道's communities missing the residential standard, most missing first."""
        cs = self.communities
        if cs is None:
            return []
        chosen = set() if self.plan is None else set(self.plan.sites.index)
        miss = cs[(cs["street_id"].astype(str) == sid) & ~cs["meets_standard"].astype(bool)]
        miss = miss.sort_values("missing_places", ascending=False)
        fixers = self.fixers or {}
        return [(str(r["name"]), float(r["missing_places"]), [j for j in fixers.get(str(i), []) if j not in chosen],
                 len(fixers.get(str(i), []))) for i, r in miss.iterrows()]

    @property
    def options(self) -> PlanOptions:
        return self.plan.options if self.plan is not None else PlanOptions()

    def capacity_note(self, sid: str) -> str:
        if self.plan is None:
            return "尚未做选址方案"
        cap = self.plan.street_capacity
        row = cap.loc[sid] if sid in cap.index else None
        if row is None or row["allowed"] == 0:
            return "街道内无可用候选点（请增加候选点）"
        notes = [f"街道内{int(row['allowed'])}个可用候选点已选{int(row['chosen'])}个，尚可增加{row['spare']:.0f}个托位"]
        opts = self.plan.options
        if opts.budget_wan is not None:
            notes.append(f"预算已用{cap.attrs['budget_used_wan']:.1f}/{opts.budget_wan:.1f}万元")
        if opts.max_new_sites is not None and cap.attrs["sites"] >= opts.max_new_sites:
            notes.append(f"已达{BY_KEY['max_sites'].name}{opts.max_new_sites}")
        return "；".join(notes)


def residential_fixers(area, access) -> dict[str, list]:
    """Community id → allowed candidate ids within the largest walking threshold (who could fix its
    residential 配建 gap)."""
    from ..access import within

    reach = within(access.dist_candidates, access.max_distance_m).tocsr()
    ids = [str(c) for c in access.candidate_ids]
    return {str(c): [ids[j] for j in reach.indices[reach.indptr[i]:reach.indptr[i + 1]]]
            for i, c in enumerate(access.community_ids)}


def rule_status(before: pd.DataFrame, after: pd.DataFrame, policy, plan: SitePlan | None = None, *,
                communities: pd.DataFrame | None = None, fixers: Mapping[str, list] | None = None) -> pd.DataFrame:
    """One row per (街道, scored rule): ``status`` 达标/未达标, the ``figure`` and the ``target`` (text)
    and, for a failure, ``why`` it remains (the rule's own explanation)."""
    ctx = GapContext(plan, communities, fixers)
    rows = []
    for sid, row in after.iterrows():
        for rule in SCORED_RULES:
            ok = row.get(rule.status_column, MET) == MET
            figure, target = rule.describe(row)
            why = "" if ok else rule.explain_street(before.loc[sid], row, ctx)
            rows.append({"street_id": str(sid), "name": str(row["name"]), "rule": rule.name,
                         "status": row.get(rule.status_column, MET), "figure": figure, "target": target, "why": why})
    return pd.DataFrame(rows, columns=RULE_STATUS_COLUMNS)


def explain_gaps(before: pd.DataFrame, after: pd.DataFrame, policy, plan: SitePlan | None = None, *,
                 communities: pd.DataFrame | None = None, fixers: Mapping[str, list] | None = None) -> pd.DataFrame:
    """One row per (街道, rule) not met in ``after``: ``street_id, name, rule, why`` — the rule's own
    name and explanation, plus districts without a demonstration institution (一县区一示范)."""
    table = rule_status(before, after, policy, plan, communities=communities, fixers=fixers)
    rows = table.loc[table["status"] != MET, GAP_COLUMNS].to_dict(orient="records")
    if DEMONSTRATION.applies(policy) and "demonstration_institutions" in after.columns:
        district = after["district"].astype(str) if "district" in after.columns else pd.Series("", index=after.index)
        counts = after.groupby(district)["demonstration_institutions"].sum()
        for name, n in counts.items():
            if DEMONSTRATION.score_district(pd.Series([n]), policy).iloc[0] != MET:
                rows.append({"street_id": "", "name": name or "全区", "rule": DEMONSTRATION.name,
                             "why": DEMONSTRATION.explain_district(name, int(n), policy)})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)
