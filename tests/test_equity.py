"""Equity of access (tuoyu_geo.equity): weighted Gini, the lowest-access decile and the worst 街道.

Every expected value is worked out by hand from the definitions in the module docstring (and in
docs/CONTRACTS.md), or checked against an independent computation: the O(n²) double sum of the
Gini formula, and the street scorecard's own ``cover15_puhui`` on a real area/access/scorecard.

Formula (x = access, w = infants, W = Σw, μ = Σwx / W):  G = Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ).
Lowest decile: q = the smallest x_k with Σ w[x ≤ x_k] ≥ 0.1 W; share = Σ w[x ≤ q] / W (ties whole).
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

import tuoyu_geo as tg
from tuoyu_geo import DataError
from tuoyu_geo import indicators as ind
from tuoyu_geo.equity import (
    equity_before_after,
    equity_table,
    gini,
    lowest_decile_share,
    lowest_decile_threshold,
)
from tuoyu_geo.report.labels import definition, label

sys.path.insert(0, str(Path(__file__).parent))
import synth  # noqa: E402


def _gini_brute(x, w) -> float:
    """The definition itself: Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ), O(n²)."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    W = w.sum()
    mu = (w * x).sum() / W
    return float((w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum() / (2 * W * W * mu))


# ------------------------------------------------------------------------------------------ gini

def test_gini_equal_weights_by_hand():
    """[0, 0, 1, 1], weights 1: W = 4, μ = 0.5; the ordered pairs (0, 1) and (1, 0) number 2·2·2 = 8,
    each |diff| = 1 → G = 8 / (2 · 4² · 0.5) = 8 / 16 = 0.5."""
    assert gini([0, 0, 1, 1], [1, 1, 1, 1]) == pytest.approx(0.5)
    assert gini([0, 0, 1, 1]) == pytest.approx(0.5)            # weights default to 1
    assert gini([1, 0, 1, 0]) == pytest.approx(0.5)            # order does not matter


def test_gini_weighted_by_hand():
    """Values [0, 1], weights [3, 1]: W = 4, μ = 1/4; Σ_ij w_i w_j |d| = 2 · 3 · 1 · 1 = 6 →
    G = 6 / (2 · 16 · 0.25) = 0.75 — the Gini of [0, 0, 0, 1] (value i repeated w_i times).

    Values [1, 2, 3], weights [1, 1, 2]: W = 4, μ = (1 + 2 + 6) / 4 = 2.25; pairs i < j:
    (1,2) 1·1·1 = 1, (1,3) 1·2·2 = 4, (2,3) 1·2·1 = 2 → 7, ordered 14 → G = 14 / (2 · 16 · 2.25) = 14/72.
    """
    assert gini([0, 1], [3, 1]) == pytest.approx(0.75)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert gini([1, 2, 3], [1, 1, 2]) == pytest.approx(14 / 72)
    assert gini([1, 2, 3, 3]) == pytest.approx(14 / 72)


def test_gini_equal_all_zero_no_weight():
    """All equal → 0 (also all zero: nobody has more access than anyone); Σw = 0 → NaN; a weight 0
    row does not count (as if absent)."""
    assert gini([7, 7, 7], [1, 2, 3]) == 0.0
    assert gini([0, 0], [5, 5]) == 0.0
    assert np.isnan(gini([1, 2], [0, 0]))
    assert gini([0, 1, 100], [3, 1, 0]) == pytest.approx(0.75)


def test_gini_matches_the_double_sum():
    """The O(n log n) form against the O(n²) definition, with ties and zero weights."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(2, 40))
        x = rng.choice([0.0, 0.0, 3.0, 7.5, 12.0, 40.0], n) + rng.random(n) * (rng.random() < 0.5)
        w = rng.integers(0, 300, n).astype(float)
        if w.sum() == 0 or (w * x).sum() == 0:
            continue
        assert gini(x, w) == pytest.approx(_gini_brute(x, w), rel=1e-12, abs=1e-12)


def test_gini_bad_input():
    with pytest.raises(DataError, match="finite numbers ≥ 0"):
        gini([1, -2], [1, 1])
    with pytest.raises(DataError, match="finite numbers ≥ 0"):
        gini([1, np.nan], [1, 1])
    with pytest.raises(DataError, match="weights must be finite"):
        gini([1, 2], [1, -1])
    with pytest.raises(DataError, match="3 values but 2 weights"):
        gini([1, 2, 3], [1, 1])


# ----------------------------------------------------------------------------------- lowest decile

def test_lowest_decile_by_hand():
    """[0, 5, 10] with weights [30, 50, 20]: 30 % of infants already at 0 ≥ 10 % → q = 0, share 0.30.
    Weights [5, 50, 45]: 5 % at 0 < 10 %, 55 % at ≤ 5 → q = 5, share 0.55 (the community that
    crosses 10 % is counted whole).
    Ten values 1..10, weight 1 each: exactly 10 % at ≤ 1 → q = 1, share 0.10 (the only case = 0.1)."""
    assert lowest_decile_threshold([0, 5, 10], [30, 50, 20]) == 0.0
    assert lowest_decile_share([0, 5, 10], [30, 50, 20]) == pytest.approx(0.30)
    assert lowest_decile_threshold([0, 5, 10], [5, 50, 45]) == 5.0
    assert lowest_decile_share([0, 5, 10], [5, 50, 45]) == pytest.approx(0.55)
    assert lowest_decile_threshold(range(1, 11)) == 1.0
    assert lowest_decile_share(range(1, 11)) == pytest.approx(0.10)
    assert lowest_decile_share([10, 1, 5, 2], [1, 1, 1, 1]) == pytest.approx(0.25)   # q = 1 of 4


def test_lowest_decile_ties():
    """Ties count whole: [3, 0, 0] weights [8, 1, 1] → 20 % at 0 → share 0.2.  Values within 1e-9
    relative of q are ties: [1.0, 1.0 + 1e-13, 5] weights [10, 5, 85]: q = 1.0 (exactly 10 %), and
    the 5 infants at 1.0 + 1e-13 are the same access → share 0.15 (0.10 without the tolerance).
    A zero-weight row below the others does not become the threshold."""
    assert lowest_decile_share([3, 0, 0], [8, 1, 1]) == pytest.approx(0.2)
    assert lowest_decile_threshold([1.0, 1.0 + 1e-13, 5], [10, 5, 85]) == 1.0
    assert lowest_decile_share([1.0, 1.0 + 1e-13, 5], [10, 5, 85]) == pytest.approx(0.15)
    assert lowest_decile_share([1.0, 1.001, 5], [10, 5, 85]) == pytest.approx(0.10)
    assert lowest_decile_threshold([0, 4, 9], [0, 50, 50]) == 4.0
    assert np.isnan(lowest_decile_share([1, 2], [0, 0]))


# ------------------------------------------------------------------------------------ equity_table

def _hand_scorecard() -> pd.DataFrame:
    return pd.DataFrame({
        "community_id": ["A", "B", "C", "D"], "street_id": ["S1", "S1", "S2", "S2"],
        "infants": [100.0, 100.0, 50.0, 250.0],
        "sfca_all": [0.0, 10.0, 10.0, 20.0], "sfca_puhui": [0.0, 0.0, 10.0, np.nan],
        "within15_puhui": [False, True, True, True]}).set_index("community_id")


def test_equity_table_by_hand():
    """Communities A–D, infants 100/100/50/250 (W = 500), sfca_all 0/10/10/20:
    sfca_mean = (0 + 1000 + 500 + 5000) / 500 = 13.
    Gini: groups 0 (w 100), 10 (w 150), 20 (w 250); Σ_{i<j} w_i w_j |d| = 100·150·10 + 100·250·20
    + 150·250·10 = 150000 + 500000 + 375000 = 1 025 000; ordered 2 050 000 → G = 2 050 000 /
    (2 · 500² · 13) = 41/130.
    sfca_puhui 0/0/10/NaN→0: W μ = 500, μ = 1; only C (w 50) differs from the others, which are all
    at 0: Σ_{i<j} = (100 + 100 + 250) · 50 · 10 = 225 000 → ordered 450 000 →
    G = 450 000 / (2 · 250 000 · 1) = 0.9.
    Lowest decile: 100/500 = 20 % at 0 ≥ 10 % → q = 0, share 0.2 = zero_sfca_share.
    15-min 普惠 cover: S1 = 100 of 200 = 0.5 (A uncovered), S2 = 300 of 300 = 1 → min 0.5 in S1."""
    t = equity_table(_hand_scorecard())
    assert t.name == "equity"
    assert t["infants"] == 500.0 and t["sfca_mean"] == pytest.approx(13.0)
    assert t["gini_sfca"] == pytest.approx(41 / 130)
    assert t["gini_sfca_puhui"] == pytest.approx(0.9)
    assert t["lowest_decile_sfca"] == 0.0 and t["lowest_decile_share"] == pytest.approx(0.2)
    assert t["zero_sfca_share"] == pytest.approx(0.2)
    assert t["min_street_cover15_puhui"] == pytest.approx(0.5)
    assert t["min_street_cover15_puhui_street"] == "S1"
    assert list(t.index) == ["infants", "sfca_mean", "gini_sfca", "gini_sfca_puhui", "lowest_decile_sfca",
                             "lowest_decile_share", "zero_sfca_share", "min_street_cover15_puhui",
                             "min_street_cover15_puhui_street"]


def test_equity_table_missing_columns():
    cs = _hand_scorecard().drop(columns=["sfca_puhui", "within15_puhui"])
    t = equity_table(cs)
    assert np.isnan(t["gini_sfca_puhui"]) and np.isnan(t["min_street_cover15_puhui"])
    assert t["min_street_cover15_puhui_street"] == ""
    with pytest.raises(DataError, match="infants and sfca_all"):
        equity_table(cs.drop(columns=["sfca_all"]))
    assert "min_street_cover10_puhui" in equity_table(_hand_scorecard().rename(
        columns={"within15_puhui": "within10_puhui"}), minutes=10).index


def test_equity_before_after_by_hand():
    """After: A gets 10 places per 1000 infants and a 普惠 institution in reach → sfca_all
    10/10/10/20: μ = (1000 + 1000 + 500 + 5000) / 500 = 15; Σ_{i<j} = (w 250 at 10)·(250 at 20)·10
    = 625 000 → ordered 1 250 000 → G = 1 250 000 / (2 · 250 000 · 15) = 1/6.  Lowest decile: 50 %
    at 10 → q = 10, share 0.5 (everyone at the lowest level is counted); zero share 0; min cover 1."""
    before = _hand_scorecard()
    after = before.copy()
    after.loc["A", ["sfca_all", "within15_puhui"]] = [10.0, True]
    ba = equity_before_after(before, after)
    assert list(ba.columns) == ["before", "after", "change"]
    assert ba.loc["gini_sfca", "after"] == pytest.approx(1 / 6)
    assert ba.loc["gini_sfca", "change"] == pytest.approx(1 / 6 - 41 / 130)
    assert ba.loc["lowest_decile_share", "after"] == pytest.approx(0.5)
    assert ba.loc["lowest_decile_sfca", "after"] == 10.0
    assert ba.loc["zero_sfca_share", "change"] == pytest.approx(-0.2)
    assert ba.loc["min_street_cover15_puhui", "after"] == pytest.approx(1.0)
    assert ba.loc["min_street_cover15_puhui_street", "after"] in ("S1", "S2")
    assert pd.isna(ba.loc["min_street_cover15_puhui_street", "change"])


def test_equity_on_a_real_scorecard():
    """A real synthetic area (4 街道, 12 communities, 4 institutions on a walk grid), real access
    and scorecards: the Gini equals the double sum over the community scorecard, the minimum street
    cover equals the minimum of the street scorecard's own cover15_puhui, and sfca_mean equals the
    area total's sfca_mean (all three computed elsewhere)."""
    area = tg.make_area(streets=synth.streets(), communities=synth.communities(),
                        institutions=synth.institutions(), candidates=synth.candidates(),
                        policy="wuxi-2025", graph=synth.grid_graph())
    acc = tg.access.compute_access(area)
    cs = ind.community_scorecard(area, acc)
    st = ind.street_scorecard(area, acc, communities=cs)
    t = equity_table(cs)
    x, w = cs["sfca_all"].fillna(0).to_numpy(), cs["infants"].to_numpy()
    assert (x > 0).any() and len(set(np.round(x, 6))) > 1
    assert t["gini_sfca"] == pytest.approx(_gini_brute(x, w), rel=1e-12)
    cover = st["cover15_puhui"].dropna()
    assert t["min_street_cover15_puhui"] == pytest.approx(cover.min())
    assert t["min_street_cover15_puhui_street"] == cover.idxmin()
    total = ind.street_total(st, area.policy)
    assert t["sfca_mean"] == pytest.approx(total["sfca_mean"])
    # a new 普惠 institution next to the worst-served communities changes the figures consistently
    extra = gpd.GeoDataFrame({"institution_id": ["I9"], "name": ["新普惠"], "category": ["普惠"], "places": [40]},
                             geometry=[Point(*synth.node_lonlat(11, 11))], crs="EPSG:4326")
    after_area = area.replace(institutions=pd.concat([area.institutions, extra], ignore_index=True))
    cs2 = ind.community_scorecard(after_area, tg.access.compute_access(after_area))
    ba = equity_before_after(cs, cs2)
    assert ba.loc["gini_sfca", "before"] == pytest.approx(t["gini_sfca"])
    x2 = cs2["sfca_all"].fillna(0).to_numpy()
    assert ba.loc["gini_sfca", "after"] == pytest.approx(_gini_brute(x2, w), rel=1e-12)


def test_labels_and_definitions():
    for col in ("gini_sfca", "gini_sfca_puhui", "lowest_decile_share", "lowest_decile_sfca", "zero_sfca_share",
                "min_street_cover15_puhui", "min_street_cover15_puhui_street"):
        assert label(col) != col and definition(col), col
    assert "2 W² μ" in definition("gini_sfca") and "≥ 10%" in definition("lowest_decile_share")
    assert label("min_street_cover10_puhui") == "街道10分钟普惠覆盖率最低值"
    assert definition("min_street_cover10_puhui") == definition("min_street_cover15_puhui")
    assert label("gini_sfca_after") == "可达性基尼系数（2SFCA）（方案后）"
