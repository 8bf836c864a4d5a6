"""Reading a study-area folder: ``area.toml`` + layer files + walk network, validated and checked.

A study area is a folder with one file per layer and an ``area.toml``::

    name = "上海市徐汇区"
    crs = "wgs84"                 # input CRS: wgs84 | gcj02 | bd09 | EPSG code
    policy = "wuxi-2025"          # shipped profile name or a TOML path (relative to the folder)
    attribution = "© OpenStreetMap contributors (ODbL)"

    [layers]
    streets = "streets.geojson"
    communities = "communities.geojson"
    institutions = { file = "institutions.csv", crs = "bd09" }   # this layer in another CRS
    candidates = { file = "candidates.gpkg", layer = "sites" }  # one layer of a GeoPackage
    network = "walk.graphml"      # optional: GraphML, road lines, nodes/edges tables (walk.gpkg with
                                  # nodes + edges layers, walk_edges.parquet), or an OSM extract
                                  # "province.osm.pbf" (clipped to the 街道 + settings.PBF_BUFFER_M, built on every load)

    [columns.streets]             # contract column = the column in your file
    street_id = "code"
    population = "常住人口"
    [columns.institutions]
    lon = "bd_lng"                # coordinate columns of a CSV/XLSX table
    lat = "bd_lat"

A top-level ``detour_factor = 1.324`` sets the factor of the straight-line fallback used when the
area has no network (walking distance = straight line × factor; from 1 to 3; default
``settings.DETOUR_FACTOR``, the average detour index of 25 Chinese cities).

Every layer is validated; all problems of all layers are collected and raised as one
:class:`~tuoyu_geo.DataError` naming the file, the row ids and the fix.  Nothing is written.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyproj

from . import crs as _crs
from ._errors import DataError, Problem
from .area import LAYERS, StudyArea, make_area, read_layer
from .area.schema import OPTIONAL_COLUMNS, POINT_LAYERS
from .area.validate import check_detour_factor
from .network import WalkNet, read_network
from .network.cache import read_walknet
from .network.checks import check_datum, check_reach, warn_datum_undecided
from .network.pbf import graph_for_area, is_pbf
from .network.tables import is_table_network
from .policy import Policy, load_policy, read_toml_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = ["AREA_TOML_KEYS", "LAYER_TABLE_KEYS", "load_area", "mappable_columns"]

#: keys allowed at the top of area.toml
AREA_TOML_KEYS = frozenset({"name", "crs", "network_crs", "policy", "attribution", "layers", "metric_crs",
                            "description", "columns", "detour_factor"})
#: keys of a layer given as a table in [layers]: { file = "x.gpkg", layer = "sites", crs = "bd09" }
LAYER_TABLE_KEYS = ("file", "layer", "crs")


def mappable_columns(layer: str) -> tuple[str, ...]:
    """Contract columns a ``[columns.<layer>]`` table may map (plus ``births_<year>``)."""
    point = ("lon", "lat") if layer in POINT_LAYERS else ()
    return (*LAYERS[layer]["required"], *OPTIONAL_COLUMNS[layer], *point)


def _check_columns(conf: Mapping[str, Any]) -> list[Problem]:
    """``[columns.<layer>]``: known layers, known contract columns, file column names as text."""
    cols = conf.get("columns", {})
    if not isinstance(cols, Mapping):
        return [Problem("area.toml", "columns is not a table", ("columns",),
                        '[columns.streets] then lines like street_id = "code" (contract name = your column)')]
    problems = []
    for layer, table in cols.items():
        if layer not in LAYERS:
            problems.append(Problem("area.toml", f"unknown layer columns.{layer}", (f"columns.{layer}",),
                                    f"[columns.<layer>] takes one of: {', '.join(LAYERS)}"))
            continue
        if not isinstance(table, Mapping):
            problems.append(Problem("area.toml", f"columns.{layer} is not a table", (f"columns.{layer}",),
                                    f'write [columns.{layer}] then lines like {LAYERS[layer]["id"]} = "code"'))
            continue
        allowed = mappable_columns(layer)
        births = layer in ("streets", "communities")
        for key, src in table.items():
            if key not in allowed and not (births and re.fullmatch(r"births_\d{4}", key)):
                problems.append(Problem("area.toml", f"columns.{layer}.{key}: {layer} have no column {key!r}",
                                        (f"columns.{layer}.{key}",),
                                        f"the left side is the name tuoyu-geo uses, one of: {', '.join(allowed)}"
                                        + (", births_<year>" if births else "")
                                        + f'; the right side your header, e.g. {allowed[0]} = "编号"'))
            elif not isinstance(src, str) or not src.strip():
                problems.append(Problem("area.toml", f"columns.{layer}.{key} = {src!r} is not a column name",
                                        (f"columns.{layer}.{key}",), f'write {key} = "<header in your file>"'))
        srcs = [v.strip() for v in table.values() if isinstance(v, str)]
        dup = sorted({v for v in srcs if srcs.count(v) > 1})
        if dup:
            problems.append(Problem("area.toml", f"columns.{layer} names the column(s) {', '.join(dup)} twice",
                                    tuple(f"columns.{layer}" for _ in dup[:1]),
                                    "map each column of the file to one contract column"))
    return problems


def _check_toml_types(conf: Mapping[str, Any]) -> None:
    """area.toml values must be strings (``crs`` may be an EPSG number) and [layers] a table of file
    names; ``metric_crs`` must be a projected (metric) CRS."""
    problems = []
    for key in ("name", "policy", "attribution", "description", "metric_crs", "crs"):
        v = conf.get(key)
        if v is not None and not isinstance(v, str) and not (key == "crs" and isinstance(v, int)
                                                             and not isinstance(v, bool)):
            problems.append(Problem("area.toml", f"{key} = {v!r} is not a string", (key,),
                                    f'write it in quotes, e.g. {key} = "…"'))
    lay = conf.get("layers", {})
    if not isinstance(lay, Mapping):
        problems.append(Problem("area.toml", "layers is not a table", ("layers",),
                                'write a [layers] section with lines like streets = "streets.geojson"'))
    else:
        for k, v in lay.items():
            if k not in (*LAYERS, "network"):
                problems.append(Problem("area.toml", f"unknown layer layers.{k}", (f"layers.{k}",),
                                        f"layers are: {', '.join((*LAYERS, 'network'))}"))
            elif isinstance(v, Mapping) and k != "network":
                bad = sorted(set(v) - set(LAYER_TABLE_KEYS))
                if bad or not isinstance(v.get("file"), str) or not v["file"].strip() or not isinstance(
                        v.get("layer", ""), str):
                    problems.append(Problem("area.toml", f"layers.{k} = {dict(v)!r} is not a file, layer name and crs",
                                            (f"layers.{k}",), f'write {k} = {{ file = "<file>", crs = "bd09" }} '
                                            f'(keys: {", ".join(LAYER_TABLE_KEYS)}; layer = "<layer name>" for a '
                                            "GeoPackage)"))
                elif "crs" in v:
                    try:
                        _crs.parse_crs(v["crs"], file="area.toml")
                    except DataError as exc:
                        problems.extend(Problem("area.toml", f"layers.{k}.crs: {p.message}", (f"layers.{k}.crs",),
                                                p.fix) for p in exc.problems)
            elif not isinstance(v, str) or not v.strip():
                problems.append(Problem("area.toml", f"layers.{k} = {v!r} is not a file name", (f"layers.{k}",),
                                        f'write {k} = "<file name>" (relative to the area folder)'))
    mc = conf.get("metric_crs")
    if isinstance(mc, str):
        try:
            c = pyproj.CRS.from_user_input(mc)
            ok = c.is_projected and c.axis_info[0].unit_name in ("metre", "meter")
        except pyproj.exceptions.CRSError:
            ok = False
        if not ok:
            problems.append(Problem("area.toml", f"metric_crs = {mc!r} is not a projected CRS in metres",
                                    ("metric_crs",), 'remove it (the UTM zone is chosen) or use e.g. "EPSG:32651"'))
    problems.extend(_check_columns(conf))
    DataError.collect(problems)


def _read_toml(folder: Path) -> dict[str, Any]:
    """The checked contents of ``folder/area.toml``."""
    toml = folder / "area.toml"
    if not toml.exists():
        raise DataError(f"no area.toml in {folder}", file=str(toml),
                        fix="create area.toml naming the layer files, crs and policy (see README)")
    try:
        conf = tomllib.loads(read_toml_text(toml, error=DataError, label="area.toml"))
    except OSError as exc:
        raise DataError(f"cannot read area.toml ({exc.strerror or exc})", file=str(toml),
                        fix="check the path and its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"area.toml is not valid TOML: {exc}", file=str(toml),
                        fix="fix the TOML syntax") from None
    unknown = sorted(set(conf) - AREA_TOML_KEYS)
    if unknown:
        raise DataError(f"unknown key(s) in area.toml: {', '.join(unknown)}", file="area.toml",
                        fix=f"allowed keys: {', '.join(sorted(AREA_TOML_KEYS))}")
    _check_toml_types(conf)
    return conf


def _check_metric_crs(area: StudyArea, metric_crs: str | None) -> None:
    """A ``metric_crs`` given in area.toml must be meant for where the area lies (a UTM or
    Gauss-Krüger zone far away distorts every distance)."""
    if not metric_crs:
        return
    aou = pyproj.CRS.from_user_input(metric_crs).area_of_use
    if aou is None:
        return
    x0, y0, x1, y1 = area.streets.to_crs("EPSG:4326").total_bounds
    tol = 1.0  # degrees: a zone's neighbour strip is still usable
    if x0 < aou.west - tol or x1 > aou.east + tol or y0 < aou.south - tol or y1 > aou.north + tol:
        raise DataError(f"metric_crs = {metric_crs!r} is meant for {aou.name.split('.')[0][:60]} (lon {aou.west:g}…{aou.east:g}, "
                        f"lat {aou.south:g}…{aou.north:g}), but the 街道 lie at lon {x0:.2f}…{x1:.2f}, "
                        f"lat {y0:.2f}…{y1:.2f}; distances would be distorted", file="area.toml",
                        fix="remove metric_crs (the area's UTM zone is chosen), or give the zone of the area")


def _policy(folder: Path, conf: Mapping[str, Any], policy: str | Policy | None) -> Policy:
    name = policy if policy is not None else conf.get("policy", "national-2025")
    if isinstance(name, str) and name.endswith(".toml") and not Path(name).is_absolute():
        name = str(folder / name)
    return load_policy(name)


def _crs_arg(value: str | pyproj.CRS) -> str:
    return value if isinstance(value, str) else value.to_string()


def _read_layers(folder: Path, lay: Mapping[str, Any], input_crs: str | pyproj.CRS,
                 files: dict[str, str], columns: Mapping[str, Mapping[str, str]] | None = None,
                 ) -> dict[str, gpd.GeoDataFrame | None]:
    """Every layer file read (all problems collected); ``files`` gets layer → path."""
    problems: list[Problem] = []
    frames: dict[str, gpd.GeoDataFrame | None] = {}
    columns = columns or {}
    for key in LAYERS:
        fname, layer, crs_arg = lay.get(key), None, _crs_arg(input_crs)
        if isinstance(fname, Mapping):  # { file = "x.gpkg", layer = "sites", crs = "bd09" }
            if "crs" in fname:
                crs_arg = _crs_arg(_crs.parse_crs(fname["crs"], file="area.toml"))
            fname, layer = fname["file"], fname.get("layer") or None
        if not fname:
            problems.append(Problem("area.toml", f"layers.{key} is not given", (),
                                    f'add {key} = "<file>" under [layers]'))
            frames[key] = None
            continue
        files[key] = str(folder / fname)
        try:
            frames[key] = read_layer(folder / fname, input_crs=crs_arg, layer=layer, columns=columns.get(key),
                                     columns_table=f"columns.{key}")
        except DataError as e:
            problems.extend(e.problems)
            frames[key] = None
    DataError.collect(problems)
    return frames


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name too long for the file system: read_network reports it
        return False


def load_area(folder: str | Path, *, policy: str | Policy | None = None, load_graph: bool = True,
              cache: bool = True) -> StudyArea:
    """Read and validate a study-area folder (see the module docstring for ``area.toml``).

    Parameters
    ----------
    folder : str or Path
        Folder holding ``area.toml`` and the layer files (or the ``area.toml`` itself).
    policy : str or Policy, optional
        Override the profile named in ``area.toml``.
    load_graph : bool
        Read the walk network (``layers.network``) if given.
    cache : bool
        For a GeoPackage (``nodes``/``edges`` layers) or Parquet network: use and fill the engine
        cache (:mod:`tuoyu_geo.network.cache`), so that the next run reads the prepared engine.

    Returns
    -------
    StudyArea

    Raises
    ------
    DataError
        Missing ``area.toml``/files, unknown CRS, or any layer breaking the data contract; with a
        network, also layers that fit the network clearly better under another Chinese datum
        (e.g. GCJ-02 coordinates declared as WGS-84; rule in
        :func:`tuoyu_geo.network.checks.check_datum`).
    NetworkError
        Unreadable network, or points farther than the largest walking threshold from every edge
        or next to a small disconnected island of the network
        (:func:`tuoyu_geo.network.checks.check_reach`).
    PolicyError
        The named policy profile/file is unknown or malformed.

    Notes
    -----
    The datum and reach checks need the network; without one a warning says that WGS-84 cannot be
    told from GCJ-02 and what would decide it; :func:`tuoyu_geo.area.make_area` (in-memory layers)
    does not run them.
    """
    folder = Path(folder)
    try:
        if folder.is_file() and folder.suffix.lower() == ".toml":  # the area.toml itself was given
            folder = folder.parent
        conf = _read_toml(folder)
    except OSError as exc:  # e.g. a path too long for the file system
        raise DataError(f"cannot use the path ({exc.strerror or exc})", file=str(folder)[:80] + "…",
                        fix="give the study-area folder with a shorter path") from None
    input_crs = _crs.parse_crs(conf.get("crs"), file="area.toml")
    detour = conf.get("detour_factor")
    if detour is not None:
        detour = check_detour_factor(detour, file="area.toml")
    pol = _policy(folder, conf, policy)
    lay = conf.get("layers", {})
    files: dict[str, str] = {}
    frames = _read_layers(folder, lay, input_crs, files, conf.get("columns"))
    graph = None
    tables = False
    if load_graph and lay.get("network"):
        npath = folder / lay["network"]
        files["network"] = str(npath)
        net_crs = _crs.parse_crs(conf.get("network_crs", "wgs84"), file="area.toml")
        tables = _is_file(npath) and is_table_network(npath)
        if is_pbf(lay["network"]):  # an OSM extract: the walk network of the 街道 + a buffer, built here
            if net_crs != "wgs84":
                raise DataError(f"network_crs = {conf.get('network_crs')!r}, but an OSM extract is WGS-84",
                                file="area.toml", fix="remove network_crs (OSM data are always WGS-84)")
            log.info("building the walk network from the OSM extract %s", lay["network"])
            graph = graph_for_area(npath, frames["streets"])
        elif not tables:
            graph = read_network(npath, input_crs=net_crs if isinstance(net_crs, str) else net_crs.to_string())
    fnames = {k: Path(v).name for k, v in files.items()}
    area = make_area(streets=frames["streets"], communities=frames["communities"],
                     institutions=frames["institutions"], candidates=frames["candidates"], policy=pol,
                     graph=graph, name=(conf.get("name") or "").strip() or folder.resolve().name, metric_crs=conf.get("metric_crs"),
                     input_crs=str(conf.get("crs")), folder=folder, files=files,
                     attribution=conf.get("attribution", ""), file_names=fnames, detour_factor=detour)
    if tables:  # nodes/edges tables: straight to the engine (cached), no networkx graph
        if str(conf.get("network_crs", "wgs84")).lower() not in ("wgs84", "epsg:4326"):
            raise DataError(f"network_crs = {conf.get('network_crs')!r} applies to road lines; "
                            f"{npath.name} is a nodes/edges network with its own CRS", file="area.toml",
                            fix="remove network_crs, or convert the network's coordinates to WGS-84 first "
                                "(tuoyu_geo.crs.convert_geoseries)")
        area = dataclasses.replace(area, graph=read_walknet(files["network"], metric_crs=area.metric_crs,
                                                            cache=cache))
    _check_metric_crs(area, conf.get("metric_crs"))
    if area.graph is not None:
        if detour is not None:
            log.warning("area.toml detour_factor = %g is ignored: %s has a walk network (network distances are "
                        "used)", detour, area.name)
        net = WalkNet.from_area(area)
        if isinstance(input_crs, str):
            check_datum(area, input_crs, fnames, net=net, network_crs=str(conf.get("network_crs", "wgs84")))
        check_reach(area, fnames, net=net)
    elif not lay.get("network") and isinstance(input_crs, str) and input_crs in _crs.CRS_NAMES:
        warn_datum_undecided(input_crs, fnames, why="the area has no walk network to compare the layers with")
    return area
