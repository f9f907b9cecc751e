r"""Demand classes that are online inference services: devices per user region and type.

A class of the planning file with ``service: k`` names a service of the planning
scenario's ``services:``. The planner derives its demand from the service itself, per
user region *r* of the service and per accelerator type *a* the service accepts (its
``shapes``; none given: every type of the plan whose memory holds the model), on the
same models the simulator scales replicas with (:mod:`suanli.core.serving_tables`,
:class:`suanli.policy.serving.common.Sizer`):

* **peak** — :math:`\Lambda_{kr} = (1 + h_k) \max_t \lambda_{kr}(t)`, the highest rate
  (requests/s) of the region's demand curve over the scenario's horizon, on the run's
  clock (:class:`~suanli.workload.service_demand.RegionDemand`), raised by the class's
  ``headroom`` :math:`h_k` (default 5%: room for the serving policy's forecast margin —
  the ``suanli`` policy's least is 5% — and for whole replicas split over pools), with
  the inter-arrival CV :math:`c_{kr}` of that window;
* **lengths** — the mean input and output tokens :math:`\bar I_k, \bar O_k` and their
  squared CVs, averaged over the service's regions weighted by their peaks (as the
  simulator's tables do);
* **a replica** — :math:`n_{ka}` devices (the shape's ``devices``, else the smallest that
  holds the weights and one full context, :func:`~suanli.perf.serving.min_replica_devices`)
  with :func:`~suanli.perf.serving.replica_perf` at the SLO's TPOT and mean context
  :math:`\bar I + \bar O/2`, serving at most :math:`\mu_{ka}` requests/s
  (:func:`~suanli.perf.queueing.replica_capacity`);
* **reach** — region *r* may be served from site *s* iff the one-way latency
  :math:`\ell_{rs}` (:func:`~suanli.perf.latency.region_latency_ms`) is within the region's
  bound, the simulator's rule;
* **replicas** — :math:`R_{kra}`, the fewest replicas whose fluid-model attainment of the
  SLO at :math:`\Lambda_{kr}` (CV :math:`c_{kr}`) reaches the SLO's attainment target,
  with the users :math:`\hat\ell_{ra} = \max \{\ell_{rs} : s \text{ within reach and able
  to hold type } a\}` away — the farthest site the plan could put them at, so the count
  holds wherever in reach they go (:func:`fewest_replicas`, the answer of
  :func:`~suanli.perf.queueing.replicas_needed`, which the simulator's ``Sizer``
  tabulates); type *a* cannot serve the region when no count reaches it (the TPOT or
  the network alone miss it: even a lightly loaded replica falls short);
* **devices** — :math:`N_{kra} = R_{kra}\, n_{ka}`.

In the MILP each (service, region) is one demand class in the planner's units, PFLOP/s:
its demand is the model's arithmetic at the peak,

.. math:: D_{kr} = \Lambda_{kr}\,(\bar I_k + \bar O_k)\cdot 2 A_k \,/\, 10^{15},

(:math:`A_k` active parameters; attention left out), and a device of type *a* delivers
:math:`\sigma_{kra} = D_{kr} / N_{kra}` of it, at utilisation :math:`u = 1` (the queueing
headroom is in :math:`R_{kra}`) and the serving power factor (0.7 of TDP). The demand row
:math:`\sum_{s,a} u\,\sigma_{kra}\, x_{s,a,kr} \ge D_{kr}` is then

.. math:: \sum_{s,a} \frac{x_{s,a,kr}}{N_{kra}} \;\ge\; 1,

devices of several types each covering their share of the peak. A pool must hold one
replica (:math:`n_{ka}` in the node shape); only sites within reach may serve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import yaml

from suanli.config.schema import ScenarioConfig
from suanli.model.accelerator import Accelerator
from suanli.model.scenario import Scenario
from suanli.model.service import ReplicaShape, Service, Slo
from suanli.perf.latency import region_latency_ms
from suanli.perf.queueing import ServiceLoad, replica_capacity, slo_attainment
from suanli.perf.serving import (
    SERVING_POWER_FACTOR,
    ReplicaPerf,
    min_replica_devices,
    replica_perf,
)
from suanli.perf.serving_defaults import serving_efficiency
from suanli.workload.service_demand import RegionDemand

#: The most replicas considered for one region on one type (as the simulator's Sizer).
MAX_REPLICAS = 4096


@dataclass(frozen=True, slots=True)
class RegionSizing:
    """What one region of a service needs at its peak, per accelerator type of the plan.

    ``peak_rps`` is the curve's peak, ``planned_rps`` the peak with the headroom (what
    the devices are sized for); ``devices[a]`` devices of type *a* (0: *a* cannot serve
    the region), ``replicas[a]``
    replicas of ``per_replica[a]`` devices; ``latency_ms[a]`` the farthest site in reach
    that could hold *a*, which the count was sized for; ``reach[s]`` sites within the
    region's bound.
    """

    service: str
    region: str
    peak_rps: float
    planned_rps: float
    cv: float
    demand_pflops: float
    devices: tuple[int, ...]
    replicas: tuple[int, ...]
    per_replica: tuple[int, ...]
    latency_ms: tuple[float, ...]
    reach: tuple[bool, ...]
    power_factor: float = SERVING_POWER_FACTOR

    def speed(self, a: int) -> float:
        """PFLOP/s per device of type *a* (``D / N``; 0 when it cannot serve)."""
        n = self.devices[a]
        return self.demand_pflops / n if n > 0 else 0.0


def scenario_shapes(scenario_text: str) -> dict[str, tuple[ReplicaShape, ...]]:
    """Each service's replica shapes as the scenario's YAML gives them (the loaded
    scenario keeps only the shapes its fleet can hold; a plan may buy the others)."""
    cfg = ScenarioConfig.model_validate(yaml.safe_load(scenario_text))
    return {
        s.id: tuple(ReplicaShape(sh.accelerator, sh.devices or 0) for sh in s.shapes)
        for s in cfg.services
    }


def service_of(scenario: Scenario, service_id: str) -> Service | None:
    """The scenario's service ``service_id`` (None: no such service)."""
    return next((s for s in scenario.services if s.id == service_id), None)


def size_service(
    scenario: Scenario,
    service: Service,
    accs: Sequence[Accelerator],
    able: Sequence[Sequence[bool]],
    shapes: Sequence[ReplicaShape] | None = None,
    accepted: Sequence[bool] | None = None,
    headroom: float = 0.0,
) -> tuple[RegionSizing, ...]:
    """Every region's needs (module docstring). ``accs`` are the plan's types,
    ``able[s][a]`` whether site *s* has or may buy type *a*; ``shapes`` the service's shapes
    (None: the loaded service's); ``accepted[a]`` whether the planning class allows *a*;
    ``headroom`` the share the peak is raised by."""
    shapes = service.shapes if shapes is None else shapes
    model, slo = service.model, service.slo
    demands = [
        RegionDemand.of(
            sr.demand, service.id, sr.region, scenario.start, scenario.region(sr.region).timezone
        )
        for sr in service.regions
    ]
    peaks = [_peak(d, scenario.horizon_s) for d in demands]
    weights = np.array([max(d.curve.rate_rps) for d in demands]) + 1e-12
    mi = float(np.average([d.curve.input_tokens.mean for d in demands], weights=weights))
    mo = float(np.average([d.curve.output_tokens.mean for d in demands], weights=weights))
    si = float(np.average([d.curve.input_tokens.scv for d in demands], weights=weights))
    so = float(np.average([d.curve.output_tokens.scv for d in demands], weights=weights))
    per_replica = _per_replica(service, accs, shapes, accepted)
    perfs = []
    for acc, n in zip(accs, per_replica, strict=True):
        perf = None
        if n > 0:
            perf = replica_perf(
                model, acc, n, serving_efficiency(acc.stack), slo.tpot_s, mi + mo / 2
            )
            if float(replica_capacity(perf, mi, mo, si, so)) <= 0:
                perf = None
        perfs.append(perf)
    out = []
    for sr, (top, cv) in zip(service.regions, peaks, strict=True):
        peak = top * (1.0 + headroom)
        region = scenario.region(sr.region)
        lat = [region_latency_ms(region, s, scenario.link) for s in scenario.sites]
        reach = tuple(x <= sr.max_latency_ms + 1e-9 for x in lat)
        devices, replicas, worst = [], [], []
        for a, perf in enumerate(perfs):
            sites = [lat[s] for s in range(len(lat)) if reach[s] and able[s][a]]
            if perf is None or not sites or peak <= 0:
                devices.append(0)
                replicas.append(0)
                worst.append(max(sites, default=math.nan))
                continue
            load = ServiceLoad(peak, mi, mo, cv, si, so)
            r = fewest_replicas(perf, slo, load, max(sites) / 1000.0)
            ok = 0 < r <= MAX_REPLICAS
            replicas.append(r if ok else 0)
            devices.append(r * per_replica[a] if ok else 0)
            worst.append(max(sites))
        flops = peak * (mi + mo) * 2.0 * model.active_params_b * 1e9 / 1e15
        out.append(
            RegionSizing(
                service=service.id,
                region=sr.region,
                peak_rps=top,
                planned_rps=peak,
                cv=cv,
                demand_pflops=flops,
                devices=tuple(devices),
                replicas=tuple(replicas),
                per_replica=tuple(per_replica),
                latency_ms=tuple(worst),
                reach=reach,
            )
        )
    return tuple(out)


def fewest_replicas(perf: ReplicaPerf, slo: Slo, load: ServiceLoad, latency_s: float) -> int:
    """The fewest replicas whose stationary attainment of ``slo`` reaches its target at
    ``load`` (:func:`~suanli.perf.queueing.replicas_needed`'s answer, searched in blocks
    of counts at once); ``MAX_REPLICAS + 1`` when none up to it does."""
    mu = float(replica_capacity(perf, load.mean_input, load.mean_output))
    if mu <= 0:
        return MAX_REPLICAS + 1
    light = replace(load, rate_rps=1e-3 * mu)
    if float(np.max(slo_attainment(perf, slo, light, 1, latency_s, p99=False).attainment)) < (
        slo.attainment
    ):
        return MAX_REPLICAS + 1  # even a lightly loaded replica misses: TPOT or network
    first = max(1, math.floor(float(np.max(load.rate_rps)) / mu) + 1)
    block = 64
    while first <= MAX_REPLICAS:
        c = np.arange(first, min(first + block, MAX_REPLICAS + 1))
        att = slo_attainment(perf, slo, load, c, latency_s, p99=False).attainment
        hit = np.flatnonzero(np.broadcast_to(att, c.shape) >= slo.attainment)
        if len(hit):
            return int(c[hit[0]])
        first += block
        block *= 2
    return MAX_REPLICAS + 1


def _per_replica(
    service: Service,
    accs: Sequence[Accelerator],
    shapes: Sequence[ReplicaShape],
    accepted: Sequence[bool] | None,
) -> list[int]:
    """Devices per replica on each type (0: the service does not accept it or it cannot
    hold the model): the first shape of the type, else its smallest replica."""
    given: dict[str, int] = {}
    for sh in shapes:
        given.setdefault(sh.accelerator, sh.devices)
    out = []
    for a, acc in enumerate(accs):
        if (accepted is not None and not accepted[a]) or (shapes and acc.id not in given):
            out.append(0)
            continue
        need = min_replica_devices(service.model, acc) if acc.mem_bw_tbs else None
        n = given.get(acc.id, 0) or (need or 0)
        out.append(n if need is not None and n >= need else 0)
    return out


def _peak(d: RegionDemand, horizon_s: float) -> tuple[float, float]:
    """The highest window rate over ``[0, horizon_s)`` and the CV of its window."""
    c = d.curve
    w = c.window_s
    a, b = d.offset_s, horizon_s + d.offset_s
    k = math.floor(a / w)
    top, cv = 0.0, 1.0
    while k * w < b:
        i = k % len(c.rate_rps)
        if c.rate_rps[i] > top:
            top, cv = c.rate_rps[i], c.cv[i]
        k += 1
    return top, cv


def region_class_name(class_name: str, region: str) -> str:
    """The demand class of one region of a service class in the plan (``class@region``)."""
    return f"{class_name}@{region}"


def shapes_for(
    service_shapes: Mapping[str, tuple[ReplicaShape, ...]] | None, service: Service
) -> tuple[ReplicaShape, ...]:
    """The service's shapes from the scenario's YAML, else the loaded service's."""
    if service_shapes is not None and service.id in service_shapes:
        return service_shapes[service.id]
    return service.shapes
