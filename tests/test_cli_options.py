"""CLI output options (issue 14, "CLI"): -v/-q/--json anywhere, one JSON object on stdout, and
every output under --out."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import synth
from test_fonts import HIDE_SYSTEM_FONTS, fresh_env

from tuoyu_geo.cli import build_parser, main

#: keys of every --json object, and of the assessment summary (README "Machine-readable output")
BASE_KEYS = {"command", "ok", "exit_code", "version", "files"}
ASSESSMENT_KEYS = {"area", "policy", "streets", "population", "infants", "target_per_1000", "now", "after",
                   "plan", "unmet"}
STATE_KEYS = {"streets_meeting", "places", "places_per_1000", "puhui_share", "place_gap",
              "infants_within15_puhui_share"}


@pytest.mark.parametrize("where", ["before", "after", "between"])
@pytest.mark.parametrize("flag,attr", [("-v", "verbose"), ("--verbose", "verbose"), ("-q", "quiet"),
                                       ("--quiet", "quiet"), ("--json", "json")])
def test_output_flags_anywhere(where, flag, attr):
    """A flag before the subcommand, after it, or between its arguments sets the same option;
    without it every option is False."""
    cmd = ["plan", "AREA", "--out", "o"]
    argv = {"before": [flag, *cmd], "after": [*cmd, flag], "between": [cmd[0], flag, *cmd[1:]]}[where]
    args = build_parser().parse_args(argv)
    assert getattr(args, attr) is True
    assert all(getattr(args, a) is False for a in ("verbose", "quiet", "json") if a != attr)
    plain = build_parser().parse_args(cmd)
    assert (plain.verbose, plain.quiet, plain.json) == (False, False, False)


def test_verbose_and_quiet_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["-v", "validate", "x", "-q"])
    assert ei.value.code == 2 and "choose one" in capsys.readouterr().err


def test_validate_json_and_quiet(tmp_path, capsys):
    """--json: one JSON object on stdout with the area's counts (4 街道, 12 小区, 4 institutions,
    8 candidates in tests/synth.py); an invalid area gives ok false, exit 2 and the problems;
    --quiet prints nothing on stdout."""
    folder = synth.write_area(tmp_path / "a")
    assert main(["validate", str(folder), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert set(obj) == BASE_KEYS | {"area", "input_crs", "metric_crs", "policy", "counts"}
    assert obj["ok"] is True and obj["command"] == "validate" and obj["exit_code"] == 0
    assert obj["counts"] == {"streets": 4, "communities": 12, "institutions": 4, "candidates": 8}
    assert obj["area"] == "synthetic" and obj["input_crs"] == "wgs84" and obj["policy"] == "national-2025"

    assert main(["-q", "validate", str(folder)]) == 0
    assert capsys.readouterr().out == ""

    (folder / "streets.geojson").unlink()
    assert main(["--json", "validate", str(folder)]) == 2
    obj = json.loads(capsys.readouterr().out)
    assert obj["ok"] is False and obj["exit_code"] == 2 and obj["files"] == []
    assert obj["error"]["type"] == "DataError"
    assert any("streets.geojson" in p["message"] for p in obj["error"]["problems"])


def test_analyze_json_matches_the_written_scorecard(tmp_path, capsys):
    """analyze --json: the summary's place totals equal the sums of the institutions (20 + 25 +
    30 + 35 = 110 places in tests/synth.py), files are the ones written, no progress on stderr."""
    folder = synth.write_area(tmp_path / "a", network=True)
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "--out", str(out), "--json"]) == 0
    cap = capsys.readouterr()
    obj = json.loads(cap.out)
    assert set(obj) == BASE_KEYS | ASSESSMENT_KEYS
    assert set(obj["now"]) == STATE_KEYS and obj["plan"] is None and obj["after"] is None
    assert obj["now"]["places"] == 110 and obj["streets"] == 4
    assert obj["population"] == 6000 + 7000 + 8000 + 9000
    assert sorted(Path(f).name for f in obj["files"]) == sorted(f.name for f in out.iterdir()
                                                               if not f.name.startswith("."))
    assert "[1]" not in cap.err


#: the demo in a subprocess on a "fresh machine" (no system fonts), from another working folder
DEMO = HIDE_SYSTEM_FONTS + r"""
from tuoyu_geo.cli import main
from tuoyu_geo.report import fonts
rc = main(sys.argv[2:])
open(sys.argv[1], "w").write(PROBE + "\n" + str(fonts.cjk_font_path()))
sys.exit(rc)
"""


def test_demo_json_writes_only_under_out_on_a_fresh_machine(tmp_path):
    """``demo --out ../out --json`` run from another folder on a machine whose matplotlib sees no
    system font (test_fonts.HIDE_SYSTEM_FONTS): exit 0; stdout is exactly one JSON
    object (so no HiGHS banner or table reached it); no progress and no glyph warnings on stderr;
    every file is under out/ (the map too, which used to go to ./maps/) and the working folder
    stays empty; the figure used the packaged font; the summary agrees with the site CSV."""
    import pylopdf_fonts_zh_cn

    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    env = fresh_env(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    r = subprocess.run([sys.executable, "-c", DEMO, str(tmp_path / "font.txt"), "demo", "--out", "../out",
                        "--json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("\n") == 1 and r.stdout.startswith("{"), r.stdout[:500]
    obj = json.loads(r.stdout)
    assert "Glyph" not in r.stderr and "HiGHS" not in r.stderr and "[1]" not in r.stderr, r.stderr[-2000:]
    probe, used = (tmp_path / "font.txt").read_text().splitlines()
    assert Path(probe).name.startswith("DejaVu")  # matplotlib alone finds no Chinese font here
    assert Path(used) == Path(pylopdf_fonts_zh_cn.sans_path())
    assert list(cwd.iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} == before | {"out", "font.txt"}
    names = {Path(f).name for f in obj["files"]}
    assert {"shanghai-xuhui_coverage.html", "street_place_gap.png", "recommended_sites.csv"} <= names
    assert all((cwd / f).resolve().parent == out.resolve() for f in obj["files"])
    assert {p.name for p in out.iterdir()} == names
    assert set(obj) == BASE_KEYS | ASSESSMENT_KEYS | {"wall_time_s"} and obj["command"] == "demo"
    with open(out / "recommended_sites.csv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert obj["plan"]["sites"] == len(rows) - 1 > 0
    assert obj["plan"]["status"] in ("optimal", "time_limit")
    assert obj["now"]["places"] == 1400  # the bundled institutions' places (data/shanghai-xuhui)
    assert obj["after"]["places"] == obj["now"]["places"] + obj["plan"]["places_added"]
