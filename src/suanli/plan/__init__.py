"""Capacity planning: which accelerators to buy, and where, under budget, power,
export caps, tariffs and domestic supply (``suanli plan``).

Data flows one way: a planning file (:mod:`suanli.plan.schema`, loaded and checked
by :mod:`suanli.plan.load`) and a scenario become a :class:`PlanInstance` of numbers
(:mod:`suanli.plan.instance`); :mod:`suanli.plan.milp` writes the MILP (its
mathematics is in that module's docstring), :mod:`suanli.plan.solve` solves it with
HiGHS and reads out a :class:`Plan` with shadow prices (:mod:`suanli.plan.shadow`)
or explains why none exists (:mod:`suanli.plan.explain`). The plan is written as
tables, plots, an HTML page and a scenario file that the simulator can run
(:mod:`suanli.plan.output`, :mod:`suanli.plan.plots`, :mod:`suanli.plan.html` drawing
:mod:`suanli.plan.page_data`, :mod:`suanli.plan.scenario_out`); plans compared, by
:mod:`suanli.plan.compare` with the figures of :mod:`suanli.plan.summary`.
"""

from suanli.plan.instance import PlanInstance
from suanli.plan.result import Plan

__all__ = ["Plan", "PlanInstance"]
