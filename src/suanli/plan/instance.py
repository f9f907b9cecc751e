"""The numbers a plan is solved over: sites, accelerator types, demand classes, limits.

A :class:`PlanInstance` holds only numbers and ids (no YAML, no pydantic); the
MILP (:mod:`suanli.plan.milp`) is written over it, and tests build small random
ones directly. :func:`build_instance` derives one from a scenario and planning
inputs:

* **speed** ``σ[c][a]`` — PFLOP/s per device of type *a* on class *c*: the roofline
  speed of the class's profile with the stack's efficiency
  (:func:`suanli.perf.roofline.speed_pflops`); 0 when the type is not accepted (stack,
  id), lacks the precision or has no efficiency entry.
* **memory fit** — a class whose profile needs ``M`` GB must get, on type *a*, a
  gang of ``n_min`` devices (:func:`suanli.perf.memory.min_devices`) rounded up to
  the node shape; the pool must hold at least ``max(n_min, min_pool_devices)``.
* **latency** — with ``users_near`` *u* and bound *L*, site *s* may serve the class
  iff ``s = u`` or the link between them has latency ≤ *L*.
* **energy price** ``π[s][a]`` — the time average of the hourly tariff over the
  scenario's horizon (the time-of-use-weighted price of a flat load), with the
  subsidies that apply to type *a* taken off hour by hour
  (:func:`suanli.perf.energy.subsidy_per_kwh`).
* **unit price** — list price × currency rate × (1 + import tariff); each node adds
  ``node_cost``.
* **carbon price** — each tonne of CO₂ (location-based, less green power bought)
  adds ``carbon_price_per_t`` to the opex (0 when not given);
* **horizon** — opex is counted over ``Y`` years, discounted at rate *r* with the
  annuity factor ``(1 − (1 + r)^−Y) / r`` (``Y`` when *r* = 0).
* **services** — a class naming an online inference service becomes one class per user
  region of the service: its demand in PFLOP/s at the region's peak and, per type, the
  speed that makes the devices the service needs there at its SLO deliver exactly it
  (:mod:`suanli.plan.service_demand`, where the conversion is written out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from suanli.catalog.export_control import (
    CLASS_A1,
    CLASS_A2,
    CLASS_B1,
    CLASS_B2,
    eccn_3a090_class,
    jan2026_case_by_case,
)
from suanli.config.schema import ScenarioConfig
from suanli.model.accelerator import Accelerator
from suanli.model.fleet import Site
from suanli.model.job import WorkloadProfile
from suanli.model.scenario import Scenario
from suanli.model.service import ReplicaShape
from suanli.perf.energy import subsidy_per_kwh
from suanli.perf.memory import min_devices
from suanli.perf.roofline import speed_pflops
from suanli.plan.schema import SERVICE_HEADROOM, DemandClass, PlanningFile
from suanli.plan.service_demand import (
    region_class_name,
    service_of,
    shapes_for,
    size_service,
)

HOURS_PER_YEAR = 8760.0

#: How each kind of supply rule is named in sentences ("the export cap on nvidia_h200_sxm").
RULE_LABELS = {
    "ban": "ban on",
    "export_cap": "export cap on",
    "domestic_production": "domestic supply of",
    "cap": "cap on",
}


@dataclass(frozen=True, slots=True)
class SiteData:
    """A site as the planner sees it (power in MW, money in the scenario currency)."""

    id: str
    name: str
    lat: float
    lon: float
    pue: float
    capacity_mw: float
    oversubscription: float
    max_expansion_mw: float
    expansion_cost_per_mw: float
    carbon_kg_per_kwh: float
    green_max_share: float = 0.0
    green_premium_per_kwh: float = 0.0


@dataclass(frozen=True, slots=True)
class TypeData:
    """An accelerator type: power, node shape and price (``unit_price`` None: not for sale)."""

    id: str
    vendor: str
    stack: str
    domestic: bool
    devices_per_node: int
    tdp_w: float
    idle_w: float
    candidate: bool
    unit_price: float | None = None
    node_cost: float = 0.0
    tariff_rate: float = 0.0
    price_source: str = ""


@dataclass(frozen=True, slots=True)
class ClassData:
    """A demand class: sustained demand and where and on what it may run.

    ``speed[a]`` is PFLOP/s per device of type *a* (0: cannot run), ``min_pool[a]``
    the smallest pool of type *a* that holds one gang, ``allowed_sites[s]`` whether
    site *s* may serve it.
    """

    name: str
    profile: str
    demand_pflops: float
    utilisation: float
    power_factor: float
    speed: tuple[float, ...]
    min_pool: tuple[int, ...]
    allowed_sites: tuple[bool, ...]
    weight: float = 1.0
    #: For one region of an online inference service (``service`` class): the service
    #: and the user region (:mod:`suanli.plan.service_demand`); empty otherwise.
    service: str = ""
    region: str = ""


@dataclass(frozen=True, slots=True)
class CapData:
    """At most ``units`` new devices, summed over ``types`` (indices)."""

    label: str
    kind: str
    types: tuple[int, ...]
    units: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class PlanInstance:
    """Everything the MILP needs, as numbers (see the module docstring).

    ``existing[s][a]`` devices are in place; ``energy_price[s][a]`` per kWh (after the
    subsidies type *a* gets at site *s*); ``domestic_at[s][a]`` whether *a* is domestic
    in the country of site *s* (empty: each type's ``domestic``, the scenario's country);
    ``opex_years`` the (discounted) years of operation counted.
    """

    name: str
    currency: str
    sites: tuple[SiteData, ...]
    types: tuple[TypeData, ...]
    classes: tuple[ClassData, ...]
    existing: tuple[tuple[int, ...], ...]
    energy_price: tuple[tuple[float, ...], ...]
    caps: tuple[CapData, ...] = ()
    domestic_at: tuple[tuple[bool, ...], ...] = ()
    horizon_years: float = 3.0
    opex_years: float = 3.0
    budget: float | None = None
    budget_covers: str = "tco"
    carbon_budget_t: float | None = None
    min_green_share: float | None = None
    allow_retirement: bool = False
    carbon_price_per_t: float = 0.0

    @property
    def opex_hours(self) -> float:
        """Hours of operation counted in opex (discounted)."""
        return HOURS_PER_YEAR * self.opex_years

    def max_devices(self, s: int, a: int) -> int:
        """Most devices of type *a* site *s* could hold with its largest expansion."""
        site, t = self.sites[s], self.types[a]
        mw = site.oversubscription * (site.capacity_mw + site.max_expansion_mw)
        per_node_mw = site.pue * t.tdp_w * t.devices_per_node / 1e6
        nodes = math.floor(mw / per_node_mw + 1e-9) if per_node_mw > 0 else 0
        return max(nodes * t.devices_per_node, self.existing[s][a])

    def is_domestic(self, s: int, a: int) -> bool:
        """Whether type *a* is domestic at site *s* (``domestic_at``)."""
        return self.domestic_at[s][a] if self.domestic_at else self.types[a].domestic


def annuity_years(years: float, rate: float) -> float:
    """Discounted years: ``(1 − (1 + r)^−Y) / r``, or ``Y`` when ``r = 0``."""
    return years if rate == 0 else (1.0 - (1.0 + rate) ** -years) / rate


def pool_devices_for_gang(devices: int, per_node: int, in_node_sizes: Sequence[int]) -> int:
    """Devices a gang really occupies: an allowed in-node size, or whole nodes beyond one."""
    if devices <= per_node:
        fitting = [s for s in in_node_sizes if s >= devices]
        return min(fitting) if fitting else per_node
    return -(-devices // per_node) * per_node


def profile_speed(scenario: Scenario, acc: Accelerator, profile: WorkloadProfile) -> float:
    """PFLOP/s per device of ``acc`` on ``profile`` (0 when it cannot run it)."""
    if acc.missing_for_pools():
        return 0.0
    eff = scenario.efficiency.get((acc.stack, profile.kind))
    return 0.0 if eff is None else speed_pflops(acc, profile, eff)


def class_speed(
    scenario: Scenario, cls: DemandClass, acc: Accelerator, profile: WorkloadProfile
) -> float:
    """PFLOP/s per device of ``acc`` on ``cls`` (0 when not accepted or unable)."""
    if cls.accepted_stacks and acc.stack not in cls.accepted_stacks:
        return 0.0
    if cls.accepted_types and acc.id not in cls.accepted_types:
        return 0.0
    return profile_speed(scenario, acc, profile)


def allowed_sites(scenario: Scenario, cls: DemandClass) -> tuple[bool, ...]:
    """Whether each site is within the class's latency bound of its users."""
    if cls.users_near is None or cls.max_latency_ms is None:
        return tuple(True for _ in scenario.sites)
    out = []
    for s in scenario.sites:
        link = scenario.link(cls.users_near, s.id)
        ok = s.id == cls.users_near or (link is not None and link.latency_ms <= cls.max_latency_ms)
        out.append(ok)
    return tuple(out)


def type_ids(scenario: Scenario, pf: PlanningFile) -> list[str]:
    """Types in the plan: those in pools (scenario order), then the candidates."""
    ids = list(dict.fromkeys(p.accelerator for p in scenario.pools))
    return ids + [c for c in dict.fromkeys(pf.candidates) if c not in ids]


def oversubscription(scenario_text: str) -> dict[str, float]:
    """``max_power_oversubscription`` of each site, read from the scenario's YAML."""
    cfg = ScenarioConfig.model_validate(yaml.safe_load(scenario_text))
    return {s.id: s.max_power_oversubscription for s in cfg.sites}


def tariff_rate(pf: PlanningFile, acc: Accelerator, country: str) -> tuple[float, str]:
    """Import tariff on ``acc`` (the largest rule that matches) and the rule's source."""
    best, source = 0.0, ""
    for t in pf.import_tariffs:
        if acc.origin == country:
            continue
        if t.accelerators:
            hit = acc.id in t.accelerators
        elif t.rule == "imported":
            hit = True
        else:
            licensed = eccn_3a090_class(acc) in (CLASS_A1, CLASS_A2, CLASS_B1, CLASS_B2)
            hit = licensed and bool(jan2026_case_by_case(acc))
        if hit and t.rate > best:
            best, source = t.rate, t.source
    return best, source


def money(pf: PlanningFile, amount: float, currency: str, scenario_currency: str) -> float:
    """``amount`` in the scenario currency (currencies are checked when loading)."""
    if currency == scenario_currency:
        return amount
    return amount * pf.currency_rates[currency].rate


def unit_price(
    pf: PlanningFile, acc: Accelerator, scenario: Scenario
) -> tuple[float | None, float, str]:
    """Price of one device in the scenario currency (with tariff), the tariff and the source."""
    rate, rate_source = tariff_rate(pf, acc, scenario.country)
    if acc.id in pf.prices:
        m = pf.prices[acc.id]
        list_price, source = money(pf, m.amount, m.currency, scenario.currency), m.source
    elif acc.price_usd is not None and (scenario.currency == "USD" or "USD" in pf.currency_rates):
        list_price = money(pf, acc.price_usd, "USD", scenario.currency)
        source = acc.sources.get("price", "catalog")
    else:
        return None, rate, ""
    if rate:
        source += f"; import tariff {rate:.0%}: {rate_source}"
    return list_price * (1.0 + rate), rate, source


def energy_prices(site: Site, domestic: bool) -> float:
    """Mean price per kWh over the horizon for a pool of domestic (or foreign) chips."""
    prices = site.tariff.price.values
    net = [p - subsidy_per_kwh(p, site.subsidies, domestic) for p in prices]
    return sum(net) / len(net)


def build_instance(
    scenario: Scenario,
    pf: PlanningFile,
    oversub: Mapping[str, float],
    *,
    horizon_years: float | None = None,
    service_shapes: Mapping[str, tuple[ReplicaShape, ...]] | None = None,
) -> PlanInstance:
    """The instance of ``pf`` over ``scenario`` (inputs already checked by the loader).

    ``service_shapes`` are the services' replica shapes as the scenario's YAML gives
    them (:func:`~suanli.plan.service_demand.scenario_shapes`; None: the loaded
    scenario's, which keeps only the types already in its pools)."""
    ids = type_ids(scenario, pf)
    accs = [scenario.catalog[i] for i in ids]
    candidates = set(pf.candidates)
    types = []
    for acc in accs:
        price, rate, source = unit_price(pf, acc, scenario)
        node_cost = (
            money(pf, pf.node_cost.amount, pf.node_cost.currency, scenario.currency)
            if pf.node_cost
            else 0.0
        )
        types.append(
            TypeData(
                id=acc.id,
                vendor=acc.vendor,
                stack=acc.stack,
                domestic=acc.origin == scenario.country,
                devices_per_node=acc.devices_per_node,
                tdp_w=acc.tdp_w or 0.0,
                idle_w=acc.idle_power_w,
                candidate=acc.id in candidates,
                unit_price=price,
                node_cost=node_cost,
                tariff_rate=rate,
                price_source=source,
            )
        )
    sites = tuple(
        _site_data(pf, s, oversub.get(s.id, 1.0), scenario.currency) for s in scenario.sites
    )
    existing = tuple(
        tuple(next((p.count for p in s.pools if p.accelerator == i), 0) for i in ids)
        for s in scenario.sites
    )
    domestic_at = tuple(
        tuple(scenario.is_domestic(acc.id, s.id) for acc in accs) for s in scenario.sites
    )
    prices = tuple(
        tuple(energy_prices(s, dom) for dom in row)
        for s, row in zip(scenario.sites, domestic_at, strict=True)
    )
    classes = tuple(
        cd
        for c in pf.classes
        for cd in (
            _service_class_data(scenario, pf, c, accs, service_shapes)
            if c.service is not None
            else (_class_data(scenario, pf, c, accs),)
        )
    )
    caps = []
    for rule in pf.supply:
        if rule.period not in pf.purchase_periods:
            continue
        limit = rule.limit()
        assert limit is not None
        idx = tuple(ids.index(a) for a in rule.accelerators if a in ids)
        label = f"{RULE_LABELS[rule.kind]} {' + '.join(rule.accelerators)}"
        caps.append(CapData(label, rule.kind, idx, limit, rule.source))
    years = pf.horizon_years if horizon_years is None else horizon_years
    budget = None
    if pf.budget is not None:
        budget = money(pf, pf.budget.amount, pf.budget.currency, scenario.currency)
    return PlanInstance(
        name=pf.name or scenario.name,
        currency=scenario.currency,
        sites=sites,
        types=tuple(types),
        classes=classes,
        existing=existing,
        energy_price=prices,
        domestic_at=domestic_at,
        caps=tuple(caps),
        horizon_years=years,
        opex_years=annuity_years(years, pf.discount_rate),
        budget=budget,
        budget_covers=pf.budget.covers if pf.budget else "tco",
        carbon_budget_t=pf.carbon_budget_t,
        carbon_price_per_t=(
            money(
                pf, pf.carbon_price_per_t.amount, pf.carbon_price_per_t.currency, scenario.currency
            )
            if pf.carbon_price_per_t
            else 0.0
        ),
        min_green_share=pf.min_green_share,
        allow_retirement=pf.allow_retirement,
    )


def _site_data(pf: PlanningFile, site: Site, oversub: float, currency: str) -> SiteData:
    """A site's planning figures: its own entry in ``sites``, else ``site_defaults``."""
    own = pf.sites.get(site.id)

    def pick(name: str) -> Any:
        value = getattr(own, name) if own is not None else None
        return getattr(pf.site_defaults, name) if value is None else value

    cost = pick("expansion_cost_per_mw")
    return SiteData(
        id=site.id,
        name=site.name,
        lat=site.lat,
        lon=site.lon,
        pue=site.pue,
        capacity_mw=site.power_capacity_mw,
        oversubscription=oversub,
        max_expansion_mw=float(pick("max_expansion_mw") or 0.0),
        expansion_cost_per_mw=money(pf, cost.amount, cost.currency, currency) if cost else 0.0,
        carbon_kg_per_kwh=site.carbon.kg_per_kwh.mean(),
        green_max_share=float(pick("green_max_share") or 0.0),
        green_premium_per_kwh=float(pick("green_premium_per_kwh") or 0.0),
    )


def class_demand_pflops(scenario: Scenario, pf: PlanningFile, cls: DemandClass) -> float:
    """Sustained demand of ``cls`` in PFLOP/s (a class with ``profile`` and ``demand``)."""
    assert cls.demand is not None and cls.profile is not None
    if cls.demand.pflops is not None:
        return cls.demand.pflops
    assert cls.demand.reference_devices is not None
    ref = scenario.catalog[cls.demand.reference or pf.reference_accelerator]
    return cls.demand.reference_devices * profile_speed(
        scenario, ref, scenario.profiles[cls.profile]
    )


def _class_data(
    scenario: Scenario, pf: PlanningFile, cls: DemandClass, accs: Sequence[Accelerator]
) -> ClassData:
    assert cls.profile is not None
    profile = scenario.profiles[cls.profile]
    speeds, pools = [], []
    for acc in accs:
        speed = class_speed(scenario, cls, acc, profile)
        pool = 0
        if speed > 0:
            gang = pool_devices_for_gang(
                min_devices(acc, profile), acc.devices_per_node, acc.node_gang_sizes
            )
            pool = max(gang, cls.min_pool_devices or 0)
        speeds.append(speed)
        pools.append(pool)
    return ClassData(
        name=cls.name,
        profile=cls.profile,
        demand_pflops=class_demand_pflops(scenario, pf, cls),
        utilisation=cls.utilisation or pf.utilisation,
        power_factor=profile.power_factor,
        speed=tuple(speeds),
        min_pool=tuple(pools),
        allowed_sites=allowed_sites(scenario, cls),
        weight=cls.value_weight,
    )


def type_able(scenario: Scenario, pf: PlanningFile, ids: Sequence[str]) -> list[list[bool]]:
    """``able[s][a]``: site *s* has a pool of type *a* or may buy it (a candidate)."""
    candidates = set(pf.candidates)
    return [
        [i in candidates or any(p.accelerator == i for p in s.pools) for i in ids]
        for s in scenario.sites
    ]


def service_accepted(cls: DemandClass, accs: Sequence[Accelerator]) -> list[bool]:
    """Whether a service class's ``accepted_stacks``/``accepted_types`` allow each type."""
    return [
        (not cls.accepted_stacks or a.stack in cls.accepted_stacks)
        and (not cls.accepted_types or a.id in cls.accepted_types)
        for a in accs
    ]


def _service_class_data(
    scenario: Scenario,
    pf: PlanningFile,
    cls: DemandClass,
    accs: Sequence[Accelerator],
    service_shapes: Mapping[str, tuple[ReplicaShape, ...]] | None,
) -> tuple[ClassData, ...]:
    """One class per user region of the service ``cls`` names (the loader checked it)."""
    assert cls.service is not None
    svc = service_of(scenario, cls.service)
    assert svc is not None
    sizing = size_service(
        scenario,
        svc,
        accs,
        type_able(scenario, pf, [a.id for a in accs]),
        shapes_for(service_shapes, svc),
        service_accepted(cls, accs),
        service_headroom(cls),
    )
    out = []
    for rs in sizing:
        pools = [
            pool_devices_for_gang(n, acc.devices_per_node, acc.node_gang_sizes) if n else 0
            for n, acc in zip(rs.per_replica, accs, strict=True)
        ]
        speeds = tuple(rs.speed(a) for a in range(len(accs)))
        out.append(
            ClassData(
                name=region_class_name(cls.name, rs.region),
                profile=f"service:{svc.id}",
                demand_pflops=rs.demand_pflops,
                utilisation=1.0,
                power_factor=rs.power_factor,
                speed=speeds,
                min_pool=tuple(p if v > 0 else 0 for p, v in zip(pools, speeds, strict=True)),
                allowed_sites=rs.reach,
                weight=cls.value_weight,
                service=svc.id,
                region=rs.region,
            )
        )
    return tuple(out)


def service_headroom(cls: DemandClass) -> float:
    """The share a service class's peak is raised by (its ``headroom``, else the default)."""
    return SERVICE_HEADROOM if cls.headroom is None else cls.headroom
