"""Why each 街道 still misses a rule after the plan (or now, without one)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..rules import BY_KEY, DEMONSTRATION, MET, SCORED_RULES
from .options import PlanOptions
from .result import SitePlan

__all__ = ["GAP_COLUMNS", "GapContext", "explain_gaps"]

GAP_COLUMNS = ["street_id", "name", "rule", "why"]


@dataclass(frozen=True)
class GapContext:
    """What a rule's ``explain_street`` may ask: the plan options and each 街道's spare capacity."""

    plan: SitePlan | None

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


def explain_gaps(before: pd.DataFrame, after: pd.DataFrame, policy, plan: SitePlan | None = None) -> pd.DataFrame:
    """One row per (街道, rule) not met in ``after``: ``street_id, name, rule, why`` — the rule's own
    name and explanation, plus districts without a demonstration institution (一县区一示范)."""
    ctx = GapContext(plan)
    rows = []
    for sid, row in after.iterrows():
        for rule in SCORED_RULES:
            if row.get(rule.status_column, MET) != MET:
                why = rule.explain_street(before.loc[sid], row, ctx)
                rows.append({"street_id": str(sid), "name": str(row["name"]), "rule": rule.name, "why": why})
    if DEMONSTRATION.applies(policy) and "demonstration_institutions" in after.columns:
        district = after["district"].astype(str) if "district" in after.columns else pd.Series("", index=after.index)
        counts = after.groupby(district)["demonstration_institutions"].sum()
        for name, n in counts.items():
            if DEMONSTRATION.score_district(pd.Series([n]), policy).iloc[0] != MET:
                rows.append({"street_id": "", "name": name or "全区", "rule": DEMONSTRATION.name,
                             "why": DEMONSTRATION.explain_district(name, int(n), policy)})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)
