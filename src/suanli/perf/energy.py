"""Energy cost with time-of-use prices and subsidies.

Facility energy ``E`` (kWh) drawn during horizon hour *h* costs ``E·π_h`` with
``π_h`` the tariff. A subsidy with discount ``d`` and floor ``π_min`` bills the
energy of eligible pools at

.. math:: \\tilde\\pi_h = \\max\\big(\\pi_h (1 - d),\\; \\min(\\pi_h, \\pi_{min})\\big),

so a subsidy never raises a price. The *subsidy* is ``E_elig (π_h − π̃_h)``;
costs are reported gross and subsidy apart (net = gross − subsidy). With several
subsidies the largest one for that energy applies (they do not stack).
"""

from __future__ import annotations

from collections.abc import Iterable

from suanli.model.fleet import Subsidy


def subsidised_price(price: float, subsidy: Subsidy) -> float:
    """Price per kWh for eligible energy under ``subsidy``."""
    return max(price * (1.0 - subsidy.discount_fraction), min(price, subsidy.min_price_per_kwh))


def subsidy_per_kwh(price: float, subsidies: Iterable[Subsidy], domestic: bool) -> float:
    """Largest discount per kWh that applies to a pool (``domestic``: its chips are domestic)."""
    best = 0.0
    for s in subsidies:
        if s.eligible == "all_accelerators" or domestic:
            best = max(best, price - subsidised_price(price, s))
    return best


def energy_cost(energy_kwh: float, price: float) -> float:
    """Gross cost of ``energy_kwh`` at ``price`` per kWh."""
    return energy_kwh * price
