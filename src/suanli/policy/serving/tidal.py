"""``suanli``: replicas planned from a short-term forecast, placed by cost and carbon within
the latency bounds, and batch work in the troughs (tidal scheduling).

**Forecast.** From the rates observed per region and interval (Δ = one tick), the rate of
the interval *h* ticks ahead is forecast seasonally once a day of history exists, else
from the recent level and trend::

    λ̂_{n+h} = λ_{n+h−D} · clip( λ̄_{n−3..n−1} / λ̄_{n−3−D..n−1−D}, ½, 2 )   (D = 1 day in ticks)
    λ̂_{n+h} = λ_{n−1} · max(1, λ_{n−1} / λ_{n−2})                          (less history)

and inflated by a margin *m*: the 95th percentile of the relative under-forecasts of the
last day (at least ``min_margin``).

**Sizing.** Replicas are sized for ``max_{h ≤ H↑} (1 + m) λ̂_{n+h}`` with ``H↑`` covering a
cold start and a tick (a replica added now serves from then on), at attainment
``target`` (above the SLO's, for safety). Replicas are kept rather than drained (and
paid for again with a cold start) while the forecast of the next ``K``, the rate
observed over the last ``K`` or a sizing of the last ``K`` needs them:
``T = max(T↑, min(L, T_keep))``, with ``K = min(keep_s, κ·τ)``, ``τ`` the service's cold
start and ``κ`` = ``keep_cold_starts``: draining a replica and starting another later costs
``τ`` of its devices serving nothing, and the risk of missing the SLO meanwhile; keeping it
idle costs its devices for as long as it waits. Keeping a replica for the break-even time
``τ`` is the ski-rental rule (never more than twice the cost of knowing the future);
``κ = 2`` leaves room for the risk. A service that loads in a minute keeps no idle replicas
for an hour; one that loads in ten minutes keeps them twenty.

**Placement.** A region's replicas go first to the pools already serving it (no churn),
then to the pools within its latency bound with the lowest score

.. math:: s_p = \\frac{1}{μ_p} \\Big( w_c \\frac{c_p}{\\bar c} + w_g \\frac{g_p}{\\bar g} \\Big),

``c_p`` the energy cost of a replica-hour at the site's net price averaged over the next
day (a replica lives for hours: the hour's time-of-use price would move replicas back and
forth), ``g_p`` its carbon likewise, ``c̄, ḡ`` their means over the service's pools (so
the weights are dimensionless, as in the batch policy), ties broken by latency. Batch
jobs are preempted when a replica needs their devices; what the replicas leave free is
the batch policy's to fill.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import numpy as np
from pydantic import Field

from suanli.core.serving import ServingDecision, ServingInput, ServingParams
from suanli.perf.serving import SERVING_POWER_FACTOR
from suanli.policy.registry import register
from suanli.policy.serving.common import Sizer, Spreader, pools_for

#: A replica's cost and carbon are averaged over the next day: it lives for hours, so
#: the hour's time-of-use price alone would move replicas back and forth.
LIFETIME_S = 86400.0


_NO_INDEX = np.zeros(0, dtype=np.int64)
_NO_FORECAST = np.zeros(0)


def quantile_95(values: np.ndarray) -> float:
    """``np.quantile(values, 0.95)`` (its default, linear method) bit for bit, without its
    overhead (the policy asks for it every tick for every service and region)."""
    n = len(values)
    if n == 0 or not np.isfinite(values).all():
        return float(np.quantile(values, 0.95))
    v = (n - 1) * 0.95  # numpy's virtual index, its floor and the weight between
    lo = math.floor(v)
    if v >= n - 1:
        lo = hi = n - 1
        gamma = v + 1.0  # numpy takes the last value twice, from index −1
    else:
        hi = lo + 1
        gamma = v - lo
    part = np.partition(values, (lo, hi))
    a, b = float(part[lo]), float(part[hi])
    diff = b - a  # numpy's _lerp
    return b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma


@register("suanli", serving=True)
class Tidal:
    """Forecast, place by cost and carbon, leave the troughs to batch (module docstring)."""

    name: ClassVar[str]

    class Params(ServingParams):
        """Parameters of the ``suanli`` serving policy."""

        target: float = Field(0.995, gt=0, le=1, description="attainment to size replicas for")
        min_margin: float = Field(0.05, ge=0, description="least forecast margin")
        keep_s: float = Field(3600.0, ge=0, description="keep replicas needed this soon, at most")
        keep_cold_starts: float = Field(
            2.0, ge=0, description="keep replicas needed within this many cold starts"
        )
        w_cost: float = Field(0.5, ge=0, description="weight of energy cost in placement")
        w_carbon: float = Field(0.2, ge=0, description="weight of carbon in placement")
        tick_s: float = Field(300.0, gt=0, description="seconds between serving ticks")

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.params = params
        self.tick_s = params.tick_s
        self.sizer = Sizer()
        #: Past one-tick-ahead forecasts per (service, region), to measure the margin.
        #: (interval indices, forecasts), in the order made.
        self._forecasts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        #: Replicas sized per (service, region) over the last ``keep_s``.
        self._sized: dict[tuple[int, int], deque[int]] = {}

    def decide(self, inp: ServingInput) -> ServingDecision:
        """Targets from the forecast; see the module docstring."""
        dec = ServingDecision()
        taken: set[int] = set()
        known: dict[tuple[bool, int], float] = {}
        for k, t in enumerate(inp.tables.services):
            sp = Spreader(inp, k, dec, taken, preempt=True)
            up_h = math.ceil((t.cold_start_s + inp.tick_s) / inp.tick_s) + 1
            keep = min(self.params.keep_s, self.params.keep_cold_starts * t.cold_start_s)
            keep_h = max(up_h, math.ceil(keep / inp.tick_s))
            score = self._scores(inp, k, known)
            for r in range(len(t.regions)):
                pools = pools_for(inp, k, r)
                if not pools:
                    continue
                fc = self._forecast(inp.observed[k][r], keep_h, inp.tick_s)
                margin = self._margin(k, r, inp.observed[k][r], fc[0])
                cv = t.demand[r].cv(inp.now)
                best = min(pools, key=lambda p: (t.rank[p], score[p], p))
                lat = float(t.latency_s[r, inp.fleet.pool_site[best]])
                goal = self.params.target
                up = float(fc[:up_h].max()) * (1 + margin)
                n_up = self.sizer.needed(t, best, up, cv, lat, goal)
                recent = inp.observed[k][r][-keep_h:]
                peak_keep = max(float(fc.max()), float(recent.max()) if len(recent) else 0.0)
                n_keep = self.sizer.needed(t, best, peak_keep * (1 + margin), cv, lat, goal)
                past = self._sized.setdefault((k, r), deque(maxlen=keep_h))
                past.append(n_up)
                n_keep = max(n_keep, *past)
                live = sum(len(inp.live[k][p]) for p in pools)
                want = max(n_up, min(live, n_keep))
                site = inp.fleet.pool_site
                order = sorted(
                    pools, key=lambda p: (t.rank[p], score[p], float(t.latency_s[r, site[p]]), p)
                )
                sp.place(order, want, sticky=True)
            sp.settle("forecast demand")
        return dec

    def _forecast(self, obs: np.ndarray, ahead: int, tick_s: float) -> np.ndarray:
        """λ̂ for the next ``ahead`` intervals (module docstring)."""
        n = len(obs)
        if n == 0:
            return np.zeros(ahead)
        day = round(86400.0 / tick_s)
        if n >= day + 3:
            recent = float(obs[n - 3 :].mean())
            before = float(obs[n - 3 - day : n - day].mean())
            level = min(2.0, max(0.5, recent / before)) if before > 0 else 1.0
            idx = np.arange(n - day, n - day + ahead)
            idx = np.where(idx < n, idx, n - 1)
            return np.asarray(obs[idx], dtype=float) * level
        last = float(obs[-1])
        trend = max(1.0, last / float(obs[-2])) if n >= 2 and obs[-2] > 0 else 1.0
        return np.full(ahead, last * trend)

    def _margin(self, k: int, r: int, obs: np.ndarray, next_forecast: float) -> float:
        """The forecast margin from the last day's under-forecasts; records this tick's
        forecast of the interval that will be observed next."""
        idx, fc = self._forecasts.get((k, r), (_NO_INDEX, _NO_FORECAST))
        n = len(obs)
        seen = (idx < n) & (fc > 0)
        errors = np.asarray(obs, dtype=np.float64)[idx[seen]] / fc[seen] - 1.0
        at = np.flatnonzero(idx == n)
        if len(at):  # asked again for the same interval: the newer forecast
            fc = fc.copy()
            fc[at[0]] = next_forecast
        else:
            idx, fc = np.append(idx, n), np.append(fc, next_forecast)
        keep = idx >= n - 288
        self._forecasts[(k, r)] = (idx[keep], fc[keep])
        if len(errors) < 12:
            return max(self.params.min_margin, 0.2)
        return max(self.params.min_margin, quantile_95(errors))

    def _scores(
        self, inp: ServingInput, k: int, known: dict[tuple[bool, int], float] | None = None
    ) -> dict[int, float]:
        """Placement score per pool of service *k* (lower is better); ``known`` keeps
        the price and carbon integrals of pools and sites for the tick's other services."""
        t = inp.tables.services[k]
        f = inp.fleet
        t0, t1 = inp.now, inp.now + LIFETIME_S
        known = {} if known is None else known
        cost, carbon = {}, {}
        for p in t.pools:
            site = f.pool_site[p]
            watts = t.devices[p] * float(f.pool_tdp_w[p]) * SERVING_POWER_FACTOR
            kw = watts * f.site_pue[site] / 1e3
            price = known.get((True, p))
            if price is None:
                price = known[(True, p)] = f.net_price_integral(p, t0, t1)
            grams = known.get((False, site))
            if grams is None:
                grams = known[(False, site)] = f.carbon_integral(site, t0, t1)
            cost[p] = kw * price / LIFETIME_S
            carbon[p] = kw * grams / LIFETIME_S
        mc = float(np.mean(list(cost.values()))) or 1.0
        mg = float(np.mean(list(carbon.values()))) or 1.0
        w = self.params
        mu = {p: max(float(t.mu[p]), 1e-12) for p in t.pools}
        return {p: (w.w_cost * cost[p] / mc + w.w_carbon * carbon[p] / mg) / mu[p] for p in t.pools}
