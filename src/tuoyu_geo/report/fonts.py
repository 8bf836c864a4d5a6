"""The font that draws Chinese in figures (PNG) and reports (PDF).

The package depends on ``pylopdf-fonts-zh-cn``: Noto Sans SC Regular (SIL Open Font License 1.1,
from ``notofonts/noto-cjk``, ``Sans/SubsetOTF/SC``; all 7,445 characters of GB 2312 and all but
one of GBK), so Chinese renders on a machine with no CJK font installed.  When that package is
missing, a system CJK font is used (Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, Microsoft
YaHei …); when there is none either, :func:`cjk_font_path` raises one :class:`FontError` that
says how to fix it — never a figure full of empty boxes and a flood of "Glyph missing" warnings.

>>> cjk_font_path().suffix in (".otf", ".ttf", ".ttc", ".otc")
True
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from .._errors import FontError

log = logging.getLogger(__name__)

__all__ = ["FONT_PACKAGE", "SYSTEM_FONT_NAMES", "cjk_font_path", "glyph_warnings_once", "use_cjk_font"]

#: the registry package (PyPI name, import name) that ships the font
FONT_PACKAGE = ("pylopdf-fonts-zh-cn", "pylopdf_fonts_zh_cn")
#: system fonts tried, in order, when the package is missing (family names as matplotlib reads them)
SYSTEM_FONT_NAMES = ("Noto Sans SC", "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans CJK JP",
                     "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei",
                     "Microsoft YaHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback")
#: characters every candidate font must draw (a font that lacks them is not a CJK font)
_PROBE = "托育街道普惠缺口"
_GLYPH = re.compile(r"Glyph (\d+) .*missing from")
_FIX = (f"pip install {FONT_PACKAGE[0]} (Noto Sans SC, installed with tuoyu-geo), "
        "or install a system CJK font (Debian/Ubuntu: apt-get install fonts-noto-cjk)")


def _draws_chinese(path: str | Path) -> bool:
    """True when the font file has a glyph for every character of ``_PROBE``."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(str(path))
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(c)) for c in _PROBE)


def _packaged() -> Path | None:
    """The font file of :data:`FONT_PACKAGE`, or None when the package is not installed."""
    try:
        mod = importlib.import_module(FONT_PACKAGE[1])
    except ImportError:
        return None
    path = Path(mod.sans_path())
    return path if path.is_file() else None


def _system() -> Path | None:
    """A system CJK font known to matplotlib (by family name, then by file name), or None."""
    from matplotlib import font_manager

    entries = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for name in SYSTEM_FONT_NAMES:
        if name in entries and _draws_chinese(entries[name]):
            return Path(entries[name])
    keys = ("cjk", "wqy", "simhei", "msyh", "droidsansfallback", "sourcehan", "notosanssc", "pingfang")
    for fpath in sorted(font_manager.findSystemFonts()):  # fonts installed after matplotlib's cache
        if any(k in Path(fpath).name.lower() for k in keys) and _draws_chinese(fpath):
            return Path(fpath)
    return None


_found: Path | None = None  # the font found by the last call (looked up again while None)


def cjk_font_path() -> Path:
    """The file of the font that draws Chinese: the packaged Noto Sans SC, else a system CJK font.

    Returns
    -------
    Path
        An OpenType/TrueType file (``.otf``, ``.ttf`` or ``.ttc``) for matplotlib, a PDF
        renderer or CSS ``@font-face``.

    Raises
    ------
    FontError
        Neither the font package nor a system CJK font is installed (one line with the fix).
    """
    global _found
    if _found is None or not _found.is_file():
        _found = _packaged() or _system()
    if _found is None:
        raise FontError(f"no font that can draw Chinese was found; fix: {_FIX}")
    return _found


def use_cjk_font() -> str:
    """Register :func:`cjk_font_path` with matplotlib's font manager and return its family name.

    Returns
    -------
    str
        The family name to put first in ``font.family`` (e.g. ``"Noto Sans SC"``).

    Raises
    ------
    FontError
        As :func:`cjk_font_path`.
    """
    from matplotlib import font_manager

    path = cjk_font_path()
    known = {Path(f.fname): f.name for f in font_manager.fontManager.ttflist}
    if path not in known:
        font_manager.fontManager.addfont(str(path))
        known = {Path(f.fname): f.name for f in font_manager.fontManager.ttflist}
    return known[path]


@contextlib.contextmanager
def glyph_warnings_once(what: str = "figure") -> Iterator[None]:
    """Collect matplotlib's "Glyph … missing from font(s)" warnings into one logged line.

    A name with a character outside the font (e.g. a rare 生僻字 in a 小区 name) then gives one
    warning naming the characters, not one per glyph drawn.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    missing: list[str] = []
    for w in caught:
        msg = str(w.message)
        m = _GLYPH.match(msg)
        if m:
            ch = chr(int(m.group(1)))
            if ch not in missing:
                missing.append(ch)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.warning("%s: %d character(s) not in the font %s, drawn as boxes: %s", what, len(missing),
                    cjk_font_path().name, ", ".join(missing[:20]) + (" …" if len(missing) > 20 else ""))
