"""The public API's result objects: frames without index/column clashes, short summaries, a quiet solver.

All on the hand area of ``test_plan`` (three 街道, five communities, two institutions, four
candidates; its module docstring works out the plan by hand).  Figures used below, by hand:

* area: population 10,000 + 4,000 + 4,000 = 18,000; institutions I1 (普惠, 40 places) and I2 (民办,
  20) → 60 places, 40 of them 普惠; graph 11 nodes, 8 two-way edges = 16 directed edges.
* access (cutoff 15 min = 1000 m): the only community–institution paths within 1000 m are C1–I1 150 m
  and C3–I2 900 m → 2 stored pairs; 2 of 5 communities (40.0 %) reach any institution, 1 of 5
  (20.0 %) a 普惠 one; community–candidate pairs C1–K1 700, C2–K1 300, C3–K2 200, C4–K3 400,
  C4–K4 250, C5–K3 500 → 6.
* plan (per-街道 普惠 share, the default): K1 20 + K2 35 + K3 20 = 75 places, 105 万元, 230 infants
  newly within 15 min (C2 50 + C3 80 + C4 60 + C5 40), shortfall 3.5 places.
* after: 60 + 75 = 135 places; per 1000 residents 60 / 18 = 3.33 → 135 / 18 = 7.50; 普惠 share
  40 / 60 = 66.7 % → 115 / 135 = 85.2 %; infants within 15 min of 普惠 100 / 330 = 30.3 % → 100.0 %.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from test_plan import POL, hand_area

import tuoyu_geo as tg
from tuoyu_geo.access import compute_access
from tuoyu_geo.plan import load_plan, plan_sites, save_plan
from tuoyu_geo.report.labels import display_table, display_value, label

#: id column of each layer-like frame (None: the frame has no id column)
ID = {"streets": "street_id", "communities": "community_id", "institutions": "institution_id",
      "candidates": "site_id"}


@pytest.fixture(scope="module")
def a():
    return tg.assess(hand_area(), POL, plan=tg.PlanOptions(budget_wan=500))


def public_frames(a, tmp_path) -> dict[str, pd.DataFrame]:
    """Every DataFrame/GeoDataFrame the API hands out for an assessment with a plan."""
    plan_file = save_plan(a.plan, tmp_path / "plan.json", area=a.area)
    frames = {f"area.{k}": getattr(a.area, k) for k in ID}
    frames |= {f"area_after.{k}": getattr(a.plan.area_after, k) for k in ID}
    frames["area.summary()"] = a.area.summary()
    frames["access.communities"] = a.access.communities
    frames["access_after.communities"] = a.access_after.communities
    for k in ("streets", "communities", "districts", "streets_after", "communities_after", "districts_after",
              "gaps", "rule_table", "equity", "isochrones"):
        frames[k] = getattr(a, k)
    frames["plan.sites"] = a.plan.sites
    frames["plan.street_capacity"] = a.plan.street_capacity
    frames["plan.designated"] = a.plan.designated
    frames["load_plan().sites"] = load_plan(plan_file, a.area).sites
    return frames


def test_no_index_name_equals_a_column(a, tmp_path):
    frames = public_frames(a, tmp_path)
    assert len(frames) == 25
    clashes = {k: df.index.name for k, df in frames.items() if {df.index.name} & set(df.columns)}
    assert clashes == {}


@pytest.mark.parametrize("name, col", [("plan.sites", "site_id"), ("streets", "street_id"),
                                       ("streets_after", "street_id"), ("communities", "community_id"),
                                       ("load_plan().sites", "site_id"), ("area.streets", "street_id")])
def test_id_column_sorts_merges_and_groups(a, tmp_path, name, col):
    """The id is the (unnamed) index and a column holding the same values; sort/merge/groupby on the
    column name work (they raise "ambiguous" when the index carries the same name)."""
    df = public_frames(a, tmp_path)[name]
    assert df.index.name is None and list(df.index) == list(df[col])
    assert list(df.sort_values(col)[col]) == sorted(df[col])
    merged = pd.DataFrame(df.drop(columns="geometry", errors="ignore")).merge(
        pd.DataFrame({col: list(df[col]), "k": range(len(df))}), on=col)
    assert list(merged["k"]) == list(range(len(df)))
    assert df.groupby(col).size().to_dict() == {i: 1 for i in df[col]}


def test_plan_sites_by_site_id(a):
    """The planner's own calls from the issue: sort, merge with the candidates, groupby 街道."""
    sites = a.plan.sites
    assert list(sites.sort_values("site_id")["site_id"]) == ["K1", "K2", "K3"]
    m = sites.merge(pd.DataFrame(a.area.candidates[["site_id", "kind"]]), on="site_id", suffixes=("", "_cand"))
    assert (m["kind"] == m["kind_cand"]).all() and len(m) == 3
    assert sites.groupby("street_id")["places"].sum().to_dict() == {"S1": 20, "S2": 35, "S3": 20}


# ------------------------------------------------------------------------------ summaries

def _summaries(a):
    return {"area": a.area, "access": a.access, "plan": a.plan, "assessment": a}


def test_reprs_are_short_and_html_is_a_table(a):
    for key, obj in _summaries(a).items():
        text, html = repr(obj), obj._repr_html_()
        assert 100 < len(text) < 600, (key, len(text))
        assert text.count("\n") <= 10, key
        assert html.startswith("<table") and html.endswith("</table>") and len(html) < 3000, key
        # the HTML shows the same rows as the text
        for line in text.splitlines()[1:]:
            label = line.strip().split(": ", 1)[0]
            assert f">{label}</th>" in html, (key, label)


def test_repr_numbers_are_the_objects_own(a):
    """See the module docstring for the hand figures."""
    area_r, acc_r, plan_r, a_r = (repr(o) for o in _summaries(a).values())
    assert "population: 18,000" in area_r
    assert "institutions: 2 (普惠 1), places 60 (普惠 40)" in area_r
    assert "walk graph: 11 nodes, 16 edges" in area_r and "candidates: 4" in area_r
    assert "within 15 min of any institution: 2 of 5 (40.0 %)" in acc_r
    assert "within 15 min of a 普惠 institution: 1 of 5 (20.0 %)" in acc_r
    assert "institutions 2, candidates 6" in acc_r
    assert "new 普惠 sites: 3 (75 places)" in plan_r and "cost: 105.0 万元 (budget 500.0 万元)" in plan_r
    assert "newly within 15 min: 230.0" in plan_r and "shortfall: 3.5 places" in plan_r
    assert "solver: optimal" in plan_r
    met_before = int((a.streets["status"] == "达标").sum())
    met_after = int((a.streets_after["status"] == "达标").sum())
    assert f"街道 达标: {met_before} of 3 → {met_after} of 3" in a_r
    assert "places: 60 (3.33 per 1000) → 135 (7.50 per 1000)" in a_r
    assert "普惠 share: 66.7 % → 85.2 %" in a_r
    assert "within 15 min of 普惠: 30.3 % → 100.0 %" in a_r
    assert f"unmet rules: {len(a.gaps)}" in a_r and "plan: 3 sites, 75 places, 105.0 万元, optimal" in a_r


def test_repr_of_the_bundled_area_stays_short():
    area = tg.datasets.shanghai_xuhui()
    r = repr(area)
    assert len(r) < 600 and f"小区 communities: {len(area.communities):,}" in r


# ------------------------------------------------------------------------------ quiet solver

@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_solvers_print_nothing_by_default(capfd, solver):
    area = hand_area()
    acc = compute_access(area, POL)
    capfd.readouterr()
    plan = plan_sites(area, acc, POL, solver=solver)
    out, err = capfd.readouterr()
    assert len(plan.sites) == 3
    assert out == ""
    assert "HiGHS" not in err and "Cbc" not in err and "Presolv" not in err


def test_assess_prints_nothing(capfd):
    capfd.readouterr()
    tg.assess(hand_area(), POL, plan=tg.PlanOptions())
    out, err = capfd.readouterr()
    assert out == "" and "HiGHS" not in err


def test_debug_logging_shows_the_solver_log(capfd, caplog):
    """At DEBUG, HiGHS's own log reaches the ``tuoyu_geo.solvers`` logger — still nothing on stdout."""
    area = hand_area()
    acc = compute_access(area, POL)
    capfd.readouterr()
    with caplog.at_level(logging.DEBUG, logger="tuoyu_geo.solvers"):
        plan_sites(area, acc, POL)
    out, _ = capfd.readouterr()
    lines = [r.getMessage() for r in caplog.records if r.name == "tuoyu_geo.solvers"]
    assert out == ""
    assert any(m.startswith("HiGHS: ") and "Presolv" in m for m in lines), lines[:5]
    # without DEBUG the solver's own log is not produced at all
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tuoyu_geo.solvers"):
        plan_sites(area, acc, POL)
    lines = [r.getMessage() for r in caplog.records if r.name == "tuoyu_geo.solvers"]
    assert lines and not any("Presolv" in m for m in lines)


# ------------------------------------------------------------------------------ display tables

def test_display_table_chinese_headers_percent_and_yes_no(a):
    """S1: 40 places, all 普惠 → 100.0 %, has 普惠 是; S2: 20 民办 places → 0.0 %, 否; population 10,000."""
    t = display_table(a.streets, ["name", "population", "places_per_1000", "puhui_share", "has_puhui"])
    assert list(t.columns) == ["名称", label("population"), "每千人口托位数", "普惠托位占比", "有普惠机构"]
    assert t.loc["S1"].tolist() == ["一街道", "10,000", "4.00", "100.0 %", "是"]
    assert t.loc["S2"].tolist() == ["二街道", "4,000", "5.00", "0.0 %", "否"]
    assert not any(isinstance(v, bool) or v in ("True", "False") for v in t.to_numpy().ravel())
    # the source frame is untouched
    assert a.streets["has_puhui"].dtype == bool


def test_display_table_by_row(a):
    """A Series (the total row) and a metric × scenario frame (equity) are formatted by row name."""
    t = display_table(a.total, ["places", "puhui_share", "has_puhui"])
    assert list(t.index) == ["托位数", "普惠托位占比", "有普惠机构"]
    assert t.iloc[:, 0].tolist() == ["60", "66.7 %", "否"]  # 40 / 60; S2 and S3 have no 普惠
    e = display_table(a.equity, ["zero_sfca_share"], by_row=True)
    share = float(a.equity.loc["zero_sfca_share", "before"])
    assert e.loc[label("zero_sfca_share"), label("before")] == f"{100 * share:.1f} %"


def test_display_value():
    assert display_value("puhui_share", 0.15) == "15.0 %"
    assert display_value("cover15_puhui_after", 0.5) == "50.0 %"
    assert display_value("has_puhui", True) == "是" and display_value("x", False) == "否"
    assert display_value("places", 1234.4) == "1,234" and display_value("cost", 12.345) == "12.3"
    assert display_value("built_year", float("nan")) == "" and display_value("name", "甲") == "甲"
    assert display_value("order", 3) == 3  # no number format: unchanged


def test_budget_comparison_summary():
    """Two budgets on the hand area: each line shows its row of the table; with 500 万元 it is the
    plan of the module docstring (3 sites, 75 places, 105 万元).  Before any plan only C1's infants
    (100 of 330 = 30.3 %) reach 普惠 within 15 min."""
    cmp = tg.scenarios.compare_budgets(hand_area(), POL, budgets_wan=[500, 100])
    text, html = repr(cmp), cmp._repr_html_()
    assert len(text) < 600 and text.count("\n") == 2 and html.startswith("<table")
    t = cmp.table
    for b, row in zip(("100.0 万元", "500.0 万元"), t.itertuples(), strict=True):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(b))
        assert f"{row.new_sites} sites, {row.new_places} places, {row.new_cost_wan:.1f} 万元" in line
        assert f"达标 {row.streets_met_before}→{row.streets_met_after}/3" in line and "30.3 % →" in line
    assert "3 sites, 75 places, 105.0 万元" in text
