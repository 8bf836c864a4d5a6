"""Chinese in figures on a machine without any system CJK font (issue 14, "Fonts").

The figure code runs in a subprocess whose matplotlib knows only its own bundled fonts (DejaVu):
the font list is cut to matplotlib's data folder, ``findSystemFonts`` finds nothing, fontconfig
reads an empty configuration and ``MPLCONFIGDIR`` is a new folder — as on a fresh machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from tuoyu_geo import datasets
from tuoyu_geo._errors import FontError, OutputError
from tuoyu_geo.area.schema import CANDIDATE_KINDS, CATEGORIES
from tuoyu_geo.report import figures, fonts
from tuoyu_geo.report.labels import DEFINITIONS, LABELS_ZH
from tuoyu_geo.rules import RULES

SRC = Path(__file__).resolve().parents[1] / "src"

#: run in the subprocess: hide every system font, then draw (or fail) and report as JSON
FRESH = r"""
import json, logging, sys, warnings
import matplotlib
matplotlib.use("Agg")
from matplotlib import font_manager as fm
data = matplotlib.get_data_path()
fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if f.fname.startswith(data)]
fm.findSystemFonts = lambda *a, **k: []
if sys.argv[1] == "no-package":
    sys.modules["pylopdf_fonts_zh_cn"] = None  # the font package is not installed
logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(name)s: %(message)s")
warnings.simplefilter("always")
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # the probe's "not found"
probe = fm.findfont(fm.FontProperties(family=["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                                              "SimHei", "Microsoft YaHei", "Noto Sans SC"]))
logging.getLogger("matplotlib.font_manager").setLevel(logging.NOTSET)
import geopandas as gpd
from shapely.geometry import box
from tuoyu_geo._errors import FontError
from tuoyu_geo.report import fonts
from tuoyu_geo.report.figures import plot_scorecard
names = sys.argv[3].split(",")
sc = gpd.GeoDataFrame({"name": names, "place_gap": [12.0 * (i + 1) for i in range(len(names))]},
                      geometry=[box(121.4 + 0.01 * i, 31.1, 121.41 + 0.01 * i, 31.11) for i in range(len(names))],
                      crs="EPSG:4326")
out = {"probe": probe}
try:
    plot_scorecard(sc, sys.argv[2])
    out["font"] = str(fonts.cjk_font_path())
except FontError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def fresh_env(tmp: Path) -> dict[str, str]:
    conf = tmp / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig></fontconfig>\n')
    (tmp / "mpl").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "FONTCONFIG"))}
    env.update(FONTCONFIG_FILE=str(conf), MPLCONFIGDIR=str(tmp / "mpl"), PYTHONPATH=str(SRC))
    return env


def run_fresh(tmp: Path, mode: str, names: str = "徐家汇街道,龙华街道") -> tuple[dict, str]:
    r = subprocess.run([sys.executable, "-c", FRESH, mode, str(tmp / "gap.png"), names], env=fresh_env(tmp),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_packaged_font_draws_chinese_without_system_fonts(tmp_path):
    """Fresh machine: matplotlib alone would fall back to DejaVu (no CJK); the figure is drawn
    with the packaged Noto Sans SC and no "Glyph … missing" warning is printed — but for 𠀀
    (U+20000, CJK Extension B, not in Noto Sans SC), drawn twice, which gives one logged line
    naming it, not one matplotlib warning per glyph."""
    import pylopdf_fonts_zh_cn

    out, err = run_fresh(tmp_path, "fresh", names="𠀀街道,𠀀小区,徐家汇街道,龙华街道")
    assert Path(out["probe"]).name.startswith("DejaVu"), out  # no system CJK font is visible
    assert Path(out["font"]) == Path(pylopdf_fonts_zh_cn.sans_path())
    assert "Glyph" not in err, err
    lines = [s for s in err.splitlines() if s.strip()]
    assert len(lines) == 1 and lines[0].startswith("LOG WARNING tuoyu_geo.report.fonts") and "𠀀" in lines[0], err
    assert "1 character(s)" in lines[0] and "龙" not in lines[0]
    assert (tmp_path / "gap.png").read_bytes()[:4] == b"\x89PNG"


def test_no_font_at_all_is_one_line_with_the_fix(tmp_path):
    """Neither the package nor a system font: one FontError line naming both fixes; no PNG, no
    glyph warnings."""
    out, err = run_fresh(tmp_path, "no-package")
    msg = out["error"]
    assert "\n" not in msg and "pip install pylopdf-fonts-zh-cn" in msg and "fonts-noto-cjk" in msg
    assert "Glyph" not in err
    assert not (tmp_path / "gap.png").exists()


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


def test_font_error_is_an_output_error_with_exit_5(monkeypatch):
    monkeypatch.setattr(fonts, "_found", None)
    monkeypatch.setattr(fonts, "_packaged", lambda: None)
    monkeypatch.setattr(fonts, "_system", lambda: None)
    with pytest.raises(FontError) as ei:
        fonts.cjk_font_path()
    assert isinstance(ei.value, OutputError) and ei.value.exit_code == 5
    assert figures.cjk_font() is None
