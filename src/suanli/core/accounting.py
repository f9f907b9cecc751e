"""Energy, utilisation and capacity accounting per pool and hour.

Between changes the state is constant, so integrals are exact sums over the
segments between the times it changes (the executor integrates just before each
change). An event at every hour boundary keeps segments within one hour. For pool *p* and hour *h*:

.. math::

    E_{ph} = \\int_h P^{IT}_p(t)\\,dt, \\quad B_{ph} = \\int_h \\mathrm{busy}_p(t)\\,dt, \\quad
    A_{ph} = \\int_h \\mathrm{allocated}_p(t)\\,dt, \\quad U_{ph} = \\int_h \\mathrm{up}_p(t)\\,dt,

with ``P^IT`` in W (so ``E`` in J), busy/allocated/up in devices (device-seconds),
and likewise the devices asleep (power saving), the shared devices (hosting jobs
that take a share of one) and the expected fragmentation ``F`` in devices
(:mod:`suanli.core.sharing`). Busy and allocated count a share as its fraction.
Facility energy is ``PUE · E``; costs and carbon follow from the hourly prices,
subsidies and intensities of the site (:mod:`suanli.report.metrics`).
"""

from __future__ import annotations

import numpy as np

from suanli.core.tables import FleetTables


class Accounting:
    """Running integrals of power and device counts per pool and hour."""

    def __init__(self, tables: FleetTables, hours: int) -> None:
        n = tables.n_pools
        self.hours = hours
        #: Current state per pool: IT power (W), busy, allocated, up, sleeping, shared
        #: and fragmented devices.
        self.state = np.zeros((7, n))
        (
            self.power_w,
            self.busy,
            self.allocated,
            self.up,
            self.asleep,
            self.shared,
            self.fragmented,
        ) = self.state
        self.power_w[:] = [
            c * float(w) for c, w in zip(tables.pool_count, tables.pool_idle_w, strict=True)
        ]
        self.up[:] = tables.pool_count
        #: Their integrals per hour and pool (J and device-seconds), stored hour-major so
        #: that one hour's row is contiguous; the named views are ``(pools, hours)``.
        self.by_hour = np.zeros((hours, 7, n))
        (
            self.energy_j,
            self.busy_s,
            self.allocated_s,
            self.up_s,
            self.asleep_s,
            self.shared_s,
            self.fragmented_s,
        ) = (self.by_hour[:, k, :].T for k in range(7))
        self._step = np.zeros((7, n))
        self.last_t = 0.0

    def integrate(self, t: float) -> None:
        """Add the constant state since the last call up to ``t`` (never across an hour).

        The executor calls it before every change of the state, and the engine at every
        hour boundary, so the state between two calls is constant and within one hour.
        """
        dt = t - self.last_t
        if dt <= 0.0:
            return
        h = min(int(self.last_t // 3600.0), self.hours - 1)
        np.multiply(self.state, dt, out=self._step)
        self.by_hour[h] += self._step
        self.last_t = t
