"""Energy, utilisation and capacity accounting per pool and hour.

Between events the state is constant, so integrals are exact sums over the
segments between event times. An event at every hour boundary keeps segments
within one hour. For pool *p* and hour *h*:

.. math::

    E_{ph} = \\int_h P^{IT}_p(t)\\,dt, \\quad B_{ph} = \\int_h \\mathrm{busy}_p(t)\\,dt, \\quad
    A_{ph} = \\int_h \\mathrm{allocated}_p(t)\\,dt, \\quad U_{ph} = \\int_h \\mathrm{up}_p(t)\\,dt,

with ``P^IT`` in W (so ``E`` in J), busy/allocated/up in devices (device-seconds).
Facility energy is ``PUE · E``; costs and carbon follow from the hourly prices,
subsidies and intensities of the site (:mod:`suanli.report.metrics`).
"""

from __future__ import annotations

import numpy as np

from suanli.sim.tables import FleetTables


class Accounting:
    """Running integrals of power and device counts per pool and hour."""

    def __init__(self, tables: FleetTables, hours: int) -> None:
        n = tables.n_pools
        self.hours = hours
        self.power_w = np.asarray(
            [c * float(w) for c, w in zip(tables.pool_count, tables.pool_idle_w, strict=True)]
        )
        self.busy = np.zeros(n)
        self.allocated = np.zeros(n)
        self.up = np.asarray(tables.pool_count, dtype=float)
        self.energy_j = np.zeros((n, hours))
        self.busy_s = np.zeros((n, hours))
        self.allocated_s = np.zeros((n, hours))
        self.up_s = np.zeros((n, hours))
        self.last_t = 0.0

    def integrate(self, t: float) -> None:
        """Add the constant state since the last call up to ``t`` (never across an hour)."""
        dt = t - self.last_t
        if dt <= 0.0:
            return
        h = min(int(self.last_t // 3600.0), self.hours - 1)
        self.energy_j[:, h] += self.power_w * dt
        self.busy_s[:, h] += self.busy * dt
        self.allocated_s[:, h] += self.allocated * dt
        self.up_s[:, h] += self.up * dt
        self.last_t = t
