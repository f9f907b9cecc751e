"""Jobs as integer-indexed columns, and where each job can run.

A job *j* can run on pool *p* (accelerator *a* at site *s*) when *a* is among its
accepted types and stacks, the stack has an efficiency for the job's kind and a
precision the profile uses, its data set may be used at *s* (residency, a link
from home), and the devices it needs there fit in the pool:

.. math:: n_{jp} = \\mathrm{shape}_p\\big(\\max(n_j, n_{\\min}(\\text{profile}_j, a))\\big)

with ``shape`` the node-shape rounding (:func:`suanli.core.tables.node_shape`).
It computes on ``u_{jp} = max(n_j, n_min)`` of them at ``r_{jp} = u_{jp} · s(profile_j, a)``
PFLOP/s (or the job's measured speed); padding devices from node shapes stay idle.
A job with ``device_fraction`` φ < 1 (gang 1) takes a share ``m = round(1000 φ)``
thousandths of one device where its memory fits in one (``n_min = 1``) and runs at
``r_{jp} = (m / 1000) · s(profile_j, a)``, drawing that share of the busy power
(:mod:`suanli.core.sharing`).
Candidates are computed once per job *signature* and cached.

An *elastic* job (``gang_min`` :math:`l < g` or ``gang_max`` :math:`h > g`) may also run
on *n* devices, :math:`l \\le n \\le h` (:meth:`JobTable.resized`): it uses
:math:`u' = \\max(n, n_{\\min})` of them, holds :math:`\\mathrm{shape}_p(u')`, draws
:math:`u'/u` times the busy power and computes at

.. math:: r_{jp}(n) = r_{jp} \\, \\frac{S_j(u')}{S_j(u)}

with :math:`S_j` its speed-up over its gang (the job's measured ``speedup``, else
:func:`suanli.perf.goodput.default_speedup`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from suanli.core.tables import FleetTables, node_shape
from suanli.model.job import Job
from suanli.perf.goodput import default_speedup


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a job can run, with what it costs there.

    ``devices`` are held (node-shape rounding included); ``used`` of them compute
    (``max(gang, memory-fit minimum)``), at ``rate`` PFLOP/s in all; ``busy_w`` is
    the IT power the used devices draw above idle. A job that shares a device has
    ``share`` > 0: it holds that many thousandths of one device (``devices`` = 1) and
    computes and draws power in proportion (:mod:`suanli.core.sharing`).
    """

    pool: int
    devices: int
    used: int
    rate: float
    rank: int
    transfer_s: float
    egress: float
    busy_w: float
    share: int = 0

    @property
    def milli(self) -> int:
        """Thousandths of a device held: the share, or 1000 × devices."""
        return self.share or self.devices * 1000

    @property
    def amount(self) -> float:
        """Devices held, a fraction for a share."""
        return self.share / 1000 if self.share else float(self.devices)

    @property
    def busy(self) -> float:
        """Devices computing, a fraction for a share."""
        return self.share / 1000 if self.share else float(self.used)


@dataclass(frozen=True, eq=False)
class SigArrays:
    """The candidates of a signature as arrays (for vectorised valuation)."""

    pools: np.ndarray
    sites: np.ndarray
    #: Devices held per job (fractions for shares).
    amount: np.ndarray
    rates: np.ndarray
    busy_w: np.ndarray
    transfer_s: np.ndarray
    egress: np.ndarray
    pue: np.ndarray
    #: Steps down the job's list of accepted types (0: its first choice, or no list).
    ranks: np.ndarray


class JobTable:
    """Columns of the jobs of one run; index *j* is the job's position in ``jobs``.

    The simulator builds it from all jobs at once; the live control plane
    :meth:`add` s jobs as they are submitted.
    """

    def __init__(self, jobs: Sequence[Job], tables: FleetTables) -> None:
        self.tables = tables
        self._t_index = {t: i for i, t in enumerate(tables.tenant_ids)}
        self._p_index = {p: i for i, p in enumerate(tables.profile_ids)}
        self._d_index = {d: i for i, d in enumerate(tables.dataset_ids)}
        self.jobs: list[Job] = list(jobs)
        self.ids = [j.id for j in jobs]
        self.submit = [j.submit_s for j in jobs]
        #: Whether submit times never fall with the index: then (submit, job) order is
        #: index order (kept by :meth:`add`).
        self.submit_ordered = all(a <= b for a, b in pairwise(self.submit))
        self.work = [j.work_pflop for j in jobs]
        self.gang = [j.gang for j in jobs]
        self.gang_max = [j.largest for j in jobs]
        self.gang_min = [j.smallest for j in jobs]
        #: How many jobs are elastic (policies skip their elastic step when none is).
        self.elastic_count = sum(j.elastic for j in jobs)
        self.tenant = [self._t_index[j.tenant] for j in jobs]
        self.profile = [self._p_index[j.profile] for j in jobs]
        self.kind = [j.kind for j in jobs]
        self.dataset = [self._d_index[j.dataset] if j.dataset else -1 for j in jobs]
        self.deadline = [j.deadline_s for j in jobs]
        self.deferrable = [j.deferrable for j in jobs]
        self.preemptible = [j.preemptible for j in jobs]
        self.checkpoint_s = [j.checkpoint_interval_s for j in jobs]
        self.restart_s = [j.restart_cost_s for j in jobs]
        self.priority = [j.priority for j in jobs]
        self._cache: dict[tuple[object, ...], int] = {}
        self._cands: list[tuple[Candidate, ...] | None] = [None] * len(jobs)
        self._sig: list[int] = [-1] * len(jobs)
        self._alone: list[float | None] = [None] * len(jobs)
        self.stack_of_acc = [tables.scenario.catalog[a].stack for a in tables.acc_ids]
        #: Candidates of each signature, and the pools they use as a bit mask.
        self.sig_candidates: list[tuple[Candidate, ...]] = []
        self.sig_pools: list[int] = []
        self._sig_arrays: list[SigArrays | None] = []
        self._faster: dict[tuple[int, int], int] = {}

    def __len__(self) -> int:
        return len(self.jobs)

    def head(self, n: int) -> JobTable:
        """A table of the first ``n`` jobs (the batch jobs of a run whose service
        replicas were appended after them)."""
        return JobTable(self.jobs[:n], self.tables)

    def add(self, job: Job) -> int:
        """Append a job (its tenant, profile and data set must be known); return its index."""
        self.jobs.append(job)
        self.ids.append(job.id)
        if self.submit and job.submit_s < self.submit[-1]:
            self.submit_ordered = False
        self.submit.append(job.submit_s)
        self.work.append(job.work_pflop)
        self.gang.append(job.gang)
        self.gang_max.append(job.largest)
        self.gang_min.append(job.smallest)
        self.elastic_count += job.elastic
        self.tenant.append(self._t_index[job.tenant])
        self.profile.append(self._p_index[job.profile])
        self.kind.append(job.kind)
        self.dataset.append(self._d_index[job.dataset] if job.dataset else -1)
        self.deadline.append(job.deadline_s)
        self.deferrable.append(job.deferrable)
        self.preemptible.append(job.preemptible)
        self.checkpoint_s.append(job.checkpoint_interval_s)
        self.restart_s.append(job.restart_cost_s)
        self.priority.append(job.priority)
        self._cands.append(None)
        self._sig.append(-1)
        self._alone.append(None)
        return len(self.jobs) - 1

    def origin_site(self, j: int) -> int:
        """Site a job is 'near': its data set's home, else its tenant's home (-1: none)."""
        d = self.dataset[j]
        if d >= 0:
            return self.tables.dataset_home[d]
        return self.tables.tenant_home[self.tenant[j]]

    def candidates(self, j: int) -> tuple[Candidate, ...]:
        """Where job *j* can run, by preference rank, then distance from its origin."""
        c = self._cands[j]
        if c is None:
            self._cands[j] = c = self.sig_candidates[self.signature(j)]
        return c

    def signature(self, j: int) -> int:
        """Id of the job's *signature*: jobs with the same one have the same candidates."""
        sig = self._sig[j]
        if sig < 0:
            job = self.jobs[j]
            key: tuple[object, ...] = (
                job.profile,
                job.accepted_types,
                job.types_ordered,
                job.accepted_stacks,
                self.dataset[j],
                job.gang,
                job.device_fraction,
                self.origin_site(j),
            )
            if job.measured_pflops:
                key = ("measured", j)
            got = self._cache.get(key)
            if got is None:
                cands = self._compute(j)
                got = self._cache[key] = len(self.sig_candidates)
                self.sig_candidates.append(cands)
                mask = 0
                for c in cands:
                    mask |= 1 << c.pool
                self.sig_pools.append(mask)
                self._sig_arrays.append(None)
            self._sig[j] = sig = got
        return sig

    def sig_arrays(self, sig: int) -> SigArrays:
        """The candidates of signature ``sig`` as arrays (cached)."""
        a = self._sig_arrays[sig]
        if a is None:
            cands = self.sig_candidates[sig]
            t = self.tables
            rates = np.array([c.rate for c in cands])
            sites = np.array([t.pool_site[c.pool] for c in cands], dtype=np.int64)
            a = SigArrays(
                pools=np.array([c.pool for c in cands], dtype=np.int64),
                sites=sites,
                amount=np.array([c.amount for c in cands]),
                rates=rates,
                busy_w=np.array([c.busy_w for c in cands]),
                transfer_s=np.array([c.transfer_s for c in cands]),
                egress=np.array([c.egress for c in cands]),
                pue=np.array([t.site_pue[s] for s in sites]),
                ranks=np.array([c.rank for c in cands], dtype=float),
            )
            self._sig_arrays[sig] = a
        return a

    def candidates_of(self, job: Job) -> tuple[Candidate, ...]:
        """Where a job not (yet) in the table could run (no data set; its tenant's home
        as origin): what a service replica would get before it is added."""
        t_index = self._t_index[job.tenant]
        return self._compute_for(
            job, self._p_index[job.profile], -1, self.tables.tenant_home[t_index]
        )

    def _compute(self, j: int) -> tuple[Candidate, ...]:
        return self._compute_for(
            self.jobs[j], self.profile[j], self.dataset[j], self.origin_site(j)
        )

    def _compute_for(self, job: Job, prof: int, d: int, origin: int) -> tuple[Candidate, ...]:
        t = self.tables
        pf = float(t.profile_power_factor[prof])
        # a share is whole thousandths; one that rounds to all of a device is a whole device
        share = max(1, round(1000 * job.device_fraction)) % 1000
        out: list[tuple[float, int, Candidate]] = []
        idle_w = [0.0] * len(t.site_ids)
        for q in range(t.n_pools):
            idle_w[t.pool_site[q]] += t.pool_count[q] * float(t.pool_idle_w[q])
        for p in range(t.n_pools):
            a = t.pool_acc[p]
            acc_id = t.acc_ids[a]
            rank = 0
            if job.accepted_types:
                if acc_id not in job.accepted_types:
                    continue
                if job.types_ordered:
                    rank = job.accepted_types.index(acc_id)
            if job.accepted_stacks and self.stack_of_acc[a] not in job.accepted_stacks:
                continue
            per_device = job.measured_pflops.get(acc_id, float(t.speed[prof, a]))
            if per_device <= 0.0:
                continue
            site = t.pool_site[p]
            if d >= 0 and not t.dataset_allowed[d, site]:
                continue
            need = max(job.gang, int(t.nmin[prof, a]))
            if share:
                if need > 1:
                    continue  # its memory does not fit in one device
                devices, per_device = 1, per_device * share / 1000
            else:
                devices = node_shape(need, t.pool_per_node[p], t.pool_in_node_sizes[p])
                if devices > t.pool_count[p]:
                    continue
            busy_w = (share / 1000 if share else need) * (
                float(t.pool_tdp_w[p]) * pf - float(t.pool_idle_w[p])
            )
            if busy_w > float(t.site_cap_w[site]) / t.site_pue[site] - idle_w[site]:
                continue  # more power than the site can ever give
            cand = Candidate(
                pool=p,
                devices=devices,
                used=need,
                rate=need * per_device,
                rank=rank,
                transfer_s=float(t.transfer_s[d, site]) if d >= 0 else 0.0,
                egress=float(t.egress[d, site]) if d >= 0 else 0.0,
                busy_w=busy_w,
                share=share,
            )
            dist = float(t.site_dist_km[origin, site]) if origin >= 0 else 0.0
            out.append((rank * 1e9 + dist, p, cand))
        out.sort(key=lambda x: (x[0], x[1]))
        return tuple(c for _, _, c in out)

    def faster_pools(self, sig: int, pool: int) -> int:
        """The pools (bit mask) where signature ``sig`` runs faster than on ``pool`` and
        that are no further down its order of accelerator types (cached): where a job
        running on ``pool`` could move up to."""
        key = (sig, pool)
        mask = self._faster.get(key)
        if mask is None:
            cands = self.sig_candidates[sig]
            at = next((c for c in cands if c.pool == pool), None)
            here = at.rate if at is not None else 0.0
            rank = at.rank if at is not None else len(cands)
            mask = 0
            for c in cands:
                if c.rate > here and c.rank <= rank:
                    mask |= 1 << c.pool
            self._faster[key] = mask
        return mask

    def elastic(self, j: int) -> bool:
        """Whether job *j* may run on another device count than its gang."""
        return self.gang_min[j] < self.gang[j] or self.gang_max[j] > self.gang[j]

    def speedup(self, j: int, n: int) -> float:
        """S_j(n) = G(n)/G(gang): how fast job *j* progresses on *n* devices against its
        gang (*n* clamped to ``[gang_min, gang_max]``)."""
        g = self.gang[j]
        n = min(max(n, self.gang_min[j]), self.gang_max[j])
        if n == g:
            return 1.0
        job = self.jobs[j]
        if job.speedup:
            return job.speedup[n - self.gang_min[j]]
        return default_speedup(job.kind, g, n)

    def throughput(self, j: int, n: int) -> float:
        """T_j(n) = X(n)/X(gang): how many more examples per second job *j* processes on
        *n* devices than on its gang, statistical efficiency left out (*n* clamped as in
        :meth:`speedup`): the job's measured ``throughput``, else its ``speedup``
        (efficiency 1), else the default model's linear n/gang."""
        g = self.gang[j]
        n = min(max(n, self.gang_min[j]), self.gang_max[j])
        if n == g:
            return 1.0
        job = self.jobs[j]
        if job.throughput:
            return job.throughput[n - self.gang_min[j]]
        if job.speedup:
            return job.speedup[n - self.gang_min[j]]
        return n / g

    def resized(self, j: int, base: Candidate, n: int) -> Candidate | None:
        """Job *j* on ``base``'s pool with *n* devices asked for,
        ``gang_min ≤ n ≤ gang_max`` (module docstring); ``base`` is its candidate there at
        its gang. None where *n* is out of range, the job shares a device or the pool is too
        small."""
        if base.share or not self.gang_min[j] <= n <= self.gang_max[j]:
            return None
        t = self.tables
        p = base.pool
        used = max(n, self.nmin_on(j, base))
        if used == base.used:
            return base
        devices = node_shape(used, t.pool_per_node[p], t.pool_in_node_sizes[p])
        if devices > t.pool_count[p]:
            return None
        factor = self.speedup(j, used) / self.speedup(j, base.used)
        return Candidate(
            pool=p,
            devices=devices,
            used=used,
            rate=base.rate * factor,
            rank=base.rank,
            transfer_s=base.transfer_s,
            egress=base.egress,
            busy_w=base.busy_w * used / base.used,
        )

    def holding(self, j: int, base: Candidate, devices: int) -> Candidate | None:
        """Elastic job *j*'s shape on ``base``'s pool that holds ``devices``, the most
        devices used among those that do (the shape the policies are offered per number
        held, :func:`~suanli.policy.resizing.sizes`); None if none does."""
        if not self.elastic(j):
            return None
        for n in range(self.gang_max[j], self.gang_min[j] - 1, -1):
            c = self.resized(j, base, n)
            if c is not None and c.devices == devices:
                return c
        return None

    def nmin_on(self, j: int, base: Candidate) -> int:
        """The fewest devices job *j*'s memory needs on ``base``'s accelerator."""
        return int(self.tables.nmin[self.profile[j], self.tables.pool_acc[base.pool]])

    def base_candidate(self, j: int, pool: int) -> Candidate | None:
        """Job *j*'s candidate on ``pool`` at its gang (None: it cannot run there)."""
        return next((c for c in self.candidates(j) if c.pool == pool), None)

    def alone_s(self, j: int) -> float:
        """JCT with the whole fleet to itself: its run time on its fastest candidate, with
        its data already there (∞ if it has no candidate). ``JCT ≥ alone`` always."""
        a = self._alone[j]
        if a is None:
            a = min((self.work[j] / c.rate for c in self.candidates(j)), default=float("inf"))
            self._alone[j] = a
        return a

    def submit_array(self) -> np.ndarray:
        """Submit times as an array."""
        return np.asarray(self.submit, dtype=float)
