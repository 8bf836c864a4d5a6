"""The one input of every report function: an :class:`~tuoyu_geo.pipeline.Assessment`."""

from __future__ import annotations

from typing import Any

from ..pipeline import Assessment

__all__ = ["require"]


def require(obj: Any, what: str, *, plan: bool = False) -> Assessment:
    """``obj`` if it is an Assessment (with a plan when ``plan``), else a TypeError/ValueError
    that says how to make one."""
    if not isinstance(obj, Assessment):
        raise TypeError(f"{what} takes an Assessment, got {type(obj).__name__}; fix: "
                        "a = tuoyu_geo.assess(area, policy, plan=tuoyu_geo.PlanOptions(...)), then "
                        f"{what}(a, ...)")
    if plan and obj.plan is None:
        raise ValueError(f"{what}: the assessment has no site plan; fix: assess(area, policy, "
                         "plan=PlanOptions(...))")
    return obj
