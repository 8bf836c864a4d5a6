"""Policy profiles: the planning targets, each number with its source.

Profiles are TOML files shipped in ``tuoyu_geo/profiles``.  A user TOML may start from a shipped
profile (``base = "wuxi-2025"``) and override any field; unknown keys and wrong types are errors.

Fields added for planning in whole classes and for demand (issue 11) are optional in a TOML: a
file without them gets the defaults below (:data:`DEFAULTS`, sources in :data:`DEFAULT_SOURCES`).
``class_types`` defaults to every type of ``class_sizes`` and ``street_puhui_share`` to
``puhui_share`` (and they follow those fields in :meth:`Policy.replace` while left at the default).

Examples
--------
>>> import tuoyu_geo as tg
>>> p = tg.load_policy("wuxi-2025")
>>> p.places_per_1000, p.puhui_share
(4.5, 0.7)
>>> p.carers({"托小班": 1, "托大班": 1}), p.floor_area_m2(35)
(6, 210.0)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ._errors import DataError, PolicyError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULTS", "DEFAULT_SOURCES", "Policy", "available_policies", "load_policy", "read_toml_text"]

#: values of the optional fields when a profile does not give them (``class_types`` = every type of
#: ``class_sizes``, ``street_puhui_share`` = ``puhui_share``, ``enrolment_rate`` = None: see
#: :func:`tuoyu_geo.demand.demand_rate`)
DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "carer_ratio": MappingProxyType({"乳儿班": 3.0, "托小班": 5.0, "托大班": 7.0, "混龄班": 5.0}),
    "floor_area_m2_per_place": 6.0,
    "enrolment_rate": None,
    "infant_survival": 0.99,
    "demonstration_min_places": 45,
})

#: source of each default (used when a profile gives neither the field nor its source)
DEFAULT_SOURCES: Mapping[str, str] = MappingProxyType({
    "class_types": "默认：class_sizes 中的全部班型均可用于新增点位",
    "carer_ratio": "托育机构设置标准（试行）2019 第二十条：保育人员与婴幼儿比例 乳儿班不低于1:3、托小班1:5、"
                   "托大班1:7；混龄班该标准未规定比例，取其所混年龄段（18个月以上，含托小班年龄）中最严的1:5（假设）",
    "floor_area_m2_per_place": "假设值（未能核实国家文件中的每托位建筑面积）：6 m²/托位，取某地托儿所园舍要求"
                               "“生均建筑面积不少于6平方米”的下限口径；请按当地标准覆盖",
    "infant_survival": "假设值：出生人口到0–3岁的存活与留居系数0.99（婴儿死亡率约0.5%，未计迁移）；请按当地统计覆盖",
    "street_puhui_share": "默认：与全区普惠托位占比目标（puhui_share）相同",
    "demonstration_min_places": "假设值（未找到示范机构最小规模的文件规定）：45 托位，即乳儿班10+托小班15+托大班20"
                                "各1个班，覆盖全部年龄段；请按当地示范机构评估标准覆盖",
})


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
    class_types : tuple of str
        Class types a new site may use (default: every type of ``class_sizes``).
    carer_ratio : mapping of str to float
        Children per carer (保育人员) by class type (乳儿班 3, 托小班 5, 托大班 7, 混龄班 5).
    floor_area_m2_per_place : float
        Building floor area per place in m² (an assumption unless the profile's source says
        otherwise; see ``sources``).
    enrolment_rate : float or None
        入托率: share of infants that need a place (0 < rate ≤ 1); None = the rate implied by
        ``places_per_1000`` (see :func:`tuoyu_geo.demand.demand_rate`).
    infant_survival : float
        Factor applied to births to estimate infants (0 < factor ≤ 1).
    street_puhui_share : float
        Per-街道 普惠 share level (default ``puhui_share``).
    demonstration_min_places : int
        Minimum places of a site designated as the district's demonstration (示范) institution.
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
    class_types: tuple[str, ...] = ()
    carer_ratio: Mapping[str, float] = field(default_factory=lambda: DEFAULTS["carer_ratio"])
    floor_area_m2_per_place: float = DEFAULTS["floor_area_m2_per_place"]
    enrolment_rate: float | None = None
    infant_survival: float = DEFAULTS["infant_survival"]
    street_puhui_share: float | None = None
    demonstration_min_places: int = DEFAULTS["demonstration_min_places"]

    def __post_init__(self) -> None:
        if not self.class_types:
            object.__setattr__(self, "class_types", tuple(self.class_sizes))
        if self.street_puhui_share is None:
            object.__setattr__(self, "street_puhui_share", float(self.puhui_share))

    def carers_per_class(self, class_type: str) -> int:
        """Carers (保育人员) of one full class: ``ceil(class_sizes[k] / carer_ratio[k])``.

        >>> from tuoyu_geo.policy import load_policy
        >>> p = load_policy("national-2025")
        >>> [p.carers_per_class(k) for k in ("乳儿班", "托小班", "托大班", "混龄班")]
        [4, 3, 3, 4]
        """
        if class_type not in self.class_sizes or class_type not in self.carer_ratio:
            raise PolicyError(f"class type {class_type!r} is unknown to the profile's class_sizes/carer_ratio",
                              file=f"profile {self.name}",
                              fix=f"use one of {', '.join(k for k in self.class_sizes if k in self.carer_ratio)}")
        return math.ceil(self.class_sizes[class_type] / self.carer_ratio[class_type] - 1e-9)

    def carers(self, classes: Mapping[str, int]) -> int:
        """Carers needed for whole classes: ``Σ_k n_k × ceil(class_sizes[k] / carer_ratio[k])``.

        Each class is staffed for its full size (a class of 托大班 ≤ 20 at 1:7 needs 3 carers),
        so the count does not depend on how full the class is; carers are not shared between
        classes.  Only carers (保育人员) are counted, not the head, health or kitchen staff.

        Parameters
        ----------
        classes : mapping of str to int
            Number of classes by class type (e.g. ``{"托小班": 1, "托大班": 2}``).

        Raises
        ------
        PolicyError
            A class type unknown to the profile.
        DataError
            A class count that is not a whole number ≥ 0.

        Examples
        --------
        >>> from tuoyu_geo.policy import load_policy
        >>> load_policy("wuxi-2025").carers({"乳儿班": 1, "托大班": 2})   # 4 + 2 × 3
        10
        """
        total = 0
        for k, n in dict(classes).items():
            per = self.carers_per_class(str(k))
            total += per * _whole_count(k, n)
        return total

    def floor_area_m2(self, places: Any) -> Any:
        """Building floor area in m² for ``places`` (a number or an array): places × the
        profile's ``floor_area_m2_per_place``.

        Raises
        ------
        DataError
            Negative or non-finite places.
        """
        arr = np.asarray(places, dtype=float)
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise DataError(f"places must be finite numbers ≥ 0, got {places!r}", file="places",
                            fix="pass the planned places of the site(s)")
        out = arr * float(self.floor_area_m2_per_place)
        return float(out) if out.ndim == 0 else out

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
        d["class_types"] = list(self.class_types)
        d["carer_ratio"] = dict(self.carer_ratio)
        return d

    def fingerprint(self) -> str:
        """Hash of every value of the profile: results scored under one policy (street scorecards)
        carry it, so they cannot be used under another policy with the same name."""
        import hashlib
        import json

        text = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, default=repr)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed (validated like a TOML override).

        ``street_puhui_share`` equal to ``puhui_share`` follows a new ``puhui_share``, and
        ``class_types`` equal to every type of ``class_sizes`` follows new ``class_sizes``, unless
        they are changed too.
        """
        d = self.to_dict()
        if "puhui_share" in changes and "street_puhui_share" not in changes \
                and self.street_puhui_share == self.puhui_share:
            del d["street_puhui_share"]
        if "class_sizes" in changes and "class_types" not in changes \
                and set(self.class_types) == set(self.class_sizes):
            del d["class_types"]
        d = {**d, **changes}
        if "class_sizes" in changes and "carer_ratio" not in changes:
            d["carer_ratio"] = _ratios_for(d["carer_ratio"], d["class_sizes"])
        return _build(d, origin=f"{self.name} (replace)")


def _ratios_for(ratios: Any, class_sizes: Any) -> Any:
    """Inherited ``carer_ratio`` restricted to the class types of new ``class_sizes``."""
    if isinstance(ratios, Mapping) and isinstance(class_sizes, Mapping):
        return {k: v for k, v in ratios.items() if k in class_sizes}
    return ratios


def _whole_count(class_type: Any, n: Any) -> int:
    """A class count as int; DataError unless it is a whole number ≥ 0."""
    ok = (isinstance(n, numbers.Integral) and not isinstance(n, bool)) or (
        isinstance(n, numbers.Real) and not isinstance(n, bool) and math.isfinite(float(n)) and float(n).is_integer())
    if not ok or n < 0:
        raise DataError(f"{class_type}: {n!r} classes is not a whole number ≥ 0", file="classes",
                        fix="give the number of classes of each type as a whole number, e.g. {\"托小班\": 2}")
    return int(n)


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
    "class_types": (list, tuple),
    "carer_ratio": (dict, Mapping),
    "floor_area_m2_per_place": (int, float),
    "enrolment_rate": (int, float, type(None)),
    "infant_survival": (int, float),
    "street_puhui_share": (int, float),
    "demonstration_min_places": (int,),
}
#: keys a profile may leave out (defaults in :data:`DEFAULTS` / derived from other fields)
_OPTIONAL = ("sources", "class_types", "carer_ratio", "floor_area_m2_per_place", "enrolment_rate",
             "infant_survival", "street_puhui_share", "demonstration_min_places")
_TYPE_WORDS = {str: 'a quoted string ("…")', int: "a number", bool: "true or false",
               dict: "a table ({ key = value })", list: 'an array (["…", "…"])'}
_SHARES = ("puhui_share", "community_facility_coverage", "infant_share", "street_puhui_share")


def _profiles_dir() -> Path:
    return Path(str(resources.files("tuoyu_geo") / "profiles"))


def available_policies() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in _profiles_dir().glob("*.toml"))


def read_toml_text(path: Path, *, error: type[DataError] = PolicyError, label: str | None = None) -> str:
    """The text of a TOML file: UTF-8 with or without a BOM, UTF-16 with a BOM, or GBK (GB18030,
    logged), so a file saved by Notepad/WPS on a Chinese Windows reads too.

    Raises
    ------
    DataError (``error``)
        The path is a folder, cannot be read, or is in none of those encodings.
    """
    label = label or str(path)
    if path.is_dir():
        raise error(f"{path} is a folder, not a TOML file", file=label,
                    fix="give the path of the .toml file itself")
    st = path.stat()  # FileNotFoundError / OSError: handled by the callers
    if not stat.S_ISREG(st.st_mode) or st.st_size > 2**20:
        raise error(f"{path} is not a TOML file (not a regular file, or larger than 1 MB)", file=label,
                    fix="give the path of the .toml file itself")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise error("the file is neither UTF-8 nor GBK text", file=label,
                    fix="save it as UTF-8 (Notepad: 另存为 ▸ 编码 UTF-8)") from None
    logging.getLogger(__name__).warning("%s is not UTF-8; read as GBK (GB18030)", label)
    return text


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_toml_text(path))
    except FileNotFoundError:
        raise PolicyError(
            f"policy file not found: {path}", file=str(path),
            fix=f"give a shipped profile name ({', '.join(available_policies())}) or a TOML path",
        ) from None
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file ({exc.strerror or exc})", file=str(path),
                          fix="check the path and its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", file=str(path),
                          fix="check the TOML syntax (key = value, strings in quotes)") from None


def _check_keys(data: Mapping[str, Any], origin: str, problems: list[Problem]) -> None:
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        problems.append(Problem(origin, f"unknown key(s): {', '.join(unknown)}", tuple(unknown),
                                f"remove them; allowed keys: {', '.join(_TYPES)}"))
    missing = sorted(k for k in _TYPES if k not in data and k not in _OPTIONAL)
    if missing:
        problems.append(Problem(origin, f"missing key(s): {', '.join(missing)}", tuple(missing),
                                'add them or start from a shipped profile with base = "national-2025"'))


#: policy keys in places per 1000 residents, and the most any of them may be (a unit mistake above)
_PER_1000 = ("places_per_1000", "new_residential_per_1000", "existing_residential_per_1000")
MAX_PLACES_PER_1000 = 100.0


def _check_value(key: str, val: Any, origin: str, problems: list[Problem]) -> None:
    """Range checks of one scalar field (its type already checked)."""
    if isinstance(val, float) and not math.isfinite(val):  # TOML allows nan and inf
        problems.append(Problem(origin, f"{key} = {val} is not a finite number", (key,),
                                f"write {key} as an ordinary number (not nan or inf)"))
        return
    if key == "infant_share" and float(val) <= 0:
        problems.append(Problem(origin, f"{key} = {val} must be above 0 (it turns population into infants)",
                                (key,), "write the share of residents aged 0–3, e.g. 0.0277 for 2.77 %"))
    if key in _SHARES and not 0 <= float(val) <= 1:
        problems.append(Problem(origin, f"{key} = {val} is not a share between 0 and 1", (key,),
                                "write shares as fractions, e.g. 0.7 for 70 %"))
    if key in ("places_per_1000", "new_residential_per_1000", "existing_residential_per_1000",
               "walk_speed_kmh") and float(val) < 0 or (key in ("walk_speed_kmh", "floor_area_m2_per_place")
                                                         and float(val) <= 0):
        problems.append(Problem(origin, f"{key} = {val} must be positive", (key,), "use a positive number"))
    if key in ("enrolment_rate", "infant_survival") and val is not None and not 0 < float(val) <= 1:
        what = "入托率 (share of infants needing a place)" if key == "enrolment_rate" else "survival factor"
        problems.append(Problem(origin, f"{key} = {val} is not a {what} in (0, 1]", (key,),
                                f"write {key} as a fraction above 0 and at most 1, e.g. "
                                + ("0.35 for 35 %, or leave it out to use the rate implied by places_per_1000"
                                   if key == "enrolment_rate" else "0.99")))
    if key in _PER_1000 and float(val) > MAX_PLACES_PER_1000:
        problems.append(Problem(origin, f"{key} = {val:g} places per 1000 residents is more than "
                                f"{MAX_PLACES_PER_1000:g} ({MAX_PLACES_PER_1000 / 10:g} % of all residents, more than "
                                "all children aged 0–3)", (key,),
                                f"write places per 1000 residents, e.g. {key} = 4.5 (national target)"))
    if key == "target_year" and not 2000 <= val <= 2100:
        problems.append(Problem(origin, f"target_year = {val} is not a planning year between 2000 and 2100", (key,),
                                "write the year the targets are due, e.g. target_year = 2025"))
    if key == "demonstration_min_places" and val < 0:
        problems.append(Problem(origin, f"{key} = {val} must be ≥ 0", (key,),
                                "use a whole number of places ≥ 0 (0: no minimum)"))


def _check_types(data: Mapping[str, Any], origin: str, problems: list[Problem]) -> None:
    for key, types in _TYPES.items():
        if key not in data:
            continue
        val = data[key]
        if isinstance(val, types) and not (bool not in types and isinstance(val, bool)):
            _check_value(key, val, origin, problems)
            continue
        problems.append(Problem(origin, f"{key} = {val!r} has type {type(val).__name__}, "
                                f"expected {'/'.join(t.__name__ for t in types)}", (key,),
                                f"write {key} as " + ("a whole number" if types == (int,) else
                                                          _TYPE_WORDS.get(types[0], types[0].__name__))))


def _circle(data: Mapping[str, Any], origin: str, problems: list[Problem]) -> dict[int, float]:
    circle: dict[int, float] = {}
    for k, v in dict(data.get("circle_m", {}) if isinstance(data.get("circle_m"), Mapping) else {}).items():
        try:
            circle[int(k)] = float(v)
            if not float(v) > 0 or not math.isfinite(float(v)):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(Problem(origin, f"circle_m entry {k!r} = {v!r} is not minutes = metres",
                                    (str(k),), 'write e.g. circle_m = { 15 = 1000.0 }'))
    return circle


def _classes(data: Mapping[str, Any], origin: str, problems: list[Problem]) -> dict[str, int]:
    classes: dict[str, int] = {}
    for k, v in dict(data.get("class_sizes", {}) if isinstance(data.get("class_sizes"), Mapping) else {}).items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            problems.append(Problem(origin, f"class_sizes entry {k!r} = {v!r} is not a positive integer",
                                    (str(k),), 'write e.g. class_sizes = { "托小班" = 15 }'))
        else:
            classes[str(k)] = v
    return classes


_FLOATS = ("places_per_1000", "puhui_share", "new_residential_per_1000", "existing_residential_per_1000",
           "community_facility_coverage", "infant_share", "walk_speed_kmh", "floor_area_m2_per_place",
           "infant_survival", "street_puhui_share")


def _build(data: dict[str, Any], *, origin: str) -> Policy:
    problems: list[Problem] = []
    _check_keys(data, origin, problems)
    _check_types(data, origin, problems)
    circle, classes = _circle(data, origin, problems), _classes(data, origin, problems)
    class_ok = isinstance(data.get("class_sizes"), Mapping) and len(classes) == len(data["class_sizes"])
    types = _class_types(data, classes, class_ok, origin, problems)
    ratios = _carer_ratio(data, classes, class_ok, origin, problems)
    PolicyError.collect(problems)
    kwargs = {k: data[k] for k in _TYPES if k in data}
    kwargs.update({k: float(kwargs[k]) for k in _FLOATS if k in kwargs})
    if kwargs.get("enrolment_rate") is not None:
        kwargs["enrolment_rate"] = float(kwargs["enrolment_rate"])
    kwargs.update(circle_m=MappingProxyType(dict(sorted(circle.items()))), class_sizes=MappingProxyType(classes),
                  class_types=types, carer_ratio=MappingProxyType(ratios))
    src = {str(k): str(v) for k, v in dict(data.get("sources", {})).items()}
    src.update({k: text for k, text in DEFAULT_SOURCES.items() if k not in data and k not in src})
    kwargs["sources"] = MappingProxyType(src)
    return Policy(**kwargs)


def _class_types(data: Mapping[str, Any], classes: Mapping[str, int], class_ok: bool, origin: str,
                 problems: list[Problem]) -> tuple[str, ...]:
    """``class_types`` checked against ``class_sizes`` (default: all of them)."""
    raw = data.get("class_types")
    if raw is None:
        return tuple(classes)
    if not isinstance(raw, (list, tuple)):
        return tuple(classes)  # wrong type: reported by the type check
    types = list(raw)
    bad = [t for t in types if not isinstance(t, str) or (class_ok and t not in classes)]
    if bad:
        problems.append(Problem(origin, f"class_types has class type(s) unknown to class_sizes: "
                                f"{', '.join(map(repr, bad))}", tuple(map(str, bad)),
                                f"use types of class_sizes ({', '.join(classes)}) or add them to class_sizes"))
    dup = sorted({t for t in types if isinstance(t, str) and types.count(t) > 1})
    if dup:
        problems.append(Problem(origin, f"class_types lists {', '.join(dup)} more than once", tuple(dup),
                                "list each class type once"))
    if not types:
        problems.append(Problem(origin, "class_types is empty", ("class_types",),
                                f"list at least one class type, e.g. class_types = {list(classes)[:1]}"))
    return tuple(dict.fromkeys(str(t) for t in types))


def _carer_ratio(data: Mapping[str, Any], classes: Mapping[str, int], class_ok: bool, origin: str,
                 problems: list[Problem]) -> dict[str, float]:
    """``carer_ratio`` checked: positive numbers, known class types, one for every type of class_sizes."""
    raw = data.get("carer_ratio")
    if raw is None:
        raw = {k: v for k, v in DEFAULTS["carer_ratio"].items() if k in classes}
    if not isinstance(raw, Mapping):
        return {}  # wrong type: reported by the type check
    ratios: dict[str, float] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            problems.append(Problem(origin, f"carer_ratio entry {k!r} = {v!r} is not a positive number",
                                    (str(k),), 'write children per carer, e.g. carer_ratio = { "托小班" = 5 }'))
        elif class_ok and str(k) not in classes:
            problems.append(Problem(origin, f"carer_ratio has class type {k!r} unknown to class_sizes", (str(k),),
                                    f"use types of class_sizes ({', '.join(classes)}) or add it to class_sizes"))
        else:
            ratios[str(k)] = float(v)
    if class_ok:
        need = [t for t in classes if t not in raw]
        if need:
            problems.append(Problem(origin, f"carer_ratio has no ratio for class type(s) {', '.join(need)}",
                                    tuple(need), "add them, e.g. carer_ratio = { " +
                                    ", ".join(f'"{t}" = 5' for t in need) + " }"))
    return ratios


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
            user = dict(data)
            user_src = data.get("sources", {})
            user_src = dict(user_src) if isinstance(user_src, Mapping) else {}
            src = {**basedata.get("sources", {}), **user_src}
            for k in data:
                if k in _TYPES and k not in ("sources", "name", "title") and k not in user_src:
                    src[k] = f"user override in {path.name} (base {base})"
            named = {"name": data.get("name", path.stem),
                     "title": data.get("title", f"{path.stem}（基于 {basedata.get('title', base)}）")}
            data = {**basedata, **data, **named, "sources": src}
            if "class_sizes" in user and "carer_ratio" not in user and "carer_ratio" in basedata:
                data["carer_ratio"] = _ratios_for(basedata["carer_ratio"], data["class_sizes"])
    if overrides:
        data = {**data, **overrides}
    return _build(data, origin=origin)
