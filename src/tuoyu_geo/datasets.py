"""Bundled study areas.  Every call returns a fresh, independent copy (mutating it never leaks)."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .area import StudyArea
from .loading import load_area
from .policy import Policy

__all__ = ["bundled_path", "shanghai_xuhui"]


def bundled_path(name: str = "shanghai-xuhui") -> Path:
    """Folder of a bundled study area (inside the installed package or the source checkout)."""
    inside = Path(str(resources.files("tuoyu_geo"))) / "_bundled" / name
    if inside.exists():
        return inside
    repo = Path(__file__).resolve().parents[2] / "data" / name
    if repo.exists():
        return repo
    raise FileNotFoundError(f"bundled study area {name!r} not found (looked in {inside} and {repo}); "
                            "reinstall tuoyu-geo")


@lru_cache(maxsize=2)
def _parsed(name: str, load_graph: bool) -> StudyArea:
    """The bundled area as read (private: only ever handed out through :func:`_fresh`)."""
    return load_area(bundled_path(name), load_graph=load_graph)


def _fresh(area: StudyArea) -> StudyArea:
    """A deep-enough copy: new layer frames, a new graph (new attribute dicts)."""
    return dataclasses.replace(
        area, streets=area.streets.copy(), communities=area.communities.copy(),
        institutions=area.institutions.copy(), candidates=area.candidates.copy(),
        graph=area.graph.copy() if hasattr(area.graph, "copy") else area.graph)  # a WalkNet is read-only


def shanghai_xuhui(*, policy: str | Policy | None = None, load_graph: bool = True) -> StudyArea:
    """The bundled 上海市徐汇区 study area (13 街道, 1,709 小区, illustrative institutions/candidates).

    Parameters
    ----------
    policy : str or Policy, optional
        Policy profile to apply (:meth:`StudyArea.with_policy`; default the one named in its
        ``area.toml``, ``wuxi-2025``).
    load_graph : bool
        Load the walking network (GraphML).

    Returns
    -------
    StudyArea
        A fresh copy on every call: its frames and graph may be changed without affecting later
        calls.

    Notes
    -----
    Institutions' places, 普惠 status and the candidate sites are illustrative (see
    ``data/shanghai-xuhui/README.md``).  The files are parsed and checked once per process;
    each call copies the result (≈ 30 ms with the graph).
    """
    return _fresh(_parsed("shanghai-xuhui", load_graph)).with_policy(policy)
