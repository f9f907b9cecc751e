"""``suanli``: replicas planned from a short-term forecast, placed by cost and carbon within
the latency bounds, and batch work in the troughs (tidal scheduling).

**Forecast.** From the rates observed per region and interval (Δ = one tick), the rate of
the interval *h* ticks ahead is forecast seasonally once a day of history exists, else
from the recent level and trend::

    λ̂_{n+h} = λ_{n+h−D} · clip( λ̄_{n−3..n−1} / λ̄_{n−3−D..n−1−D}, ½, 2 )   (D = 1 day in ticks)
    λ̂_{n+h} = λ_{n−1} · max(1, λ_{n−1} / λ_{n−2})                          (less history)

and inflated by a margin *m*: the 95th percentile of the relative under-forecasts of the
last day (at least ``min_margin``).

**Sizing.** The regions of a service whose first pool (below) is the same are sized
together, on that pool: their load ``Λ = Σ_r max_{h ≤ H↑} (1 + m_r) λ̂_{r,n+h}`` (CV the
load-weighted one, latency the farthest region's) needs ``n↑`` replicas: the fewest that
serve it at attainment ``target`` (default: the SLO's own) by the fluid model and at a
utilisation ``Λ / (n μ_p)`` of at most ρ_max = ``max_utilisation`` (0.97: where the fluid
model still promises the SLO at ρ → 1, as it does for services with loose bounds, a forecast
error of a few percent saturates the replicas), with ``H↑ = ⌈(τ + Δ)/Δ⌉ + lead_ticks``
ticks (a replica added now serves after its cold start ``τ``; the next tick can add more).
Replicas are kept rather than drained (and paid for again with a cold start) while the
forecast of the next ``K``, the rate observed over the last ``K`` or a sizing of the last
``K`` needs them:
``T = max(n↑, min(L, n_keep))`` with ``L`` the live replicas in the group's pools and::

    K = min( keep_s, κ·τ + π / d ),

``κ`` = ``keep_cold_starts``, ``d`` the devices of the service's smallest replica and
``π`` = ``cold_start_price_s`` the price of a cold start in device-seconds beyond its
``τ`` of idle devices. Draining a replica and starting another after a gap ``g`` costs
``d τ + π`` (and a cold start); keeping it idle costs ``d g``: keep while ``g < τ + π/d``
(the ski-rental break-even; ``κ = 2`` leaves room for the risk of missing the SLO while
loading). The price is per cold start, not per device, because what is counted (and what
an operator pays in load on the weight store and in risk) is the number of cold starts.
The group's ``T`` is split among its regions in proportion to their loads (largest
remainders); regions that reach the fewest pools are placed first, as routing takes them.

**Routing plan.** With its decisions the policy says which load each pool's replicas are
sized for (:class:`~suanli.core.serving.RoutePlan`): a group's loads routed over the
replicas placed for it (fewest reachable pools first, in proportion to spare capacity),
within what each pool's replicas serve at the target, ``Λ_p(n_p)``. Routing sends each
region's requests by this plan first and spills only to capacity spare after the planned
loads (:func:`~suanli.core.serving.route`), so a pool serves the load it was sized for.

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

from suanli.core.serving import (
    RoutePlan,
    ServingDecision,
    ServingInput,
    ServingParams,
    route,
)
from suanli.core.serving_tables import ServiceTable
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

        target: float | None = Field(
            None, gt=0, le=1, description="attainment to size replicas for (None: the SLO's)"
        )
        together: bool = Field(
            True, description="size the regions that share a first pool together"
        )
        lead_ticks: int = Field(0, ge=0, description="ticks beyond a cold start to size ahead")
        min_margin: float = Field(0.0, ge=0, description="least forecast margin")
        keep_s: float = Field(3600.0, ge=0, description="keep replicas needed this soon, at most")
        keep_cold_starts: float = Field(
            2.0, ge=0, description="keep replicas needed within this many cold starts"
        )
        cold_start_price_s: float = Field(
            7200.0, ge=0, description="a cold start's price beyond its τ, in seconds of its devices"
        )
        max_utilisation: float = Field(
            0.97, gt=0, le=1, description="highest utilisation replicas are sized for"
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
        #: Replicas sized per (service, group) over the last ``keep_s``.
        self._sized: dict[tuple[int, ...], deque[int]] = {}

    def decide(self, inp: ServingInput) -> ServingDecision:
        """Targets from the forecast; see the module docstring."""
        dec = ServingDecision()
        taken: set[int] = set()
        known: dict[tuple[bool, int], float] = {}
        site = inp.fleet.pool_site
        for k, t in enumerate(inp.tables.services):
            sp = Spreader(inp, k, dec, taken, preempt=True)
            up_h = math.ceil((t.cold_start_s + inp.tick_s) / inp.tick_s) + self.params.lead_ticks
            devices = min((int(t.devices[p]) for p in t.pools if t.devices[p]), default=1)
            keep = min(
                self.params.keep_s,
                self.params.keep_cold_starts * t.cold_start_s
                + self.params.cold_start_price_s / devices,
            )
            keep_h = max(up_h, math.ceil(keep / inp.tick_s))
            score = self._scores(inp, k, known)
            goal = (
                self.params.target if self.params.target is not None else t.service.slo.attainment
            )
            # per region: (pools, best pool, cv, latency, load to size for, load to keep)
            regions: dict[int, list[tuple[int, list[int], float, float, float, float]]] = {}
            for r in range(len(t.regions)):
                pools = pools_for(inp, k, r)
                if not pools:
                    continue
                fc = self._forecast(inp.observed[k][r], keep_h, inp.tick_s)
                margin = self._margin(k, r, inp.observed[k][r], fc[0])
                cv = t.demand[r].cv(inp.now)
                best = min(pools, key=lambda p: (t.rank[p], score[p], p))
                lat = float(t.latency_s[r, site[best]])
                up = float(fc[:up_h].max()) * (1 + margin)
                recent = inp.observed[k][r][-keep_h:]
                peak_keep = max(float(fc.max()), float(recent.max()) if len(recent) else 0.0)
                key = best if self.params.together else -1 - r
                regions.setdefault(key, []).append(
                    (r, pools, cv, lat, up, peak_keep * (1 + margin))
                )
            rates = np.zeros((len(t.regions), inp.fleet.n_pools))
            # regions that reach fewest pools first (as routing takes them): a region
            # with a choice goes where the others leave room
            for key, group in sorted(
                regions.items(), key=lambda kv: (min(len(g[1]) for g in kv[1]), kv[1][0][0])
            ):
                group.sort(key=lambda g: (len(g[1]), g[0]))
                best = key if key >= 0 else min(group[0][1], key=lambda p: (t.rank[p], score[p], p))
                ups = np.array([g[4] for g in group])
                up = float(ups.sum())
                cv = (
                    math.sqrt(float((ups * np.array([g[2] for g in group]) ** 2).sum()) / up)
                    if up > 0
                    else group[0][2]
                )
                lat = max(g[3] for g in group)
                keep_lam = sum(g[5] for g in group)
                n_up = max(self.sizer.needed(t, best, up, cv, lat, goal), self._busy(t, best, up))
                n_keep = max(
                    self.sizer.needed(t, best, keep_lam, cv, lat, goal),
                    self._busy(t, best, keep_lam),
                )
                rkey = (k, *sorted(g[0] for g in group))
                past = self._sized.setdefault(rkey, deque(maxlen=keep_h))
                past.append(n_up)
                n_keep = max(n_keep, *past)
                pools_g = sorted({p for g in group for p in g[1]})
                live = sum(len(inp.live[k][p]) for p in pools_g)
                want = max(n_up, min(live, n_keep))
                shares = _split(want, ups)
                got = np.zeros(inp.fleet.n_pools, dtype=np.int64)
                for (r, pools, *_), n in zip(group, shares, strict=True):
                    order = sorted(
                        pools,
                        key=lambda p: (t.rank[p], score[p], float(t.latency_s[r, site[p]]), p),
                    )
                    before = sp.targets.copy()
                    sp.place(order, n, sticky=True)
                    got += sp.targets - before
                if got.any():
                    # the group's sized loads routed over its replicas as routing would
                    # (the regions that reach fewest pools first, over spare capacity)
                    rs = [g[0] for g in group]
                    lam_g = np.zeros(len(t.regions))
                    lam_g[rs] = ups
                    rates[rs] = route(lam_g, got, t)[rs]
            sp.settle("forecast demand")
            dec.plan[k] = self._plan(inp, k, rates, sp.goal, goal)
        return dec

    def _busy(self, t: ServiceTable, p: int, lam: float) -> int:
        """Replicas on pool *p* that keep the utilisation ``λ / (n μ_p)`` at or below
        ``max_utilisation``."""
        rho, mu = self.params.max_utilisation, float(t.mu[p])
        return math.ceil(lam / (rho * mu) - 1e-9) if lam > 0 and mu > 0 else 0

    def _plan(
        self, inp: ServingInput, k: int, rates: np.ndarray, replicas: np.ndarray, goal: float
    ) -> RoutePlan:
        """The routing plan: each pool's planned loads within what its replicas serve at
        the goal (for the latency and burstiness of the regions planned there)."""
        t = inp.tables.services[k]
        site = inp.fleet.pool_site
        limit = np.zeros(inp.fleet.n_pools)
        cv = max((d.cv(inp.now) for d in t.demand), default=1.0)
        for q in np.flatnonzero(replicas):
            p = int(q)
            rs = np.flatnonzero(rates[:, p] > 0)
            if not len(rs):
                rs = np.flatnonzero(t.reach_pool[:, p])
            lat = float(t.latency_s[rs, site[p]].max()) if len(rs) else 0.0
            limit[p] = self.sizer.capacity(t, p, int(replicas[p]), cv, lat, goal)
        load = rates.sum(axis=0)
        over = load > limit
        if over.any():
            rates = rates * np.where(over, limit / np.where(over, load, 1.0), 1.0)[None, :]
        return RoutePlan(rates, np.asarray(replicas, dtype=float), limit)

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


def _split(n: int, weights: np.ndarray) -> list[int]:
    """``n`` in whole parts in proportion to ``weights`` (largest remainders; equal
    parts for no weight)."""
    w = np.asarray(weights, dtype=float)
    if len(w) == 1:
        return [n]
    if w.sum() <= 0:
        w = np.ones(len(w))
    exact = n * w / w.sum()
    out = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - out), kind="stable")[: n - int(out.sum())]:
        out[i] += 1
    return [int(v) for v in out]
