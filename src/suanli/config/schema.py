"""The scenario file format: pydantic v2 models of the YAML, ``extra="forbid"``.

This module only describes shapes, ranges and units. Cross-references (a pool's
accelerator exists, a link joins known sites, a series file covers the horizon,
pools fit the site's power) are checked by :mod:`suanli.config.checks`, and
:mod:`suanli.config.build` turns a valid file into a :class:`suanli.model.Scenario`.
A reference of every field, with examples, is in ``docs/scenario-format.md``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from suanli.catalog import AcceleratorEntry
from suanli.config.schema_base import ID_PATTERN, Identifier, Location, Strict
from suanli.config.service_schema import ServiceConfig, UserRegionConfig
from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
    MAX_GANG,
    JobKind,
)


class SeriesFile(Strict):
    """An hourly series read from a CSV file.

    ``path`` is relative to the scenario file. ``time_column`` holds ISO
    timestamps (naive ones are read in ``timezone``); ``value_column`` the values,
    multiplied by ``scale`` (e.g. 0.001 to turn g/kWh into kg/kWh). The file must
    have a value for every hour of the horizon.
    """

    path: str
    time_column: str
    value_column: str
    timezone: str = "UTC"
    scale: float = Field(default=1.0, gt=0)


#: Values of a time-of-use period's ``days``.
DayName = Literal["weekday", "weekend", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class TouPeriod(Strict):
    """A time-of-use period: a price multiplier over some hours of the local day.

    ``hours`` is a list of ranges ``"HH-HH"`` (end exclusive; ``"22-24"``), in the
    site's local time. ``months`` and ``days`` (``weekday``, ``weekend``, ``mon`` …
    ``sun``) restrict it to some months and days; the tariff's ``holidays`` count
    as weekend days. Hours no period names are billed at multiplier 1 (``flat``).
    """

    name: str
    multiplier: float = Field(gt=0)
    hours: list[str]
    months: list[int] | None = Field(default=None, description="1-12; all months when absent")
    days: list[DayName] | None = Field(default=None, description="all days when absent")

    @field_validator("hours")
    @classmethod
    def _ranges(cls, v: list[str]) -> list[str]:
        for r in v:
            parse_hour_range(r)
        return v

    @field_validator("months")
    @classmethod
    def _months(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(m < 1 or m > 12 for m in v):
            raise ValueError("months must be between 1 and 12")
        return v


def parse_hour_range(text: str) -> range:
    """``"06-08"`` → ``range(6, 8)``; raises ValueError with a clear message."""
    parts = text.split("-")
    try:
        lo, hi = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"hour range {text!r} must look like '06-08' (end exclusive)") from None
    if not 0 <= lo < hi <= 24:
        raise ValueError(f"hour range {text!r} must satisfy 0 <= start < end <= 24")
    return range(lo, hi)


class TariffConfig(Strict):
    """Electricity price: ``base_per_kwh`` × time-of-use multipliers, or an hourly series.

    ``currency`` (default: the scenario's) is that of the prices and of the site's
    subsidies' ``min_price_per_kwh``. ``holidays`` are local dates billed as weekend
    days by the time-of-use periods.
    """

    currency: str | None = None
    base_per_kwh: float | None = Field(default=None, gt=0)
    time_of_use: list[TouPeriod] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    series: SeriesFile | None = None
    source: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> TariffConfig:
        if (self.base_per_kwh is None) == (self.series is None):
            raise ValueError("give either base_per_kwh (with optional time_of_use) or series")
        if self.series is not None and self.time_of_use:
            raise ValueError("time_of_use applies to base_per_kwh, not to a series")
        if self.series is not None and self.holidays:
            raise ValueError("holidays apply to time_of_use, not to a series")
        return self


class CarbonConfig(Strict):
    """Grid carbon intensity: a constant ``kg_per_kwh`` or an hourly series (kg/kWh)."""

    kg_per_kwh: float | None = Field(default=None, ge=0)
    series: SeriesFile | None = None
    source: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> CarbonConfig:
        if (self.kg_per_kwh is None) == (self.series is None):
            raise ValueError("give either kg_per_kwh or series")
        return self


class SubsidyConfig(Strict):
    """An electricity subsidy; see :class:`suanli.model.Subsidy`."""

    name: str
    eligible: Literal["domestic_accelerators", "all_accelerators"] = "domestic_accelerators"
    discount_fraction: float = Field(ge=0, le=1)
    min_price_per_kwh: float = Field(default=0.0, ge=0)
    source: str = ""


class PoolConfig(Strict):
    """``count`` accelerators of one type, in nodes of ``devices_per_node``."""

    accelerator: str
    count: int = Field(gt=0, le=10_000_000)
    devices_per_node: int | None = Field(default=None, ge=1, le=1024)
    source: str = ""


class PowerSavingConfig(Strict):
    """Idle nodes are suspended (as Slurm's power saving does) and resumed on demand.

    A node wholly idle for ``idle_minutes`` goes to sleep and draws
    ``sleep_fraction`` of its idle power; a job placed on sleeping nodes waits
    ``resume_minutes`` for them to boot.
    """

    idle_minutes: float = Field(15.0, gt=0)
    resume_minutes: float = Field(5.0, ge=0)
    sleep_fraction: float = Field(0.1, ge=0, le=1)
    source: str = ""


class SiteConfig(Strict):
    """A data centre: location, power, prices, carbon, subsidies and pools.

    ``timezone`` (an IANA name) is the local time of its time-of-use tariff; by
    default the horizon start's UTC offset. ``country`` (ISO 3166 alpha-2) is where it
    stands — an accelerator is *domestic* there when its designer is of that country (for
    subsidies and the planner's domestic share); by default the scenario's ``country``.
    """

    id: Identifier = Field(pattern=ID_PATTERN)
    name: str
    hub: str = ""
    location: Location
    timezone: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    grid_region: str
    pue: float = Field(ge=1.0, le=3.0)
    power_capacity_mw: float = Field(gt=0)
    max_power_oversubscription: float = Field(
        default=1.0,
        ge=1.0,
        le=2.0,
        description="pools may draw up to capacity × this at full TDP; the scheduler caps power",
    )
    tariff: TariffConfig
    carbon: CarbonConfig
    subsidies: list[SubsidyConfig] = Field(default_factory=list)
    pools: list[PoolConfig] = Field(default_factory=list)
    power_saving: PowerSavingConfig | None = None
    source: str = ""


class LinkConfig(Strict):
    """A symmetric network path between two sites."""

    between: tuple[str, str]
    bandwidth_gbps: float = Field(gt=0)
    latency_ms: float = Field(ge=0)
    cost_per_gb: float = Field(default=0.0, ge=0)
    currency: str | None = Field(default=None, description="of cost_per_gb; the scenario's")
    source: str = ""


class LinkDefaults(Strict):
    """Applied to every pair of sites no explicit link names."""

    bandwidth_gbps: float = Field(gt=0)
    latency_ms: float = Field(ge=0)
    cost_per_gb: float = Field(default=0.0, ge=0)
    currency: str | None = Field(default=None, description="of cost_per_gb; the scenario's")
    source: str = ""


class LinksConfig(Strict):
    """Explicit links, plus optional defaults for all other pairs."""

    default: LinkDefaults | None = None
    explicit: list[LinkConfig] = Field(default_factory=list)


class DatasetConfig(Strict):
    """A data set: size, home site and where it may be copied (``residency``).

    ``residency`` is ``anywhere``, ``home`` (never leaves its site) or a list of
    site ids it may be copied to.
    """

    id: Identifier = Field(pattern=ID_PATTERN)
    size_tb: float = Field(gt=0)
    home: str
    residency: Literal["anywhere", "home"] | list[str] = "anywhere"
    source: str = ""


class QuotaConfig(Strict):
    """At most ``max_devices`` at once, over the accelerators selected.

    Select by ``accelerators`` (ids), ``stacks`` or ``vendors``; with none of them
    the quota covers every accelerator.
    """

    max_devices: int = Field(ge=0)
    accelerators: list[str] = Field(default_factory=list)
    stacks: list[str] = Field(default_factory=list)
    vendors: list[str] = Field(default_factory=list)


class TenantConfig(Strict):
    """A tenant: fair-share weight, priority and quotas."""

    id: Identifier = Field(pattern=ID_PATTERN)
    name: str
    home: str | None = Field(default=None, description="site nearest the tenant's users")
    weight: float = Field(default=1.0, gt=0)
    priority: int = 0
    quotas: list[QuotaConfig] = Field(default_factory=list)
    source: str = ""


class ProfileConfig(Strict):
    """A workload profile (roofline inputs); see :class:`suanli.model.WorkloadProfile`."""

    kind: JobKind
    precisions: list[Literal["fp4", "fp8", "int8", "fp16", "bf16"]] = Field(min_length=1)
    flops_per_byte: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    power_factor: float = Field(default=0.85, gt=0, le=1)
    source: str = ""


class EfficiencyConfig(Strict):
    """Fraction of peak reached by a stack on a kind of work."""

    stack: str
    kind: JobKind | Literal["*"] = "*"
    compute: float = Field(gt=0, le=1)
    memory: float = Field(gt=0, le=1)
    source: str = ""


class DistributionConfig(Strict):
    """A random quantity: ``fixed``, ``choice`` or ``lognormal`` (see the model)."""

    fixed: float | None = Field(default=None, gt=0)
    choice: list[float] | None = None
    weights: list[float] | None = None
    lognormal: dict[Literal["median", "mean"], float] | None = None
    low: float = Field(default=0.0, ge=0)
    high: float | None = None
    multiple_of: float | None = Field(default=None, gt=0)
    power_of_two: bool = False
    source: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> DistributionConfig:
        kinds = [k for k in ("fixed", "choice", "lognormal") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of fixed, choice, lognormal")
        if self.choice is not None:
            if not self.choice or any(c <= 0 for c in self.choice):
                raise ValueError("choice needs positive values")
            if self.weights is not None and (
                len(self.weights) != len(self.choice) or any(w < 0 for w in self.weights)
            ):
                raise ValueError("weights must be non-negative, one per choice")
        if self.lognormal is not None:
            med, mean = self.lognormal.get("median"), self.lognormal.get("mean")
            if med is None or mean is None or med <= 0 or mean < med:
                raise ValueError("lognormal needs 0 < median <= mean")
        return self


class JobClassConfig(Strict):
    """A class of generated jobs; see :class:`suanli.model.scenario.JobClass`."""

    name: str
    tenant: str
    profile: str
    jobs_per_day: float = Field(gt=0)
    gang: DistributionConfig
    hours_on_reference: DistributionConfig
    accepted_types: list[str] = Field(default_factory=list)
    types_ordered: bool = Field(
        True, description="accepted_types is an order of preference (false: any, equally)"
    )
    accepted_stacks: list[str] = Field(default_factory=list)
    datasets: list[str] = Field(default_factory=list)
    deferrable: bool = False
    preemptible: bool = DEFAULT_PREEMPTIBLE
    deadline_hours: float | None = Field(default=None, gt=0)
    checkpoint_interval_min: float = Field(default=DEFAULT_CHECKPOINT_INTERVAL_S / 60, gt=0)
    restart_cost_min: float = Field(default=DEFAULT_RESTART_COST_S / 60, ge=0)
    priority: int = 0
    source: str = ""

    @model_validator(mode="after")
    def _bounded(self) -> JobClassConfig:
        for name, dist, limit in (
            ("gang", self.gang, MAX_GANG),
            ("hours_on_reference", self.hours_on_reference, MAX_JOB_HOURS),
        ):
            values = [dist.fixed, dist.high, dist.low, *(dist.choice or [])]
            values += list((dist.lognormal or {}).values())
            if any(v is not None and v > limit for v in values):
                raise ValueError(f"{name}: values above {limit:,} (docs/scenario-format.md)")
        return self


#: Longest run a job class may ask for, in hours on the reference accelerator (ten years).
MAX_JOB_HOURS = 87_600


class GeneratorConfig(Strict):
    """The synthetic workload generator."""

    seed: int = Field(default=0, ge=0, lt=2**63)
    reference_accelerator: str
    diurnal: list[float] | None = Field(default=None, description="24 relative rates")
    classes: list[JobClassConfig] = Field(min_length=1)
    source: str = ""

    @field_validator("diurnal")
    @classmethod
    def _diurnal(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (len(v) != 24 or any(x < 0 for x in v) or sum(v) <= 0):
            raise ValueError("diurnal needs 24 non-negative values with a positive sum")
        return v


class TraceConfig(Strict):
    """Jobs from a trace file (path relative to the scenario file); see docs/trace-format.md.

    ``format`` is ``suanli`` (CSV or Parquet in suanli's trace format) or a source
    converted on the fly: ``philly``, ``openb``, ``pollux``, ``tiresias``.
    """

    path: str
    format: str = "suanli"
    reference_accelerator: str | None = None
    time_scale: float = Field(default=1.0, gt=0)
    target_load: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_scale(self) -> TraceConfig:
        if self.target_load is not None and self.time_scale != 1.0:
            raise ValueError("give time_scale or target_load, not both")
        return self


class WorkloadConfig(Strict):
    """Where jobs come from: a generator or a trace."""

    generator: GeneratorConfig | None = None
    trace: TraceConfig | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> WorkloadConfig:
        if (self.generator is None) == (self.trace is None):
            raise ValueError("give either generator or trace")
        return self


class HorizonConfig(Strict):
    """The simulated period: a start with its UTC offset, and a length in hours."""

    start: datetime
    hours: int = Field(gt=0, le=24 * 366 * 5)

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-03-02T00:00:00+08:00")
        return v


class FailureConfig(Strict):
    """Nodes lost at a site (optionally one pool) from ``at_hour`` for ``hours``."""

    site: str
    accelerator: str | None = None
    nodes: int | None = Field(default=None, gt=0)
    at_hour: float = Field(ge=0)
    hours: float = Field(gt=0)
    label: str = ""


class CarbonPriceConfig(Strict):
    """A price on emissions, per tonne of CO₂e, that carbon-aware policies add to the energy
    cost of their choices (an internal carbon price, or a market's; docs/scenario-format.md)."""

    per_t: float = Field(ge=0, description="price of one tonne of CO2e")
    currency: str | None = Field(default=None, description="of per_t; the scenario's")
    source: str = ""


class CatalogConfig(Strict):
    """Changes to the built-in catalog: field overrides per id, and new entries."""

    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    add: list[AcceleratorEntry] = Field(default_factory=list)


class ScenarioConfig(Strict):
    """A whole scenario file."""

    name: str
    description: str = ""
    country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    currency: str = "CNY"
    exchange_rates: dict[str, float] = Field(
        default_factory=dict, description="units of `currency` per unit of each other currency"
    )
    horizon: HorizonConfig
    carbon_price: CarbonPriceConfig | None = None
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    sites: list[SiteConfig] = Field(min_length=1)
    links: LinksConfig = Field(default_factory=LinksConfig)
    datasets: list[DatasetConfig] = Field(default_factory=list)
    tenants: list[TenantConfig] = Field(min_length=1)
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    efficiency: list[EfficiencyConfig] = Field(default_factory=list)
    workload: WorkloadConfig | None = None
    failures: list[FailureConfig] = Field(default_factory=list)
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    user_regions: list[UserRegionConfig] = Field(default_factory=list)
    services: list[ServiceConfig] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for cur, rate in v.items():
            if not rate > 0:
                raise ValueError(f"the rate of {cur} must be a positive number, got {rate}")
        return v


class PerfDefaults(Strict):
    """The package's default efficiencies and profiles (``perf/defaults.yaml``)."""

    efficiency: list[EfficiencyConfig] = Field(default_factory=list)
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
