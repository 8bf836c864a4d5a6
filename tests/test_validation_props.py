"""Input validation by class (issue 15), property-based: every kind of damage to every typed column,
every yes/no and status word, street_id against location, and text encodings.

The expectations are written out here by hand from the data contract (docs/CONTRACTS.md, "Typed
columns"), not read from :mod:`tuoyu_geo.area.columns`, so a change of the parser that breaks the
contract fails here.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import synth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from tuoyu_geo import DataError
from tuoyu_geo.area import make_area
from tuoyu_geo.loading import load_area

FAST = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FILES = settings(max_examples=8, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# (layer, column) → (kind, what a blank cell gives: "error" or the documented default)
# (national-2025: target_year 2025, so a blank available_year is 2024)
TYPED = {
    ("streets", "population"): ("count", "error"),
    ("streets", "infants"): ("count", "estimated"),
    ("communities", "population"): ("count", "error"),
    ("communities", "infants"): ("count", "estimated"),
    ("communities", "households"): ("count", None),
    ("communities", "built_year"): ("year", None),
    ("institutions", "places"): ("count", "error"),
    ("candidates", "max_places"): ("count", "error"),
    ("candidates", "min_places"): ("count", 0.0),
    ("candidates", "fixed_cost"): ("money", "error"),
    ("candidates", "cost_per_place"): ("money", "error"),
    ("candidates", "available_year"): ("year", 2024),
    ("streets", "is_town"): ("bool", False),
    ("communities", "is_new"): ("bool", False),
    ("institutions", "is_demonstration"): ("bool", False),
    ("institutions", "puhui"): ("bool", "category"),
}
GOOD = {"count": 20, "money": 5.0, "year": 2020, "bool": "否"}
ID = {"streets": "street_id", "communities": "community_id", "institutions": "institution_id",
      "candidates": "site_id"}


def _layers(layer: str, col: str, row: int, value) -> dict:
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    g = layers[layer]
    kind = TYPED[(layer, col)][0]
    if col not in g.columns:
        g[col] = GOOD[kind]
    g[col] = g[col].astype(object)
    g.loc[row % len(g), col] = value
    return layers


unit = st.sampled_from(["人", "约", "万", "个", "元", "年", "左右", " approx"])
DAMAGE = {
    "text": st.builds(lambda n, u, front: f"{u}{n}" if front else f"{n}{u}", st.integers(1, 5000), unit,
                      st.booleans()),
    "blank": st.sampled_from([None, np.nan, "", "  ", "nan", "None"]),
    "infinite": st.sampled_from([math.inf, -math.inf, "inf", "-inf", "Infinity"]),
    "negative": st.floats(-1e6, -0.5),
    "huge": st.floats(1e9, 1e300),
    "date": st.sampled_from([pd.Timestamp("2030-01-01"), "2030-01-01", "2030/1/1", "2030年1月"]),
    "word": st.sampled_from(["maybe", "待定", "O", "不详", "yes!", "是的吧"]),
}


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("key", list(TYPED), ids=[f"{a}.{b}" for a, b in TYPED])
@settings(max_examples=1, deadline=None, derandomize=True)
@given(row=st.integers(0, 11), data=st.data())
def test_damaged_typed_cell_is_an_error_naming_column_and_id(key, how, row, data):
    """Every column × every kind of damage (one value drawn per pair).  Text with a unit, ±inf, a
    negative, a value above any plausible bound (≥ 1e9), a date and an unknown word are errors for every number and year column that name the column and the row id;
    a date or a number is an error in a yes/no column only when it is not 1/0; a blank cell is an
    error for population, places, max_places and the two costs, and the documented default
    elsewhere (TYPED)."""
    layer, col = key
    kind, blank = TYPED[key]
    value = data.draw(DAMAGE[how])
    layers = _layers(layer, col, row, value)
    rid = str(layers[layer][ID[layer]].iloc[row % len(layers[layer])])
    if kind == "bool":
        fails = how in ("text", "word", "date", "infinite", "negative", "huge")
    else:
        fails = how != "blank" or blank == "error"
    if fails:
        with pytest.raises(DataError) as ei:
            make_area(**layers)
        mine = [p for p in ei.value.problems if p.message.startswith(col + " ")]
        assert mine, str(ei.value)
        assert rid in mine[0].ids and mine[0].fix and mine[0].file == layer
        return
    area = make_area(**layers)
    got = getattr(area, layer).loc[rid, col]
    if blank is None:
        assert pd.isna(got)
    elif blank == "estimated":
        assert getattr(area, layer).loc[rid, "infants_estimated"]
    elif blank == "category":  # I1 公办, I2 普惠 → 普惠; I3 民办, I4 幼儿园托班 → not
        assert got == (rid in ("I1", "I2"))
    else:
        assert got == blank


FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
count_spelling = st.sampled_from([lambda n: n, lambda n: float(n), lambda n: str(n), lambda n: f" {n} ",
                                  lambda n: f"{n}.0", lambda n: np.int64(n),
                                  lambda n: f"\u3000{n}.0".translate(FULL_WIDTH)])


@FAST
@given(n=st.integers(0, 2000), year=st.integers(1990, 2060), spell=count_spelling, yspell=count_spelling,
       row=st.integers(0, 7))
def test_numbers_and_years_in_any_spelling_parse_exactly(n, year, spell, yspell, row):
    """35, 35.0, "35", " 35 ", "35.0", full-width "３５．０" are all 35 places; a year likewise
    (max_places up to 2000 is allowed)."""
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    k = layers["candidates"]
    k["max_places"] = k["max_places"].astype(object)
    k.loc[row, "max_places"] = spell(n)
    k["available_year"] = [yspell(year) if i == row else 2026 for i in range(len(k))]
    area = make_area(**layers)
    sid = k["site_id"].iloc[row]
    assert area.candidates.loc[sid, "max_places"] == n
    assert area.candidates.loc[sid, "available_year"] == year


WORDS = [("是", True), ("否", False), ("Y", True), ("N", False), ("y", True), ("n", False), ("√", True),
         ("×", False), ("true", True), ("FALSE", False), ("True", True), ("1", True), ("0", False), ("yes", True),
         ("No", False), ("有", True), ("无", False), (1, True), (0, False), (1.0, True), (0.0, False),
         (True, True), (False, False), ("✓", True), ("✗", False)]


@FAST
@given(words=st.lists(st.sampled_from(WORDS), min_size=12, max_size=12), pad=st.sampled_from(["", " ", "\u3000"]))
def test_yes_no_words_in_chinese_and_english(words, pad):
    """Every accepted yes/no word (any case, padded with spaces) reads as the bool it means."""
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    layers["communities"]["is_new"] = [f"{pad}{w}{pad}" if isinstance(w, str) else w for w, _ in words]
    area = make_area(**layers)
    assert area.communities["is_new"].tolist() == [b for _, b in words]


OPEN = ["运营", "营业", "正常", "", "Open", "ACTIVE", "规划"]
CLOSED = ["停业", "已注销", "注销", "关闭", "歇业", "Closed", "吊销"]


@FAST
@given(status=st.lists(st.sampled_from(OPEN + CLOSED), min_size=4, max_size=4).filter(
    lambda s: any(w in OPEN for w in s)))
def test_closed_institutions_do_not_count(status, caplog):
    """Institutions I1–I4 have 20, 25, 30, 35 places; the closed ones are dropped (with a warning
    naming them) and the places left are the sum over the open ones."""
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    layers["institutions"]["status"] = status
    places = dict(zip(["I1", "I2", "I3", "I4"], [20, 25, 30, 35], strict=True))
    open_ids = [i for i, s in zip(places, status, strict=True) if s in OPEN]
    with caplog.at_level(logging.WARNING, logger="tuoyu_geo"):
        caplog.clear()
        area = make_area(**layers)
    assert list(area.institutions.index) == open_ids
    assert area.summary()["places"].sum() == sum(places[i] for i in open_ids)
    closed = [i for i in places if i not in open_ids]
    if closed:
        assert all(i in caplog.text for i in closed) and "closed institution" in caplog.text


@FAST
@given(word=st.text(min_size=1, max_size=6).filter(lambda w: w.strip() and w.strip().lower() not in
                                                  {x.lower() for x in OPEN + CLOSED} | {
                                                      "营业", "在营", "开业", "正常运营", "存续", "在业", "开办",
                                                      "operating", "已停业", "已关闭", "关停", "停办", "已吊销",
                                                      "撤销", "已撤销", "inactive", "deregistered",
                                                      "试运营", "筹建", "在建", "拟建"}),
       row=st.integers(0, 3))
def test_unknown_status_word_is_an_error(word, row):
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    layers["institutions"]["status"] = [word if i == row else "运营" for i in range(4)]
    with pytest.raises(DataError) as ei:
        make_area(**layers)
    (p,) = [p for p in ei.value.problems if p.message.startswith("unknown status")]
    assert p.ids == (f"I{row + 1}",)


# 街道 cells (synth): S1 cols 4–8 rows 4–8, S2 cols 8–12 rows 4–8, S3 cols 4–8 rows 8–12, S4 cols 8–12 rows 8–12
def _streets_at(c: int, r: int) -> set[str]:
    out = set()
    for sid, (c0, r0, c1, r1) in synth.STREET_CELLS.items():
        if c0 <= c <= c1 and r0 <= r <= r1:
            out.add(sid)
    return out


@FAST
@given(c=st.integers(4, 12), r=st.integers(4, 12), given_sid=st.sampled_from(["S1", "S2", "S3", "S4", ""]),
       row=st.integers(0, 7))
def test_street_id_must_agree_with_location(c, r, given_sid, row):
    """A candidate on grid node (c, r) stands in every 街道 whose cell contains the node (border
    nodes: two, the centre node (8, 8): four).  Its street_id may name any of them; another
    街道 is an error naming the site; without one it gets the first in layer order."""
    layers = {k: f() for k, f in synth.LAYER_FUNCS.items()}
    k = layers["candidates"]
    k.loc[row, "geometry"] = Point(*synth.node_lonlat(c, r))
    k["street_id"] = [given_sid if i == row else "" for i in range(len(k))]
    sid = k["site_id"].iloc[row]
    inside = _streets_at(c, r)
    if given_sid and given_sid not in inside:
        with pytest.raises(DataError) as ei:
            make_area(**layers)
        (p,) = [p for p in ei.value.problems if "names another 街道" in p.message]
        assert len(p.ids) == 1 and p.ids[0].startswith(f"{sid} (street_id {given_sid}, stands in ")
        return
    area = make_area(**layers)
    assert area.candidates.loc[sid, "street_id"] == (given_sid or min(inside))


# ------------------------------------------------------------------------------------ files

NAMES = ["合成区", "上海市徐汇区", "测试 area", "滨海新区（2025）"]


@FILES
@given(name=st.sampled_from(NAMES), toml_enc=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]),
       csv_enc=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]), trailing=st.integers(0, 3),
       pad=st.sampled_from(["", " ", "  "]))
def test_encodings_blank_rows_and_padded_headers_are_read(tmp_path_factory, name, toml_enc, csv_enc,
                                                          trailing, pad):
    """area.toml in UTF-8 (± BOM), GBK or UTF-16; an institutions CSV in the same set, with empty
    trailing rows and spaces around header names: the area loads with its name and the 4
    institutions' names and places (20, 25, 30, 35)."""
    folder = synth.write_area(tmp_path_factory.mktemp("enc"), suffix={"institutions": ".csv"})
    t = folder / "area.toml"
    t.write_bytes(t.read_text(encoding="utf-8").replace('"synthetic"', f'"{name}"').encode(toml_enc))
    p = folder / "institutions.csv"
    df = pd.read_csv(p)
    df.columns = [f"{pad}{c}{pad}" for c in df.columns]
    sep = "\t" if csv_enc == "utf-16" else ","
    text = df.to_csv(index=False, sep=sep) + (sep * (len(df.columns) - 1) + "\n") * trailing
    p.write_bytes(text.encode(csv_enc))
    area = load_area(folder)
    assert area.name == name
    assert area.institutions["places"].tolist() == [20, 25, 30, 35]
    assert area.institutions["name"].tolist() == synth.institutions()["name"].tolist()
