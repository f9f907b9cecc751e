"""The scheduling state: the one object that the simulator and the live control plane drive.

It holds what a policy sees and what carrying out a decision changes:

* every job's :class:`JobStatus`::

      PENDING ─arrive─▶ WAITING ─start─▶ RUNNING (data transfer, restart, computing) ─▶ DONE
                         ▲ │  ▲              │
                 wake    │ │  └──────────────┘ preempted (policy, node failure) or requeued
                         │ ▼ defer
                        DEFERRED              any unfinished ─end─▶ ENDED (cancelled, failed)

  a job no pool can ever run is UNSCHEDULABLE when it arrives;
* the fleet's allocations (:class:`~suanli.core.capacity.ClusterState`), data replicas
  and transfers, and the gauges of :class:`~suanli.core.accounting.Accounting`;
* the waiting queue (by arrival, and by signature), running jobs by pool and by expected
  end; per job its work done, attained service, preemptions, first start and finish, the
  stretches it ran (its history), why it waits or why it last started
  (:meth:`SchedulingState.reason`, :meth:`SchedulingState.start_reason`).

Work is conserved: a job computing at rate *r* since ``c₀`` and preempted at *t* keeps
``⌊(t − c₀)/Δ⌋·Δ·r`` PFLOP of progress (Δ its checkpoint interval) and loses the rest;
when it starts again it first pays its restart cost. A job *migrated* (moved by a policy
to another pool while running) or *resized* (an elastic job given another device count,
on its pool or another) keeps and loses the same, and starts at once on its new place
after its checkpoint's copy there and its restart (:mod:`suanli.core.migration`).
A data set copied to a site stays there (a replica) for later jobs; a copy in flight is
shared.

The state reads no clock: every change takes ``now``. What must happen later — a job's
data and restart are done (``COMPUTE_START``), the model says its work is done
(``FINISH``), a deferred job's time has come (``WAKE``), an idle node may be suspended
(``SLEEP``) — is pushed on the :class:`~suanli.core.events.EventQueue` it is given and
handed back to :meth:`SchedulingState.timer` when due: the simulator pops the queue in
virtual time, the live control plane on the wall clock (where a job's real end comes from
its site, not from ``FINISH``). Decisions go through :meth:`snapshot` and :meth:`apply`;
a decision that cannot be carried out raises :class:`PolicyError`, in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from sortedcontainers import SortedList

from suanli.core.accounting import Accounting
from suanli.core.capacity import Allocation, Capacity, ClusterState
from suanli.core.events import EventKind, EventQueue
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.levels import Level, effective, tenant_priorities
from suanli.core.migration import checkpoint_copy, progress
from suanli.core.policy import (
    Defer,
    Migrate,
    PolicyInput,
    PolicyOutput,
    Preempt,
    Resize,
    Start,
    WaitingView,
)
from suanli.core.reasons import start_reason
from suanli.core.sharing import DEFAULT_PLACEMENT
from suanli.core.tables import FleetTables
from suanli.core.views import Attained, RunningView
from suanli.errors import SuanliError
from suanli.model.job import Job


class JobStatus(IntEnum):
    """Where a job is in the scheduling state (see the module docstring)."""

    PENDING = 0
    WAITING = 1
    RUNNING = 2
    DONE = 3
    UNSCHEDULABLE = 4
    DEFERRED = 5
    ENDED = 6


PENDING, WAITING, RUNNING, DONE, UNSCHEDULABLE, DEFERRED, ENDED = JobStatus
NO_POOL = "no pool can ever run it (accepted types/stacks, memory fit, data residency)"


class PolicyError(SuanliError):
    """A policy decided something that cannot be carried out (a bug in the policy)."""


@dataclass(slots=True)
class RunState:
    """A job holding devices. ``alloc`` is None when the live mirror has no room for it
    (its site is masked, or it was recovered onto a pool that shrank)."""

    alloc: Allocation | None
    cand: Candidate
    started_s: float
    compute_start_s: float
    epoch: int
    expected_end_s: float
    computing: bool = False


@dataclass(slots=True)
class Stretch:
    """One stretch of a job on a pool (a job preempted twice has three)."""

    job: int
    pool: int
    devices: float  # held; a fraction of one device for a share
    start_s: float
    compute_start_s: float
    end_s: float = math.nan
    end: str = ""
    transfer_s: float = 0.0
    used: int = 0  # devices computing (an elastic shape may hold more, node-shaped)


@dataclass(slots=True)
class Transfers:
    """Data moved between sites."""

    tb: float = 0.0
    cost: float = 0.0
    count: int = 0
    #: Checkpoints of migrated jobs copied between sites (their egress is in ``cost``).
    checkpoint_tb: float = 0.0
    checkpoint_count: int = 0
    by_pair: dict[tuple[int, int], float] = field(default_factory=dict)


class SchedulingState:
    """Jobs, the fleet's allocations and their history (see the module docstring).

    ``requests`` is each pool's target workload for the placement rule and the
    fragmentation measure (:func:`~suanli.core.sharing.pool_requests`); ``record`` keeps
    every carried-out start and preemption in :attr:`applied` (the live control plane
    turns them into dispatches and cancellations).
    """

    def __init__(
        self,
        tables: FleetTables,
        jobs: JobTable,
        events: EventQueue,
        acct: Accounting,
        *,
        placement: str = DEFAULT_PLACEMENT,
        requests: Sequence[Mapping[int, int]] | None = None,
        record: bool = False,
    ) -> None:
        self.tables = tables
        self.jobs = jobs
        self.events = events
        self.acct = acct
        self.placement = placement
        self.requests = requests
        self.cluster = ClusterState(tables, placement, requests)
        n = len(jobs)
        self.status = [PENDING] * n
        self.epoch = [0] * n
        self.work_done = [0.0] * n
        self.first_start = [math.nan] * n
        self.finish = [math.nan] * n
        self.preemptions = [0] * n
        self.migrations = [0] * n
        self.resizes = [0] * n
        #: Per job, seconds its resizes cost it: the work lost since the last checkpoint
        #: (at the old rate) and the wait for its checkpoint's copy and restart.
        self.resize_lost_s = [0.0] * n
        self.attained = [0.0] * n
        self.lost_pflop = [0.0] * n
        #: Per job, the policy's reason for its latest start ("" until it starts).
        self.start_why = [""] * n
        self.waiting: SortedList = SortedList()
        self.waiting_by_sig: dict[int, SortedList] = {}
        #: The waiting jobs by effective priority (:mod:`suanli.core.levels`), each list as
        #: ``waiting``; ``None`` while every job that has waited had one level,
        #: ``_level0`` (then ``waiting`` is its list: nothing kept twice).
        self.waiting_by_level: dict[Level, SortedList] | None = None
        self._level0: Level | None = None
        self._tenant_prio = tenant_priorities(tables)
        self.running: dict[int, RunState] = {}
        self.running_by_pool: list[set[int]] = [set() for _ in range(tables.n_pools)]
        self.ends_by_pool: list[SortedList] = [SortedList() for _ in range(tables.n_pools)]
        self.node_jobs: list[dict[int, set[int]]] = [{} for _ in range(tables.n_pools)]
        #: Per pool, nodes woken from sleep and when they are up (power saving).
        self.booting: list[dict[int, float]] = [{} for _ in range(tables.n_pools)]
        #: Sites whose pools take no new work (live: not reachable); their jobs keep
        #: their places outside the mirror and cannot be preempted.
        self.site_up = [True] * len(tables.site_ids)
        #: Sites whose backend can stop a running job (live: its declared features).
        self.site_can_preempt = [True] * len(tables.site_ids)
        #: Sites whose backend can restart a running job on another shape at once (live:
        #: its declared features; needs preemption too).
        self.site_can_resize = [True] * len(tables.site_ids)
        #: Per site, seconds from a start decision to the job running there (its
        #: submission and the workload manager's own scheduling; a simulation may model it,
        #: :mod:`suanli.experiment.fidelity` measures it).
        self.site_dispatch_s = [0.0] * len(tables.site_ids)
        self.stretches: list[Stretch] = []
        self._open: dict[int, Stretch] = {}
        self.replicas: set[tuple[int, int]] = set()
        self.inflight: dict[tuple[int, int], float] = {}
        self.transfers = Transfers()
        # what changed since the last snapshot (see PolicyInput)
        self.arrived: list[int] = []
        self.requeued: set[int] = set()
        self.freed = 0
        self.full = True
        #: A round is due (and a full one): set by changes, cleared by the control loop.
        self.round_due = True
        self.full_due = True
        self.last_reasons: dict[int, str] = {}
        self.sig_reasons: dict[int, str] = {}
        self.default_reason = ""
        self.record = record
        #: Carried-out starts and preemptions; a migration is recorded as both (the live
        #: control plane requeues the job and dispatches it to its new place).
        self.applied: list[Start | Preempt] = []
        self.done_count = 0
        self.unschedulable_count = 0
        self._site_pools = [0] * len(tables.site_ids)
        for p, site in enumerate(tables.pool_site):
            self._site_pools[site] |= 1 << p
        self._quota_pool_mask = [
            sum(1 << q for q, inside in enumerate(mask) if inside)
            for mask in self.cluster.quota_mask
        ]
        self._capacity: Capacity | None = None
        self._replicas_view: frozenset[tuple[int, int]] | None = None
        self._waiting_view = WaitingView(self.waiting)
        self._running_view = RunningView(self)
        self._remaining = lambda j: self.jobs.work[j] - self.work_done[j]
        self._resumed = lambda j: self.preemptions[j] > 0
        self._waiting_of = lambda sig: WaitingView(self.waiting_by_sig[sig])

    # -- jobs -------------------------------------------------------------------------------
    def add(self, job: Job) -> int:
        """Append a job that has not arrived yet (the live control plane grows the table)."""
        j = self.jobs.add(job)
        self.status.append(PENDING)
        self.epoch.append(0)
        self.work_done.append(0.0)
        self.first_start.append(math.nan)
        self.finish.append(math.nan)
        self.preemptions.append(0)
        self.migrations.append(0)
        self.resizes.append(0)
        self.resize_lost_s.append(0.0)
        self.attained.append(0.0)
        self.lost_pflop.append(0.0)
        self.start_why.append("")
        return j

    def place(self, job: Job, pool: int, now: float, ready_s: float, why: str) -> int:
        """Add ``job`` and start it at once on ``pool`` without queueing (a service
        replica): it holds its devices from ``now`` and computes from ``now + ready_s``
        (its cold start). Raises :class:`PolicyError` when it does not fit there."""
        j = self.add(job)
        cand = next((c for c in self.jobs.candidates(j) if c.pool == pool), None)
        where = self.tables.pool_label(pool)
        if cand is None:
            raise PolicyError(f"job {job.id} cannot run on {where}")
        if not self.site_up[self.tables.pool_site[pool]]:
            raise PolicyError(f"job {job.id} placed on {where}, whose site is down")
        why_not = Capacity(self.cluster).why_not(self.jobs.tenant[j], cand)
        if why_not is not None:
            raise PolicyError(f"job {job.id} placed on {where} without room ({why_not})")
        self.acct.integrate(now)  # before the state changes
        alloc = self._allocate(j, cand, now)
        self.first_start[j] = now
        rs = self._hold(j, cand, alloc, now, now + ready_s, 0.0)
        if ready_s <= 0.0:
            self._begin_computing(j, rs, now)
        else:
            self.events.push(now + ready_s, EventKind.COMPUTE_START, j, rs.epoch)
        self.start_why[j] = why
        if self.record:
            self.applied.append(Start(j, cand, why))
        return j

    def arrive(self, j: int) -> bool:
        """Job *j* is submitted; a job no pool can ever run is set aside with a reason
        (returns False)."""
        self.round_due = True
        if not self.jobs.candidates(j):
            self.status[j] = UNSCHEDULABLE
            self.unschedulable_count += 1
            self.last_reasons[j] = NO_POOL
            return False
        self._enqueue(j)
        return True

    def request_round(self, full: bool = False) -> None:
        """Ask for a scheduling round (``full``: every job worth a look, e.g. prices changed)."""
        self.round_due = True
        self.full_due |= full

    def timer(self, kind: int, a: int, b: int, now: float) -> None:
        """A timer this state set is due (``now`` is its time)."""
        if kind == EventKind.COMPUTE_START:
            self.compute_start(a, b, now)
        elif kind == EventKind.FINISH:
            self.finish_event(a, b, now)
        elif kind == EventKind.WAKE:
            self.wake(a)
        elif kind == EventKind.SLEEP:
            self.sleep_node(a, b, now)

    def compute_start(self, j: int, epoch: int, now: float) -> None:
        """Data and restart done: job *j* starts computing (stale epochs are ignored)."""
        rs = self.running.get(j)
        if rs is None or rs.epoch != epoch or rs.computing:
            return
        d = self.jobs.dataset[j]
        if d >= 0:
            self.replicas.add((d, self.tables.pool_site[rs.cand.pool]))
            self._replicas_view = None
        self._begin_computing(j, rs, now)

    def finish_event(self, j: int, epoch: int, now: float) -> None:
        """The model's end of job *j*'s work (stale events are ignored)."""
        rs = self.running.get(j)
        if rs is not None and rs.epoch == epoch and rs.computing:
            self.complete(j, now)

    def complete(self, j: int, now: float) -> None:
        """Running job *j* is done (its work all done)."""
        rs = self.running[j]
        self.work_done[j] = self.jobs.work[j]
        if rs.computing:
            self.attained[j] += max(0.0, now - rs.compute_start_s) * rs.cand.amount
        self._stop(j, rs, now, "finished")
        self.status[j] = DONE
        self.finish[j] = now
        self.done_count += 1
        self.round_due = True

    def preempt(self, j: int, now: float, why: str) -> None:
        """Stop running job *j*, keep its checkpointed progress, requeue it."""
        rs = self.running[j]
        self._checkpoint(j, rs, now)
        self._stop(j, rs, now, why)
        self.preemptions[j] += 1
        self.epoch[j] += 1
        self._enqueue(j)
        self.requeued.add(j)

    def migrate(self, j: int, cand: Candidate, now: float, why: str) -> None:
        """Move running job *j* to ``cand`` now (:mod:`suanli.core.migration`): it keeps
        its last checkpoint, which is copied to the new site, and starts there at once."""
        self._relaunch(j, cand, now, f"migrated: {why}", self.migrations)

    def resize(self, j: int, cand: Candidate, now: float, why: str) -> None:
        """Run elastic job *j* on ``cand`` (another device count, on its pool or another)
        now: it keeps its last checkpoint (copied if the site changes) and starts again at
        once; what that costs it is added to :attr:`resize_lost_s`."""
        rs = self.running[j]
        w, kept = (
            progress(self.jobs, j, rs.cand.rate, rs.compute_start_s, self.work_done[j], now)
            if rs.computing
            else (self.work_done[j], self.work_done[j])
        )
        waited = max(0.0, rs.compute_start_s - now) if not rs.computing else 0.0
        self._relaunch(j, cand, now, f"resized: {why}", self.resizes)
        ready = self.running[j].compute_start_s - now
        self.resize_lost_s[j] += (w - kept) / rs.cand.rate + max(0.0, ready - waited)

    def _relaunch(self, j: int, cand: Candidate, now: float, why: str, count: list[int]) -> None:
        """Stop running job *j* (keeping its last checkpoint) and start it on ``cand`` at
        once, its checkpoint copied if the site changes; ``count`` counts it per job."""
        rs = self.running[j]
        t = self.tables
        src, dst = t.pool_site[rs.cand.pool], t.pool_site[cand.pool]
        copy = checkpoint_copy(t, self.jobs, j, src, dst)
        if copy is None:
            raise PolicyError(
                f"job {self.jobs.ids[j]} cannot move from {t.site_ids[src]} to "
                f"{t.site_ids[dst]}: no link for its checkpoint"
            )
        self._checkpoint(j, rs, now)
        self._stop(j, rs, now, why)
        count[j] += 1
        self.epoch[j] += 1
        if copy[0] > 0.0:
            tr = self.transfers
            gb = float(t.profile_checkpoint_gb[self.jobs.profile[j]])
            tr.checkpoint_tb += gb / 1000.0
            tr.checkpoint_count += 1
            tr.cost += copy[1]
        self._launch(j, cand, now, copy[0])

    def requeue(self, j: int, now: float, why: str) -> None:
        """Running job *j* never ran after all (its dispatch was lost): back to the queue,
        with no progress and no restart cost. One that had run before (moved or resized,
        and the new dispatch lost) waits with the work it had done: it is requeued
        (``requeued``), as a preempted job is."""
        rs = self.running[j]
        self._stop(j, rs, now, why)
        self.epoch[j] += 1
        self._enqueue(j)
        if self.work_done[j] > 0.0 or self.preemptions[j] > 0:
            self.requeued.add(j)
        self.round_due = True

    def end(self, j: int, now: float, why: str) -> None:
        """Job *j* ends unfinished (cancelled, failed): out of the queue, or its devices freed."""
        st = self.status[j]
        if st == RUNNING:
            rs = self.running[j]
            if rs.computing:
                self.attained[j] += max(0.0, now - rs.compute_start_s) * rs.cand.amount
            self._stop(j, rs, now, why)
            self.round_due = True
        elif st == WAITING:
            self._dequeue(j)
        self.last_reasons.pop(j, None)
        self.requeued.discard(j)
        self.status[j] = ENDED

    def wake(self, j: int) -> None:
        """A deferred job's time has come: back into the queue."""
        self.round_due = True
        if self.status[j] == DEFERRED:
            self._enqueue(j)

    def restore(self, j: int, cand: Candidate, started_s: float, now: float) -> None:
        """Job *j* was running before a restart of the live control plane: hold its place
        again (outside the mirror when there is no room), computing since ``started_s``."""
        self.acct.integrate(now)  # before the state changes
        site = self.tables.pool_site[cand.pool]
        alloc = None
        if self.site_up[site] and self.cluster.fits(cand):
            alloc = self._allocate(j, cand, now)
        if math.isnan(self.first_start[j]):
            self.first_start[j] = started_s
        self._hold(j, cand, alloc, started_s, started_s, 0.0)
        self._begin_computing(j, self.running[j], started_s)

    def site_of(self, j: int) -> int:
        """Site where running job *j* is (-1 if it is not running)."""
        rs = self.running.get(j)
        return -1 if rs is None else self.tables.pool_site[rs.cand.pool]

    def preemptible(self, j: int) -> bool:
        """Whether running job *j* may be preempted (and its site can stop it now)."""
        site = self.site_of(j)
        return bool(self.jobs.preemptible[j]) and self.site_up[site] and self.site_can_preempt[site]

    def resizable(self, j: int) -> bool:
        """Whether running job *j* may be resized now: elastic, preemptible, and its
        site's backend can restart it on another shape."""
        return (
            self.jobs.elastic(j) and self.preemptible(j) and self.site_can_resize[self.site_of(j)]
        )

    # -- the policy interface ---------------------------------------------------------------
    def snapshot(self, now: float, full: bool = False) -> PolicyInput:
        """What a policy sees now; resets the record of what changed since the last one."""
        arrived, freed, full = self.arrived, self.freed, full or self.full
        self.arrived, self.freed, self.full = [], 0, False
        if self._replicas_view is None:
            self._replicas_view = frozenset(self.replicas | set(self.inflight))
        self._capacity = cap = Capacity(self.cluster)
        return PolicyInput(
            now=now,
            tables=self.tables,
            jobs=self.jobs,
            waiting=self._waiting_view,
            waiting_sigs=self.waiting_by_sig.keys(),
            waiting_of=self._waiting_of,
            waiting_levels=self.waiting_levels,
            running=self._running_view,
            running_on=self.running_by_pool.__getitem__,
            ending_on=self.ends_by_pool.__getitem__,
            nodes_of=self._nodes_of,
            share_of=self._share_of,
            arrived=arrived,
            freed=freed,
            full=full,
            requeued=self.requeued,
            capacity=cap,
            replicas=self._replicas_view,
            attained=Attained(self, now),
            remaining=self._remaining,
            resumed=self._resumed,
            tenant_milli=self.cluster.tenant_milli,
        )

    def apply(self, out: PolicyOutput, now: float) -> None:
        """Carry out a round's decisions, in order: preemptions, migrations, deferrals,
        starts, resizes.

        Raises :class:`PolicyError` at the first that cannot be carried out (those before
        it stay done, and are in :attr:`applied` when recording).
        """
        cap, self._capacity = self._capacity, None
        if cap is not None:  # where the policy found power or a quota to be the limit
            if cap.power_blocked:
                self.cluster.power_blocked |= cap.power_blocked
            if cap.quota_blocked:
                self.cluster.quota_blocked |= cap.quota_blocked
        ids = self.jobs.ids
        for pre in out.preempts:
            if pre.job not in self.running:
                raise PolicyError(f"policy preempted job {ids[pre.job]}, which is not running")
            if not self.preemptible(pre.job):
                raise PolicyError(f"policy preempted job {ids[pre.job]}, which is not preemptible")
            self.preempt(pre.job, now, pre.reason)
            if self.record:
                self.applied.append(pre)
        for mv in out.migrates:
            self._apply_migrate(mv, now)
        for d in out.defers:
            self._defer(d, now)
        check = Capacity(self.cluster)
        for st in out.starts:
            j, cand = st.job, st.candidate
            if self.status[j] != WAITING:
                raise PolicyError(f"policy started job {ids[j]}, which is not waiting")
            if not (self.jobs.sig_pools[self.jobs.signature(j)] >> cand.pool) & 1:
                raise PolicyError(f"policy started job {ids[j]} on a pool it cannot run on")
            why = check.why_not(self.jobs.tenant[j], cand)
            if why is not None:
                raise PolicyError(
                    f"policy started job {ids[j]} on {self.tables.pool_label(cand.pool)} "
                    f"without room ({why})"
                )
            self._start(j, cand, now)
            self.start_why[j] = st.reason
            if self.record:
                self.applied.append(st)
        for rz in out.resizes:
            self._apply_resize(rz, now)
        if out.reasons:
            self.last_reasons.update(out.reasons)
        if out.sig_reasons:
            self.sig_reasons.update(out.sig_reasons)
        self.default_reason = out.default_reason

    def reason(self, j: int) -> str:
        """Why job *j* is waiting, as the policy last said."""
        r = self.last_reasons.get(j)
        if r is None:
            r = self.sig_reasons.get(self.jobs.signature(j), self.default_reason)
        return r

    def start_reason(self, j: int) -> str:
        """Why running job *j* started where it runs, in words (site/accelerator, devices
        and the policy's reason: :func:`~suanli.core.reasons.start_reason`)."""
        cand = self.running[j].cand
        return start_reason(self.tables, cand.pool, cand.amount, self.start_why[j])

    # -- sites and nodes --------------------------------------------------------------------
    def set_site_up(self, site: int, up: bool, now: float = 0.0) -> bool:
        """Mask (``up=False``) or unmask a site: a masked site's pools take no new work,
        its jobs keep their places outside the mirror. Returns whether anything changed."""
        ups = list(self.site_up)
        ups[site] = up
        return self.set_sites_up(ups, now)

    def set_sites_up(self, ups: Sequence[bool], now: float = 0.0) -> bool:
        """:meth:`set_site_up` for every site at once (one rebuild of the mirror)."""
        if list(ups) == self.site_up:
            return False
        self.site_up = list(ups)
        self._rebuild_cluster(now)
        return True

    def fail_nodes(self, pool: int, count: int | None, now: float) -> list[int]:
        """Take ``count`` nodes (all when None) of a pool down; preempt their jobs."""
        self.acct.integrate(now)  # before the state changes
        pn = self.cluster.pools[pool]
        candidates = (
            [n for n in range(len(pn.up)) if pn.up[n]]
            if count is None
            else (pn.pick_to_fail(count))
        )
        victims = sorted({j for n in candidates for j in self.node_jobs[pool].get(n, ())})
        for j in victims:
            if math.isinf(self.jobs.work[j]):  # a service replica is lost, not requeued
                self.end(j, now, "node failure")
            else:
                self.preempt(j, now, "node failure")
        sleeping = sum(1 for n in candidates if pn.asleep[n])
        pn.fail(candidates)
        acct, t = self.acct, self.tables
        acct.fragmented[pool] = self.cluster.fragmented(pool)
        acct.up[pool] -= len(candidates) * pn.per_node
        acct.asleep[pool] -= sleeping * pn.per_node
        acct.power_w[pool] -= pn.per_node * (
            (len(candidates) - sleeping) * float(t.pool_idle_w[pool])
            + sleeping * t.pool_sleep_w[pool]
        )
        self.round_due = True
        return candidates

    def recover_nodes(self, pool: int, nodes: list[int], now: float) -> None:
        """Bring failed nodes back (empty and awake)."""
        self.acct.integrate(now)  # before the state changes
        pn = self.cluster.pools[pool]
        back = [n for n in nodes if not pn.up[n]]
        pn.recover(back, now)
        for node in back:
            self.booting[pool].pop(node, None)
        acct = self.acct
        acct.fragmented[pool] = self.cluster.fragmented(pool)
        self.freed |= 1 << pool
        acct.up[pool] += len(back) * pn.per_node
        acct.power_w[pool] += len(back) * pn.per_node * float(self.tables.pool_idle_w[pool])
        self.schedule_sleep(pool, back, now)
        self.round_due = True

    def idle_since(self, now: float) -> None:
        """Every wholly free node counts as idle since ``now``: with power saving, it is
        suspended if it stays so."""
        for p, pn in enumerate(self.cluster.pools):
            free = [n for n in range(len(pn.free)) if pn.up[n] and pn.free[n] == pn.per_node]
            for n in free:
                pn.free_since[n] = now
            self.schedule_sleep(p, free, now)

    def schedule_sleep(self, pool: int, nodes: list[int], now: float) -> None:
        """Nodes just became wholly free: suspend them if they stay so (power saving)."""
        after = self.tables.pool_sleep_after_s[pool]
        if after == math.inf:
            return
        for node in nodes:
            self.events.push(now + after, EventKind.SLEEP, pool, node)

    def sleep_node(self, pool: int, node: int, now: float) -> None:
        """Suspend a node if it has been wholly free since the timer was set."""
        self.acct.integrate(now)  # before the state changes
        pn = self.cluster.pools[pool]
        if (
            not pn.up[node]
            or pn.asleep[node]
            or pn.free[node] != pn.per_node
            or pn.free_since[node] + self.tables.pool_sleep_after_s[pool] != now
        ):
            return
        pn.asleep[node] = True
        self.booting[pool].pop(node, None)
        t = self.tables
        self.acct.power_w[pool] -= pn.per_node * (float(t.pool_idle_w[pool]) - t.pool_sleep_w[pool])
        self.acct.asleep[pool] += pn.per_node

    # -- internals --------------------------------------------------------------------------
    def _enqueue(self, j: int) -> None:
        self.status[j] = WAITING
        key = (self.jobs.submit[j], j)
        self.waiting.add(key)
        sig = self.jobs.signature(j)
        lst = self.waiting_by_sig.get(sig)
        if lst is None:
            lst = self.waiting_by_sig[sig] = SortedList()
        lst.add(key)
        level = effective(self.jobs, j, self._tenant_prio)
        by_level = self.waiting_by_level
        if by_level is None:
            if self._level0 is None:
                self._level0 = level
            if level != self._level0:  # a second level: keep the lists apart from now on
                first = SortedList(k for k in self.waiting if k != key)
                by_level = self.waiting_by_level = {self._level0: first}
        if by_level is not None:
            lst = by_level.get(level)
            if lst is None:
                lst = by_level[level] = SortedList()
            lst.add(key)
        self.arrived.append(j)

    def _dequeue(self, j: int) -> None:
        key = (self.jobs.submit[j], j)
        self.waiting.remove(key)
        sig = self.jobs.signature(j)
        lst = self.waiting_by_sig[sig]
        lst.remove(key)
        if not lst:
            del self.waiting_by_sig[sig]
        if self.waiting_by_level is not None:
            level = effective(self.jobs, j, self._tenant_prio)
            lst = self.waiting_by_level[level]
            lst.remove(key)
            if not lst:
                del self.waiting_by_level[level]

    def waiting_levels(self) -> list[tuple[Level, Sequence[int]]]:
        """The waiting jobs by effective priority, highest first, each in arrival order
        (:attr:`~suanli.core.policy.PolicyInput.waiting_levels`)."""
        if self.waiting_by_level is None:
            return [(self._level0, self._waiting_view)] if self._level0 is not None else []
        levels = sorted(self.waiting_by_level.items(), reverse=True)
        return [(lv, WaitingView(sl)) for lv, sl in levels]

    def _defer(self, d: Defer, now: float) -> None:
        if self.status[d.job] != WAITING:
            raise PolicyError(f"policy deferred job {self.jobs.ids[d.job]}, which is not waiting")
        if d.until_s <= now:
            raise PolicyError(f"policy deferred job {self.jobs.ids[d.job]} into the past")
        self._dequeue(d.job)
        self.status[d.job] = DEFERRED
        self.last_reasons[d.job] = d.reason
        self.events.push(d.until_s, EventKind.WAKE, d.job)

    def _apply_migrate(self, mv: Migrate, now: float) -> None:
        j, cand, ids = mv.job, mv.candidate, self.jobs.ids
        rs = self.running.get(j)
        if rs is None:
            raise PolicyError(f"policy migrated job {ids[j]}, which is not running")
        if not self.preemptible(j):
            raise PolicyError(f"policy migrated job {ids[j]}, which is not preemptible")
        if cand.pool == rs.cand.pool:
            raise PolicyError(f"policy migrated job {ids[j]} to the pool it runs on")
        if not (self.jobs.sig_pools[self.jobs.signature(j)] >> cand.pool) & 1:
            raise PolicyError(f"policy migrated job {ids[j]} to a pool it cannot run on")
        if not self.site_up[self.tables.pool_site[cand.pool]]:
            raise PolicyError(f"policy migrated job {ids[j]} to a site that is down")
        self._check_room(Capacity(self.cluster), j, cand, "migrated")
        self.migrate(j, cand, now, mv.reason)
        self._relaunched(j, cand, mv.reason, "migrated")

    def _apply_resize(self, rz: Resize, now: float) -> None:
        j, cand, ids, t = rz.job, rz.candidate, self.jobs.ids, self.tables
        rs = self.running.get(j)
        if rs is None:
            raise PolicyError(f"policy resized job {ids[j]}, which is not running")
        if not self.resizable(j):
            raise PolicyError(f"policy resized job {ids[j]}, which cannot be resized now")
        base = self.jobs.base_candidate(j, cand.pool)
        if base is None:
            raise PolicyError(f"policy resized job {ids[j]} to a pool it cannot run on")
        if cand != base and cand != self.jobs.resized(j, base, cand.used):
            raise PolicyError(
                f"policy resized job {ids[j]} to {cand.used} devices of "
                f"{t.pool_label(cand.pool)}, not a shape it can take there "
                f"(gang_min {self.jobs.gang_min[j]} to gang_max {self.jobs.gang_max[j]}: "
                "JobTable.resized)"
            )
        if cand == rs.cand:
            raise PolicyError(f"policy resized job {ids[j]} to the shape it runs on")
        site = t.pool_site[cand.pool]
        if not (self.site_up[site] and self.site_can_resize[site]):
            raise PolicyError(f"policy resized job {ids[j]} to a site that cannot take it")
        cap = Capacity(self.cluster)
        if cand.pool == rs.cand.pool and rs.alloc is not None:  # its own devices count
            a = rs.alloc
            cap.release_held(a.tenant, a.pool, a.nodes, a.busy_w, a.milli)
        self._check_room(cap, j, cand, "resized")
        self.resize(j, cand, now, rz.reason)
        self._relaunched(j, cand, rz.reason, "resized")

    def _check_room(self, cap: Capacity, j: int, cand: Candidate, verb: str) -> None:
        """A :class:`PolicyError` unless *cand* fits in ``cap`` for job *j* (moved or
        resized: ``verb``)."""
        why = cap.why_not(self.jobs.tenant[j], cand)
        if why is not None:
            raise PolicyError(
                f"policy {verb} job {self.jobs.ids[j]} to {cand.used} devices of "
                f"{self.tables.pool_label(cand.pool)} without room ({why})"
            )

    def _relaunched(self, j: int, cand: Candidate, reason: str, verb: str) -> None:
        """Job *j* was stopped and started again on *cand* (moved or resized: ``verb``):
        its start reason, and the stop and start the live loop carries out."""
        self.start_why[j] = reason
        if self.record:
            self.applied.append(Preempt(j, f"{verb}: {reason}"))
            self.applied.append(Start(j, cand, reason))

    def _checkpoint(self, j: int, rs: RunState, now: float) -> None:
        """Running job *j* stops: keep the progress of its last checkpoint."""
        if not rs.computing:
            return
        w, kept = progress(self.jobs, j, rs.cand.rate, rs.compute_start_s, self.work_done[j], now)
        self.lost_pflop[j] += w - kept
        self.work_done[j] = kept
        self.attained[j] += (now - rs.compute_start_s) * rs.cand.amount

    def _allocate(self, j: int, cand: Candidate, now: float) -> Allocation:
        """Take ``cand``'s devices in the cluster and count what it woke (power saving)."""
        alloc = self.cluster.allocate(j, self.jobs.tenant[j], cand)
        p = cand.pool
        pn = self.cluster.pools[p]
        if pn.woken:
            t = self.tables
            n_woken = len(pn.woken) * pn.per_node
            self.acct.power_w[p] += n_woken * (float(t.pool_idle_w[p]) - t.pool_sleep_w[p])
            self.acct.asleep[p] -= n_woken
            for node in pn.woken:
                self.booting[p][node] = now + t.pool_resume_s[p]
        on = self.node_jobs[p]
        for node in (alloc.host,) if alloc.share else (n for n, _ in alloc.nodes):
            on.setdefault(node, set()).add(j)
        self.acct.fragmented[p] = self.cluster.fragmented(p)
        if cand.share:
            self.acct.shared[p] = len(self.cluster.shared[p])
        return alloc

    def _start(self, j: int, cand: Candidate, now: float) -> None:
        self.acct.integrate(now)  # before the state changes
        self._dequeue(j)
        self.requeued.discard(j)
        self.last_reasons.pop(j, None)
        self._launch(j, cand, now, 0.0)

    def _launch(self, j: int, cand: Candidate, now: float, checkpoint_s: float) -> None:
        """Allocate ``cand`` to job *j* and start it: computing once its data (and a moved
        checkpoint, ``checkpoint_s``) are there and its restart is done."""
        self.acct.integrate(now)  # before the state changes
        alloc = self._allocate(j, cand, now)
        boot = 0.0
        booting = self.booting[cand.pool]
        if booting:  # a node woken for this or an earlier job may still be booting
            for node in (alloc.host,) if alloc.share else (n for n, _ in alloc.nodes):
                boot = max(boot, booting.get(node, now) - now)
        if math.isnan(self.first_start[j]):
            self.first_start[j] = now
        ready = now
        d = self.jobs.dataset[j]
        transfer = 0.0
        if d >= 0:
            site = self.tables.pool_site[cand.pool]
            key = (d, site)
            if key in self.inflight and self.inflight[key] > now:
                ready = self.inflight[key]
            elif key not in self.replicas and cand.transfer_s > 0.0:
                ready = now + cand.transfer_s
                transfer = cand.transfer_s
                self.inflight[key] = ready
                self._replicas_view = None
                home = self.tables.dataset_home[d]
                size = self.tables.dataset_size_tb[d]
                tr = self.transfers
                tr.tb += size
                tr.cost += cand.egress
                tr.count += 1
                tr.by_pair[(home, site)] = tr.by_pair.get((home, site), 0.0) + size
        ready = max(ready, now + checkpoint_s)
        restarted = self.preemptions[j] or self.migrations[j] or self.resizes[j]
        restart = self.jobs.restart_s[j] if restarted else 0.0
        dispatch = self.site_dispatch_s[self.tables.pool_site[cand.pool]]
        compute_start = max(ready, now + boot) + restart + dispatch
        rs = self._hold(j, cand, alloc, now, compute_start, transfer)
        if compute_start <= now:
            self._begin_computing(j, rs, now)
        else:
            self.events.push(compute_start, EventKind.COMPUTE_START, j, rs.epoch)

    def _hold(
        self,
        j: int,
        cand: Candidate,
        alloc: Allocation | None,
        now: float,
        compute_start: float,
        transfer: float,
    ) -> RunState:
        """Record job *j* as running on ``cand`` (its devices already allocated)."""
        end = compute_start + (self.jobs.work[j] - self.work_done[j]) / cand.rate
        rs = RunState(alloc, cand, now, compute_start, self.epoch[j], end)
        self.status[j] = RUNNING
        self.running[j] = rs
        self.running_by_pool[cand.pool].add(j)
        self.ends_by_pool[cand.pool].add((end, j))
        self.acct.allocated[cand.pool] += cand.amount
        st = Stretch(
            j, cand.pool, cand.amount, now, compute_start, transfer_s=transfer, used=cand.used
        )
        self.stretches.append(st)
        self._open[j] = st
        return rs

    def _begin_computing(self, j: int, rs: RunState, now: float) -> None:
        self.acct.integrate(now)  # before the state changes
        rs.computing = True
        rs.compute_start_s = now
        p = rs.cand.pool
        self.acct.busy[p] += rs.cand.busy
        self.acct.power_w[p] += rs.cand.busy_w
        remaining = self.jobs.work[j] - self.work_done[j]
        if math.isfinite(remaining):  # a service replica runs until it is drained
            self.events.push(now + remaining / rs.cand.rate, EventKind.FINISH, j, rs.epoch)

    def _stop(self, j: int, rs: RunState, now: float, why: str) -> None:
        self.acct.integrate(now)  # before the state changes
        p = rs.cand.pool
        acct = self.acct
        if rs.computing:
            acct.busy[p] -= rs.cand.busy
            acct.power_w[p] -= rs.cand.busy_w
        acct.allocated[p] -= rs.cand.amount
        cl = self.cluster
        a = rs.alloc
        if a is not None:
            on = self.node_jobs[p]
            for node in (a.host,) if a.share else (n for n, _ in a.nodes):
                holders = on.get(node)
                if holders is not None:
                    holders.discard(j)
            self.schedule_sleep(p, cl.release(a, now), now)
            acct.fragmented[p] = cl.fragmented(p)
            if rs.cand.share:
                acct.shared[p] = len(cl.shared[p])
            for qi in cl.tenant_quotas[a.tenant]:
                if qi in cl.quota_blocked and cl.quota_mask[qi][p]:
                    cl.quota_blocked.discard(qi)
                    self.freed |= self._quota_pool_mask[qi]
        self.freed |= 1 << p
        site = self.tables.pool_site[p]
        if site in cl.power_blocked:  # power freed where it was the limit
            cl.power_blocked.discard(site)
            self.freed |= self._site_pools[site]
        self.running_by_pool[p].discard(j)
        self.ends_by_pool[p].discard((rs.expected_end_s, j))
        del self.running[j]
        st = self._open.pop(j)
        st.end_s = now
        st.end = why

    def _rebuild_cluster(self, now: float) -> None:
        """Recompute the allocations from the running jobs and the masked sites (the nodes
        left wholly free count as idle since ``now``)."""
        t = self.tables
        self.cluster = cl = ClusterState(t, self.placement, self.requests)
        self.node_jobs = [{} for _ in range(t.n_pools)]
        for j, rs in sorted(self.running.items(), key=lambda kv: (kv[1].started_s, kv[0])):
            rs.alloc = None
            if self.site_up[t.pool_site[rs.cand.pool]] and cl.fits(rs.cand):
                rs.alloc = a = cl.allocate(j, self.jobs.tenant[j], rs.cand)
                on = self.node_jobs[rs.cand.pool]
                for node in (a.host,) if a.share else (n for n, _ in a.nodes):
                    on.setdefault(node, set()).add(j)
        busy_w = [0.0] * t.n_pools
        for rs in self.running.values():
            if rs.computing:
                busy_w[rs.cand.pool] += rs.cand.busy_w
        acct = self.acct
        for p, site in enumerate(t.pool_site):
            pn = cl.pools[p]
            if not self.site_up[site]:
                pn.fail(list(range(len(pn.up))))
            acct.fragmented[p] = cl.fragmented(p)
            acct.shared[p] = len(cl.shared[p])
            acct.up[p] = pn.up_devices
            acct.asleep[p] = 0
            acct.power_w[p] = pn.up_devices * float(t.pool_idle_w[p]) + busy_w[p]
        self.full = True
        self.freed = (1 << t.n_pools) - 1
        self.request_round(full=True)
        self.idle_since(now)

    def _nodes_of(self, j: int) -> Sequence[tuple[int, int]]:
        a = self.running[j].alloc
        return a.nodes if a is not None else ()

    def _share_of(self, j: int) -> tuple[int, int] | None:
        a = self.running[j].alloc
        return (a.device, a.share) if a is not None and a.share else None
