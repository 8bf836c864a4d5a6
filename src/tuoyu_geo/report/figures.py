"""Static figures for reports: a per-街道 map of one scorecard column (PNG, Chinese labels)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..writer import write_file
from .labels import label

log = logging.getLogger(__name__)

__all__ = ["cjk_font", "plot_scorecard"]

_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "Source Han Sans SC",
              "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
              "Heiti SC", "AR PL UMing CN", "Droid Sans Fallback")
_TITLES = {"place_gap": "各街道托位缺口（按政策目标）", "places_per_1000": "各街道每千人口托位数",
           "puhui_share": "各街道普惠托位占比"}


def _pick_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for n in _CJK_FONTS:
        if n in names:
            return n
    for f in font_manager.fontManager.ttflist:
        if "CJK" in f.name or "Hei" in f.name or "Han Sans" in f.name:
            return f.name
    return None


def cjk_font() -> str | None:
    """Name of an installed font that can draw Chinese, or None."""
    from matplotlib import font_manager

    found = _pick_font()
    if found is None:
        # matplotlib's font cache predates a font installed later: register system CJK fonts
        for fpath in font_manager.findSystemFonts():
            low = Path(fpath).name.lower()
            if any(k in low for k in ("cjk", "wqy", "simhei", "msyh", "droidsansfallback", "sourcehan")):
                try:
                    font_manager.fontManager.addfont(fpath)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _pick_font()
    return found


def _rc() -> dict[str, Any]:
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    font = cjk_font()
    if font:
        rc["font.family"] = [font, "DejaVu Sans"]
    else:
        log.warning("no CJK font found: Chinese labels will show as boxes; fix: install one "
                    "(Debian/Ubuntu: apt-get install fonts-noto-cjk)")
    return rc


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
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        if len(rc.get("font.family", ())) < 2:  # no CJK font: warned once above, not once per glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
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
