"""The 专项规划 report (report/document.py, report/pdf.py) and budget scenarios (scenarios.py).

The report is checked on the synthetic four-街道 grid of ``synth.py`` (national-2025: 4.5 places
per 1000, 普惠 share ≥ 60 %, 一街道一普惠), planned with a budget of 200 万元.  Worked by hand:

* 街道 populations 6,000 / 7,000 / 8,000 / 9,000 = 30,000; institutions I1 公办 20, I2 普惠 25,
  I3 民办 30, I4 幼儿园托班 35 places; 普惠 by category (``PUHUI_CATEGORIES``: 公办, 普惠, 社区托育点,
  综合服务中心) are I1 and I2 (45 places).  So places 110, per 1000 = 110 / 30,000 × 1000 = 3.67,
  普惠 share 45 / 110 = 40.9 %; 0 街道 达标 (each is below 4.5 per 1000).
* S3 and S4 have no 普惠 institution, so the plan's first stage opens one site in each (a
  candidate costs 50 + 1 × places 万元); two sites of 35 places cost 2 × 85 = 170 ≤ 200, a third
  would cost ≥ 50 + 10 = 60 more (> 200).  The shortfall stage then takes the largest size, 35
  places = 托小班 15 + 托大班 20 (the only whole-class total ≤ 35 that reaches 35).  So: 2 sites,
  70 places, carers 2 × (ceil(15/5) + ceil(20/7)) = 2 × (3 + 3) = 12, floor area 70 × 6 m² = 420,
  cost 170.0 万元; after: 180 places, 180 / 30,000 × 1000 = 6.00 per 1000, 普惠 (45 + 70) / 180
  = 63.9 %.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import geopandas as gpd
import pytest
import synth
from shapely.geometry import Point, box

import tuoyu_geo as tg
from tuoyu_geo.cli import main
from tuoyu_geo.report import document, pdf
from tuoyu_geo.report.labels import REPORT_SECTIONS
from tuoyu_geo.scenarios import compare_budgets


@pytest.fixture(scope="module")
def area():
    return tg.make_area(streets=synth.streets(), communities=synth.communities(),
                        institutions=synth.institutions(), candidates=synth.candidates(),
                        policy="national-2025", graph=synth.grid_graph(), name="synthetic")


@pytest.fixture(scope="module")
def assessed(area):
    return tg.assess(area, "national-2025", plan=tg.PlanOptions(budget_wan=200), with_isochrones=False)


@pytest.fixture(scope="module")
def written(assessed, tmp_path_factory):
    """``write_report`` once (charts and PDF are the slow part); the HTML tests read its file."""
    return document.write_report(assessed, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def html(written):
    return written.html.read_text(encoding="utf-8")


def _cell(html: str, key: str) -> str:
    m = re.search(rf'data-key="{re.escape(key)}">([^<]*)<', html)
    assert m, f"no cell {key}"
    return m.group(1)


def _rows(html: str, section: str) -> list[str]:
    part = re.search(rf'<section id="{section}">(.*?)</section>', html, re.S).group(1)
    return re.findall(r'<tr data-row="([^"]+)"', part.split("<h3>")[0])


def test_every_section_heading_and_self_contained(html, assessed):
    for key, title in REPORT_SECTIONS.items():
        if key != "scenarios":  # only with a comparison (below)
            assert f"、{title}</h2>" in html, title
    assert "、预算情景比较</h2>" not in html
    assert "://" not in html  # no external URL: CSS inline, images as data: URIs
    imgs = re.findall(r'<img [^>]*src="([^"]{0,30})', html)
    assert len(imgs) == 3 and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert "@page { size: A4" in html and "thead { display: table-header-group; }" in html
    # before/after pairs share one header over 方案前 | 方案后
    assert '<th colspan="2">托位数</th>' in html and "<th>方案前</th><th>方案后</th>" in html


def test_site_table_rows_and_totals_equal_the_plan(html, assessed):
    sites = assessed.plan.sites
    assert _rows(html, "plan") == [str(s) for s in sites.sort_values("order").index]
    assert len(sites) == 2 and set(sites["street_id"]) == {"S3", "S4"}
    # hand values (module docstring) and the plan's own sums
    assert _cell(html, "sites_total_places") == "70" == f"{sites['places'].sum():,}"
    assert _cell(html, "sites_total_carers") == "12" == f"{sites['carers'].sum():.0f}"
    assert _cell(html, "sites_total_floor_area_m2") == "420" == f"{sites['floor_area_m2'].sum():,.0f}"
    assert _cell(html, "sites_total_cost") == "170.0" == f"{sites['cost'].sum():,.1f}"
    for col in ("托位数", "班级配置", "保育人员数", "建筑面积估算（平方米）", "投资估算（万元）", "建设年份",
                "推荐理由（满足的规则）"):
        assert f"<th>{col}</th>" in html


def test_summary_numbers_are_the_scorecard_arithmetic(html, assessed):
    assert _cell(html, "places_before") == "110"
    assert _cell(html, "places_after") == "180"
    assert _cell(html, "places_per_1000_before") == "3.67"  # 110 / 30,000 × 1000
    assert _cell(html, "places_per_1000_after") == "6.00"  # 180 / 30,000 × 1000
    assert _cell(html, "puhui_share_before") == "40.9%"  # 45 / 110
    assert _cell(html, "puhui_share_after") == "63.9%"  # 115 / 180
    assert _cell(html, "streets_met_before") == "0"
    assert _cell(html, "new_sites") == "2" and _cell(html, "new_places") == "70"
    assert _cell(html, "unmet_rules") == str(len(assessed.gaps))
    # 现状 table: one row per 街道 and the 合计 row from assessment.total
    assert _rows(html, "status") == ["S1", "S2", "S3", "S4"]
    assert _cell(html, "status_total_population") == "30,000"
    # unmet rules: every gap's reason is printed
    for why in assessed.gaps["why"]:
        assert why.replace("<", "&lt;") in html


def test_pdf_has_the_sections_in_chinese(written):
    """The PDF is rendered where WeasyPrint works (it must on CI); elsewhere the HTML is written
    and the result says why there is no PDF."""
    problem = pdf.pdf_problem()
    files = written
    assert files.html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in files.html.parent.iterdir()) == (
        ["report.html"] if problem else ["report.html", "report.pdf"])
    if problem is not None:
        assert not os.environ.get("CI"), f"CI must render the PDF: {problem}"
        assert files.pdf is None and files.pdf_problem == problem and "fix:" in problem
        return
    pypdf = pytest.importorskip("pypdf")
    data = files.pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(files.pdf)
    assert 5 <= len(reader.pages) <= 14
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    for key, title in REPORT_SECTIONS.items():
        if key != "scenarios":
            assert title.replace(" ", "") in text, title  # extracted Chinese: a CJK font is embedded
    fonts = {str(f.get_object()["/BaseFont"]) for p in reader.pages
             for f in (p["/Resources"].get("/Font") or {}).values()}
    assert any("CJK" in f or "Hei" in f or "Han" in f for f in fonts), fonts


def test_without_renderer_the_html_is_written_and_the_cli_says_why(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pdf, "pdf_problem", lambda: "WeasyPrint is not installed; fix: pip install x")
    folder = synth.write_area(tmp_path / "area", network=True)
    rc = main(["report", str(folder), "--out", str(tmp_path / "rep"), "--budget", "200", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0
    assert (tmp_path / "rep" / "report.html").exists() and not (tmp_path / "rep" / "report.pdf").exists()
    lines = [ln for ln in err.splitlines() if "report.pdf not made" in ln]
    assert lines == ["report.pdf not made: WeasyPrint is not installed; fix: pip install x"]
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------ scenarios

def _tiny_area():
    """Two 街道 of 2,000 residents (target 4.5 / 1000 → 9 places each).

    S1 has a 普惠 institution of 9 places: it meets every rule.  S2 has a 民办 one of 9 places
    (places met; 普惠 share 0 < 60 %; no 普惠 institution).  One candidate K2 in S2: 100 万元 +
    1 万元 per place, at most 15 places; whole-class sizes ≤ 15 are 10 (乳儿班) and 15 (托小班).
    Everything lies within 1,000 m, so coverage and the residential standard hold throughout.

    By hand, per budget: 0 → nothing; 112 → K2 with 10 places (110 万元; 15 would cost 115):
    S2 has a 普惠 institution but 10 / 19 = 53 % < 60 %, still 1 街道 达标; 200 → 15 places
    (15 / 24 = 62.5 % ≥ 60 %), 2 达标, 115 万元; 1000 → the same (K2 is full).
    """
    def cell(c0, r0, c1, r1):
        (x0, y0), (x1, y1) = synth.node_lonlat(c0, r0), synth.node_lonlat(c1, r1)
        return box(x0, y0, x1, y1)

    def pt(c, r):
        return Point(*synth.node_lonlat(c, r))

    streets = gpd.GeoDataFrame([{"street_id": "S1", "name": "甲街道", "population": 2000, "geometry": cell(4, 4, 8, 8)},
                                {"street_id": "S2", "name": "乙街道", "population": 2000, "geometry": cell(8, 4, 12, 8)}],
                               crs=4326)
    comms = gpd.GeoDataFrame([{"community_id": "C1", "name": "甲小区", "population": 2000, "geometry": pt(7, 6)},
                              {"community_id": "C2", "name": "乙小区", "population": 2000, "geometry": pt(9, 6)}],
                             crs=4326)
    inst = gpd.GeoDataFrame([{"institution_id": "I1", "name": "甲托育园", "category": "普惠", "places": 9,
                              "geometry": pt(7, 5)},
                             {"institution_id": "I2", "name": "乙托育园", "category": "民办", "places": 9,
                              "geometry": pt(9, 5)}], crs=4326)
    cand = gpd.GeoDataFrame([{"site_id": "K2", "name": "乙候选", "kind": "社区服务中心", "max_places": 15,
                              "fixed_cost": 100.0, "cost_per_place": 1.0, "geometry": pt(10, 6)}], crs=4326)
    return tg.make_area(streets=streets, communities=comms, institutions=inst, candidates=cand,
                        policy="national-2025", graph=synth.grid_graph(), name="tiny")


@pytest.fixture(scope="module")
def comparison():
    return compare_budgets(_tiny_area(), budgets_wan=[1000, 0, 200, 112, 200])


def test_compare_budgets_equals_the_hand_optimum(comparison):
    t = comparison.table
    assert list(t["budget_wan"]) == [0, 112, 200, 1000]  # sorted, duplicates dropped
    assert list(t["new_places"]) == [0, 10, 15, 15]
    assert list(t["new_cost_wan"]) == [0, 110, 115, 115]
    assert list(t["streets_met_before"]) == [1, 1, 1, 1]
    assert list(t["streets_met_after"]) == [1, 1, 2, 2]
    assert list(t["puhui_share_after"].round(4)) == [0.5, round(19 / 28, 4), round(24 / 33, 4), round(24 / 33, 4)]
    assert all(t["new_places"].diff().dropna() >= 0) and all(t["streets_met_after"].diff().dropna() >= 0)
    assert set(t["solver_status"]) == {"optimal"}
    assert [a.plan.options.budget_wan for a in comparison.assessments] == [0, 112, 200, 1000]
    # one access for all scenarios
    assert len({id(a.access) for a in comparison.assessments}) == 1


def test_compare_rejects_bad_budgets():
    with pytest.raises(ValueError, match="empty"):
        compare_budgets(_tiny_area(), budgets_wan=[])
    with pytest.raises(ValueError, match="≥ 0"):
        compare_budgets(_tiny_area(), budgets_wan=[100, -1])


def test_report_with_scenarios_and_compare_files(comparison, tmp_path):
    a = comparison.assessments[-1]
    html = document.report_html(a, comparison=comparison)
    assert "、预算情景比较</h2>" in html
    rows = _rows(html, "scenarios")
    assert rows[:2] == ["new_sites", "new_places"]
    from tuoyu_geo.report.comparison import write_comparison

    paths = write_comparison(comparison, tmp_path / "cmp")
    assert sorted(p.name for p in paths.values()) == ["budget_comparison.csv", "budget_comparison.xlsx",
                                                      "budget_frontier.png"]
    csv = paths["csv"].read_text(encoding="utf-8-sig").splitlines()
    assert csv[0].startswith("预算（万元）,新增站点数,新增托位数") and len(csv) == 5
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_cli(tmp_path, capsys):
    folder = synth.write_area(tmp_path / "area", network=True)
    rc = main(["compare", str(folder), "--budgets", "0,200", "--out", str(tmp_path / "cmp"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "新增托位数: 0  70" in out  # 200 万元: the two sites of the report test
    assert (tmp_path / "cmp" / "budget_frontier.png").exists()
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(folder), "--budgets", "1000,x", "--out", str(tmp_path / "c2")])
    assert exc.value.code == 2
    assert not Path(tmp_path / "c2").exists()


def test_report_without_a_plan_says_so(area):
    a = tg.assess(area, "national-2025", with_isochrones=False)
    html = document.report_html(a)
    for key, title in REPORT_SECTIONS.items():
        if key != "scenarios":
            assert f"、{title}</h2>" in html, title
    assert "本报告未做选址方案" in html and "未求解选址模型" in html
    assert _cell(html, "places_before") == "110" and "places_after" not in html
    assert len(re.findall(r"<img ", html)) == 1  # the map of now only
    # every 街道 × rule failing now is listed (S1, S2: places; S3, S4: places, 普惠 share, 一街道一普惠)
    gaps = re.search(r'<section id="gaps_now">(.*?)</section>', html, re.S).group(1)
    assert "现状共有 8 项" in gaps
