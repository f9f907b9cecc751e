"""How ``suanli`` sizes elastic jobs: each pool's devices shared by Pollux's fitness of the
speed-ups, with growth that must pay for its restart.

An elastic job *j* runs on *n* devices, ``gang_min`` *l* ≤ n ≤ ``gang_max`` *h*, and asks
for ``gang`` *g*; on a pool its rate is :math:`r(n) = r(g)\\,S_j(n)`, :math:`S_j` its
speed-up (goodput ratio, :meth:`~suanli.core.jobtable.JobTable.resized`), and it holds
*d(n)* devices (node shapes). After the round's placement (which starts elastic jobs where
it starts any job, at their gang), on every pool where elastic jobs run or start, or where
an elastic job the round wanted to start found no room:

1. **Allocate** the pool's devices — free ones after the round's other decisions, and
   those its running elastic jobs hold — among those jobs and the jobs the round wanted
   to start there (its best option; at most :data:`MAX_ADMIT`, the reserved one first, then
   by worth), by :func:`~suanli.policy.resizing.allocate_fitness`: Pollux's fitness with
   p = −1, :math:`\\max -\\sum_j S_j(n_j)^{-1}` over :math:`n_j \\in \\{0\\} \\cup [l_j, h_j]`
   (a job that is not elastic: :math:`\\{0, g_j\\}`), running jobs keeping at least their
   smallest shape and waiting ones admitted at theirs in the round's order. With concave
   speed-ups, devices do the most work each on small shapes, so under contention every job
   runs, small, rather than some waiting; when room is plenty they grow.
2. **Shrink** running jobs to their allocation at once (the devices above a job's
   minimum are lent) when a job admitted does not fit in the room there is now and the
   shrinks, counted node by node as the state carries them out (each shrunk job relaunched
   on its new shape after the round's starts), let more of the admitted jobs in than fit
   without them — never only to even out the running ones, nor where the devices they free
   make no room the admitted jobs can use: the jobs admitted start in the next pass.
3. **Start** the round's elastic starts and the admitted elastic jobs on their allocated
   shapes where these fit now, the round's own starts keeping their place otherwise. A job
   the round did not start is started here only below its gang — the room elasticity makes
   — and otherwise left to the next pass's placement and its rules (reservations, worth,
   deferral): the allocation never overrides why the round let a job wait. A start gets
   more than its gang only on the job's fastest type (rule 4), where no job left waiting
   (not admitted) could run, and only
   when the time it saves pays, with the margin, for giving the devices back later:
   :math:`W_j\\,(1/r(g) - 1/r(n)) \\ge (1 + μ)\\,b_j`, :math:`b_j = ρ_j + Δ_j/2` (its restart
   and, expected, half a checkpoint interval of work redone).
4. **Grow** a running job to its allocation when the growth pays, as a move must, for
   itself and for giving the devices back (gain *g* and cost *k* of
   :mod:`suanli.core.migration`, on the same pool: the restart and the work since the last
   checkpoint),

   .. math::

       g > k + b_j,\\quad g \\ge (1 + μ)\\,(k + b_j),\\quad
       \\frac{r(n') - r(n)}{d(n') - d(n)} \\ge η\\,\\frac{r(n)}{d(n)},

   μ the moves' margin (``migrate_margin``) and η (``elastic_min_efficiency``, 0.1) a
   floor on parallel efficiency (each added device does at least η of the work of an
   average device of the job), once it has run κ restarts' worth since it last
   (re)started, :math:`t - t_\\text{start} \\ge κ\\,ρ_j` (``elastic_min_runs``, κ = 5, ρ its
   restart cost): growing then costs it at most 1/(1 + κ) of its time. Not on a pool a
   job left waiting by the round could use (one the allocation admitted but that does not
   start in this pass included); and between full rounds not on a pool a running job
   elsewhere would be faster on: devices freed there are first the moves' (:mod:`.moves`,
   planned on full rounds), whose gain — a faster type — is larger than a growth's. And
   only on a type no other the job accepts is faster on (:meth:`~suanli.core.jobtable.
   JobTable.faster_pools` empty): devices lent on a slower type tie the job to it (a move
   up restarts it, and waits ``migrate_min_interval_s`` after each resize), while moving up
   gains more than growing.

Room is checked so that what the round planned is there when the state carries it out
(resizes come last, :class:`~suanli.core.policy.PolicyOutput`): on a fresh view of the
round's other decisions, starts taken in the order they will be made, and a grow counting
the job's own devices only where that view has not changed their pool
(:func:`~suanli.policy.resizing.fits_grown`). Jobs that are not elastic are never resized,
and a workload without elastic jobs is scheduled exactly as without this step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from suanli.core.capacity import Capacity
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.migration import estimate
from suanli.core.policy import PolicyInput, PolicyOutput, Resize, Running, Start
from suanli.policy.resizing import (
    Share,
    allocate_fitness,
    efficient,
    fits_grown,
    sizes,
    take_if_fits,
)
from suanli.policy.suanli.moves import replay
from suanli.policy.suanli.params import SuanliParams

#: Waiting jobs per round that the allocation may admit (the round's best first).
MAX_ADMIT = 64


@dataclass(frozen=True, slots=True)
class Blocked:
    """A waiting job the round wanted to start but found no room for, with its options
    (best first)."""

    job: int
    options: tuple[Candidate, ...]


def plan_elastic(
    inp: PolicyInput,
    out: PolicyOutput,
    p: SuanliParams,
    blocked: list[Blocked],
    fast_pools: Callable[[int], int],
    shapes_of: Callable[[int, Candidate], list[Candidate]] | None = None,
    lent: set[int] | None = None,
) -> None:
    """Size the round's elastic jobs (module docstring): ``blocked`` are the waiting jobs
    the round wanted to start but could not, best first; ``fast_pools(sig)`` the pools (bit
    mask) worth a look for a signature; ``shapes_of(j, base)`` job *j*'s shapes on
    ``base``'s pool (:func:`~suanli.policy.resizing.sizes`, which a caller may cache).

    ``lent`` (kept by the caller between rounds, updated here) holds the running jobs
    above their smallest shape: on a pool where a job waits that the allocation does not
    admit, nothing grows, so only those can change and the others are not looked at;
    without it (None) every running elastic job is. Between full rounds only the pools where
    something changed are allocated: an elastic job starts there, a job that just arrived
    found no room there, or devices freed there that no waiting job wants; jobs that have
    waited longer are offered again on the next full round (every ``tick_s``)."""
    jobs = inp.jobs
    sizes_of = shapes_of or (lambda j, base: sizes(jobs, j, base))
    elastic_starts = [st for st in out.starts if jobs.elastic(st.job) and not st.candidate.share]
    waiting_on: dict[int, list[Blocked]] = {}
    for b in blocked[:MAX_ADMIT]:
        waiting_on.setdefault(b.options[0].pool, []).append(b)
    n = inp.tables.n_pools
    busy = _wanted(inp, out, {}, fast_pools)
    if inp.full:
        look = set(range(n))
    else:
        arrived = set(inp.arrived)
        look = {q for q, bs in waiting_on.items() if any(b.job in arrived for b in bs)}
        look |= {q for q in range(n) if (inp.freed >> q) & 1}
        look |= {st.candidate.pool for st in elastic_starts}
        waiting_on = {q: bs for q, bs in waiting_on.items() if q in look}
    moving = {mv.job for mv in out.migrates}
    running: dict[int, list[Running]] = {}
    admit = set(waiting_on) | {st.candidate.pool for st in elastic_starts}
    for pool in sorted(look):
        if pool not in admit and inp.capacity.free_devices(pool) == 0:
            continue  # no one to admit and no room to grow into: nothing can change
        if lent is not None and (busy >> pool) & 1:
            on = inp.running_on(pool)
            ids = sorted(j for j in lent if j in on)
        else:  # those that can give devices back (lent) or be lent more (rule 4)
            above = lent if lent is not None else set()
            ids = sorted(
                j
                for j in inp.running_on(pool)
                if jobs.elastic(j) and (j in above or lent is None or _on_best_type(jobs, j, pool))
            )
        for j in ids:
            if j not in moving:
                r = inp.running[j]
                if r.resizable:
                    running.setdefault(pool, []).append(r)
    starting = {st.candidate.pool for st in elastic_starts if not (busy >> st.candidate.pool) & 1}
    pools = set(running) | starting
    pools |= {
        q for q, bs in waiting_on.items() if q in pools or any(jobs.elastic(b.job) for b in bs)
    }
    if not pools:
        return
    in_starts = {st.job for st in elastic_starts if st.candidate.pool in pools}
    cap = replay(inp, out.migrates, [st for st in out.starts if st.job not in in_starts])[0]
    kept = [st for st in out.starts if st.job not in in_starts]
    reasons = {st.job: st.reason for st in elastic_starts if st.job in in_starts}
    out.starts[:] = kept
    shares_of: dict[int, list[Share]] = {}
    for pool in sorted(pools):
        shares: list[Share] = []
        held = 0
        for r in running.get(pool, []):
            base = jobs.base_candidate(r.job, pool)
            if base is not None:
                shares.append(Share(r.job, sizes_of(r.job, base), r.candidate, base.rate))
                held += r.candidate.devices
        for st in elastic_starts:
            if st.candidate.pool == pool and st.job in in_starts:
                base = jobs.base_candidate(st.job, pool)
                assert base is not None
                shares.append(Share(st.job, sizes_of(st.job, base), None, base.rate))
        for b in waiting_on.get(pool, []):
            c = b.options[0]
            shapes = sizes_of(b.job, c) if jobs.elastic(b.job) else [c]
            shares.append(Share(b.job, shapes or [c], None, c.rate))
        allocate_fitness(shares, cap.free_devices(pool) + held)
        shares_of[pool] = shares
    wanted = _wanted(inp, out, shares_of, fast_pools)
    grows: list[tuple[Share, Candidate]] = []
    for pool, shares in shares_of.items():
        w = bool((wanted >> pool) & 1)
        grows += _carry_out(inp, out, p, cap, shares, reasons, w)
    grows = [(s, to) for s, to in grows if _on_best_type(jobs, s.job, to.pool)]
    if grows:  # not where a job waits; between full rounds, not where a job could move up
        waiting = _wanted(inp, out, {}, fast_pools)
        ok = [(s, to) for s, to in grows if not (waiting >> to.pool) & 1]
        if not inp.full:
            up = {q: _moves_up_to(inp, q) for q in sorted({to.pool for _, to in ok})}
            ok = [(s, to) for s, to in ok if not up[to.pool]]
        _grow(inp, out, p, cap, ok)
    if lent is not None:
        for st in out.starts:
            if jobs.elastic(st.job) and st.candidate.used > jobs.gang_min[st.job]:
                lent.add(st.job)
        for z in out.resizes:
            if z.candidate.used > jobs.gang_min[z.job]:
                lent.add(z.job)
            else:
                lent.discard(z.job)
    if out.resizes:
        out.again = True


def _on_best_type(jobs: JobTable, j: int, pool: int) -> bool:
    """Whether no pool job *j* can run on is faster for it than ``pool``: only there does
    it get more than it asked for. Elsewhere the devices it would be lent tie it to slower
    ones, while moving up (:mod:`.moves`) gains more than growing."""
    return jobs.faster_pools(jobs.signature(j), pool) == 0


def _wanted(
    inp: PolicyInput,
    out: PolicyOutput,
    shares_of: dict[int, list[Share]],
    fast_pools: Callable[[int], int],
) -> int:
    """The pools (bit mask) a job left waiting, and not admitted by the allocation, would
    run on: nothing grows there."""
    jobs = inp.jobs
    leaving = Counter(jobs.signature(s.job) for s in out.starts)
    leaving.update(jobs.signature(d.job) for d in out.defers)
    for shares in shares_of.values():
        leaving.update(jobs.signature(s.job) for s in shares if s.now is None and s.pick >= 0)
    wanted = 0
    for sig in inp.waiting_sigs:
        if len(inp.waiting_of(sig)) > leaving.get(sig, 0):
            wanted |= fast_pools(sig)
    return wanted


def _moves_up_to(inp: PolicyInput, pool: int) -> bool:
    """Whether a preemptible job running on another pool runs faster on ``pool``
    (:meth:`~suanli.core.jobtable.JobTable.faster_pools`): devices freed there are the moves'
    first (:mod:`.moves`, on the next full round), not lent between full rounds."""
    jobs = inp.jobs
    for q in range(inp.tables.n_pools):
        if q == pool:
            continue
        for j in inp.running_on(q):
            if (jobs.faster_pools(jobs.signature(j), q) >> pool) & 1 and inp.running.preemptible(j):
                return True
    return False


def _carry_out(
    inp: PolicyInput,
    out: PolicyOutput,
    p: SuanliParams,
    cap: Capacity,
    shares: list[Share],
    reasons: dict[int, str],
    wanted: bool,
) -> list[tuple[Share, Candidate]]:
    """Turn a pool's allocation into starts and shrinks, and return the grows it asks for.

    Starts on their shape where it fits now (a job placed by the round keeps its place if
    its shape does not fit, or if its shape is larger and not worth it). Shrinks only where
    a job the allocation admitted cannot start now and the shrinks, carried out as the state
    will (each shrunk job relaunched on its new shape after this round's starts), let at
    least one more of them in — never only to even out the running ones, nor where node
    shapes leave the freed devices of no use to the jobs admitted. No grows where a job
    admitted here still waits."""
    jobs, t = inp.jobs, inp.tables
    grows: list[tuple[Share, Candidate]] = []
    shrinks: list[tuple[Share, Candidate]] = []
    pending: list[tuple[int, Candidate]] = []  # admitted, not started in this pass
    for s in shares:
        to = s.target
        if s.now is not None:
            if to is not None and to.devices < s.now.devices:
                shrinks.append((s, to))
            elif to is not None and to.devices > s.now.devices and not wanted:
                grows.append((s, to))
            continue
        tenant = jobs.tenant[s.job]
        first = reasons.get(s.job)
        if first is None and (to is None or to.used >= jobs.gang[s.job]):
            # the round did not start it on its gang (no room, or its own rules, such as a
            # reservation): only a smaller shape is the allocation's to start
            if to is not None:
                pending.append((tenant, to))
            continue
        ask = next((c for c in s.shapes if c.used >= jobs.gang[s.job]), s.shapes[-1])
        if to is not None and to.devices > ask.devices and not _on_best_type(jobs, s.job, to.pool):
            to = ask  # more than it asked for only on its fastest type (below)
        if to is not None and to.devices > ask.devices:
            # more than it asked for: not where a job waits, and only if worth giving back
            gain = inp.remaining(s.job) * (1.0 / ask.rate - 1.0 / to.rate)
            if wanted or gain < (1.0 + p.migrate_margin) * give_back_s(jobs, s.job):
                to = ask
        if to is not None and cap.why_not(tenant, to) is None:
            cap.take(tenant, to)
            why = first or "admitted by the elastic allocation"
            if to.used != jobs.gang[s.job]:
                why = f"{why}; elastic: {to.used} of the {jobs.gang[s.job]} devices it asks for"
            out.starts.append(Start(s.job, to, why))
            continue
        if first is not None:
            base = jobs.base_candidate(s.job, s.shapes[0].pool)
            if base is not None and cap.why_not(tenant, base) is None:
                cap.take(tenant, base)
                out.starts.append(Start(s.job, base, first))
                continue
        if to is not None:
            pending.append((tenant, to))
            out.reasons[s.job] = f"admitted by {LENT}: starts as devices are given back"
    if pending and shrinks and _shrinks_admit(inp, cap, shrinks, pending):
        for s, to in shrinks:
            assert s.now is not None
            why = f"gave back {s.now.devices - to.devices} of {t.pool_label(to.pool)}: {LENT}"
            out.resizes.append(Resize(s.job, to, why))
    return [] if pending else grows


def _shrinks_admit(
    inp: PolicyInput,
    cap: Capacity,
    shrinks: list[tuple[Share, Candidate]],
    pending: list[tuple[int, Candidate]],
) -> bool:
    """Whether carrying out ``shrinks`` (each job's devices released node by node, then its
    new shape taken, as the state relaunches it) lets more of the ``pending`` jobs in, in
    their order, than fit without them."""
    mark = cap.mark()
    before = sum(take_if_fits(cap, tenant, to) for tenant, to in pending)
    cap.rollback(mark)
    for s, to in shrinks:
        assert s.now is not None
        tenant = inp.jobs.tenant[s.job]
        cap.release_held(tenant, to.pool, inp.nodes_of(s.job), s.now.busy_w, s.now.milli)
        if cap.why_not(tenant, to) is None:
            cap.take(tenant, to)
    after = sum(take_if_fits(cap, tenant, to) for tenant, to in pending)
    cap.rollback(mark)
    return after > before


def _grow(
    inp: PolicyInput,
    out: PolicyOutput,
    p: SuanliParams,
    cap: Capacity,
    grows: list[tuple[Share, Candidate]],
) -> None:
    """The grows that are due and worth it (module docstring, rule 4), in order."""
    jobs, t = inp.jobs, inp.tables
    for s, to in grows:
        assert s.now is not None
        r = inp.running[s.job]
        if inp.now - r.started_s < p.elastic_min_runs * jobs.restart_s[s.job]:
            continue
        if not efficient(s.now, to, p.elastic_min_efficiency):
            continue
        done = jobs.work[s.job] - inp.remaining(s.job)
        e = estimate(t, jobs, s.job, inp.now, s.now, r.compute_start_s, done, to, inp.replicas)
        if e is None:
            continue
        k = e.cost_s + give_back_s(jobs, s.job)
        if not (e.gain_s > k and e.gain_s >= (1.0 + p.migrate_margin) * k):
            continue
        if fits_grown(inp, cap, r, to, keep=True):
            why = (
                f"grew to {to.used} devices of {t.pool_label(to.pool)}: {LENT}; "
                f"ends {e.net_s / 3600:.2f} h sooner"
            )
            out.resizes.append(Resize(s.job, to, why))


def give_back_s(jobs: JobTable, j: int) -> float:
    """What giving lent devices back will cost job *j*, expected: its restart and half a
    checkpoint interval of work redone, ρ_j + Δ_j/2 (seconds)."""
    return jobs.restart_s[j] + 0.5 * jobs.checkpoint_s[j]


#: Why an elastic job's devices change.
LENT = "the elastic allocation (Pollux's fitness of the speed-ups, p = -1)"
