"""The live executor: the scheduling state of the control plane, as policies see it.

It implements the :class:`~suanli.control.loop.Executor` protocol like
:class:`~suanli.sim.executor.SimExecutor` does, but for jobs submitted over the API
and run by real sites: a :class:`~suanli.sim.jobtable.JobTable` grown with
:meth:`add`, a :class:`~suanli.sim.capacity.ClusterState` *mirror* of what suanli has
allocated at each site, the waiting queue (by arrival, and by signature), and the
jobs placed at sites (dispatching, pending or running there, or unknown).

It does no I/O. :meth:`apply` records the policy's starts and preemptions in
:attr:`started` and :attr:`preempted`; the service (:mod:`suanli.control.service`)
writes them to the database and only then hands them to the sites.

A site that cannot be reached is *masked*: its pools' nodes are taken down in the
mirror, so that no policy places work there, while the jobs it runs keep their
allocations. The mirror is rebuilt from the placed jobs whenever a site comes back.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from sortedcontainers import SortedList

from suanli.model.job import Job
from suanli.policy.base import PolicyInput, PolicyOutput, Running, WaitingView
from suanli.sim.capacity import Allocation, Capacity, ClusterState
from suanli.sim.jobtable import Candidate, JobTable
from suanli.sim.tables import FleetTables

WAITING, PLACED, ENDED, DEFERRED = 0, 1, 2, 3


@dataclass(slots=True)
class Placement:
    """A job holding devices at a site (``alloc`` is None if the mirror had no room)."""

    cand: Candidate
    alloc: Allocation | None
    started_s: float
    expected_end_s: float


class LiveExecutor:
    """Scheduling state of the live control plane (see the module docstring)."""

    def __init__(self, tables: FleetTables) -> None:
        self.tables = tables
        self.jobs = JobTable([], tables)
        self.cluster = ClusterState(tables)
        self.index: dict[int, int] = {}
        self.db_ids: list[int] = []
        self.status: list[int] = []
        self.waiting: SortedList = SortedList()
        self.waiting_by_sig: dict[int, SortedList] = {}
        self.placed: dict[int, Placement] = {}
        self.running_by_pool: list[set[int]] = [set() for _ in range(tables.n_pools)]
        self.ends_by_pool: list[SortedList] = [SortedList() for _ in range(tables.n_pools)]
        self.site_up = [True] * len(tables.site_ids)
        self.arrived: list[int] = []
        self.freed = 0
        self.full = True
        self.last_reasons: dict[int, str] = {}
        self.sig_reasons: dict[int, str] = {}
        self.default_reason = "waiting for the first scheduling round"
        #: Decisions of the last :meth:`apply` calls, for the service to carry out.
        self.started: list[tuple[int, Candidate]] = []
        self.preempted: list[tuple[int, str]] = []
        #: Jobs a policy set aside until a time (scenario seconds), as a heap.
        self.deferred: list[tuple[float, int]] = []
        self.pool_index = {pid: p for p, pid in enumerate(tables.pool_ids)}

    # -- jobs -----------------------------------------------------------------------------
    def add(self, job: Job, db_id: int) -> int:
        """Register a job (not yet queued); return its index."""
        j = self.jobs.add(job)
        self.index[db_id] = j
        self.db_ids.append(db_id)
        self.status.append(ENDED)
        return j

    def runnable(self, j: int) -> bool:
        """Whether some pool of the fleet can ever run job *j*."""
        return bool(self.jobs.candidates(j))

    def enqueue(self, j: int) -> None:
        """Put job *j* in the waiting queue."""
        self.status[j] = WAITING
        key = (self.jobs.submit[j], j)
        self.waiting.add(key)
        sig = self.jobs.signature(j)
        lst = self.waiting_by_sig.get(sig)
        if lst is None:
            lst = self.waiting_by_sig[sig] = SortedList()
        lst.add(key)
        self.arrived.append(j)

    def dequeue(self, j: int) -> None:
        """Take a waiting job out of the queue (it was started or cancelled)."""
        key = (self.jobs.submit[j], j)
        self.waiting.remove(key)
        sig = self.jobs.signature(j)
        lst = self.waiting_by_sig[sig]
        lst.remove(key)
        if not lst:
            del self.waiting_by_sig[sig]
        self.last_reasons.pop(j, None)
        self.status[j] = ENDED

    def place(self, j: int, pool: str, devices: int, started_s: float) -> bool:
        """Record job *j* as holding ``devices`` of ``pool`` (recovery after a restart).

        Returns False when the pool is unknown or the job cannot run there any more.
        """
        p = self.pool_index.get(pool)
        cand = next((c for c in self.jobs.candidates(j) if c.pool == p), None)
        if cand is None:
            return False
        if cand.devices != devices:
            cand = _with_devices(cand, devices)
        self._hold(j, cand, started_s)
        return True

    def _hold(self, j: int, cand: Candidate, now: float) -> None:
        site = self.tables.pool_site[cand.pool]
        alloc = None
        if self.site_up[site] and self.cluster.fits(cand):
            alloc = self.cluster.allocate(j, self.jobs.tenant[j], cand)
        end = now + self.jobs.work[j] / cand.rate
        self.placed[j] = Placement(cand, alloc, now, end)
        self.running_by_pool[cand.pool].add(j)
        self.ends_by_pool[cand.pool].add((end, j))
        self.status[j] = PLACED

    def release(self, j: int) -> None:
        """Job *j* no longer holds devices (it ended, or goes back to the queue)."""
        pl = self.placed.pop(j, None)
        if pl is None:
            return
        p = pl.cand.pool
        if pl.alloc is not None:
            self.cluster.release(pl.alloc)
        self.running_by_pool[p].discard(j)
        self.ends_by_pool[p].discard((pl.expected_end_s, j))
        self.freed |= 1 << p
        cl = self.cluster
        site = self.tables.pool_site[p]
        if site in cl.power_blocked:
            cl.power_blocked.discard(site)
            self.full = True
        if cl.quota_blocked:
            cl.quota_blocked.clear()
            self.full = True
        self.status[j] = ENDED

    def forget(self, j: int) -> None:
        """Job *j* ended (cancelled, failed): take it out of the queue or free its place."""
        if self.status[j] == WAITING:
            self.dequeue(j)
        elif self.status[j] == PLACED:
            self.release(j)
        self.status[j] = ENDED

    def wake_due(self, now: float) -> int:
        """Put deferred jobs whose time has come back in the queue; return how many."""
        woken = 0
        while self.deferred and self.deferred[0][0] <= now:
            _, j = heapq.heappop(self.deferred)
            if self.status[j] == DEFERRED:
                self.enqueue(j)
                woken += 1
        return woken

    def next_wake(self) -> float | None:
        """When the next deferred job is due (scenario seconds), if any."""
        return self.deferred[0][0] if self.deferred else None

    def site_of(self, j: int) -> int:
        """Site index where placed job *j* is (-1 if not placed)."""
        pl = self.placed.get(j)
        return -1 if pl is None else self.tables.pool_site[pl.cand.pool]

    # -- sites ----------------------------------------------------------------------------
    def set_site_up(self, site: int, up: bool) -> None:
        """Mask (``up=False``) or unmask a site's pools; rebuild the mirror."""
        if self.site_up[site] == up:
            return
        self.site_up[site] = up
        self.rebuild_mirror()

    def rebuild_mirror(self) -> None:
        """Recompute the mirror from the placed jobs and the masked sites."""
        self.cluster = ClusterState(self.tables)
        for j, pl in sorted(self.placed.items(), key=lambda kv: (kv[1].started_s, kv[0])):
            site = self.tables.pool_site[pl.cand.pool]
            pl.alloc = None
            if self.site_up[site] and self.cluster.fits(pl.cand):
                pl.alloc = self.cluster.allocate(j, self.jobs.tenant[j], pl.cand)
        for p, site in enumerate(self.tables.pool_site):
            if not self.site_up[site]:
                pn = self.cluster.pools[p]
                pn.fail(list(range(len(pn.up))))
        self.full = True
        self.freed = (1 << self.tables.n_pools) - 1

    # -- the policy interface -------------------------------------------------------------
    def snapshot(self, now: float, full: bool = False) -> PolicyInput:
        """What a policy sees now; resets the record of what changed since the last one."""
        arrived, freed, full = self.arrived, self.freed, full or self.full
        self.arrived, self.freed, self.full = [], 0, False
        by_sig = self.waiting_by_sig
        return PolicyInput(
            now=now,
            tables=self.tables,
            jobs=self.jobs,
            waiting=WaitingView(self.waiting),
            waiting_sigs=tuple(by_sig),
            waiting_of=lambda sig: WaitingView(by_sig[sig]),
            running=_PlacedView(self),
            running_on=self.running_by_pool.__getitem__,
            ending_on=self.ends_by_pool.__getitem__,
            nodes_of=self._nodes_of,
            share_of=self._share_of,
            arrived=arrived,
            freed=freed,
            full=full,
            capacity=Capacity(self.cluster),
            replicas=frozenset(),
            attained=lambda j: self._attained(j, now),
            remaining=lambda j: self.jobs.work[j],
            resumed=lambda j: False,
            tenant_milli=tuple(self.cluster.tenant_milli),
        )

    def apply(self, out: PolicyOutput, now: float) -> None:
        """Record the decisions; starts take their devices in the mirror at once."""
        for pre in out.preempts:
            j = pre.job
            if j in self.placed and self._preemptible(j):
                self.release(j)
                self.preempted.append((j, pre.reason))
        # Defer decisions (policies that choose *when*, e.g. a cheaper hour); read by name so
        # that outputs without them work too
        for d in getattr(out, "defers", ()):
            if self.status[d.job] == WAITING and d.until_s > now:
                self.dequeue(d.job)
                self.status[d.job] = DEFERRED
                self.last_reasons[d.job] = d.reason
                heapq.heappush(self.deferred, (float(d.until_s), d.job))
        cap = Capacity(self.cluster)
        for st in out.starts:
            j, cand = st.job, st.candidate
            if self.status[j] != WAITING:
                continue
            if cap.why_not(self.jobs.tenant[j], cand) is not None:
                continue  # a policy bug must not take the service down
            self.dequeue(j)
            self._hold(j, cand, now)
            self.started.append((j, cand))
        if out.reasons:
            self.last_reasons.update(out.reasons)
        if out.sig_reasons:
            self.sig_reasons.update(out.sig_reasons)
        self.default_reason = out.default_reason

    def reason(self, j: int) -> str:
        """Why waiting job *j* waits, as the policy last said."""
        r = self.last_reasons.get(j)
        if r is None:
            r = self.sig_reasons.get(self.jobs.signature(j), self.default_reason)
        return r

    def _preemptible(self, j: int) -> bool:
        return bool(self.jobs.preemptible[j]) and self.site_up[self.site_of(j)]

    def _nodes_of(self, j: int) -> Sequence[tuple[int, int]]:
        pl = self.placed.get(j)
        return pl.alloc.nodes if pl is not None and pl.alloc is not None else ()

    def _share_of(self, j: int) -> tuple[int, int] | None:
        pl = self.placed.get(j)
        if pl is None or pl.alloc is None or not pl.alloc.share:
            return None
        return pl.alloc.device, pl.alloc.share

    def _attained(self, j: int, now: float) -> float:
        pl = self.placed.get(j)
        return max(0.0, now - pl.started_s) * pl.cand.amount if pl is not None else 0.0


def _with_devices(c: Candidate, devices: int) -> Candidate:
    return dataclasses.replace(c, devices=devices, used=min(c.used, devices))


class _PlacedView(Mapping[int, Running]):
    """Placed jobs as policies see running jobs, built on access."""

    __slots__ = ("_ex",)

    def __init__(self, ex: LiveExecutor) -> None:
        self._ex = ex

    def __len__(self) -> int:
        return len(self._ex.placed)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ex.placed)

    def __getitem__(self, j: int) -> Running:
        ex = self._ex
        pl = ex.placed[j]
        return Running(
            job=j,
            candidate=pl.cand,
            started_s=pl.started_s,
            compute_start_s=pl.started_s,
            expected_end_s=pl.expected_end_s,
            preemptible=ex._preemptible(j),
            nodes=tuple(pl.alloc.nodes) if pl.alloc is not None else (),
        )
