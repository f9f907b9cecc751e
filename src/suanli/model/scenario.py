"""The scenario: catalog, fleet, tenants, profiles, workload source and horizon."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from suanli.model.accelerator import Accelerator
from suanli.model.fleet import Dataset, Failure, Link, Pool, Site, Tenant
from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
    JobKind,
    WorkloadProfile,
)
from suanli.model.service import Service, UserRegion


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Fraction of peak a software stack reaches for a kind of work.

    ``compute`` scales peak FLOPS (model FLOPs utilisation), ``memory`` scales
    peak HBM bandwidth.
    """

    compute: float
    memory: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A random quantity for the workload generator.

    ``kind`` is ``fixed`` (``value``), ``choice`` (``values`` with ``weights``) or
    ``lognormal`` (given by ``median`` and ``mean``, clipped to ``[low, high]``).
    Samples are rounded up to a multiple of ``multiple_of`` when it is set, or
    to the nearest power of two when ``power_of_two`` is true.
    """

    kind: str
    value: float = 0.0
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    median: float = 0.0
    mean: float = 0.0
    low: float = 0.0
    high: float = float("inf")
    multiple_of: float = 0.0
    power_of_two: bool = False


@dataclass(frozen=True, slots=True)
class JobClass:
    """A stream of similar jobs from the generator (one tenant, one profile)."""

    name: str
    tenant: str
    kind: JobKind
    profile: str
    jobs_per_day: float
    gang: Distribution
    hours_on_reference: Distribution
    accepted_types: tuple[str, ...] = ()
    accepted_stacks: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    deferrable: bool = False
    types_ordered: bool = True
    preemptible: bool = DEFAULT_PREEMPTIBLE
    deadline_hours: float | None = None
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S
    restart_cost_s: float = DEFAULT_RESTART_COST_S
    priority: int = 0
    source: str = ""


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """Synthetic workload: Poisson arrivals per class, with a daily rhythm.

    The arrival rate of class *c* at local hour *h* is
    ``jobs_per_day(c) / 24 × diurnal[h]`` where ``diurnal`` averages to 1.
    Job durations are given on ``reference`` and turned into work (PFLOP) with
    the roofline speed of the class's profile on that accelerator.
    """

    seed: int
    reference: str
    classes: tuple[JobClass, ...]
    diurnal: tuple[float, ...] = (1.0,) * 24


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """Jobs read from a trace file in suanli's trace format (docs/trace-format.md).

    ``reference`` overrides the accelerator the trace's durations were measured
    on; ``time_scale`` multiplies submit times (below 1 compresses arrivals);
    ``target_load`` instead picks the time scale that offers that load to the fleet.
    """

    path: str
    format: str = "suanli"
    reference: str | None = None
    time_scale: float = 1.0
    target_load: float | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything a simulation or a plan needs, validated and resolved.

    ``catalog`` is the accelerator catalog after the scenario's overrides;
    ``efficiency`` maps ``(stack, kind)`` to the fraction of peak reached.
    """

    name: str
    description: str
    country: str
    currency: str
    start: datetime
    hours: int
    catalog: Mapping[str, Accelerator]
    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    datasets: tuple[Dataset, ...]
    tenants: tuple[Tenant, ...]
    profiles: Mapping[str, WorkloadProfile]
    efficiency: Mapping[tuple[str, JobKind], Efficiency]
    workload: GeneratorSpec | TraceSpec | None = None
    failures: tuple[Failure, ...] = ()
    policy_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    user_regions: tuple[UserRegion, ...] = ()
    services: tuple[Service, ...] = ()
    source: str = ""
    #: Price of a tonne of CO₂e in ``currency`` that carbon-aware policies add to the energy
    #: cost of their choices (0: none), and where it comes from.
    carbon_price_per_t: float = 0.0
    carbon_price_source: str = ""

    @property
    def horizon_s(self) -> float:
        """Length of the horizon in seconds."""
        return self.hours * 3600.0

    @property
    def pools(self) -> tuple[Pool, ...]:
        """All pools, site by site, in file order."""
        return tuple(p for s in self.sites for p in s.pools)

    def site(self, site_id: str) -> Site:
        """The site with this id (KeyError if absent)."""
        for s in self.sites:
            if s.id == site_id:
                return s
        raise KeyError(site_id)

    def link(self, a: str, b: str) -> Link | None:
        """The link between two distinct sites, if any."""
        for lk in self.links:
            if {lk.a, lk.b} == {a, b}:
                return lk
        return None

    def region(self, region_id: str) -> UserRegion:
        """The user region with this id (KeyError if absent)."""
        for r in self.user_regions:
            if r.id == region_id:
                return r
        raise KeyError(region_id)

    def is_domestic(self, accelerator_id: str, site_id: str | None = None) -> bool:
        """Whether an accelerator's designer is of the country of ``site_id`` (its own
        ``country``, else the scenario's), or of the scenario's country without a site."""
        country = self.country
        if site_id is not None:
            country = self.site(site_id).country or country
        return self.catalog[accelerator_id].origin == country
