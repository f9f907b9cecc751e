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
   minimum are lent) when the jobs admitted do not fit in the room there is now — never
   only to even out the running ones: the jobs admitted start in the next pass.
3. **Start** the round's elastic starts and the admitted elastic jobs on their allocated
   shapes where these fit now, the round's own starts keeping their place otherwise (an
   admitted job that is not elastic is left to the next pass's placement and its rules,
   reservations included). A start gets
   more than its gang only where no job left waiting (not admitted) could run, and only
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
   job left waiting could use.

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
from suanli.core.policy import Migrate, PolicyInput, PolicyOutput, Resize, Running, Start
from suanli.policy.resizing import (
    Share,
    allocate_fitness,
    efficient,
    fits_grown,
    sizes,
    take_if_fits,
)
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
        else:
            ids = sorted(j for j in inp.running_on(pool) if jobs.elastic(j))
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
    cap = _replay(inp, out.migrates, [st for st in out.starts if st.job not in in_starts])
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
    for pool, shares in shares_of.items():
        _carry_out(inp, out, p, cap, shares, reasons, bool((wanted >> pool) & 1))
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


def _replay(inp: PolicyInput, moves: list[Migrate], starts: list[Start]) -> Capacity:
    """A fresh view of free capacity with ``moves`` and ``starts`` taken in the order the
    state carries them out (the devices a move leaves are not counted free)."""
    jobs = inp.jobs
    cap = Capacity(inp.capacity.state)
    decisions: list[Migrate | Start] = [*moves, *starts]
    for d in decisions:
        if cap.why_not(jobs.tenant[d.job], d.candidate) is None:
            cap.take(jobs.tenant[d.job], d.candidate)
    return cap


def _carry_out(
    inp: PolicyInput,
    out: PolicyOutput,
    p: SuanliParams,
    cap: Capacity,
    shares: list[Share],
    reasons: dict[int, str],
    wanted: bool,
) -> None:
    """Turn a pool's allocation into decisions: shrinks at once where the allocation
    admitted a job that does not fit now (never only to even out the running ones); starts
    on their shape where it fits now (a job placed by the round keeps its place if its shape
    does not fit, or if its shape is larger and not worth it); grows where due and worth
    it."""
    jobs, t = inp.jobs, inp.tables
    grows: list[tuple[Share, Candidate]] = []
    mark, short = cap.mark(), False  # do the jobs admitted fit in the room there is now?
    for s in shares:
        to = s.target
        if s.now is None and to is not None and not take_if_fits(cap, jobs.tenant[s.job], to):
            short = True
    cap.rollback(mark)
    for s in shares:
        to = s.target
        if s.now is not None:
            if to is not None and to.devices < s.now.devices and short:
                why = f"gave back {s.now.devices - to.devices} of {t.pool_label(to.pool)}: {LENT}"
                out.resizes.append(Resize(s.job, to, why))
            elif to is not None and to.devices > s.now.devices and not wanted:
                grows.append((s, to))
            continue
        tenant = jobs.tenant[s.job]
        first = reasons.get(s.job)
        if first is None and not jobs.elastic(s.job):
            continue  # the round's placement starts it once there is room (its own rules)
        ask = next((c for c in s.shapes if c.used >= jobs.gang[s.job]), s.shapes[-1])
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
        elif first is not None:
            base = jobs.base_candidate(s.job, s.shapes[0].pool)
            if base is not None and cap.why_not(tenant, base) is None:
                cap.take(tenant, base)
                out.starts.append(Start(s.job, base, first))
        elif to is not None:
            out.reasons[s.job] = f"admitted by {LENT}: starts as devices are given back"
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
