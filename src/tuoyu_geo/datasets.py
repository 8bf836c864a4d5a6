"""Bundled study areas."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from .io import StudyArea, load_area

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


@lru_cache(maxsize=4)
def _cached(name: str, policy: str | None, load_graph: bool) -> StudyArea:
    return load_area(bundled_path(name), policy=policy, load_graph=load_graph)


def shanghai_xuhui(*, policy: str | None = None, load_graph: bool = True) -> StudyArea:
    """The bundled 上海市徐汇区 study area (13 街道, 1,709 小区, illustrative institutions/candidates).

    Parameters
    ----------
    policy : str, optional
        Policy profile to attach (default: the one named in its ``area.toml``, ``wuxi-2025``).
    load_graph : bool
        Load the walking network (GraphML).

    Notes
    -----
    Institutions' places, 普惠 status and the candidate sites are illustrative (see
    ``data/shanghai-xuhui/README.md``).  The result is cached; layers must not be mutated.
    """
    return _cached("shanghai-xuhui", policy, load_graph)
