"""Bridging: a blocked job starts now on slower devices with room and moves up to the
faster pool it waits for when that pool frees.

A class whose options worth taking (patience θ, :mod:`.utility`) all lack room waits for
the first of them to free: the pool of option ``g`` at ``t_g`` (its devices and power
free, its tenant's quotas allowing it: ``reserve_at``, as a reservation is placed), ending
there at

.. math:: E_g = t_g + x_g + W / r_g

(``x`` the data transfer — none where its data set has a replica — and the restart of a
job that ran before, ``W`` the work left, ``r`` the rate). Started now on a slower
candidate ``c`` with room instead, it computes from ``c_0 = now + x_c`` and may move at

.. math:: t_m = \\max(t_g,\\ now + I)

(``I`` = ``migrate_min_interval_s``, the least run before a move), with the move of
:mod:`suanli.core.migration` — progress ``w = r_c (t_m − c_0)^+`` less the work since its
last checkpoint, the checkpoint and data copy, the restart — taking ``T_move`` from
``t_m`` to the end; or it stays, ending at ``E_c = c_0 + W / r_c``. Its end by ``c`` is

.. math::

    E_{c→g} = \\begin{cases} t_m + T_\\text{move} & \\text{if the move pays at } t_m \\\\
              E_c & \\text{otherwise,} \\end{cases}

the move paying as :mod:`.moves` judges one (time with the margin μ; no more money and
carbon). With ``τ_b = E_{c→g} − now``, the job *bridges* on the ``c`` with the least
``E_{c→g}`` when it ends sooner than waiting; else, when the wait would be long, on the
``c`` with the least ``E_{c→g}`` among those that cost no more than waiting and are a start
worth making:

.. math::

    E_{c→g} < E_g \\quad\\text{or}\\quad
    \\big(a + t_g − now ≥ A \\ \\text{and}\\ τ^* / τ_b ≥ θ \\ \\text{and}\\
    w_\\text{cost} (C_b / C_w − 1) + w_\\text{carbon} (G_b / G_w − 1) ≤ 0\\big),

``a`` the time the job has waited, ``A`` = ``reserve_after_s`` (the wait after which the
policy reserves for a blocked job: waited too long), ``τ* = min_c (x_c + W / r_c)`` its
best run time and θ the patience (:mod:`.utility`: a start is worth making on a candidate
at least θ as fast as the best). ``C_w``, ``G_w`` are the cost (energy net of subsidies,
plus the carbon price π on the carbon, :mod:`.utility`) and carbon of waiting — the work on
``g`` from ``t_g + x_g`` to ``E_g``, and the data set's egress to ``g``'s site — and ``C_b``,
``G_b`` those of the bridge: on ``c`` from ``c_0`` until it moves (or ends), then what is
left on ``g`` after the move, plus the egress of the data set to ``c``'s site and of the
move's checkpoint and data copies; energy at the pool's busy power and its site's PUE,
tariff and carbon over those hours (as :mod:`.moves` prices a move; none where a replica
is). A job that would otherwise wait too long
starts now where it ends little later (the move up makes the slower devices nearly as
good as the faster ones: ``τ_b`` is the whole bridge, move included), rather than
queueing — but, ending no sooner, only where that costs no more than the wait, as a move
must be no loss in money and carbon: a bridge that ends later *and* costs more buys
nothing but an earlier first start (on the busy national week such bridges ran gangs for
hours on Ascend devices that need more energy for the same work; docs/benchmarks.md,
"Bridging that ends later"). A short wait for the faster pool is still waited.

Bridges are planned on full rounds, and on event rounds for a job that has just arrived
(through a reservation: in any round that considers its class), after the round's starts
of the job's level, on the devices those left idle: no job of
its level that was worth starting is kept off them (a class that has waited
``reserve_after_s`` and is reserved takes its bridge through the reservation, as it takes
a pool with room now that ends it no later). ``g`` is the first of the job's options worth
taking to free, whatever restricts them this round (through a reservation: outside the
pools held, as the reservation chooses). When the job will move, ``g``'s pool
is held for the move from ``t_m``, as a reservation holds a pool for a waiting job
(docs/scheduler.md, "Big gangs and starvation"): work that starts there later must end by
``t_m`` or fit in the devices left spare, and moves onto it too, the job's own excepted —
so the faster devices are free when the move is due. A pool holds one reservation or
hold at a time: where ``g``'s pool is held already, the job still bridges, unheld, and
the move step moves it up when a faster pool has room (as it moves any running job).
A hold ends when the job has moved up, stops or ends, or in the first full round from
``t_m`` in which the move was not made though ``g`` had room (it no longer pays), and at
the latest a tick after ``t_m`` (the move cannot be made — a quota, a site that cannot
stop the job — or ``g`` frees late: the job moves up unheld when there is room). A
bridge through a reservation is held only once it has started.

Measured on the three built-in weeks (docs/scheduler.md): choosing ``g`` only among the
pools no hold or reservation had, as reservations choose, made jobs of 16–64 devices
bridge and hold pool after pool on the busy week, and its average JCT rose 4.7 %; without
any hold the big gangs' moves came hours late and carbon rose 6.7 %.

It plans a move only where the move may take the job: a preemptible job, ``g`` no further
down its order of accelerator types than ``c`` (a move never takes a job away from a type
it prefers), and a link between the sites.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from suanli.core.jobtable import Candidate
from suanli.core.migration import estimate
from suanli.core.policy import PolicyInput, Running
from suanli.policy.backfill import Reservation
from suanli.policy.suanli.moves import worth_it, worth_moving
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.utility import carbon_price_per_kg


@dataclass(frozen=True, slots=True)
class Bridge:
    """Job ``job`` starts on ``on`` now and, if ``moves``, is expected to move up to ``to``
    when it frees (``res``: when and how); ``end_s`` its expected end, ``wait_end_s`` its
    end by waiting for ``to``."""

    job: int
    on: Candidate
    to: Candidate
    res: Reservation
    end_s: float
    wait_end_s: float
    moves: bool


def plan_bridge(
    inp: PolicyInput,
    job: int,
    tenant: int,
    candidates: tuple[Candidate, ...] | list[Candidate],
    to: Candidate,
    res: Reservation,
    p: SuanliParams,
    taken: set[int],
) -> Bridge | None:
    """The best bridge for waiting ``job`` toward ``to`` (free from ``res.time_s``) among
    ``candidates`` with room now on pools outside ``taken`` (module docstring), or None
    when none ends sooner than waiting or, for a long wait, is worth making and costs no
    more than waiting."""
    t, jobs, now = inp.tables, inp.jobs, inp.now
    work = inp.remaining(job)
    if to.rate <= 0 or not math.isfinite(res.time_s):
        return None
    restart = jobs.restart_s[job] if inp.resumed(job) else 0.0
    d = jobs.dataset[job]

    def sent(c: Candidate) -> float:  # egress of the data set to c's site (none: a replica)
        return 0.0 if d < 0 or (d, t.pool_site[c.pool]) in inp.replicas else c.egress

    def ready(c: Candidate) -> float:  # data transfer (none where a replica is) and restart
        here = d >= 0 and (d, t.pool_site[c.pool]) in inp.replicas
        return (0.0 if here else c.transfer_s) + restart

    wait_end = res.time_s + ready(to) + work / to.rate
    long_wait = now - jobs.submit[job] + res.time_s - now >= p.reserve_after_s
    tau_star = min((ready(c) + work / c.rate for c in candidates if c.rate > 0), default=0.0)
    done = jobs.work[job] - work
    best: Bridge | None = None
    # each bridge: its start of computing c_0, when it leaves c, its egress, its time on `to`
    paths: list[tuple[Bridge, float, float, float, float]] = []
    for c in candidates:
        if c.rate <= 0 or c.rate >= to.rate or c.pool == to.pool or c.pool in taken:
            continue
        if inp.capacity.why_not(tenant, c) is not None:
            continue
        c0 = now + ready(c)
        stay_end = c0 + work / c.rate
        end, moves, t_m, egress, left_s = stay_end, False, stay_end, 0.0, 0.0
        if p.migrate and c.rank >= to.rank and jobs.preemptible[job]:
            t_m = max(res.time_s, now + p.migrate_min_interval_s)
            e = estimate(t, jobs, job, t_m, c, c0, done, to, inp.replicas)
            if e is not None and worth_moving(e, p.migrate_margin) and t_m + e.move_s < end:
                run = Running(job, c, now, c0, stay_end, True)
                if worth_it(dataclasses.replace(inp, now=t_m), run, to, e, p):
                    end, moves = t_m + e.move_s, True
                    egress, left_s = e.egress, (jobs.work[job] - e.kept_pflop) / to.rate
        b = Bridge(job, c, to, res, end, wait_end, moves)
        if best is None or end < best.end_s:
            best = b
        if not moves:
            t_m = stay_end
        paths.append((b, c0, t_m, egress + sent(c), left_s))
    if best is None or best.end_s < wait_end:
        return best
    if not long_wait:
        return None
    # A bridge ending later than waiting would, taken because the wait is long: only one
    # that costs no more than the wait (as a move must), the soonest of them.
    price_kg = carbon_price_per_kg(inp, p)
    c_w, g_w = _cost(inp, to, wait_end - work / to.rate, wait_end, price_kg)
    wait = (c_w + sent(to), g_w)
    pick: Bridge | None = None
    for b, c0, t_m, egress, left_s in paths:
        if pick is not None and b.end_s >= pick.end_s:
            continue
        on = _cost(inp, b.on, c0, t_m, price_kg)
        up = _cost(inp, to, b.end_s - left_s, b.end_s, price_kg) if b.moves else (0.0, 0.0)
        if _no_dearer((on[0] + up[0] + egress, on[1] + up[1]), wait, p):
            pick = b
    if pick is None:
        return None
    return pick if tau_star >= p.patience * (pick.end_s - now) else None


def _cost(
    inp: PolicyInput, c: Candidate, t0: float, t1: float, price_kg: float
) -> tuple[float, float]:
    """``(C, G)``: cost (energy net of subsidies, plus ``price_kg`` per kg of carbon) and
    carbon (kg) of running on ``c`` from ``t0`` to ``t1``, as :mod:`.moves` counts them."""
    if t1 <= t0:
        return 0.0, 0.0
    t = inp.tables
    site = t.pool_site[c.pool]
    kwh_per_s = t.site_pue[site] * c.busy_w / 3.6e6
    kg = kwh_per_s * t.carbon_integral(site, t0, t1)
    return kwh_per_s * t.net_price_integral(c.pool, t0, t1) + price_kg * kg, kg


def _no_dearer(bridge: tuple[float, float], wait: tuple[float, float], p: SuanliParams) -> bool:
    """Whether a bridge of cost and carbon ``bridge`` is no loss against waiting, ``wait``,
    by the placement weights: ``w_cost (C_b/C_w − 1) + w_carbon (G_b/G_w − 1) ≤ 0`` (with
    ``C_w ≤ 0``, the cost term is ``w_cost`` if ``C_b > C_w``, else 0; with ``G_w = 0`` no
    carbon term)."""
    if wait[0] > 0:
        cost = p.w_cost * (bridge[0] / wait[0] - 1.0)
    else:  # free (or paid) to wait: dearer if it costs more, as moves judge it
        cost = p.w_cost if bridge[0] > wait[0] else 0.0
    carbon = p.w_carbon * (bridge[1] / wait[1] - 1.0) if wait[1] > 0 else 0.0
    return cost + carbon <= 0.0
