"""Safe outputs (issue 15): spreadsheet-safe text, terminal-safe text, the user's umask, never
writing into inputs or onto links/FIFOs/devices, one run per output folder, all-or-nothing
multi-file writes, a private crash log, usage errors for absurd option values — and every CLI
command against a read-only folder, a FIFO, a device and a full disk (exit 5, one error line and
its fix line, no traceback, nothing left behind).

Runs in-process (``tuoyu_geo.cli.main``) on the small synthetic area of ``tests/synth.py``; the
plan is solved once per module (``plan_json``) and reused with ``--plan``.
"""

from __future__ import annotations

import csv
import errno
import logging
import math
import os
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.figure
import openpyxl
import osmnx
import pandas as pd
import pyogrio
import pyogrio.errors
import pytest
import synth
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from tuoyu_geo import DataError, OutputError, cli, writer
from tuoyu_geo.cli import main
from tuoyu_geo.writer import spreadsheet_text, terminal_text, write_table, write_xlsx

# names a spreadsheet would run as formulas: every candidate has one (so whichever the plan picks)
_FORMULAS = ('=HYPERLINK("http://evil","点{}")', "+1+cmd|' /C calc'!{}", "-2+3+cmd{}", "@SUM(1+9)*cmd{}")
EVIL = {f"K{s}{k}": _FORMULAS[(2 * s + k // 8) % 4].format(f"K{s}{k}") for s in range(1, 5) for k in (6, 8)}
EVIL_COMMUNITY = {"C10": "=1+1", "C20": "-小区", "C30": "@小区", "C40": "+小区"}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` (hidden ones too) → (mode type, size)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        st = os.lstat(p)
        out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0)
    return out


def _err_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("WARNING ")]


def _assert_output_error(rc: int, err: str, path_part: str) -> None:
    """Exit 5, one 'error (OutputError): cannot write <path>: why' line and one 'fix:' line."""
    lines = _err_lines(err)
    assert rc == 5, err
    assert "Traceback" not in err
    assert len(lines) == 2, lines
    assert lines[0].startswith("error (OutputError): ") and path_part in lines[0], lines
    assert lines[1].strip().startswith("fix: ")


@pytest.fixture(scope="module")
def area_dir(tmp_path_factory) -> Path:
    cands, comms = synth.candidates(), synth.communities()
    cands["name"] = [EVIL.get(s, n) for s, n in zip(cands["site_id"], cands["name"], strict=True)]
    comms["name"] = [EVIL_COMMUNITY.get(c, n) for c, n in zip(comms["community_id"], comms["name"], strict=True)]
    return synth.write_area(tmp_path_factory.mktemp("in") / "area", layers={"candidates": cands,
                                                                              "communities": comms}, network=True)


@pytest.fixture(scope="module")
def plan_json(area_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    assert main(["plan", str(area_dir), "--out", str(out), "--no-progress"]) == 0
    return out / "plan.json"


@pytest.fixture(scope="module")
def assessment(area_dir):
    from tuoyu_geo.loading import load_area
    from tuoyu_geo.pipeline import assess
    from tuoyu_geo.plan import PlanOptions

    return assess(load_area(area_dir), plan=PlanOptions())


# ------------------------------------------------------------------------ spreadsheet-safe text

def test_spreadsheet_text_by_hand():
    """Formula starts get one leading apostrophe; plain numbers written as text, numbers, other
    text unchanged; control characters and escape sequences removed and CR/CRLF made LF first."""
    cases = {
        "=1+2": "'=1+2", "+86 138": "'+86 138", "-2+3+cmd": "'-2+3+cmd", "@SUM(A1)": "'@SUM(A1)",
        "\t=1": "'\t=1", "\r=1": "'\n=1", "\n=1": "'\n=1", "a\r\nb\rc": "a\nb\nc",
        "-5": "-5", "+1.5e3": "+1.5e3",             # a number written as text is no formula
        "湖南路街道": "湖南路街道", "a=b": "a=b", "": "",
        "\x1b[31m红\x1b[0m": "红", "a\x00b\x07c\x85d\x9b2Je": "abcde",  # ANSI CSI (7-bit and C1), NUL, BEL, NEL
        "\x1b]0;title\x07名": "名",                    # OSC sequence
        "=\x00cmd": "'=cmd",
    }
    for raw, want in cases.items():
        assert spreadsheet_text(raw) == want, raw
    for v in (-5, -0.5, 3, None, True):
        assert spreadsheet_text(v) is v


_NASTY = st.text(st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", "\x00", "\x1b", "[", "]", "2", "J", "\x07",
                                  "\x85", "\x9b", "\x7f", "a", "街", "'", "1", ".", "e", " "]), max_size=12)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(_NASTY)
def test_spreadsheet_text_properties(text):
    """For any text: no control character except tab/newline survives, nothing starts like a
    formula unless it is a plain number, and escaping twice changes nothing more."""
    out = spreadsheet_text(text)
    assert not any(ord(c) < 32 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f for c in out)
    assert not out.startswith(writer.FORMULA_START) or _is_number(out)
    assert spreadsheet_text(out) == out
    assert "\x1b" not in terminal_text(text) and "\r" not in terminal_text(text)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.lists(_NASTY, min_size=1, max_size=5))
def test_any_text_round_trips_safely_through_csv_and_xlsx(tmp_path_factory, texts):
    """Whatever the text, the XLSX is written (openpyxl never sees an illegal character) and
    every CSV and XLSX cell reads back as spreadsheet_text of what was given."""
    d = tmp_path_factory.mktemp("h")
    df = pd.DataFrame({"t": texts})
    want = [spreadsheet_text(t) for t in texts]
    ws = load_workbook(write_xlsx(d / "h.xlsx", {"s": df}))["s"]
    assert [c.value if c.value is not None else "" for (c,) in ws.iter_rows(min_row=2)] == want
    with open(write_table(df, d / "h.csv"), encoding="utf-8-sig", newline="") as f:
        assert [r[0] for r in list(csv.reader(f))[1:]] == want


def test_negative_numbers_stay_numbers_and_text_is_escaped(tmp_path):
    """CSV and XLSX: numeric -5/-0.5 stay numbers; in a text column '-x' becomes "'-x" (and the
    number -3 in that mixed column stays a number)."""
    df = pd.DataFrame({"n": [-5, 7], "f": [-0.5, 1.25], "mix": [-3, "-x"], "=hdr": ["ok", "@y"]})
    write_table(df, tmp_path / "t.csv")
    with open(tmp_path / "t.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [["n", "f", "mix", "'=hdr"], ["-5", "-0.5", "-3", "ok"], ["7", "1.25", "'-x", "'@y"]]
    ws = load_workbook(write_xlsx(tmp_path / "t.xlsx", {"s": df}))["s"]
    assert [c.value for c in ws[1]] == ["n", "f", "mix", "'=hdr"]
    assert [c.value for c in ws[2]] == [-5, -0.5, -3, "ok"] and [c.data_type for c in ws[2]][:3] == ["n"] * 3
    assert [c.value for c in ws[3]] == [7, 1.25, "'-x", "'@y"]


def test_control_characters_never_reach_openpyxl(tmp_path):
    """openpyxl refuses C0 controls (IllegalCharacterError); they are stripped, tab/newline kept."""
    bad = "名\x00称\x1b[2J\x0b\x1f\x7f\x9f\ta\nb"
    with pytest.raises(openpyxl.utils.exceptions.IllegalCharacterError):  # why it matters
        openpyxl.Workbook().active.append([bad])
    ws = load_workbook(write_xlsx(tmp_path / "c.xlsx", {"s": pd.DataFrame({"name": [bad]})}))["s"]
    assert ws["A2"].value == "名称\ta\nb"
    back = pd.read_csv(write_table(pd.DataFrame({"name": [bad]}), tmp_path / "c.csv"), encoding="utf-8-sig")
    assert back["name"].tolist() == ["名称\ta\nb"]


def _cells(folder: Path) -> list[tuple[str, object, str]]:
    """(file, value, xlsx data type or 'csv') of every cell of every CSV/XLSX in ``folder``."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix == ".csv":
            with open(p, encoding="utf-8-sig", newline="") as f:
                out += [(p.name, v, "csv") for row in csv.reader(f) for v in row]
        elif p.suffix == ".xlsx":
            for ws in load_workbook(p):
                out += [(f"{p.name}:{ws.title}", c.value, c.data_type) for row in ws.iter_rows() for c in row]
    return out


def _is_number(v: object) -> bool:
    try:
        float(str(v))
    except ValueError:
        return False
    return True


def test_every_csv_and_xlsx_cell_is_safe_end_to_end(area_dir, plan_json, tmp_path):
    """analyze, access, plan and export: no cell of any CSV/XLSX is a formula or starts like one
    (unless it is a plain number); the formula-like names come out with exactly one apostrophe."""
    for argv in (["analyze", str(area_dir), "--out", str(tmp_path / "an")],
                 ["access", str(area_dir), "--out", str(tmp_path / "ac")],
                 ["plan", str(area_dir), "--out", str(tmp_path / "pl")],
                 ["export", str(area_dir), "--plan", str(plan_json), "--out", str(tmp_path / "ex")]):
        assert main([*argv, "--no-progress"]) == 0
    files = {p.name for d in ("an", "ac", "pl", "ex") for p in (tmp_path / d).iterdir()}
    assert {"street_scorecard.csv", "community_scorecard.csv", "scorecard.xlsx", "community_access.csv",
            "recommended_sites.csv", "tuoyu_plan.xlsx"} <= files
    seen = set()
    for d in ("an", "ac", "pl", "ex"):
        for name, v, dtype in _cells(tmp_path / d):
            assert dtype != "f", (name, v)
            if isinstance(v, str) and v.startswith(writer.FORMULA_START):
                assert _is_number(v), (name, v)
            if isinstance(v, str) and v.startswith("'"):
                seen.add((name.split(":")[0], v))
    for name in ("recommended_sites.csv", "tuoyu_plan.xlsx"):  # the plan opens ≥ 1 site in S3 and S4 (no 普惠)
        assert len({(name, "'" + e) for e in EVIL.values()} & seen) >= 2, name
    for name in ("community_scorecard.csv", "scorecard.xlsx", "community_access.csv"):
        assert {(name, "'" + e) for e in EVIL_COMMUNITY.values()} <= seen, name


# ---------------------------------------------------------------------------- terminal text

def test_terminal_text_and_cli_output(capsys, monkeypatch):
    """Escape sequences, controls, CR and bidi overrides never reach the terminal (stdout or the
    error line); newlines and CJK stay."""
    assert terminal_text("a\x1b[2Jb\x1b]0;t\x07c\rd\u202ee\x00f\n徐汇") == "abcdef\n徐汇"
    cli._out("名\x1b[31m称\x07")

    def bad(args):
        raise DataError("bad name \x1b]0;owned\x07\x1b[2J东\u202e", file="x\x1b[1m.csv")

    monkeypatch.setattr(cli, "cmd_info", bad)
    assert main(["info"]) == 2
    out, err = capsys.readouterr()
    assert out == "名称\n"
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err and "bad name 东" in err
    rec = logging.LogRecord("tuoyu_geo.x", logging.WARNING, __file__, 1, "小区 %s", ("\x1b[2J甲\x00",), None)
    assert cli._SafeFormatter("%(levelname)s %(message)s").format(rec) == "WARNING 小区 甲"  # log lines too


def test_console_tables_stay_aligned_after_stripping():
    """A name with an escape sequence: the printed (stripped) table lines all have the same width
    (widths are measured on the text as printed: 甲乙 = 4 columns, not 4 + len('\\x1b[31m')).
    Column widths 6 and 6 (the headers 'street', 'places'), so the row is 甲乙 + 2 spaces of
    padding + 2 of separator + 5 before the right-aligned '1'."""
    from tuoyu_geo.report.console import _grid

    rows = [["甲\x1b[31m乙", "1"], ["丙", "22"], ["合计", "23"]]
    lines = [terminal_text(ln) for ln in _grid([("街道", "street"), ("托位", "places")], rows, left=(0,))]
    assert len({writer.display_width(ln) for ln in lines}) == 1, lines
    assert lines[3] == "甲乙" + " " * 9 + "1"


# ------------------------------------------------------------------------------------- umask

@pytest.mark.parametrize("mask", [0o027, 0o002])
def test_outputs_get_the_users_umask(area_dir, tmp_path, mask):
    """Every file written (CSV, XLSX, GeoPackage via GDAL/SQLite, JSON) has mode 0o666 & ~umask:
    0o640 under umask 027, 0o664 under 002 (SQLite alone would give 0o644)."""
    old = os.umask(mask)
    try:
        assert main(["analyze", str(area_dir), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
        assert main(["access", str(area_dir), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "o").iterdir()}
    assert len(modes) == 5 and "community_access.gpkg" in modes
    assert set(modes.values()) == {0o666 & ~mask}, {k: oct(v) for k, v in modes.items()}


# ------------------------------------------------------------------ inputs and odd targets

def test_never_writes_into_inputs(area_dir, plan_json, tmp_path, capsys):
    """--out equal to or inside the area folder, a --map/--out onto an input file: exit 5 and the
    inputs untouched (byte sizes and listing)."""
    before = _tree(area_dir)
    plan_before = plan_json.read_bytes()
    for argv, where in (
            (["export", str(area_dir), "--plan", str(plan_json), "--out", str(area_dir)], str(area_dir)),
            (["analyze", str(area_dir), "--out", str(area_dir / "sub")], str(area_dir / "sub")),
            (["export", str(area_dir), "--plan", str(plan_json), "--out", str(tmp_path / "e"),
              "--map", str(area_dir / "streets.geojson")], "streets.geojson"),
            (["map", str(area_dir), "--plan", str(plan_json), "--out", str(plan_json)], str(plan_json)),
            (["analyze", str(area_dir / "area.toml"), "--out", str(area_dir)], str(area_dir))):
        rc, err = _run(argv, capsys)
        _assert_output_error(rc, err, where)
        assert "input" in err
    (tmp_path / "alias").symlink_to(area_dir)  # the area folder under another name
    rc, err = _run(["analyze", str(area_dir), "--out", str(tmp_path / "alias")], capsys)
    _assert_output_error(rc, err, "alias")
    # an area.toml naming layer files in another folder: those files are inputs too
    other = tmp_path / "other"
    other.mkdir()
    toml = (area_dir / "area.toml").read_text(encoding="utf-8")
    for name in ("streets", "communities", "institutions", "candidates"):
        toml = toml.replace(f'"{name}.geojson"', f'"{(area_dir / name).as_posix()}.geojson"')
    (other / "area.toml").write_text(toml.replace('"walk.graphml"', f'"{(area_dir / "walk.graphml").as_posix()}"'),
                                     encoding="utf-8")
    rc, err = _run(["map", str(other), "--no-plan", "--out", str(area_dir / "streets.geojson")], capsys)
    _assert_output_error(rc, err, "streets.geojson")
    assert "input file" in err
    assert _tree(area_dir) == before and plan_json.read_bytes() == plan_before
    assert not (tmp_path / "e").exists()


def test_protect_inputs_api_and_hard_links(tmp_path):
    """writer.protect_inputs: a write inside a protected folder, or onto a hard link of a protected
    file, is refused; outside the block it is allowed."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text("x\n1\n")
    out = tmp_path / "out"
    out.mkdir()
    os.link(src / "a.csv", out / "linked.csv")
    df = pd.DataFrame({"x": [2]})
    with writer.protect_inputs([src]) as add:
        with pytest.raises(OutputError, match="input folder"):
            write_table(df, src / "new.csv")
        add([src / "a.csv"])
        with pytest.raises(OutputError, match="input file"):
            write_table(df, out / "linked.csv")
        write_table(df, out / "fine.csv")
    assert (src / "a.csv").read_text() == "x\n1\n" and sorted(p.name for p in src.iterdir()) == ["a.csv"]
    write_table(df, src / "new.csv")  # no protection outside the block
    assert (src / "new.csv").exists()


def test_never_replaces_links_fifos_devices_or_folders(tmp_path):
    """Each odd target → OutputError naming what it is; the link's target, the FIFO, the folder
    stay as they were and no temporary file is left."""
    victim = tmp_path / "victim.csv"
    victim.write_text("keep")
    (tmp_path / "link.csv").symlink_to(victim)
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "dir.csv").mkdir()
    df = pd.DataFrame({"a": [1]})
    for name, what in (("link.csv", "symbolic link"), ("pipe.csv", "named pipe"), ("dir.csv", "folder")):
        with pytest.raises(OutputError, match=what):
            write_table(df, tmp_path / name)
    if os.path.exists("/dev/null"):
        with pytest.raises(OutputError, match="a device"):
            writer.write_file("x", "/dev/null", fmt="html")
        with pytest.raises(OutputError, match="not a folder"):
            write_table(df, "/dev/null/t.csv")
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert victim.read_text() == "keep" and stat.S_ISFIFO(os.lstat(tmp_path / "pipe.csv").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.csv", "link.csv", "pipe.csv", "victim.csv"]


# ----------------------------------------------------------------------------- output lock

_HOLDER = """
import sys
from tuoyu_geo.writer import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_concurrent_run_is_refused_and_stale_lock_taken_over(area_dir, tmp_path, capsys):
    """A second process holding the folder → 'another tuoyu-geo run (process <pid>) is writing',
    exit 5, nothing written; once it is gone (its lock file left behind with a dead pid) the run
    succeeds and removes the lock file."""
    out = tmp_path / "o"
    env = dict(os.environ, PYTHONPATH=str(Path(writer.__file__).parents[1]))
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, err = _run(["analyze", str(area_dir), "--out", str(out)], capsys)
        _assert_output_error(rc, err, f"process {holder.pid}@")
        assert "another tuoyu-geo run" in err
        assert sorted(p.name for p in out.iterdir()) == [writer.LOCK_NAME]
    finally:
        holder.communicate("")
    assert not out.exists()  # the holder removed its lock and the folder it created
    # a lock file left by a process that no longer runs
    out.mkdir()
    (out / writer.LOCK_NAME).write_text(f"{holder.pid}@{socket.gethostname()}\n")
    assert main(["analyze", str(area_dir), "--out", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["community_scorecard.csv", "scorecard.xlsx",
                                                     "street_scorecard.csv"]


def test_lock_without_flock(tmp_path, monkeypatch):
    """Where fcntl is missing (Windows) the lock is an O_EXCL file with pid@host: a live process
    holds it, a dead one's is taken over, another host's is respected; the lock is re-entrant
    within a process and removed at the end (with the folder it created)."""
    monkeypatch.setattr(writer, "_fcntl", None)
    out = tmp_path / "o"
    out.mkdir()
    lock = out / writer.LOCK_NAME
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        lock.write_text(f"{live.pid}@{socket.gethostname()}\n")
        with pytest.raises(OutputError, match=f"process {live.pid}@"), writer.output_lock(out):
            pass
        lock.write_text(f"{dead}@{socket.gethostname()}\n")
        with writer.output_lock(out), writer.output_lock(out):  # taken over; re-entrant
            assert lock.read_text().startswith(f"{os.getpid()}@")
        assert not lock.exists()
        lock.write_text(f"{dead}@another-host\n")
        with pytest.raises(OutputError, match="another-host"), writer.output_lock(out):
            pass
    finally:
        live.communicate(b"")
    lock.unlink()
    with writer.output_lock(tmp_path / "new" / "deeper"):
        assert (tmp_path / "new" / "deeper" / writer.LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()


def test_planted_lock_symlink_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / writer.LOCK_NAME).symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"), writer.output_lock(tmp_path / "o"):
        pass
    assert victim.read_text() == "keep"


# ------------------------------------------------------------------------ all-or-nothing runs

def test_plan_and_export_are_all_or_nothing(area_dir, plan_json, tmp_path):
    """plan: plan.json cannot be written (a FIFO is in its place) → neither the site CSV nor the
    manifest is left; export --map onto a FIFO → none of the five export files is left."""
    out = tmp_path / "p"
    out.mkdir()
    os.mkfifo(out / "plan.json")
    rc = main(["plan", str(area_dir), "--out", str(out), "--no-progress"])
    assert rc == 5 and sorted(p.name for p in out.iterdir()) == ["plan.json"]
    ex = tmp_path / "e"
    ex.mkdir()
    (ex / "manifest.json").write_text("old")
    os.mkfifo(ex / "m.html")
    rc = main(["export", str(area_dir), "--plan", str(plan_json), "--out", str(ex), "--map", str(ex / "m.html"),
               "--no-progress"])
    assert rc == 5 and sorted(p.name for p in ex.iterdir()) == ["m.html", "manifest.json"]
    assert (ex / "manifest.json").read_text() == "old"


def test_interrupted_run_leaves_nothing(area_dir, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the XLSX is being written (the CSVs already done): exit 130, 'interrupted',
    no file, no folder, no lock left."""
    def interrupt(self, filename):
        Path(filename).write_bytes(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(openpyxl.Workbook, "save", interrupt)
    rc, err = _run(["analyze", str(area_dir), "--out", str(tmp_path / "o")], capsys)
    assert rc == 130 and err.strip().splitlines()[-1] == "interrupted" and list(tmp_path.iterdir()) == []


def test_transaction_takes_back_earlier_writes(tmp_path):
    """Two writes in a transaction, the second fails: the first file is restored to its old
    content, the new one removed, the new folder removed; success keeps both, no backups left."""
    (tmp_path / "a.csv").write_text("old")
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(OutputError), writer.transaction():
        write_table(df, tmp_path / "a.csv")
        write_table(df, tmp_path / "new" / "b.csv")
        assert (tmp_path / "a.csv").read_text() != "old"  # moved into place already (readable)
        write_table(df, tmp_path / "new", fmt="csv")  # a folder → OutputError
    assert (tmp_path / "a.csv").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    with writer.transaction():
        write_table(df, tmp_path / "a.csv")
        write_table(df, tmp_path / "b.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


# -------------------------------------------------------------------------------- crash log

def test_crash_log_is_private_and_ignores_planted_symlink(tmp_path, monkeypatch, capsys):
    """A symlink planted at the old fixed name is not followed; the log is a new 0600 file in a
    new 0700 folder, named on stderr, holding the traceback."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "tuoyu-geo-error.log").symlink_to(victim)

    def boom(args):
        return {}["missing"]

    monkeypatch.setattr(cli, "cmd_info", boom)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert victim.read_text() == "keep" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    log = Path(err.split("details were written to ")[1].strip())
    assert log.parent.parent == tmp_path and log.name == "tuoyu-geo-error.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert "KeyError" in log.read_text() and "Traceback" in log.read_text()


# ------------------------------------------------------------------------------ usage errors

@pytest.mark.parametrize("argv", [
    ["plan", "D", "--out", "O", "--time-limit", "0"], ["plan", "D", "--out", "O", "--time-limit", "-5"],
    ["plan", "D", "--out", "O", "--time-limit", "nan"], ["plan", "D", "--out", "O", "--time-limit", "inf"],
    ["plan", "D", "--out", "O", "--minutes", "0"], ["plan", "D", "--out", "O", "--minutes", "-1"],
    ["access", "D", "--out", "O", "--minutes", "nan"], ["access", "D", "--out", "O", "--minutes", "inf"],
    ["plan", "D", "--out", "O", "--budget", "nan"], ["export", "D", "--out", "O", "--budget", "-1"],
    ["plan", "D", "--out", "O", "--enrolment-rate", "0"], ["plan", "D", "--out", "O", "--time-limit", "abc"],
])
def test_absurd_option_values_are_usage_errors(argv, capsys, tmp_path):
    """Rejected by the parser with exit 2 naming the option, before any file is read or written."""
    argv = [str(tmp_path / a) if a in ("D", "O") else a for a in argv]
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    err = capsys.readouterr().err
    flag = next(a for a in argv if a.startswith("--") and a != "--out")
    assert f"argument {flag}: must be" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["analyze", "D", "--out", ""], ["map", "D", "--out", " "],
                                  ["export", "D", "--out", "O", "--map", ""]])
def test_empty_output_path_is_a_usage_error(argv, capsys, tmp_path):
    """An empty --out/--map (say an unset shell variable) would write into the current folder."""
    with pytest.raises(SystemExit) as ei:
        main([str(tmp_path / a) if a in ("D", "O") else a for a in argv])
    assert ei.value.code == 2 and "must name a file or folder" in capsys.readouterr().err


def test_output_name_too_long(area_dir, tmp_path, capsys):
    """A folder or file name longer than the file system allows: exit 5 with 'choose a shorter
    name', not an internal error (Path.exists raises for such names)."""
    long = "长" * 100  # 300 bytes in UTF-8 > 255
    for argv in (["analyze", str(area_dir), "--out", str(tmp_path / long)],
                 ["map", str(area_dir), "--no-plan", "--out", str(tmp_path / f"{long}.html")]):
        rc, err = _run(argv, capsys)
        _assert_output_error(rc, err, str(tmp_path))
        assert "fix: choose a shorter folder or file name" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf])
def test_plan_options_time_limit(value):
    from tuoyu_geo.plan import PlanOptions

    with pytest.raises(DataError, match="time_limit_s"):
        PlanOptions(time_limit_s=value)
    assert isinstance(DataError("x"), ValueError)


@pytest.mark.parametrize("text", ["walk_speed_kmh = inf", "walk_speed_kmh = nan", "places_per_1000 = -inf"])
def test_non_finite_policy_numbers_exit_2(area_dir, tmp_path, capsys, text):
    pol = tmp_path / "p.toml"
    pol.write_text(f'base = "national-2025"\n{text}\n', encoding="utf-8")
    assert main(["access", str(area_dir), "--policy", str(pol), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "finite" in capsys.readouterr().err and not (tmp_path / "o").exists()


# ------------------------------------------------------- every command × every bad target

def _commands(area: Path, plan: Path, ok: Path) -> dict[str, callable]:
    """command → argv builder from (folder target, file target)."""
    a, p = str(area), str(plan)
    return {
        "access": lambda d, f: ["access", a, "--out", d],
        "analyze": lambda d, f: ["analyze", a, "--out", d],
        "plan": lambda d, f: ["plan", a, "--out", d],
        "export": lambda d, f: ["export", a, "--plan", p, "--out", d],
        "export --map": lambda d, f: ["export", a, "--plan", p, "--out", str(ok), "--map", f],
        "map": lambda d, f: ["map", a, "--plan", p, "--out", f],
        "demo": lambda d, f: ["demo", "--out", d, "--map", str(ok / "m.html")],
        "demo --map": lambda d, f: ["demo", "--out", str(ok), "--map", f],
        "fetch-network": lambda d, f: ["fetch-network", "somewhere", "--out", f],
        "convert-network": lambda d, f: ["convert-network", str(area / "walk.graphml"), "--out",
                                         str(Path(f).with_suffix(".gpkg")) if Path(f).suffix else f],
    }


COMMANDS = ["access", "analyze", "plan", "export", "export --map", "map", "demo", "demo --map", "fetch-network",
            "convert-network"]


@pytest.fixture
def fast(monkeypatch, assessment):
    """demo reuses the synthetic assessment (no solve of the bundled area); fetch-network gets
    the synthetic grid instead of a download."""
    monkeypatch.setattr(cli, "_assess", lambda args, **kw: assessment)
    monkeypatch.setattr("tuoyu_geo.network.graph_from_place", lambda place: synth.grid_graph())


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([*argv, "--no-progress"])
    return rc, capsys.readouterr().err


def _mount_tmpfs(folder: Path, options: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.fixture
def readonly_dir(tmp_path):
    """A read-only folder: chmod 0555 for a normal user; as root (who ignores modes) a read-only
    tmpfs mount."""
    d = tmp_path / "ro"
    d.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    if not _mount_tmpfs(d, "ro,size=4m"):
        pytest.skip("running as root without permission to mount: no read-only folder can be made")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_read_only_folder(command, area_dir, plan_json, tmp_path, readonly_dir, fast, capsys):
    ok = tmp_path / "ok"
    rc, err = _run(_commands(area_dir, plan_json, ok)[command](str(readonly_dir / "out"),
                                                               str(readonly_dir / "m.html")), capsys)
    _assert_output_error(rc, err, str(readonly_dir))
    assert list(readonly_dir.iterdir()) == [] and not ok.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_fifo(command, area_dir, plan_json, tmp_path, fast, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    ok = tmp_path / "ok"
    rc, err = _run(_commands(area_dir, plan_json, ok)[command](str(fifo), str(fifo)), capsys)
    _assert_output_error(rc, err, str(fifo))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null on this system")
@pytest.mark.parametrize("command", COMMANDS)
def test_device(command, area_dir, plan_json, tmp_path, fast, capsys):
    ok = tmp_path / "ok"
    dev_before = sorted(os.listdir("/dev"))
    rc, err = _run(_commands(area_dir, plan_json, ok)[command]("/dev/null", "/dev/null"), capsys)
    _assert_output_error(rc, err, "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and sorted(os.listdir("/dev")) == dev_before
    assert not ok.exists()


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def disk_full(monkeypatch):
    """Every low-level writer writes a few bytes of its file, then the disk is full (GDAL's way:
    pyogrio's DataSourceError 'Failed to commit transaction', which is not an OSError)."""
    def partial(exc):
        def write(self_or_obj, *args, **kwargs):
            target = next((a for a in args if isinstance(a, (str, Path))), None)
            if target is not None and not str(target).endswith(".lock"):
                Path(target).write_bytes(b"half")
            raise exc
        return write

    enospc = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pd.DataFrame, "to_csv", partial(enospc))
    monkeypatch.setattr(openpyxl.Workbook, "save", partial(enospc))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", partial(enospc))
    monkeypatch.setattr(osmnx, "save_graphml", partial(enospc))
    monkeypatch.setattr(pyogrio, "write_dataframe",
                        partial(pyogrio.errors.DataSourceError("Failed to commit transaction")))
    real_write_text = Path.write_text

    def write_text(self, *args, **kwargs):
        real_write_text(self, "half")
        raise enospc

    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: _full())


@pytest.mark.parametrize("command", COMMANDS)
def test_full_disk(command, area_dir, plan_json, tmp_path, fast, disk_full, capsys):
    ok = tmp_path / "ok"
    out = tmp_path / "out"
    rc, err = _run(_commands(area_dir, plan_json, ok)[command](str(out), str(out / "m.html")), capsys)
    _assert_output_error(rc, err, str(out if command not in ("export --map", "demo") else ok))
    assert "No space left on device" in err or "Failed to commit transaction" in err
    assert "free disk space" in err or "fix: " in err
    assert list(tmp_path.iterdir()) == []  # neither the folders nor any (temporary) file is left


def test_full_disk_after_the_first_files(area_dir, tmp_path, monkeypatch, capsys):
    """analyze: both CSVs written, then the XLSX hits a full disk → no CSV is left; the fix names
    the cause (free disk space)."""
    monkeypatch.setattr(openpyxl.Workbook, "save", lambda self, filename: _full())
    rc, err = _run(["analyze", str(area_dir), "--out", str(tmp_path / "o")], capsys)
    _assert_output_error(rc, err, str(tmp_path / "o"))
    assert "fix: free disk space" in err and list(tmp_path.iterdir()) == []


def test_real_full_disk(area_dir, plan_json, tmp_path, capsys):
    """A 64 KiB tmpfs (where one can be mounted): export's GeoPackage does not fit → exit 5,
    the folder left empty."""
    d = tmp_path / "small"
    d.mkdir()
    if not _mount_tmpfs(d, "size=64k"):
        pytest.skip("cannot mount a tmpfs here (needs root on Linux); test_full_disk covers it by monkeypatching")
    try:
        rc, err = _run(["export", str(area_dir), "--plan", str(plan_json), "--out", str(d / "o")], capsys)
        _assert_output_error(rc, err, str(d / "o"))
        assert list(d.iterdir()) == []
    finally:
        subprocess.run(["umount", str(d)], check=True)


def test_info_and_validate_read_a_read_only_area(area_dir, readonly_dir, capsys):
    """Reading needs no write access: info and validate work on an area in a read-only folder
    (as root: the area is copied in before the folder is remounted read-only)."""
    import shutil

    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,rw", str(readonly_dir)], check=True)
    else:
        readonly_dir.chmod(0o755)

    shutil.copytree(area_dir, readonly_dir / "area")
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(readonly_dir)], check=True)
    else:
        readonly_dir.chmod(0o555)
    assert main(["validate", str(readonly_dir / "area")]) == 0
    assert main(["info", str(readonly_dir / "area"), "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_parent_folder_made_meanwhile_by_another_writer(tmp_path, monkeypatch):
    """Two districts written in parallel both create ``districts/``: the one that loses the race sees
    FileExistsError from ``mkdir`` (seen once in ``test_batch``).  Simulated: the first ``mkdir`` of
    ``out/districts`` makes the folder and then raises, as if another process had made it first — the
    write still succeeds, and only ``out/districts/D1`` (made by this writer) counts as created.  When
    what appeared meanwhile is a file (``out/other``), it is an OutputError naming the path."""
    from pathlib import Path

    from tuoyu_geo import OutputError, writer

    real = Path.mkdir
    raced = []

    def racing_mkdir(self, *a, **k):
        if self.name in ("districts", "other") and self not in raced:
            raced.append(self)
            if self.name == "districts":
                real(self)
            else:
                self.write_text("x")
            raise FileExistsError(17, "File exists", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    out = tmp_path / "out"
    out.mkdir()
    created = writer._make_parents([out / "districts" / "D1" / "a.csv"])
    assert created == [out / "districts" / "D1"]
    with pytest.raises(OutputError, match="other"):
        writer._make_parents([out / "other" / "a.csv"])
