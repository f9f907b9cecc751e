"""Does a fleet deliver a plan's demand? The comparison behind the simulator check.

The plan's scenario (:mod:`suanli.plan.scenario_out`) gives each demand class its
own profile ``plan-<class>``, so the work a simulation does can be summed per class
from its jobs' profiles. :func:`check_delivery` compares that work, as sustained
PFLOP/s over a measurement window, with each class's demand:

.. math:: r_c = \\frac{W_c / T}{D_c}, \\qquad \\text{ok} \\iff r_c \\ge 1 - \\epsilon,

with :math:`W_c` the PFLOP of work of class *c* done (progress of running jobs
included) during a window of :math:`T` seconds and :math:`\\epsilon` the tolerance
(5% by default). The window should start after a warm-up (the fleet starts empty,
and pre-training jobs run for days): e.g. the second half of a two-week horizon.
Run the simulator on ``plan-scenario.yaml``, sum the work done per ``job.profile``
in the window, and pass it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from suanli.plan.result import Plan

PROFILE_PREFIX = "plan-"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One class: demand, what was delivered, their ratio, and whether it is enough.

    ``offered_pflops`` (when given) is the work the generator actually submitted in
    the window: a class short of its demand but not of what was offered (and with
    nothing left waiting) lacks arrivals, not capacity.
    """

    name: str
    demand_pflops: float
    delivered_pflops: float
    ratio: float
    ok: bool
    offered_pflops: float | None = None


def profile_of(class_name: str) -> str:
    """The profile id that marks a class's jobs in the plan's scenario."""
    return f"{PROFILE_PREFIX}{class_name}"


def check_delivery(
    plan: Plan,
    work_pflop_by_profile: Mapping[str, float],
    window_s: float,
    tolerance: float = 0.05,
    offered_pflop_by_profile: Mapping[str, float] | None = None,
) -> tuple[Delivery, ...]:
    """Per class, whether the work done in a window of ``window_s`` meets the plan's demand."""
    out = []
    for c in plan.classes:
        key = profile_of(c.name)
        delivered = work_pflop_by_profile.get(key, 0.0) / window_s
        ratio = delivered / c.demand_pflops if c.demand_pflops > 0 else 1.0
        offered = None
        if offered_pflop_by_profile is not None:
            offered = offered_pflop_by_profile.get(key, 0.0) / window_s
        out.append(
            Delivery(c.name, c.demand_pflops, delivered, ratio, ratio >= 1.0 - tolerance, offered)
        )
    return tuple(out)


def work_in_window(
    runs: Iterable[tuple[str, float, float, float]], start_s: float, end_s: float
) -> dict[str, float]:
    """PFLOP done per profile during ``[start_s, end_s]``.

    Each run is ``(profile, began, ended, rate)``: a job computing at ``rate``
    PFLOP/s from ``began`` to ``ended`` seconds (``ended`` past the window for a
    job still running).
    """
    out: dict[str, float] = {}
    for profile, began, ended, rate in runs:
        overlap = min(ended, end_s) - max(began, start_s)
        if overlap > 0:
            out[profile] = out.get(profile, 0.0) + rate * overlap
    return out
