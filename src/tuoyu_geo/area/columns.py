"""Typed columns of the layers: THE one place where a cell becomes a count, an amount of money, a
year or a yes/no value.

Every typed column of :data:`COLUMN_TYPES` is parsed by :func:`check_typed` before any work starts;
each kind of damage (text in a number, a blank where a value is needed, infinity, a value too large
to be real, a date instead of a year, an unknown yes/no word) becomes one
:class:`~tuoyu_geo.Problem` naming the file, the column, the bad values, the row ids and the fix.
Nothing is silently replaced: a blank cell is either documented as meaning something
(:attr:`ColumnType.blank`) or an error.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._errors import Problem

__all__ = ["BOOL_FALSE", "BOOL_TRUE", "COLUMN_TYPES", "INSTITUTION_CLOSED", "INSTITUTION_OPEN",
           "MAX_SITE_PLACES", "REQUIRED", "ColumnType", "bool_word", "check_typed", "is_blank"]

#: marks a column whose blank cells are an error
REQUIRED = "required"

#: yes/no words (compared lower-cased, stripped); a blank cell takes the column's default
BOOL_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0", "是", "有", "对", "√", "✓", "✔", "☑", "on"})
BOOL_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0", "否", "无", "没有", "不是", "非", "×", "✗", "✘", "☐",
                        "off"})

#: institution ``status`` words (lower-cased, stripped): operating ones count, closed ones are
#: excluded from the places (with a logged warning); a blank status means operating; any other
#: word is an error.  规划 is the status of the sites a plan adds.
INSTITUTION_OPEN = frozenset({"运营", "营业", "在营", "正常", "开业", "正常运营", "试运营", "存续", "在业", "开办",
                              "规划", "open", "active", "operating"})
#: closed, or not yet operating (筹建/在建/拟建: no places today)
INSTITUTION_CLOSED = frozenset({"停业", "歇业", "已停业", "注销", "已注销", "关闭", "已关闭", "关停", "停办", "吊销",
                                "已吊销", "撤销", "已撤销", "筹建", "在建", "拟建", "closed", "inactive",
                                "deregistered"})

#: the largest number of places one candidate site may be given (``max_places``/``min_places``):
#: the plan enumerates whole-class sizes up to it, and no single 托育 site is larger
MAX_SITE_PLACES = 2000

_EMPTY = frozenset({"", "nan", "none", "null", "na", "n/a", "nat"})
_DATE_TEXT = re.compile(r"^\s*\d{4}\s*([-/年]\s*\d{1,2}|\.\d{1,2}\.\d{1,2})")


@dataclass(frozen=True)
class ColumnType:
    """How one column is parsed.

    Parameters
    ----------
    kind : str
        ``count`` (finite number ≥ 0 and ≤ ``upper``), ``money`` (万元, the same), ``year``
        (a whole number between 1900 and 2100) or ``bool`` (a yes/no word of
        :data:`BOOL_TRUE`/:data:`BOOL_FALSE`, or a number 1/0).
    blank : Any
        What a blank cell means: :data:`REQUIRED` (an error), None (unknown: NaN, or None for
        bools, filled later), or a value.
    upper : float
        Largest plausible value (counts and money).
    unit : str
        Unit named in messages.
    extra_true, extra_false : tuple of str
        More yes/no words for this column (e.g. 普惠/非普惠 for ``puhui``).
    """

    kind: str
    blank: Any = None
    upper: float = math.inf
    unit: str = ""
    extra_true: tuple[str, ...] = ()
    extra_false: tuple[str, ...] = ()


_POP = ColumnType("count", REQUIRED, 1e8, "persons (人, not 万人)")
_INFANTS = ColumnType("count", None, 1e7, "persons aged 0–3")
_MONEY = ColumnType("money", REQUIRED, 1e8, "万元")

#: layer → column → type.  Blank meanings: infants → estimated (births or population share),
#: households/built_year → unknown, min_places → 0, available_year → the profile's target year − 1,
#: puhui → from the category, other yes/no columns → no.  A blank population, places, max_places,
#: fixed_cost or cost_per_place is an error (a blank cost is not a free site).
COLUMN_TYPES: dict[str, dict[str, ColumnType]] = {
    "streets": {"population": _POP, "infants": _INFANTS, "is_town": ColumnType("bool", False)},
    "communities": {"population": _POP, "infants": _INFANTS,
                    "households": ColumnType("count", None, 5e7, "households (户)"),
                    "built_year": ColumnType("year", None), "is_new": ColumnType("bool", False)},
    "institutions": {"places": ColumnType("count", REQUIRED, 1e5, "places (托位)"),
                     "puhui": ColumnType("bool", None, extra_true=("普惠", "普惠性"), extra_false=("非普惠",)),
                     "is_demonstration": ColumnType("bool", False, extra_true=("示范",), extra_false=("非示范",))},
    "candidates": {"max_places": ColumnType("count", REQUIRED, MAX_SITE_PLACES, "places (托位) per site"),
                   "min_places": ColumnType("count", 0.0, MAX_SITE_PLACES, "places (托位) per site"),
                   "fixed_cost": _MONEY, "cost_per_place": _MONEY,
                   "available_year": ColumnType("year", None)},
}

_YEARS = (1900, 2100)


def is_blank(v: Any) -> bool:
    """True for None, NaN, NaT, pd.NA and blank/“nan”/“None”/“null” text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in _EMPTY


def _is_date(v: Any) -> bool:
    return isinstance(v, (_dt.date, np.datetime64, pd.Timestamp)) or (
        isinstance(v, str) and _DATE_TEXT.match(v) is not None)


def _number(v: Any) -> float | None:
    """A number cell as float; None for text, dates and bools."""
    if isinstance(v, (bool, np.bool_)) or _is_date(v):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    s = unicodedata.normalize("NFKC", str(v)).strip()  # full-width digits (３５) and spaces too
    if not re.fullmatch(r"[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|inf(inity)?)", s, flags=re.IGNORECASE):
        return None
    return float(s)


def bool_word(v: Any, ctype: ColumnType = ColumnType("bool")) -> bool | None:
    """A yes/no cell as bool; None for a blank cell; raises KeyError for an unknown word."""
    if is_blank(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
        return float(v) == 1.0
    w = unicodedata.normalize("NFKC", str(v)).strip().lower()
    if w in BOOL_TRUE or w in ctype.extra_true:
        return True
    if w in BOOL_FALSE or w in ctype.extra_false:
        return False
    raise KeyError(w)


def _values(raw: pd.Series, mask: np.ndarray) -> str:
    vals = list(dict.fromkeys(str(v).strip() or "<blank>" for v in raw[mask]))
    return ", ".join(repr(v) for v in vals[:6]) + (" …" if len(vals) > 6 else "")


def _parse_bool(col: str, ct: ColumnType, raw: pd.Series, ids: pd.Series, fname: str,
                problems: list[Problem]) -> pd.Series:
    out, bad = [], []
    for v in raw:
        try:
            b = bool_word(v, ct)
        except KeyError:
            b, bad = None, [*bad, True]
        else:
            bad.append(False)
        out.append(ct.blank if b is None else b)
    m = np.asarray(bad, dtype=bool)
    if m.any():
        words = "是/否, true/false, Y/N, 1/0, √/×, 有/无" + "".join(f", {w}" for w in ct.extra_true + ct.extra_false)
        problems.append(Problem(fname, f"{col} is not a yes/no value ({_values(raw, m)})", tuple(ids[m]),
                                f"write {col} as true/false or 是/否 (accepted: {words}; blank = "
                                f"{'from the category' if ct.blank is None else ('是' if ct.blank else '否')})"))
    return pd.Series(out, index=raw.index, dtype=object)


def _parse_number(col: str, ct: ColumnType, raw: pd.Series, ids: pd.Series, fname: str,
                  problems: list[Problem]) -> pd.Series:
    cells = raw.tolist()
    blank = np.array([is_blank(v) for v in cells], dtype=bool)
    date = np.array([not b and _is_date(v) for v, b in zip(cells, blank, strict=True)], dtype=bool)
    nums = [None if b else _number(v) for v, b in zip(cells, blank, strict=True)]
    text = ~blank & np.array([n is None for n in nums], dtype=bool)
    num = np.array([np.nan if n is None else n for n in nums], dtype=float)

    def add(mask: np.ndarray, msg: str, fix: str) -> None:
        if mask.any():
            problems.append(Problem(fname, msg, tuple(ids[mask]), fix))

    unit = f" in {ct.unit}" if ct.unit else ""
    if ct.kind == "year":
        add(date, f"{col} is a date, not a year ({_values(raw, date)})",
            f"write {col} as the four-digit year only, e.g. 2030 (in Excel format the cells as 常规/数字, not 日期 — "
            "a year typed into a date cell becomes a date in 1905)")
        text &= ~date
        add(text, f"{col} is not a year ({_values(raw, text)})",
            f"write {col} as a four-digit number, e.g. 2030 (no 年, no text)")
        fin = np.isfinite(num)
        bad = ~np.isnan(num) & (~fin | (num < _YEARS[0]) | (num > _YEARS[1]) | (np.mod(np.where(fin, num, 0), 1) != 0))
        add(bad, f"{col} is not a year between {_YEARS[0]} and {_YEARS[1]} ({_values(raw, bad)})",
            f"write {col} as a four-digit whole year, e.g. 2030")
        num[text | date | bad] = np.nan
    else:
        what = "an amount of money" if ct.kind == "money" else "a number"
        text |= date
        add(text, f"{col} is not a number ({_values(raw, text)})",
            f"write {col} as {what}{unit} (no units, text or thousands separators)")
        if ct.blank == REQUIRED:
            add(blank, f"{col} is missing (empty or NaN)",
                f"fill {col}{unit}; use 0 only if it really is 0 — a blank is not read as 0"
                if ct.kind == "money" else f"fill {col}; use 0 if there really is none")
        neg = (num < 0) | np.isinf(num)
        add(neg, f"{col} is negative or infinite ({_values(raw, neg)})", f"{col} must be a finite number ≥ 0")
        big = np.isfinite(num) & (num > ct.upper)
        add(big, f"{col} is implausibly large (above {ct.upper:,.0f}{unit}: {_values(raw, big)})",
            f"check the value and its unit; {col} must be at most {ct.upper:,.0f}"
            + (" (split a larger site into several candidates)" if col.endswith("min_places")
               or col.endswith("max_places") else ""))
    if ct.blank is not None and ct.blank != REQUIRED:
        num[blank] = float(ct.blank)
    return pd.Series(num, index=raw.index, dtype=float)


def check_typed(gdf: pd.DataFrame, layer: str, fname: str, ids: pd.Series, problems: list[Problem]) -> None:
    """Parse every typed column of ``layer`` present in ``gdf`` in place (see :data:`COLUMN_TYPES`).

    Counts, money and years become floats (NaN where blank and unknown), yes/no columns objects
    holding True/False (None where blank and the default is decided later).  Every damaged cell is
    reported in ``problems`` with the row ids.
    """
    for col, ct in COLUMN_TYPES[layer].items():
        if col not in gdf.columns:
            continue
        raw = gdf[col].astype(object)
        if ct.kind == "bool":
            gdf[col] = _parse_bool(col, ct, raw, ids, fname, problems)
        else:
            gdf[col] = _parse_number(col, ct, raw, ids, fname, problems)
