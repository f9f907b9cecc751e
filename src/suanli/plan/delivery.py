r"""Does a fleet deliver a plan's demand? The comparison behind the simulator check.

The plan's scenario (:mod:`suanli.plan.scenario_out`) gives each demand class its
own profile ``plan-<class>``, so the work a simulation does can be summed per class
from its jobs' profiles. :func:`check_delivery` compares that work, as sustained
PFLOP/s over a measurement window, with each class's demand:

.. math:: r_c = \frac{W_c / T}{D_c}, \qquad \text{ok} \iff r_c \ge 1 - \epsilon,

with :math:`W_c` the PFLOP of work of class *c* done (progress of running jobs
included) during a window of :math:`T` seconds and :math:`\epsilon` the tolerance
(5% by default). The window should start after a warm-up (the fleet starts empty,
and pre-training jobs run for days): e.g. the second half of a two-week horizon.
Run the simulator on ``plan-scenario.yaml``, sum the work done per ``job.profile``
in the window, and pass it here.

Classes that are online inference services are run by the simulator as services (the
plan's scenario lists them under ``services:``), not as jobs; :func:`check_services`
compares each service's SLO attainment over the run with its target:

.. math:: A_k = \frac{\sum_r \text{on time}_{kr}}{\sum_r \text{requests}_{kr}},
   \qquad \text{ok} \iff A_k \ge \alpha_k,

with :math:`\alpha_k` the attainment of the service's SLO (0.99 by default).
:func:`check_simulation` does both from a :class:`~suanli.sim.result.SimResult`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from suanli.plan.result import Plan
from suanli.sim.result import SimResult

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
        if c.service:
            continue  # a service: see check_services
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


class ServiceResult(Protocol):
    """What :func:`check_services` reads of a simulated service
    (:class:`~suanli.core.serving.ServiceOutcome`)."""

    @property
    def service(self) -> str: ...

    @property
    def attainment(self) -> float: ...


@dataclass(frozen=True, slots=True)
class ServiceDelivery:
    """One planned service in the simulator: its SLO attainment against the target, the
    devices the plan gave it and the replicas' device-hours in the run (``nan``: not
    given)."""

    service: str
    attainment: float
    target: float
    ok: bool
    planned_devices: float
    device_hours: float = math.nan


def check_services(
    plan: Plan,
    outcomes: Sequence[ServiceResult],
    targets: Mapping[str, float],
    device_hours: Mapping[str, float] | None = None,
) -> tuple[ServiceDelivery, ...]:
    """Per service the plan planned, whether its simulated attainment reaches its target
    (``targets[service]``, the SLO's attainment); a planned service missing from the run
    fails with attainment 0."""
    planned: dict[str, float] = {}
    for c in plan.classes:
        if c.service:
            planned[c.service] = planned.get(c.service, 0.0) + sum(d for _, _, d in c.devices)
    by_id = {o.service: o for o in outcomes}
    out = []
    for svc, devices in planned.items():
        o = by_id.get(svc)
        att = o.attainment if o is not None else 0.0
        target = targets.get(svc, 0.99)
        hours = (device_hours or {}).get(svc, math.nan)
        out.append(ServiceDelivery(svc, att, target, att >= target, devices, hours))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SimCheck:
    """A plan checked in the simulator: the classes' delivered work and the services'
    attainment."""

    classes: tuple[Delivery, ...]
    services: tuple[ServiceDelivery, ...]

    @property
    def ok(self) -> bool:
        """Every class delivered and every service met its SLO attainment."""
        return all(c.ok for c in self.classes) and all(s.ok for s in self.services)

    def lines(self) -> list[str]:
        """The check in words, one line per class and service."""
        out = [
            f"class {c.name}: {c.delivered_pflops:,.2f} of {c.demand_pflops:,.2f} PFLOP/s "
            f"({c.ratio:.1%}) {'ok' if c.ok else 'SHORT'}"
            for c in self.classes
        ]
        out += [
            f"service {s.service}: SLO attainment {s.attainment:.2%} (target "
            f"{s.target:.0%}), {s.planned_devices:,.0f} devices planned, "
            f"{s.device_hours:,.0f} device-hours used {'ok' if s.ok else 'MISSED'}"
            for s in self.services
        ]
        return out


def check_simulation(
    plan: Plan, result: SimResult, window_start_s: float, tolerance: float = 0.05
) -> SimCheck:
    """Check a simulation of the plan's scenario: the work each job class did from
    ``window_start_s`` to the end of the run (:func:`check_delivery`), and each service's
    attainment over the whole run (:func:`check_services`)."""
    profiles = result.tables.profile_ids
    runs = []
    for j in range(len(result.jobs)):
        began = float(result.first_start[j])
        if math.isnan(began):
            continue
        ended = float(result.finish[j])
        pool = int(result.last_pool[j])
        rate = next(c.rate for c in result.jobs.candidates(j) if c.pool == pool)
        runs.append(
            (
                profiles[result.jobs.profile[j]],
                began,
                math.inf if math.isnan(ended) else ended,
                rate,
            )
        )
    window = result.end_s - window_start_s
    classes = check_delivery(
        plan, work_in_window(runs, window_start_s, result.end_s), window, tolerance
    )
    targets = {s.id: s.slo.attainment for s in result.scenario.services}
    hours = {o.service: float(o.device_s.sum()) / 3600.0 for o in result.services}
    return SimCheck(classes, check_services(plan, result.services, targets, hours))
