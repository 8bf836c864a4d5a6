"""Typed package-wide defaults (overridable per call)."""

from __future__ import annotations

import os
from pathlib import Path

#: default walking speed used when a threshold in minutes has no explicit distance in the profile
WALK_SPEED_KMH: float = 4.0
#: default accessibility thresholds in minutes (GB 50180-2018 life circles)
MINUTES: tuple[int, ...] = (5, 10, 15)
#: points farther than this from any walkable edge are reported
SNAP_WARN_M: float = 300.0
#: metric CRS fallback (UTM 51N covers Shanghai); areas choose their own UTM zone via crs.utm_crs
DEFAULT_SOLVER: str = "highs"
TIME_LIMIT_S: float = 120.0
MIP_GAP: float = 1e-4
#: relative tolerance used when an earlier lexicographic objective is held as a constraint
LEX_TOLERANCE: float = 1e-6
#: monetary unit of every cost figure
COST_UNIT: str = "万元"

CACHE_DIR: Path = Path(os.environ.get("TUOYU_GEO_CACHE", Path.home() / ".cache" / "tuoyu_geo"))
