"""When a deferrable job should wait for a cheaper or greener hour — and place.

For a class of deferrable jobs whose best candidate now is *b* (``τ_b`` its time to finish
there), the options are its candidates *o* among *b* and the ``OPTIONS`` worth most now, and
every hour boundary *t* after now up to the latest start ``deadline − slack · τ_o`` (without
a deadline, ``now + max_hours``). With ``C_o(t)``, ``G_o(t)`` and ``τ_o`` the cost (energy
net of subsidies, egress and the carbon price, :mod:`.utility`), the carbon and the time
to finish of the class started on *o* at *t* — the tariff schedule and the carbon series
serve as the forecast — the savings against starting on *b* now

.. math::

    s_C(o, t) = 1 - \\frac{C_o(t)}{C_b(\\text{now})}, \\qquad
    s_G(o, t) = 1 - \\frac{G_o(t)}{G_b(\\text{now})},

the lateness ``ℓ(o, t) = max(0, t + τ_o − now − τ_b)`` (how much later it finishes), and

.. math::

    S(o, t) = w_\\text{cost} (1 - s_C) + w_\\text{carbon} (1 - s_G)
            + w_\\text{delay} \\frac{ℓ(o, t)}{τ_b},

the class waits for

.. math::

    (o^*, t^*) = \\operatorname*{argmin}_{(o, t) \\,:\\, \\max(s_C, s_G) \\ge m} S(o, t)
    \\quad\\text{when}\\quad S(o^*, t^*) < S(b, \\text{now}) = w_\\text{cost} + w_\\text{carbon},

*m* the ``defer_min_saving``: a deferral must save at least *m* of the job's cost **or**
of its carbon — so a carbon saving alone can justify waiting, where tariffs are flat and
the grid is greener later or elsewhere — and be worth its lateness by the weights, which
judge time as the placement does: lateness relative to the job's own length, as its
response ratio. ``w_delay = 0`` defers freely within the deadline; the default makes long
jobs shift by an hour or two for a valley or a green hour, and short jobs not at all.
Ties go to the better option now, then the earlier hour. When the hour comes the job is
placed anew (it may start elsewhere if the forecast was wrong or its option is full).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suanli.core.policy import PolicyInput
from suanli.policy.suanli.classes import JobClass
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.utility import Valuation, carbon_price_per_kg, cost_and_carbon

#: Besides its best, the class's candidates by worth that a deferral may wait for.
OPTIONS = 8


@dataclass(frozen=True, slots=True)
class Deferral:
    """Wait until ``until_s``, to start on the class's candidate ``option``: cost and
    carbon then lower by ``cost_saving`` and ``carbon_saving`` (shares of starting now on
    its best candidate)."""

    until_s: float
    option: int
    cost_saving: float
    carbon_saving: float

    @property
    def what(self) -> str:
        """What the wait saves, in words: ``"cost 41%, carbon 12%"``."""
        return f"cost {self.cost_saving:.0%}, carbon {self.carbon_saving:.0%}"


def defer_until(
    inp: PolicyInput,
    cls: JobClass,
    val: Valuation,
    best: int,
    order: list[int],
    p: SuanliParams,
) -> Deferral | None:
    """The hour (and place) to wait for, or ``None`` to start now (module docstring);
    ``order`` is the class's candidates by decreasing worth (:func:`.utility.value_all`)."""
    weight = p.w_cost + p.w_carbon
    if weight <= 0:
        return None
    now = inp.now
    tau = val.tau_s
    first = math.floor(now / 3600.0 + 1.0) * 3600.0
    finite = math.isfinite(cls.deadline_s)
    horizon = math.inf if finite else now + p.defer_max_hours * 3600.0
    options = [best, *order[:OPTIONS]]
    opts, starts = [], []
    for o in dict.fromkeys(options):
        latest = cls.deadline_s - p.deadline_slack * float(tau[o]) if finite else horizon
        if first <= latest:
            hours = np.arange(first, latest + 1e-6, 3600.0)
            opts.append(np.full(hours.size, o))
            starts.append(hours)
    if not opts:
        return None
    idx, at = np.concatenate(opts), np.concatenate(starts)
    run_s, cost, carbon = cost_and_carbon(inp, cls, at, idx, carbon_price_per_kg(inp, p))
    s_cost = 1.0 - cost / max(float(val.cost[best]), 1e-12)
    s_carbon = 1.0 - carbon / max(float(val.carbon_kg[best]), 1e-12)
    late = np.maximum(at + run_s - (now + float(tau[best])), 0.0)
    score = (
        p.w_cost * (1.0 - s_cost)
        + p.w_carbon * (1.0 - s_carbon)
        + p.w_delay * late / max(float(tau[best]), 1.0)
    )
    enough = (s_cost >= p.defer_min_saving) | (s_carbon >= p.defer_min_saving)
    if not enough.any():
        return None
    score = np.where(enough, score, np.inf)
    i = int(np.argmin(score))  # ties: the first option, then the earliest hour
    if not score[i] < weight * (1.0 - 1e-9):  # a real gain, not rounding
        return None
    return Deferral(float(at[i]), int(idx[i]), float(s_cost[i]), float(s_carbon[i]))
