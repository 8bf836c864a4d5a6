"""Policy profiles: shipped values, user overrides, and clear errors for bad policy files."""

from __future__ import annotations

import dataclasses

import pytest

import tuoyu_geo as tg
from tuoyu_geo import PolicyError, load_policy
from tuoyu_geo.cli import main

SHIPPED = ("binhai-2023", "hebei-2027", "national-2025", "tianjin-2025", "wuxi-2025")
NUMBERS = ("places_per_1000", "puhui_share", "one_puhui_per_street", "new_residential_per_1000",
           "existing_residential_per_1000", "circle_m", "infant_share", "class_sizes", "class_types",
           "carer_ratio", "floor_area_m2_per_place", "infant_survival", "street_puhui_share",
           "demonstration_min_places")


def test_available_policies():
    assert tuple(tg.available_policies()) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_with_sources(name):
    p = load_policy(name)
    assert p.name == name and p.title
    assert 0 < p.puhui_share <= 1 and p.places_per_1000 > 0
    assert p.new_residential_per_1000 == 10 and p.existing_residential_per_1000 == 5
    assert dict(p.circle_m) == {5: 300.0, 10: 500.0, 15: 1000.0}
    for key in NUMBERS:
        assert p.sources.get(key), f"{name}: no source for {key}"


def test_wuxi_numbers():
    p = load_policy("wuxi-2025")
    assert (p.places_per_1000, p.puhui_share, p.one_puhui_per_street, p.target_year) == (4.5, 0.7, True, 2025)
    assert dict(p.class_sizes) == {"乳儿班": 10, "托小班": 15, "托大班": 20, "混龄班": 18}
    assert p.infant_share == pytest.approx(207477 / 7479500, abs=1e-4)  # 无锡 2021 baseline


def test_threshold_m():
    p = load_policy("wuxi-2025")
    assert p.threshold_m(15) == 1000.0 and p.threshold_m(5.0) == 300.0
    assert p.threshold_m(12) == pytest.approx(12 * 4000 / 60)  # 4 km/h, not in the circle table


def test_policy_is_frozen():
    p = load_policy("wuxi-2025")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.puhui_share = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.circle_m[15] = 800.0  # type: ignore[index]
    assert load_policy(p) is p


def test_user_toml_with_base_overrides(tmp_path):
    f = tmp_path / "my-city.toml"
    f.write_text('base = "wuxi-2025"\nplaces_per_1000 = 6.0\ncircle_m = { 5 = 300, 10 = 500, 15 = 800 }\n'
                 '[sources]\nplaces_per_1000 = "我市2026年方案"\n', encoding="utf-8")
    p = load_policy(f)
    w = load_policy("wuxi-2025")
    assert p.name == "my-city" and p.places_per_1000 == 6.0 and p.threshold_m(15) == 800.0
    assert p.puhui_share == w.puhui_share and p.class_sizes == w.class_sizes
    assert p.sources["places_per_1000"] == "我市2026年方案"
    assert "my-city.toml" in p.sources["circle_m"]
    assert p.sources["puhui_share"] == w.sources["puhui_share"]


def test_keyword_overrides_and_replace():
    p = load_policy("wuxi-2025", puhui_share=0.8)
    assert p.puhui_share == 0.8 and p.places_per_1000 == 4.5
    q = p.replace(places_per_1000=5)
    assert q.places_per_1000 == 5.0 and isinstance(q.places_per_1000, float)
    with pytest.raises(PolicyError, match="puhui_share = 2"):
        p.replace(puhui_share=2)


def _err(tmp_path, text: str, name: str = "bad.toml") -> PolicyError:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as ei:
        load_policy(f)
    assert name in str(ei.value)
    return ei.value


def test_unknown_key_is_an_error(tmp_path):
    e = _err(tmp_path, 'base = "wuxi-2025"\nplaces_per_thousand = 6\n')
    assert "unknown key(s): places_per_thousand" in str(e) and "allowed keys" in str(e)
    assert e.problems[0].ids == ("places_per_thousand",)


@pytest.mark.parametrize("line,key", [('puhui_share = "70%"', "puhui_share"),
                                      ("one_puhui_per_street = 1", "one_puhui_per_street"),
                                      ("target_year = 2025.5", "target_year"),
                                      ('places_per_1000 = "4.5"', "places_per_1000"),
                                      ("circle_m = 1000", "circle_m")])
def test_wrong_type_is_an_error(tmp_path, line, key):
    e = _err(tmp_path, f'base = "wuxi-2025"\n{line}\n')
    assert f"{key} = " in str(e) and "expected" in str(e) and "fix: write" in str(e)


@pytest.mark.parametrize("line,msg", [("puhui_share = 70", "not a share between 0 and 1"),
                                      ("walk_speed_kmh = 0", "must be positive"),
                                      ('class_sizes = { "托小班" = -3 }', "not a positive integer"),
                                      ('circle_m = { 15 = "far" }', "not minutes = metres")])
def test_bad_values(tmp_path, line, msg):
    assert msg in str(_err(tmp_path, f'base = "wuxi-2025"\n{line}\n'))


def test_unknown_base_missing_keys_bad_toml(tmp_path):
    assert "not a shipped profile" in str(_err(tmp_path, 'base = "shanghai-2030"\n'))
    e = _err(tmp_path, 'name = "x"\nplaces_per_1000 = 4.5\n', "full.toml")
    assert "missing key(s)" in str(e) and 'base = "national-2025"' in str(e)
    assert "not valid TOML" in str(_err(tmp_path, "places_per_1000 = = 4\n", "syntax.toml"))


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="unknown policy profile 'wuxi-2099'") as ei:
        load_policy("wuxi-2099")
    assert "wuxi-2025" in str(ei.value)  # the fix lists the shipped ones
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.toml")


def test_policy_error_is_a_data_error():
    assert issubclass(PolicyError, tg.DataError) and issubclass(PolicyError, ValueError)


def test_cli_policies(capsys):
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert f"{name}:" in out
    assert "puhui_share=70%" in out
    assert main(["policies", "--sources"]) == 0
    assert "托育机构设置标准" in capsys.readouterr().out


# ------------------------------------------------------------------ whole classes, staff, area, demand

@pytest.mark.parametrize("name", SHIPPED)
def test_planning_fields_of_shipped_profiles(name):
    """Class types, carer ratios (托育机构设置标准（试行）2019: 1:3, 1:5, 1:7; 混龄班 1:5, the strictest
    of the ages it mixes), and the assumptions labelled as such in their sources."""
    p = load_policy(name)
    assert p.class_types == ("乳儿班", "托小班", "托大班", "混龄班")
    assert dict(p.carer_ratio) == {"乳儿班": 3.0, "托小班": 5.0, "托大班": 7.0, "混龄班": 5.0}
    assert p.enrolment_rate is None and p.infant_survival == 0.99
    assert p.street_puhui_share == p.puhui_share
    assert p.floor_area_m2_per_place == 6.0 and p.demonstration_min_places == 45
    for key in ("floor_area_m2_per_place", "infant_survival", "demonstration_min_places"):
        assert "假设" in p.sources[key], key
    assert "1:3" in p.sources["carer_ratio"] and "混龄班" in p.sources["carer_ratio"]


def test_carers_and_floor_area_by_hand():
    """Carers per class = ceil(size / ratio): 乳儿班 ceil(10/3) = 4, 托小班 ceil(15/5) = 3, 托大班
    ceil(20/7) = 3, 混龄班 ceil(18/5) = 4.  {乳儿班 1, 托小班 2, 托大班 1, 混龄班 1} → 4 + 6 + 3 + 4 = 17.
    Floor area: 35 places × 6 m² = 210 m²."""
    p = load_policy("wuxi-2025")
    assert [p.carers_per_class(k) for k in p.class_types] == [4, 3, 3, 4]
    assert p.carers({"乳儿班": 1, "托小班": 2, "托大班": 1, "混龄班": 1}) == 17
    assert p.carers({}) == 0 and p.carers({"托大班": 2.0}) == 6
    assert p.floor_area_m2(35) == 210.0
    assert p.floor_area_m2([10, 20]).tolist() == [60.0, 120.0]
    q = p.replace(carer_ratio={"乳儿班": 3, "托小班": 5, "托大班": 10, "混龄班": 6})
    assert q.carers({"托大班": 1, "混龄班": 1}) == 2 + 3   # ceil(20/10) + ceil(18/6)


def test_carers_bad_input():
    p = load_policy("wuxi-2025")
    with pytest.raises(PolicyError, match="'托中班' is unknown") as ei:
        p.carers({"托中班": 1})
    assert "托小班" in str(ei.value) and "profile wuxi-2025" in str(ei.value)
    for bad in (1.5, -1, "2", True, float("nan")):
        with pytest.raises(tg.DataError, match="not a whole number ≥ 0"):
            p.carers({"托小班": bad})
    with pytest.raises(tg.DataError, match="places must be finite"):
        p.floor_area_m2(-5)


def test_defaults_follow_other_fields():
    """street_puhui_share left at the default follows puhui_share; class_types and carer_ratio follow
    class_sizes; an explicit street level stays."""
    p = load_policy("wuxi-2025")
    assert p.replace(puhui_share=0.8).street_puhui_share == 0.8
    assert load_policy("wuxi-2025", puhui_share=0.5).street_puhui_share == 0.5
    q = p.replace(street_puhui_share=0.6)
    assert q.replace(puhui_share=0.9).street_puhui_share == 0.6
    r = p.replace(class_sizes={"托小班": 15, "托大班": 20})
    assert r.class_types == ("托小班", "托大班") and set(r.carer_ratio) == {"托小班", "托大班"}
    s = p.replace(class_types=["托大班"])
    assert s.class_types == ("托大班",) and set(s.carer_ratio) == set(s.class_sizes)


def test_user_toml_with_new_fields(tmp_path):
    f = tmp_path / "city.toml"
    f.write_text('base = "wuxi-2025"\nenrolment_rate = 0.35\nclass_types = ["托小班", "托大班"]\n'
                 'class_sizes = { "托小班" = 15, "托大班" = 20 }\nstreet_puhui_share = 0.5\n'
                 '[sources]\nenrolment_rate = "我市2026年入托意愿调查"\n', encoding="utf-8")
    p = load_policy(f)
    assert p.enrolment_rate == 0.35 and p.class_types == ("托小班", "托大班")
    assert dict(p.carer_ratio) == {"托小班": 5.0, "托大班": 7.0}          # base ratios, restricted
    assert p.street_puhui_share == 0.5 and p.puhui_share == 0.7
    assert p.sources["enrolment_rate"] == "我市2026年入托意愿调查"
    assert "city.toml" in p.sources["street_puhui_share"]


def test_full_toml_without_new_fields_gets_defaults(tmp_path):
    """A complete old-style profile (no base, none of the new keys) loads with the defaults and their
    sources."""
    from tuoyu_geo.policy import _profiles_dir, tomllib
    data = tomllib.loads((_profiles_dir() / "national-2025.toml").read_text(encoding="utf-8"))
    lines = []
    for k, v in data.items():
        if k in ("carer_ratio", "floor_area_m2_per_place", "infant_survival", "demonstration_min_places",
                 "sources"):
            continue
        if isinstance(v, dict):
            v = "{ " + ", ".join(f'"{a}" = {b}' for a, b in v.items()) + " }"
        elif isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, str):
            v = f'"{v}"'
        lines.append(f"{k} = {v}")
    f = tmp_path / "old.toml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = load_policy(f)
    assert p.carers({"托大班": 1}) == 3 and p.infant_survival == 0.99 and p.demonstration_min_places == 45
    assert "托育机构设置标准" in p.sources["carer_ratio"] and "假设" in p.sources["infant_survival"]


@pytest.mark.parametrize("line,msg", [
    ("enrolment_rate = -0.2", "enrolment_rate = -0.2 is not a 入托率"),
    ("enrolment_rate = 0", "enrolment_rate = 0 is not a 入托率"),
    ("enrolment_rate = 1.5", "enrolment_rate = 1.5 is not a 入托率"),
    ("infant_survival = 0", "infant_survival = 0 is not a survival factor in (0, 1]"),
    ("infant_survival = 1.2", "infant_survival = 1.2 is not a survival factor"),
    ("street_puhui_share = 1.5", "street_puhui_share = 1.5 is not a share between 0 and 1"),
    ("floor_area_m2_per_place = 0", "floor_area_m2_per_place = 0 must be positive"),
    ("demonstration_min_places = -10", "demonstration_min_places = -10 must be ≥ 0"),
    ('class_sizes = { "托小班" = 15.5, "托大班" = 20 }', "class_sizes entry '托小班' = 15.5 is not a positive integer"),
    ('class_types = ["托中班", "托大班"]', "class_types has class type(s) unknown to class_sizes: '托中班'"),
    ('class_types = ["托大班", "托大班"]', "class_types lists 托大班 more than once"),
    ("class_types = []", "class_types is empty"),
    ('carer_ratio = { "乳儿班" = 3, "托小班" = 5, "托大班" = 7, "混龄班" = 5, "托中班" = 6 }',
     "carer_ratio has class type '托中班' unknown to class_sizes"),
    ('carer_ratio = { "乳儿班" = 3, "托小班" = 0, "托大班" = 7, "混龄班" = 5 }',
     "carer_ratio entry '托小班' = 0 is not a positive number"),
    ('carer_ratio = { "乳儿班" = 3, "托小班" = 5, "托大班" = 7 }', "carer_ratio has no ratio for class type(s) 混龄班"),
])
def test_bad_planning_fields(tmp_path, line, msg):
    e = _err(tmp_path, f'base = "wuxi-2025"\n{line}\n')
    assert msg in str(e) and "fix:" in str(e)


@pytest.mark.parametrize("line,key", [('enrolment_rate = "35%"', "enrolment_rate"),
                                      ('class_types = "托小班"', "class_types"),
                                      ("demonstration_min_places = 45.5", "demonstration_min_places"),
                                      ("carer_ratio = 5", "carer_ratio")])
def test_planning_fields_wrong_type(tmp_path, line, key):
    e = _err(tmp_path, f'base = "wuxi-2025"\n{line}\n')
    assert f"{key} = " in str(e) and "expected" in str(e) and "fix: write" in str(e)
