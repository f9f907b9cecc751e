"""Sites, pools, links, datasets and tenants: the fleet a scenario describes.

Hourly quantities (electricity price, carbon intensity) are stored as one value
per hour of the scenario's horizon, already aligned to its start: hour ``h``
covers ``[start + h·3600 s, start + (h+1)·3600 s)``. Queries past the end wrap
around (a time-of-use day repeats; a series is treated as periodic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SubsidyEligibility = Literal["domestic_accelerators", "all_accelerators"]


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """A value per horizon hour, with a label saying where it came from."""

    values: tuple[float, ...]
    label: str = ""

    def at_hour(self, hour: int) -> float:
        """Value in horizon hour ``hour`` (wrapping past the end)."""
        return self.values[hour % len(self.values)]

    def at(self, t_s: float) -> float:
        """Value at ``t_s`` seconds after the horizon start."""
        return self.at_hour(int(t_s // 3600.0))

    def mean(self) -> float:
        """Time average over the horizon."""
        return sum(self.values) / len(self.values)


@dataclass(frozen=True, slots=True)
class Tariff:
    """Electricity price (currency per kWh) per horizon hour.

    ``periods`` names the time-of-use period of each hour (``peak``, ``flat``,
    ``valley`` …) when the tariff is a schedule; it is empty for a series.
    """

    currency: str
    price: HourlySeries
    periods: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class CarbonIntensity:
    """Grid carbon intensity (kg CO₂ per kWh) per horizon hour."""

    kg_per_kwh: HourlySeries
    source: str = ""


@dataclass(frozen=True, slots=True)
class Subsidy:
    """An electricity subsidy at a site.

    The eligible energy (that of pools whose accelerators qualify) is billed at
    ``max(price × (1 − discount_fraction), min_price_per_kwh)`` instead of ``price``.
    """

    name: str
    eligible: SubsidyEligibility
    discount_fraction: float
    min_price_per_kwh: float = 0.0
    source: str = ""


@dataclass(frozen=True, slots=True)
class Pool:
    """Accelerators of one type at one site, in nodes of ``devices_per_node``."""

    site: str
    accelerator: str
    count: int
    devices_per_node: int

    @property
    def id(self) -> str:
        """``site/accelerator``: unique within a scenario."""
        return f"{self.site}/{self.accelerator}"

    @property
    def nodes(self) -> int:
        """Number of nodes (``count`` is a whole number of nodes)."""
        return self.count // self.devices_per_node


@dataclass(frozen=True, slots=True)
class PowerSaving:
    """Suspend wholly idle nodes after ``idle_s``; they draw ``sleep_fraction`` of idle
    power and take ``resume_s`` to boot when work is placed on them."""

    idle_s: float
    resume_s: float
    sleep_fraction: float


@dataclass(frozen=True, slots=True)
class Site:
    """A data centre (or cluster) with its power, prices, carbon and pools."""

    id: str
    name: str
    lat: float
    lon: float
    grid_region: str
    pue: float
    power_capacity_mw: float
    tariff: Tariff
    carbon: CarbonIntensity
    pools: tuple[Pool, ...]
    subsidies: tuple[Subsidy, ...] = ()
    #: ISO country code of where it stands (empty: the scenario's country).
    country: str = ""
    hub: str = ""
    province: str = ""
    source: str = ""
    power_saving: PowerSaving | None = None

    @property
    def devices(self) -> int:
        """Total accelerators at the site."""
        return sum(p.count for p in self.pools)


@dataclass(frozen=True, slots=True)
class Link:
    """A network path between two sites (symmetric)."""

    a: str
    b: str
    bandwidth_gbps: float
    latency_ms: float
    cost_per_gb: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class Dataset:
    """A data set with a home site and residency rules.

    ``allowed_sites`` lists where it may be copied; ``None`` means anywhere, and
    an empty tuple means it must stay at home.
    """

    id: str
    size_tb: float
    home: str
    allowed_sites: tuple[str, ...] | None = None

    def may_use(self, site: str) -> bool:
        """Whether a job may read this data set at ``site``."""
        if site == self.home:
            return True
        return self.allowed_sites is None or site in self.allowed_sites


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``max_devices`` devices at once of the listed accelerator types."""

    accelerators: tuple[str, ...]
    max_devices: int
    label: str = ""


@dataclass(frozen=True, slots=True)
class Tenant:
    """A user organisation with a fair-share weight, a priority and quotas.

    ``home`` is the site nearest its users (where "nearest site first" starts).
    """

    id: str
    name: str
    weight: float = 1.0
    priority: int = 0
    quotas: tuple[Quota, ...] = ()
    home: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Nodes lost at a site for a while (``nodes=None``: the whole pool/site)."""

    site: str
    start_s: float
    duration_s: float
    accelerator: str | None = None
    nodes: int | None = None
    label: str = field(default="")
