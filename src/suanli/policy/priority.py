"""Priorities: one rule for every policy — the order of the queue, and who may preempt whom.

**Effective priority.** Job *j* of tenant *t(j)* has the job priority ``p_j`` (an integer,
the trace's and the job file's ``priority``, 0 by default) and its tenant has ``P_t`` (the
scenario's or the admin API's tenant ``priority``, 0 by default). Its effective priority is
the pair, compared lexicographically:

.. math::

    \\pi_j = (P_{t(j)},\\; p_j), \\qquad
    \\pi_i \\succ \\pi_j \\iff P_{t(i)} > P_{t(j)}
        \\;\\lor\\; \\bigl(P_{t(i)} = P_{t(j)} \\land p_i > p_j\\bigr).

The tenant's priority is a *tier* and the job's priority orders within it, as Slurm's
partition ``PriorityTier`` is looked at before the multifactor job priority, and as Kueue
orders a ClusterQueue's workloads by their ``WorkloadPriorityClass``. Not a weighted sum
(Slurm's multifactor ``PriorityWeight*``): the two are set by different people — the
tenant's by the operator, the job's by whoever submits it (the API lets a user set
−1000 … 1000 on their own jobs; traces carry up to ±10⁹) — so with a sum a user could buy
their way past a higher tenant by raising their own jobs, and the weights would need
tuning against ranges that differ by six orders of magnitude. Lexicographic needs no weight
and cannot be gamed across tenants.

**Queue order.** Waiting jobs are served by effective priority, higher first; among jobs
of equal effective priority, by the policy's own order *o* (arrival — ``(submit, job)`` —
for ``fifo``, ``backfill``, ``greedy-cost`` and ``fifo-het``; Gavel's round priority for
``maxmin-het``):

.. math::

    i \\text{ before } j \\iff \\pi_i \\succ \\pi_j
        \\;\\lor\\; \\bigl(\\pi_i = \\pi_j \\land o_i < o_j\\bigr).

A policy that blocks at the head of its queue (``fifo``) blocks at the highest-priority job
that does not fit; ``backfill`` reserves for that job; a policy that skips jobs that do not
fit (``greedy-cost``, ``fifo-het``) lets every higher-priority job take its pick first.

**Preemption.** A running job *r* may be preempted, moved off its devices or otherwise
displaced in favour of a job *i* only if ``π_i ≻ π_r`` (:func:`may_displace` with
``equal=False``), or if ``π_i = π_r`` where the policy's own rule allows it among equals
(``equal=True``: ``maxmin-het``'s time-sharing rounds; ``las``' lower attained-service
queue). Never in favour of a lower effective priority. ``fifo``, ``backfill`` and
``greedy-cost`` never preempt; ``fifo-het`` moves a running job only onto devices no
waiting job of higher priority could take this round (moves and starts go by level, highest
first; within a level moves first, as before).

A workload whose jobs and tenants all have one effective priority (all 0, the default) is
scheduled exactly as without priorities.

**Cost.** :class:`Priorities` keeps each job's level as the job table grows (amortised O(1)
per job). While every job in the table has one effective priority it hands policies
``waiting`` and :class:`~suanli.policy.common.JobScan` unchanged — no per-round cost at all.
With several levels (few, in practice: a handful of tenant tiers and job priorities), the
scheduling state keeps its waiting jobs by level as they join and leave the queue
(:attr:`~suanli.core.policy.PolicyInput.waiting_levels`, O(log n) per change, nothing while
all have one level): :meth:`Priorities.order` reads those lists, highest level first, only
as far as the policy reads — ``fifo`` stops at its blocked head, not after a pass over the
queue; scans of non-full rounds split only the per-signature lists they would merge anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice

from suanli.core.jobtable import JobTable
from suanli.core.levels import Level, tenant_priorities
from suanli.core.policy import PolicyInput
from suanli.core.tables import FleetTables
from suanli.policy.common import IN_ORDER, JobScan

#: Why a job started, for policies that start jobs in queue order, first fit, when jobs
#: have several effective priorities (with one, :data:`~suanli.policy.common.IN_ORDER`).
IN_QUEUE_ORDER = (
    "next in queue order (higher priority first, then arrival), on its first choice with "
    "room (preferred type, then nearest)"
)


def may_displace(by: Level, victim: Level, equal: bool = False) -> bool:
    """Whether a job of effective priority ``by`` may preempt (or displace) a running job
    of effective priority ``victim``: strictly higher, or equal where the policy's own rule
    allows it among equals (``equal``)."""
    return by > victim or (equal and by == victim)


class Priorities:
    """Effective priorities of a policy's jobs, and the waiting jobs in queue order.

    Call :meth:`update` at the start of every round. :attr:`single` says whether every job
    in the table has one effective priority (then :meth:`order` is ``inp.waiting`` itself
    and :meth:`scan` a plain :class:`JobScan`)."""

    __slots__ = (
        "_grouped",
        "_jobs",
        "_levels",
        "_n",
        "_rank",
        "_rank_of",
        "_tables",
        "_tenant",
        "levels",
        "of",
    )

    def __init__(self) -> None:
        self._jobs: JobTable | None = None
        self._tables: FleetTables | None = None
        self._tenant: tuple[int, ...] = ()
        self._n = 0
        #: Per job index, its effective priority.
        self.of: list[Level] = []
        self._levels: set[Level] = set()
        #: The distinct effective priorities, highest first.
        self.levels: list[Level] = []
        #: Per job index, the position of its level in :attr:`levels` (0: the highest);
        #: and per level.
        self._rank: list[int] = []
        self._rank_of: dict[Level, int] = {}
        #: This round's waiting jobs by level (the round's input, and the groups).
        self._grouped: tuple[PolicyInput, list[Sequence[int]]] | None = None

    @property
    def single(self) -> bool:
        """Whether all jobs in the table have one effective priority."""
        return len(self._levels) <= 1

    def update(self, inp: PolicyInput) -> Priorities:
        """Take in the jobs added to the table since the last round (a new table: all);
        O(1) when there are none."""
        jobs = inp.jobs
        if jobs is not self._jobs or inp.tables is not self._tables:
            self._jobs, self._tables = jobs, inp.tables
            self._tenant = tenant_priorities(inp.tables)
            self._n = 0
            self.of, self._levels, self.levels, self._rank = [], set(), [], []
            self._rank_of = {}
        n = len(jobs)
        if n == self._n:
            return self
        tp, tenant, prio = self._tenant, jobs.tenant, jobs.priority
        new = [(tp[tenant[j]], int(prio[j])) for j in range(self._n, n)]
        self.of.extend(new)
        self._n = n
        known = len(self._levels)
        self._levels.update(new)
        if len(self._levels) != known:  # a new level: every job's rank may change
            self.levels = sorted(self._levels, reverse=True)
            new = self.of
            self._rank = []
        rank = self._rank_of = {lv: i for i, lv in enumerate(self.levels)}
        self._rank.extend(rank[lv] for lv in new)
        return self

    def in_order(self) -> str:
        """The reason of a start in queue order, first fit."""
        return IN_ORDER if self.single else IN_QUEUE_ORDER

    def rank(self, j: int) -> int:
        """Position of job ``j``'s level among :attr:`levels` (0: the highest)."""
        return self._rank[j]

    def groups(self, jobs: Iterator[int] | Sequence[int]) -> list[list[int]]:
        """``jobs`` split by level, highest first, each in the order given (one pass)."""
        out: list[list[int]] = [[] for _ in self.levels]
        add = [g.append for g in out]
        rank = self._rank
        for j in jobs:
            add[rank[j]](j)
        return out

    def waiting(self, inp: PolicyInput) -> list[Sequence[int]]:
        """This round's waiting jobs by level, highest first (one list per level of
        :attr:`levels`, empty where none waits), each in arrival order: the state's own
        lists (:attr:`~suanli.core.policy.PolicyInput.waiting_levels`), not grouped anew."""
        g = self._grouped
        if g is None or g[0] is not inp:
            groups: list[Sequence[int]] = [() for _ in self.levels]
            rank = self._rank_of
            for level, jobs in inp.waiting_levels():
                groups[rank[level]] = jobs
            g = self._grouped = (inp, groups)
        return g[1]

    def order(self, inp: PolicyInput) -> Iterable[int]:
        """The waiting jobs in queue order: higher effective priority first, arrival order
        within a level (``inp.waiting`` itself when there is one level), as far as they
        are read."""
        if self.single:
            return inp.waiting
        return chain.from_iterable(self.waiting(inp))

    def scan(
        self,
        inp: PolicyInput,
        freed: int | None = None,
        pools_of: Callable[[int], int] | None = None,
    ) -> JobScan | LevelScan:
        """A :class:`JobScan` in queue order: by level, highest first, and within a level
        as :class:`JobScan` (arrival order, only jobs that might start)."""
        if self.single:
            return JobScan(inp, freed=freed, pools_of=pools_of)
        return LevelScan(self, inp, freed, pools_of)


class LevelScan:
    """One :class:`JobScan` per level, highest first; :meth:`skip` applies to all."""

    def __init__(
        self,
        pr: Priorities,
        inp: PolicyInput,
        freed: int | None,
        pools_of: Callable[[int], int] | None,
    ) -> None:
        freed = inp.freed if freed is None else freed
        groups = len(pr.levels)
        if inp.full:
            parts = [dataclasses.replace(inp, waiting=g, arrived=()) for g in pr.waiting(inp)]
        else:
            mask = inp.jobs.sig_pools.__getitem__ if pools_of is None else pools_of
            by_sig: list[dict[int, list[int]]] = [{} for _ in range(groups)]
            if freed:
                for sig in inp.waiting_sigs:
                    if mask(sig) & freed:
                        for lv, g in enumerate(pr.groups(inp.waiting_of(sig))):
                            if g:
                                by_sig[lv][sig] = g
            arrived = pr.groups(inp.arrived)
            parts = [
                dataclasses.replace(
                    inp,
                    waiting=(),
                    waiting_sigs=by_sig[lv].keys(),
                    waiting_of=by_sig[lv].__getitem__,
                    arrived=arrived[lv],
                )
                for lv in range(groups)
            ]
        #: One scan per level, highest first.
        self.parts = [JobScan(p, freed=freed, pools_of=pools_of) for p in parts]

    def skip(self, sig: int) -> None:
        """Yield no more jobs of signature ``sig`` this round, at any level."""
        for s in self.parts:
            s.skip(sig)

    def first(self, n: int) -> list[int]:
        """The first ``n`` jobs of the scan."""
        return list(islice(self, n))

    def __iter__(self) -> Iterator[int]:
        for s in self.parts:
            yield from s
