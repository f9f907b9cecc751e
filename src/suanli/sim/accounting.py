"""Energy, utilisation and capacity accounting per pool and hour.

Between events the state is constant, so integrals are exact sums over the
segments between event times. An event at every hour boundary keeps segments
within one hour. For pool *p* and hour *h*:

.. math::

    E_{ph} = \\int_h P^{IT}_p(t)\\,dt, \\quad B_{ph} = \\int_h \\mathrm{busy}_p(t)\\,dt, \\quad
    A_{ph} = \\int_h \\mathrm{allocated}_p(t)\\,dt, \\quad U_{ph} = \\int_h \\mathrm{up}_p(t)\\,dt,

with ``P^IT`` in W (so ``E`` in J), busy/allocated/up in devices (device-seconds),
and likewise the devices asleep (power saving).
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
        #: Current state per pool: IT power (W), busy, allocated, up and sleeping devices.
        self.state = np.zeros((5, n))
        self.power_w, self.busy, self.allocated, self.up, self.asleep = self.state
        self.power_w[:] = [
            c * float(w) for c, w in zip(tables.pool_count, tables.pool_idle_w, strict=True)
        ]
        self.up[:] = tables.pool_count
        #: Their integrals per pool and hour (J and device-seconds).
        self.integral = np.zeros((5, n, hours))
        self.energy_j, self.busy_s, self.allocated_s, self.up_s, self.asleep_s = self.integral
        self.last_t = 0.0

    def integrate(self, t: float) -> None:
        """Add the constant state since the last call up to ``t`` (never across an hour)."""
        dt = t - self.last_t
        if dt <= 0.0:
            return
        h = min(int(self.last_t // 3600.0), self.hours - 1)
        self.integral[:, :, h] += self.state * dt
        self.last_t = t
