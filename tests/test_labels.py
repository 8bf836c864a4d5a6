"""report.labels: THE one Chinese label table — generated names, suffixes, rule status labels,
definitions and number formats, and agreement with the input aliases of the area schema."""

from __future__ import annotations

import pytest

from tuoyu_geo.area import COLUMN_ALIASES
from tuoyu_geo.report import labels as L
from tuoyu_geo.rules import RULES


def test_identifiers_use_the_input_alias_spelling():
    for col, zh in (("street_id", "街道编号"), ("community_id", "小区编号"), ("institution_id", "机构编号"),
                    ("site_id", "站点编号")):
        assert L.label(col) == zh and zh in COLUMN_ALIASES[col]
    # every label of a contract column that has aliases is one of them (exports read back as inputs)
    for col in ("name", "population", "places", "category", "kind", "district", "max_places", "built_year"):
        assert L.label(col) in COLUMN_ALIASES[col], col


def test_status_labels_come_from_the_rules():
    scored = [r for r in RULES if r.status_column]
    assert len(scored) >= 4
    for rule in scored:
        assert L.label(rule.status_column) == f"{rule.name}状态"
    assert L.label("status") == "综合状态"
    for rule in scored:
        assert rule.name in L.definition("status")


def test_generated_names_and_suffixes():
    assert L.label("cover15_any") == "15分钟覆盖率（任一机构）"
    assert L.label("cover7.5_puhui") == "7.5分钟覆盖率（普惠机构）"
    assert L.label("within10_any") == "10分钟内有托育机构"
    assert L.label("within15_puhui_before") == "15分钟内有普惠机构（方案前）"
    assert L.label("places_after") == "托位数（方案后）"
    assert L.label("nearest_puhui_m_after") == "最近普惠机构距离（米）（方案后）"
    assert L.label("not_a_column") == "not_a_column" and L.label("_after") == "_after"
    assert L.minute_key(15.0) == "15" and L.minute_key(7.5) == "7.5"
    assert L.labels(["street_id", "geometry"]) == {"street_id": "街道编号", "geometry": "geometry"}


def test_one_column_one_label_and_no_label_shared():
    zh = list(L.LABELS_ZH.values())
    dup = {v for v in zh if zh.count(v) > 1}
    assert not dup, f"two columns with the same Chinese header: {dup}"
    with pytest.raises(TypeError):
        L.LABELS_ZH["street_id"] = "街道编码"  # read-only


def test_definitions():
    assert "编号" in L.definition("street_id") and "编码" not in L.definition("street_id")
    assert L.definition("cover15_puhui") == L.DEFINITIONS["coverN"]
    assert L.definition("within5_any_before") == L.DEFINITIONS["withinN"]
    assert L.definition("g2sfca_all") == L.DEFINITIONS["sfca"]
    assert L.definition("population", "community") != L.definition("population", "street")
    assert L.definition("not_a_column") == ""


def test_number_formats():
    assert L.number_format("puhui_share") == "0.0%" and L.number_format("puhui_share_after") == "0.0%"
    assert L.number_format("cover10_puhui") == "0.0%" and L.number_format("within10_puhui") is None
    assert L.number_format("places_per_1000") == "0.00" and L.number_format("name") is None
    assert L.number_formats(["puhui_share", "name"]) == {"普惠托位占比": "0.0%"}
