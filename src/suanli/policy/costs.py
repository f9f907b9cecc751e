"""Expected cost, energy and carbon of running a job on a candidate from a start time.

A job on candidate *c* starting at ``t₀`` computes from ``t₁ = t₀ + T_data + T_restart``
for ``τ = W / r_c`` seconds. Its marginal facility power is ``PUE · Δw_c`` (``Δw_c``:
busy minus idle IT power of its devices), so

.. math::

    \\text{cost} = \\frac{\\mathrm{PUE}\\,\\Delta w_c}{3.6\\cdot 10^6}
                   \\int_{t_1}^{t_1+\\tau} (\\pi(t) - \\sigma_c(t))\\,dt + \\text{egress}_c,
    \\qquad
    \\text{carbon} = \\frac{\\mathrm{PUE}\\,\\Delta w_c}{3.6\\cdot 10^6}
                     \\int_{t_1}^{t_1+\\tau} c(t)\\,dt,

with π the tariff, σ the subsidy per kWh for the pool, *c* the grid intensity.
The tariff schedule and carbon series serve as the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput
from suanli.policy.common import data_transfer_s


@dataclass(frozen=True, slots=True)
class Estimate:
    """What running a job on a candidate from a start time is expected to take and cost."""

    start_s: float
    compute_start_s: float
    end_s: float
    cost: float
    carbon_kg: float


def expected_end(inp: PolicyInput, job: int, cand: Candidate, start_s: float) -> float:
    """When ``job`` would end on ``cand`` if started at ``start_s`` (data, restart included)."""
    transfer = data_transfer_s(inp, job, cand)
    restart = inp.jobs.restart_s[job] if inp.resumed(job) else 0.0
    return start_s + transfer + restart + inp.remaining(job) / cand.rate


def estimate(
    inp: PolicyInput, job: int, cand: Candidate, start_s: float, carbon: bool = True
) -> Estimate:
    """Expected timing, energy cost (net of subsidies, plus egress) and carbon.

    With ``carbon=False`` the carbon integral is skipped (reported as NaN).
    """
    t = inp.tables
    transfer = data_transfer_s(inp, job, cand)
    restart = inp.jobs.restart_s[job] if inp.resumed(job) else 0.0
    t1 = start_s + transfer + restart
    end = t1 + inp.remaining(job) / cand.rate
    site = t.pool_site[cand.pool]
    kw_factor = t.site_pue[site] * cand.busy_w / 3.6e6
    cost = kw_factor * t.net_price_integral(cand.pool, t1, end)
    kg = kw_factor * t.carbon_integral(site, t1, end) if carbon else float("nan")
    egress = cand.egress if transfer > 0 else 0.0
    return Estimate(start_s, t1, end, cost + egress, kg)
