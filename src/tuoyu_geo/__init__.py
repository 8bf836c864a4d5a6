"""tuoyu_geo — 0–3 托育 (childcare) planning: walking coverage, policy scorecards and site plans.

>>> import tuoyu_geo as tg
>>> area = tg.datasets.shanghai_xuhui()          # bundled 上海市徐汇区
>>> policy = tg.load_policy("wuxi-2025")
"""

from __future__ import annotations

import logging

from . import crs, io, policy
from ._errors import (
    DataError,
    InfeasiblePlanError,
    NetworkError,
    OutputError,
    PolicyError,
    Problem,
    SolverError,
    TuoyuError,
)
from .io import StudyArea, load_area, make_area
from .policy import Policy, available_policies, load_policy

__version__ = "0.1.0"

from . import (
    access,  # noqa: E402
    datasets,  # noqa: E402
    export,  # noqa: E402
    indicators,  # noqa: E402
    maps,  # noqa: E402
    network,  # noqa: E402
    optimize,  # noqa: E402
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DataError",
    "InfeasiblePlanError",
    "NetworkError",
    "OutputError",
    "Policy",
    "PolicyError",
    "Problem",
    "SolverError",
    "StudyArea",
    "TuoyuError",
    "__version__",
    "access",
    "available_policies",
    "crs",
    "datasets",
    "export",
    "indicators",
    "io",
    "load_area",
    "load_policy",
    "make_area",
    "maps",
    "network",
    "optimize",
    "policy",
]
