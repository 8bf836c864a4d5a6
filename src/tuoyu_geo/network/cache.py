"""A cache of prepared walk-network engines, so that a second run loads a city's network in
seconds.

An entry is one uncompressed ``.npz`` file (numpy arrays only, read with ``allow_pickle=False``):
node ids and coordinates, the de-duplicated edge table (ends, length, key), the given edge lines
as flat coordinates and the CSR adjacency, all in the area's metric CRS.  The snap index is not stored: rebuilding
it is as fast as reading it back (it is built on the first snap).

The entry's name is a SHA-256 over the cache format version, the metric CRS and, for every input
file (the network file, and ``…_nodes.parquet`` next to a Parquet edge file), its name, size,
modification time and SHA-256 of its content; a changed file gets a new entry.  The entry repeats
its own key and is checked on reading: an entry that cannot be read, is truncated or does not
match is rebuilt (with a warning), never trusted.

Location: ``settings.CACHE_DIR / "engines"`` (``~/.cache/tuoyu_geo``, or the folder in the
``TUOYU_GEO_CACHE`` environment variable), never the input folder.  Entries are written
atomically (:func:`tuoyu_geo.writer.atomic_write`); a cache that cannot be written is logged and
skipped.  Delete the folder to clear it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import scipy.sparse as sp
import shapely

from .. import settings
from .._errors import OutputError
from ..writer import atomic_write
from .engine import WalkNet, _objects
from .tables import _nodes_parquet, read_network_tables

log = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "cache_key", "engine_cache_dir", "load_engine", "read_walknet", "save_engine"]

#: bump when the entry layout or the engine's edge table changes
CACHE_VERSION = 2
_CHUNK = 1 << 22


def engine_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The folder of engine entries: ``cache_dir`` or ``settings.CACHE_DIR / "engines"``."""
    return Path(cache_dir) if cache_dir is not None else Path(settings.CACHE_DIR) / "engines"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def network_files(path: str | Path) -> list[Path]:
    """The files a network is read from: the file itself and a Parquet node file next to it."""
    path = Path(path)
    extra = _nodes_parquet(path) if path.suffix.lower() == ".parquet" else None
    return [path] + ([extra] if extra is not None else [])


def cache_key(files: list[Path], metric_crs: Any) -> str:
    """SHA-256 (hex) over the cache version, the CRS and every file's name, size, mtime and content."""
    h = hashlib.sha256(f"tuoyu_geo engine v{CACHE_VERSION}\n".encode())
    h.update(pyproj.CRS.from_user_input(metric_crs).to_wkt().encode())
    for f in files:
        st = f.stat()
        h.update(f"\n{f.name}\n{st.st_size}\n{st.st_mtime_ns}\n{_file_digest(f)}".encode())
    return h.hexdigest()


def _ids(values: np.ndarray) -> tuple[np.ndarray, str]:
    """Ids as a plain numpy array and their kind (``int`` or ``str``)."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64), "int"
    lst = values.tolist()
    if all(type(v) is int for v in lst):
        return np.asarray(lst, dtype=np.int64), "int"
    return np.asarray([str(v) for v in lst], dtype=str), "str"


def save_engine(net: WalkNet, path: str | Path, *, key: str = "") -> Path:
    """Write ``net`` as an engine entry (``.npz``) atomically.

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    path = Path(path)
    given = ~shapely.is_missing(net.given_geoms)
    coords, owner = shapely.get_coordinates(net.given_geoms[given], return_index=True)
    nodes, nodes_kind = _ids(net._node_ids)
    keys, key_kind = _ids(net.key)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, version=np.int64(CACHE_VERSION), key=np.str_(key), crs=np.str_(net.crs.to_wkt()),
                 nodes=nodes, nodes_kind=np.str_(nodes_kind), x=net.x, y=net.y, eu=net.eu, ev=net.ev,
                 length=net.length, edge_key=keys, key_kind=np.str_(key_kind), geom_edges=np.flatnonzero(given),
                 geom_owner=owner.astype(np.int64), geom_xy=coords, adj_indptr=net.adj.indptr,
                 adj_indices=net.adj.indices, adj_data=net.adj.data)
    return path


def _restore(values: np.ndarray, kind: str) -> np.ndarray:
    return _objects(values.tolist() if kind == "int" else [str(v) for v in values.tolist()])


def load_engine(path: str | Path, *, key: str | None = None) -> WalkNet:
    """Read an engine entry written by :func:`save_engine`.

    Raises
    ------
    ValueError
        The entry is unreadable, truncated, of another cache version, inconsistent, or (with
        ``key``) made for other inputs.
    """
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - zip, header and read errors alike mean a bad entry
        raise ValueError(f"unreadable engine cache entry ({type(exc).__name__}: {exc})") from None
    need = {"version", "key", "crs", "nodes", "nodes_kind", "x", "y", "eu", "ev", "length", "edge_key", "key_kind",
            "geom_edges", "geom_owner", "geom_xy", "adj_indptr", "adj_indices", "adj_data"}
    if not need <= set(d):
        raise ValueError(f"engine cache entry lacks {sorted(need - set(d))}")
    if int(d["version"]) != CACHE_VERSION:
        raise ValueError(f"engine cache entry of version {int(d['version'])}, not {CACHE_VERSION}")
    if key is not None and str(d["key"]) != key:
        raise ValueError("engine cache entry made for other input files")
    n, ne = len(d["x"]), len(d["eu"])
    ge, go, gxy = d["geom_edges"], d["geom_owner"], d["geom_xy"]
    ok = (len(d["y"]) == n == len(d["nodes"]) and len(d["ev"]) == ne == len(d["length"]) == len(d["edge_key"])
          and ne > 0 and min(d["eu"].min(), d["ev"].min()) >= 0 and max(d["eu"].max(), d["ev"].max()) < n
          and len(go) == len(gxy) and (len(ge) == 0 or (ge.min() >= 0 and ge.max() < ne))
          and (len(go) == 0 or (go.min() >= 0 and go.max() < len(ge))) and gxy.ndim == 2)
    ip, ix, ad = d["adj_indptr"], d["adj_indices"], d["adj_data"]
    ok = ok and (len(ip) == n + 1 and ip[0] == 0 and ip[-1] == len(ix) == len(ad) and bool(np.all(np.diff(ip) >= 0))
                 and (len(ix) == 0 or (ix.min() >= 0 and ix.max() < n)))
    if not ok:
        raise ValueError("engine cache entry is inconsistent (truncated or damaged)")
    adj = sp.csr_matrix((ad, ix, ip), shape=(n, n))
    adj.has_sorted_indices = True
    geoms = np.full(ne, None, dtype=object)
    if len(ge):
        geoms[ge] = shapely.linestrings(gxy, indices=go)
    nodes = d["nodes"] if str(d["nodes_kind"]) == "int" else _restore(d["nodes"], "str")
    return WalkNet._from_parts(crs=pyproj.CRS.from_wkt(str(d["crs"])), nodes=nodes, x=d["x"], y=d["y"], eu=d["eu"],
                               ev=d["ev"], length=d["length"], key=_restore(d["edge_key"], str(d["key_kind"])),
                               geoms=geoms, adj=adj)


def read_walknet(path: str | Path, *, metric_crs: Any, cache: bool = True,
                 cache_dir: str | Path | None = None) -> WalkNet:
    """The engine of a GeoPackage/Parquet walk network in ``metric_crs``, from the cache when an
    entry for the same files exists (see the module docstring), else read and then cached.

    Parameters
    ----------
    path : str or Path
        ``walk.gpkg`` (``nodes`` + ``edges`` layers) or ``walk_edges.parquet``.
    metric_crs : CRS-like
        CRS of the engine (the area's metric CRS).
    cache : bool
        Use and fill the cache.
    cache_dir : path, optional
        Folder of the entries; default :func:`engine_cache_dir`.

    Raises
    ------
    NetworkError
        The network file cannot be read or breaks the contract.
    """
    path = Path(path)
    t0 = time.perf_counter()
    entry = None
    if cache:
        key = cache_key(network_files(path), metric_crs)
        entry = engine_cache_dir(cache_dir) / f"walknet-{key[:32]}.npz"
        if entry.is_file():
            try:
                net = load_engine(entry, key=key)
                log.info("walk network %s from the engine cache %s (%.2f s)", path.name, entry,
                         time.perf_counter() - t0)
                return net
            except ValueError as exc:
                log.warning("engine cache entry %s is not usable (%s): rebuilding it from %s", entry, exc, path.name)
    net = read_network_tables(path).to_crs(metric_crs)
    log.info("walk network %s read: %d nodes, %d edges (%.2f s)", path.name, net.n_nodes, net.n_edges,
             time.perf_counter() - t0)
    if entry is not None:
        try:
            save_engine(net, entry, key=key)
        except (OutputError, OSError) as exc:
            log.warning("cannot write the engine cache entry %s: %s", entry, exc)
    return net
