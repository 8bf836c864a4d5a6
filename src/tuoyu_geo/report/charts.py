"""Static charts of the 专项规划 report (matplotlib, Chinese labels, PNG bytes).

* :func:`before_after_chart` — one scorecard column per 街道, before vs after the plan, with the
  policy target.
* :func:`compliance_maps` — 街道 coloured by the number of rules met before and after (综合达标
  outlined), institutions as dots and the recommended sites as stars.
* :func:`frontier_chart` — a :class:`~tuoyu_geo.scenarios.BudgetComparison`: budget against
  places added, 普惠 coverage, 街道 达标 and the Gini of access.

Each returns PNG bytes (to inline in HTML or write with :func:`tuoyu_geo.writer.write_file`).
Nothing is computed here: every value is read off the assessment or the comparison.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..rules import MET, SCORED_RULES
from .figures import cjk_font
from .labels import label, minute_key

log = logging.getLogger(__name__)

__all__ = ["before_after_chart", "compliance_maps", "frontier_chart", "png_bytes"]

_BEFORE, _AFTER, _TARGET = "#9e9e9e", "#2b8cbe", "#d7301f"


@contextmanager
def _figure_context() -> Iterator[Any]:
    """matplotlib (Agg) with a CJK font when one is installed; glyph warnings logged once."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rc: dict[str, Any] = {"axes.unicode_minus": False, "font.size": 9}
    font = cjk_font()
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    else:
        log.warning("no CJK font found: Chinese in the report's charts shows as boxes; fix: install one "
                    "(Debian/Ubuntu: apt-get install fonts-noto-cjk)")
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        yield plt


def png_bytes(fig: Any, *, dpi: int = 150) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def before_after_chart(assessment: Any, column: str, *, target: float | None = None,
                       percent: bool = False, title: str | None = None, dpi: int = 150) -> bytes:
    """Horizontal bars of ``column`` per 街道: before (grey) and after the plan (blue), target dashed.

    Parameters
    ----------
    assessment : Assessment
        With a plan (``streets_after``); without one only the bars of now are drawn.
    column : str
        A street scorecard column, e.g. ``places_per_1000`` or ``cover15_puhui``.
    target : float, optional
        Drawn as a dashed vertical line (e.g. the policy's places per 1000).
    percent : bool
        Show the axis as percentages (for shares 0–1).
    """
    before = assessment.streets
    after = assessment.streets_after
    names = [str(n) for n in before["name"]]
    y = list(range(len(names)))
    with _figure_context() as plt:
        fig, ax = plt.subplots(figsize=(7.2, 1.0 + 0.32 * max(len(names), 2)))
        scale = 100.0 if percent else 1.0
        h = 0.4 if after is not None else 0.7
        ax.barh([v - h / 2 if after is not None else v for v in y], before[column].astype(float) * scale,
                height=h, color=_BEFORE, label="方案前")
        if after is not None:
            vals = after[column].reindex(before.index).astype(float) * scale
            ax.barh([v + h / 2 for v in y], vals, height=h, color=_AFTER, label="方案后")
        if target is not None:
            ax.axvline(target * scale, color=_TARGET, linestyle="--", linewidth=1.2,
                       label=f"目标 {target * scale:g}{'%' if percent else ''}")
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel(label(column) + ("（%）" if percent else ""))
        if title:
            ax.set_title(title, fontsize=11)
        ax.grid(axis="x", color="#ddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
        fig.tight_layout()
        return png_bytes(fig, dpi=dpi)


def _rules_met(streets: Any) -> tuple[Any, int]:
    """Per 街道, how many of the scored rules it meets (read off its status columns), and how many there are."""
    cols = [r.status_column for r in SCORED_RULES if r.status_column in streets.columns]
    return (streets[cols] == MET).sum(axis=1), len(cols)


def _street_map(ax: Any, streets: Any, met: Any, n_rules: int, insts: Any, sites: Any, title: str) -> list:
    """Draw one panel; returns the legend handles."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cmap = colormaps["RdYlGn"]
    colours = {k: cmap(0.15 + 0.7 * k / max(n_rules, 1)) for k in range(n_rules + 1)}
    streets.plot(ax=ax, color=[colours[int(k)] for k in met], edgecolor="#444", linewidth=0.7, alpha=0.85)
    full = streets[streets["status"] == MET]
    if len(full):
        full.boundary.plot(ax=ax, color="#1a7f37", linewidth=2.2)
    pu = insts[insts["puhui"].astype(bool)]
    other = insts[~insts["puhui"].astype(bool)]
    if len(other):
        other.plot(ax=ax, color="#777", markersize=6, marker="o", zorder=4)
    if len(pu):
        pu.plot(ax=ax, color="#2166ac", markersize=12, marker="o", zorder=4)
    if sites is not None and len(sites):
        sites.plot(ax=ax, color="#d7191c", markersize=70, marker="*", edgecolor="white", linewidth=0.4, zorder=5)
    for (_, r) in streets.iterrows():
        p = r.geometry.representative_point()
        ax.annotate(str(r.get("name", "")).replace("$", r"\$"), (p.x, p.y), ha="center", va="center",
                    fontsize=6.5, zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.65})
    handles = [Patch(color=colours[k], label=f"达标规则 {k}/{n_rules}") for k in range(n_rules, -1, -1)]
    handles += [Patch(facecolor="none", edgecolor="#1a7f37", linewidth=2, label=f"综合{MET}"),
                Line2D([], [], marker="o", color="#2166ac", linestyle="", markersize=4, label="现有普惠机构"),
                Line2D([], [], marker="o", color="#777", linestyle="", markersize=3, label="其他托育机构")]
    if sites is not None:
        handles.append(Line2D([], [], marker="*", color="#d7191c", linestyle="", markersize=9, label="推荐站点"))
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    return handles


def compliance_maps(assessment: Any, *, dpi: int = 150) -> bytes:
    """街道 coloured by how many rules they meet now and after the plan (two panels; one without a
    plan); 综合达标 街道 outlined in green, institutions as dots, recommended sites as stars."""
    a = assessment
    crs = a.area.metric_crs
    streets = a.streets.to_crs(crs)
    insts = a.area.institutions.to_crs(crs)
    met, n = _rules_met(a.streets)
    panels = [(streets, met, None, "方案前")]
    if a.plan is not None:
        after = a.streets_after.reindex(a.streets.index)
        met_after, _ = _rules_met(after)
        after_g = streets.assign(status=after["status"].to_numpy())
        panels.append((after_g, met_after, a.plan.sites.to_crs(crs), "方案后（★ 推荐站点）"))
    x0, y0, x1, y1 = streets.total_bounds
    pad = 0.03 * max(x1 - x0, y1 - y0)
    with _figure_context() as plt:
        fig, axes = plt.subplots(1, len(panels), figsize=(7.4 if len(panels) == 2 else 5.5, 4.8))
        axes = list(axes) if len(panels) == 2 else [axes]
        for ax, (g, m, sites, title) in zip(axes, panels, strict=True):
            handles = _street_map(ax, g, m, n, insts, sites, title)
            ax.set_xlim(x0 - pad, x1 + pad)
            ax.set_ylim(y0 - pad, y1 + pad)
            ax.set_aspect("equal")
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.12, 1, 1))
        return png_bytes(fig, dpi=dpi)


def frontier_chart(comparison: Any, *, dpi: int = 150) -> bytes:
    """Budget (万元) against places added, 普惠 coverage, 街道 达标 and Gini: four small panels."""
    t = comparison.table
    mk = minute_key(comparison.minutes)
    panels = [("new_places", "新增托位数", 1.0, None),
              (f"cover{mk}_puhui_after", f"{mk}分钟普惠覆盖率（%）", 100.0, f"cover{mk}_puhui_before"),
              ("streets_met_after", "达标街道数", 1.0, "streets_met_before"),
              ("gini_sfca_after", "可达性基尼系数", 1.0, "gini_sfca_before")]
    with _figure_context() as plt:
        fig, axes = plt.subplots(2, 2, figsize=(7.4, 5.4))
        x = t["budget_wan"].astype(float)
        for ax, (col, title, scale, before) in zip(axes.ravel(), panels, strict=True):
            ax.plot(x, t[col].astype(float) * scale, marker="o", color=_AFTER, label="方案后")
            if before is not None:
                ax.axhline(float(t[before].iloc[0]) * scale, color=_BEFORE, linestyle="--", linewidth=1,
                           label="现状")
                ax.legend(fontsize=7, loc="best")
            if col == "streets_met_after":
                ax.set_ylim(0, int(t["streets"].iloc[0]) + 0.5)
            elif scale == 100.0:
                ax.set_ylim(0, 105)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("预算（万元）", fontsize=8)
            ax.grid(color="#ddd", linewidth=0.6)
        fig.suptitle("预算情景比较（效率前沿）", fontsize=11)
        fig.tight_layout()
        return png_bytes(fig, dpi=dpi)
