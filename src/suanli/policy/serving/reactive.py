"""``reactive``: scale on the load each replica observed, as Kubernetes' Horizontal Pod
Autoscaler or SkyServe's autoscaler do.

Every tick, for service *k* and region *r* with observed rate ``λ_r`` over the last
interval, served from its first pool *p* (preference, then latency; the next ones when
it is full), the desired replicas are

.. math:: d_r = \\left\\lceil \\frac{λ_r}{μ_p \\, u^*} \\right\\rceil

with ``u*`` the target utilisation (HPA's ``desired = ⌈current × observed / target⌉``
with the observed utilisation ``λ_r / (current · μ_p)``). Scaling up is immediate;
scaling down goes no lower than the highest ``d_r`` of the last ``cooldown_s``
(HPA's stabilisation window). At least one replica per region with demand stays up.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import numpy as np
from pydantic import Field

from suanli.core.serving import ServingDecision, ServingInput, ServingParams
from suanli.policy.registry import register
from suanli.policy.serving.common import Spreader, pools_for


@register("reactive", serving=True)
class Reactive:
    """Scale on observed utilisation (module docstring)."""

    name: ClassVar[str]

    class Params(ServingParams):
        """Parameters of ``reactive``."""

        target_utilisation: float = Field(0.7, gt=0, le=1, description="u*: load per replica")
        cooldown_s: float = Field(900.0, ge=0, description="scale-down stabilisation window")
        tick_s: float = Field(300.0, gt=0, description="seconds between serving ticks")

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.params = params
        self.tick_s = params.tick_s
        self._history: dict[tuple[int, int], deque[int]] = {}

    def decide(self, inp: ServingInput) -> ServingDecision:
        """Desired replicas from the last interval's load, stabilised when going down."""
        keep = max(1, math.ceil(self.params.cooldown_s / self.tick_s))
        dec = ServingDecision()
        taken: set[int] = set()
        for k, t in enumerate(inp.tables.services):
            sp = Spreader(inp, k, dec, taken, preempt=True)
            obs = inp.observed[k]
            for r in range(len(t.regions)):
                pools = pools_for(inp, k, r)
                if not pools:
                    continue
                lam = float(obs[r, -1]) if obs.shape[1] else 0.0
                mu = float(t.mu[pools[0]])
                want = math.ceil(lam / (mu * self.params.target_utilisation)) if mu > 0 else 0
                if lam > 0:
                    want = max(want, 1)
                hist = self._history.setdefault((k, r), deque(maxlen=keep))
                hist.append(want)
                sp.place(pools, max(hist), sticky=False)
            sp.settle("observed load")
        return dec
