"""The planning-inputs file: demand classes and the rules a plan must respect.

Pydantic v2 models of the YAML (``extra="forbid"``): shapes, ranges and units
only. References to the scenario and the catalog (accelerators, profiles, sites,
tenants) are checked by :mod:`suanli.plan.load`, which also resolves ``extends``.
Every field is described in ``docs/planning.md``.

Amounts of money carry a currency; the plan works in the scenario's currency and
turns other currencies into it with ``currency_rates`` (scenario currency per unit).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from suanli.config.schema import DistributionConfig
from suanli.config.schema_base import ID_PATTERN
from suanli.model.job import (
    DEFAULT_CHECKPOINT_INTERVAL_S,
    DEFAULT_PREEMPTIBLE,
    DEFAULT_RESTART_COST_S,
)


class Strict(BaseModel):
    """Base: unknown fields are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Money(Strict):
    """An amount in a currency, with where it comes from (or ``ASSUMPTION: …``)."""

    amount: float = Field(ge=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    source: str = ""


class Rate(Strict):
    """Units of the scenario's currency per unit of another currency."""

    rate: float = Field(gt=0)
    source: str = ""


class TariffRule(Strict):
    """An import tariff on the list price of some accelerators.

    Select them by ``accelerators`` (ids) or by ``rule``: ``jan2026_case_by_case``
    (imported chips that need a 3A090 licence and fall under the January 2026
    case-by-case thresholds, e.g. H200, MI325X) or ``imported`` (every chip whose
    designer is abroad).
    """

    rate: float = Field(ge=0, le=5)
    accelerators: list[str] = Field(default_factory=list)
    rule: Literal["jan2026_case_by_case", "imported"] | None = None
    source: str = ""

    @model_validator(mode="after")
    def _one_selector(self) -> TariffRule:
        if bool(self.accelerators) == (self.rule is not None):
            raise ValueError("give either accelerators or rule")
        return self


SupplyKind = Literal["ban", "export_cap", "domestic_production", "cap"]


class SupplyRule(Strict):
    """A limit on how many units of some accelerators the plan may buy.

    ``kind``: ``ban`` (none at all), ``export_cap`` (a licence cap on imports),
    ``domestic_production`` (what domestic fabs deliver to this network) or a plain
    ``cap``. The limit is ``units``, or ``us_customer_units × max_ratio ×
    network_share`` for an export cap tied to US-customer volume (the January 2026
    rule: China shipments ≤ 50% of US volume). One rule over several accelerators
    caps their sum. ``period`` names the purchase period it covers.

    In a file that ``extends`` another, a rule with the same accelerators and kind
    replaces the base one; ``scale`` multiplies the base rule's limit instead, and
    ``remove: true`` drops it.
    """

    accelerators: list[str] = Field(min_length=1)
    kind: SupplyKind
    units: int | None = Field(default=None, ge=0)
    us_customer_units: int | None = Field(default=None, ge=0)
    max_ratio: float | None = Field(default=None, ge=0)
    network_share: float = Field(default=1.0, ge=0, le=1)
    scale: float | None = Field(default=None, ge=0)
    remove: bool = False
    period: str = "2026"
    source: str = ""

    @model_validator(mode="after")
    def _limit(self) -> SupplyRule:
        if self.remove or self.scale is not None or self.kind == "ban":
            return self
        by_ratio = self.us_customer_units is not None or self.max_ratio is not None
        if by_ratio and (self.us_customer_units is None or self.max_ratio is None):
            raise ValueError("an export cap by ratio needs both us_customer_units and max_ratio")
        if by_ratio == (self.units is not None):
            raise ValueError("give either units or us_customer_units with max_ratio")
        return self

    def limit(self) -> int | None:
        """The unit limit (``0`` for a ban; ``None`` for a ``scale``/``remove`` marker)."""
        if self.kind == "ban":
            return 0
        if self.units is not None:
            return self.units
        if self.us_customer_units is not None and self.max_ratio is not None:
            return int(self.us_customer_units * self.max_ratio * self.network_share)
        return None

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        """What identifies the rule when a file extends another."""
        return tuple(sorted(self.accelerators)), self.kind


class SitePlanning(Strict):
    """What a site allows the plan to build, and its green power."""

    max_expansion_mw: float | None = Field(default=None, ge=0)
    expansion_cost_per_mw: Money | None = None
    green_max_share: float | None = Field(default=None, ge=0, le=1)
    green_premium_per_kwh: float | None = Field(default=None, ge=0)
    source: str = ""


class DemandAmount(Strict):
    """Sustained demand: ``pflops`` (PFLOP/s of useful work), or ``reference_devices``
    (devices of ``reference`` kept busy; default the file's reference accelerator)."""

    pflops: float | None = Field(default=None, gt=0)
    reference_devices: float | None = Field(default=None, gt=0)
    reference: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DemandAmount:
        if (self.pflops is None) == (self.reference_devices is None):
            raise ValueError("give either pflops or reference_devices")
        if self.pflops is not None and self.reference is not None:
            raise ValueError("reference applies to reference_devices only")
        return self


class JobsConfig(Strict):
    """How a workload generator produces the class's demand (for the plan's scenario)."""

    tenant: str
    gang: DistributionConfig
    hours_on_reference: DistributionConfig
    deferrable: bool = False
    preemptible: bool = DEFAULT_PREEMPTIBLE
    deadline_hours: float | None = Field(default=None, gt=0)
    checkpoint_interval_min: float = Field(default=DEFAULT_CHECKPOINT_INTERVAL_S / 60, gt=0)
    restart_cost_min: float = Field(default=DEFAULT_RESTART_COST_S / 60, ge=0)
    priority: int = 0


#: Share a service's peak is raised by when planning it (room for the serving policy's
#: forecast margin, 5% at least under ``suanli``, and for whole replicas split over pools).
SERVICE_HEADROOM = 0.05


class DemandClass(Strict):
    """A class of work the fleet must serve: how much, on what, and where.

    ``users_near`` (a site) with ``max_latency_ms`` limits the sites that may serve
    it to those within that latency over the scenario's links. ``min_pool_devices``
    asks for pools of at least that many devices of one type (large training gangs).

    A class with ``service`` (instead of ``profile`` and ``demand``) is an online
    inference service of the scenario's ``services:``: its demand, latency bounds and
    replicas come from the service (:mod:`suanli.plan.service_demand`);
    ``accepted_stacks``/``accepted_types`` narrow the types it may use, ``headroom``
    (default :data:`SERVICE_HEADROOM`) raises the peak it is planned for.
    """

    name: str = Field(pattern=ID_PATTERN)
    profile: str | None = None
    demand: DemandAmount | None = None
    service: str | None = None
    headroom: float | None = Field(default=None, ge=0, le=10)
    accepted_stacks: list[str] = Field(default_factory=list)
    accepted_types: list[str] = Field(default_factory=list)
    users_near: str | None = None
    max_latency_ms: float | None = Field(default=None, ge=0)
    utilisation: float | None = Field(default=None, gt=0, le=1)
    min_pool_devices: int | None = Field(default=None, ge=1)
    value_weight: float = Field(default=1.0, gt=0)
    jobs: JobsConfig | None = None
    remove: bool = False
    source: str = ""

    @model_validator(mode="after")
    def _latency(self) -> DemandClass:
        if self.service is not None:
            taken: tuple[str, ...] = ("profile", "demand", "users_near", "max_latency_ms")
            taken += ("utilisation", "min_pool_devices", "jobs")
            extra = [f for f in taken if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"a service class takes its {', '.join(extra)} from the service; "
                    "drop them (or drop service)"
                )
            return self
        if self.headroom is not None:
            raise ValueError("headroom applies to a service class only")
        if not self.remove and (self.profile is None or self.demand is None):
            raise ValueError("give profile and demand, or service (an online inference service)")
        if (self.users_near is None) != (self.max_latency_ms is None):
            raise ValueError("give users_near and max_latency_ms together")
        return self


class Budget(Strict):
    """Money available: for purchases and expansion (``capex``) or for all cost (``tco``)."""

    amount: float = Field(gt=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    covers: Literal["capex", "tco"] = "tco"
    source: str = ""


class PlanningFile(Strict):
    """A whole planning-inputs file (every field optional in a file that ``extends``)."""

    name: str = ""
    description: str = ""
    extends: str | None = None
    scenario: str | None = None
    objective: Literal["min-cost", "max-compute"] = "min-cost"
    horizon_years: float = Field(default=3.0, gt=0, le=30)
    discount_rate: float = Field(default=0.0, ge=0, lt=1)
    currency_rates: dict[str, Rate] = Field(default_factory=dict)
    reference_accelerator: str = "nvidia_h100_sxm5"
    utilisation: float = Field(default=0.7, gt=0, le=1)
    candidates: list[str] = Field(default_factory=list)
    prices: dict[str, Money] = Field(default_factory=dict)
    node_cost: Money | None = None
    import_tariffs: list[TariffRule] = Field(default_factory=list)
    purchase_periods: list[str] = Field(default_factory=lambda: ["2026"], min_length=1)
    supply: list[SupplyRule] = Field(default_factory=list)
    site_defaults: SitePlanning = Field(default_factory=SitePlanning)
    sites: dict[str, SitePlanning] = Field(default_factory=dict)
    allow_retirement: bool = False
    budget: Budget | None = None
    carbon_budget_t: float | None = Field(default=None, ge=0)
    carbon_price_per_t: Money | None = None
    min_green_share: float | None = Field(default=None, ge=0, le=1)
    classes: list[DemandClass] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)
