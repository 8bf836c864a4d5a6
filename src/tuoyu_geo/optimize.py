"""Public alias of :mod:`tuoyu_geo.plan` (site plans and classic location models), kept for the
API shown in earlier releases: ``tg.optimize.plan_sites(area, access, policy, budget_wan=3000)``.

>>> import numpy as np
>>> from tuoyu_geo.optimize import mclp
>>> r = mclp(np.array([[0., 9.], [9., 0.], [9., 1.]]), [1, 2, 3], p=1, radius=2)
>>> r.selected.tolist(), r.covered_weight
([1], 5.0)
"""

from __future__ import annotations

from .plan import (
    ModelResult,
    PlanOptions,
    SitePlan,
    Status,
    capacitated_coverage,
    class_mix,
    feasible_places,
    load_plan,
    lscp,
    mclp,
    p_median,
    plan_sites,
    read_orlib_pmed,
    save_plan,
)

__all__ = ["ModelResult", "PlanOptions", "SitePlan", "Status", "capacitated_coverage", "class_mix",
           "feasible_places", "load_plan", "lscp", "mclp", "p_median", "plan_sites", "read_orlib_pmed", "save_plan"]
