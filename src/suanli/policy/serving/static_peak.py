"""``static-peak``: replicas for the horizon's peak demand, nearest the users, never changed.

For service *k* and each of its regions *r*, the peak ``λ̂_r`` is the busiest window of
the region's demand over the horizon, with that window's inter-arrival CV. Each region's
load goes to its first pool (the service's preference, then latency); pool *p* then holds

.. math:: T_{kp} = \\mathrm{needed}\\Big(\\sum_{r \\to p} λ̂_r,\\;
          \\max_{r \\to p} ℓ_{rp}\\Big)

replicas (:func:`~suanli.policy.serving.common.needed` at the SLO's attainment, the
load's CV the rate-weighted mean of the regions'), placed at the first tick and kept
(replicas lost to failures are replaced).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import Field

from suanli.core.serving import ServingDecision, ServingInput, ServingParams
from suanli.policy.registry import register
from suanli.policy.serving.common import Sizer, clamp, pools_for, reconcile


@register("static-peak", serving=True)
class StaticPeak:
    """Provision for the peak, once (module docstring)."""

    name: ClassVar[str]

    class Params(ServingParams):
        """Parameters of ``static-peak``."""

        tick_s: float = Field(300.0, gt=0, description="seconds between serving ticks")

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.sizer = Sizer()
        self._targets: list[np.ndarray] | None = None

    def decide(self, inp: ServingInput) -> ServingDecision:
        """Place the peak's replicas at the first tick; keep them."""
        if self._targets is None:
            self._targets = [self._plan(inp, k) for k in range(len(inp.tables.services))]
        return reconcile(inp, self._targets, preempt=True, why="provisioned for the peak")

    def _plan(self, inp: ServingInput, k: int) -> np.ndarray:
        t = inp.tables.services[k]
        lam: dict[int, float] = {}
        cv2: dict[int, float] = {}
        lat: dict[int, float] = {}
        for r, d in enumerate(t.demand):
            pools = pools_for(inp, k, r)
            if not pools:
                continue
            p = pools[0]
            rates = d.curve.rate_rps
            periods = max(1, math.ceil(inp.horizon_s / d.curve.period_s))
            peak = d.peak_rate(0.0, min(inp.horizon_s, periods * d.curve.period_s))
            cv = d.curve.cv[int(np.argmax(rates))]
            lam[p] = lam.get(p, 0.0) + peak
            cv2[p] = cv2.get(p, 0.0) + peak * cv * cv
            lat[p] = max(lat.get(p, 0.0), float(t.latency_s[r, inp.fleet.pool_site[p]]))
        targets = np.zeros(inp.fleet.n_pools, dtype=np.int64)
        goal = t.service.slo.attainment
        for p, rate in lam.items():
            cv = math.sqrt(cv2[p] / rate) if rate > 0 else 1.0
            targets[p] = self.sizer.needed(t, p, rate, cv, lat[p], goal)
        return clamp(t, targets)
