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
  ``q_j = #{k : s_j ≥ L_k}``. A job that never ran is in queue 0.
* **Priorities** (:mod:`suanli.policy.priority`). ``π_j = (P_t(j), p_j)`` is its effective
  priority and ``ρ_j`` the rank of ``π_j`` among the effective priorities of the jobs that
  have joined the queue so far (0: the highest; the same on both clocks, whatever the job
  table holds beyond them). Its *grade* is ``g_j = K·ρ_j + q_j`` (K queues), so that
  ``g_i < g_j`` if and only if ``π_i ≻ π_j``, or ``π_i = π_j`` and ``q_i < q_j``. Waiting
  jobs are served in lexicographic order of ``(g_j, submit_j, j)``: higher effective
  priority first, then lower queue, arrival order within a queue. With one effective
  priority (all 0, the default) ``g_j = q_j``: Tiresias' order.
* **Starvation** (Tiresias' ``STARVELIMIT`` = σ, ``starve_factor``). ``E_j = s_j / a_j`` is
  its run time since it first started or was last promoted (at ``T_j``), and
  ``P_j = t − T_j − E_j`` its time not running since then. A waiting job with ``q_j > 0``,
  ``E_j > 0`` and ``P_j ≥ σ·E_j`` is promoted: ``B_j ← S_j``, ``T_j ← t``, so ``q_j = 0``
  until it has received ``L_1`` more device-seconds (as Tiresias resets the job's executed
  time on promotion): the first queue of its own effective priority, below higher ones.
* **Starts.** Each round, waiting jobs in priority order start where they fit (first fit
  over their candidates, preference first).
* **Preemption.** A waiting job *i* that fits nowhere may stop running jobs *r* of a
  higher grade, ``g_r > g_i``: of a lower effective priority (``π_i ≻ π_r``, whatever
  their queues), or of the same one and a strictly lower queue (``q_r > q_i``: within a
  queue jobs run to completion in arrival order) — never one of a higher effective
  priority (:func:`~suanli.policy.priority.may_displace`, among equals by the queue) —
  that are preemptible and *eligible*:

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

  On one of *i*'s pools it stops eligible jobs, highest ``(g_r, submit_r, r)`` first
  (lowest effective priority, then highest queue, then latest arrival), until enough whole
  nodes, one node with room, or (for a job that takes a share of a device) a device with
  room are free, power and quotas included; at most one such preemption-start per pool per
  round (rounds come every ``tick_s`` and on arrivals and finishes).

Bounds that follow: ``las`` preempts a job at most ``N`` times, so it pays at most ``N``
restarts and loses at most ``N·ℓ`` seconds of its computing to this policy (node failures
come on top); between two of its preemptions it computes at least ``m_j`` seconds. ``n_r``,
``B_j``, ``T_j`` and ``a_j`` are the policy's own record of its decisions (a control plane
that restarts begins them afresh: ``T_j`` then defaults to the job's submit time).

Work per round: a pass looks at up to ``max_jobs_per_round`` waiting jobs and at the
running jobs of the pools it may preempt on. A pass that starts and preempts nothing is
kept, with the earliest time at which anything time-dependent it looked at can change (a
running job's queue or eligibility, a waiting job's starvation); until then, while no
capacity is freed and the cluster looks the same, rounds reuse it — a job that arrived
meanwhile is tried on its own — and decide exactly as a new pass would
(:meth:`Las._reuse`). A pass that acts ranks each pool's running jobs once (kept from the
last pass while the same jobs run there and none's queue may have changed:
:class:`_Ranked`), stops each of them at most once per job shape to find how many a shape
needs, and builds the text of a blocked job's reason from what the capacity already said.
With several effective priorities the waiting jobs come by level from the scheduling
state's lists (:meth:`Las._by_level`), not grouped anew each pass.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence
from itertools import chain, islice, pairwise

import numpy as np
from pydantic import Field, field_validator

from suanli.core.jobtable import Candidate
from suanli.core.levels import Level, effective, tenant_priorities
from suanli.core.policy import (
    PolicyInput,
    PolicyOutput,
    PolicyParams,
    Preempt,
    Start,
)
from suanli.policy.common import explain, looks, why_text
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
        #: K: the number of queues (a grade is ``K·ρ_j + q_j``).
        self._k = len(self.limits) + 1
        #: π_j of the jobs waiting or running; the levels of the jobs that joined the queue
        #: so far, and each one's rank ρ (0: the highest).
        self._level_of: dict[int, Level] = {}
        self._seen: set[Level] = set()
        self._rank_of: dict[Level, int] = {}
        #: Whether more than one level was seen (else every ρ_j is 0).
        self._ranked = False
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
        #: Per pool, its last ranking (:class:`_Ranked`): the running jobs in it, their
        #: heap, and the first time one's queue may change.
        self._rankings: dict[int, tuple[frozenset[int], list[_Key], float]] = {}
        #: Waiting job j surely does not starve before this time (see
        #: :meth:`starves_from`); dropped when j starts or is requeued.
        self._starve_from: dict[int, float] = {}
        #: ``(starves_from, j)`` of the requeued waiting jobs, a heap (stale entries left).
        self._starving: list[tuple[float, int]] = []
        #: Priority of requeued waiting job j (fixed while it waits: its service does not
        #: change); dropped when j starts, is promoted or is requeued.
        self._waiting_prio: dict[int, tuple[int, float, int]] = {}
        #: Their priorities, sorted (kept so from round to round: :meth:`_know`).
        self._requeued: list[tuple[int, float, int]] = []
        #: While a job is tried: what the capacity said of each of its candidates, in order
        #: (``""`` or beyond the list: not asked), as it still would (nothing is taken in
        #: between).
        self._asked: list[str | None] = []
        #: Job j's signature and tenant (fixed), for the jobs waiting or running.
        self._keys: dict[int, tuple[int, int]] = {}
        #: Per signature, the most devices a job of it can hold (its service's top rate).
        self._top_amount: dict[int, float] = {}
        #: Promotions by starvation (a count, for reports and tests).
        self.promotions = 0
        #: The last pass, while it started and preempted nothing (see :class:`_Memo`).
        self._memo: _Memo | None = None
        #: Whether a round may reuse it (:meth:`_reuse`): that rests on :meth:`eligible` and
        #: :meth:`_preempt_for` telling when what they found can change (``_until``), so a
        #: subclass that replaces either (a reference implementation) computes every pass.
        cls = type(self)
        self._reusable = cls.eligible is Las.eligible and cls._preempt_for is Las._preempt_for
        #: During a pass: a time before which nothing time-dependent that the pass looked
        #: at can change (a promotion, a running job's queue or eligibility).
        self._until = math.inf

    def queue(self, inp: PolicyInput, j: int) -> int:
        """q_j: the queue of job ``j`` by its service since its last promotion."""
        return bisect.bisect_right(self.limits, inp.attained(j) - self.base.get(j, 0.0))

    def queue_until(
        self, inp: PolicyInput, j: int, s: float, q: int, held: Candidate | None = None
    ) -> float:
        """A time before which running job ``j``, in queue ``q`` with service ``s`` since
        its promotion now, is surely still in queue ``q``: its service does not shrink
        while it runs (its base does not change) and grows at most at the rate of the most
        devices it can hold (less a second, against rounding): the most of its candidates,
        or of ``held``, what an elastic job holds now (another holds one of its
        candidates)."""
        if q >= len(self.limits):
            return math.inf
        sig = inp.jobs.signature(j)
        top = self._top_amount.get(sig)
        if top is None:
            top = self._top_amount[sig] = max(
                (c.amount for c in inp.jobs.candidates(j)), default=0.0
            )
        if held is not None:
            top = max(top, held.amount)
        if top <= 0:
            return math.inf
        return inp.now + (self.limits[q] - s) / top - 1.0

    def grade(self, j: int, q: int) -> int:
        """g_j = K·ρ_j + q_j: job ``j``'s grade in queue ``q`` (``q`` with one effective
        priority)."""
        return q + self._k * self.rank(j) if self._ranked else q

    def rank(self, j: int) -> int:
        """ρ_j: the rank of job ``j``'s effective priority among those seen (0: the
        highest)."""
        return self._rank_of[self._level_of[j]]

    def priority(self, inp: PolicyInput, j: int) -> tuple[int, float, int]:
        """(grade, submit, job): smaller is served first."""
        return (self.grade(j, self.queue(inp, j)), inp.jobs.submit[j], j)

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
        now, starve_from, heap = inp.now, self._starve_from, self._starving
        if inp.full:  # every requeued job is watched (it is from its arrival on)
            for j in inp.requeued:
                if j not in starve_from:
                    self._watch(inp, j)
        again = []
        while heap and heap[0][0] <= now:
            at, j = heapq.heappop(heap)
            if starve_from.get(j) != at or j not in inp.requeued:
                continue  # started, or requeued anew
            if self.starving(inp, j):
                self.base[j] = inp.attained(j)
                self.since[j] = inp.now
                self.promotions += 1
                starve_from[j] = math.inf  # in queue 0 until it runs again
                self._know(inp, j)  # its priority changed
            else:  # it may starve any moment: look again next round
                again.append((at, j))
                self._until = now
        for entry in again:
            heapq.heappush(heap, entry)
        if heap:
            self._until = min(self._until, heap[0][0])

    def _watch(self, inp: PolicyInput, j: int) -> None:
        """Note when requeued waiting job ``j`` may starve (:meth:`starves_from`)."""
        at = self._starve_from[j] = self.starves_from(inp, j)
        if at < math.inf:
            heapq.heappush(self._starving, (at, j))

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

        A job found too early in its run (computing or not yet: its planned start of
        computing is fixed until it stops, or later if its start is late) or between
        checkpoint windows is not looked at again before its next window opens (less a
        millisecond, against rounding)."""
        if inp.now < self._idle_until.get(r, -math.inf):
            return False
        if self.preempted.get(r, 0) >= self.p.max_preemptions:
            return False
        running = inp.running
        if not running.preemptible(r):
            return False
        start = running.compute_start(r)
        computing = inp.now - start
        m = self.min_run(inp, r)
        if computing < m:  # also before it computes (restart, data, boot): c_r < 0
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

    def in_priority_order(self, inp: PolicyInput, n: int) -> tuple[list[int], list[int]]:
        """The first ``n`` waiting jobs by priority ``(g_j, submit_j, j)``, and their grades,
        without sorting the whole queue: level by level (highest first), jobs that never ran
        have no service (queue 0) and come in arrival order (``(submit, job)``); only
        requeued jobs (few) are sorted."""
        known, again = self._waiting_prio, inp.requeued
        if inp.full or len(known) != len(again):  # a job that ended, or a first round
            for j in [j for j in known if j not in again]:
                del known[j]
            for j in again:
                if j not in known:
                    known[j] = self.priority(inp, j)
            self._requeued = sorted(known.values())
        requeued = self._requeued
        submit = inp.jobs.submit
        k = self._k
        levels: list[Sequence[int]] = [inp.waiting]
        if self._ranked:  # by level, each in arrival order
            levels = self._by_level(inp)
        order: list[int] = []
        grades: list[int] = []
        for rank, waiting in enumerate(levels):
            m = n - len(order)
            if m <= 0:
                break
            base = k * rank  # the grade of queue 0 at this level
            lo = bisect.bisect_left(requeued, (base,)) if rank else 0
            zero = bisect.bisect_left(requeued, (base + 1,))
            # The first m fresh jobs are among the first m + (requeued jobs) waiting.
            head = waiting[: m + len(again)]
            part = [j for j in head if j not in again] if again else list(head)
            del part[m:]
            # Requeued jobs of queue 0 go among the fresh ones, by (submit, job).
            if (zero - lo) * 8 < len(part):  # a few: each where it goes
                for p in islice(requeued, lo, zero):
                    part.insert(bisect.bisect(part, p[1:], key=lambda j: (submit[j], j)), p[2])
            elif zero > lo:  # many: merge the two sorted lists
                merged = [(submit[j], j) for j in part]
                merged += (p[1:] for p in islice(requeued, lo, zero))
                merged.sort()
                part = [j for _, j in merged]
            del part[m:]
            order += part
            grades += [base] * len(part)
            end = bisect.bisect_left(requeued, (base + k,), lo=zero)
            for p in islice(requeued, zero, min(end, zero + m - len(part))):
                order.append(p[2])
                grades.append(p[0])
        return order, grades

    def _by_level(self, inp: PolicyInput) -> list[Sequence[int]]:
        """The waiting jobs by rank of level (ρ), each in arrival order: the scheduling
        state's own lists (:attr:`~suanli.core.policy.PolicyInput.waiting_levels`; every
        waiting job joined the queue, so its level was seen), requeued jobs included."""
        out: list[Sequence[int]] = [() for _ in self._rank_of]
        for level, jobs in inp.waiting_levels():
            out[self._rank_of[level]] = jobs
        return out

    def _see(self, inp: PolicyInput) -> None:
        """Take in the effective priorities of the jobs that joined the queue (on a first
        round, of every job waiting or running) and rank the levels seen; when a level is
        new, ranks — and grades — change: re-grade the requeued jobs' records, let parked
        jobs be looked at again (one of grade 0 may now have a higher one) and drop the
        kept pass. Levels come from what the rounds announce, not from the job table (which
        holds every job of a simulation from the start), so both clocks rank alike."""
        level_of, seen = self._level_of, self._seen
        known = len(seen)
        new = [j for j in inp.arrived if j not in level_of]
        if not known:
            new += (j for j in chain(inp.waiting, inp.running) if j not in level_of)
        if new:
            tp = tenant_priorities(inp.tables)
            for j in new:
                seen.add(level_of.setdefault(j, effective(inp.jobs, j, tp)))
        if len(level_of) > 2 * (len(inp.waiting) + len(inp.running)) + 1000:  # amortised
            live = set(inp.waiting).union(inp.running)
            self._level_of = {j: lv for j, lv in level_of.items() if j in live}
        if len(seen) == known:
            return
        self._rank_of = {lv: i for i, lv in enumerate(sorted(seen, reverse=True))}
        self._ranked = len(seen) > 1
        k, grades = self._k, self._waiting_prio
        for j, (g, sub, _) in grades.items():
            grades[j] = (self.grade(j, g % k), sub, j)
        self._requeued = sorted(grades.values())
        self._parked.clear()
        self._release.clear()
        self._rankings.clear()
        self._memo = None

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Start by priority; preempt eligible lower-priority jobs for a job that fits
        nowhere."""
        out = PolicyOutput(default_reason="queued behind jobs with less attained service")
        self._see(inp)
        for j in inp.arrived:  # requeued: its next run computes from a new start
            self._idle_until.pop(j, None)
            self._queue_until.pop(j, None)
            self._starve_from.pop(j, None)
            self._parked.pop(j, None)
            self._forget_prio(j)
            if j in inp.requeued:
                self._know(inp, j)
                if self.p.starve_factor > 0:
                    self._watch(inp, j)
                for pool in [p for p, kept in self._rankings.items() if j in kept[0]]:
                    del self._rankings[pool]  # it may come back there, with a new record
        if not (inp.full or inp.arrived or inp.freed):
            return out
        memo, self._memo = self._memo, None
        if memo is not None and self._reusable and not inp.freed and self._reuse(inp, memo, out):
            self._memo = memo  # nothing the pass depends on changed: it holds, updated
            return out
        out.reasons.clear()  # what _reuse said before it gave up
        self._until = math.inf
        self.promote_starved(inp)
        self._forget(inp)
        self._unpark(inp.now)
        cap = inp.capacity
        jobs = inp.jobs
        order, queues = self.in_priority_order(inp, self.p.max_jobs_per_round)  # grades
        touched: set[int] = set()  # pools with a preemption planned: no other start there
        used: set[int] = set()  # pools with an ordinary start: no preemption plan there
        victims: set[int] = set()
        # Within a round capacity only shrinks, and jobs come in increasing grade order
        # (a tenant's later jobs of a signature may preempt fewer), so a tenant's signature
        # that could neither start nor preempt stays blocked: its later jobs get the same
        # explanation without being tried again.
        blocked: dict[tuple[int, int], str] = {}
        ranked: dict[int, _Ranked] = {}
        # (pool, devices, share) -> the lowest grade whose job could not fit there even
        # with every eligible job of a higher grade stopped: victims only accumulate within
        # a round, so a job of that grade or a higher one cannot either.
        nofit: dict[tuple[int, int, int], int] = {}
        first: dict[tuple[int, int], tuple[int, float, int]] = {}  # who got blocked[sig]
        reasons = out.reasons
        zero: dict[tuple[int, int], str] = {}  # a blocked job's reason in grade 0
        said: dict[tuple[tuple[int, int], int], str] = {}  # ... and in the others
        tenants, signature, candidates, why_not, submit = (
            jobs.tenant,
            jobs.signature,
            jobs.candidates,
            cap.why_not,
            jobs.submit,
        )
        keys = self._keys
        k, rank = self._k, self.rank if self._ranked else (lambda j: 0)
        for j, q in zip(order, queues, strict=True):
            sig = keys.get(j)
            if sig is None:
                sig = keys[j] = (signature(j), tenants[j])
            if sig in blocked:
                if q == 0:
                    reasons[j] = zero[sig]
                    continue
                text = said.get((sig, q))
                if text is None:
                    text = said[(sig, q)] = f"queue {q % k}: {blocked[sig]}"
                reasons[j] = text
                continue
            tenant = sig[1]
            prio = (q, submit[j], j)
            cand = None
            whys: list[str | None] = []  # why_not of each candidate ("": not asked, touched)
            for c in candidates(j):
                if c.pool in touched:
                    whys.append("")
                    continue
                why = why_not(tenant, c)
                if why is None:
                    cand = c
                    break
                whys.append(why)
            if cand is not None:
                cap.take(tenant, cand)
                out.starts.append(Start(j, cand, f"{LEAST_FIRST} (priority queue {q % k})"))
                used.add(cand.pool)
                self._started(inp, j, cand)
                continue
            self._asked = whys
            plan = self._preempt_for(inp, j, prio, touched | used, victims, ranked, nofit)
            self._asked = []
            if plan is None:
                blocked[sig] = self._explain(inp, j, sig, whys)
                zero[sig] = f"queue 0: {blocked[sig]}"
                first[sig] = prio
                reasons[j] = f"queue {q % k}: {blocked[sig]}"
                continue
            cand, chosen = plan
            freed_w = sum(inp.running.held(v).busy_w for v in chosen)
            cap.adjust(tenant, cand.pool, cand.busy_w - freed_w, cand.milli)
            for v in chosen:
                if jobs.tenant[v] != tenant:
                    continue
                cap.adjust(jobs.tenant[v], cand.pool, 0.0, -inp.running.held(v).milli)
            below = q // k  # ρ_j: a victim of a lower effective priority ranks below
            by_priority = [rank(v) > below for v in chosen]
            for v, higher in zip(chosen, by_priority, strict=True):
                victims.add(v)
                self.preempted[v] = self.preempted.get(v, 0) + 1
                by = "higher priority" if higher else "less attained service"
                out.preempts.append(Preempt(v, f"preempted by {jobs.ids[j]} ({by})"))
            touched.add(cand.pool)
            n = len(chosen)
            more = "of lower priority or with more" if any(by_priority) else "with more"
            why = (
                f"{LEAST_FIRST} (priority queue {q % k}): preempting {n} "
                f"job{'s' if n != 1 else ''} {more}"
            )
            out.starts.append(Start(j, cand, why))
            self._started(inp, j, cand)
        if not out.starts:  # a pass that changed nothing: it holds while nothing changes
            if self._release:
                self._until = min(self._until, self._release[0][0])
            look = looks(inp)
            self._memo = _Memo(cap.state, look, inp.now, self._until, len(inp.waiting))
            self._memo.order, self._memo.queues = order, queues
            self._memo.blocked, self._memo.first = blocked, first
        return out

    def _reuse(self, inp: PolicyInput, memo: _Memo, out: PolicyOutput) -> bool:
        """Give this round's decisions from the last pass (``memo``), which started and
        preempted nothing, when a pass now would give the same; else ``False``.

        It would when the capacity looks the same (:func:`.common.looks`: free devices per node
        bucket and shared device, committed power, quota usage, running jobs; on the same
        cluster state), no device was freed (``inp.freed``), the time is before
        ``memo.until`` and the queue only grew by ``inp.arrived``. Then every running job
        the pass looked at is in the same queue and no more eligible than it was (a job
        found too early or between checkpoint windows, or of a queue too high to be a
        victim, sets ``until`` to when that may change; an eligible job may only become
        ineligible, and a job shape that fitted nowhere with more victims stopped does not
        fit with fewer), no waiting job is promoted (``until`` is at most the first
        starvation), and the waiting jobs come in the same order: the pass would again start
        and preempt nothing and give the same reasons (they stand: none is said again).

        A job that arrived since is placed in that order: beyond the ``max_jobs_per_round``
        first it is not looked at; after a job of its signature and tenant it gets that
        job's reason; else it is tried as the pass would try it (no start or preemption
        planned before it). If it can start or preempt, ``False`` (a full pass follows);
        else it is blocked, its reason given, and ``memo`` updated to include it (the pass
        with it would have looked at the same jobs and pools, and at the pools it tried:
        their thresholds lower ``until``)."""
        now = inp.now
        if (
            not memo.now <= now < memo.until
            or memo.state is not inp.capacity.state
            or memo.look != looks(inp)
        ):
            return False
        top, prio_of = memo.looked_at(inp)
        new = [j for j in inp.arrived if j not in prio_of]
        if len(inp.waiting) != memo.waiting + len(new):
            return False  # a job left the queue, or one announced twice
        reasons = out.reasons
        jobs = inp.jobs
        for j in inp.arrived:
            pr = prio_of.get(j)
            if pr is not None:  # announced again, already looked at: the same reason
                why = memo.blocked[(jobs.signature(j), jobs.tenant[j])]
                reasons[j] = f"queue {pr[0] % self._k}: {why}"
        if not new:
            return True
        prios = []
        again, known, starve_from = inp.requeued, self._waiting_prio, self._starve_from
        for j in new:
            if j in again:
                if self.p.starve_factor > 0:  # promote_starved would look at it
                    at = starve_from[j] = self.starves_from(inp, j)
                    if now >= at:
                        return False
                    memo.until = min(memo.until, at)
                pr = known.get(j)
                if pr is None:
                    pr = self._know(inp, j)
            else:
                pr = (self.grade(j, 0), jobs.submit[j], j)
            prios.append(pr)
        prios.sort()
        n = self.p.max_jobs_per_round
        cap = inp.capacity
        for pr in prios:
            if len(top) >= n and pr > top[-1]:
                continue  # beyond the jobs a pass looks at
            j = pr[2]
            tenant = jobs.tenant[j]
            key = (jobs.signature(j), tenant)
            f = memo.first.get(key)
            if f is None or pr < f:  # the first of its kind: tried
                if any(cap.why_not(tenant, c) is None for c in jobs.candidates(j)):
                    return False
                self._until = math.inf
                if self._preempt_for(inp, j, pr, set(), set(), {}, {}) is not None:
                    return False
                until = min(self._until, self._release[0][0] if self._release else math.inf)
                if until <= now:
                    return False
                memo.until = min(memo.until, until)
                memo.first[key] = pr
                memo.blocked[key] = explain(inp, j)
            reasons[j] = f"queue {pr[0] % self._k}: {memo.blocked[key]}"
            bisect.insort(top, pr)
            prio_of[j] = pr
            if len(top) > n:  # the last one is no longer looked at
                last = top.pop()
                del prio_of[last[2]]
                k = (jobs.signature(last[2]), jobs.tenant[last[2]])
                if memo.first.get(k) == last:
                    del memo.first[k], memo.blocked[k]
        memo.waiting = len(inp.waiting)
        return True

    def _explain(
        self, inp: PolicyInput, j: int, sig: tuple[int, int], whys: list[str | None]
    ) -> str:
        """:func:`explain` for blocked job ``j`` of signature and tenant ``sig``, given
        ``whys``, what the capacity said of each of its candidates ("": not asked). It
        asks about those not asked as ``explain`` would (in order, until one has room):
        the text is made of nothing else (:func:`~suanli.policy.common.why_text`)."""
        cands = inp.jobs.candidates(j)
        if not cands:
            return explain(inp, j)
        for i, c in enumerate(cands):
            if whys[i] == "":
                whys[i] = inp.capacity.why_not(sig[1], c)
            if whys[i] is None:
                del whys[i + 1 :]
                break
        return why_text(whys)

    def _know(self, inp: PolicyInput, j: int) -> tuple[int, float, int]:
        """Record the priority of requeued waiting job ``j`` (fixed while it waits, until it
        is promoted), among the others in order."""
        self._forget_prio(j)
        pr = self._waiting_prio[j] = self.priority(inp, j)
        bisect.insort(self._requeued, pr)
        return pr

    def _forget_prio(self, j: int) -> None:
        """Drop the priority of job ``j`` (it started, or is requeued anew)."""
        pr = self._waiting_prio.pop(j, None)
        if pr is not None:
            rq = self._requeued
            i = bisect.bisect_left(rq, pr)
            if i < len(rq) and rq[i] == pr:
                del rq[i]

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
        self._starving = [(u, j) for j, u in self._starve_from.items() if u < math.inf]
        heapq.heapify(self._starving)
        for j in [j for j in self._waiting_prio if j not in inp.requeued]:
            del self._waiting_prio[j]
        self._requeued = sorted(self._waiting_prio.values())
        for j in [j for j in self._parked if j not in inp.running]:
            del self._parked[j]
        for j in [j for j in self._keys if j not in inp.running and j not in inp.requeued]:
            del self._keys[j]
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
        self._forget_prio(j)
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
        """Eligible running jobs of a higher grade than ``j``'s (``prio[0]``) whose devices
        would let ``j`` start, on one pool.

        On a pool it stops the first of them, lowest priority first, that free enough
        devices, then more while power or quotas do not allow ``j``. ``ranked`` caches, per
        pool and round, its eligible running jobs from the lowest priority down and how
        many of them a shape needs (found as far as needed); ``nofit`` the shapes that
        could not fit on a pool with every eligible job of a higher grade than a given one
        stopped. (``victims`` are on pools in ``touched``, left out.)"""
        tenants = inp.jobs.tenant
        tenant = tenants[j]
        asked = self._asked
        for i, c in enumerate(inp.jobs.candidates(j)):
            if c.pool in touched:
                continue
            shape = (c.pool, c.devices, c.share)
            if prio[0] >= nofit.get(shape, prio[0] + 1):
                continue  # no more room than when it did not fit
            why = asked[i] if i < len(asked) and asked[i] else inp.capacity.why_not(tenant, c)
            if why != "devices":
                continue  # power or quota bound: checked below once victims are chosen
            order = ranked.get(c.pool)
            if order is None:
                order = ranked[c.pool] = _Ranked(self, inp, c.pool)
            m = order.fit(c, prio[0])
            if m < 0:
                continue  # no eligible job of a higher grade
            if m == 0:
                nofit[shape] = min(prio[0], nofit.get(shape, prio[0]))
                continue
            # Its devices are free once the first m stop; power and quotas may want more.
            held = [order.candidate(r) for _, r in order.order[:m]]
            mine = sum(
                h.milli
                for (_, r), h in zip(order.order, held, strict=False)
                if tenants[r] == tenant
            )
            while not _power_and_quota_left(inp, tenant, c, sum(h.busy_w for h in held), mine):
                if not order.above(m, prio[0]):
                    break
                r = order.order[m][1]
                held.append(order.candidate(r))
                if tenants[r] == tenant:
                    mine += held[-1].milli
                m += 1
            else:
                return c, [r for _, r in order.order[:m]]
        return None

    @staticmethod
    def _power_and_quota_ok(inp: PolicyInput, j: int, c: Candidate, chosen: list[int]) -> bool:
        """Whether ``j`` fits power and quotas once ``chosen`` (on ``c.pool``) have stopped."""
        tenant, held = inp.jobs.tenant[j], [inp.running.held(v) for v in chosen]
        mine = sum(
            h.milli for v, h in zip(chosen, held, strict=True) if inp.jobs.tenant[v] == tenant
        )
        return _power_and_quota_left(inp, tenant, c, sum(h.busy_w for h in held), mine)


def _power_and_quota_left(
    inp: PolicyInput, tenant: int, c: Candidate, freed_w: float, mine: int
) -> bool:
    """Whether ``c`` fits power and ``tenant``'s quotas once running jobs drawing
    ``freed_w`` watts, of which ``mine`` milli-devices of ``tenant``'s, have stopped on
    ``c.pool``."""
    cap = inp.capacity
    st = cap.state
    site = inp.tables.pool_site[c.pool]
    if c.busy_w > cap.power_headroom_w(site) + freed_w + 1e-6:
        return False
    for qi in st.tenant_quotas[tenant]:
        if st.quota_mask[qi][c.pool]:
            left = st.quota_max[qi] - st.quota_usage[qi] - cap.quota_delta(qi)
            if c.milli > left + mine:
                return False
    return True


#: A running job's place in a pool's ranking: ((−grade, −submit, −job), job).
_Key = tuple[tuple[int, float, int], int]


class _Ranked:
    """The eligible running jobs of one pool from the lowest priority down, as
    ``sorted(((priority, r) for eligible r), reverse=True)`` would list them, but found as
    far as they are asked for: a heap of the running jobs by priority, each checked for
    eligibility when it comes up. Jobs of grade 0 (queue 0 of the highest effective
    priority) are left out: no waiting job's grade is lower. The heap is kept for the next
    pass (``Las._rankings``) and reused while it would be built the same."""

    __slots__ = ("_cands", "_heap", "_inp", "_las", "_pool", "_shapes", "order")

    def __init__(self, las: Las, inp: PolicyInput, pool: int) -> None:
        self._las, self._inp = las, inp
        self._cands: dict[int, Candidate] = {}
        #: Per shape (devices, share): the pool freed by stopping the first ``m`` jobs of
        #: :attr:`order`, ``m``, and whether the shape fits then (it did not before).
        self._pool = pool
        self._shapes: dict[tuple[int, int], tuple[Freed, int, bool]] = {}
        #: The eligible jobs found so far, in order: ((grade, submit, job), job).
        self.order: list[tuple[tuple[int, float, int], int]] = []
        submit, elastic = inp.jobs.submit, inp.jobs.elastic
        now = inp.now
        attained, base, limits = inp.attained, las.base, las.limits
        queue_until, idle_until = las._queue_until, las._idle_until
        preempted, most = las.preempted, las.p.max_preemptions
        k, ranked, rank_of, level_of = las._k, las._ranked, las._rank_of, las._level_of
        heap: list[_Key] = []
        park, parked = las._park, las._parked
        soonest = math.inf
        running = inp.running_on(pool)
        # Parked jobs are surely left out below (Las._park): only the others are looked at.
        looked = frozenset(running)
        if parked:
            looked = looked.difference(parked)
        kept = las._rankings.get(pool)
        if kept is not None and kept[0] == looked and now < kept[2]:
            # The jobs of the last ranking and no other (those it parked are still parked),
            # none of which stopped meanwhile (a requeued job drops the rankings it is in)
            # and none of whose queues may have changed: none is parked below (an
            # ineligible job was parked when found so, and is released only once it may be
            # eligible), each has the same key — the same heap.
            self._heap = kept[1].copy()
            las._until = min(las._until, kept[2])
            return
        for r in looked:
            if r not in level_of:  # started by another policy (a service's replica): not
                park(r, math.inf)  # a batch job of this queue, never a victim
                continue
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
                held = self.candidate(r) if elastic(r) else None
                known = queue_until[r] = (q, las.queue_until(inp, r, s, q, held))
            if ranked:
                q += k * rank_of[level_of[r]]  # its grade
            if q > 0:
                heap.append(((-q, -submit[r], -r), r))
                if known[1] < soonest:  # its queue may rise, its rank change
                    soonest = known[1]
            else:
                park(r, known[1])
        las._until = min(las._until, soonest)
        heapq.heapify(heap)
        self._heap = heap
        las._rankings[pool] = (frozenset(r for _, r in heap), heap.copy(), soonest)

    def above(self, i: int, q: int) -> bool:
        """Whether there are more than ``i`` eligible jobs of grades above ``q``."""
        order = self.order
        return (i < len(order) or self._more()) and order[i][0][0] > q

    def fit(self, c: Candidate, q: int) -> int:
        """The fewest eligible jobs of grades above ``q``, from the lowest priority, whose
        stopping frees devices for ``c`` (at least one; 0: all of them do not; −1: there
        are none). Devices only come back as more stop, so each shape's count is found
        once a round, stopping each job once."""
        if not self.above(0, q):
            return -1
        key = (c.devices, c.share)
        freed, m, fits = self._shapes.get(key) or (Freed(self._inp, self._pool), 0, False)
        while not fits and self.above(m, q):
            freed.stop(self.order[m][1])
            m += 1
            fits = freed.fits(c)
        self._shapes[key] = (freed, m, fits)
        return m if fits and self.above(m - 1, q) else 0

    def candidate(self, r: int) -> Candidate:
        """What running job ``r`` holds (asked once a round)."""
        c = self._cands.get(r)
        if c is None:
            c = self._cands[r] = self._inp.running.held(r)
        return c

    def _more(self) -> bool:
        """Find the next eligible job (``False``: none left)."""
        heap, las, inp = self._heap, self._las, self._inp
        while heap:
            (nq, ns, nr), r = heapq.heappop(heap)
            if las.eligible(inp, r):
                self.order.append(((-nq, -ns, -nr), r))
                return True
        return False


class _Memo:
    """A pass that started and preempted nothing, and what it depended on
    (:meth:`Las._reuse`)."""

    def __init__(
        self, state: object, look: tuple[object, ...], now: float, until: float, waiting: int
    ) -> None:
        #: The cluster state it planned on, and how it looked (:func:`.common.looks`).
        self.state, self.look = state, look
        #: When it ran, and a time before which nothing time-dependent it looked at changes.
        self.now, self.until = now, until
        #: Jobs waiting then.
        self.waiting = waiting
        #: The waiting jobs it looked at, by priority, and their queues.
        self.order: list[int] = []
        self.queues: list[int] = []
        #: Per signature and tenant: why its jobs wait, and the first job that was told.
        self.blocked: dict[tuple[int, int], str] = {}
        self.first: dict[tuple[int, int], tuple[int, float, int]] = {}
        self._top: list[tuple[int, float, int]] | None = None
        self._prio_of: dict[int, tuple[int, float, int]] = {}

    def looked_at(
        self, inp: PolicyInput
    ) -> tuple[list[tuple[int, float, int]], dict[int, tuple[int, float, int]]]:
        """The priorities ``(queue, submit, job)`` of the jobs it looked at, in order, and
        by job (made the first time they are asked for; kept up to date by the caller)."""
        if self._top is None:
            submit = inp.jobs.submit
            self._top = [(q, submit[j], j) for j, q in zip(self.order, self.queues, strict=True)]
            self._prio_of = {p[2]: p for p in self._top}
        return self._top, self._prio_of
