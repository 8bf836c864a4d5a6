"""Demand: infants from births (area layer) and places from infants × 入托率 (tuoyu_geo.demand).

Infants from births: a row whose ``infants`` is empty and that has births is estimated as
Σ births of its last three years present × ``policy.infant_survival`` (0.99 in the shipped
profiles), flagged ``infants_estimated`` with ``infants_source = "births"``; other empty rows are
population × ``infant_share`` ("population share"); given rows are "given".

Demand: rate = the argument, else the profile's ``enrolment_rate``, else the implied
``min(1, places_per_1000 / (1000 × infant_share))``; places = infants × rate.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tuoyu_geo as tg
from tuoyu_geo import DataError, load_area, make_area
from tuoyu_geo.cli import main
from tuoyu_geo.demand import demand_places, demand_rate, demand_rate_basis, implied_enrolment_rate

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402

NAN = np.nan


def _layers(**over) -> dict:
    d = {"streets": synth.streets(), "communities": synth.communities(), "institutions": synth.institutions(),
         "candidates": synth.candidates()}
    d.update(over)
    return d


def _births_communities():
    """C10 given 33 infants; C11 births 2023–2025 = 100/110/120; C12 births 2022/2023/2025 = 90/100/120
    (2024 unknown) plus nothing else; C20 births only 2025 = 40; the rest no births."""
    c = synth.communities()
    c["infants"] = [33.0] + [NAN] * 11
    c["births_2022"] = [NAN, 5000, 90] + [NAN] * 9
    c["births_2023"] = [NAN, 100, 100] + [NAN] * 9
    c["births_2024"] = [NAN, 110, NAN] + [NAN] * 9
    c["births_2025"] = [NAN, 120, 120, 40] + [NAN] * 8
    return c


# ----------------------------------------------------------------------------- infants from births

def test_infants_from_births_by_hand(caplog):
    """wuxi-2025 (infant_survival 0.99, infant_share 0.0277):
    C10 given 33 → "given".
    C11: four years present, the last three 2023–2025: (100 + 110 + 120) × 0.99 = 326.7 (2022's 5000
    is not used).
    C12: years present 2022, 2023, 2025 → the last three present: (90 + 100 + 120) × 0.99 = 306.9.
    C20: only 2025 → 40 × 0.99 = 39.6 (one cohort: an under-estimate, logged as a warning).
    C21 (population 2100): no births → 2100 × 0.0277 = 58.17, "population share"."""
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo.area.validate"):
        area = make_area(**_layers(communities=_births_communities()), policy="wuxi-2025")
    c = area.communities
    assert c.loc["C10", "infants"] == 33.0 and c.loc["C10", "infants_source"] == "given"
    assert not c.loc["C10", "infants_estimated"]
    assert c.loc["C11", "infants"] == pytest.approx(326.7)
    assert c.loc["C12", "infants"] == pytest.approx(306.9)
    assert c.loc["C20", "infants"] == pytest.approx(39.6)
    assert c.loc["C21", "infants"] == pytest.approx(58.17)
    assert c.loc[["C11", "C12", "C20"], "infants_source"].tolist() == ["births"] * 3
    assert (c.loc[["C21", "C22", "C30"], "infants_source"] == "population share").all()
    assert c["infants_estimated"].tolist() == [False] + [True] * 11
    assert "fewer than three years" in caplog.text and "C20" in caplog.text and "C11" not in caplog.text
    # the streets layer has no births: every 街道 from its population
    assert (area.streets["infants_source"] == "population share").all()


def test_street_births_and_given_infants_win():
    """S1 given 150 infants and births (ignored: given wins); S2 births 60/70/80 → 210 × 0.99 = 207.9;
    S3, S4 population × 0.0277 (8000 → 221.6)."""
    s = synth.streets()
    s["infants"] = [150.0, NAN, NAN, NAN]
    for year, v in ((2023, 60), (2024, 70), (2025, 80)):
        s[f"births_{year}"] = [999.0, v, NAN, NAN]
    st = make_area(**_layers(streets=s), policy="wuxi-2025").streets
    assert st["infants"].tolist() == pytest.approx([150.0, 207.9, 8000 * 0.0277, 9000 * 0.0277])
    assert st["infants_source"].tolist() == ["given", "births", "population share", "population share"]


def test_with_policy_re_estimates_both_estimated_sources():
    """Another policy (infant_survival 0.5, infant_share 0.04): C11 → 330 × 0.5 = 165, C21 → 2100 × 0.04
    = 84, C10 stays 33; back to wuxi-2025 → 326.7 again; re-validating (area.replace) gives the same."""
    area = make_area(**_layers(communities=_births_communities()), policy="wuxi-2025")
    other = area.policy.replace(name="other", infant_survival=0.5, infant_share=0.04)
    b = area.with_policy(other)
    c = b.communities
    assert c.loc["C11", "infants"] == pytest.approx(165.0) and c.loc["C21", "infants"] == pytest.approx(84.0)
    assert c.loc["C10", "infants"] == 33.0
    assert (c["infants_source"] == area.communities["infants_source"]).all()
    assert b.with_policy("wuxi-2025").communities.loc["C11", "infants"] == pytest.approx(326.7)
    # only infant_survival differs: still a different policy, still re-estimated
    assert area.with_policy(area.policy.replace(infant_survival=0.9)).communities.loc["C11", "infants"] \
        == pytest.approx(297.0)
    r = b.replace(policy="wuxi-2025")
    assert r.communities["infants"].tolist() == pytest.approx(area.communities["infants"].tolist())
    assert r.communities["infants_source"].tolist() == area.communities["infants_source"].tolist()
    # a layer carrying only infants_source (no infants_estimated flag) is re-estimated from it too
    only_source = b.communities.drop(columns=["infants_estimated"])
    t = b.replace(communities=only_source, policy="wuxi-2025").communities
    assert t.loc["C11", "infants"] == pytest.approx(326.7) and t.loc["C21", "infants"] == pytest.approx(58.17)
    assert t.loc["C10", "infants"] == 33.0 and t["infants_estimated"].sum() == 11


@pytest.mark.parametrize("suffix", [".csv", ".gpkg", ".shp"])
def test_births_read_from_files(tmp_path, suffix):
    """births columns survive the readers (CSV text, GeoPackage, and a Shapefile with births<year>,
    which fits its 10-character column names)."""
    c = _births_communities()
    if suffix == ".shp":
        c = c.rename(columns=lambda k: k.replace("births_", "births"))
    folder = synth.write_area(tmp_path / "a", layers={"communities": c}, policy="wuxi-2025",
                              suffix={"communities": suffix})
    com = load_area(folder).communities
    assert com.loc["C11", "infants"] == pytest.approx(326.7)
    assert com.loc["C11", "infants_source"] == "births"
    assert "births_2025" in com.columns


def _births_error(**cols) -> DataError:
    c = synth.communities()
    for k, v in cols.items():
        c[k] = v
    with pytest.raises(DataError) as ei:
        make_area(**_layers(communities=c), file_names={"communities": "xiaoqu.csv"})
    return ei.value


@pytest.mark.parametrize("values,message", [
    (["约100"] + [100] * 11, "births_2024 is not a number"),
    ([-5] + [100] * 11, "births_2024 is negative or infinite"),
    ([np.inf] + [100] * 11, "births_2024 is negative or infinite"),
])
def test_bad_births_values(values, message):
    e = _births_error(births_2024=values)
    text = str(e)
    assert "xiaoqu.csv" in text and message in text and "C10" in text and "fix:" in text
    assert e.problems[0].ids == ("C10",)


@pytest.mark.parametrize("column", ["births_23", "births_2023a", "births_", "births_202", "Births_2023.0"])
def test_births_column_without_a_year(column):
    e = _births_error(**{column: [100] * 12})
    assert f"column {column!r}" in str(e) and "four-digit" in str(e) and "births_2024" in str(e)
    assert "Shapefile" in e.problems[0].fix


def test_births_same_year_twice_and_all_problems_together():
    e = _births_error(births_2024=[100] * 12, births2024=[100] * 12, births_2025=["x"] + [1] * 11)
    msgs = [p.message for p in e.problems]
    assert "births of 2024 are given in two columns" in msgs
    assert "births_2025 is not a number" in msgs


def test_empty_births_cells_are_allowed():
    """Empty, None and blank cells: that year is unknown for that row.  C10–C12 have no births →
    population share (C10: 2000 × 0.0277 = 55.4); C20 has 2025 only → 50 × 0.99 = 49.5."""
    c = synth.communities()
    c["births_2025"] = ["", None, " "] + [50] * 9
    com = make_area(**_layers(communities=c), policy="wuxi-2025").communities
    assert com.loc["C10", "infants_source"] == "population share"
    assert com.loc["C10", "infants"] == pytest.approx(55.4)
    assert com.loc["C20", "infants_source"] == "births" and com.loc["C20", "infants"] == pytest.approx(49.5)


def test_cli_validate_bad_births(tmp_path, capsys):
    """`tuoyu-geo validate DIR` on a births column with text: exit 2, the file, the id and the fix."""
    c = synth.communities()
    c["births_2024"] = ["很多"] + [100] * 11
    folder = synth.write_area(tmp_path / "b", layers={"communities": c}, suffix={"communities": ".csv"})
    assert main(["validate", str(folder)]) == 2
    out = capsys.readouterr().out
    assert "communities.csv" in out and "births_2024 is not a number" in out and "C10" in out
    assert "Traceback" not in out


# ------------------------------------------------------------------------------------ demand_places

def test_implied_rate_by_hand():
    """wuxi-2025: 4.5 / (1000 × 0.0277) = 0.16245…; 1000 infants → 162.45 places.
    A profile with 50 places per 1000: 50 / 27.7 > 1 → capped at 1."""
    p = tg.load_policy("wuxi-2025")
    assert implied_enrolment_rate(p) == pytest.approx(4.5 / 27.7)
    assert demand_rate(p) == pytest.approx(0.162455, abs=1e-6)
    assert demand_places(1000, p) == pytest.approx(162.4548736)
    assert implied_enrolment_rate(p.replace(places_per_1000=50)) == 1.0
    assert implied_enrolment_rate(p.replace(places_per_1000=0)) == 0.0
    assert "估算" in demand_rate_basis(p)


def test_rate_from_profile_then_argument():
    """Profile enrolment_rate 0.3: 1000 infants → 300; the run's 0.5 overrides it → 500."""
    p = tg.load_policy("wuxi-2025", enrolment_rate=0.3)
    assert demand_places(1000, p) == pytest.approx(300.0)
    assert demand_places(1000, p, enrolment_rate=0.5) == pytest.approx(500.0)
    assert demand_places(1000, "wuxi-2025", enrolment_rate=1) == 1000.0
    assert "政策档案" in demand_rate_basis(p) and "本次运行" in demand_rate_basis(p, enrolment_rate=0.5)


def test_demand_shapes():
    p = tg.load_policy("wuxi-2025", enrolment_rate=0.25)
    s = pd.Series([100.0, 0.0, 40.0], index=["C1", "C2", "C3"])
    out = demand_places(s, p)
    assert isinstance(out, pd.Series) and list(out.index) == ["C1", "C2", "C3"]
    assert out.tolist() == [25.0, 0.0, 10.0]
    assert demand_places(np.array([4.0, 8.0]), p).tolist() == [1.0, 2.0]
    assert isinstance(demand_places(8, p), float)


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, np.nan, "0.3", True])
def test_bad_rate_argument(rate):
    with pytest.raises(DataError, match="is not a 入托率 in \\(0, 1\\]"):
        demand_places(100, "wuxi-2025", enrolment_rate=rate)


def test_bad_infants():
    with pytest.raises(DataError, match=r"infants must be finite numbers ≥ 0 \(C2\)"):
        demand_places(pd.Series([1.0, -1.0], index=["C1", "C2"]), "wuxi-2025")
    with pytest.raises(DataError, match="infants must be finite"):
        demand_places([1.0, np.nan], "wuxi-2025")
