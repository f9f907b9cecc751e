"""Carbon of electricity: ``C = Σ_h E_h · c_h`` with ``c_h`` the grid intensity (kg CO₂/kWh)
in hour *h* and ``E_h`` the facility energy (kWh). Market-based accounting (green
power purchase agreements) is not modelled: the location-based grid factor applies.
"""

from __future__ import annotations


def carbon_kg(energy_kwh: float, kg_per_kwh: float) -> float:
    """Emissions (kg CO₂) of ``energy_kwh`` at intensity ``kg_per_kwh``."""
    return energy_kwh * kg_per_kwh
