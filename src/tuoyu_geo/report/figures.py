"""Static figures for reports: a per-街道 map of one scorecard column (PNG, Chinese labels)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import FontError
from ..writer import write_file
from .fonts import glyph_warnings_once, use_cjk_font
from .labels import label

log = logging.getLogger(__name__)

__all__ = ["cjk_font", "plot_scorecard"]

_TITLES = {"place_gap": "各街道托位缺口（按政策目标）", "places_per_1000": "各街道每千人口托位数",
           "puhui_share": "各街道普惠托位占比"}


def cjk_font() -> str | None:
    """Family name of the font that draws Chinese (registered with matplotlib), or None.

    See :func:`tuoyu_geo.report.fonts.use_cjk_font` (the packaged Noto Sans SC, else a system font).
    """
    try:
        return use_cjk_font()
    except FontError:
        return None


def _rc() -> dict[str, Any]:
    """matplotlib settings of every figure: the CJK font first (FontError when there is none)."""
    return {"axes.unicode_minus": False, "font.family": [use_cjk_font(), "DejaVu Sans"]}


def _annotation(name: Any, v: Any, column: str) -> str:
    if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
        fmt = "{:,.0f}" if column == "place_gap" else "{:,.2f}"
        return f"{name}\n{fmt.format(v)}"
    return f"{name}"


def plot_scorecard(scorecard: Any, path: str | Path, *, column: str = "place_gap",
                   title: str | None = None, dpi: int = 150) -> Path:
    """Static map of one scorecard column per 街道 with Chinese labels (PNG for reports).

    Parameters
    ----------
    scorecard : GeoDataFrame
        A street scorecard (e.g. ``assessment.streets``).
    path : path
        PNG file to write (atomically).
    column : str
        Column to colour by (default ``place_gap``: places short of the target).
    title : str, optional
        Figure title (default: a Chinese title for the column).
    dpi : int

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        ``column`` is not in the scorecard.
    OutputError
        The file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if column not in scorecard.columns:
        raise ValueError(f"scorecard has no column {column!r}; fix: use one of {list(scorecard.columns)}")
    sc = scorecard.to_crs(scorecard.estimate_utm_crs()) if scorecard.crs is not None else scorecard
    rc = _rc()
    with matplotlib.rc_context(rc), glyph_warnings_once(f"figure {Path(path).name}"):
        fig, ax = plt.subplots(figsize=(8, 8.5))
        try:
            sc.plot(column=column, ax=ax, cmap="Reds" if column == "place_gap" else "YlGn", edgecolor="#333",
                    linewidth=0.8, legend=True, legend_kwds={"label": label(column), "shrink": 0.6},
                    missing_kwds={"color": "#ddd"})
            for _, r in sc.iterrows():
                p = r.geometry.representative_point()
                ax.annotate(_annotation(r.get("name", ""), r[column], column).replace("$", r"\$"), (p.x, p.y),
                            ha="center", va="center", fontsize=7.5,
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7})
            ax.set_title(title or _TITLES.get(column, label(column)), fontsize=14)
            ax.set_axis_off()
            fig.tight_layout()
            return write_file(fig, path, fmt="png", dpi=dpi)
        finally:
            plt.close(fig)
