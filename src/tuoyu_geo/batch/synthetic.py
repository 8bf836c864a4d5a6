"""A SYNTHETIC province (合成省) for tests and benchmarks: N districts copied from one study area.

Every district is a transformed copy of a base study area (default: the bundled 上海市徐汇区,
:func:`tuoyu_geo.datasets.bundled_path`), built by :func:`make_province` with a seeded
``numpy.random.default_rng(seed)``; the same arguments always give the same files.

For district k (0-based; code ``D{k+1:03d}``):

1. **Streets** — all of the base's 街道, or (``streets_per_district=m``) a cluster of m: a random
   first 街道 and the m − 1 whose centroids are nearest to it.  Communities, institutions and
   candidates of those 街道 go with them; the walk network is cut to the nodes within
   ``NETWORK_MARGIN_M`` of the cluster and its largest connected part.
2. **Moved** — translated in the base's metric CRS by whole kilometres: districts sit on a grid of
   ``ceil(sqrt(N))`` columns, the step being the base's extent rounded up to whole km plus
   ``GAP_KM``; so no two districts overlap.  Lengths of the network are unchanged.
3. **Perturbed** — each 街道's population (and its communities' population and infants) × one
   factor ``U(POPULATION_FACTOR)``; each institution's places × ``U(PLACES_FACTOR)`` (rounded, ≥ 1);
   each candidate's fixed cost and cost per place × ``U(COST_FACTOR)`` (0.1 万元); with
   ``community_share < 1`` a random share of the communities is kept (at least one per 街道).
4. **New ids** — every id gets the district code in front (``D003-XH01``); the 街道's ``district``
   column says ``合成区003`` and the area name ``合成区003（synthetic 合成数据）``.

The province folder holds one folder per district (``D001`` …), ``province.toml`` (name
``合成省（synthetic 合成数据）``, policy, budget, the district list) and ``README.md`` saying the data are
synthetic.  Nothing here is real data about any place.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely import affinity

from ..datasets import bundled_path
from ..loading import load_area
from ..network import save_graph
from ..writer import transaction, write_file

log = logging.getLogger(__name__)

__all__ = ["SYNTHETIC", "make_province"]

#: the label written into every synthetic name
SYNTHETIC = "（synthetic 合成数据）"
#: ranges of the uniform perturbation factors
POPULATION_FACTOR = (0.3, 1.0)
PLACES_FACTOR = (1.0, 2.5)
COST_FACTOR = (0.8, 1.25)
#: km between neighbouring districts
GAP_KM = 2
#: network kept around a street cluster (m)
NETWORK_MARGIN_M = 1500.0
_ID = {"streets": "street_id", "communities": "community_id", "institutions": "institution_id",
       "candidates": "site_id"}
_DERIVED = ("infants_estimated", "infants_source")


def _cluster(streets_m: gpd.GeoDataFrame, m: int | None, rng: np.random.Generator) -> list[str]:
    if m is None or m >= len(streets_m):
        return list(streets_m.index)
    c = streets_m.geometry.centroid
    first = rng.integers(len(streets_m))
    d = c.distance(c.iloc[first]).to_numpy()
    return list(streets_m.index[np.argsort(d, kind="stable")[:m]])


def _graph(G: nx.MultiDiGraph, keep_poly, dx: float, dy: float) -> nx.MultiDiGraph:
    """The part of metric graph ``G`` within ``keep_poly`` (largest weak component), moved."""
    import shapely

    xs = np.array([d["x"] for _, d in G.nodes(data=True)])
    ys = np.array([d["y"] for _, d in G.nodes(data=True)])
    inside = shapely.contains_xy(keep_poly, xs, ys) if keep_poly is not None else np.ones(len(xs), bool)
    H = G.subgraph([n for n, ok in zip(G.nodes, inside, strict=True) if ok])
    if H.number_of_nodes() and keep_poly is not None:
        H = H.subgraph(max(nx.weakly_connected_components(H), key=len))
    out = nx.MultiDiGraph(**{k: v for k, v in G.graph.items()})
    for n, d in H.nodes(data=True):
        out.add_node(n, **{**d, "x": d["x"] + dx, "y": d["y"] + dy})
    for u, v, d in H.edges(data=True):
        e = dict(d)
        if "geometry" in e:
            e["geometry"] = affinity.translate(e["geometry"], dx, dy)
        out.add_edge(u, v, **e)
    return out


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _district(base, code: str, number: int, offset_m: tuple[float, float], rng: np.random.Generator, *,
              streets_per_district: int | None, community_share: float) -> dict[str, gpd.GeoDataFrame]:
    """Layers (metric CRS, moved, perturbed, new ids) of one synthetic district."""
    mc = base.metric_crs
    layers = {k: getattr(base, k).to_crs(mc) for k in _ID}
    keep = _cluster(layers["streets"].set_index("street_id", drop=False), streets_per_district, rng)
    for k in _ID:
        g = layers[k]
        layers[k] = g[g["street_id"].astype(str).isin(keep)].copy()
    st, cm = layers["streets"], layers["communities"]
    f = pd.Series(_uniform(rng, POPULATION_FACTOR, len(st)), index=st["street_id"].astype(str).to_numpy())
    for k, g in (("streets", st), ("communities", cm)):
        fac = g["street_id"].astype(str).map(f).to_numpy()
        g["population"] = np.round(g["population"].to_numpy(float) * fac)
        if "infants" in g and not g.get("infants_estimated", pd.Series(False, index=g.index)).all():
            g["infants"] = np.round(g["infants"].to_numpy(float) * fac, 1)
        else:
            layers[k] = g.drop(columns=["infants"], errors="ignore")
    st, cm = layers["streets"], layers["communities"]
    if community_share < 1.0:
        u = rng.random(len(cm))
        first = ~cm["street_id"].duplicated()  # one community per 街道 is always kept
        layers["communities"] = cm = cm[(u < community_share) | first.to_numpy()].copy()
    inst = layers["institutions"]
    inst["places"] = np.maximum(1, np.round(inst["places"].to_numpy(float) * _uniform(rng, PLACES_FACTOR, len(inst))))
    cand = layers["candidates"]
    for col in ("fixed_cost", "cost_per_place"):
        if col in cand:
            cand[col] = np.round(cand[col].to_numpy(float) * _uniform(rng, COST_FACTOR, len(cand)), 1)
    st["district"] = f"合成区{number:03d}"
    out = {}
    for k, g in layers.items():
        g = g.drop(columns=[c for c in _DERIVED if c in g.columns])
        for col in dict.fromkeys(("street_id", _ID[k])):
            g[col] = code + "-" + g[col].astype(str)
        g = g.set_geometry(g.geometry.translate(*offset_m))
        out[k] = gpd.GeoDataFrame(g.reset_index(drop=True), crs=mc).to_crs("EPSG:4326")
    return out


def _area_toml(name: str, metric_crs: str, policy: str, attribution: str, network: bool) -> str:
    lines = [f'name = "{name}"',
             'description = "合成数据 SYNTHETIC district made by tuoyu_geo.batch.synthetic.make_province; '
             'not real data about any place"',
             'crs = "wgs84"', f'metric_crs = "{metric_crs}"', f'policy = "{policy}"',
             f'attribution = "合成数据（synthetic），改自 {attribution[:200]}"', "", "[layers]"]
    lines += [f'{k} = "{k}.geojson"' for k in _ID]
    if network:
        lines.append('network = "walk_network.graphml"')
    return "\n".join(lines).replace("\\", "/") + "\n"


def _province_toml(names: Sequence[str], policy: str, budget_wan: float) -> str:
    lines = [f'name = "合成省{SYNTHETIC}"', f'policy = "{policy}"', f"budget_wan = {budget_wan:g}",
             "# district folders (relative to this file)", "districts = ["]
    lines += [f'  "{n}",' for n in names]
    return "\n".join([*lines, "]"]) + "\n"


_README = """# 合成省 — SYNTHETIC province

Made by `tuoyu_geo.batch.synthetic.make_province` (seed {seed}, {n} districts, base `{base}`).
Every district is a moved and perturbed copy of the base study area: the populations, infants,
places, costs, ids and names are SYNTHETIC (合成数据) and describe no real place.
See the module docstring of `tuoyu_geo.batch.synthetic` for the exact recipe.
"""


def make_province(out_dir: str | Path, *, districts: int, seed: int = 0, base: str | Path | None = None,
                  streets_per_district: int | None = None, community_share: float = 1.0,
                  policy: str | None = None, budget_wan: float | None = None) -> Path:
    """Write a synthetic province of ``districts`` study-area folders and ``province.toml``.

    Parameters
    ----------
    out_dir : str or Path
        Province folder (created; existing district folders of the same names are replaced).
    districts : int
        Number of districts N (≥ 1).
    seed : int
        Seed of the one random generator (same seed → same files).
    base : str or Path, optional
        Study-area folder copied (default the bundled 上海市徐汇区).
    streets_per_district : int, optional
        Keep a cluster of this many 街道 per district (default all of the base's).
    community_share : float
        Share (0, 1] of the communities kept (at least one per 街道).
    policy : str, optional
        Profile named in every ``area.toml`` and in ``province.toml`` (default the base's).
    budget_wan : float, optional
        Province budget in ``province.toml`` (default 300 万元 per district).

    Returns
    -------
    Path
        The province folder.
    """
    if districts < 1:
        raise ValueError(f"districts must be ≥ 1, got {districts}")
    if not 0 < community_share <= 1:
        raise ValueError(f"community_share must be in (0, 1], got {community_share}")
    base_dir = Path(base) if base is not None else bundled_path()
    area = load_area(base_dir)
    policy = policy or area.policy.name
    rng = np.random.default_rng(seed)
    mc = area.metric_crs
    x0, y0, x1, y1 = area.streets.to_crs(mc).total_bounds
    step_x = (math.ceil((x1 - x0) / 1000) + GAP_KM) * 1000
    step_y = (math.ceil((y1 - y0) / 1000) + GAP_KM) * 1000
    cols = math.ceil(math.sqrt(districts))
    out = Path(out_dir)
    names = [f"D{k + 1:03d}" for k in range(districts)]
    with transaction():
        for k, code in enumerate(names):
            offset = ((k % cols) * step_x, (k // cols) * step_y)
            layers = _district(area, code, k + 1, offset, rng, streets_per_district=streets_per_district,
                               community_share=community_share)
            folder = out / code
            for key, g in layers.items():
                write_file(g, folder / f"{key}.geojson")
            if area.graph is not None:
                keep = None
                if streets_per_district is not None:
                    keep = (layers["streets"].to_crs(mc).geometry.translate(-offset[0], -offset[1])
                            .union_all().buffer(NETWORK_MARGIN_M))
                save_graph(_graph(area.graph, keep, *offset), folder / "walk_network.graphml")
            name = f"合成区{k + 1:03d}{SYNTHETIC}"
            write_file(_area_toml(name, str(mc), policy, area.attribution, area.graph is not None),
                       folder / "area.toml", fmt="html")
        budget = float(budget_wan) if budget_wan is not None else 300.0 * districts
        write_file(_province_toml(names, policy, budget), out / "province.toml", fmt="html")
        write_file(_README.format(seed=seed, n=districts, base=base_dir.name), out / "README.md", fmt="html")
    log.info("synthetic province of %d districts written to %s", districts, out)
    return out
