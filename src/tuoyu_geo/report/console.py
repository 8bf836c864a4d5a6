"""Text the CLI prints: compact tables of an :class:`~tuoyu_geo.pipeline.Assessment` (lines, no I/O)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..rules import MET
from ..writer import display_width

__all__ = ["access_table", "distance_lines", "equity_lines", "gap_lines", "plan_lines", "rule_lines", "scorecard_lines",
           "summary_lines"]


def _pct(v: Any) -> str:
    return "—" if v is None or v != v else f"{v:.0%}"


def _grid(head: list[tuple[str, str]], rows: list[list[str]], left: tuple[int, ...]) -> list[str]:
    widths = [max(display_width(x) for x in (*head[j], *(r[j] for r in rows))) for j in range(len(head))]

    def line(cells: list[str]) -> str:
        out = []
        for j, c in enumerate(cells):
            pad = " " * (widths[j] - display_width(c))
            out.append(c + pad if j in left else pad + c)
        return "  ".join(out).rstrip()

    rule = "  ".join("─" * w for w in widths)
    body = [line(r) for r in rows]
    return [line([h[0] for h in head]), line([h[1] for h in head]), rule, *body[:-1], rule, body[-1]]


def distance_lines(a) -> list[str]:
    """The distance model when it is the straight-line fallback (no walk network): one line."""
    from .labels import distance_model_label

    acc = a.access
    if acc.distance_model == "network":
        return []
    return [f"距离口径 distance: {distance_model_label(acc.distance_model, acc.detour_factor)}; "
            f"{distance_model_label(acc.distance_model, acc.detour_factor, english=True)}"]


def access_table(a, minutes: float) -> list[str]:
    """Share of infants within ``minutes`` of any / a 普惠 institution, per 街道 and in total."""
    from .labels import minute_key

    k = minute_key(minutes)
    cs = a.communities
    rows = []
    for sid, g in list(cs.groupby("street_id")) + [("total", cs)]:
        w = g["infants"].astype(float)
        tot = float(w.sum())
        share = [float(w[g[f"within{k}_{what}"]].sum()) / tot if tot > 0 else float("nan") for what in ("any", "puhui")]
        name = "合计" if sid == "total" else str(a.streets.loc[sid, "name"])
        rows.append([name, f"{tot:,.0f}", _pct(share[0]), _pct(share[1])])
    head = [("街道", "street"), ("婴幼儿", "infants"), (f"{k}分钟 任一", f"any ≤{k} min"), (f"{k}分钟 普惠", f"普惠 ≤{k} min")]
    return [f"{a.area.name}: share of infants within {k} min ({a.access.threshold_m(minutes):.0f} m walk)",
            *distance_lines(a), *_grid(head, rows, left=(0,))]


def scorecard_lines(a) -> list[str]:
    """Per-街道 scorecard table with the total row, then the unmet rules with their reasons."""
    st, tot, pol = a.streets, a.total, a.policy
    rows = []
    for _, r in list(st.iterrows()) + [(None, tot)]:
        ppk = r["places_per_1000"]
        rows.append([str(r["name"]), ("—" if ppk != ppk else f"{ppk:.2f}") + f" / {r['target_per_1000']:g}",
                     f"{int(r['place_gap']):,}", f"{_pct(r['puhui_share'])} / {r['puhui_target']:.0%}",
                     "✓" if r["status_one_puhui"] == MET else "✗",
                     f"{_pct(r.get('cover15_any'))} / {_pct(r.get('cover15_puhui'))}", str(r["status"])])
    head = [("街道", "street"), ("托位/千人", "per 1000"), ("缺口", "gap"), ("普惠占比", "puhui"),
            ("一街一普惠", "1 puhui"), ("15分钟覆盖 任一/普惠", "15-min any/puhui"), ("状态", "status")]
    n_ok = int((st["status"] == MET).sum())
    return [f"{a.area.name} — policy {pol.name}: {pol.title}", *distance_lines(a), *_grid(head, rows, left=(0, 4, 6)),
            f"{n_ok} of {len(st)} 街道 达标; place gap (sum over 街道) {int(tot['place_gap']):,}; residential "
            f"standard: {int(tot['res_miss']):,} of {int(tot['res_meet'] + tot['res_miss']):,} communities miss it "
            f"({tot['res_missing_places']:,.0f} places)", *gap_lines(a)]


def gap_lines(a, *, limit: int = 40) -> list[str]:
    """The unmet rules, one line each: 街道 · rule · why."""
    g = a.gaps
    if g.empty:
        return ["所有街道全部规则达标 every 街道 meets every rule"]
    head = "方案后仍未达标 still unmet after the plan:" if a.plan is not None else "未达标 unmet rules:"
    lines = [head] + [f"  {r.name} · {r.rule}: {r.why}" for r in g.head(limit).itertuples()]
    if len(g) > limit:
        lines.append(f"  … {len(g) - limit} more")
    return lines


def plan_lines(a) -> list[str]:
    """The plan: totals, status, the sites in order and the per-街道 before/after."""
    p, ov = a.plan, a.plan.objective_values
    o = p.options
    lines = [f"{a.area.name} — policy {a.policy.name}; {o.minutes:g}-minute walk ({p.radius_m:.0f} m); solver {o.solver}",
             f"plan: {len(p.sites)} new 普惠 sites, {ov['places']:.0f} places, cost {ov['cost']:,.1f} 万元"
             + (f" (budget {o.budget_wan:,.1f})" if o.budget_wan is not None else ""),
             f"infants newly within {o.minutes:g} min of 普惠: {ov['infants_newly_covered']:,.0f} "
             f"(before {ov['infants_covered_before']:,.0f}); remaining shortfall "
             f"{int(a.total_after['place_gap']):,} places (Σ 街道 gaps after the plan, before "
             f"{int(a.total['place_gap']):,}); 普惠 share after {a.total_after['puhui_share']:.0%}",
             f"status: {p.status} (gap {p.gap:.1e}; solver {p.solve_seconds:.1f} s)", p.optimality, *distance_lines(a)]
    show = ["order", "site_id", "name", "street_name", "places", "classes", "cost", "year", "new_infants_covered",
            "reason"]
    tab = pd.DataFrame(p.sites[show]).sort_values("order")
    if len(tab):
        lines.append(tab.head(30).to_string(index=False))
        if len(tab) > 30:
            lines.append(f"… {len(tab) - 30} more in recommended_sites.csv")
    b, af = a.streets, a.streets_after
    cmp = pd.DataFrame({"街道": b["name"], "托位 前": b["places"], "托位 后": af["places"],
                        "缺口 前": b["place_gap"], "缺口 后": af["place_gap"],
                        "状态 前": b["status"], "状态 后": af["status"]})
    lines.append(cmp.to_string(index=False))
    return lines + equity_lines(a) + rule_lines(a)


def rule_lines(a) -> list[str]:
    """Each 街道, one line per rule: ✓/✗, the figure, the target and why a failure remains."""
    lines = ["各街道规则 per 街道 and rule (after the plan):" if a.plan is not None else "各街道规则 per 街道 and rule:"]
    for sid, g in a.rule_table.groupby("street_id", sort=False):
        lines.append(f"  {g['name'].iloc[0]} ({sid})")
        for r in g.itertuples():
            mark = "✓" if r.status == MET else "✗"
            lines.append(f"    {mark} {r.rule}: {r.figure}（目标 {r.target}）" + (f" — {r.why}" if r.why else ""))
    other = a.gaps[a.gaps["street_id"] == ""]
    lines += [f"  ✗ {r.name} · {r.rule}: {r.why}" for r in other.itertuples()]
    return lines


def summary_lines(a) -> list[str]:
    """The demo's bilingual summary: now, the plan, after."""
    def share(cs: pd.DataFrame) -> float:
        w = cs["infants"].astype(float)
        return float((w * cs["within15_puhui"]).sum() / w.sum()) if w.sum() > 0 else float("nan")

    st, pol = a.streets, a.policy
    pop, places = float(st["population"].sum()), float(st["places"].sum())
    ok = int((st["status"] == MET).sum())
    lines = ["", f"{a.area.name} · 政策口径 policy {pol.name}（{pol.title}）", *distance_lines(a),
             f"现状 now:   {ok}/{len(st)} 个街道达标 streets meet all targets; 托位 places {places:,.0f} "
             f"(每千人口 per 1000 {places / pop * 1000:.2f}, 目标 target {pol.places_per_1000:g}); "
             f"15分钟普惠覆盖 infants within 15 min of 普惠 {share(a.communities):.0%}"]
    if a.plan is not None:
        s, af = a.plan.sites, a.streets_after
        lines += [f"方案 plan:  新建 {len(s)} 处普惠站点 new 普惠 sites, 新增托位 +{float(s['places'].sum()):,.0f} places, "
                  f"投资 cost {float(s['cost'].sum()):,.1f} 万元; status {a.plan.status} (gap {a.plan.gap:.1e})",
                  f"方案后 after: {int((af['status'] == MET).sum())}/{len(af)} 个街道达标; 每千人口托位 per 1000 "
                  f"{float(af['places'].sum()) / pop * 1000:.2f}; 15分钟普惠覆盖 {share(a.communities_after):.0%}"]
    return lines + equity_lines(a) + gap_lines(a, limit=12)


def equity_lines(a) -> list[str]:
    """Gini of 2SFCA access, lowest-decile share and the lowest 街道 coverage, before → after."""
    eq = a.equity
    after = "after" in eq.columns

    def val(key: str, fmt: str) -> str:
        b = format(eq.loc[key, "before"], fmt)
        return f"{b} → {format(eq.loc[key, 'after'], fmt)}" if after else b

    street = (f"（{eq.loc['min_street_cover15_puhui_street', 'before']}"
              + (f" → {eq.loc['min_street_cover15_puhui_street', 'after']}" if after else "") + "）")
    return [f"公平性 equity: 基尼系数 Gini(2SFCA) {val('gini_sfca', '.3f')}；最低十分位婴幼儿占比 "
            f"{val('lowest_decile_share', '.1%')}；街道15分钟普惠覆盖最低 {val('min_street_cover15_puhui', '.1%')}{street}"]
