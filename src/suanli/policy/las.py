"""``las``: discretised two-dimensional least-attained-service (Tiresias, NSDI'19).

Tiresias (Gu et al., NSDI'19) orders jobs by their *attained service* in two dimensions —
devices × time — in a few queues with thresholds, first in first out within a queue, lower
queues first, preempting jobs of lower queues, and promotes a job that has starved to the
first queue. It needs no estimate of a job's length. Its simulator
(``SymbioticLab/Tiresias``, ``dlas-gpu``) preempts for free and at any moment; in suanli's
model a preempted job pays its restart cost and loses the work since its last checkpoint
(:mod:`suanli.core.state`), so this policy adds a minimum run time, checkpoint-aligned
preemption and a bound on preemptions per job. The model, for job *j* at time *t*:

* ``S_j(t)`` is its attained service in device-seconds (computing time × devices, a share's
  fraction for a job that shares a device; ``PolicyInput.attained``), ``a_j`` its devices
  at its last start (else its gang). ``B_j`` is its service when it was last promoted
  (0 before), ``s_j = S_j − B_j`` its service since.
* **Queues.** With thresholds ``L_1 < … < L_{K−1}`` (``queue_limits_h``, device-hours),
  ``q_j = #{k : s_j ≥ L_k}``. Waiting jobs are served in lexicographic order of
  ``(q_j, submit_j, j)``: lower queue first, arrival order within a queue. A job that never
  ran is in queue 0.
* **Starvation** (Tiresias' ``STARVELIMIT`` = σ, ``starve_factor``). ``E_j = s_j / a_j`` is
  its run time since it first started or was last promoted (at ``T_j``), and
  ``P_j = t − T_j − E_j`` its time not running since then. A waiting job with ``q_j > 0``,
  ``E_j > 0`` and ``P_j ≥ σ·E_j`` is promoted: ``B_j ← S_j``, ``T_j ← t``, so ``q_j = 0``
  until it has received ``L_1`` more device-seconds (as Tiresias resets the job's executed
  time on promotion).
* **Starts.** Each round, waiting jobs in priority order start where they fit (first fit
  over their candidates, preference first).
* **Preemption.** A waiting job *i* that fits nowhere may stop running jobs *r* of a
  strictly lower queue (``q_r > q_i``: within a queue jobs run to completion in arrival
  order) that are preemptible and *eligible*:

  - ``c_r ≥ m_r = max(m, κ·R_r)``: computing for at least ``m_r`` seconds since its last
    (re)start (restart and data transfer do not count; ``m`` = ``min_run_s``, ``κ`` =
    ``min_run_restarts``, ``R_r`` its restart cost), so restarts cost it at most 1/κ of
    its computing;
  - ``c_r mod Δ_r ≤ ℓ``: it checkpointed at most ``ℓ`` seconds ago (Δ_r its checkpoint
    interval, ``ℓ`` = ``max_loss_s``; a job with ``Δ_r ≤ 0`` keeps all its work and is
    always eligible). suanli's jobs checkpoint every Δ and cannot be asked for one;
    preempting only just after a checkpoint is how this policy gets close to Tiresias'
    checkpoint-on-preemption — the victim loses at most ``ℓ`` seconds of computing — at
    the price that a job waiting to preempt may wait up to ``Δ − ℓ`` for a victim;
  - ``n_r < N``: this policy has preempted it fewer than ``N`` times
    (``max_preemptions``).

  On one of *i*'s pools it stops eligible jobs, lowest priority first, until enough whole
  nodes, one node with room, or (for a job that takes a share of a device) a device with
  room are free, power and quotas included; at most one such preemption-start per pool per
  round (rounds come every ``tick_s`` and on arrivals and finishes).

Bounds that follow: ``las`` preempts a job at most ``N`` times, so it pays at most ``N``
restarts and loses at most ``N·ℓ`` seconds of its computing to this policy (node failures
come on top); between two of its preemptions it computes at least ``m_j`` seconds. ``n_r``,
``B_j``, ``T_j`` and ``a_j`` are the policy's own record of its decisions (a control plane
that restarts begins them afresh: ``T_j`` then defaults to the job's submit time).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator
from itertools import chain, islice, pairwise

import numpy as np
from pydantic import Field, field_validator

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Preempt, Start
from suanli.policy.common import explain
from suanli.policy.freed import Freed
from suanli.policy.registry import register

#: Why a job starts: it has had the least service of the jobs that can start.
LEAST_FIRST = "least attained service first"


@register("las")
class Las:
    """Discretised two-dimensional least-attained-service, with bounded preemption."""

    name = "las"

    class Params(PolicyParams):
        """Knobs of 2D-LAS (module docstring: symbols in brackets)."""

        #: Seconds between full rounds.
        tick_s: float = Field(60.0, gt=0)
        #: Queue thresholds L_k in device-hours, increasing.
        queue_limits_h: tuple[float, ...] = Field((1.0, 10.0, 100.0))
        #: σ: a job not running for σ × its run time since it was promoted is promoted
        #: again (0: never).
        starve_factor: float = Field(10.0, ge=0)
        #: m: seconds a job computes after a (re)start before it may be preempted, at least.
        min_run_s: float = Field(600.0, ge=0)
        #: κ: ... and at least κ times its restart cost (restarts ≤ 1/κ of its computing).
        min_run_restarts: float = Field(6.0, ge=0)
        #: ℓ: a job may be preempted only this many seconds after a checkpoint (inf: any time).
        max_loss_s: float = Field(300.0, ge=0)
        #: N: the most times this policy preempts one job.
        max_preemptions: int = Field(3, ge=0)
        max_jobs_per_round: int = Field(2000, gt=0)

        @field_validator("queue_limits_h")
        @classmethod
        def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
            if any(x <= 0 for x in v) or any(b <= a for a, b in pairwise(v)):
                raise ValueError("thresholds must be positive and increasing")
            return v

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.p = params
        self.tick_s = params.tick_s
        self.limits = [h * 3600.0 for h in params.queue_limits_h]
        #: n_j: times this policy preempted job j.
        self.preempted: dict[int, int] = {}
        #: B_j: attained service at j's last promotion.
        self.base: dict[int, float] = {}
        #: T_j: when j first started or was last promoted.
        self.since: dict[int, float] = {}
        #: a_j: devices j held at its last start.
        self.amount: dict[int, float] = {}
        #: Running job r is not eligible before this time (see :meth:`eligible`); dropped
        #: when r is requeued.
        self._idle_until: dict[int, float] = {}
        #: Running job r is surely still in queue q before time u: ``r -> (q, u)`` (see
        #: :meth:`queue_until`); dropped when r is requeued.
        self._queue_until: dict[int, tuple[int, float]] = {}
        #: Running jobs that surely have no place in a pool's ranking (:class:`_Ranked`)
        #: before a time: not eligible yet, preempted too often, or in queue 0; with a heap
        #: of ``(time, job)`` to release them. Dropped when the job is requeued.
        self._parked: dict[int, float] = {}
        self._release: list[tuple[float, int]] = []
        #: Waiting job j surely does not starve before this time (see
        #: :meth:`starves_from`); dropped when j starts or is requeued.
        self._starve_from: dict[int, float] = {}
        #: Priority of requeued waiting job j (fixed while it waits: its service does not
        #: change); dropped when j starts, is promoted or is requeued.
        self._waiting_prio: dict[int, tuple[int, float, int]] = {}
        #: Per signature, the most devices a job of it can hold (its service's top rate).
        self._top_amount: dict[int, float] = {}
        #: Promotions by starvation (a count, for reports and tests).
        self.promotions = 0

    def queue(self, inp: PolicyInput, j: int) -> int:
        """q_j: the queue of job ``j`` by its service since its last promotion."""
        return bisect.bisect_right(self.limits, inp.attained(j) - self.base.get(j, 0.0))

    def queue_until(self, inp: PolicyInput, j: int, s: float, q: int) -> float:
        """A time before which running job ``j``, in queue ``q`` with service ``s`` since
        its promotion now, is surely still in queue ``q``: its service does not shrink
        while it runs (its base does not change) and grows at most at the rate of the most
        devices it can hold (less a second, against rounding)."""
        if q >= len(self.limits):
            return math.inf
        sig = inp.jobs.signature(j)
        top = self._top_amount.get(sig)
        if top is None:
            top = self._top_amount[sig] = max(
                (c.amount for c in inp.jobs.candidates(j)), default=0.0
            )
        top = max(top, inp.running[j].candidate.amount)
        if top <= 0:
            return math.inf
        return inp.now + (self.limits[q] - s) / top - 1.0

    def priority(self, inp: PolicyInput, j: int) -> tuple[int, float, int]:
        """(queue, submit, job): smaller is served first."""
        return (self.queue(inp, j), inp.jobs.submit[j], j)

    def starving(self, inp: PolicyInput, j: int) -> bool:
        """Whether waiting job ``j`` has starved: ``q_j > 0`` and ``P_j ≥ σ·E_j > 0``."""
        if self.p.starve_factor <= 0:
            return False
        s = inp.attained(j) - self.base.get(j, 0.0)
        if bisect.bisect_right(self.limits, s) == 0:
            return False
        ran = s / (self.amount.get(j) or max(inp.jobs.gang[j], 1))
        idle = inp.now - self.since.get(j, inp.jobs.submit[j]) - ran
        return ran > 0 and idle >= self.p.starve_factor * ran

    def promote_starved(self, inp: PolicyInput) -> None:
        """Move every starved waiting job to queue 0 (``B_j ← S_j``, ``T_j ← t``)."""
        if self.p.starve_factor <= 0:
            return
        now, starve_from = inp.now, self._starve_from
        for j in list(inp.requeued):
            at = starve_from.get(j)
            if at is None:
                at = starve_from[j] = self.starves_from(inp, j)
            if now < at:
                continue
            if self.starving(inp, j):
                self.base[j] = inp.attained(j)
                self.since[j] = inp.now
                self.promotions += 1
                del starve_from[j]
                self._waiting_prio.pop(j, None)

    def starves_from(self, inp: PolicyInput, j: int) -> float:
        """A time before which waiting job ``j`` surely does not starve, as long as it
        waits and is neither started nor promoted (its service, ``E_j`` and ``T_j`` do
        not change meanwhile): ``T_j + E_j + σ·E_j``, less a second against rounding."""
        s = inp.attained(j) - self.base.get(j, 0.0)
        if bisect.bisect_right(self.limits, s) == 0:
            return math.inf
        ran = s / (self.amount.get(j) or max(inp.jobs.gang[j], 1))
        if not ran > 0:
            return math.inf
        since = self.since.get(j, inp.jobs.submit[j])
        return since + ran + self.p.starve_factor * ran - 1.0

    def min_run(self, inp: PolicyInput, j: int) -> float:
        """m_j = max(m, κ·R_j): seconds job ``j`` computes after a (re)start before it may
        be preempted (R_j its restart cost)."""
        return max(self.p.min_run_s, self.p.min_run_restarts * inp.jobs.restart_s[j])

    def eligible(self, inp: PolicyInput, r: int) -> bool:
        """Whether running job ``r`` may be preempted now: computing for at least ``m_r``,
        at most ``ℓ`` past a checkpoint, preempted fewer than ``N`` times.

        A job found too early in its run or between checkpoint windows, once it computes
        (``c_r`` fixed until it stops, or later if its start is late), is not looked at
        again before its next window opens (less a millisecond, against rounding)."""
        if inp.now < self._idle_until.get(r, -math.inf):
            return False
        if self.preempted.get(r, 0) >= self.p.max_preemptions:
            return False
        run = inp.running[r]
        if not run.preemptible:
            return False
        start = run.compute_start_s
        computing = inp.now - start
        m = self.min_run(inp, r)
        if computing < 0 or computing < m:
            if computing >= 0:
                self._idle_until[r] = start + m - 1e-3
                self._park(r, start + m - 1e-3)
            return False
        interval = inp.jobs.checkpoint_s[r]
        if interval <= 0:
            return True
        phase = computing % interval
        if phase <= self.p.max_loss_s:
            return True
        self._idle_until[r] = inp.now + (interval - phase) - 1e-3
        self._park(r, self._idle_until[r])
        return False

    def in_priority_order(self, inp: PolicyInput, n: int) -> list[tuple[int, float, int]]:
        """The first ``n`` waiting jobs by priority without sorting the whole queue: jobs
        that never ran have no service (queue 0) and come in arrival order; only requeued
        jobs (few) are sorted."""
        known = self._waiting_prio
        requeued = []
        for j in inp.requeued:
            pr = known.get(j)
            if pr is None:
                pr = known[j] = self.priority(inp, j)
            requeued.append(pr)
        requeued.sort()
        submit, again = inp.jobs.submit, inp.requeued
        # The first n fresh jobs are among the first n + (requeued jobs) waiting.
        head = inp.waiting[: n + len(again)]
        fresh = [(0, submit[j], j) for j in head if j not in again]
        del fresh[n:]
        first = [p for p in requeued if p[0] == 0]
        if first:  # merge two sorted lists (the first n fresh ones are all that can count)
            fresh += first
            fresh.sort()
        fresh.extend(islice((p for p in requeued if p[0] > 0), max(n - len(fresh), 0)))
        del fresh[n:]
        return fresh

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Start by priority; preempt eligible lower-priority jobs for a job that fits
        nowhere."""
        out = PolicyOutput(default_reason="queued behind jobs with less attained service")
        for j in inp.arrived:  # requeued: its next run computes from a new start
            self._idle_until.pop(j, None)
            self._queue_until.pop(j, None)
            self._starve_from.pop(j, None)
            self._parked.pop(j, None)
            self._waiting_prio.pop(j, None)
        if not (inp.full or inp.arrived or inp.freed):
            return out
        self.promote_starved(inp)
        self._forget(inp)
        self._unpark(inp.now)
        cap = inp.capacity
        jobs = inp.jobs
        waiting = self.in_priority_order(inp, self.p.max_jobs_per_round)
        touched: set[int] = set()  # pools with a preemption planned: no other start there
        used: set[int] = set()  # pools with an ordinary start: no preemption plan there
        victims: set[int] = set()
        # Within a round capacity only shrinks, and jobs come in increasing queue order, so
        # a tenant's signature that could neither start nor preempt stays blocked: its later
        # jobs get the same explanation without being tried again.
        blocked: dict[tuple[int, int], str] = {}
        ranked: dict[int, _Ranked] = {}
        # (pool, devices, share) -> the lowest queue whose job could not fit there even
        # with every eligible job of a lower queue stopped: victims only accumulate within
        # a round, so a job of that queue or a lower one cannot either.
        nofit: dict[tuple[int, int, int], int] = {}
        reasons = out.reasons
        said: dict[tuple[tuple[int, int], int], str] = {}  # a blocked job's reason by queue
        tenants, signature, candidates, why_not = (
            jobs.tenant,
            jobs.signature,
            jobs.candidates,
            cap.why_not,
        )
        for prio in waiting:
            j = prio[2]
            tenant = tenants[j]
            sig = (signature(j), tenant)
            if sig in blocked:
                key = (sig, prio[0])
                text = said.get(key)
                if text is None:
                    text = said[key] = f"queue {prio[0]}: {blocked[sig]}"
                reasons[j] = text
                continue
            cand = next(
                (c for c in candidates(j) if c.pool not in touched and why_not(tenant, c) is None),
                None,
            )
            if cand is not None:
                cap.take(tenant, cand)
                out.starts.append(Start(j, cand, f"{LEAST_FIRST} (priority queue {prio[0]})"))
                used.add(cand.pool)
                self._started(inp, j, cand)
                continue
            plan = self._preempt_for(inp, j, prio, touched | used, victims, ranked, nofit)
            if plan is None:
                blocked[sig] = explain(inp, j)
                out.reasons[j] = f"queue {prio[0]}: {blocked[sig]}"
                continue
            cand, chosen = plan
            freed_w = sum(inp.running[v].candidate.busy_w for v in chosen)
            cap.adjust(tenant, cand.pool, cand.busy_w - freed_w, cand.milli)
            for v in chosen:
                if jobs.tenant[v] != tenant:
                    continue
                cap.adjust(jobs.tenant[v], cand.pool, 0.0, -inp.running[v].candidate.milli)
            for v in chosen:
                victims.add(v)
                self.preempted[v] = self.preempted.get(v, 0) + 1
                out.preempts.append(
                    Preempt(v, f"preempted by {jobs.ids[j]} (less attained service)")
                )
            touched.add(cand.pool)
            n = len(chosen)
            why = (
                f"{LEAST_FIRST} (priority queue {prio[0]}): preempting {n} "
                f"job{'s' if n != 1 else ''} with more"
            )
            out.starts.append(Start(j, cand, why))
            self._started(inp, j, cand)
        return out

    def _forget(self, inp: PolicyInput) -> None:
        """Drop the record of jobs that are neither running nor waiting to resume (done,
        ended), once it holds twice as many as there are such jobs (amortised O(1))."""
        live = len(inp.running) + len(inp.requeued)
        if len(self.since) <= 2 * live + 1000:
            return
        for j in [j for j in self._idle_until if j not in inp.running]:
            del self._idle_until[j]
        for j in [j for j in self._queue_until if j not in inp.running]:
            del self._queue_until[j]
        for j in [j for j in self._starve_from if j not in inp.requeued]:
            del self._starve_from[j]
        for j in [j for j in self._waiting_prio if j not in inp.requeued]:
            del self._waiting_prio[j]
        for j in [j for j in self._parked if j not in inp.running]:
            del self._parked[j]
        self._release = [(u, j) for u, j in self._release if self._parked.get(j) == u]
        heapq.heapify(self._release)
        for record in (self.preempted, self.base, self.since, self.amount):
            for j in [j for j in record if j not in inp.running and j not in inp.requeued]:
                del record[j]

    def _park(self, r: int, until: float) -> None:
        """Leave running job ``r`` out of the pools' rankings before ``until``."""
        self._parked[r] = until
        if until < math.inf:
            heapq.heappush(self._release, (until, r))

    def _unpark(self, now: float) -> None:
        """Release the jobs parked until ``now`` or earlier."""
        release, parked = self._release, self._parked
        while release and release[0][0] <= now:
            until, r = heapq.heappop(release)
            if parked.get(r) == until:
                del parked[r]

    def _started(self, inp: PolicyInput, j: int, cand: Candidate) -> None:
        """Record a start: ``a_j``, and ``T_j`` on its first start."""
        self.amount[j] = cand.amount
        self._starve_from.pop(j, None)
        self._waiting_prio.pop(j, None)
        self.since.setdefault(j, inp.now)

    def _preempt_for(
        self,
        inp: PolicyInput,
        j: int,
        prio: tuple[int, float, int],
        touched: set[int],
        victims: set[int],
        ranked: dict[int, _Ranked],
        nofit: dict[tuple[int, int, int], int],
    ) -> tuple[Candidate, list[int]] | None:
        """Eligible lower-priority running jobs whose devices would let ``j`` start, on
        one pool.

        ``ranked`` caches, per pool and round, its eligible running jobs from the lowest
        priority down (found as far as needed); ``nofit`` the shapes that could not fit on
        a pool with every eligible job of a lower queue than a given one stopped."""
        tenant = inp.jobs.tenant[j]
        for c in inp.jobs.candidates(j):
            if c.pool in touched:
                continue
            shape = (c.pool, c.devices, c.share)
            if prio[0] >= nofit.get(shape, prio[0] + 1):
                continue  # no more room than when it did not fit
            if inp.capacity.why_not(tenant, c) != "devices":
                continue  # power or quota bound: checked below once victims are chosen
            order = ranked.get(c.pool)
            if order is None:
                order = ranked[c.pool] = _Ranked(self, inp, c.pool)
            lower = (x for x in order.lower(prio[0]) if x[1] not in victims)  # lower queues
            first = next(lower, None)
            if first is None:
                continue
            freed = Freed(inp, c.pool)
            chosen: list[int] = []
            for _, r in chain((first,), lower):
                chosen.append(r)
                freed.stop(r)
                if freed.fits(c) and self._power_and_quota_ok(inp, j, c, chosen):
                    return c, chosen
            if not freed.fits(c):
                nofit[shape] = min(prio[0], nofit.get(shape, prio[0]))
        return None

    @staticmethod
    def _power_and_quota_ok(inp: PolicyInput, j: int, c: Candidate, chosen: list[int]) -> bool:
        """Whether ``j`` fits power and quotas once ``chosen`` (on ``c.pool``) have stopped."""
        cap = inp.capacity
        st = cap.state
        freed_w = sum(inp.running[v].candidate.busy_w for v in chosen)
        site = inp.tables.pool_site[c.pool]
        if c.busy_w > cap.power_headroom_w(site) + freed_w + 1e-6:
            return False
        tenant = inp.jobs.tenant[j]
        mine = sum(inp.running[v].candidate.milli for v in chosen if inp.jobs.tenant[v] == tenant)
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][c.pool]:
                left = st.quota_max[qi] - st.quota_usage[qi] - cap.quota_delta(qi)
                if c.milli > left + mine:
                    return False
        return True


class _Ranked:
    """The eligible running jobs of one pool from the lowest priority down, as
    ``sorted(((priority, r) for eligible r), reverse=True)`` would list them, but found as
    far as they are asked for: a heap of the running jobs by priority, each checked for
    eligibility when it comes up. Jobs of queue 0 are left out: they are never of a
    queue lower than a waiting job's."""

    __slots__ = ("_heap", "_inp", "_las", "order")

    def __init__(self, las: Las, inp: PolicyInput, pool: int) -> None:
        self._las, self._inp = las, inp
        submit = inp.jobs.submit
        now = inp.now
        attained, base, limits = inp.attained, las.base, las.limits
        queue_until, idle_until = las._queue_until, las._idle_until
        preempted, most = las.preempted, las.p.max_preemptions
        heap = []
        park, parked = las._park, las._parked
        running = inp.running_on(pool)
        # Parked jobs are surely left out below (Las._park): only the others are looked at.
        for r in running.difference(parked) if parked and isinstance(running, set) else running:
            # Not eligible (the first checks of Las.eligible, which change nothing):
            until = idle_until.get(r, -math.inf)
            if now < until:
                park(r, until)
                continue
            if preempted.get(r, 0) >= most:
                park(r, math.inf)
                continue
            known = queue_until.get(r)
            if known is not None and now < known[1]:
                q = known[0]
            else:
                s = attained(r) - base.get(r, 0.0)
                q = bisect.bisect_right(limits, s)
                known = queue_until[r] = (q, las.queue_until(inp, r, s, q))
            if q > 0:
                heap.append(((-q, -submit[r], -r), r))
            else:
                park(r, known[1])
        heapq.heapify(heap)
        self._heap = heap
        #: The eligible jobs found so far, in order: ((queue, submit, job), job).
        self.order: list[tuple[tuple[int, float, int], int]] = []

    def lower(self, q: int) -> Iterator[tuple[tuple[int, float, int], int]]:
        """Eligible jobs of queues above ``q``, lowest priority first."""
        order = self.order
        i = 0
        while i < len(order) or self._more():
            pr, r = order[i]
            if pr[0] <= q:
                return
            yield pr, r
            i += 1

    def _more(self) -> bool:
        """Find the next eligible job (``False``: none left)."""
        heap, las, inp = self._heap, self._las, self._inp
        while heap:
            (nq, ns, nr), r = heapq.heappop(heap)
            if las.eligible(inp, r):
                self.order.append(((-nq, -ns, -nr), r))
                return True
        return False
