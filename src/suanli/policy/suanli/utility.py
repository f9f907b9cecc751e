"""What starting one job of a class on a candidate is worth.

For class *k* on candidate *p*, with ``τ_kp`` the expected time to completion if
started now (data transfer, restart and run time), ``τ*_k = min_p τ_kp``, ``a_k``
the mean time its jobs have waited, ``G_kp`` the expected carbon and ``C_kp`` the
expected cost — energy net of subsidies, plus egress, plus the carbon price π on ``G_kp``
(as :mod:`suanli.policy.costs`; π is the parameter ``carbon_price``, else the scenario's
``carbon_price``, else 0) — and
``C̄_k``, ``Ḡ_k`` their means over the class's candidates:

.. math::

    u_{kp} = w_\\text{time}\\, f_{t(k)} \\left( \\frac{a_k + τ^*_k}{τ^*_k}\\,
             \\frac{τ^*_k}{τ_{kp}} - θ \\right)
             - w_\\text{cost} \\left(\\frac{C_{kp}}{\\bar C_k} - 1\\right)
             - w_\\text{carbon} \\left(\\frac{G_{kp}}{\\bar G_k} - 1\\right)
             - w_\\text{prefer}\\, r_{kp},

``r_kp`` the steps *p*'s accelerator type is down the class's ordered list of accepted
types (0 for its first choice, and for every candidate of a job without a list).

The first factor is the job's *response ratio* (highest-response-ratio-next:
short jobs first, but waiting raises everyone, so nothing starves); the second
its relative speed on *p* (heterogeneity: a job goes where it runs fastest — and,
through the cost terms, fastest per unit of cost and carbon). A start is only
worth making when ``u_kp > 0``: with the *patience* θ (default ½) a job does not
take a candidate less than half as fast as its best until it has waited long
enough (in proportion to its own length) to make it worthwhile.

Preference: a job's list of accepted types is an order of preference, held softly. Each
step down the list costs ``w_prefer`` (default ½) of worth — as much as the response ratio
of a fresh job falling by half — so a job takes its first choice over a second that is up
to twice as fast, and a less-preferred type only once that is worth more: its first choice
has no room and it has waited long enough for the second to pass ``u > 0``, or the first is
much slower. Why soft: a hard order would leave a job waiting behind a type that is full
for hours while its second choice idles, which no user listing two types means; a user who
will not run on a type leaves it out of the list (then the job never runs there).

Fairness: tenant *t* with weight ``w_t`` has the fair share ``φ_t = w_t / Σ w``
(over tenants with work) and holds ``s_t`` of the devices in use;
``f_t = clip((φ_t / max(s_t, φ_t/4))^{w_fair}, 1/2, 2)`` raises tenants below
their share and lowers those above it (the measured fairness is ρ, finish-time
fairness, in the metrics).

All candidates of a class are valued at once with numpy (the throughput, power
and price tables are precomputed arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from suanli.core.jobtable import JobTable
from suanli.core.policy import PolicyInput
from suanli.policy.suanli.classes import JobClass
from suanli.policy.suanli.params import SuanliParams


def carbon_price_per_kg(inp: PolicyInput, p: SuanliParams) -> float:
    """π per kg of CO₂e, in the scenario's currency: the parameter, else the scenario's."""
    per_t = p.carbon_price
    if per_t is None:
        per_t = inp.tables.scenario.carbon_price_per_t
    return per_t / 1000.0


@dataclass(frozen=True, slots=True)
class Valuation:
    """Expected outcome and worth of every candidate of a class (arrays by candidate)."""

    tau_s: np.ndarray
    cost: np.ndarray
    carbon_kg: np.ndarray
    utility: np.ndarray


@dataclass(frozen=True, slots=True)
class Layout:
    """The candidates of a sequence of signatures laid end to end (:func:`value_all`):
    per signature its slice ``starts[k]:ends[k]`` and count, and the arrays that depend
    on the signatures alone — pools, sites, rates, kWh per second of running
    (``PUE · busy_w / 3.6e6``), egress charges, preference ranks, each entry's first index."""

    sizes: np.ndarray
    starts: list[int]
    ends: list[int]
    pools: np.ndarray
    sites: np.ndarray
    rates: np.ndarray
    kw: np.ndarray
    egress: np.ndarray
    ranks: np.ndarray
    offset: np.ndarray


class Layouts:
    """The :class:`Layout` of each sequence of signatures seen lately, for one job table
    (a round's classes are mostly those of the round before): at most ``keep`` kept, all
    dropped when full."""

    __slots__ = ("_jobs", "_memo", "keep")

    def __init__(self, keep: int = 256) -> None:
        self._jobs: object = None
        self._memo: dict[tuple[int, ...], Layout] = {}
        self.keep = keep

    def of(self, jobs: JobTable, sigs: tuple[int, ...]) -> Layout:
        """The layout of ``sigs`` (made on first use)."""
        if self._jobs is not jobs:
            self._jobs, self._memo = jobs, {}
        got = self._memo.get(sigs)
        if got is None:
            if len(self._memo) >= self.keep:
                self._memo.clear()
            got = self._memo[sigs] = layout(jobs, sigs)
        return got


def layout(jobs: JobTable, sigs: tuple[int, ...]) -> Layout:
    """The :class:`Layout` of ``sigs``."""
    arrays = [jobs.sig_arrays(sig) for sig in sigs]
    sizes = np.array([a.pools.size for a in arrays])
    ends = np.cumsum(sizes).tolist()
    starts = [0, *ends[:-1]]
    kw = np.concatenate([a.pue for a in arrays]) * np.concatenate([a.busy_w for a in arrays])
    return Layout(
        sizes=sizes,
        starts=starts,
        ends=ends,
        pools=np.concatenate([a.pools for a in arrays]),
        sites=np.concatenate([a.sites for a in arrays]),
        rates=np.concatenate([a.rates for a in arrays]),
        kw=kw / 3.6e6,
        egress=np.concatenate([a.egress for a in arrays]),
        ranks=np.concatenate([a.ranks for a in arrays]),
        offset=np.repeat(starts, sizes),
    )


class Valued(NamedTuple):
    """One class's share of :func:`value_all`: its candidates' expected run times and
    worth (lists, by candidate), its best candidate, its candidates by decreasing worth,
    and where its arrays lie in the round's (:meth:`valuation`, made only when asked)."""

    tau_s: list[float]
    utility: list[float]
    best: int
    order: list[int]
    whole: Valuation
    at: slice

    def valuation(self) -> Valuation:
        """The class's :class:`Valuation` (arrays by candidate)."""
        w, at = self.whole, self.at
        return Valuation(w.tau_s[at], w.cost[at], w.carbon_kg[at], w.utility[at])


def fairness(inp: PolicyInput, classes: list[JobClass], gamma: float) -> dict[int, float]:
    """``f_t`` for every tenant with waiting or running work."""
    demand = {c.tenant for c in classes} | {t for t, n in enumerate(inp.tenant_milli) if n}
    weights = inp.tables.tenant_weight
    total_w = float(sum(weights[t] for t in demand)) or 1.0
    used = float(sum(inp.tenant_milli)) or 1.0
    out = {}
    for t in demand:
        phi = float(weights[t]) / total_w
        share = inp.tenant_milli[t] / used
        f = (phi / max(share, phi / 4.0)) ** gamma if gamma > 0 else 1.0
        out[t] = min(max(f, 0.5), 2.0)
    return out


def transfer_times(inp: PolicyInput, cls: JobClass) -> np.ndarray:
    """Data transfer time per candidate: none where the data set is (or is arriving)."""
    a = inp.jobs.sig_arrays(cls.sig)
    d = inp.jobs.dataset[cls.jobs[0]]
    if d < 0 or not inp.replicas:
        return a.transfer_s
    here = np.array([(d, int(s)) in inp.replicas for s in a.sites])
    return np.where(here, 0.0, a.transfer_s)


def cost_and_carbon(
    inp: PolicyInput,
    cls: JobClass,
    start_s: np.ndarray,
    idx: np.ndarray | None = None,
    price_kg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time to finish, cost (energy net of subsidies, egress, and ``price_kg`` per kg of
    carbon) and carbon of candidates ``idx`` started at ``start_s``."""
    t = inp.tables
    a = inp.jobs.sig_arrays(cls.sig)
    sel = slice(None) if idx is None else idx
    transfer = transfer_times(inp, cls)[sel]
    restart = inp.jobs.restart_s[cls.jobs[0]] if cls.resumed else 0.0
    run = cls.remaining / a.rates[sel]
    t1 = start_s + transfer + restart
    kw = a.pue[sel] * a.busy_w[sel] / 3.6e6
    cost = kw * t.net_price_integrals(a.pools[sel], t1, t1 + run) + np.where(
        transfer > 0, a.egress[sel], 0.0
    )
    carbon = kw * t.carbon_integrals(a.sites[sel], t1, t1 + run)
    if price_kg > 0:
        cost = cost + price_kg * carbon
    return transfer + restart + run, cost, carbon


def value(inp: PolicyInput, cls: JobClass, fair: float, p: SuanliParams) -> Valuation:
    """Every candidate of the class, valued if started now."""
    n = len(cls.candidates)
    tau, cost, carbon = cost_and_carbon(
        inp, cls, np.full(n, inp.now), price_kg=carbon_price_per_kg(inp, p)
    )
    best = float(tau.min())
    urgency = (cls.wait_s + best) / best
    util = (
        p.w_time * fair * (urgency * best / tau - p.patience)
        - p.w_cost * (cost / max(float(cost.mean()), 1e-12) - 1.0)
        - p.w_carbon * (carbon / max(float(carbon.mean()), 1e-12) - 1.0)
    )
    if p.w_prefer > 0:
        util = util - p.w_prefer * inp.jobs.sig_arrays(cls.sig).ranks
    return Valuation(tau, cost, carbon, util)


def _class_means(x: np.ndarray, starts: list[int], ends: list[int]) -> list[float]:
    """Per class (the entries ``starts[k]:ends[k]`` of ``x``), the mean ``ndarray.mean``
    gives, at least 1e-12 — the same number: for fewer than 8 entries numpy adds in order
    from the first, as done here in Python; for more it adds pairwise, so those are summed
    by numpy. (One numpy sum per class cost more than the whole of this.)"""
    xs = x.tolist()
    out = []
    for a, b in zip(starts, ends, strict=True):
        if b - a < 8:
            total = xs[a]
            for v in xs[a + 1 : b]:
                total += v
        else:
            total = float(np.add.reduce(x[a:b]))
        out.append(max(total / (b - a), 1e-12))
    return out


def value_all(
    inp: PolicyInput,
    classes: list[JobClass],
    fair: dict[int, float],
    p: SuanliParams,
    layouts: Layouts | None = None,
) -> list[Valued]:
    """:func:`value` for every class at once — the candidates of all classes in one set
    of arrays, the same arithmetic element by element, so the same numbers — with, per
    class, its best candidate (``np.argmax`` of the worth) and its candidates by
    decreasing worth (stable: candidate order breaks ties). ``layouts`` keeps the arrays
    that depend on the classes' signatures alone between rounds."""
    if not classes:
        return []
    jobs, t = inp.jobs, inp.tables
    sigs = tuple(cls.sig for cls in classes)
    lay = layout(jobs, sigs) if layouts is None else layouts.of(jobs, sigs)
    sizes, starts, ends = lay.sizes, lay.starts, lay.ends
    pools, sites, kw, egress = lay.pools, lay.sites, lay.kw, lay.egress
    transfer = np.concatenate([transfer_times(inp, cls) for cls in classes])
    restart = np.repeat(
        [jobs.restart_s[cls.jobs[0]] if cls.resumed else 0.0 for cls in classes], sizes
    )
    remaining = np.repeat([cls.remaining for cls in classes], sizes)
    run = remaining / lay.rates
    t1 = np.full(pools.size, inp.now) + transfer + restart
    cost = kw * t.net_price_integrals(pools, t1, t1 + run) + np.where(transfer > 0, egress, 0.0)
    carbon = kw * t.carbon_integrals(sites, t1, t1 + run)
    price_kg = carbon_price_per_kg(inp, p)
    if price_kg > 0:
        cost = cost + price_kg * carbon
    tau = transfer + restart + run
    best = np.minimum.reduceat(tau, starts)
    weight = p.w_time * np.array([fair[cls.tenant] for cls in classes])
    num = (np.array([cls.wait_s for cls in classes]) + best) / best * best
    cost_mean, carbon_mean = _class_means(cost, starts, ends), _class_means(carbon, starts, ends)
    util = (
        np.repeat(weight, sizes) * (np.repeat(num, sizes) / tau - p.patience)
        - p.w_cost * (cost / np.repeat(cost_mean, sizes) - 1.0)
        - p.w_carbon * (carbon / np.repeat(carbon_mean, sizes) - 1.0)
    )
    if p.w_prefer > 0:
        util = util - p.w_prefer * lay.ranks
    # Per class, np.argsort(-utility, kind="stable"): one stable sort by class, then worth.
    offset = lay.offset
    order = (np.lexsort((-util, offset)) - offset).tolist()  # each class's own indices
    nan = bool(np.isnan(util).any())  # else the first of the order is np.argmax's choice
    whole = Valuation(tau, cost, carbon, util)
    tau_l, util_l = tau.tolist(), util.tolist()
    out = []
    for a, b in zip(starts, ends, strict=True):
        mine = order[a:b]
        top = int(np.argmax(util[a:b])) if nan else mine[0]
        out.append(Valued(tau_l[a:b], util_l[a:b], top, mine, whole, slice(a, b)))
    return out
