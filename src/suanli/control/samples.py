"""Samples of every site's state, taken by the live loop for the dashboard's time series.

Every ``sample_s`` seconds of wall clock the loop measures, per site *s*, from its own
scheduling state (no site is asked):

.. math::

    D_s = \\sum_{p \\in s} n_p, \\qquad
    U_s = [s\\ \\text{reachable}]\\, D_s, \\qquad
    A_s = \\sum_{j\\ \\text{placed at}\\ s} d_j, \\qquad
    B_s = \\sum_{j\\ \\text{running at}\\ s} d_j,

devices in all, up, held by suanli's jobs (dispatching, pending, running, unknown) and
running; and the facility power the same physical model as the simulator gives
(DESIGN §3),

.. math::

    P_s = \\mathrm{PUE}_s \\Big( \\sum_{p \\in s} n_p\\, w^{idle}_p
          + \\sum_{j\\ \\text{running at}\\ s} w^{busy}_j \\Big),

with ``w^busy`` the job's power above idle on its pool (``Candidate.busy_w``). The tariff
and the grid's carbon intensity are the scenario's at the scenario hour of the sample:
``price_s`` (currency/kWh, gross) and ``cost_per_h_s = Σ_p P_p (price_s − subsidy_p)``,
the net cost rate, and ``carbon_s`` (kg CO₂/kWh). It is an *estimate*: real sites may
draw other power; the dashboard says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from suanli.core.state import SchedulingState
from suanli.store.records import SampleRecord


def sample_sites(
    st: SchedulingState,
    running: Sequence[int],
    reachable: Mapping[str, bool | None],
    at: float,
    epoch0: float,
) -> list[SampleRecord]:
    """The samples of every site at ``at`` (POSIX s); ``running``: indices of running jobs.

    ``epoch0`` is the POSIX time of the scenario's start (its tariff hours count from it).
    """
    t = st.tables
    n_sites = len(t.site_ids)
    hour = t.hour(max(0.0, at - epoch0))
    running_set = set(running)
    pool_busy_w = [0.0] * t.n_pools
    pool_busy = [0] * t.n_pools
    pool_alloc = [0] * t.n_pools
    for j, rs in st.running.items():
        p = rs.cand.pool
        pool_alloc[p] += rs.cand.devices
        if j in running_set:
            pool_busy[p] += rs.cand.devices
            pool_busy_w[p] += rs.cand.busy_w
    devices = [0] * n_sites
    alloc = [0] * n_sites
    busy = [0] * n_sites
    power_w = [0.0] * n_sites
    cost_per_h = [0.0] * n_sites
    for p in range(t.n_pools):
        s = t.pool_site[p]
        w = (t.pool_count[p] * float(t.pool_idle_w[p]) + pool_busy_w[p]) * t.site_pue[s]
        devices[s] += t.pool_count[p]
        alloc[s] += pool_alloc[p]
        busy[s] += pool_busy[p]
        power_w[s] += w
        net = float(t.price[s, hour]) - float(t.pool_subsidy[p, hour])
        cost_per_h[s] += w / 1000.0 * net
    return [
        SampleRecord(
            at=at,
            site=site,
            devices=devices[s],
            up=devices[s] if reachable.get(site) is True else 0,
            allocated=alloc[s],
            busy=busy[s],
            power_mw=power_w[s] / 1e6,
            price=float(t.price[s, hour]),
            cost_per_h=cost_per_h[s],
            carbon=float(t.carbon[s, hour]),
        )
        for s, site in enumerate(t.site_ids)
    ]
