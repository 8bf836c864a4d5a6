"""Hostile pass, round two (issue 15): broken inputs for the features of issue 14 — ``report``,
``compare --budgets``, ``init``, ``[columns]``, per-layer ``crs``/``layer``, ``--json``/``-q``/``-v``,
the straight-line fallback's ``detour_factor`` — grouped by class, not by case.

Classes (the same names as in the issue's closing note):

* **bad value, clear error** (:func:`test_bad_value_is_a_clear_error`): each case must exit with
  the documented code and name the key/option or file it is about; nothing is written.
* **silently ignored input** (:func:`test_ignored_input_is_said`): an input that has no effect is
  warned about instead of being dropped without a word.
* **unsafe text in the report** (:func:`test_any_name_is_inert_text_in_report_html`,
  :func:`test_hostile_names_reach_the_report_and_map_as_text`): user text never becomes markup,
  script, control characters or bidirectional overrides in the report or map HTML.
* **machine output** (:func:`test_json_is_one_object_for_every_exit_code`): with ``--json`` stdout
  holds exactly one JSON object whatever the exit code.
* **bounded work** (:func:`test_budget_list_is_bounded_and_normalised`; ``budgets-51``, ``minutes-1e9``).
* **environment** (:func:`test_narrow_terminal_encoding_is_not_an_internal_error`,
  :func:`test_unwritable_stdout_is_exit_5`, :func:`test_deleted_working_folder_is_a_clear_error`).
* **blank labels** (:func:`test_blank_names_fall_back_to_ids`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import synth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tuoyu_geo as tg
from tuoyu_geo import cli
from tuoyu_geo.report import _leaflet, document
from tuoyu_geo.writer import terminal_text

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ------------------------------------------------------------------ area folders for the cases

def _sub(folder: Path, old: str, new: str) -> None:
    p = folder / "area.toml"
    text = p.read_text(encoding="utf-8")
    assert old in text, old
    p.write_text(text.replace(old, new), encoding="utf-8")


def _add(folder: Path, text: str) -> None:
    p = folder / "area.toml"
    p.write_text(p.read_text(encoding="utf-8") + text, encoding="utf-8")


def _layer_table(folder: Path, key: str, suffix: str, extra: str) -> None:
    _sub(folder, f'{key} = "{key}{suffix}"', f'{key} = {{ file = "{key}{suffix}", {extra} }}')


def _policy_file(folder: Path, body: str) -> None:
    (folder / "policy.toml").write_text('base = "national-2025"\n' + body, encoding="utf-8")
    _sub(folder, 'policy = "national-2025"', 'policy = "policy.toml"')


# case id → (area setup, suffixes, argv after the area folder (OUT = output folder), exit code,
#            fragments that the message must contain)
CASES = {
    # [columns]: two contract columns onto one header; a text column onto a number
    "columns-two-onto-one": (lambda d: _add(d, '[columns.streets]\nstreet_id = "name"\nname = "name"\n'), {},
                             ["validate"], 2, ["columns.streets", "twice"]),
    "columns-onto-text-column": (lambda d: _add(d, '[columns.streets]\npopulation = "name"\n'), {},
                                 ["validate"], 2, ["columns.streets.population", "also has a column"]),
    # per-layer tables
    "layer-crs-unknown": (lambda d: _layer_table(d, "institutions", ".geojson", 'crs = "EPSG:99999"'), {},
                          ["validate"], 2, ["layers.institutions.crs", "EPSG:99999"]),
    "gpkg-layer-missing": (lambda d: _layer_table(d, "candidates", ".gpkg", 'layer = "sites"'),
                           {"candidates": ".gpkg"}, ["validate"], 2, ["candidates.gpkg", "no layer 'sites'"]),
    "xlsx-sheet-missing": (lambda d: _layer_table(d, "candidates", ".xlsx", 'layer = "sites"'),
                           {"candidates": ".xlsx"}, ["validate"], 2, ["candidates.xlsx", "no sheet 'sites'", "Sheet1"]),
    "layer-on-a-csv": (lambda d: _layer_table(d, "candidates", ".csv", 'layer = "sites"'),
                       {"candidates": ".csv"}, ["validate"], 2, ["candidates.csv", "layer = 'sites'", "remove layer"]),
    "area-toml-key-typo": (lambda d: _sub(d, "name =", "detour_facter = 1.4\nname ="), {}, ["validate"], 2,
                           ["area.toml", "detour_facter", "detour_factor"]),
    "metric-crs-far-away": (lambda d: _sub(d, "name =", 'metric_crs = "EPSG:32601"\nname ='), {}, ["validate"], 2,
                            ["metric_crs", "EPSG:32601", "remove metric_crs"]),
    # detour factor: a string, a bool, absurdly large, above the cap, nan
    **{f"detour-{k}": (lambda d, v=v: _sub(d, "name =", f"detour_factor = {v}\nname ="), {}, ["validate"], 2,
                       ["area.toml", "detour_factor", "from 1 to 3"])
       for k, v in {"string": '"1.3"', "bool": "true", "1e308": "1e308", "3.01": "3.01", "nan": "nan"}.items()},
    "cli-detour-1e308": (None, {}, ["analyze", "--detour-factor", "1e308", "--out", "OUT"], 2,
                         ["--detour-factor", "from 1 to 3"]),
    # policy numbers that overflow or are not a planning year
    "policy-per-1000-1e308": (lambda d: _policy_file(d, "places_per_1000 = 1e308\n"), {}, ["validate"], 2,
                              ["policy.toml", "places_per_1000", "4.5"]),
    "policy-residential-1e6": (lambda d: _policy_file(d, "new_residential_per_1000 = 1e6\n"), {}, ["validate"], 2,
                               ["policy.toml", "new_residential_per_1000"]),
    "policy-target-year-1800": (lambda d: _policy_file(d, "target_year = 1800\n"), {}, ["validate"], 2,
                                ["policy.toml", "target_year = 1800", "2025"]),
    # compare: overflowing and endless budget lists
    "budgets-1e309": (None, {}, ["compare", "--budgets", "1e309", "--out", "OUT"], 2, ["--budgets", "1e309"]),
    "budgets-1e308": (None, {}, ["compare", "--budgets", "10,1e308", "--out", "OUT"], 2,
                      ["--budgets", "at most 1e+08", "1e308"]),
    "budget-1e9": (None, {}, ["report", "--budget", "1e9", "--no-pdf", "--out", "OUT"], 2,
                   ["--budget", "at most 1e+08"]),
    "budgets-51": (None, {}, ["compare", "--budgets", ",".join(map(str, range(51))), "--out", "OUT"], 2,
                   ["--budgets", "51 budgets", "at most 50"]),
    # plan options out of range: a phasing year of 99999, an hour-long-plus walk
    "years-99999": (None, {}, ["report", "--years", "99999", "--no-pdf", "--out", "OUT"], 2,
                    ["years", "between 2000 and 2100"]),
    "minutes-1e9": (None, {}, ["report", "--minutes", "1e9", "--no-pdf", "--out", "OUT"], 2,
                    ["--minutes", "at most 60"]),
    # outputs: the report into its own input folder
    "report-out-is-input": (None, {}, ["report", "--no-pdf", "--out", "AREA"], 5, ["input folder"]),
    "compare-out-inside-input": (None, {}, ["compare", "--budgets", "10", "--out", "AREA/sub"], 5, ["input folder"]),
}


def _argv(case: tuple, area: Path, out: Path) -> list[str]:
    rest = [area.as_posix() if a == "AREA" else (area / "sub").as_posix() if a == "AREA/sub"
            else out.as_posix() if a == "OUT" else a for a in case[2]]
    return [rest[0], area.as_posix(), *rest[1:]]


@pytest.mark.parametrize("cid", list(CASES))
def test_bad_value_is_a_clear_error(cid, tmp_path, capsys):
    """Every case exits with its documented code (2 bad input or option, 5 output refused), names the
    key or option and what to write instead, prints no traceback and writes nothing."""
    setup, suffix, _, code, fragments = CASES[cid]
    area = synth.write_area(tmp_path / "area", suffix=suffix)
    if setup is not None:
        setup(area)
    before = sorted(p.name for p in area.rglob("*"))
    out = tmp_path / "out"
    try:
        got = cli.main(_argv(CASES[cid], area, out))
    except SystemExit as exc:  # a usage error (argparse)
        got = exc.code
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert got == code, text
    for frag in fragments:
        assert frag in text, (frag, text)
    assert "Traceback" not in text
    assert not out.exists()
    assert sorted(p.name for p in area.rglob("*")) == before


# ------------------------------------------------------------------ silently ignored input

def test_ignored_input_is_said(tmp_path, caplog):
    """A detour factor with a walk network is not used (network distances are): area.toml's and the
    option's are each warned about; a workbook with data on two sheets is read from its first sheet
    with a warning naming the other, and ``layer =`` picks the other one."""
    area = synth.write_area(tmp_path / "net", network=True)
    _sub(area, "name =", "detour_factor = 1.5\nname =")
    with caplog.at_level(logging.WARNING):
        tg.load_area(area)
    assert any("detour_factor = 1.5 is ignored" in r.getMessage() for r in caplog.records)

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cli._area(str(area), detour_factor=2.0)
    assert any("--detour-factor 2 is ignored" in r.getMessage() for r in caplog.records)

    # a workbook: the sheet "old" (first) has 2 candidates, "sites" the 8 of the synthetic area
    area = synth.write_area(tmp_path / "xlsx", suffix={"candidates": ".xlsx"})
    full = pd.read_excel(area / "candidates.xlsx")
    with pd.ExcelWriter(area / "candidates.xlsx") as xw:
        full.head(2).to_excel(xw, sheet_name="old", index=False)
        full.to_excel(xw, sheet_name="sites", index=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        first = tg.load_area(area)
    assert len(first.candidates) == 2
    assert any("'sites' also hold data" in r.getMessage() for r in caplog.records)
    _layer_table(area, "candidates", ".xlsx", 'layer = "sites"')
    assert len(tg.load_area(area).candidates) == 8


def test_blank_names_fall_back_to_ids(tmp_path, caplog):
    """A 街道 with a blank name is shown by its id (S1), with a warning naming it; a blank area name
    is the folder's name — never an empty label in a table, a map or the report title."""
    s = synth.streets()
    s.loc[0, "name"] = " "
    area = synth.write_area(tmp_path / "my-area", layers={"streets": s})
    _sub(area, 'name = "synthetic"', 'name = ""')
    with caplog.at_level(logging.WARNING):
        a = tg.load_area(area)
    assert a.streets.loc["S1", "name"] == "S1" and a.streets.loc["S2", "name"] == "第2街道"
    assert any("1 row(s) without a name (S1)" in r.getMessage() for r in caplog.records)
    assert a.name == "my-area"


def test_json_without_a_command(capsys):
    """``tuoyu-geo --json`` alone: the help goes to stderr, stdout is one JSON object with exit 2."""
    assert cli.main(["--json"]) == 2
    cap = capsys.readouterr()
    obj = json.loads(cap.out)
    assert obj["exit_code"] == 2 and obj["ok"] is False and obj["error"]["message"] == "no command given"
    assert "usage:" in cap.err


@pytest.mark.parametrize("encoding", ["gbk", "ascii"])
def test_narrow_terminal_encoding_is_not_an_internal_error(encoding, tmp_path):
    """A GBK console (Chinese Windows) and an emoji in a name, or an ASCII pipe and any Chinese text:
    the command runs (exit 0, unencodable characters printed as ``?``), and ``--json`` stays exact
    (``\\u`` escapes: the area name reads back unchanged)."""
    name = "👶测试区"
    area = synth.write_area(tmp_path / "a")
    _sub(area, 'name = "synthetic"', f'name = "{name}"')
    env = {**os.environ, "PYTHONIOENCODING": encoding, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = [sys.executable, "-m", "tuoyu_geo"]
    text = subprocess.run([*run, "validate", str(area)], env=env, capture_output=True, timeout=120)
    assert text.returncode == 0, text.stderr.decode(encoding, "replace")
    assert b"?" in text.stdout and b"Traceback" not in text.stderr
    js = subprocess.run([*run, "--json", "validate", str(area)], env=env, capture_output=True, timeout=120)
    assert js.returncode == 0
    assert json.loads(js.stdout.decode("ascii"))["area"] == name


class _FullStream(io.StringIO):
    """A stdout on a full disk (``> /dev/full``)."""

    def write(self, text):
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stream", ["full", "closed"])
@pytest.mark.parametrize("argv", [["policies"], ["--json", "policies"], ["--version"]])
def test_unwritable_stdout_is_exit_5(stream, argv, monkeypatch, capsys):
    """stdout on a full disk or closed (``>&-`` makes ``sys.stdout`` None): exit 5 with one line on
    stderr naming standard output and the reason — not an internal error (1) or a traceback."""
    monkeypatch.setattr(sys, "stdout", _FullStream() if stream == "full" else None)
    assert cli.main(argv) == 5
    err = capsys.readouterr().err
    assert "cannot write to standard output" in err
    assert ("No space left" if stream == "full" else "it is closed") in err
    assert "Traceback" not in err and "internal error" not in err


def test_deleted_working_folder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    """Run from a folder that was deleted: a relative path is exit 2 saying so, not an internal error;
    an absolute path still works."""
    area = synth.write_area(tmp_path / "a")

    def gone():
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "getcwd", gone)
    assert cli.main(["-q", "validate", "a"]) == 2
    assert "the current folder no longer exists" in capsys.readouterr().err
    assert cli.main(["-q", "validate", str(area)]) == 0


def test_budget_list_is_bounded_and_normalised():
    """``--budgets``: -0 is 0 (not printed as "-0"), 50 budgets are taken, 51 refused; budgets above
    10^8 万元 are refused by the API as well, repeats compared once."""
    import argparse

    (b,) = cli._budget_list("-0")
    assert b == 0 and math.copysign(1.0, b) == 1.0
    assert len(cli._budget_list(",".join(["7"] * cli.MAX_BUDGETS))) == 50
    with pytest.raises(argparse.ArgumentTypeError, match="at most 50"):
        cli._budget_list(",".join(["7"] * 51))
    # the API: a budget above 10^8 万元 (a 元/万元 mistake; the frontier figure cannot draw it)
    with pytest.raises(tg.DataError, match="budget_wan"):
        tg.PlanOptions(budget_wan=1e9)
    from tuoyu_geo.scenarios import _budgets

    assert _budgets([1e8, 0, 0]) == [0.0, 1e8]
    with pytest.raises(ValueError, match="at most 1e\\+08"):
        _budgets([1e308])


# ------------------------------------------------------------------ --json: one object, any exit code

def _infeasible(folder: Path) -> Path:
    """wuxi-2025 needs one demonstration site of 45 places; no candidate holds more than 35 → exit 3."""
    return synth.write_area(folder, policy="wuxi-2025")


JSON_CASES = {
    0: lambda t: ["compare", str(synth.write_area(t / "a")), "--budgets", "10,100", "--out", str(t / "o")],
    2: lambda t: ["report", str(_with(synth.write_area(t / "a"), '[columns.streets]\npopulation = "name"\n')),
                  "--out", str(t / "o")],
    3: lambda t: ["report", str(_infeasible(t / "a")), "--strict", "--no-pdf", "--out", str(t / "o")],
    5: lambda t: ["compare", str(synth.write_area(t / "a")), "--budgets", "10", "--out", str(t / "a")],
}


def _with(folder: Path, text: str) -> Path:
    _add(folder, text)
    return folder


@pytest.mark.parametrize("code", list(JSON_CASES))
def test_json_is_one_object_for_every_exit_code(code, tmp_path, capsys):
    """With ``--json`` (before or after the command, with -v) stdout is exactly one JSON object whose
    ``exit_code`` is the process's; the error details are in it; logs go to stderr only."""
    argv = JSON_CASES[code](tmp_path)
    got = cli.main(["--json", "-v", *argv])
    out = capsys.readouterr().out
    assert got == code
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    obj = json.loads(lines[0])
    assert obj["exit_code"] == code and obj["ok"] is (code == 0) and obj["command"] == argv[0]
    if code:
        assert obj["error"]["message"]
    else:
        assert [r["budget_wan"] for r in obj["budgets"]] == [10.0, 100.0]


# ------------------------------------------------------------------ user text in the HTML

class _Html(HTMLParser):
    """Start tags, attributes and text nodes of a document (script/style contents excluded from text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self._raw = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        self._raw += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._raw -= tag in ("script", "style") and self._raw > 0

    def handle_data(self, data):
        if not self._raw:
            self.text.append(data)


_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_TEXT = st.lists(st.one_of(st.sampled_from(list("<>&\"'/={}%=+-@\t\r\n\x00\x07\x1b\u202e\u2066 ")),
                           st.sampled_from(["<script>", "</script>", "</style>", "<img src=x onerror=a()>", "{0}",
                                            "{name}", "]]>", "<!--", "街道", "👶", "\x1b[31m", "=HYPERLINK("]),
                           st.characters()), max_size=12).map("".join)


@FAST
@given(name=_TEXT)
def test_any_name_is_inert_text_in_report_html(name):
    """``document._e`` (report) and ``_leaflet.escape`` (map) turn any text into one text node equal to
    the text without control characters/escapes/bidi overrides: no tag, attribute or comment appears."""
    for esc in (document._e, _leaflet.escape):
        p = _Html()
        p.feed(f'<td data-row="{esc(name)}">{esc(name)}</td>')
        p.close()
        assert p.tags == ["td"]
        assert p.attrs == [("data-row", terminal_text(name))]
        assert "".join(p.text) == terminal_text(name)
        assert not _BAD_CHARS.search(esc(name))


HOSTILE_NAMES = ["<script>alert(1)</script>", "</style><script>alert(2)</script>",
                 "</script><img src=x onerror=alert(3)>", "\"'><b>x</b>", "=HYPERLINK(\"http://x\")",
                 "{0}{name}%s{}", "a\x07b\x1b[31mred\x00", "\u202eevil\u202c", "👶" + "很长的街道名" * 40]


def test_hostile_names_reach_the_report_and_map_as_text(tmp_path, capsys):
    """A study area whose area name, 街道 names and ids, candidate and institution names are hostile
    strings: ``report`` (HTML) and ``map`` exit 0; the report has no <script>/<img onerror>/<b> from
    the names and shows each name as text (cleaned of controls); the map's scripts are only its own
    (the same count as for a harmless area) and hold no raw ``</script>``."""
    s, c, i = synth.streets(), synth.candidates(), synth.institutions()
    for k in range(4):
        s.loc[k, "name"] = HOSTILE_NAMES[k] + f"#{k}"
    s.loc[1, "street_id"] = HOSTILE_NAMES[4]
    for k in range(len(c)):
        c.loc[k, "name"] = HOSTILE_NAMES[k % len(HOSTILE_NAMES)]
    for k in range(len(i)):
        i.loc[k, "name"] = HOSTILE_NAMES[5 + k]
    bad = synth.write_area(tmp_path / "bad", layers={"streets": s, "candidates": c, "institutions": i})
    _sub(bad, 'name = "synthetic"', 'name = "</title><script>alert(0)</script>"')
    plain = synth.write_area(tmp_path / "plain")
    for folder, tag in ((bad, "bad"), (plain, "plain")):
        assert cli.main(["-q", "report", str(folder), "--no-pdf", "--budget", "300",
                         "--out", str(tmp_path / f"r_{tag}")]) == 0
        assert cli.main(["-q", "map", str(folder), "--out", str(tmp_path / f"m_{tag}.html")]) == 0
    capsys.readouterr()

    rep = _Html()
    rep.feed((tmp_path / "r_bad" / "report.html").read_text(encoding="utf-8"))
    ref = _Html()
    ref.feed((tmp_path / "r_plain" / "report.html").read_text(encoding="utf-8"))
    assert rep.tags.count("script") == ref.tags.count("script") == 0
    assert rep.tags.count("b") == ref.tags.count("b")
    assert not any(k.startswith("on") for k, _ in rep.attrs)
    text = "".join(rep.text)
    assert not _BAD_CHARS.search(text)
    for k in range(4):
        assert terminal_text(HOSTILE_NAMES[k] + f"#{k}") in text
    assert "</title><script>alert(0)</script>" in text  # the area name, as text

    bad_map = (tmp_path / "m_bad.html").read_text(encoding="utf-8")
    plain_map = (tmp_path / "m_plain.html").read_text(encoding="utf-8")
    mp, pp = _Html(), _Html()
    mp.feed(bad_map)
    pp.feed(plain_map)
    assert mp.tags.count("script") == pp.tags.count("script")
    assert mp.tags.count("img") == pp.tags.count("img")
    assert not _BAD_CHARS.search(bad_map)
