"""Short text and HTML summaries of the result objects (``__repr__`` / ``_repr_html_``).

Each result object (StudyArea, Access, SitePlan, Assessment) describes itself as a title and a few
``(label, value)`` rows; :func:`text` and :func:`html` render them.  A repr stays a few lines long
(well under 600 characters) however large the area: it shows counts and totals, never a frame.
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Sequence

__all__ = ["count", "html", "number", "percent", "text"]

Rows = Sequence[tuple[str, str]]


def count(n: float) -> str:
    """A whole number with thousands separators (``12,345``)."""
    return f"{round(float(n)):,}"


def number(x: float, digits: int = 1) -> str:
    """A number with ``digits`` decimals and thousands separators; ``–`` when not finite."""
    x = float(x)
    return f"{x:,.{digits}f}" if math.isfinite(x) else "–"


def percent(share: float, digits: int = 1) -> str:
    """A share (0.15) as a percentage (``15.0 %``); ``–`` when not finite."""
    share = float(share)
    return f"{100.0 * share:.{digits}f} %" if math.isfinite(share) else "–"


def text(title: str, rows: Rows) -> str:
    """``title`` then one indented ``label: value`` line per row."""
    return "\n".join([title, *(f"  {k}: {v}" for k, v in rows)])


def html(title: str, rows: Rows) -> str:
    """A small two-column HTML table with ``title`` as its caption (every value escaped)."""
    body = "".join(f"<tr><th style='text-align:left'>{_html.escape(k)}</th>"
                   f"<td style='text-align:left'>{_html.escape(v)}</td></tr>" for k, v in rows)
    return (f"<table class='tuoyu-summary'><caption style='text-align:left'><b>{_html.escape(title)}</b>"
            f"</caption>{body}</table>")
