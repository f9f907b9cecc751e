r"""``pollux``: allocate devices to elastic jobs for the best fitness of their speed-ups, as
Pollux does (Qiao et al., OSDI'21), on a homogeneous fleet.

Every round, on each pool (a job runs on its first candidate: this baseline does not choose
accelerator types, as Pollux's cluster is of one type), the jobs that can run there —
running ones and waiting ones — get device counts :math:`n_j \in \{0\} \cup [l_j, h_j]`
(``gang_min`` to ``gang_max``; a job that is not elastic: :math:`\{0, g_j\}`) that
maximise Pollux's fitness with :math:`p = -1`,

.. math::

    F(n) = \Big( \frac{1}{J} \sum_j S_j(n_j)^{p} \Big)^{1/p},
    \qquad \sum_j d_j(n_j) \le D,

:math:`S_j(n) = G_j(n)/G_j(g_j)` the job's speed-up (its goodput over the goodput on its
gang, :meth:`~suanli.core.jobtable.JobTable.resized`), :math:`d_j` the devices held (node
shapes) and *D* the pool's devices. Pollux searches with a genetic algorithm; with concave
speed-ups the objective is separable and concave in each :math:`n_j`, and this baseline
uses the greedy that is exact then:

1. running jobs keep at least their smallest shape (Pollux may suspend a job; this
   baseline never preempts);
2. waiting jobs, in arrival order, get their smallest shape while devices remain (a job
   with :math:`n_j = 0` has :math:`S_j^p = \infty`: any admission raises the fitness);
3. the devices left go, one shape step at a time, to the elastic job whose
   :math:`S_j^{-1}` falls most per device added.

Running jobs then move to their target counts: a shrink at once (it makes room for the
admitted jobs, which start in the next pass), a grow once the job has run ``min_run_s``
since it last (re)started (Pollux re-allocates every 60 s and charges a 30 s restart; the
restart here is the job's own, :mod:`suanli.core.migration`). Nothing weighs energy, cost,
carbon or data: this is the anchor's idea, for comparison (``benchmarks/elastic_bench.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from suanli.core.jobtable import Candidate, JobTable
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Resize, Start
from suanli.policy.registry import register
from suanli.policy.resizing import Share, allocate_fitness, fits_grown, sizes

#: Why jobs start, shrink or grow.
ADMITTED = "admitted by Pollux's allocation (arrival order, its smallest shape first)"
FITNESS = "Pollux's allocation: the best fitness of the jobs' speed-ups (p = -1)"


@register("pollux")
class Pollux:
    """Pollux's allocation, homogeneous (see the module docstring)."""

    name = "pollux"
    moves_jobs = True

    class Params(PolicyParams):
        """Round interval and the least run between a job's (re)start and its growth."""

        tick_s: float = 60.0
        min_run_s: float = 60.0

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.tick_s = params.tick_s
        self.min_run_s = params.min_run_s
        self._table: JobTable | None = None
        self._checked = 0  # jobs of the table checked for elasticity
        self._elastic = False  # any of them elastic

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Allocate every pool (module docstring)."""
        out = PolicyOutput(default_reason="waiting: no devices left in Pollux's allocation")
        if not (inp.full or inp.freed or inp.arrived):
            return out
        jobs = inp.jobs
        by_pool = self._running_shares(inp)
        left = self._left(inp, by_pool)
        # the pools the queue's whole-device jobs go to that still admit; shares always look
        queues = [inp.waiting_of(sig) for sig in inp.waiting_sigs]
        firsts = [cs[0] for cs in (jobs.candidates(q[0]) for q in queues if len(q)) if cs]
        shares_wait = any(c.share for c in firsts)
        open_pools = {c.pool for c in firsts if not c.share and left[c.pool] > 0}
        if not shares_wait and not self._any_elastic(jobs):
            self._admit_fixed(inp, left, by_pool)
            open_pools.clear()
        for j in inp.waiting:
            if not open_pools and not shares_wait:
                break  # no later job is admitted anywhere
            cands = jobs.candidates(j)
            if cands:
                c = cands[0]
                if not c.share and left[c.pool] <= 0:
                    continue  # step 2 admits no more whole-device jobs here: it would skip it
                shapes = [c] if c.share or not jobs.elastic(j) else sizes(jobs, j, c)
                if not c.share and shapes[0].devices <= left[c.pool]:
                    left[c.pool] -= shapes[0].devices
                    if left[c.pool] <= 0:
                        open_pools.discard(c.pool)
                by_pool.setdefault(c.pool, []).append(Share(j, shapes, None, c.rate))
        for pool, shares in sorted(by_pool.items()):
            self._allocate(inp, pool, shares)
            self._carry_out(inp, shares, out)
        if out.resizes:
            out.again = True
        return out

    @staticmethod
    def _admit_fixed(inp: PolicyInput, left: list[int], by_pool: dict[int, list[Share]]) -> None:
        """Step 2 when no job is elastic and none waits for a shared device: each job has
        one shape, its first candidate's, the same for every job of a signature. A pool's
        admitted jobs are, in arrival order, those whose shape fits in what the jobs
        before them left; a job it does not admit gets no shape (:func:`allocate_fitness`
        gives it none either, and it changes nothing for the others), so only admitted
        jobs are listed, and a signature whose shape no longer fits is dropped (what is
        left only falls): per round, work in the signatures and the jobs admitted, not in
        the queue's depth."""
        jobs, submit = inp.jobs, inp.jobs.submit
        by_first: dict[int, list[tuple[Candidate, Sequence[int]]]] = {}
        for sig in inp.waiting_sigs:
            queue = inp.waiting_of(sig)
            cands = jobs.candidates(queue[0]) if len(queue) else ()
            if cands and cands[0].devices <= left[cands[0].pool]:
                by_first.setdefault(cands[0].pool, []).append((cands[0], queue))
        for pool, sigs in sorted(by_first.items()):
            heap = []
            for k, (_, queue) in enumerate(sigs):
                it = iter(queue)
                j = next(it)
                heap.append((submit[j], j, k, it))
            heapq.heapify(heap)
            while heap and left[pool] > 0:
                _, j, k, it = heapq.heappop(heap)
                c = sigs[k][0]
                if c.devices > left[pool]:
                    continue  # nor any later job of its signature
                left[pool] -= c.devices
                by_pool.setdefault(pool, []).append(Share(j, [c], None, c.rate))
                nxt = next(it, None)
                if nxt is not None:
                    heapq.heappush(heap, (submit[nxt], nxt, k, it))

    def _running_shares(self, inp: PolicyInput) -> dict[int, list[Share]]:
        """Per pool, the running jobs that may change size there, with their shapes.

        A running job that cannot (not elastic, on a shared device, or on a site that
        cannot resize it) has one shape, the one it holds: step 1 gives it back the devices
        it holds, step 3 never grows it and nothing is carried out for it, so leaving it
        out of its pool's allocation — its devices neither free nor counted — changes no
        job's shape (and a pool with no job that can change size and no waiting job
        admitted is not allocated at all). With no elastic job in the table, none is
        looked at."""
        by_pool: dict[int, list[Share]] = {}
        jobs = inp.jobs
        if not self._any_elastic(jobs):
            return by_pool
        for pool in range(inp.tables.n_pools):
            for j in sorted(inp.running_on(pool)):
                if not jobs.elastic(j):
                    continue
                run = inp.running[j]
                on = run.candidate
                base = jobs.base_candidate(j, pool)
                if base is None or on.share or not run.resizable:
                    continue
                shapes, unit = sizes(jobs, j, base), base.rate
                by_pool.setdefault(pool, []).append(Share(j, shapes, on, unit))
        return by_pool

    def _any_elastic(self, jobs: JobTable) -> bool:
        """Whether any job of the table is elastic (checked once per job as it grows)."""
        if self._table is not jobs:
            self._table, self._checked, self._elastic = jobs, 0, False
        if not self._elastic and self._checked < len(jobs.jobs):
            self._elastic = any(jobs.elastic(j) for j in range(self._checked, len(jobs.jobs)))
            self._checked = len(jobs.jobs)
        return self._elastic

    @staticmethod
    def _left(inp: PolicyInput, by_pool: dict[int, list[Share]]) -> list[int]:
        """Per pool, the devices step 2 of :func:`~suanli.policy.resizing.allocate_fitness`
        starts from: free ones and those running jobs hold, less their smallest shapes. Once
        the waiting jobs admitted have taken them, no later whole-device job is admitted
        there, so the queue beyond is not looked at (a deep queue costs a look-up per job)."""
        left = [inp.capacity.free_devices(pool) for pool in range(inp.tables.n_pools)]
        for pool, shares in by_pool.items():
            for s in shares:
                if not s.shapes[0].share and s.now is not None:
                    left[pool] += s.now.devices - s.shapes[0].devices
        return left

    def _allocate(self, inp: PolicyInput, pool: int, shares: list[Share]) -> None:
        """Steps 1–3 of the module docstring (:func:`~suanli.policy.resizing.allocate_fitness`)
        over the pool's devices: free ones and those its running jobs hold."""
        held = sum(s.now.devices for s in shares if s.now is not None and not s.now.share)
        whole = [s for s in shares if not s.shapes[0].share]
        for s in shares:
            if s.shapes[0].share and s.now is not None:
                s.pick = 0
        allocate_fitness(whole, inp.capacity.free_devices(pool) + held)
        for s in shares:  # a share waits for the usual check of room when it starts
            if s.shapes[0].share and s.now is None:
                s.pick = 0

    def _carry_out(self, inp: PolicyInput, shares: list[Share], out: PolicyOutput) -> None:
        """Shrinks, then starts that fit, then grows that fit and are due."""
        cap, jobs = inp.capacity, inp.jobs
        grows = []
        for s in shares:
            if s.now is None or s.pick < 0 or len(s.shapes) == 1:
                continue
            to = s.shapes[s.pick]
            if to.devices < s.now.devices:
                out.resizes.append(Resize(s.job, to, f"shrunk: {FITNESS}"))
            elif to.devices > s.now.devices:
                grows.append((s, to))
        for s in shares:
            if s.now is None and s.pick >= 0:
                to = s.shapes[s.pick]
                tenant = jobs.tenant[s.job]
                if cap.why_not(tenant, to) is None:
                    cap.take(tenant, to)
                    out.starts.append(Start(s.job, to, ADMITTED))
                else:
                    out.reasons[s.job] = "admitted by Pollux's allocation, starting as room frees"
        for s, to in grows:
            run = inp.running[s.job]
            if inp.now - run.started_s < self.min_run_s:
                continue
            if fits_grown(inp, cap, run, to, keep=True):
                out.resizes.append(Resize(s.job, to, f"grown: {FITNESS}"))
