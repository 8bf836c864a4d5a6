"""HTML → PDF for the 专项规划 report, with WeasyPrint (see docs/REPORT.md for why this renderer).

WeasyPrint is an optional dependency (``pip install 'tuoyu-geo[report]'``) and needs the Pango
library of the system (Debian/Ubuntu: ``apt-get install libpango-1.0-0 libpangoft2-1.0-0``).
When either is missing, :func:`render_pdf` raises :class:`PdfUnavailable` with one line that says
what is missing and how to get it; the caller writes the HTML anyway.

The Chinese font: WeasyPrint finds fonts through fontconfig, so an installed CJK font (e.g.
Noto Sans CJK) is found by its family name.  A CJK font that matplotlib knows but fontconfig does
not (e.g. one installed from a Python package) is added with an ``@font-face`` rule that points at
the font file; that rule goes only into the HTML handed to the renderer, never into the written
report (which has no external references).  The PDF embeds the subset of the font it uses.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["INSTALL_HINT", "PdfUnavailable", "cjk_font_path", "pdf_problem", "render_pdf"]

#: how to get the renderer (printed by the CLI when the PDF cannot be made)
INSTALL_HINT = ("pip install 'tuoyu-geo[report]' (WeasyPrint); on Debian/Ubuntu also "
                "apt-get install libpango-1.0-0 libpangoft2-1.0-0; or open the HTML in a browser and print to PDF")


class PdfUnavailable(RuntimeError):
    """The PDF renderer cannot run here (the message is one line: what is missing, how to fix it)."""


def pdf_problem() -> str | None:
    """Why no PDF can be rendered here (one line), or None when WeasyPrint works."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # WeasyPrint prints a banner when Pango is missing
            import weasyprint  # noqa: F401
    except ImportError:
        return f"WeasyPrint is not installed; fix: {INSTALL_HINT}"
    except OSError as exc:  # WeasyPrint installed, Pango (a system library) missing
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"WeasyPrint cannot load the Pango system library ({first}); fix: {INSTALL_HINT}"
    return None


def cjk_font_path() -> Path | None:
    """File of the CJK font the charts use (:func:`tuoyu_geo.report.fonts.cjk_font_path`: the packaged
    Noto Sans SC, else a system one), or None when there is none."""
    from .._errors import FontError
    from .fonts import cjk_font_path as _path

    try:
        return _path()
    except FontError:
        return None


def _font_face() -> str:
    """``@font-face`` for a CJK font fontconfig may not know (see the module notes), or ""."""
    path = cjk_font_path()
    if path is None:
        log.warning("no CJK font found: Chinese in the PDF may show as boxes; fix: install one "
                    "(Debian/Ubuntu: apt-get install fonts-noto-cjk)")
        return ""
    return f'<style>@font-face {{ font-family: "TuoyuCJK"; src: url("{path.as_uri()}"); }}</style>'


def render_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML document (A4 per its CSS ``@page``).

    Raises
    ------
    PdfUnavailable
        WeasyPrint or Pango is missing (:func:`pdf_problem`).
    """
    problem = pdf_problem()
    if problem is not None:
        raise PdfUnavailable(problem)
    import weasyprint

    for name in ("weasyprint", "fontTools"):  # per-glyph and per-rule chatter: not for users
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.ERROR))
    doc = html.replace("</head>", _font_face() + "</head>", 1)
    return weasyprint.HTML(string=doc).write_pdf()
