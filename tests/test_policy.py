"""Policy profiles: shipped values, user overrides, and clear errors for bad policy files."""

from __future__ import annotations

import dataclasses

import pytest

import tuoyu_geo as tg
from tuoyu_geo import PolicyError, load_policy
from tuoyu_geo.cli import main

SHIPPED = ("binhai-2023", "hebei-2027", "national-2025", "tianjin-2025", "wuxi-2025")
NUMBERS = ("places_per_1000", "puhui_share", "one_puhui_per_street", "new_residential_per_1000",
           "existing_residential_per_1000", "circle_m", "infant_share", "class_sizes")


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
