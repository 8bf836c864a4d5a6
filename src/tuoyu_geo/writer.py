"""Every file the package writes goes through here: atomic writes and one writer per format.

* :func:`atomic_write` / :func:`atomic_paths` — write to temporary files in the target's own folder
  and move them into place with :func:`os.replace` only when everything was written; on any failure
  the temporary files are removed and the targets are left as they were.  Write failures (``OSError``,
  GDAL/pyogrio errors such as "Failed to commit transaction", disk full inside openpyxl) become one
  :class:`~tuoyu_geo.OutputError` that names the path and says how to fix it.
* :data:`FORMATS` — the format registry (``csv``, ``xlsx``, ``gpkg``, ``geojson``, ``json``,
  ``html``, ``png``); :func:`write_table` / :func:`write_file` write one object atomically in the
  format given by ``fmt`` or by the file suffix.
* :func:`write_xlsx` — THE XLSX writer: bold filled header, frozen header row, auto-filter, widths
  by display width (CJK counts double), number formats, header comments, booleans as 是/否.
* Safe text: every text cell of a CSV or XLSX that a spreadsheet would run as a formula (starting
  with ``=``, ``+``, ``-``, ``@``, a tab or a line end) gets a leading apostrophe
  (:func:`spreadsheet_text`; numbers stay numbers); control characters and terminal escape
  sequences are stripped from spreadsheet cells and from text the CLI prints (:func:`terminal_text`).
* Safe targets: outputs get the user's umask; a target that is a link, a FIFO, a device or a folder
  is refused, as is any target inside the inputs declared with :func:`protect_inputs`;
  :func:`output_lock` keeps one run per output folder; :func:`transaction` makes several writes
  all-or-nothing.

This module is in the core layer: it imports only :mod:`tuoyu_geo._errors`; openpyxl and pyogrio
are imported inside the functions that need them (matplotlib figures are passed in).

Examples
--------
>>> import pandas as pd
>>> from tuoyu_geo.writer import write_table, write_xlsx
>>> df = pd.DataFrame({"街道": ["湖南路街道"], "普惠托位占比": [0.42], "有普惠机构": [True]})
>>> write_table(df, "out/table.csv")                                           # doctest: +SKIP
>>> write_xlsx("out/t.xlsx", {"街道指标": df}, number_formats={"普惠托位占比": "0.0%"})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import enum
import errno
import json
import logging
import math
import os
import re
import socket
import sqlite3
import stat
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ._errors import OutputError

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS",
    "NO",
    "YES",
    "Format",
    "add_inputs",
    "atomic_paths",
    "atomic_write",
    "check_target",
    "clean_frame",
    "display_width",
    "format_of",
    "jsonable",
    "output_error",
    "output_lock",
    "protect_inputs",
    "sha256_file",
    "spreadsheet_text",
    "strip_controls",
    "terminal_text",
    "transaction",
    "write_file",
    "write_table",
    "write_xlsx",
]

#: how booleans are written in every XLSX sheet
YES, NO = "是", "否"
#: characters that make a spreadsheet treat a text cell as a formula (neutralised with a leading ')
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
#: the lock file :func:`output_lock` keeps in an output folder while a run writes there
LOCK_NAME = ".tuoyu-geo.lock"
_MAX_SHEET_NAME = 31
_MAX_COL_WIDTH = 60
_FIX = ("choose a folder you can write to (e.g. --out ./outputs), check its permissions and free "
        "disk space, and close the file if it is open in Excel/WPS/QGIS")


# ------------------------------------------------------------------------------ errors & helpers

def display_width(text: Any) -> int:
    """Terminal/Excel display width of ``text``: CJK and full-width characters count as 2; escape
    sequences and control characters (removed before printing, :func:`terminal_text`) count 0.

    >>> display_width("徐汇ab"), display_width("徐\\x1b[31m汇")
    (6, 4)
    """
    s = "" if text is None else terminal_text(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


_WRITABLE = "choose a folder you can write to (e.g. --out ./outputs) or ask for write permission there"
_FIXES = {getattr(errno, name): fix for name, fix in (
    ("ENOSPC", "free disk space on that drive (or write to another drive with --out) and run again"),
    ("EDQUOT", "free space within your disk quota (or write to another drive with --out) and run again"),
    ("EACCES", _WRITABLE), ("EPERM", _WRITABLE),
    ("EROFS", "that drive is read-only: choose a folder on a writable drive (e.g. --out ./outputs)"),
    ("ENAMETOOLONG", "choose a shorter folder or file name"),
    ("EBUSY", "close the file if it is open in Excel/WPS/QGIS and run again"),
) if hasattr(errno, name)}


def output_error(path: str | Path, exc: BaseException | str, *, fix: str | None = None) -> OutputError:
    """The :class:`OutputError` for a failed write of ``path`` (names the path and the fix).

    The fix follows the cause: a full disk, a read-only drive or missing permission, a name too
    long, a file open in another program; otherwise the general advice.
    """
    why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    if fix is None:
        fix = _FIXES.get(getattr(exc, "errno", None), _FIX)
    return OutputError(f"cannot write {path}: {why}", path=str(path), fix=fix)


def _is_write_error(exc: BaseException) -> bool:
    """OSError (incl. disk full inside openpyxl/zipfile) or a GDAL error raised by pyogrio (its
    DataSourceError/DataLayerError — a full disk shows as "Failed to commit transaction" or "Could
    not add feature" — and the raw CPLE errors), or SQLite's "database or disk is full" /
    "attempt to write a readonly database" while a GeoPackage is edited in place."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, sqlite3.OperationalError):  # editing a GeoPackage in place (not a SQL mistake)
        return any(w in str(exc).lower() for w in ("disk", "full", "readonly", "read-only", "unable to open",
                                                    "i/o"))
    from pyogrio.errors import DataLayerError, DataSourceError

    gdal: tuple[type, ...] = (DataSourceError, DataLayerError)
    with contextlib.suppress(ImportError, AttributeError):
        from pyogrio._err import CPLE_BaseError

        gdal += (CPLE_BaseError,)
    return isinstance(exc, gdal)


# ------------------------------------------------------------------------------------ safe text

#: ANSI/VT escape sequences (CSI ``ESC [ … final``, OSC ``ESC ] … BEL|ST``, two-character ``ESC x``)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])|\x9b[0-?]*[ -/]*[@-~]")
#: C0 controls except tab/newline/CR, DEL, C1 controls (openpyxl refuses most of them)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: besides, on a terminal: CR (overwrites the line) and the bidirectional overrides
_TERMINAL_ONLY = re.compile(r"[\r\u202a-\u202e\u2066-\u2069]")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def strip_controls(text: str) -> str:
    """``text`` without escape sequences and control characters (tab, newline and CR are kept).

    >>> strip_controls("湖南路\\x1b[31m街道\\x00")
    '湖南路街道'
    """
    return _CONTROLS.sub("", _ANSI.sub("", text))


def spreadsheet_text(value: Any) -> Any:
    """A cell value as written to a CSV or XLSX cell: text is made safe, anything else is kept.

    Control characters and escape sequences are removed and line ends become ``\\n``; text that a
    spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a line
    end) gets a leading
    apostrophe, unless it is just a number written as text (``"-5"``, which is not a formula).
    Numbers (also negative ones) are not text and stay numbers.

    >>> spreadsheet_text("=HYPERLINK(\\"http://x\\")"), spreadsheet_text("-5"), spreadsheet_text(-5)
    ('\\'=HYPERLINK("http://x")', '-5', -5)
    """
    if not isinstance(value, str):
        return value
    v = strip_controls(value).replace("\r\n", "\n").replace("\r", "\n")  # XLSX keeps no CR either
    if v.startswith(FORMULA_START) and not _NUMBER.fullmatch(v):
        return "'" + v
    return v


def terminal_text(text: Any) -> str:
    """``text`` safe to print on a terminal: no escape sequences, control characters (except
    newline and tab), carriage returns or bidirectional overrides.

    >>> terminal_text("名称\\x1b]0;pwned\\x07\\r\\x1b[2J")
    '名称'
    """
    return _TERMINAL_ONLY.sub("", strip_controls(str(text)))


def _temp_name(target: Path) -> Path:
    """A fresh hidden name in the target's folder, keeping the suffix (drivers look at it)."""
    return target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:10]}{target.suffix}")


def _remove(tmp: Path) -> None:
    """Remove a temporary file and any side files a driver left next to it (-journal, -wal …)."""
    with contextlib.suppress(OSError):
        for p in tmp.parent.iterdir():  # not glob: the name may hold [ ] * ?
            if p.name.startswith(tmp.name):
                p.unlink(missing_ok=True)


def _make_parents(targets: Sequence[Path]) -> list[Path]:
    """Create missing parent folders; return those created (outermost first)."""
    created: list[Path] = []
    for t in targets:
        folder = t.parent.absolute()
        for p in reversed([p for p in (folder, *folder.parents) if not os.path.exists(p)]):
            try:
                p.mkdir()
            except FileExistsError as exc:
                if p.is_dir():  # made meanwhile by another writer (districts in parallel): not ours to remove
                    continue
                _remove_dirs(created)
                raise output_error(t, exc) from exc
            except OSError as exc:
                _remove_dirs(created)
                raise output_error(t, exc) from exc
            created.append(p)
    return created


def _remove_dirs(created: Sequence[Path]) -> None:
    for p in reversed(created):
        with contextlib.suppress(OSError):
            p.rmdir()


def _umask() -> int:
    """The process umask (read without changing it where the system allows)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


# ------------------------------------------------------------------------------- safe targets

#: input paths the current context must not write to or into (see :func:`protect_inputs`)
_INPUTS: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("tuoyu_geo_inputs", default=None)
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
          (stat.S_ISSOCK, "a socket"))


@contextlib.contextmanager
def protect_inputs(paths: Sequence[str | Path | None] = ()) -> Iterator[Callable[..., None]]:
    """Refuse, inside the ``with`` block, every write to an input file or into an input folder.

    Parameters
    ----------
    paths : sequence of path
        Input files and folders (``None`` entries are ignored).  Folders protect everything in
        them, also sub-folders.

    Yields
    ------
    callable
        ``add(paths)``: protect more inputs (e.g. the layer files once ``area.toml`` was read);
        the same as :func:`add_inputs`.

    Examples
    --------
    >>> with protect_inputs(["data/my-area"]):                              # doctest: +SKIP
    ...     write_table(df, "data/my-area/out.csv")      # OutputError: inside the input folder
    """
    token = _INPUTS.set(list(_INPUTS.get() or []))
    try:
        add_inputs(paths)
        yield add_inputs
    finally:
        _INPUTS.reset(token)


def add_inputs(paths: Any) -> None:
    """Protect more inputs in the current :func:`protect_inputs` block (no-op outside one)."""
    inputs = _INPUTS.get()
    if inputs is None:
        return
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        if p is not None and str(p):
            inputs.append(Path(p).absolute().resolve())


def _refuse_inputs(t: Path) -> None:
    inputs = _INPUTS.get()
    if not inputs:
        return
    real = t.absolute().resolve()
    for p in inputs:
        if p.is_dir():
            if real == p or p in real.parents:
                where = "it is the input folder" if real == p else f"it is in the input folder {p}"
                raise output_error(t, f"{where}; tuoyu-geo never writes into its inputs",
                                   fix="write the outputs to another folder, e.g. --out ./outputs")
        elif real == p or (os.path.exists(p) and os.path.exists(t) and os.path.samefile(p, t)):
            raise output_error(t, "it is an input file; tuoyu-geo never overwrites its inputs",
                               fix="choose another output file or folder, e.g. --out ./outputs")


def check_target(path: str | Path) -> None:
    """Refuse an output target: a symbolic link, a folder, a FIFO/device/socket, an input
    protected by :func:`protect_inputs`, or a path whose folder is not a folder.

    Raises
    ------
    OutputError
        Naming the path, what it is and the fix.
    """
    _check_target(Path(path))


def _check_target(t: Path) -> None:
    try:
        st = os.lstat(t)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:  # e.g. a name too long
        raise output_error(t, exc) from exc
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise output_error(t, "it is a symbolic link; tuoyu-geo replaces only regular files",
                               fix="remove the link or choose another output name")
        if stat.S_ISDIR(st.st_mode):
            raise output_error(t, "a folder of that name exists", fix="give a file name, not a folder")
        for test, kind in _KINDS:
            if test(st.st_mode):
                raise output_error(t, f"it is {kind}, not a regular file; tuoyu-geo never replaces it",
                                   fix="give a file in an output folder, e.g. --out ./outputs")
    folder = t.parent.absolute()
    existing = next((p for p in (folder, *folder.parents) if os.path.exists(p)), None)
    if existing is not None and not os.path.isdir(existing):
        raise output_error(t, f"{existing} is not a folder",
                           fix="give an output folder (an existing folder, or a new name), e.g. --out ./outputs")
    _refuse_inputs(t)


# ------------------------------------------------------------------------------------ atomicity

@dataclass
class _Txn:
    done: list[tuple[Path, Path | None]]  # (target, its set-aside old file or None)
    created: list[Path]


_TXN: contextvars.ContextVar[_Txn | None] = contextvars.ContextVar("tuoyu_geo_txn", default=None)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Make every write inside the ``with`` block one all-or-nothing write.

    Each :func:`atomic_paths` write inside the block moves its files into place as usual (so they
    can be read back), but keeps the files they replaced; if the block fails, every file written
    in it is taken back (old content restored, new files and folders removed).  Nested
    transactions are part of the outermost one.

    Examples
    --------
    >>> with transaction():                                              # doctest: +SKIP
    ...     export_plan(a, "out")
    ...     save_plan(a.plan, "out/plan.json", area=a.area)   # fails → the export is taken back too
    """
    if _TXN.get() is not None:
        yield
        return
    txn = _Txn([], [])
    token = _TXN.set(txn)
    try:
        yield
    except BaseException:
        _undo(txn.done)
        _remove_dirs(txn.created)
        raise
    else:
        _drop_backups(txn.done)
    finally:
        _TXN.reset(token)


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """Write several files all-or-nothing.

    Yields one temporary path per target (not yet created), each in its target's folder and with
    its suffix.  When the ``with`` block ends without error every target that already exists is
    set aside, every temporary file is given the user's file mode (``0o666 & ~umask``) and moved
    onto its target, and the set-aside files are deleted (at the end of the :func:`transaction`,
    if one is open).  If the block, or any move, fails: temporary files are removed, targets
    already moved are restored to their old content (or removed if they did not exist), folders
    created by this call are removed, and the error is raised — write failures as
    :class:`OutputError`.

    Parameters
    ----------
    paths : sequence of str or Path
        Final file paths (distinct).

    Yields
    ------
    list of Path
        Temporary paths to write to, in the order of ``paths``.

    Raises
    ------
    OutputError
        A folder cannot be created, a file cannot be written or moved (OSError or a GDAL error),
        nothing was written to a temporary path, a target is an existing folder, a symbolic link,
        a FIFO, a device or a socket, or is (in) an input protected by :func:`protect_inputs`.
    """
    targets = [Path(p) for p in paths]
    for t in targets:
        _check_target(t)
    created = _make_parents(targets)
    temps = [_temp_name(t) for t in targets]
    try:
        yield temps
        for tmp, t in zip(temps, targets, strict=True):
            if not tmp.exists():
                raise output_error(t, "nothing was written")
        done = _move_all(temps, targets)
    except BaseException as exc:
        for tmp in temps:
            _remove(tmp)
        _remove_dirs(created)
        if isinstance(exc, OutputError) or not _is_write_error(exc):
            raise
        where = targets[0] if len(targets) == 1 else \
            f"{targets[0].parent} ({', '.join(t.name for t in targets)})"
        raise output_error(where, exc) from exc
    txn = _TXN.get()
    if txn is None:
        _drop_backups(done)
    else:
        txn.done.extend(done)
        txn.created.extend(created)


def _move_all(temps: Sequence[Path], targets: Sequence[Path]) -> list[tuple[Path, Path | None]]:
    """Move temps onto targets (with the user's file mode); on failure restore every target moved
    so far, then re-raise.  Returns (target, set-aside old file or None) per target."""
    done: list[tuple[Path, Path | None]] = []
    mode = 0o666 & ~_umask()
    try:
        for tmp, t in zip(temps, targets, strict=True):
            with contextlib.suppress(OSError):  # e.g. a file system without modes
                os.chmod(tmp, mode)
            backup = None
            if t.exists():
                backup = t.with_name(f".{t.name}.old-{uuid.uuid4().hex[:10]}")
                os.replace(t, backup)
            done.append((t, backup))
            os.replace(tmp, t)
    except BaseException:
        _undo(done)
        raise
    return done


def _undo(done: Sequence[tuple[Path, Path | None]]) -> None:
    for t, backup in reversed(done):
        with contextlib.suppress(OSError):
            if backup is not None and backup.exists():
                os.replace(backup, t)
            elif backup is None:
                t.unlink(missing_ok=True)


def _drop_backups(done: Sequence[tuple[Path, Path | None]]) -> None:
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Write one file atomically.

    Yields a temporary path (not yet created) in the same folder with the same suffix; when the
    block finishes without error it replaces ``path`` in one :func:`os.replace`.  On any error the
    temporary file is removed and ``path`` is untouched.  See :func:`atomic_paths`.

    Raises
    ------
    OutputError
        The folder cannot be created or the file cannot be written (names the path and the fix).

    Examples
    --------
    >>> with atomic_write("out/table.csv") as tmp:          # doctest: +SKIP
    ...     df.to_csv(tmp)
    """
    with atomic_paths([path]) as (tmp,):
        yield tmp


# ------------------------------------------------------------------------- one run per folder

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: O_EXCL lock files with a process id
    _fcntl = None  # type: ignore[assignment]

_HELD: dict[str, list[Any]] = {}  # real folder path → [depth, fd]
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def output_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the output folder for one run: a concurrent run gets an :class:`OutputError`.

    Creates the folder if needed and a lock file ``.tuoyu-geo.lock`` in it (holding the process
    id; locked with ``flock`` where available, else created with ``O_EXCL``), removed again at the
    end (the folder too, if this call created it and it is still empty).  A lock file left by a
    process that no longer runs is taken over.  Re-entrant within one process.

    Raises
    ------
    OutputError
        Another run holds the folder, or the folder or lock file cannot be created.
    """
    folder = Path(folder)
    if os.path.lexists(folder) and not os.path.isdir(folder):  # (os.path: no error for a name too long)
        raise output_error(folder, "it exists and is not a folder",
                           fix="give an output folder (an existing folder, or a new name), e.g. --out ./outputs")
    _refuse_inputs(folder)
    lock = folder / LOCK_NAME
    _check_target(lock)
    created = _make_parents([lock])
    key = os.path.realpath(folder)
    with _HELD_LOCK:
        if key in _HELD:
            _HELD[key][0] += 1
        else:
            try:
                _HELD[key] = [1, _acquire(lock, folder)]
            except BaseException:
                _remove_dirs(created)
                raise
    try:
        yield folder
    finally:
        with _HELD_LOCK:
            held = _HELD[key]
            held[0] -= 1
            if held[0] == 0:
                del _HELD[key]
                with contextlib.suppress(OSError):
                    lock.unlink()  # before closing: a waiting run then sees a new file, not this one
                with contextlib.suppress(OSError):
                    os.close(held[1])
        _remove_dirs(created)


def _busy(folder: Path, owner: str) -> OutputError:
    who = f" (process {owner})" if owner else ""
    return OutputError(f"another tuoyu-geo run{who} is writing to {folder}", path=str(folder),
                       fix=f"wait for it to finish, or write to another folder with --out; if no run "
                           f"is going on, delete {folder / LOCK_NAME}")


def _owner(lock: Path) -> str:
    """'pid@host' written in a lock file ('' when unreadable)."""
    try:
        return lock.read_text(encoding="ascii", errors="replace").strip()[:100]
    except OSError:
        return ""


def _stale(owner: str) -> bool:
    """True when the lock's process ran on this host and no longer runs."""
    pid, _, host = owner.partition("@")
    if not pid.isdigit() or host != socket.gethostname() or os.name == "nt":
        return False  # unknown, another machine, or no cheap check: assume it still runs
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _acquire(lock: Path, folder: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    if _fcntl is None:
        flags |= os.O_EXCL
    for _ in range(20):
        try:
            fd = os.open(lock, flags, 0o666)
        except FileExistsError:  # O_EXCL lock files: take over a stale one
            owner = _owner(lock)
            if _stale(owner):
                log.info("taking over the lock of %s, which no longer runs", owner)
                lock.unlink(missing_ok=True)
                continue
            raise _busy(folder, owner) from None
        except OSError as exc:
            raise output_error(lock, exc) from exc
        if _fcntl is not None:
            try:
                _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            except OSError as exc:
                owner = _owner(lock)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise _busy(folder, owner) from None
                log.warning("cannot lock %s (%s); not guarding against a concurrent run", lock, exc)
                return fd
            try:  # the file may have been removed by the run that just finished: lock the new one
                same = os.path.samestat(os.fstat(fd), os.lstat(lock))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            if _owner(lock):
                log.info("taking over the lock of %s, which no longer runs", _owner(lock))
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode())
        except OSError as exc:
            os.close(fd)
            lock.unlink(missing_ok=True)
            raise output_error(lock, exc) from exc
        return fd
    raise _busy(folder, _owner(lock))


def sha256_file(path: str | Path) -> str | None:
    """Hex SHA-256 of a file, or None when it does not exist."""
    import hashlib

    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON types (dataclasses, mappings, numpy, enums, paths; NaN → None)."""
    if isinstance(v, enum.Enum):
        return jsonable(v.value)
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: jsonable(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, Mapping):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset, pd.Index, np.ndarray, pd.Series)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if v is None or isinstance(v, (str, int)):
        return v
    if isinstance(v, (_dt.date, _dt.datetime, pd.Timestamp)):
        return v.isoformat()
    return str(v)


# ------------------------------------------------------------------------------------- XLSX

def _cell_value(v: Any) -> Any:
    """A pandas/numpy value as openpyxl writes it: bool → 是/否, NaN/None → empty cell."""
    if isinstance(v, enum.Enum):
        v = v.value
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return YES if v else NO
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, str):
        return spreadsheet_text(v)
    if isinstance(v, (int, _dt.date, _dt.datetime)):
        return v
    return spreadsheet_text(str(v))


def _per_sheet(option: Mapping[str, Any] | None, sheet: str) -> dict[str, Any]:
    """Option given as ``{column: value}`` (every sheet) or ``{sheet: {column: value}}``."""
    out: dict[str, Any] = {}
    for k, v in (option or {}).items():
        if isinstance(v, Mapping):
            if k == sheet:
                out.update(v)
        else:
            out[k] = v
    return out


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A frame without geometry columns (and not a GeoDataFrame)."""
    geom = [c for c in df.columns if str(getattr(df[c], "dtype", "")) == "geometry"]
    return pd.DataFrame(df.drop(columns=geom))


#: column widths are measured on at most this many values of a column: the longest ones
_WIDTH_SAMPLE = 200


def _column_width(header: str, values: pd.Series, cells: list[Any] | None = None) -> float:
    """Column width from the display width of the header and of the values (``cells``: the
    values as written; of a long column, the :data:`_WIDTH_SAMPLE` longest as text)."""
    head = display_width(header)
    head = head // 2 + 1 if head > 16 else head  # long headers wrap onto two lines
    w = head
    if len(values):
        if pd.api.types.is_float_dtype(values):
            top = values.fillna(0).abs().max()
            w = max(w, display_width(f"{-top if (values < 0).any() else top:,.2f}"))
        else:
            cells = [_cell_value(v) for v in values.tolist()] if cells is None else cells
            if len(cells) > _WIDTH_SAMPLE:
                cells = sorted(cells, key=lambda v: len(str(v)) if v is not None else 0)[-_WIDTH_SAMPLE:]
            w = max(w, max(display_width(v) for v in cells))
    return min(_MAX_COL_WIDTH, max(6, w) + 2)


def _column_cells(values: pd.Series) -> list[Any]:
    """The cells of one column as :func:`_cell_value` makes them, a whole column at a time for
    plain numpy booleans, integers and floats (a city's site sheet has ~60,000 cells)."""
    dt = values.dtype
    if isinstance(dt, np.dtype) and dt.kind == "b":
        return np.where(values.to_numpy(), YES, NO).tolist()
    if isinstance(dt, np.dtype) and dt.kind in "iu":
        return values.tolist()
    if isinstance(dt, np.dtype) and dt.kind == "f":
        a = values.to_numpy()
        out = a.astype(object)
        out[~np.isfinite(a)] = None
        return out.tolist()
    return [_cell_value(v) for v in values.tolist()]


def _fill_sheet(ws: Any, df: pd.DataFrame, fmts: Mapping[str, str], notes: Mapping[str, Any]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    cols = [str(c) for c in df.columns]
    ws.append([spreadsheet_text(c) for c in cols])
    cells = [_column_cells(df.iloc[:, j]) for j in range(len(cols))]
    for row in zip(*cells, strict=True):
        ws.append(row)
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    head_align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font, cell.fill, cell.alignment = head_font, head_fill, head_align
        if notes.get(col):
            cell.comment = Comment(str(notes[col]), "tuoyu_geo", width=320, height=160)
        if fmts.get(col):
            for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                c.number_format = fmts[col]
        ws.column_dimensions[get_column_letter(j)].width = _column_width(col, df.iloc[:, j - 1], cells[j - 1])
    ws.row_dimensions[1].height = 32
    ws.freeze_panes = "A2"
    if cols and len(df):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(df) + 1}"


def _workbook(sheets: Mapping[str, pd.DataFrame], number_formats: Mapping[str, Any] | None,
              notes: Mapping[str, Any] | None) -> Any:
    from openpyxl import Workbook

    for n in sheets:
        if not n or len(n) > _MAX_SHEET_NAME or any(c in n for c in "[]:*?/\\"):
            raise ValueError(f"invalid sheet name {n!r}: 1–31 characters, none of []:*?/\\")
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        _fill_sheet(wb.create_sheet(title=name), _plain(df), _per_sheet(number_formats, name),
                    _per_sheet(notes, name))
    if not sheets:
        wb.create_sheet(title="Sheet1")
    return wb


def _save_xlsx(obj: Mapping[str, pd.DataFrame] | pd.DataFrame, path: Path, *, sheet: str | None = None,
               number_formats: Mapping[str, Any] | None = None,
               notes: Mapping[str, Any] | None = None) -> None:
    sheets = {sheet or "Sheet1": obj} if isinstance(obj, pd.DataFrame) else obj
    _workbook(sheets, number_formats, notes).save(path)


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame], *,
               number_formats: Mapping[str, Any] | None = None,
               notes: Mapping[str, Any] | None = None) -> Path:
    """Write data frames as formatted sheets of one XLSX workbook, atomically.

    Each sheet gets a bold, filled, wrapped header row (the frame's column names), the header row
    frozen, an auto-filter and column widths fitted to the content (CJK characters count double).
    Booleans are written as 是/否; NaN/None as empty cells; text is made safe with
    :func:`spreadsheet_text` (no formulas, no control characters).
    The index and geometry columns are not written.

    Parameters
    ----------
    path : str or Path
        Target ``.xlsx`` file (written atomically).
    sheets : mapping of str to DataFrame
        Sheet name (≤ 31 characters, none of ``[]:*?/\\``) → data, in workbook order.
    number_formats : mapping, optional
        Excel number format per column header, for every sheet (``{"普惠托位占比": "0.0%"}``) or
        per sheet (``{"街道指标": {"托位数": "#,##0"}}``).
    notes : mapping, optional
        Comment text per column header (hover in Excel/WPS), same two forms.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The file cannot be written (folder missing/not writable, file open in Excel, disk full).
    ValueError
        An invalid sheet name.
    """
    wb = _workbook(sheets, number_formats, notes)
    with atomic_write(path) as tmp:
        wb.save(tmp)
    return Path(path)


# ------------------------------------------------------------------------------ other formats

def _csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Every text cell (and header) made safe with :func:`spreadsheet_text`; numbers untouched."""
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if (pd.api.types.is_object_dtype(dt) or pd.api.types.is_string_dtype(dt)
                or isinstance(dt, pd.CategoricalDtype)):
            out[c] = out[c].astype(object).map(spreadsheet_text)
    out.columns = [spreadsheet_text(c) for c in out.columns]
    if out.index.dtype == object:
        out.index = out.index.map(spreadsheet_text)
    return out


def _save_csv(df: pd.DataFrame, path: Path, *, index: bool = False) -> None:
    """UTF-8 with BOM (Excel/WPS detect the encoding), no geometry, formulas neutralised."""
    _csv_safe(_plain(df)).to_csv(path, index=index, encoding="utf-8-sig")


def clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Plain column types GDAL takes: categorical/object → str (None kept), nullable numbers → float."""
    out = df.copy()
    geom = getattr(out, "_geometry_column_name", None)
    for c in out.columns:
        s = out[c]
        if c == geom or str(s.dtype) == "geometry":
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(str)
        elif pd.api.types.is_bool_dtype(s.dtype) and pd.api.types.is_extension_array_dtype(s.dtype):
            out[c] = s.astype(object)
        elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            out[c] = s.astype(object).map(_text_or_none)
        elif pd.api.types.is_extension_array_dtype(s.dtype) and pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype(float)
    return out


def _text_or_none(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, enum.Enum):
        v = v.value
    return v if isinstance(v, (str, bool, np.bool_)) else str(v)


def _save_gpkg(obj: Any, path: Path, *, layer: str | None = None) -> None:
    """One layer (a GeoDataFrame) or several (mapping/sequence of (layer name, GeoDataFrame))."""
    import pyogrio

    layers = [(layer or "layer", obj)] if hasattr(obj, "geometry") else list(dict(obj).items())
    for name, gdf in layers:
        g = clean_frame(gdf.reset_index(drop=True))
        if g.crs is None:
            raise ValueError(f"layer {name!r} has no CRS; fix: set_crs('EPSG:4326') before writing")
        pyogrio.write_dataframe(g, path, layer=name, driver="GPKG")


def _save_geojson(gdf: Any, path: Path) -> None:
    g = gdf.to_crs("EPSG:4326") if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") else gdf
    path.write_text(clean_frame(g).to_json(na="null", drop_id=True, ensure_ascii=False), encoding="utf-8")


def _save_json(obj: Any, path: Path, *, indent: int | None = 2) -> None:
    data = obj.to_dict(orient="records") if isinstance(obj, pd.DataFrame) else obj
    path.write_text(json.dumps(jsonable(data), ensure_ascii=False, indent=indent), encoding="utf-8")


def _save_html(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")


def _save_png(obj: Any, path: Path, *, dpi: int = 150) -> None:
    """A matplotlib figure (saved as PNG) or PNG bytes."""
    if isinstance(obj, (bytes, bytearray)):
        path.write_bytes(bytes(obj))
    else:
        obj.savefig(path, dpi=dpi, format="png")


@dataclass(frozen=True)
class Format:
    """One output format: name, file suffixes, whether it holds a table, and its writer.

    ``write(obj, path, **options)`` writes ``obj`` to ``path`` (not atomic by itself: call it on a
    temporary path from :func:`atomic_write`/:func:`atomic_paths`, or use :func:`write_file`).
    """

    name: str
    suffixes: tuple[str, ...]
    table: bool
    write: Callable[..., None]
    description: str


#: the format registry: name → :class:`Format`
FORMATS: Mapping[str, Format] = MappingProxyType({f.name: f for f in (
    Format("csv", (".csv",), True, _save_csv, "UTF-8 with BOM, no geometry, formulas neutralised"),
    Format("xlsx", (".xlsx",), True, _save_xlsx, "formatted workbook (write_xlsx); bool → 是/否"),
    Format("gpkg", (".gpkg",), True, _save_gpkg, "GeoPackage, one or more layers"),
    Format("geojson", (".geojson",), True, _save_geojson, "GeoJSON FeatureCollection, EPSG:4326"),
    Format("json", (".json",), True, _save_json, "JSON (data frames as a list of records)"),
    Format("html", (".html", ".htm"), False, _save_html, "HTML text"),
    Format("png", (".png",), False, _save_png, "PNG image (matplotlib figure or bytes)"),
)})


def format_of(path: str | Path, fmt: str | None = None) -> Format:
    """The :class:`Format` named ``fmt``, or the one of the suffix of ``path``.

    Raises
    ------
    ValueError
        Unknown format or suffix.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return FORMATS[fmt]
    suffix = Path(path).suffix.lower()
    for f in FORMATS.values():
        if suffix in f.suffixes:
            return f
    raise ValueError(f"cannot tell the format of {path} from its suffix {suffix!r}; "
                     f"use one of {', '.join(s for f in FORMATS.values() for s in f.suffixes)}")


def write_file(obj: Any, path: str | Path, *, fmt: str | None = None, **options: Any) -> Path:
    """Write ``obj`` atomically in ``fmt`` (default: from the suffix of ``path``).

    ``options`` go to the format's writer (``sheet``/``number_formats``/``notes`` for xlsx,
    ``layer`` for gpkg, ``dpi`` for png, ``index`` for csv).

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        The file cannot be written; the old file (if any) is untouched.
    """
    f = format_of(path, fmt)
    if f.name == "gpkg" and hasattr(obj, "geometry"):
        options.setdefault("layer", Path(path).stem)  # one frame: the layer is named after the file
    with atomic_write(path) as tmp:
        f.write(obj, tmp, **options)
    log.debug("wrote %s (%s)", path, f.name)
    return Path(path)


def write_table(df: pd.DataFrame, path: str | Path, *, fmt: str | None = None, **options: Any) -> Path:
    """Write a table atomically as csv, xlsx, gpkg, geojson or json (default: from the suffix).

    Parameters
    ----------
    df : DataFrame or GeoDataFrame
        The table (gpkg/geojson need a GeoDataFrame with a CRS).
    path : str or Path
    fmt : {"csv", "xlsx", "gpkg", "geojson", "json"}, optional
    **options
        ``sheet``, ``number_formats``, ``notes`` (xlsx); ``layer`` (gpkg); ``index`` (csv).

    Returns
    -------
    Path
    """
    f = format_of(path, fmt)
    if not f.table:
        raise ValueError(f"{f.name} is not a table format; use one of "
                         f"{', '.join(n for n, x in FORMATS.items() if x.table)}")
    return write_file(df, path, fmt=f.name, **options)
