"""Service areas merged per 街道 (issue 17): the merged polygon of a group of facilities, the
pruned union, the ``settings.ISO_MERGE_ABOVE`` switch in ``assess`` and what the outputs say.

The merged area of a group is computed from the shortest walking distance to every node from any of
its facilities; it must equal the union of the facilities' own areas.  Hand figures use the buffer
polygons' round caps: with ``quad_segs = 16`` a cap is half of a 64-gon inscribed in the circle of
radius w, so a strip of length L buffered by w has area 2·w·L + 32·w²·sin(π/32).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import closing

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook
from test_maps import MK, _features, _layers, build_assessment

import tuoyu_geo.network as nw
from tuoyu_geo import pipeline, settings
from tuoyu_geo.network import service
from tuoyu_geo.report import export, maps
from tuoyu_geo.report.labels import ISO_MERGED_ZH, label

CRS = "EPSG:32651"
X0, Y0 = 350_000.0, 3_450_000.0
W = 50.0
CAP = 32 * W**2 * np.sin(np.pi / 32)  # two half 64-gons = one 64-gon of radius W


def _net(x, y, u, v) -> nw.WalkNet:
    x, y = np.asarray(x, float) + X0, np.asarray(y, float) + Y0
    u, v = np.asarray(u), np.asarray(v)
    return nw.WalkNet.from_arrays(crs=CRS, x=x, y=y, u=u, v=v, length=np.hypot(x[u] - x[v], y[u] - y[v]))


def _pts(xy) -> gpd.GeoSeries:
    return gpd.GeoSeries(shapely.points(np.asarray(xy, float) + [X0, Y0]), crs=CRS)


@pytest.fixture(scope="module")
def plus():
    """A plus: centre C(0, 0), arms of 600 m to W, E, S, N (nodes 1–4)."""
    return _net([0, -600, 600, 0, 0], [0, 0, 0, -600, 600], [0, 0, 0, 0], [1, 2, 3, 4])


def test_merged_area_of_two_facilities_by_hand(plus):
    """P on the west arm at (−200, 0) and Q on the north arm at (0, 250), 300 m, w = 50 m.

    P reaches x ∈ [−500, 0] and, with 100 m left at C, x ≤ 100 and y ∈ [−100, 100]: strips of 600 m
    and 200 m crossing in a 100 × 100 square, (100·600 + CAP) + (100·200 + CAP) − 100² = 85,682.8 m².
    Q reaches y ∈ [0, 550] and, with 50 m left at C, y ≥ −50 and x ∈ [−50, 50]: strips of 600 m and
    100 m, (100·600 + CAP) + (100·100 + CAP) − 100² = 75,682.8 m².  Together: x ∈ [−500, 100] (600 m)
    and y ∈ [−100, 550] (650 m): (100·600 + CAP) + (100·650 + CAP) − 100² = 130,682.8 m² — the east and
    south arms get P's 100 m, the larger of the two remaining distances at C (the nearer facility)."""
    pts = _pts([(-200, 0), (0, 250)])
    each = nw.service_areas(plus, pts, max_distance_m=300, buffer_m=W)
    labels, merged = nw.grouped_service_areas(plus, pts, ["A", "A"], max_distance_m=300, buffer_m=W)
    assert list(labels) == ["A"] and len(merged) == 1
    assert [g.area for g in each] == pytest.approx([70_000 + 2 * CAP, 60_000 + 2 * CAP], rel=1e-9)
    assert merged[0].area == pytest.approx(115_000 + 2 * CAP, rel=1e-9)
    union = shapely.union_all(each)
    assert merged[0].area == pytest.approx(union.area, rel=1e-6)
    assert shapely.symmetric_difference(merged[0], union).area <= 1e-6 * union.area


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_groups_are_separate_and_far_points_empty(plus, threads, monkeypatch):
    """Two groups give two polygons in the order their labels first appear; a group whose only
    point lies 400 m from the network (more than the 300 m cutoff) gets an empty polygon.  The same
    in one thread and in a pool (``settings.SERVICE_AREA_THREADS``): one task per group, results in
    group order."""
    monkeypatch.setattr(settings, "SERVICE_AREA_THREADS", threads)
    pts = _pts([(0, 200), (-200, 0), (400, 400)])  # the last is 400 m from the east and north arms
    labels, geoms = nw.grouped_service_areas(plus, pts, ["n", "w", "far"], max_distance_m=300, buffer_m=W)
    assert list(labels) == ["n", "w", "far"]
    each = nw.service_areas(plus, pts, max_distance_m=300, buffer_m=W)
    assert geoms[0].area == pytest.approx(each[0].area, rel=1e-9)
    assert geoms[1].area == pytest.approx(each[1].area, rel=1e-9)
    assert geoms[2].is_empty
    with pytest.raises(ValueError, match="2 group labels for 3 points"):
        nw.grouped_service_areas(plus, pts, ["a", "b"], max_distance_m=300)


@pytest.fixture(scope="module")
def grid_with_park():
    """A 19 × 19 street grid at 33 m spacing (594 × 594 m; not a multiple of the 10 m raster cells)
    without the streets inside a park: the nodes with 240 < x < 360 and 240 < y < 360 are removed,
    the streets around it run at 231 and 363 m.  The park's middle (297, 297) lies 66 m from every
    street: a hole of the 50 m service area that a careless pruning would fill."""
    n, d = 19, 33.0
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x, y = (ii * d).ravel(), (jj * d).ravel()
    nid = np.arange(n * n).reshape(n, n)
    e = np.vstack([np.stack([nid[:-1, :].ravel(), nid[1:, :].ravel()], 1),
                   np.stack([nid[:, :-1].ravel(), nid[:, 1:].ravel()], 1)])
    park = (x > 240) & (x < 360) & (y > 240) & (y < 360)
    e = e[~park[e[:, 0]] & ~park[e[:, 1]]]
    return _net(x, y, e[:, 0], e[:, 1])


def test_pruned_union_is_the_plain_union(grid_with_park):
    """Three facilities, at the grid's corners (0, 0) and (594, 594) and at (297, 0), 450 m: the merged area by the
    pruned union equals the plain union of all its buffered pieces (1e-9) and keeps the park's hole;
    most pieces are inside covered cells and are not buffered at all."""
    net = grid_with_park
    pts = _pts([(0, 0), (594, 594), (297, 0)])
    s = net.snap(pts, ids=["a", "b", "c"])
    cutoff = 450.0
    r, c, v = service._reached(net, s, cutoff)
    o = np.lexsort((v, c))
    c, v = c[o], v[o]
    first = np.r_[True, c[1:] != c[:-1]]
    pieces = np.asarray([*(service._own_piece(net, s, i, cutoff) for i in range(3)),
                         *service._node_pieces(net, cutoff, c[first], v[first])], dtype=object)
    plain = shapely.union_all(shapely.buffer(pieces, W, quad_segs=16))
    pruned = service._union_pruned(pieces, W, 16)
    assert pruned.area == pytest.approx(plain.area, rel=1e-9)
    assert shapely.symmetric_difference(pruned, plain).area <= 1e-6 * plain.area
    assert sum(len(p.interiors) for p in getattr(pruned, "geoms", [pruned])) == \
        sum(len(p.interiors) for p in getattr(plain, "geoms", [plain])) >= 1  # the park
    _, _, _, covered = service._covered_cells(pieces, W, 16)
    assert covered.mean() > 0.5
    # and the public function gives the same polygon as the union of the per-facility areas
    _, merged = nw.grouped_service_areas(net, s, ["g"] * 3, max_distance_m=cutoff, buffer_m=W)
    each = nw.service_areas(net, s, max_distance_m=cutoff, buffer_m=W)
    assert merged[0].area == pytest.approx(shapely.union_all(each).area, rel=1e-9)
    assert nw.service_areas(net, s, max_distance_m=cutoff, buffer_m=W, prune=True)[2].area == \
        pytest.approx(each[2].area, rel=1e-9)


def test_covered_cells_are_inside_the_union(grid_with_park):
    """Every covered cell lies inside the plain union (the bound holds), and the park's middle
    (297, 297), 66 m from the nearest street, is not covered."""
    net = grid_with_park
    pieces = np.asarray(list(net.geoms), dtype=object)
    plain = shapely.union_all(shapely.buffer(pieces, W, quad_segs=16))
    x0, y0, cell, covered = service._covered_cells(pieces, W, 16)
    rows, cols = np.nonzero(covered)
    boxes = shapely.box(x0 + cols * cell, y0 + rows * cell, x0 + (cols + 1) * cell, y0 + (rows + 1) * cell)
    assert shapely.contains(shapely.buffer(plain, 1e-6), boxes).all()
    r, c = int((Y0 + 297 - y0) // cell), int((X0 + 297 - x0) // cell)
    assert not covered[r, c]


# ---------------------------------------------------------------------------------- assess and outputs

@pytest.fixture(scope="module")
def a(tmp_path_factory):
    return build_assessment(tmp_path_factory.mktemp("area"))


@pytest.fixture(scope="module")
def merged(a):
    """The fixture's assessment with its service areas made as for a city (threshold 0)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "ISO_MERGE_ABOVE", 0)
        iso = pipeline._service_areas(a.area, nw.WalkNet.from_area(a.area), a.plan, a.minutes)
    return dataclasses.replace(a, isochrones=iso)


def test_threshold_switch(a, merged, monkeypatch):
    """Up to ``ISO_MERGE_ABOVE`` facilities of a kind: one area each, the columns of before; above
    it: one area per 街道 of the kind's facilities, equal to the union of their own areas (1e-6)."""
    iso = a.isochrones
    assert list(iso.columns) == ["id", "kind", "name", "minutes", "distance_m", "area_m2", "geometry"]
    n = {k: int((iso["kind"] == k).sum()) for k in ("existing_puhui", "recommended")}
    assert min(n.values()) >= 2
    net = nw.WalkNet.from_area(a.area)
    # exactly at the threshold (n = ISO_MERGE_ABOVE): not merged; one less: merged
    monkeypatch.setattr(settings, "ISO_MERGE_ABOVE", n["recommended"])
    at = pipeline._service_areas(a.area, net, a.plan, a.minutes)
    assert (at["kind"] == "recommended").sum() == n["recommended"]
    monkeypatch.setattr(settings, "ISO_MERGE_ABOVE", n["recommended"] - 1)
    below = pipeline._service_areas(a.area, net, a.plan, a.minutes)
    rec = below[below["kind"] == "recommended"]
    street = a.area.candidates["street_id"].reindex(a.plan.sites.index)
    assert rec["merged"].all() and sorted(rec["id"]) == sorted(street.unique())
    assert rec["facilities"].sum() == n["recommended"]
    # the other kind (fewer facilities) keeps one area each, marked as such
    ex = below[below["kind"] == "existing_puhui"]
    if n["existing_puhui"] <= n["recommended"] - 1:
        assert len(ex) == n["existing_puhui"] and (~ex["merged"]).all() and (ex["facilities"] == 1).all()
    # merged = union of the per-facility areas, per 街道 and kind
    metric = a.area.metric_crs
    per = iso.to_crs(metric)
    mer = merged.isochrones.to_crs(metric)
    for kind, layer in (("existing_puhui", a.area.institutions), ("recommended", a.area.candidates)):
        p = per[per["kind"] == kind]
        sid = layer["street_id"].reindex(p["id"]).to_numpy()
        for _, row in mer[mer["kind"] == kind].iterrows():
            u = shapely.union_all(p.geometry.to_numpy()[sid == row["street_id"]])
            assert row.geometry.area == pytest.approx(u.area, rel=1e-6), (kind, row["street_id"])
            assert row["facilities"] == int((sid == row["street_id"]).sum())
            assert row["name"] == a.area.streets.at[row["street_id"], "name"]


def test_map_draws_merged_areas_with_their_labels(merged):
    """The map draws the merged rows as they are (no second dissolve), one feature per row, the
    tooltip from the label table naming the 街道 and how many facilities were merged."""
    layer = _layers(maps.coverage_map(merged))[f"推荐站点{MK}分钟服务范围"]
    rec = merged.isochrones[merged.isochrones["kind"] == "recommended"]
    tips = [f["properties"]["_t"] for f in _features(layer)]
    assert len(tips) == len(rec)
    want = {ISO_MERGED_ZH["tooltip"].format(street=maps._e(n), who="推荐站点", mk=MK, n=k)
            for n, k in zip(rec["name"], rec["facilities"], strict=True)}
    assert set(tips) == want and all("处合并" in t for t in tips)


def test_exports_say_the_areas_are_merged(merged, tmp_path):
    """GeoPackage: the 服务范围 layer holds the merged rows with facilities/merged (aliases from
    the label table) and its description says they are merged; the manifest records per kind
    facilities, areas and merged_per_street; the XLSX 方案参数 sheet has one row per kind."""
    paths = export.export_plan(merged, tmp_path / "out", formats=("gpkg", "xlsx", "shp"))
    shp = gpd.read_file(f"zip://{paths['shp']}!service_areas.shp")
    assert len(shp) == len(merged.isochrones) and shp["facilities"].sum() == merged.isochrones["facilities"].sum()
    gdf = pyogrio.read_dataframe(paths["gpkg"], layer="服务范围")
    iso = merged.isochrones
    assert len(gdf) == len(iso) and gdf["facilities"].sum() == iso["facilities"].sum()
    assert gdf["merged"].astype(bool).all()
    man = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    rec = man["service_areas"]["kinds"]["recommended"]
    n_rec = int(iso.loc[iso["kind"] == "recommended", "facilities"].sum())
    assert rec["merged_per_street"] is True and rec["facilities"] == n_rec
    assert rec["areas"] == int((iso["kind"] == "recommended").sum()) and "按街道合并" in rec["note"]
    assert man["columns"]["gpkg_fields"]["服务范围"]["facilities"] == label("facilities") == "合并的设施数"
    with closing(sqlite3.connect(paths["gpkg"])) as con:
        desc = con.execute("SELECT description FROM layer_styles WHERE f_table_name = '服务范围'").fetchone()[0]
        alias = con.execute("SELECT name, description FROM gpkg_data_columns WHERE table_name = '服务范围' "
                            "AND column_name = 'merged'").fetchone()
    assert "按街道合并" in desc and alias[0] == "按街道合并" and "ISO_MERGE_ABOVE" in alias[1]
    ws = load_workbook(paths["xlsx"], read_only=True)["方案参数"]
    rows = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r and r[0]}
    key = "服务范围 service areas（推荐站点）"
    assert key in rows and f"{n_rec:,} 处" in rows[key] and "合并为" in rows[key]


def test_unmerged_exports_say_one_area_each(a, tmp_path):
    """Below the threshold the manifest says one area per facility and the layer has no new columns."""
    paths = export.export_plan(a, tmp_path / "out", formats=("gpkg",))
    man = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    assert all(not k["merged_per_street"] and k["facilities"] == k["areas"]
               for k in man["service_areas"]["kinds"].values())
    cols = set(pyogrio.read_info(paths["gpkg"], layer="服务范围")["fields"])
    assert not {"facilities", "merged", "street_id"} & cols


def test_merge_by_in_isochrones(a):
    """``isochrones(..., merge_by="street_id")``: one row per 街道, ``facilities`` counts them."""
    from tuoyu_geo.access import isochrones

    ids = list(a.plan.sites.index)
    g = isochrones(a.area, minutes=a.minutes, layer="candidates", ids=ids, merge_by="street_id")
    street = a.area.candidates["street_id"].reindex(ids)
    assert list(g.columns) == ["id", "facilities", "minutes", "distance_m", "area_m2", "geometry"]
    assert list(g.index) == list(pd.unique(street)) and g["facilities"].tolist() == \
        street.value_counts(sort=False).reindex(g.index).tolist()
    # without a walk network: the union of the facilities' discs (straight line × detour factor)
    plain = a.area.replace(graph=None)
    discs = isochrones(plain, minutes=a.minutes, layer="candidates", ids=ids).to_crs(a.area.metric_crs)
    merged = isochrones(plain, minutes=a.minutes, layer="candidates", ids=ids, merge_by="street_id")
    for sid, row in merged.to_crs(a.area.metric_crs).iterrows():
        u = shapely.union_all(discs.geometry.to_numpy()[(street == sid).to_numpy()])
        assert row.geometry.area == pytest.approx(u.area, rel=1e-6) and u.area > 0
