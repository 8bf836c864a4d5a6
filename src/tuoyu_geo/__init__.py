"""tuoyu_geo — 0–3 托育 (childcare) planning: walking coverage, policy scorecards and site plans.

>>> import tuoyu_geo as tg
>>> area = tg.datasets.shanghai_xuhui()          # bundled 上海市徐汇区 (a fresh copy)
>>> policy = tg.load_policy("wuxi-2025")
>>> a = tg.assess(area, policy, plan=tg.PlanOptions(budget_wan=3000))   # doctest: +SKIP
"""

from __future__ import annotations

import logging

from . import (
    access,
    area,
    batch,
    crs,
    datasets,
    indicators,
    network,
    optimize,
    pipeline,
    plan,
    policy,
    report,
    rules,
    scenarios,
)
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
from ._version import __version__
from .area import StudyArea, make_area
from .loading import load_area
from .network import WalkNet
from .pipeline import Assessment, assess
from .plan import PlanOptions, SitePlan, Status
from .policy import Policy, available_policies, load_policy
from .report import export, maps
from .scenarios import BudgetComparison, compare_budgets

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Assessment", "DataError", "InfeasiblePlanError", "NetworkError", "OutputError", "PlanOptions", "Policy",
    "PolicyError", "Problem", "SitePlan", "SolverError", "Status", "StudyArea", "TuoyuError", "WalkNet",
    "__version__", "access", "area", "assess", "available_policies", "batch", "crs", "datasets", "export", "indicators",
    "load_area", "load_policy", "make_area", "maps", "network", "optimize", "pipeline", "plan", "policy",
    "report", "rules", "scenarios", "BudgetComparison", "compare_budgets",
]
