"""Chinese in figures, also on a machine without any system CJK font (issue 14, "Fonts").

The fresh-machine run is the demo in ``test_cli_options.py``: a subprocess whose matplotlib knows
only its own bundled fonts (``HIDE_SYSTEM_FONTS``: the font list cut to matplotlib's data folder,
``findSystemFonts`` finding nothing, fontconfig reading an empty configuration, a new
``MPLCONFIGDIR``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
from fontTools.ttLib import TTFont
from shapely.geometry import box

from tuoyu_geo import datasets
from tuoyu_geo._errors import FontError, OutputError
from tuoyu_geo.area.schema import CANDIDATE_KINDS, CATEGORIES
from tuoyu_geo.report import figures, fonts
from tuoyu_geo.report.labels import DEFINITIONS, LABELS_ZH
from tuoyu_geo.rules import RULES

SRC = Path(__file__).resolve().parents[1] / "src"

#: run first in a subprocess: matplotlib sees no system font (a fresh machine); ``PROBE`` is the
#: file matplotlib itself would pick for the usual Chinese font names (DejaVu when none is there)
HIDE_SYSTEM_FONTS = r"""
import logging, sys
import matplotlib
matplotlib.use("Agg")
from matplotlib import font_manager as fm
data = matplotlib.get_data_path()
fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if f.fname.startswith(data)]
fm.findSystemFonts = lambda *a, **k: []
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # the probe's "not found"
PROBE = fm.findfont(fm.FontProperties(family=["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                                              "SimHei", "Microsoft YaHei", "Noto Sans SC"]))
logging.getLogger("matplotlib.font_manager").setLevel(logging.NOTSET)
"""


def fresh_env(tmp: Path) -> dict[str, str]:
    """Environment of a fresh machine: fontconfig without font folders, a new MPLCONFIGDIR."""
    conf = tmp / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig></fontconfig>\n')
    (tmp / "mpl").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "FONTCONFIG"))}
    env.update(FONTCONFIG_FILE=str(conf), MPLCONFIGDIR=str(tmp / "mpl"), PYTHONPATH=str(SRC))
    return env


def _streets(names: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": names, "place_gap": [12.0 * (i + 1) for i in range(len(names))]},
                            geometry=[box(121.4 + 0.01 * i, 31.1, 121.41 + 0.01 * i, 31.11)
                                      for i in range(len(names))], crs="EPSG:4326")


def test_character_outside_the_font_is_one_log_line(tmp_path, caplog):
    """𠀀 (U+20000, CJK Extension B) is in neither Noto Sans SC nor DejaVu: drawn twice, it gives
    one logged warning naming it (and only it), not one matplotlib warning per glyph; no other
    warning escapes."""
    with caplog.at_level("WARNING"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures.plot_scorecard(_streets(["𠀀街道", "𠀀小区", "龙华街道"]), tmp_path / "gap.png")
    assert [w for w in caught if "Glyph" in str(w.message)] == []
    recs = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(recs) == 1 and recs[0].name == "tuoyu_geo.report.fonts", [r.getMessage() for r in recs]
    msg = recs[0].getMessage()
    assert "1 character(s)" in msg and msg.endswith("𠀀") and "NotoSansSC" in msg
    assert (tmp_path / "gap.png").read_bytes()[:4] == b"\x89PNG"


def test_no_font_at_all_is_one_line_with_the_fix(tmp_path, monkeypatch):
    """Neither the package nor a system font: one FontError line naming both fixes (exit 5 as an
    OutputError), no PNG written; cjk_font() says None."""
    monkeypatch.setattr(fonts, "_found", None)
    monkeypatch.setattr(fonts, "_packaged", lambda: None)
    monkeypatch.setattr(fonts, "_system", lambda: None)
    with pytest.raises(FontError) as ei:
        figures.plot_scorecard(_streets(["龙华街道"]), tmp_path / "gap.png")
    msg = str(ei.value)
    assert "\n" not in msg and "pip install pylopdf-fonts-zh-cn" in msg and "fonts-noto-cjk" in msg
    assert isinstance(ei.value, OutputError) and ei.value.exit_code == 5
    assert list(tmp_path.iterdir()) == []
    assert figures.cjk_font() is None


def test_system_font_is_the_fallback(monkeypatch):
    """Without the package, a system font that draws Chinese is used (CI installs fonts-noto-cjk;
    skipped where the machine has none — the packaged font is the default anyway)."""
    monkeypatch.setattr(fonts, "_found", None)
    monkeypatch.setattr(fonts, "_packaged", lambda: None)
    sys_font = fonts._system()
    if sys_font is None:
        pytest.skip("no system CJK font on this machine")
    assert fonts.cjk_font_path() == sys_font and fonts._draws_chinese(sys_font)
    assert not fonts._draws_chinese(Path(__import__("matplotlib").get_data_path()) / "fonts/ttf/DejaVuSans.ttf")


def _printed_text() -> str:
    """Every Chinese text a figure or table can print: labels, definitions, categories, kinds, rule
    names, figure titles and the names in the bundled area."""
    area = datasets.shanghai_xuhui(load_graph=False)
    parts = [*LABELS_ZH.values(), *DEFINITIONS.values(), *CATEGORIES, *CANDIDATE_KINDS,
             *(r.name for r in RULES), *figures._TITLES.values()]
    for layer in (area.streets, area.communities, area.institutions, area.candidates):
        parts.extend(layer["name"].astype(str))
    return "".join(parts)


def test_packaged_font_covers_every_printed_character_and_gb2312():
    """Glyph coverage by the font's own cmap (fontTools): every character of the label table and
    the bundled names, and all 7,445 characters of GB 2312 (6,763 汉字 + 682 symbols)."""
    cmap = TTFont(fonts.cjk_font_path()).getBestCmap()
    text = _printed_text()
    assert sum(ord(c) > 0x2E80 for c in text) > 1000  # the check looks at real Chinese text
    missing = sorted({c for c in text if c.strip() and ord(c) not in cmap})
    assert missing == []
    gb = [bytes([hi, lo]).decode("gb2312", errors="ignore") for hi in range(0xA1, 0xF8) for lo in range(0xA1, 0xFF)]
    gb = [c for c in gb if c]
    assert len(gb) == 7445
    assert [c for c in gb if ord(c) not in cmap] == []


def test_use_cjk_font_registers_the_file_with_matplotlib():
    from matplotlib import font_manager

    name = fonts.use_cjk_font()
    path = font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
    assert Path(path) == fonts.cjk_font_path() and name == "Noto Sans SC"
    assert figures._rc()["font.family"] == [name, "DejaVu Sans"]
