"""The 专项规划 report: one self-contained HTML file (and its PDF) for a reviewer who never runs the tool.

:func:`write_report` reads an :class:`~tuoyu_geo.pipeline.Assessment` (and optionally a
:class:`~tuoyu_geo.scenarios.BudgetComparison`) and writes ``report.html`` — every chart and map an
inlined PNG, the CSS inlined, no external URL — and ``report.pdf`` rendered from it
(:mod:`tuoyu_geo.report.pdf`).  Sections (headings from :data:`~tuoyu_geo.report.labels.REPORT_SECTIONS`):
cover; 概要 (key numbers); 现状 per 街道; 现状差距; the plan's site table (托位, 班级, 保育人员,
建筑面积, 投资, 年份, reason); before/after charts and table; maps before/after; unmet rules with
reasons (``Assessment.gaps``); budget scenarios (optional); assumptions and the source of every
number; the solver's status and gap.  A4 portrait (CSS ``@page``), tables repeat their header on
each page and fit the page width.

Nothing is computed here: the numbers are the scorecards' and the plan's (the site table is
:func:`tuoyu_geo.report.export.site_table`, the before/after table
:func:`~tuoyu_geo.report.export.street_comparison`), the charts are drawn by
:mod:`tuoyu_geo.report.charts`.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..demand import demand_rate_basis
from ..rules import MET, NOT_MET, SCORED_RULES
from ..writer import NO, YES, atomic_paths, terminal_text
from . import charts
from ._assessment import require
from .export import site_table, street_comparison
from .labels import (
    DEFINITIONS,
    REPORT_SECTIONS,
    SOLVER_STATUS_ZH,
    STAGES_ZH,
    SUFFIXES_ZH,
    _split_suffix,
    label,
    minute_key,
    number_format,
)
from .pdf import PdfUnavailable, render_pdf
from .scorecard import _policy_rows

log = logging.getLogger(__name__)

__all__ = ["REPORT_FILES", "ReportFiles", "report_html", "write_report"]

#: file name per output of :func:`write_report`
REPORT_FILES = {"html": "report.html", "pdf": "report.pdf"}
_NUMERALS = "一二三四五六七八九十"
_NOWRAP = frozenset({"site_id", "street_id", "status", "status_before", "status_after", "solver_status"})
#: columns of the 现状 and site tables (those missing from the frame are left out)
STATUS_COLUMNS = ("name", "population", "infants", "institutions", "places", "places_per_1000", "place_gap",
                  "puhui_places", "puhui_share", "has_puhui", "cover{mk}_puhui", "status")
SITE_COLUMNS = ("order", "site_id", "name", "street_name", "kind", "places", "classes", "carers", "floor_area_m2",
                "cost", "year", "reason")
SITE_TOTALS = ("places", "carers", "floor_area_m2", "cost")
#: relative column widths of the site table (A4 portrait)
SITE_WIDTHS = {"order": 4.5, "site_id": 7, "name": 13, "street_name": 8.5, "kind": 7.5, "places": 6.5, "classes": 10,
               "carers": 5.5, "floor_area_m2": 7, "cost": 7.5, "year": 5.5, "reason": 20}
COMPARE_COLUMNS = ("name", "places_before", "places_after", "places_per_1000_before", "places_per_1000_after",
                   "puhui_share_before", "puhui_share_after", "cover{mk}_puhui_before", "cover{mk}_puhui_after",
                   "status_before", "status_after", "new_sites", "new_places")

_CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
html { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
  "WenQuanYi Zen Hei", "TuoyuCJK", sans-serif; font-size: 10pt; color: #222; line-height: 1.5; }
body { max-width: 190mm; margin: 0 auto; padding: 0 4mm; }
h1 { font-size: 22pt; margin: 0 0 6mm; line-height: 1.3; }
h2 { font-size: 14pt; border-bottom: 2px solid #2b8cbe; padding-bottom: 1mm; margin: 8mm 0 3mm;
  page-break-after: avoid; break-after: avoid; }
h3 { font-size: 11pt; margin: 5mm 0 2mm; page-break-after: avoid; break-after: avoid; }
p { margin: 1.5mm 0; }
.cover { page-break-after: always; break-after: page; padding-top: 40mm; }
.cover .sub { font-size: 13pt; color: #444; margin-bottom: 14mm; }
.cover table { width: auto; font-size: 10.5pt; }
.note { color: #555; font-size: 8.5pt; }
.warn { background: #fff4e5; border-left: 3px solid #e08214; padding: 2mm 3mm; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; table-layout: auto; margin: 2mm 0 4mm; font-size: 8.5pt; }
table.small { font-size: 7.5pt; }
thead { display: table-header-group; }
tfoot { display: table-footer-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: 1mm 1.4mm; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eef3f8; font-weight: bold; text-align: center; }
td.num { text-align: right; white-space: nowrap; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
.kv td:first-child { width: 32%; }
tr.total td { font-weight: bold; background: #f6f6f6; }
td.met { color: #1a7f37; } td.fail { color: #c0392b; font-weight: bold; }
img { max-width: 100%; height: auto; display: block; margin: 2mm auto; }
figure { margin: 2mm 0 4mm; page-break-inside: avoid; break-inside: avoid; }
figcaption { font-size: 8.5pt; color: #555; text-align: center; }
.kv td:first-child { white-space: nowrap; color: #333; }
@media screen { body { padding: 8mm 6mm; } .cover { padding-top: 8mm; } }
"""


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote: ``html``, ``pdf`` (None when not made) and, then, why not."""

    html: Path
    pdf: Path | None
    pdf_problem: str | None = None


# ------------------------------------------------------------------------------------ formatting

def _e(v: Any) -> str:
    """HTML-escaped text without control characters, escape sequences or bidirectional overrides
    (a 街道 name must not reorder or hide the text around it)."""
    return html.escape(terminal_text(v), quote=True)


def _missing(v: Any) -> bool:
    try:
        return v is None or (not isinstance(v, str) and bool(pd.isna(v)))
    except (TypeError, ValueError):
        return False


def fmt(col: str, v: Any) -> str:
    """A value as the report shows it: the column's number format from the label table
    (shares as %, per-1000 figures with 2 decimals, counts with thousands separators), 是/否, — for none."""
    if _missing(v):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return YES if v else NO
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = number_format(col)
        x = float(v)
        if not math.isfinite(x):
            return "—"
        if f is None:
            return f"{int(x):,}" if x == int(x) and abs(x) < 1e15 else f"{x:,.2f}"
        if "E" in f:
            return f"{x:.1e}"
        decimals = len(f.split(".")[1].rstrip("%")) if "." in f else 0
        if f.endswith("%"):
            return f"{x:.{decimals}%}"
        return f"{x:,.{decimals}f}" if "," in f else f"{x:.{decimals}f}"
    return str(v)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _cell(col: str, v: Any, *, key: str | None = None) -> str:
    cls = []
    if _is_num(v):
        cls.append("num")
    elif col in _NOWRAP:
        cls.append("nowrap")
    if isinstance(v, str) and v in (MET, NOT_MET):
        cls.append("met" if v == MET else "fail")
    attrs = (f' class="{" ".join(cls)}"' if cls else "") + (f' data-key="{_e(key)}"' if key else "")
    return f"<td{attrs}>{_e(fmt(col, v))}</td>"


def _head(cols: Sequence[str], headers: Mapping[str, str]) -> str:
    """Header rows: a ``x_before, x_after`` pair gets one header over 方案前 | 方案后."""
    top, sub, i = [], [], 0
    while i < len(cols):
        c = cols[i]
        base, suffix = _split_suffix(c)
        if suffix == "_before" and i + 1 < len(cols) and cols[i + 1] == f"{base}_after":
            top.append(f'<th colspan="2">{_e(headers.get(base) or label(base))}</th>')
            sub += [f"<th>{SUFFIXES_ZH['_before']}</th>", f"<th>{SUFFIXES_ZH['_after']}</th>"]
            i += 2
            continue
        top.append(f"<th>{_e(headers.get(c) or label(c))}</th>")
        i += 1
    if not sub:
        return f"<tr>{''.join(top)}</tr>"
    top = [t.replace("<th>", '<th rowspan="2">', 1) for t in top]
    return f"<tr>{''.join(top)}</tr><tr>{''.join(sub)}</tr>"


def _table(df: pd.DataFrame, columns: Sequence[str], *, total: Mapping[str, Any] | None = None,
           row_key: str | None = None, cls: str = "", headers: Mapping[str, str] | None = None,
           name: str = "table", widths: Mapping[str, float] | None = None) -> str:
    """An HTML table of ``columns`` of ``df`` (headers from the label table), an optional 合计 row
    (its cells keyed ``{name}_total_{column}``); ``widths`` (column → relative width) fixes the
    layout so that long text wraps in its own column."""
    cols = [c for c in columns if c in df.columns]
    head = _head(cols, headers or {})
    body = []
    for _, r in df.iterrows():
        attr = f' data-row="{_e(r[row_key])}"' if row_key else ""
        body.append(f"<tr{attr}>" + "".join(_cell(c, r[c]) for c in cols) + "</tr>")
    foot = ""
    if total is not None:
        cells = "".join(_cell(c, total.get(c), key=f"{name}_total_{c}") if not _missing(total.get(c)) else "<td></td>"
                        for c in cols)
        foot = f'<tr class="total">{cells}</tr>'
    c = f' class="{cls}"' if cls else ""
    group = ""
    if widths:
        w = {k: widths.get(k, 5.0) for k in cols}
        group = "<colgroup>" + "".join(f'<col style="width:{100 * w[k] / sum(w.values()):.1f}%">'
                                       for k in cols) + "</colgroup>"
        c += ' style="table-layout: fixed"'
    return f"<table{c}>{group}<thead>{head}</thead><tbody>{''.join(body)}{foot}</tbody></table>"


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _kv(rows: Iterable[tuple[str, Any]], *, headers: tuple[str, str] = ("项目", "数值")) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><thead><tr><th>{headers[0]}</th><th>{headers[1]}</th></tr></thead>' \
           f"<tbody>{body}</tbody></table>"


# ------------------------------------------------------------------------------------ sections

def _met(streets: pd.DataFrame) -> int:
    return int((streets["status"] == MET).sum())


def summary_values(a: Any) -> dict[str, Any]:
    """The key numbers of the 概要 table (read off the total rows and the plan's sites)."""
    mk = minute_key(a.minutes)
    t, ta = a.total, a.total_after
    out: dict[str, Any] = {
        "streets": len(a.streets), "population": t["population"], "infants": t["infants"],
        "institutions_before": t["institutions"], "places_before": t["places"],
        "places_per_1000_before": t["places_per_1000"], "puhui_share_before": t["puhui_share"],
        f"cover{mk}_puhui_before": t[f"cover{mk}_puhui"], "streets_met_before": _met(a.streets),
        "unmet_rules": len(a.gaps),
    }
    if a.plan is not None:
        s = a.plan.sites
        out.update({"places_after": ta["places"], "places_per_1000_after": ta["places_per_1000"],
                    "puhui_share_after": ta["puhui_share"], f"cover{mk}_puhui_after": ta[f"cover{mk}_puhui"],
                    "streets_met_after": _met(a.streets_after), "new_sites": len(s),
                    "new_places": s["places"].sum(), "cost": s["cost"].sum(), "carers": s["carers"].sum(),
                    "floor_area_m2": s["floor_area_m2"].sum()})
    return out


def _summary(a: Any) -> str:
    mk = minute_key(a.minutes)
    v = summary_values(a)
    pol = a.policy
    has_plan = a.plan is not None

    def row(name: str, key: str, col: str, target: str = "") -> str:
        after = _cell(col, v.get(f"{key}_after"), key=f"{key}_after") if has_plan else ""
        return (f"<tr><td>{_e(name)}</td>{_cell(col, v[f'{key}_before'], key=f'{key}_before')}{after}"
                f"<td>{_e(target)}</td></tr>")

    n = v["streets"]
    rows = [row("托位数", "places", "places"),
            row("每千人口托位数", "places_per_1000", "places_per_1000", f"≥ {pol.places_per_1000:g}"),
            row("普惠托位占比", "puhui_share", "puhui_share", f"≥ {pol.puhui_share:.0%}"),
            row(f"{mk}分钟普惠覆盖率（按婴幼儿）", f"cover{mk}_puhui", f"cover{mk}_puhui"),
            row(f"综合达标街道数（共{n}个）", "streets_met", "streets")]
    head = "<th>指标</th><th>现状</th>" + ("<th>方案后</th>" if has_plan else "") + "<th>政策目标</th>"
    key_table = f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    facts = [("研究区", a.area.name), ("街道/乡镇数", f"{n}"), ("常住人口", fmt("population", v["population"])),
             ("0–3岁婴幼儿数", fmt("infants", v["infants"])),
             ("现有托育机构", fmt("institutions", v["institutions_before"]))]
    out = [_kv(facts)]
    if has_plan:
        plan_rows = "".join(f"<tr><td>{_e(label(k))}</td>{_cell(k, v[k], key=k)}</tr>"
                            for k in ("new_sites", "new_places", "cost", "carers", "floor_area_m2"))
        out.append(f'<h3>布局方案</h3><table class="kv"><thead><tr><th>项目</th><th>合计</th></tr></thead>'
                   f"<tbody>{plan_rows}</tbody></table>")
    out.append(f"<h3>主要指标</h3>{key_table}")
    unmet = v["unmet_rules"]
    when = "方案后" if has_plan else "现状"
    out.append(f'<p>{when}仍有 <b data-key="unmet_rules">{unmet}</b> 项（街道 × 规则）未满足，见'
               f"“{REPORT_SECTIONS['unmet']}”。</p>")
    return "".join(out)


def _status(a: Any) -> str:
    mk = minute_key(a.minutes)
    cols = [c.format(mk=mk) for c in STATUS_COLUMNS]
    return (_table(a.streets, cols, total={**dict(a.total), "name": "合计"}, row_key="street_id", cls="small",
                   name="status") + f'<p class="note">{_e(DEFINITIONS["合计"])}</p>')


def _gaps_now(a: Any) -> str:
    rows = []
    for sid, r in a.streets.iterrows():
        for rule in SCORED_RULES:
            if r.get(rule.status_column, MET) != MET:
                figure, target = rule.describe(r)
                rows.append({"street_id": sid, "name": r["name"], "rule": rule.name, "figure": figure,
                             "target": target})
    if not rows:
        return "<p>现状各街道全部规则均达标。</p>"
    df = pd.DataFrame(rows)
    return (f"<p>现状共有 {len(df)} 项（街道 × 规则）未达标：</p>"
            + _table(df, ["street_id", "name", "rule", "figure", "target"], headers={"name": "街道"}))


def _plan(a: Any) -> str:
    if a.plan is None:
        return "<p>本报告未做选址方案。</p>"
    sites = site_table(a)
    if sites.empty:
        return "<p>方案未推荐新增站点（在给定预算与约束下无需或无法新增）。</p>"
    total = {c: sites[c].sum() for c in SITE_TOTALS if c in sites.columns}
    total["name"] = "合计"
    out = [f"<p>推荐新增普惠托育站点 {len(sites)} 个，按优先顺序排列（“{label('reason')}”说明该站点满足的规则）。</p>",
           _table(sites, SITE_COLUMNS, total=total, row_key="site_id", cls="small", name="sites",
                  widths=SITE_WIDTHS),
           f'<p class="note">{_e(label("carers"))}：{_e(DEFINITIONS["carers"])} '
           f'{_e(label("floor_area_m2"))}：{_e(DEFINITIONS["floor_area_m2"])}</p>']
    coord = [c for c in sites.columns if c.startswith(("east_gk", "north_gk"))]
    out.append("<h3>站点坐标（用地审查）</h3>"
               + _table(sites, ["site_id", "name", "lon_cgcs2000", "lat_cgcs2000", *coord], cls="small",
                      widths={"site_id": 9, "name": 25, "lon_cgcs2000": 14, "lat_cgcs2000": 14,
                              **{c: 19 for c in coord}}))
    return "".join(out)


def _compare(a: Any) -> str:
    if a.plan is None:
        return "<p>无方案，无前后对比。</p>"
    mk = minute_key(a.minutes)
    pol = a.policy
    comp = street_comparison(a)
    out = [_figure(charts.before_after_chart(a, "places_per_1000", target=pol.places_per_1000),
                   "各街道每千人口托位数：方案前后（虚线为政策目标）"),
           _figure(charts.before_after_chart(a, f"cover{mk}_puhui", percent=True),
                   f"各街道{mk}分钟步行范围内有普惠机构的婴幼儿占比：方案前后"),
           _table(comp, [c.format(mk=mk) for c in COMPARE_COLUMNS], cls="small", row_key="street_id")]
    return "".join(out)


def _maps(a: Any) -> str:
    n = len([r for r in SCORED_RULES if r.status_column in a.streets.columns])
    return _figure(charts.compliance_maps(a), f"街道按达标规则数（共{n}项）着色，粗绿边框为综合达标；蓝点为现有普惠机构，"
                                              "灰点为其他托育机构，红色星号为推荐站点")


def _unmet(a: Any) -> str:
    if a.gaps.empty:
        return "<p>全部规则均已满足。</p>"
    g = a.gaps.assign(street_id=a.gaps["street_id"].replace("", "—"))
    return _table(g, ["street_id", "name", "rule", "why"], headers={"name": "街道/区县"},
                  widths={"street_id": 8, "name": 12, "rule": 14, "why": 66})


def _scenarios(comparison: Any) -> str:
    t = comparison.table
    cols = [c for c in t.columns if c not in ("budget_wan", "streets")]
    head = "".join(f"<th>{_e(fmt('budget_wan', b))}</th>" for b in t["budget_wan"])
    body = []
    for c in cols:
        vals = [SOLVER_STATUS_ZH.get(str(v), str(v)) if c == "solver_status" else v for v in t[c]]
        body.append(f'<tr data-row="{_e(c)}"><td>{_e(label(c))}</td>' + "".join(_cell(c, v) for v in vals) + "</tr>")
    w = 66.0 / len(t)
    group = '<colgroup><col style="width:34%">' + f'<col style="width:{w:.1f}%">' * len(t) + "</colgroup>"
    table = (f'<table class="small" style="table-layout: fixed">{group}<thead><tr><th>{_e(label("budget_wan"))}'
             f"</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return (_figure(charts.frontier_chart(comparison), "预算与新增托位、普惠覆盖、达标街道数、基尼系数")
            + table
            + '<p class="note">每个预算单独求解同一模型（其他参数不变）；基尼系数按婴幼儿加权的2SFCA可达性计算，'
              "越小越均衡。</p>")


def _assumptions(a: Any) -> str:
    pol = a.policy
    rows = _policy_rows(pol)
    body = "".join(f"<tr><td>{_e(item)}</td><td>{_e(val)}</td><td>{_e(src)}</td></tr>" for _, item, val, src in rows)
    out = [f"<h3>政策口径：{_e(pol.name)}（{_e(pol.title)}）</h3>",
           f'<table class="small"><thead><tr><th>参数</th><th>取值</th><th>来源与说明</th></tr></thead>'
           f"<tbody>{body}</tbody></table>"]
    est = a.streets.get("infants_estimated")
    n_est = int(est.astype(bool).sum()) if est is not None else 0
    data = [("研究区数据来源", a.area.attribution or "（area.toml 未注明 attribution）"),
            ("婴幼儿数", f"{n_est}/{len(a.streets)} 个街道为估算（{label('infants_source')}见街道表）" if n_est
             else "各街道婴幼儿数为图层给定值"),
            ("入托率", demand_rate_basis(pol)),
            ("步行距离", DEFINITIONS["snap_m"]),
            ("覆盖率", DEFINITIONS["coverN"].replace("N", minute_key(a.minutes))),
            ("可达性（2SFCA）", DEFINITIONS["sfca"]),
            ("基尼系数", DEFINITIONS["gini_sfca"]),
            ("投资估算", "站点固定投入 + 每托位投入 × 托位数（万元），取自候选点图层 fixed_cost、cost_per_place。"),
            ("普惠", DEFINITIONS["普惠"]),
            ("取整", DEFINITIONS["取整"])]
    out.append("<h3>数据与计算口径</h3>" + _kv(data, headers=("项目", "说明")))
    if "示意" in (a.area.attribution or "") or "估算" in (a.area.attribution or ""):
        out.append('<p class="warn">注意：研究区数据中标注为“示意”或“估算”的部分（见上表数据来源）不代表真实机构或'
                   "候选点，仅用于演示方法；正式规划请以登记数据替换。</p>")
    return "".join(out)


def _solver(a: Any) -> str:
    if a.plan is None:
        return "<p>未求解选址模型。</p>"
    p = a.plan
    opts = p.options
    proven = str(p.status) == "optimal"
    facts = [("求解状态", SOLVER_STATUS_ZH.get(str(p.status), str(p.status))),
             ("最优间隙（各阶段最大相对间隙）", fmt("mip_gap", p.gap)),
             ("最优性", f"已证明最优（各阶段相对间隙 ≤ {opts.mip_gap:g}）" if proven
              else f"未证明最优：{p.optimality}"), ("求解器", opts.solver),
             ("求解用时（秒）", f"{p.solve_seconds:.1f}"), ("建模用时（秒）", f"{p.build_seconds:.1f}"),
             ("模型规模", f"变量 {p.model_size.get('n_vars', '—')}，约束 {p.model_size.get('n_rows', '—')}"),
             ("预算（万元）", "不限" if opts.budget_wan is None else fmt("budget_wan", opts.budget_wan)),
             ("最多新增站点数", "不限" if opts.max_new_sites is None else str(opts.max_new_sites)),
             ("步行分钟", f"{opts.minutes:g}（{p.radius_m:g} 米）"),
             ("模式", "严格（规则不可满足即报错）" if opts.strict else "尽力而为（不可满足的规则列出原因）")]
    stages = pd.DataFrame([{"stage": STAGES_ZH.get(s.get("stage"), s.get("stage")),
                            "solver_status": SOLVER_STATUS_ZH.get(str(s.get("status")), s.get("status")),
                            "objective": s.get("objective"), "bound": s.get("bound"), "mip_gap": s.get("gap"),
                            "seconds": s.get("seconds")} for s in p.stages])
    return (_kv(facts) + "<h3>分阶段（字典序）求解</h3>"
            + '<p class="note">依次优化：规则 → 托位缺口 → 配建 → （公平）→ 覆盖 → 投资；每一阶段的最优值在后续阶段中保持。</p>'
            + _table(stages, list(stages.columns), cls="small"))


# ------------------------------------------------------------------------------------ document

def report_html(assessment: Any, *, comparison: Any = None, title: str | None = None) -> str:
    """The report as one self-contained HTML document (str)."""
    a = require(assessment, "report_html")
    name = a.area.name
    title = title or f"{name} 托育服务设施专项规划 评估与布局报告"
    created = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
    parts = {"summary": _summary, "status": _status, "gaps_now": _gaps_now, "plan": _plan, "compare": _compare,
             "maps": _maps, "unmet": _unmet}
    sections = [(k, fn(a)) for k, fn in parts.items()]
    if comparison is not None:
        sections.append(("scenarios", _scenarios(comparison)))
    sections += [("assumptions", _assumptions(a)), ("solver", _solver(a))]
    cover = _kv([("研究区", name), ("政策口径", f"{a.policy.name}（{a.policy.title}）"),
                 ("目标年份", a.policy.target_year), ("生成时间", created),
                 ("生成工具", f"tuoyu-geo {__version__}")])
    body = [f'<section class="cover"><h1>{_e(title)}</h1><div class="sub">0–3岁婴幼儿照护服务（托育）'
            f"现状评估、差距分析与新增普惠站点布局</div>{cover}"
            '<p class="note">本报告由 tuoyu-geo 根据研究区数据和政策口径自动生成；各数值的来源与计算口径见'
            f"“{REPORT_SECTIONS['assumptions']}”。</p></section>"]
    for i, (key, content) in enumerate(sections):
        num = _NUMERALS[i] if i < 10 else str(i + 1)
        body.append(f'<section id="{key}"><h2>{num}、{_e(REPORT_SECTIONS[key])}</h2>{content}</section>')
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")


def write_report(assessment: Any, out_dir: str | Path, *, pdf: bool = True, comparison: Any = None,
                 title: str | None = None) -> ReportFiles:
    """Write ``report.html`` and (``pdf=True``) ``report.pdf`` to ``out_dir``.

    Parameters
    ----------
    assessment : Assessment
        With a plan for the plan sections (without one they say so).
    out_dir : path
        Output folder (created).
    pdf : bool
        Also render the PDF.  When the renderer is unavailable (:func:`tuoyu_geo.report.pdf.pdf_problem`)
        the HTML is still written and ``ReportFiles.pdf_problem`` says why (one line) — no exception.
    comparison : BudgetComparison, optional
        Adds the 预算情景比较 section.
    title : str, optional

    Returns
    -------
    ReportFiles

    Raises
    ------
    OutputError
        A file cannot be written (neither is left behind).
    """
    text = report_html(assessment, comparison=comparison, title=title)
    out = Path(out_dir)
    data: bytes | None = None
    problem = None
    if pdf:
        try:
            data = render_pdf(text)
        except PdfUnavailable as exc:
            problem = str(exc)
            log.info("report.pdf not made: %s", problem)  # the caller says it (ReportFiles.pdf_problem)
    targets = [out / REPORT_FILES["html"]] + ([out / REPORT_FILES["pdf"]] if data is not None else [])
    with atomic_paths(targets) as temps:
        temps[0].write_text(text, encoding="utf-8")
        if data is not None:
            temps[1].write_bytes(data)
    return ReportFiles(html=targets[0], pdf=targets[1] if data is not None else None, pdf_problem=problem)
