"""The rule protocol: one object per policy rule that scores, constrains, explains and names itself.

A rule is a stateless object with a Chinese :attr:`Rule.name` (the one place the name is written:
the scorecard's status label, the MILP block names, infeasibility reasons and explanations all take
it from there) and up to five facets:

``score_communities(cs, policy)`` / ``score(facts, policy)``
    Columns it adds to the community / 街道 scorecard (its status column included).
``score_total(total, scorecard, policy)``
    Its judgement of the area total row.
``precheck(model)``
    Reasons (:class:`Unmet`) why it cannot be met at all, found before solving.
``build(model)``
    Its variables, constraints and penalties, added to the MILP as named blocks.
``explain_sites(model, ctx)`` / ``explain_street(before, after, model)``
    Why a chosen site serves it; why a 街道 still misses it after the plan.

Every facet has a do-nothing default, so a rule implements only what it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = ["EPS", "MET", "NOT_MET", "Rule", "SiteContext", "Unmet", "status"]

MET, NOT_MET = "达标", "未达标"
#: tolerance of every "≥ target" comparison on shares and places
EPS = 1e-9


def status(ok: Any) -> Any:
    """达标/未达标 for a boolean (scalar or Series)."""
    if isinstance(ok, (bool, np.bool_)):
        return MET if ok else NOT_MET
    arr = np.asarray(ok, dtype=bool)
    return pd.Series(np.where(arr, MET, NOT_MET), index=getattr(ok, "index", None))


@dataclass(frozen=True)
class Unmet:
    """A rule that is (or cannot be) met: where, which rule, why, and how to fix it."""

    street: str
    rule: str
    why: str
    fix: str = ""

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.street, self.rule, self.why)


@dataclass(frozen=True)
class SiteContext:
    """What the explanation of chosen sites knows: sites in explanation order, their sizes and gains."""

    order: tuple[int, ...]            # candidate indices (model.site_ids) in explanation order
    places: Mapping[int, int]         # candidate → places of the site
    marginal: Mapping[int, float]     # candidate → infants newly covered when added in that order
    minutes: float
    detour_factor: float | None = None  # straight-line fallback (no walk network): its factor


class Rule:
    """Base class of the policy rules (see the module docstring)."""

    key: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: column of the 街道 scorecard holding 达标/未达标 (None: the rule has no per-街道 status)
    status_column: ClassVar[str | None] = None
    #: 街道 scorecard columns the rule adds (its status column included)
    columns: ClassVar[tuple[str, ...]] = ()
    #: community scorecard columns the rule adds
    community_columns: ClassVar[tuple[str, ...]] = ()

    def applies(self, policy: Any) -> bool:
        """Whether the policy asks for this rule at all."""
        return True

    def score_communities(self, cs: pd.DataFrame, policy: Any) -> pd.DataFrame | None:
        return None

    def score(self, facts: pd.DataFrame, policy: Any, communities: pd.DataFrame) -> pd.DataFrame | None:
        return None

    def score_total(self, total: dict, scorecard: pd.DataFrame, policy: Any) -> None:
        if self.status_column and self.status_column in scorecard.columns:
            total[self.status_column] = status(bool((scorecard[self.status_column] == MET).all()))

    def prepare(self, model: Any) -> None:
        """Decisions taken before the MILP is built (e.g. designating existing institutions)."""
        return None

    def precheck(self, model: Any) -> list[Unmet]:
        return []

    def build(self, model: Any) -> None:
        return None

    def hold(self, model: Any, stage: str, value: float, tol: float) -> bool:
        """After lexicographic ``stage`` reached ``value`` (held within ``tol`` from now on): add the
        per-row consequences this rule knows of, e.g. "every community is served" when the value is
        the most the rule's terms can reach.  Valid rows only; default none.

        Returns True when the rows added imply the stage's own objective row (their sum is at least
        ``value − tol``), which is then left out of the model (a dense row that only slows the LP)."""
        return False

    def explain_sites(self, model: Any, ctx: SiteContext) -> dict[int, str]:
        return {}

    def explain_street(self, before: pd.Series, after: pd.Series, model: Any) -> str | None:
        return None

    def describe(self, row: pd.Series) -> tuple[str, str]:
        """(figure, target) of a 街道 scorecard row, as text for the per-街道 rule table."""
        return "", ""

    def __repr__(self) -> str:
        return f"<rule {self.key}: {self.name}>"
