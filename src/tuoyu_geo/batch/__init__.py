"""Many districts at once on ``dask.distributed``: batch assessment, per-district budget frontiers
and the provincial budget allocation (an exact multiple-choice knapsack MILP).  See ``docs/PROVINCE.md``.

Layer ``batch``: above :mod:`tuoyu_geo.report` (it writes reports), below :mod:`tuoyu_geo.cli`.

>>> import tuoyu_geo as tg
>>> tg.batch.make_province("prov", districts=3, seed=1)                       # doctest: +SKIP
>>> r = tg.batch.run_batch("prov", out_dir="out", n_workers=2)                # doctest: +SKIP
>>> r.comparison                                                             # doctest: +SKIP
"""

from .allocate import Allocation, allocate, naive_split
from .district import (
           DistrictJob,
           DistrictOutcome,
           DistrictPlan,
           FrontierPoint,
           assess_district,
           plan_district,
)
from .province import District, Province, read_province
from .run import ProvinceResult, SerialClient, cluster_client, run_batch
from .synthetic import make_province

__all__ = ["Allocation", "District", "DistrictJob", "DistrictOutcome", "DistrictPlan", "FrontierPoint", "Province",
           "ProvinceResult", "SerialClient", "allocate", "assess_district", "cluster_client", "make_province", "naive_split",
           "plan_district", "read_province", "run_batch"]
