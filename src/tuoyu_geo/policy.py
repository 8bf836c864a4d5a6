"""Policy profiles: the planning targets, each number with its source.

Profiles are TOML files shipped in ``tuoyu_geo/profiles``.  A user TOML may start from a shipped
profile (``base = "wuxi-2025"``) and override any field; unknown keys and wrong types are errors.

Examples
--------
>>> import tuoyu_geo as tg
>>> p = tg.load_policy("wuxi-2025")
>>> p.places_per_1000, p.puhui_share
(4.5, 0.7)
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._errors import PolicyError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Policy", "available_policies", "load_policy"]


@dataclass(frozen=True)
class Policy:
    """A planning policy profile.

    Parameters
    ----------
    name, title : str
        Profile id (``wuxi-2025``) and Chinese title.
    target_year : int
        Year the targets apply to.
    places_per_1000 : float
        托位 per 1000 residents (每千人口托位数).
    puhui_share : float
        Minimum share (0–1) of places that are 普惠 (affordable: 公办 or 民办普惠 and others flagged).
    one_puhui_per_street : bool
        Every 街道/乡镇 needs at least one 普惠 institution (一街道一普惠).
    demonstration_per_district : int
        Demonstration (示范) institutions required per district (一县区一示范).
    new_residential_per_1000, existing_residential_per_1000 : float
        Residential-area standard: places per 1000 residents reachable within the 15-minute circle
        for new (``is_new``) and existing communities.
    community_facility_coverage : float
        Target share of communities within the 15-minute circle of a 托育 facility.
    infant_share : float
        Share of residents aged 0–3, used where ``infants`` is not given.
    walk_speed_kmh : float
        Walking speed for thresholds not in ``circle_m``.
    circle_m : mapping of int to float
        Walking distance in metres per life-circle minute (5/10/15 min ≈ 300/500/1000 m).
    class_sizes : mapping of str to int
        Maximum children per class type (乳儿班/托小班/托大班/混龄班).
    sources : mapping of str to str
        Source document for each number.
    """

    name: str
    title: str
    target_year: int
    places_per_1000: float
    puhui_share: float
    one_puhui_per_street: bool
    demonstration_per_district: int
    new_residential_per_1000: float
    existing_residential_per_1000: float
    community_facility_coverage: float
    infant_share: float
    walk_speed_kmh: float
    circle_m: Mapping[int, float]
    class_sizes: Mapping[str, int]
    sources: Mapping[str, str] = field(default_factory=dict)

    def threshold_m(self, minutes: float) -> float:
        """Walking distance (m) for a threshold in minutes.

        Uses the profile's life-circle table (``circle_m``) when it has that minute, otherwise
        ``minutes × walk_speed_kmh``.
        """
        m = int(minutes) if float(minutes).is_integer() else None
        if m is not None and m in self.circle_m:
            return float(self.circle_m[m])
        return float(minutes) * self.walk_speed_kmh * 1000.0 / 60.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML friendly)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["circle_m"] = {str(k): v for k, v in self.circle_m.items()}
        d["class_sizes"] = dict(self.class_sizes)
        d["sources"] = dict(self.sources)
        return d

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed (validated like a TOML override)."""
        return _build({**self.to_dict(), **changes}, origin=f"{self.name} (replace)")


_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "title": (str,),
    "target_year": (int,),
    "places_per_1000": (int, float),
    "puhui_share": (int, float),
    "one_puhui_per_street": (bool,),
    "demonstration_per_district": (int,),
    "new_residential_per_1000": (int, float),
    "existing_residential_per_1000": (int, float),
    "community_facility_coverage": (int, float),
    "infant_share": (int, float),
    "walk_speed_kmh": (int, float),
    "circle_m": (dict, Mapping),
    "class_sizes": (dict, Mapping),
    "sources": (dict, Mapping),
}
_TYPE_WORDS = {str: 'a quoted string ("…")', int: "a number", bool: "true or false",
               dict: "a table ({ key = value })"}
_SHARES = ("puhui_share", "community_facility_coverage", "infant_share")


def _profiles_dir() -> Path:
    return Path(str(resources.files("tuoyu_geo") / "profiles"))


def available_policies() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in _profiles_dir().glob("*.toml"))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise PolicyError(
            f"policy file not found: {path}", file=str(path),
            fix=f"give a shipped profile name ({', '.join(available_policies())}) or a TOML path",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", file=str(path),
                          fix="check the TOML syntax (key = value, strings in quotes)") from None


def _build(data: dict[str, Any], *, origin: str) -> Policy:
    problems: list[Problem] = []
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        problems.append(Problem(origin, f"unknown key(s): {', '.join(unknown)}", tuple(unknown),
                                f"remove them; allowed keys: {', '.join(_TYPES)}"))
    missing = sorted(k for k in _TYPES if k not in data and k != "sources")
    if missing:
        problems.append(Problem(origin, f"missing key(s): {', '.join(missing)}", tuple(missing),
                                'add them or start from a shipped profile with base = "national-2025"'))
    for key, types in _TYPES.items():
        if key not in data:
            continue
        val = data[key]
        ok = isinstance(val, types) and not (bool not in types and isinstance(val, bool))
        if not ok:
            problems.append(Problem(origin, f"{key} = {val!r} has type {type(val).__name__}, "
                                    f"expected {'/'.join(t.__name__ for t in types)}", (key,),
                                    f"write {key} as " + ("a whole number" if types == (int,) else
                                                              _TYPE_WORDS.get(types[0], types[0].__name__))))
            continue
        if key in _SHARES and not 0 <= float(val) <= 1:
            problems.append(Problem(origin, f"{key} = {val} is not a share between 0 and 1", (key,),
                                    "write shares as fractions, e.g. 0.7 for 70 %"))
        if key in ("places_per_1000", "new_residential_per_1000", "existing_residential_per_1000",
                   "walk_speed_kmh") and float(val) < 0 or (key == "walk_speed_kmh" and float(val) == 0):
            problems.append(Problem(origin, f"{key} = {val} must be positive", (key,),
                                    "use a positive number"))
    circle: dict[int, float] = {}
    if isinstance(data.get("circle_m"), Mapping):
        for k, v in data["circle_m"].items():
            try:
                circle[int(k)] = float(v)
                if float(v) <= 0:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(Problem(origin, f"circle_m entry {k!r} = {v!r} is not minutes = metres",
                                        (str(k),), 'write e.g. circle_m = { 15 = 1000.0 }'))
    classes: dict[str, int] = {}
    if isinstance(data.get("class_sizes"), Mapping):
        for k, v in data["class_sizes"].items():
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                problems.append(Problem(origin, f"class_sizes entry {k!r} = {v!r} is not a positive integer",
                                        (str(k),), 'write e.g. class_sizes = { "托小班" = 15 }'))
            else:
                classes[str(k)] = v
    PolicyError.collect(problems)
    kwargs = {k: data[k] for k in _TYPES if k in data}
    for k in ("places_per_1000", "puhui_share", "new_residential_per_1000",
              "existing_residential_per_1000", "community_facility_coverage", "infant_share",
              "walk_speed_kmh"):
        kwargs[k] = float(kwargs[k])
    kwargs["circle_m"] = MappingProxyType(dict(sorted(circle.items())))
    kwargs["class_sizes"] = MappingProxyType(classes)
    kwargs["sources"] = MappingProxyType({str(k): str(v) for k, v in dict(data.get("sources", {})).items()})
    return Policy(**kwargs)


def load_policy(name_or_path: str | Path | Policy, **overrides: Any) -> Policy:
    """Load a shipped profile by name or a user TOML file.

    Parameters
    ----------
    name_or_path : str, Path or Policy
        A shipped profile name (see :func:`available_policies`) or the path of a TOML file.  A user
        file may set ``base = "<profile>"`` to start from a shipped profile and override fields; a
        file without ``base`` must give every field.
    **overrides
        Field values that override the loaded profile.

    Returns
    -------
    Policy

    Raises
    ------
    PolicyError
        Unknown profile name, missing file, invalid TOML, unknown key or wrong type.
    """
    if isinstance(name_or_path, Policy):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    name = str(name_or_path)
    shipped = _profiles_dir() / f"{name}.toml"
    if shipped.exists() and not Path(name).suffix:
        data = _read_toml(shipped)
        origin = f"profile {name}"
    else:
        path = Path(name)
        if not path.suffix and not path.exists():
            raise PolicyError(f"unknown policy profile {name!r}", file="policy",
                              fix=f"use one of {', '.join(available_policies())} or a path to a TOML file")
        data = _read_toml(path)
        origin = str(path)
        base = data.pop("base", None)
        if base is not None:
            if not isinstance(base, str) or base not in available_policies():
                raise PolicyError(f"base = {base!r} is not a shipped profile", file=origin,
                                  fix=f"use one of {', '.join(available_policies())}")
            basedata = _read_toml(_profiles_dir() / f"{base}.toml")
            user_src = data.get("sources", {})
            user_src = dict(user_src) if isinstance(user_src, Mapping) else {}
            src = {**basedata.get("sources", {}), **user_src}
            for k in data:
                if k in _TYPES and k not in ("sources", "name", "title") and k not in user_src:
                    src[k] = f"user override in {path.name} (base {base})"
            named = {"name": data.get("name", path.stem),
                     "title": data.get("title", f"{path.stem}（基于 {basedata.get('title', base)}）")}
            data = {**basedata, **data, **named, "sources": src}
    if overrides:
        data = {**data, **overrides}
    return _build(data, origin=origin)
