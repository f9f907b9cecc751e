"""When a deferrable job should wait for a cheaper or greener hour.

For a class of deferrable jobs whose best option now is candidate *o*, every hour
boundary *t* up to the latest start ``min(deadline − slack · τ_o, now + max_hours)``
is a possible start. With

.. math::

    S(t) = w_\\text{cost} \\frac{C_o(t)}{C_o(\\text{now})}
         + w_\\text{carbon} \\frac{G_o(t)}{G_o(\\text{now})}
         + w_\\text{delay} \\frac{t - \\text{now}}{τ_o}

(cost and carbon of *o* started at *t*, from the tariff schedule and carbon series
as the forecast, plus the delay relative to the job's own length), the class
waits for ``t* = argmin S`` when ``S(t*) ≤ (1 − min_saving) · S(now)``; otherwise
it may start now. ``w_delay = 0`` defers freely within the deadline; the default
makes long jobs shift by an hour or two for a valley, and short jobs not at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suanli.core.policy import PolicyInput
from suanli.policy.suanli.classes import JobClass
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.utility import Valuation, cost_and_carbon


@dataclass(frozen=True, slots=True)
class Deferral:
    """Wait until ``until_s``: cost and carbon then lower by ``saving`` (a share)."""

    until_s: float
    saving: float


def defer_until(
    inp: PolicyInput, cls: JobClass, val: Valuation, best: int, p: SuanliParams
) -> Deferral | None:
    """The hour to wait for, or ``None`` to start now (see the module docstring)."""
    weight = p.w_cost + p.w_carbon
    if weight <= 0:
        return None
    now = inp.now
    latest = now + p.defer_max_hours * 3600.0
    if math.isfinite(cls.deadline_s):
        latest = min(latest, cls.deadline_s - p.deadline_slack * float(val.tau_s[best]))
    first = math.floor(now / 3600.0 + 1.0) * 3600.0
    if first > latest:
        return None
    starts = np.arange(first, latest + 1e-6, 3600.0)
    idx = np.full(starts.size, best)
    _, cost, carbon = cost_and_carbon(inp, cls, starts, idx)
    score = (
        p.w_cost * cost / max(float(val.cost[best]), 1e-12)
        + p.w_carbon * carbon / max(float(val.carbon_kg[best]), 1e-12)
        + p.w_delay * (starts - now) / max(float(val.tau_s[best]), 1.0)
    )
    i = int(np.argmin(score))
    saving = 1.0 - float(score[i]) / weight
    if saving >= p.defer_min_saving:
        return Deferral(float(starts[i]), saving)
    return None
