"""What a plan says: devices to buy (and retire) per site and type, cost, power, carbon,
compute delivered per demand class, and the binding constraints with their prices.

All money is in the plan's currency over the planning horizon (opex discounted when
the inputs give a discount rate); energy in MWh, power in MW, carbon in tonnes CO₂.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """One site × accelerator type: what is there, what is added, what it costs."""

    site: str
    accelerator: str
    vendor: str
    domestic: bool
    existing: int
    added: int
    retired: int
    unit_price: float | None
    capex: float
    energy_mwh: float
    energy_cost: float
    peak_mw: float

    @property
    def total(self) -> int:
        """Devices after the plan."""
        return self.existing + self.added - self.retired


@dataclass(frozen=True, slots=True)
class SitePlan:
    """One site after the plan."""

    site: str
    name: str
    lat: float
    lon: float
    capacity_mw: float
    expansion_mw: float
    peak_mw: float
    average_mw: float
    energy_mwh: float
    energy_cost: float
    green_mwh: float
    carbon_t: float
    capex: float
    devices: int
    added: int


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """One demand class: demand, what the plan delivers, and on what."""

    name: str
    profile: str
    demand_pflops: float
    delivered_pflops: float
    devices: tuple[tuple[str, str, float], ...]  # (site, accelerator, devices)
    #: For one user region of an online inference service: the service and the region
    #: (the class is named ``<planning class>@<region>``); empty for other classes.
    service: str = ""
    region: str = ""


@dataclass(frozen=True, slots=True)
class ShadowPrice:
    """A binding constraint and what relaxing it is worth, in words and numbers.

    ``marginal`` is the LP-relaxation dual per ``unit`` (money saved, or compute
    gained for max-compute); ``exact`` the change in the optimal MILP objective when
    the limit moves by ``step`` units (``None`` when not re-solved).
    """

    family: str
    key: str
    sentence: str
    marginal: float
    unit: str
    step: float
    exact: float | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """Plan-wide sums."""

    capex_devices: float
    capex_expansion: float
    opex_energy: float
    opex_green: float
    carbon_t: float
    energy_mwh: float
    new_devices: int
    retired_devices: int
    expansion_mw: float
    demand_pflops: float
    delivered_pflops: float
    opex_carbon: float = 0.0

    @property
    def capex(self) -> float:
        """Purchases plus expansion."""
        return self.capex_devices + self.capex_expansion

    @property
    def opex(self) -> float:
        """Energy, green-power premium and carbon price."""
        return self.opex_energy + self.opex_green + self.opex_carbon

    @property
    def total_cost(self) -> float:
        """Capex plus opex over the horizon."""
        return self.capex + self.opex


@dataclass(frozen=True, slots=True)
class Plan:
    """The planner's answer (see the module docstring for units)."""

    name: str
    scenario: str
    objective: str
    currency: str
    horizon_years: float
    status: str
    mip_gap: float | None
    totals: Totals
    pools: tuple[PoolPlan, ...]
    sites: tuple[SitePlan, ...]
    classes: tuple[ClassPlan, ...]
    shadow_prices: tuple[ShadowPrice, ...]
    notes: tuple[str, ...]
    model_size: tuple[int, int, int]
    solve_seconds: float

    def added_by(self, attribute: str) -> dict[str, int]:
        """New devices grouped by a pool attribute (``vendor``, ``accelerator``, ``site``)."""
        out: dict[str, int] = {}
        for p in self.pools:
            if p.added:
                key = str(getattr(p, attribute))
                out[key] = out.get(key, 0) + p.added
        return out

    @property
    def domestic_share_added(self) -> float:
        """Share of the new devices that are domestic."""
        total = sum(p.added for p in self.pools)
        return sum(p.added for p in self.pools if p.domestic) / total if total else 0.0
