"""Study-area layers: the data contract, reading files, validation and :class:`StudyArea`.

This layer knows nothing of routing (the walk graph is carried as an opaque networkx graph);
reading an ``area.toml`` folder with its network and the network checks is
:func:`tuoyu_geo.loading.load_area`.

Modules: :mod:`~tuoyu_geo.area.schema` (layers, categories, aliases), :mod:`~tuoyu_geo.area.readers`
(:func:`read_layer`), :mod:`~tuoyu_geo.area.validate` (per-layer checks, street assignment),
:mod:`~tuoyu_geo.area.model` (:class:`StudyArea`, :func:`make_area`).
"""

from __future__ import annotations

from .model import StudyArea, make_area
from .points import representative_points
from .readers import read_layer
from .schema import (
    CANDIDATE_KINDS,
    CATEGORIES,
    COLUMN_ALIASES,
    CONTRACT_COLUMNS,
    LAYERS,
    POINT_LAYERS,
    PUHUI_CATEGORIES,
)
from .validate import STREET_OVERLAP_SHARE

__all__ = [
    "CANDIDATE_KINDS",
    "CATEGORIES",
    "COLUMN_ALIASES",
    "CONTRACT_COLUMNS",
    "LAYERS",
    "POINT_LAYERS",
    "PUHUI_CATEGORIES",
    "STREET_OVERLAP_SHARE",
    "StudyArea",
    "make_area",
    "read_layer",
    "representative_points",
]
