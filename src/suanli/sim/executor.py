"""The simulated executor: applies a policy's decisions to the simulated cluster.

It owns the cluster state and the job lifecycle::

    arrived → waiting → allocated → (data transfer, restart) → computing → done
                 ↑                                                   │
                 └──────────── preempted (node failure, policy) ─────┘

Work is conserved: a job computing at rate *r* since ``c₀`` and preempted at *t*
keeps ``⌊(t − c₀)/Δ⌋·Δ·r`` PFLOP of progress (Δ its checkpoint interval) and loses
the rest; when it starts again it first pays its restart cost. A data set copied
to a site stays there (a replica) for later jobs; a copy in flight is shared.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from suanli.errors import SuanliError
from suanli.policy.base import PolicyInput, PolicyOutput, Running, WaitingView
from suanli.sim.accounting import Accounting
from suanli.sim.capacity import Allocation, Capacity, ClusterState
from suanli.sim.events import EventKind, EventQueue
from suanli.sim.jobtable import Candidate, JobTable
from suanli.sim.sharing import DEFAULT_PLACEMENT, pool_requests
from suanli.sim.tables import FleetTables

PENDING, WAITING, RUNNING, DONE, UNSCHEDULABLE, DEFERRED = 0, 1, 2, 3, 4, 5


class PolicyError(SuanliError):
    """A policy decided something impossible (a bug in the policy)."""


@dataclass(slots=True)
class RunState:
    """A job holding devices (``expected_end_s`` is fixed when it starts)."""

    alloc: Allocation
    cand: Candidate
    started_s: float
    compute_start_s: float
    epoch: int
    expected_end_s: float
    computing: bool = False


@dataclass(slots=True)
class Placement:
    """One stretch of a job on a pool (a job preempted twice has three)."""

    job: int
    pool: int
    devices: float  # held; a fraction of one device for a share
    start_s: float
    compute_start_s: float
    end_s: float = math.nan
    end: str = ""
    transfer_s: float = 0.0


@dataclass(slots=True)
class Transfers:
    """Data moved between sites."""

    tb: float = 0.0
    cost: float = 0.0
    count: int = 0
    by_pair: dict[tuple[int, int], float] = field(default_factory=dict)


class SimExecutor:
    """Executes decisions in simulated time and keeps every job's history."""

    def __init__(
        self,
        tables: FleetTables,
        jobs: JobTable,
        events: EventQueue,
        acct: Accounting,
        placement: str = DEFAULT_PLACEMENT,
    ):
        self.tables = tables
        self.jobs = jobs
        self.events = events
        self.acct = acct
        self.cluster = ClusterState(tables, placement, pool_requests(jobs))
        n = len(jobs)
        self.status = [PENDING] * n
        self.waiting: SortedList = SortedList()
        self.waiting_by_sig: dict[int, SortedList] = {}
        self.running_by_pool: list[set[int]] = [set() for _ in range(tables.n_pools)]
        self.ends_by_pool: list[SortedList] = [SortedList() for _ in range(tables.n_pools)]
        self.arrived: list[int] = []
        self.requeued: set[int] = set()
        self.freed = 0
        self.full = True
        self.sig_reasons: dict[int, str] = {}
        self._site_pools = [0] * len(tables.site_ids)
        for p, site in enumerate(tables.pool_site):
            self._site_pools[site] |= 1 << p
        self._quota_pool_mask = [
            sum(1 << q for q, inside in enumerate(mask) if inside)
            for mask in self.cluster.quota_mask
        ]
        self.running: dict[int, RunState] = {}
        self.epoch = [0] * n
        self.work_done = [0.0] * n
        self.first_start = [math.nan] * n
        self.finish = [math.nan] * n
        self.preemptions = [0] * n
        self.attained = [0.0] * n
        self.lost_pflop = [0.0] * n
        self.placements: list[Placement] = []
        self._open: dict[int, Placement] = {}
        self.replicas: set[tuple[int, int]] = set()
        self.inflight: dict[tuple[int, int], float] = {}
        self.transfers = Transfers()
        self.node_jobs: list[dict[int, set[int]]] = [{} for _ in range(tables.n_pools)]
        #: Per pool, nodes woken from sleep and when they are up (power saving).
        self.booting: list[dict[int, float]] = [{} for _ in range(tables.n_pools)]
        self.last_reasons: dict[int, str] = {}
        self._replicas_view: frozenset[tuple[int, int]] | None = None
        self._waiting_view = WaitingView(self.waiting)
        self._running_view = _RunningView(self)
        self._remaining = lambda j: self.jobs.work[j] - self.work_done[j]
        self._resumed = lambda j: self.preemptions[j] > 0
        self._nodes_of = lambda j: self.running[j].alloc.nodes
        self._waiting_of = lambda sig: WaitingView(self.waiting_by_sig[sig])
        self.default_reason = ""
        self.done_count = 0
        self.unschedulable_count = 0

    # -- lifecycle events -----------------------------------------------------------------
    def arrive(self, j: int) -> None:
        """Job *j* is submitted (jobs no pool can ever run are set aside with a reason)."""
        if not self.jobs.candidates(j):
            self.status[j] = UNSCHEDULABLE
            self.unschedulable_count += 1
            self.last_reasons[j] = (
                "no pool can ever run it (accepted types/stacks, memory fit, data residency)"
            )
            return
        self._enqueue(j)

    def _enqueue(self, j: int) -> None:
        self.status[j] = WAITING
        key = (self.jobs.submit[j], j)
        self.waiting.add(key)
        sig = self.jobs.signature(j)
        lst = self.waiting_by_sig.get(sig)
        if lst is None:
            lst = self.waiting_by_sig[sig] = SortedList()
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

    def finish_job(self, j: int, epoch: int, now: float) -> bool:
        """Job *j* completes (returns False for a stale event)."""
        rs = self.running.get(j)
        if rs is None or rs.epoch != epoch or not rs.computing:
            return False
        self.work_done[j] = self.jobs.work[j]
        self.attained[j] += (now - rs.compute_start_s) * rs.cand.amount
        self._stop(j, rs, now, "finished")
        self.status[j] = DONE
        self.finish[j] = now
        self.done_count += 1
        return True

    def preempt(self, j: int, now: float, why: str) -> None:
        """Stop job *j*, keep its checkpointed progress, requeue it."""
        rs = self.running[j]
        if rs.computing:
            elapsed = now - rs.compute_start_s
            interval = self.jobs.checkpoint_s[j]
            kept_s = math.floor(elapsed / interval) * interval if interval > 0 else elapsed
            remaining = self.jobs.work[j] - self.work_done[j]
            kept = min(remaining, kept_s * rs.cand.rate)
            self.lost_pflop[j] += min(remaining, elapsed * rs.cand.rate) - kept
            self.work_done[j] += kept
            self.attained[j] += elapsed * rs.cand.amount
        self._stop(j, rs, now, why)
        self.preemptions[j] += 1
        self.epoch[j] += 1
        self._enqueue(j)
        self.requeued.add(j)

    def wake(self, j: int) -> None:
        """A deferred job's time has come: back into the queue."""
        if self.status[j] == DEFERRED:
            self._enqueue(j)

    # -- failures -------------------------------------------------------------------------
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
            self.preempt(j, now, "node failure")
        sleeping = sum(1 for n in candidates if pn.asleep[n])
        pn.fail(candidates)
        self.acct.fragmented[pool] = self.cluster.fragmented(pool)
        t = self.tables
        self.acct.up[pool] -= len(candidates) * pn.per_node
        self.acct.asleep[pool] -= sleeping * pn.per_node
        self.acct.power_w[pool] -= pn.per_node * (
            (len(candidates) - sleeping) * float(t.pool_idle_w[pool])
            + sleeping * t.pool_sleep_w[pool]
        )
        return candidates

    def recover_nodes(self, pool: int, nodes: list[int], now: float) -> None:
        """Bring failed nodes back (empty and awake)."""
        self.acct.integrate(now)  # before the state changes
        pn = self.cluster.pools[pool]
        back = [n for n in nodes if not pn.up[n]]
        pn.recover(back, now)
        for node in back:
            self.booting[pool].pop(node, None)
        self.acct.fragmented[pool] = self.cluster.fragmented(pool)
        self.freed |= 1 << pool
        self.acct.up[pool] += len(back) * pn.per_node
        self.acct.power_w[pool] += len(back) * pn.per_node * float(self.tables.pool_idle_w[pool])
        self.schedule_sleep(pool, back, now)

    # -- power saving ---------------------------------------------------------------------
    def schedule_sleep(self, pool: int, nodes: list[int], now: float) -> None:
        """Nodes just became wholly free: suspend them if they stay so (power saving)."""
        after = self.tables.pool_sleep_after_s[pool]
        if after == math.inf:
            return
        for node in nodes:
            self.events.push(now + after, EventKind.SLEEP, pool, node)

    def sleep_node(self, pool: int, node: int, now: float) -> None:
        """Suspend a node if it has been wholly free since the event was scheduled."""
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

    # -- the policy interface -------------------------------------------------------------
    def snapshot(self, now: float, full: bool = False) -> PolicyInput:
        """What a policy sees now; resets the record of what changed since the last one."""
        arrived, freed, full = self.arrived, self.freed, full or self.full
        self.arrived, self.freed, self.full = [], 0, False
        if self._replicas_view is None:
            self._replicas_view = frozenset(self.replicas | set(self.inflight))
        return PolicyInput(
            now=now,
            tables=self.tables,
            jobs=self.jobs,
            waiting=self._waiting_view,
            waiting_sigs=self.waiting_by_sig.keys(),
            waiting_of=self._waiting_of,
            running=self._running_view,
            running_on=self.running_by_pool.__getitem__,
            ending_on=self.ends_by_pool.__getitem__,
            nodes_of=self._nodes_of,
            share_of=self._share_of,
            arrived=arrived,
            freed=freed,
            full=full,
            requeued=self.requeued,
            capacity=Capacity(self.cluster),
            replicas=self._replicas_view,
            attained=self.attained_at(now),
            remaining=self._remaining,
            resumed=self._resumed,
            tenant_milli=self.cluster.tenant_milli,
        )

    def attained_at(self, now: float) -> _Attained:
        """Device-seconds of service per job, counting running jobs up to ``now``."""
        return _Attained(self, now)

    def apply(self, out: PolicyOutput, now: float) -> None:
        """Carry out a round's decisions: preemptions first, then starts."""
        for pre in out.preempts:
            if pre.job not in self.running:
                raise PolicyError(f"policy preempted job {self.jobs.ids[pre.job]}, not running")
            if not self.jobs.preemptible[pre.job]:
                raise PolicyError(f"policy preempted non-preemptible {self.jobs.ids[pre.job]}")
            self.preempt(pre.job, now, pre.reason)
        for d in out.defers:
            if self.status[d.job] != WAITING:
                raise PolicyError(f"policy deferred job {self.jobs.ids[d.job]}, not waiting")
            if d.until_s <= now:
                raise PolicyError(f"policy deferred {self.jobs.ids[d.job]} into the past")
            self._dequeue(d.job)
            self.status[d.job] = DEFERRED
            self.last_reasons[d.job] = d.reason
            self.events.push(d.until_s, EventKind.WAKE, d.job)
        cap = Capacity(self.cluster)
        for st in out.starts:
            j, cand = st.job, st.candidate
            if self.status[j] != WAITING:
                raise PolicyError(f"policy started job {self.jobs.ids[j]}, which is not waiting")
            why = cap.why_not(self.jobs.tenant[j], cand)
            if why is not None:
                raise PolicyError(
                    f"policy started {self.jobs.ids[j]} on {self.tables.pool_label(cand.pool)} "
                    f"without room ({why})"
                )
            self._start(j, cand, now)
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

    def verify(self) -> None:
        """Check the cluster's invariants; raise AssertionError naming the one broken.

        Every pool: 0 ≤ free ≤ up devices, free = Σ free devices of up nodes, held =
        Σ devices of its running whole-device jobs + its shared devices; every shared
        device: free + Σ shares of its jobs = 1000, free ≥ 0, on an up node; allocated
        = Σ devices (shares as fractions) of its running jobs; every site: committed IT
        power ≤ capacity/PUE; every quota: usage ≤ maximum.
        """
        cl = self.cluster
        alloc = [0] * self.tables.n_pools
        on_device: list[dict[int, int]] = [{} for _ in cl.pools]
        for rs in self.running.values():
            alloc[rs.cand.pool] += rs.cand.milli
            a = rs.alloc
            if a.share:
                on_device[a.pool][a.device] = on_device[a.pool].get(a.device, 0) + a.share
        for p, pn in enumerate(cl.pools):
            free = sum(f for f, up in zip(pn.free, pn.up, strict=True) if up)
            label = self.tables.pool_label(p)
            assert free == pn.free_devices, f"{label}: free count {pn.free_devices} != {free}"
            assert 0 <= pn.free_devices <= pn.up_devices, f"{label}: free {pn.free_devices}"
            assert min(pn.free) >= 0, f"{label}: a node has negative free devices"
            sh = cl.shared[p]
            assert set(sh.free) == set(on_device[p]), f"{label}: shared devices without jobs"
            assert sh.free_total == sum(sh.free.values()), f"{label}: free share total"
            for key, f in sh.free.items():
                assert f >= 0 and f + on_device[p][key] == 1000, f"{label}: device {key} {f}"
                assert pn.up[sh.node[key]], f"{label}: shared device {key} on a down node"
            held = sum(n for node, n in _nodes_of(self, p) if pn.up[node]) + len(sh)
            assert held + pn.free_devices == pn.up_devices, f"{label}: over-allocated"
            assert abs(alloc[p] / 1000 - self.acct.allocated[p]) < 1e-6, (
                f"{label}: allocation accounting"
            )
            assert len(sh) == self.acct.shared[p], f"{label}: shared device accounting"
            frag = cl.fragmented_from_scratch(p)
            assert abs(frag - self.acct.fragmented[p]) < 1e-6, f"{label}: fragmentation"
        for s, cap in enumerate(cl.site_cap_it_w):
            assert cl.site_committed_w[s] <= cap * (1 + 1e-9) + 1e-6, (
                f"site {self.tables.site_ids[s]}: committed {cl.site_committed_w[s]:.0f} W "
                f"> {cap:.0f} W"
            )
        for qi, used in enumerate(cl.quota_usage):
            assert used <= cl.quota_max[qi], f"quota {self.tables.quotas[qi][3]}: {used}"

    # -- internals ------------------------------------------------------------------------
    def _start(self, j: int, cand: Candidate, now: float) -> None:
        self.acct.integrate(now)  # before the state changes
        self._dequeue(j)
        self.requeued.discard(j)
        self.last_reasons.pop(j, None)
        alloc = self.cluster.allocate(j, self.jobs.tenant[j], cand)
        self.running_by_pool[cand.pool].add(j)
        pn = self.cluster.pools[cand.pool]
        booting = self.booting[cand.pool]
        if pn.woken:
            t, p = self.tables, cand.pool
            n_woken = len(pn.woken) * pn.per_node
            self.acct.power_w[p] += n_woken * (float(t.pool_idle_w[p]) - t.pool_sleep_w[p])
            self.acct.asleep[p] -= n_woken
            for node in pn.woken:
                booting[node] = now + t.pool_resume_s[p]
        on = self.node_jobs[cand.pool]
        hosts = [alloc.host] if alloc.share else [node for node, _ in alloc.nodes]
        boot = 0.0
        for node in hosts:
            on.setdefault(node, set()).add(j)
            if booting:  # a node woken for an earlier job may still be booting
                boot = max(boot, booting.get(node, now) - now)
        self.acct.fragmented[cand.pool] = self.cluster.fragmented(cand.pool)
        if cand.share:
            self.acct.shared[cand.pool] = len(self.cluster.shared[cand.pool])
        self.status[j] = RUNNING
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
                self.transfers.tb += size
                self.transfers.cost += cand.egress
                self.transfers.count += 1
                pair = (home, site)
                self.transfers.by_pair[pair] = self.transfers.by_pair.get(pair, 0.0) + size
        restart = self.jobs.restart_s[j] if self.preemptions[j] else 0.0
        compute_start = max(ready, now + boot) + restart
        end = compute_start + (self.jobs.work[j] - self.work_done[j]) / cand.rate
        rs = RunState(alloc, cand, now, compute_start, self.epoch[j], end)
        self.running[j] = rs
        self.ends_by_pool[cand.pool].add((end, j))
        self.acct.allocated[cand.pool] += cand.amount
        pl = Placement(j, cand.pool, cand.amount, now, compute_start, transfer_s=transfer)
        self.placements.append(pl)
        self._open[j] = pl
        if compute_start <= now:
            self._begin_computing(j, rs, now)
        else:
            self.events.push(compute_start, EventKind.COMPUTE_START, j, rs.epoch)

    def _begin_computing(self, j: int, rs: RunState, now: float) -> None:
        self.acct.integrate(now)  # before the state changes
        rs.computing = True
        rs.compute_start_s = now
        p = rs.cand.pool
        self.acct.busy[p] += rs.cand.busy
        self.acct.power_w[p] += rs.cand.busy_w
        remaining = self.jobs.work[j] - self.work_done[j]
        self.events.push(now + remaining / rs.cand.rate, EventKind.FINISH, j, rs.epoch)

    def _stop(self, j: int, rs: RunState, now: float, why: str) -> None:
        self.acct.integrate(now)  # before the state changes
        p = rs.cand.pool
        if rs.computing:
            self.acct.busy[p] -= rs.cand.busy
            self.acct.power_w[p] -= rs.cand.busy_w
        self.acct.allocated[p] -= rs.cand.amount
        on = self.node_jobs[p]
        for node in (rs.alloc.host,) if rs.alloc.share else (n for n, _ in rs.alloc.nodes):
            holders = on.get(node)
            if holders is not None:
                holders.discard(j)
        cl = self.cluster
        self.schedule_sleep(p, cl.release(rs.alloc, now), now)
        self.acct.fragmented[p] = cl.fragmented(p)
        if rs.cand.share:
            self.acct.shared[p] = len(cl.shared[p])
        self.freed |= 1 << p
        site = self.tables.pool_site[p]
        if site in cl.power_blocked:  # power freed where it was the limit
            cl.power_blocked.discard(site)
            self.freed |= self._site_pools[site]
        for qi in cl.tenant_quotas[rs.alloc.tenant]:
            if qi in cl.quota_blocked and cl.quota_mask[qi][p]:
                cl.quota_blocked.discard(qi)
                self.freed |= self._quota_pool_mask[qi]
        self.running_by_pool[p].discard(j)
        self.ends_by_pool[p].discard((rs.expected_end_s, j))
        del self.running[j]
        pl = self._open.pop(j)
        pl.end_s = now
        pl.end = why

    def _share_of(self, j: int) -> tuple[int, int] | None:
        a = self.running[j].alloc
        return (a.device, a.share) if a.share else None


def _nodes_of(ex: SimExecutor, pool: int) -> list[tuple[int, int]]:
    return [nd for j in ex.running_by_pool[pool] for nd in ex.running[j].alloc.nodes]


class _RunningView(Mapping[int, Running]):
    """Running jobs as policies see them, built on access (rounds stay O(1) to set up)."""

    __slots__ = ("_ex",)

    def __init__(self, ex: SimExecutor) -> None:
        self._ex = ex

    def __len__(self) -> int:
        return len(self._ex.running)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ex.running)

    def __getitem__(self, j: int) -> Running:
        ex = self._ex
        rs = ex.running[j]
        return Running(
            job=j,
            candidate=rs.cand,
            started_s=rs.started_s,
            compute_start_s=rs.compute_start_s,
            expected_end_s=rs.expected_end_s,
            preemptible=ex.jobs.preemptible[j],
            nodes=tuple(rs.alloc.nodes),
        )


class _Attained:
    """Callable giving device-seconds of service of a job at a fixed time."""

    __slots__ = ("_ex", "_now")

    def __init__(self, ex: SimExecutor, now: float) -> None:
        self._ex, self._now = ex, now

    def __call__(self, j: int) -> float:
        ex = self._ex
        rs = ex.running.get(j)
        extra = (self._now - rs.compute_start_s) * rs.cand.amount if rs and rs.computing else 0.0
        return ex.attained[j] + extra
