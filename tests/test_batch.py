"""Province batch on Dask (issue 16): batch = serial per district, the knapsack allocation, bad input.

The province is SYNTHETIC: ``make_province`` copies of the small ``tests/synth.py`` grid area (4
街道, 12 communities, 8 candidates), so that a LocalCluster(processes=False) run of N = 3
districts takes seconds.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth

from tuoyu_geo import DataError
from tuoyu_geo.batch import (
    allocate,
    cluster_client,
    make_province,
    naive_split,
    read_province,
    run_batch,
)
from tuoyu_geo.batch.run import _check_forced
from tuoyu_geo.cli import main
from tuoyu_geo.loading import load_area
from tuoyu_geo.pipeline import assess
from tuoyu_geo.plan import PlanOptions
from tuoyu_geo.report._leaflet import remote_references

pytest.importorskip("distributed")

STEPS = (0.0, 100.0)


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    """Three synthetic districts (N = 3); the third one's communities file breaks the data contract."""
    root = tmp_path_factory.mktemp("prov")
    base = synth.write_area(root / "base", network=True)
    prov = make_province(root / "prov", districts=3, seed=7, base=base, budget_wan=150)
    bad = prov / "D003" / "communities.geojson"
    bad.write_text(bad.read_text(encoding="utf-8").replace('"population": ', '"population": -', 1), encoding="utf-8")
    return prov


@pytest.fixture(scope="module")
def result(province, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    with cluster_client(n_workers=2, processes=False) as client:
        r = run_batch(province, out_dir=out, client=client, budget_steps_wan=STEPS, naive=False)
    return r, out


def test_synthetic_province_is_labelled_and_moved(province):
    """Every name says synthetic; ids carry the district code; districts do not overlap."""
    text = (province / "province.toml").read_text(encoding="utf-8")
    assert "synthetic" in text and "合成" in text
    a1, a2 = load_area(province / "D001"), load_area(province / "D002")
    assert "合成" in a1.name and "synthetic" in a1.name
    assert all(s.startswith("D001-") for s in a1.streets.index)
    assert not a1.streets.union_all().intersects(a2.streets.union_all())
    assert "synthetic" in (province / "README.md").read_text(encoding="utf-8").lower()


def test_batch_equals_serial_per_district(result, province):
    """Each district's scorecard, frontier and allocated plan from the cluster equal a plain serial
    ``assess`` of the same folder, frame by frame and exactly."""
    r, _ = result
    for name in ("D001", "D002"):
        o = r.outcomes[name]
        assert o.ok, o.error
        area = load_area(province / name)
        serial = assess(area, with_isochrones=False)
        pd.testing.assert_frame_equal(o.streets, serial.streets, check_exact=True)
        pd.testing.assert_series_equal(o.total, serial.total, check_exact=True)
        assert [pt.budget_wan for pt in o.frontier] == list(STEPS)
        p = r.plans[name]
        assert p.ok and p.point.budget_wan == r.allocation.choice.loc[name, "budget_wan"]
        for pt in o.frontier:
            s = assess(area, plan=PlanOptions(budget_wan=pt.budget_wan), with_isochrones=False)
            assert pt.streets_met == int((s.streets_after["status"] == "达标").sum())
            assert pt.infants_newly_covered == pytest.approx(s.plan.objective_values["infants_newly_covered"], abs=1e-6)
            assert pt.places == int(s.plan.sites["places"].sum())
            if pt.budget_wan == p.budget_wan:  # the allocated plan, solved again on the cluster
                assert p.point == pt
                pd.testing.assert_frame_equal(p.streets_after, s.streets_after, check_exact=True)


def test_failing_district_reported_and_others_finish(result):
    """D003 (negative population) is reported by name with a DataError naming the file; D001 and
    D002 are written and summarised; nothing of D003 is written or summarised."""
    r, out = result
    assert set(r.failed) == {"D003"}
    assert "DataError" in r.failed["D003"] and "communities.geojson" in r.failed["D003"]
    row = r.districts.set_index("district_key").loc["D003"]
    assert row["run_status"].startswith("跳过")
    assert set(r.streets["district_key"]) == {"D001", "D002"}
    assert not (out / "districts" / "D003").exists()
    for name in ("D001", "D002"):
        assert (out / "districts" / name / "map.html").is_file()
        assert (out / "districts" / name / "tuoyu_plan.xlsx").is_file()
    assert r.allocation.spent_wan <= 150 + 1e-9
    for f in ("province.xlsx", "province_map.html"):
        assert (out / f).is_file()
    html = (out / "province_map.html").read_text(encoding="utf-8")
    assert "districts/D002/map.html" in html and remote_references(html) == []


def test_duplicate_district_names(tmp_path, capsys):
    """Two district folders whose area.toml name the same area: an error naming the second folder
    (the CLI: exit 2 before any work, nothing written)."""
    for d in ("A", "B"):
        synth.write_area(tmp_path / d)
    with pytest.raises(DataError, match=r"B.*also the name of"):
        read_province(tmp_path)
    assert main(["batch", str(tmp_path), "--out", str(tmp_path.parent / "never")]) == 2
    assert "also the name of" in capsys.readouterr().err
    assert not (tmp_path.parent / "never").exists()
    (tmp_path / "province.toml").write_text('districts = ["A", "A"]\n', encoding="utf-8")
    with pytest.raises(DataError, match="listed twice"):
        read_province(tmp_path)


#: hand-made frontiers: (district, budget 万元, 街道 达标, infants newly covered)
FRONTIERS = pd.DataFrame([("A", 0, 0, 0), ("A", 100, 1, 50), ("A", 200, 2, 60),
                          ("B", 0, 0, 0), ("B", 100, 1, 80), ("B", 190, 1, 150),
                          ("C", 0, 0, 0), ("C", 90, 0, 200), ("C", 200, 1, 210)],
                         columns=["district", "budget_wan", "streets_met", "infants_newly_covered"])


def test_knapsack_allocation_hand_checked():
    """Budget 400.  Most 街道 达标 first: 4 is out of reach (A200 + B100 + C200 = 500), 3 is reached
    by A200+B100 (300; 140 infants), A200+B100+C90 (390; 340), A200+B190 (390; 210),
    A100+B100+C200 (400; 340), A200+C200 (400; 270).  Then most infants: 340 (two ways); then least
    budget: A200+B100+C90 = 390.  Optimum: A→200, B→100, C→90; 3 街道, 340 infants, 390 万元.

    Mutation: without the infants stage the least budget among 3-街道 choices wins, A200+B100+C0
    (300 万元, 140 infants); with infants first, A100+B190+C90 (400 infants, only 2 街道)."""
    a = allocate(FRONTIERS, 400)
    assert a.choice["budget_wan"].to_dict() == {"A": 200, "B": 100, "C": 90}
    assert a.objective == {"streets": 3, "infants": 340, "cost": 390}
    no_second = allocate(FRONTIERS, 400, stages=("streets", "cost"))
    assert no_second.choice["budget_wan"].to_dict() == {"A": 200, "B": 100, "C": 0}
    infants_first = allocate(FRONTIERS, 400, stages=("infants", "streets", "cost"))
    assert infants_first.choice["budget_wan"].to_dict() == {"A": 100, "B": 190, "C": 90}
    assert infants_first.objective["streets"] == 2


def test_knapsack_equals_brute_force():
    """An independent enumeration of every choice (3 × 3 × 3) over several budgets agrees."""
    groups = [g for _, g in FRONTIERS.groupby("district")]
    for budget in (0, 90, 150, 250, 300, 389, 400, 590):
        best = None
        for combo in itertools.product(*[g.itertuples() for g in groups]):
            cost = sum(c.budget_wan for c in combo)
            if cost <= budget:
                key = (sum(c.streets_met for c in combo), sum(c.infants_newly_covered for c in combo), -cost)
                best = key if best is None or key > best else best
        a = allocate(FRONTIERS, budget)
        assert (a.objective["streets"], a.objective["infants"], -a.objective["cost"]) == best


def test_budget_below_needs_and_naive_split():
    """A budget below the cheapest points (here: required sites forcing 100 in every district) is
    a DataError naming the districts; naive splits are proportional."""
    f = FRONTIERS[FRONTIERS["budget_wan"] >= 90]
    with pytest.raises(DataError, match="below the least"):
        allocate(f, 250)  # least: A100 + B100 + C90 = 290

    class Forced:
        forced_cost_wan = 120.0

    with pytest.raises(DataError, match=r"required sites.*D1 120"):
        _check_forced({"D1": Forced(), "D2": Forced()}, 200.0)
    _check_forced({"D1": Forced(), "D2": Forced()}, 240.0)
    assert naive_split({"a": 1, "b": 3}, 100) == {"a": 25.0, "b": 75.0}
    assert np.isclose(sum(naive_split({"a": 0, "b": 0}, 10).values()), 10)


def test_scheduler_that_does_not_answer():
    """An address nobody listens on: a DataError naming it, within the timeout."""
    with pytest.raises(DataError, match="tcp://127.0.0.1:9 does not answer"), \
            cluster_client(scheduler="tcp://127.0.0.1:9", timeout_s=1.0):
        pass


@pytest.mark.parametrize("kw, key", [({"n_workers": 0}, "--workers"), ({"n_workers": -3}, "--workers"),
                                     ({"n_workers": 2.5}, "--workers"), ({"budget_wan": 1e300}, "--budget-wan"),
                                     ({"budget_wan": -1.0}, "--budget-wan"),
                                     ({"budget_steps_wan": [-5]}, "--steps"),
                                     ({"budget_steps_wan": [float("nan")]}, "--steps"),
                                     ({"budget_steps_wan": list(range(51))}, "--steps")])
def test_batch_options_are_checked_before_any_work(tmp_path, kw, key):
    """Options no batch can run with are one DataError naming the option, before the province folder
    is even read (the folder here does not exist: a later check would name it instead).  Before,
    ``n_workers=-3`` hung in LocalCluster and negative or 1e300 budget steps ran."""
    from tuoyu_geo.batch import run_batch

    with pytest.raises(DataError) as e:
        run_batch(tmp_path / "missing", out_dir=tmp_path / "out", processes=False, **kw)
    assert e.value.problems[0].file == key
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--workers", "-3"], ["--steps", "-5"],
                                  ["--steps", "1e300"], ["--budget-wan", "1e300"]])
def test_batch_cli_bad_options_exit_2(tmp_path, argv):
    """The same on the command line: argparse usage errors (exit 2), nothing written."""
    with pytest.raises(SystemExit) as e:
        main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), *argv])
    assert e.value.code == 2 and not (tmp_path / "out").exists()



def test_allocation_is_never_worse_than_a_naive_split(tmp_path):
    """Two districts, 300 万元, frontier steps 0 and 200 万元: every district plan of 200 万元 or less
    leaves 2 街道 达标, and the gap split (300 万元 to D001) makes D001's third 街道 达标.  With the
    frontier steps alone the allocation cannot reach that (at most 200 万元 per district: 4 街道); the
    naive splits' plans are frontier points too, so the lexicographic optimum (most 街道 达标, then most
    infants) is at least each split's: 5."""
    base = synth.write_area(tmp_path / "base", network=True)
    prov = make_province(tmp_path / "prov", districts=2, seed=7, base=base, budget_wan=300)
    with cluster_client(n_workers=2, processes=False) as client:
        r = run_batch(prov, out_dir=None, client=client, budget_steps_wan=(0.0, 200.0), naive=True, progress=False)
    ok = [n for n in r.plans if r.plans[n].ok]
    assert ok == ["D001", "D002"]

    def totals(plans):
        return (sum(plans[n].point.streets_met for n in ok), sum(plans[n].point.infants_newly_covered for n in ok))

    best = totals(r.plans)
    assert totals(r.naive["gap"])[0] == 5
    for rule, plans in r.naive.items():
        s, v = totals(plans)
        assert best[0] > s or (best[0] == s and best[1] >= v - 1e-6), (rule, best, (s, v))
    assert best[0] == 5 and r.allocation.spent_wan <= 300 + 1e-9
    # the split points are in the frontier table, each district's points by budget
    for n in ok:
        budgets = r.frontiers.loc[r.frontiers["district"] == n, "budget_wan"].tolist()
        assert budgets == sorted(budgets) and {0.0, 200.0} <= set(budgets)
        assert {r.naive[rule][n].budget_wan for rule in r.naive} <= set(budgets)
    assert list(dict.fromkeys(r.frontiers["district"])) == ["D001", "D002"]
