"""What a scenario holds, in numbers: the summary ``suanli validate`` prints.

The *offered load* of a generated workload estimates how busy it would keep the
fleet. For job class *c* with arrival rate λ_c (jobs/h), mean gang E[n] and mean
duration on the reference accelerator E[d], the demand in reference device-hours
per hour is ``D_c = λ_c E[n] E[d]``. The fleet offers the class
``C_c = Σ_{pools k accepting c} N_k s(a_k, p_c) / s(ref, p_c)`` reference-equivalent
devices. The offered load is ``Σ_c D_c / C_c``: above 1 the queue grows without
bound; the expectations are Monte-Carlo means of 20,000 draws with a fixed seed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from suanli.model.scenario import GeneratorSpec, JobClass, Scenario
from suanli.perf.power import idle_site_power_mw, peak_site_power_mw
from suanli.perf.roofline import speed_pflops
from suanli.workload.generator import sample


@dataclass(frozen=True, slots=True)
class SiteSummary:
    """One site's size and power."""

    id: str
    name: str
    hub: str
    devices: int
    pools: str
    pue: float
    capacity_mw: float
    peak_mw: float
    idle_mw: float
    mean_price: float
    kg_per_kwh: float
    subsidies: int


@dataclass(frozen=True, slots=True)
class ClassLoad:
    """Demand and capacity of one generated job class."""

    name: str
    tenant: str
    jobs_per_day: float
    mean_gang: float
    mean_hours_on_reference: float
    demand_ref_devices: float
    capacity_ref_devices: float

    @property
    def load(self) -> float:
        """Demand over capacity."""
        return (
            self.demand_ref_devices / self.capacity_ref_devices
            if self.capacity_ref_devices
            else float("inf")
        )


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    """Totals and per-site, per-type and per-class figures of a scenario."""

    sites: tuple[SiteSummary, ...]
    devices_by_type: dict[str, int]
    sites_by_type: dict[str, tuple[str, ...]]
    total_devices: int
    total_peak_mw: float
    total_capacity_mw: float
    links: int
    datasets: int
    tenants: int
    classes: tuple[ClassLoad, ...]
    warnings: tuple[str, ...]

    @property
    def offered_load(self) -> float:
        """Σ over classes of demand / capacity (see the module docstring)."""
        return sum(c.load for c in self.classes)


def scaled(sc: Scenario, load: float) -> Scenario:
    """The scenario with its arrival rates scaled to offer ``load``: every class's
    ``jobs_per_day`` times ``load`` ÷ the offered load (``suanli sweep --loads``)."""
    spec = sc.workload
    if not isinstance(spec, GeneratorSpec):
        raise ValueError(f"scenario {sc.name} has no workload generator to scale")
    factor = load / summarize(sc).offered_load
    classes = tuple(replace(c, jobs_per_day=c.jobs_per_day * factor) for c in spec.classes)
    return replace(sc, workload=replace(spec, classes=classes))


def summarize(scenario: Scenario) -> ScenarioSummary:
    """The numbers ``suanli validate`` shows."""
    sites = []
    by_type: dict[str, int] = defaultdict(int)
    where: dict[str, list[str]] = defaultdict(list)
    for s in scenario.sites:
        for p in s.pools:
            by_type[p.accelerator] += p.count
            where[p.accelerator].append(s.id)
        sites.append(
            SiteSummary(
                id=s.id,
                name=s.name,
                hub=s.hub,
                devices=s.devices,
                pools=", ".join(f"{p.accelerator}×{p.count:,}" for p in s.pools),
                pue=s.pue,
                capacity_mw=s.power_capacity_mw,
                peak_mw=peak_site_power_mw(s, scenario.catalog),
                idle_mw=idle_site_power_mw(s, scenario.catalog),
                mean_price=s.tariff.price.mean(),
                kg_per_kwh=s.carbon.kg_per_kwh.mean(),
                subsidies=len(s.subsidies),
            )
        )
    classes: tuple[ClassLoad, ...] = ()
    if isinstance(scenario.workload, GeneratorSpec):
        classes = tuple(
            _class_load(scenario, scenario.workload, c) for c in scenario.workload.classes
        )
    return ScenarioSummary(
        sites=tuple(sites),
        devices_by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        sites_by_type={k: tuple(v) for k, v in where.items()},
        total_devices=sum(by_type.values()),
        total_peak_mw=sum(s.peak_mw for s in sites),
        total_capacity_mw=sum(s.power_capacity_mw for s in scenario.sites),
        links=len(scenario.links),
        datasets=len(scenario.datasets),
        tenants=len(scenario.tenants),
        classes=classes,
        warnings=tuple(scenario_warnings(scenario)),
    )


def _class_load(scenario: Scenario, spec: GeneratorSpec, jc: JobClass) -> ClassLoad:
    rng = np.random.default_rng(0)
    gang = float(sample(jc.gang, rng, 20_000).mean())
    hours = float(sample(jc.hours_on_reference, rng, 20_000).mean())
    profile = scenario.profiles[jc.profile]
    ref = scenario.catalog[spec.reference]
    ref_speed = speed_pflops(ref, profile, scenario.efficiency[(ref.stack, profile.kind)])
    cap = 0.0
    for pool in scenario.pools:
        acc = scenario.catalog[pool.accelerator]
        if jc.accepted_types and acc.id not in jc.accepted_types:
            continue
        if jc.accepted_stacks and acc.stack not in jc.accepted_stacks:
            continue
        eff = scenario.efficiency.get((acc.stack, profile.kind))
        if eff is None:
            continue
        cap += pool.count * speed_pflops(acc, profile, eff) / ref_speed
    return ClassLoad(
        name=jc.name,
        tenant=jc.tenant,
        jobs_per_day=jc.jobs_per_day,
        mean_gang=gang,
        mean_hours_on_reference=hours,
        demand_ref_devices=jc.jobs_per_day / 24.0 * gang * hours,
        capacity_ref_devices=cap,
    )


def scenario_warnings(scenario: Scenario) -> list[str]:
    """Things that are allowed but probably not intended."""
    out: list[str] = []
    for s in scenario.sites:
        if s.tariff.periods and scenario.country == "CN":
            prices = s.tariff.price.values
            ratio = max(prices) / min(prices)
            if ratio < 3.0:
                out.append(
                    f"site {s.id}: peak/valley price ratio {ratio:.2f} is below China's 3:1 "
                    "time-of-use rule"
                )
        if not s.pools:
            out.append(f"site {s.id} has no pools")
    return out
