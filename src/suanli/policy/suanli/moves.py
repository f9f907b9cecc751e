"""When ``suanli`` moves a running job to faster devices.

After a round's starts, a running job may move to a candidate that is faster and still
has room (:mod:`suanli.policy.moves`: preemptible, run at least
``migrate_min_interval_s`` where it is). With the gain ``g`` and the cost ``k`` of
:mod:`suanli.core.migration` — the time the faster devices save on the remaining work,
and the time the move spends (checkpoint and data copies, restart, work since the
last checkpoint done again) — and ``T_stay``, ``T_move`` the times to finish without and
with the move, it moves when the time pays with a margin,

.. math:: g > k \\quad\\text{and}\\quad g \\ge (1 + μ)\\, k,

``μ`` the margin (``migrate_margin``, default 1: the gain pays for the move twice, since
the remaining work and the rates are estimates live), and when it costs no more, by the
weights the policy places jobs with (:mod:`.utility`),

.. math::

    w_\\text{cost} \\Big(\\frac{C_\\text{move}}{C_\\text{stay}} - 1\\Big)
    + w_\\text{carbon} \\Big(\\frac{G_\\text{move}}{G_\\text{stay}} - 1\\Big) \\le 0,

``C`` the cost of finishing (tariff net of subsidies over the remaining run, with the
move's checkpoint and data egress, and the carbon price on ``G``, :mod:`.utility`) and
``G`` its carbon, staying or moving. A move
is thus a gain in time that is no loss in money and carbon: newer devices usually do
the same work on less energy, so moving up to them passes; a job placed on slower
devices because their site was cheaper or greener is not moved off them for speed
alone, and a large checkpoint is not sent across the country to save minutes. (Trading
money for time is the placement's business, when the job starts.)

Of its candidates a job takes the one that brings its end forward most; jobs whose ends
come forward most move first. Waiting jobs start before any job moves, so a move only
takes devices no waiting job was worth starting on this round; the devices it leaves are
free in the next pass. Moves are planned on full rounds only (every ``tick_s``, and
the passes that follow a round's moves): a running job loses nothing by waiting a few
minutes for its move, and valuing every running job's moves on every arrival and finish
would cost more than the moves gain.

**Priorities** (:mod:`suanli.policy.priority`): with several effective priorities, moves
act within a level — after every level's starts, the running jobs of each level, highest
first, are planned on their own (:func:`by_level`) on the room the higher levels' moves
left, so a job moves before one of a lower level whatever their gains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from suanli.core.capacity import Capacity
from suanli.core.jobtable import Candidate
from suanli.core.migration import MoveEstimate, estimate
from suanli.core.policy import Migrate, PolicyInput, PolicyOutput, Running, Start
from suanli.policy.moves import faster_with_room, movable
from suanli.policy.priority import Priorities
from suanli.policy.suanli.params import SuanliParams
from suanli.policy.suanli.utility import carbon_price_per_kg


def worth_moving(e: MoveEstimate, margin: float) -> bool:
    """Whether a move with estimate ``e`` pays in time (module docstring)."""
    return e.gain_s > e.cost_s and e.gain_s >= (1.0 + margin) * e.cost_s


def cost_and_carbon(
    inp: PolicyInput, run: Running, to: Candidate, e: MoveEstimate, price_kg: float = 0.0
) -> tuple[float, float, float, float]:
    """``C_stay, C_move, G_stay, G_move``: cost (energy, egress and ``price_kg`` per kg of
    carbon) and carbon of finishing where the job runs and after the move (module
    docstring)."""
    t, now = inp.tables, inp.now
    on = run.candidate

    def kwh_per_s(c: Candidate) -> float:
        return t.site_pue[t.pool_site[c.pool]] * c.busy_w / 3.6e6

    stay0 = max(now, run.compute_start_s)
    move0 = now + e.move_s - (inp.jobs.work[run.job] - e.kept_pflop) / to.rate
    k_on, k_to = kwh_per_s(on), kwh_per_s(to)
    s_on, s_to = t.pool_site[on.pool], t.pool_site[to.pool]
    end_stay, end_move = now + e.stay_s, now + e.move_s
    g_stay = k_on * t.carbon_integral(s_on, stay0, end_stay)
    g_move = k_to * t.carbon_integral(s_to, move0, end_move)
    return (
        k_on * t.net_price_integral(on.pool, stay0, end_stay) + price_kg * g_stay,
        k_to * t.net_price_integral(to.pool, move0, end_move) + e.egress + price_kg * g_move,
        g_stay,
        g_move,
    )


def worth_it(
    inp: PolicyInput, run: Running, to: Candidate, e: MoveEstimate, p: SuanliParams
) -> bool:
    """Whether the move costs no more by the placement weights (module docstring)."""
    c_stay, c_move, g_stay, g_move = cost_and_carbon(inp, run, to, e, carbon_price_per_kg(inp, p))
    cost = p.w_cost * (c_move / c_stay - 1.0) if c_stay > 0 else (p.w_cost if c_move > 0 else 0.0)
    carbon = p.w_carbon * (g_move / g_stay - 1.0) if g_stay > 0 else 0.0
    return cost + carbon <= 0.0


def plan_moves(
    inp: PolicyInput,
    out: PolicyOutput,
    p: SuanliParams,
    held: Mapping[int, float] | None = None,
    own: Mapping[int, int] | None = None,
) -> None:
    """Append the round's moves to ``out`` (taking their room in the capacity view); only
    on full rounds (module docstring). ``held``: pools reserved for a waiting job, with the
    time the reservation begins, ``t_R``; a move onto such a pool must end by then, as a
    start there must — except the move it is held for: ``own`` maps a bridging job to
    the pool held for its move up (:mod:`.bridge`)."""
    if not inp.full:
        return
    t, jobs = inp.tables, inp.jobs
    options: list[tuple[float, int, Candidate, MoveEstimate]] = []
    for run in movable(inp, p.migrate_min_interval_s):
        j = run.job
        done = jobs.work[j] - inp.remaining(j)
        best: tuple[MoveEstimate, Candidate] | None = None
        for c in faster_with_room(inp, run):
            e = estimate(
                t, jobs, j, inp.now, run.candidate, run.compute_start_s, done, c, inp.replicas
            )
            if e is None or not worth_moving(e, p.migrate_margin):
                continue
            mine = own is not None and own.get(j) == c.pool  # held for this move
            if held and c.pool in held and inp.now + e.move_s > held[c.pool] and not mine:
                continue  # it would run past the reservation of the pool
            if (best is None or e.net_s > best[0].net_s) and worth_it(inp, run, c, e, p):
                best = (e, c)
        if best is not None:
            options.append((best[0].net_s, j, best[1], best[0]))
    options.sort(key=lambda o: (-o[0], o[1]))
    cap = inp.capacity
    moves: list[Migrate] = []
    for net, j, c, e in options:
        tenant = jobs.tenant[j]
        if cap.why_not(tenant, c) is not None:
            continue
        if not replay(inp, [*moves, Migrate(j, c, "")], out.starts)[1]:
            continue  # placed before the starts, as the state does, it would take their room
        cap.take(tenant, c)
        moves.append(Migrate(j, c, ""))
        why = (
            f"moved up to {t.pool_label(c.pool)}: ends {net / 3600:.2f} h sooner "
            f"(saves {e.gain_s / 3600:.2f} h for a move costing {e.cost_s / 3600:.2f} h)"
        )
        out.migrates.append(Migrate(j, c, why))
    if out.migrates:
        out.again = True


def replay(inp: PolicyInput, moves: list[Migrate], starts: list[Start]) -> tuple[Capacity, bool]:
    """A fresh view of free capacity with ``moves`` and ``starts`` taken in the order the
    state carries them out (moves first; the devices a move leaves are not counted free),
    and whether every one of them fit. The policy's own view takes the round's starts
    before its moves: node by node, the two orders can differ."""
    jobs = inp.jobs
    cap = Capacity(inp.capacity.state)
    fit = True
    decisions: list[Migrate | Start] = [*moves, *starts]
    for d in decisions:
        if cap.why_not(jobs.tenant[d.job], d.candidate) is None:
            cap.take(jobs.tenant[d.job], d.candidate)
        else:
            fit = False
    return cap, fit


def by_level(inp: PolicyInput, pr: Priorities) -> list[PolicyInput]:
    """Per level of ``pr`` (highest first), a view of ``inp`` whose running jobs on each
    pool (``running_on``) are that level's only; capacity and everything else shared."""
    on: list[list[list[int]]] = [[[] for _ in range(inp.tables.n_pools)] for _ in pr.levels]
    rank = pr.rank
    for pool in range(inp.tables.n_pools):
        for j in inp.running_on(pool):
            on[rank(j)][pool].append(j)
    return [dataclasses.replace(inp, running_on=level.__getitem__) for level in on]
