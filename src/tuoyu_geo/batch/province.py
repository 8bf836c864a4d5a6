"""A province folder: study-area folders (one per district) and an optional ``province.toml``.

::

    name = "河北省"                     # optional (default: the folder name)
    policy = "hebei-2027"               # optional: every district assessed under it (default: each area.toml's)
    budget_wan = 50000                  # optional: the province budget to split (万元)
    budget_steps_wan = [0, 200, 500]    # optional: frontier budget steps (万元; default DEFAULT_STEPS_WAN)
    districts = ["石家庄市长安区", "..."]  # optional: district folders (default: every sub-folder with area.toml)

    [required_sites]                    # optional: sites every plan of a district must open
    "石家庄市长安区" = ["K001", "K007"]

Checked before any work: the file parses, the keys are known, every listed folder exists and holds
an ``area.toml``, no district is named twice (folder list, or the ``name`` in two area.toml files).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from .._errors import DataError, Problem
from ..policy import read_toml_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULT_STEPS_WAN", "PROVINCE_KEYS", "District", "Province", "read_province"]

#: frontier budget steps (万元) when province.toml gives none
DEFAULT_STEPS_WAN = (0.0, 100.0, 200.0, 400.0, 800.0)
#: at most this many frontier budget steps (each one MILP per district)
MAX_STEPS = 50
PROVINCE_KEYS = frozenset({"name", "policy", "budget_wan", "budget_steps_wan", "districts", "required_sites"})


@dataclass(frozen=True)
class District:
    """One district of a province: its key (folder name), folder, area name and forced sites."""

    name: str
    folder: Path
    area_name: str
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Province:
    """The checked contents of a province folder."""

    name: str
    folder: Path
    districts: tuple[District, ...]
    policy: str | None = None
    budget_wan: float | None = None
    budget_steps_wan: tuple[float, ...] = DEFAULT_STEPS_WAN
    toml: Path | None = field(default=None)


def _area_name(folder: Path) -> str:
    """The ``name`` of a district's area.toml (folder name when absent or unreadable: load_area
    reports a broken area.toml later, for that district only)."""
    try:
        conf = tomllib.loads(read_toml_text(folder / "area.toml", error=DataError, label="area.toml"))
    except (DataError, OSError, tomllib.TOMLDecodeError):
        return folder.name
    name = conf.get("name")
    return name if isinstance(name, str) and name.strip() else folder.name


def budget_ok(v: Any) -> bool:
    """A budget (万元): a finite number (not a bool) from 0 to ``settings.MAX_BUDGET_WAN``."""
    return (not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
            and 0 <= v <= settings.MAX_BUDGET_WAN)


def _number(conf: Mapping[str, Any], key: str, problems: list[Problem]) -> float | None:
    v = conf.get(key)
    if v is None:
        return None
    if not budget_ok(v):
        problems.append(Problem("province.toml", f"{key} = {v!r} is not a number from 0 to "
                                f"{settings.MAX_BUDGET_WAN:g}", (key,),
                                f"write e.g. {key} = 5000 (万元)"))
        return None
    return float(v)


def steps_ok(v: Any) -> bool:
    """A non-empty list of budget steps, each a finite number from 0 to ``settings.MAX_BUDGET_WAN``,
    at most ``MAX_STEPS`` of them (one plan per district and step)."""
    return isinstance(v, list | tuple) and 0 < len(v) <= MAX_STEPS and all(map(budget_ok, v))


def _steps(conf: Mapping[str, Any], problems: list[Problem]) -> tuple[float, ...]:
    v = conf.get("budget_steps_wan", DEFAULT_STEPS_WAN)
    if not steps_ok(v):
        problems.append(Problem("province.toml", f"budget_steps_wan = {v!r} is not a list of at most {MAX_STEPS} "
                                f"numbers from 0 to {settings.MAX_BUDGET_WAN:g}",
                                ("budget_steps_wan",), "write e.g. budget_steps_wan = [0, 200, 500, 1000]"))
        return DEFAULT_STEPS_WAN
    return tuple(sorted({0.0, *(float(x) for x in v)}))


def _read_conf(folder: Path) -> tuple[dict[str, Any], Path | None]:
    toml = folder / "province.toml"
    if not toml.exists():
        return {}, None
    try:
        conf = tomllib.loads(read_toml_text(toml, error=DataError, label="province.toml"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"province.toml is not valid TOML: {exc}", file=str(toml), fix="fix the TOML syntax") from None
    unknown = sorted(set(conf) - PROVINCE_KEYS)
    if unknown:
        raise DataError(f"unknown key(s) in province.toml: {', '.join(unknown)}", file=str(toml),
                        fix=f"allowed keys: {', '.join(sorted(PROVINCE_KEYS))}")
    return conf, toml


def _folders(folder: Path, conf: Mapping[str, Any], problems: list[Problem]) -> list[tuple[str, Path]]:
    listed = conf.get("districts")
    if listed is None:
        return [(p.name, p) for p in sorted(folder.iterdir()) if p.is_dir() and (p / "area.toml").is_file()]
    if not isinstance(listed, list) or not all(isinstance(x, str) and x.strip() for x in listed):
        problems.append(Problem("province.toml", f"districts = {listed!r} is not a list of folder names",
                                ("districts",), 'write e.g. districts = ["长安区", "桥西区"]'))
        return []
    out = []
    for name in listed:
        p = folder / name
        if not (p / "area.toml").is_file():
            problems.append(Problem(str(p), f"district folder {name!r} has no area.toml (or does not exist)",
                                    (name,), "make it a study-area folder, or remove it from districts"))
        out.append((Path(name).name, p))
    return out


def _duplicates(items: list[tuple[str, Path]], names: list[str], problems: list[Problem]) -> None:
    seen: dict[str, Path] = {}
    for (key, p), _ in zip(items, names, strict=True):
        if key in seen:
            problems.append(Problem(str(p), f"district {key!r} is listed twice", (key,),
                                    "list every district folder once in province.toml"))
        seen.setdefault(key, p)
    by_name: dict[str, Path] = {}
    for (_, p), n in zip(items, names, strict=True):
        if n in by_name and by_name[n] != p:
            problems.append(Problem(str(p), f"district name {n!r} (area.toml) is also the name of {by_name[n]}",
                                    (n,), "give every district's area.toml a distinct name"))
        by_name.setdefault(n, p)


def read_province(folder: str | Path) -> Province:
    """Read and check a province folder (see the module docstring).

    Raises
    ------
    DataError
        Not a folder, a bad ``province.toml``, a missing district folder, a district named twice, or
        no district at all; every problem names the district folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"province folder not found: {folder}", file=str(folder),
                        fix="give a folder holding one study-area folder per district")
    conf, toml = _read_conf(folder)
    problems: list[Problem] = []
    budget = _number(conf, "budget_wan", problems)
    steps = _steps(conf, problems)
    policy = conf.get("policy")
    if policy is not None and not isinstance(policy, str):
        problems.append(Problem("province.toml", f"policy = {policy!r} is not a string", ("policy",),
                                'write e.g. policy = "hebei-2027"'))
        policy = None
    elif isinstance(policy, str) and policy.endswith(".toml") and not Path(policy).is_absolute():
        policy = str(folder / policy)
    items = _folders(folder, conf, problems)
    names = [_area_name(p) for _, p in items]
    _duplicates(items, names, problems)
    req = conf.get("required_sites", {})
    if not isinstance(req, Mapping) or not all(isinstance(v, list) for v in req.values()):
        problems.append(Problem("province.toml", "required_sites is not a table of site-id lists",
                                ("required_sites",), '[required_sites]\n"长安区" = ["K001"]'))
        req = {}
    unknown = sorted(set(req) - {k for k, _ in items})
    if unknown:
        problems.append(Problem("province.toml", f"required_sites names unknown districts: {unknown}",
                                tuple(unknown), "use the district folder names"))
    if not items and not problems:
        problems.append(Problem(str(folder), "no district folders (sub-folders with area.toml)", (),
                                "put one study-area folder per district into the province folder"))
    DataError.collect(problems)
    districts = tuple(District(k, p, n, tuple(str(s) for s in req.get(k, ())))
                      for (k, p), n in zip(items, names, strict=True))
    return Province(name=str(conf.get("name", folder.name)), folder=folder, districts=districts, policy=policy,
                    budget_wan=budget, budget_steps_wan=steps, toml=toml)
