"""Budget scenarios: one plan per budget on one walk network and one access, side by side.

:func:`compare_budgets` solves the site plan for each budget (everything else held) and returns a
frozen :class:`BudgetComparison` whose ``table`` traces the efficient frontier: budget against
places added, 普惠 coverage, 街道 达标 and the Gini of access.  Each scenario is a full
:class:`~tuoyu_geo.pipeline.Assessment` (kept in ``assessments``); nothing is computed here that
the pipeline does not compute.

>>> import tuoyu_geo as tg
>>> cmp = tg.scenarios.compare_budgets(tg.datasets.shanghai_xuhui(), "wuxi-2025",
...                                    budgets_wan=[1000, 3000, 6000])          # doctest: +SKIP
>>> cmp.table[["budget_wan", "new_places", "streets_met_after"]]                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from . import _display as _d
from . import settings
from .access import compute_access
from .area import StudyArea
from .indicators import minute_key
from .network import StraightLineNet, WalkNet, area_engine
from .pipeline import Assessment, assess
from .plan import PlanOptions
from .policy import Policy, load_policy
from .rules import MET

log = logging.getLogger(__name__)

__all__ = ["COMPARISON_COLUMNS", "BudgetComparison", "compare_budgets", "scenario_row"]

#: columns of :attr:`BudgetComparison.table`, in order (``{mk}`` = the plan's minutes)
COMPARISON_COLUMNS = ("budget_wan", "new_sites", "new_places", "new_cost_wan", "places_per_1000_after",
                      "puhui_share_after", "cover{mk}_puhui_before", "cover{mk}_puhui_after",
                      "streets_met_before", "streets_met_after", "streets", "gini_sfca_before",
                      "gini_sfca_after", "shortfall", "unmet_rules", "solver_status", "mip_gap")


@dataclass(frozen=True, eq=False)
class BudgetComparison:
    """Plans of one area under several budgets.

    Attributes
    ----------
    table : DataFrame
        One row per budget, ascending (columns :data:`COMPARISON_COLUMNS`): ``budget_wan``;
        ``new_sites``, ``new_places``, ``new_cost_wan`` (the plan's sites summed); the area total
        after the plan of ``places_per_1000`` and ``puhui_share``; the infant-weighted share of
        communities with a 普惠 institution within the plan's minutes before/after
        (``cover{N}_puhui_*``, from the total rows); ``streets_met_*`` (街道 whose 综合状态 is 达标)
        of ``streets``; the Gini of per-infant 2SFCA access (:mod:`tuoyu_geo.equity`) before/after;
        ``shortfall`` (the plan's first-stage objective in places), ``unmet_rules`` (rows of
        ``Assessment.gaps``), ``solver_status`` and ``mip_gap``.
    assessments : tuple of Assessment
        The scenario behind each row, same order.
    options : PlanOptions
        The options every scenario shares (``budget_wan`` is replaced per row).
    minutes : float
        The coverage time of the ``cover`` columns.
    """

    table: pd.DataFrame
    assessments: tuple[Assessment, ...]
    options: PlanOptions
    minutes: float

    @property
    def budgets_wan(self) -> tuple[float, ...]:
        """The budgets, ascending."""
        return tuple(float(b) for b in self.table["budget_wan"])

    #: budgets shown by :meth:`__repr__` (the rest are counted)
    SUMMARY_ROWS = 5

    def _summary_rows(self) -> list[tuple[str, str]]:
        """One (budget, outcome) row per budget (at most :attr:`SUMMARY_ROWS`), for :meth:`__repr__`
        and :meth:`_repr_html_`."""
        t = self.table
        mk = minute_key(self.minutes)
        rows = [(f"{_d.number(r['budget_wan'])} 万元",
                 f"{int(r['new_sites'])} sites, {_d.count(r['new_places'])} places, "
                 f"{_d.number(r['new_cost_wan'])} 万元 · 达标 {int(r['streets_met_before'])}→"
                 f"{int(r['streets_met_after'])}/{int(r['streets'])} · 普惠 {mk} min "
                 f"{_d.percent(r[f'cover{mk}_puhui_before'])} → {_d.percent(r[f'cover{mk}_puhui_after'])} · "
                 f"{r['solver_status']}") for _, r in t.head(self.SUMMARY_ROWS).iterrows()]
        if len(t) > self.SUMMARY_ROWS:
            rows.append(("…", f"{len(t) - self.SUMMARY_ROWS} more budgets in .table"))
        return rows

    def __repr__(self) -> str:
        return _d.text(f"BudgetComparison ({len(self.table)} budgets)", self._summary_rows())

    def _repr_html_(self) -> str:
        return _d.html(f"BudgetComparison ({len(self.table)} budgets)", self._summary_rows())


def _budgets(budgets_wan: Iterable[float]) -> list[float]:
    out = []
    for b in budgets_wan:
        try:
            v = float(b)
        except (TypeError, ValueError):
            raise ValueError(f"budgets_wan must be numbers (万元), got {b!r}") from None
        if not math.isfinite(v) or v < 0 or v > settings.MAX_BUDGET_WAN:
            raise ValueError(f"budgets_wan must be finite, ≥ 0 and at most {settings.MAX_BUDGET_WAN:g} (万元), "
                             f"got {b!r}")
        out.append(v)
    if not out:
        raise ValueError("budgets_wan is empty; fix: give at least one budget, e.g. [1000, 3000]")
    return sorted(set(out))


def scenario_row(a: Assessment) -> dict:
    """The :attr:`BudgetComparison.table` row of one assessed plan (read off the assessment)."""
    plan = a.plan
    if plan is None:
        raise ValueError("scenario_row needs an assessment with a plan")
    mk = minute_key(a.minutes)
    cover = f"cover{mk}_puhui"
    sites = plan.sites
    return {
        "budget_wan": plan.options.budget_wan,
        "new_sites": int(len(sites)),
        "new_places": int(sites["places"].sum()),
        "new_cost_wan": float(sites["cost"].sum()),
        "places_per_1000_after": float(a.total_after["places_per_1000"]),
        "puhui_share_after": float(a.total_after["puhui_share"]),
        f"{cover}_before": float(a.total[cover]),
        f"{cover}_after": float(a.total_after[cover]),
        "streets_met_before": int((a.streets["status"] == MET).sum()),
        "streets_met_after": int((a.streets_after["status"] == MET).sum()),
        "streets": int(len(a.streets)),
        "gini_sfca_before": float(a.equity.loc["gini_sfca", "before"]),
        "gini_sfca_after": float(a.equity.loc["gini_sfca", "after"]),
        "shortfall": float(plan.objective_values["shortfall"]),
        "unmet_rules": int(len(a.gaps)),
        "solver_status": str(plan.status),
        "mip_gap": float(plan.gap),
    }


def compare_budgets(area: StudyArea, policy: Policy | str | None = None, *, budgets_wan: Sequence[float],
                    network: WalkNet | StraightLineNet | None = None, options: PlanOptions | None = None,
                    progress: Callable[[str], None] | None = None, **fields) -> BudgetComparison:
    """Solve the site plan once per budget and tabulate the efficient frontier.

    The walk network and the access now are built once; each budget is then one
    :func:`~tuoyu_geo.pipeline.assess` with that plan (the after-access is per plan, as the new
    sites differ).  Service areas are not computed.

    Parameters
    ----------
    area : StudyArea
    policy : Policy or str, optional
        Default ``area.policy``.
    budgets_wan : sequence of float
        Budgets in 万元 (finite, ≥ 0); duplicates dropped, solved in ascending order.
    network : WalkNet, optional
        Built from ``area.graph`` when not given.
    options : PlanOptions, optional
        Options shared by every scenario (its ``budget_wan`` is replaced); else built from
        ``fields`` (e.g. ``max_new_sites=5``).
    progress : callable, optional
        Called with a short label per scenario.

    Returns
    -------
    BudgetComparison

    Raises
    ------
    ValueError
        No budgets, or one that is not a finite number ≥ 0.
    """
    budgets = _budgets(budgets_wan)
    if options is not None and fields:
        raise ValueError(f"give options= or plan fields ({', '.join(fields)}), not both")
    opts = options if options is not None else PlanOptions(**fields)
    step = progress or (lambda label: None)
    pol = load_policy(policy if policy is not None else area.policy)
    area = area.with_policy(pol)
    mins = tuple(sorted({*settings.MINUTES, float(opts.minutes)}))
    step("walk network")
    net = network if network is not None else area_engine(area)
    step("walking access")
    acc = compute_access(area, pol, network=net, minutes=mins)
    done = []
    for b in budgets:
        step(f"plan with budget {b:g} 万元")
        a = assess(area, pol, network=net, plan=replace(opts, budget_wan=b), minutes=mins,
                   with_isochrones=False, access=acc)
        done.append(a)
        log.info("budget %g 万元: %s", b, a.plan.summary())
    rows = [scenario_row(a) for a in done]
    mk = minute_key(opts.minutes)
    cols = [c.format(mk=mk) for c in COMPARISON_COLUMNS]
    return BudgetComparison(table=pd.DataFrame(rows)[cols], assessments=tuple(done), options=opts,
                            minutes=float(opts.minutes))
