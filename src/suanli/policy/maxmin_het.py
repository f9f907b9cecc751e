"""``maxmin-het``: heterogeneity-aware max-min fairness over the throughput matrix (Gavel, OSDI'20).

Jobs (running and waiting) are grouped into classes *k* of ``n_k`` interchangeable
jobs (as for the ``suanli`` policy). ``X_kp`` is how many jobs of class *k* should
run on pool *p*; a job of class *k* on *p* runs at ``r_kp`` and needs ``d_kp``
devices; ``r*_k`` is its rate on its fastest pool. Gavel's policy, with jobs of a
class sharing its allocation equally and throughput normalised by the best rate,
is the LP

.. math::

    \\max_{X \\ge 0,\\, z} \\; z \\quad\\text{s.t.}\\quad
    z \\le \\frac{\\sum_p r_{kp} X_{kp}}{w_{t(k)}\\, n_k\\, r^*_k} \\;\\; \\forall k, \\qquad
    \\sum_p X_{kp} \\le n_k \\;\\; \\forall k, \\qquad
    \\sum_k d_{kp} X_{kp} \\le D_p \\;\\; \\forall p,

(``D_p`` the pool's devices, ``w_t`` the tenant's weight) solved with HiGHS.
Gavel realises the fractional allocation by time-sharing in rounds (leases of
six minutes, preemption at round ends). Here preemption loses work since the last
checkpoint, so this implementation realises it without preemption: every round
(``tick_s``, default six minutes) it computes ``X`` and starts waiting jobs of each
class on the pools where fewer than ``⌈X_kp⌉`` of its jobs run, largest deficit
first, as capacity allows. Between rounds nothing starts (Gavel's round-based
mechanism).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from pydantic import Field
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Start
from suanli.policy.common import explain
from suanli.policy.registry import register

#: Why a job started: its class had less than the max-min allocation gives it there.
MAXMIN_START = "max-min fair allocation: its class is below its share of this pool"


@register("maxmin-het")
class MaxMinHet:
    """Gavel's heterogeneity-aware max-min fairness, realised without preemption."""

    name = "maxmin-het"

    class Params(PolicyParams):
        """Knobs of maxmin-het."""

        tick_s: float = Field(360.0, gt=0, description="round length (Gavel uses 6 minutes)")
        max_classes: int = Field(2000, gt=0)

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.p = params
        self.tick_s = params.tick_s

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Solve the max-min LP and start jobs towards its allocation."""
        out = PolicyOutput(default_reason="waiting for the next round (max-min allocation)")
        if not inp.full or not len(inp.waiting):
            return out
        jobs = inp.jobs
        classes: dict[tuple[int, int], list[int]] = defaultdict(list)
        running: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for j in inp.waiting:
            classes[(jobs.signature(j), jobs.tenant[j])].append(j)
        for j in inp.running:
            key = (jobs.signature(j), jobs.tenant[j])
            classes.setdefault(key, [])
            running[key][inp.running[j].candidate.pool] += 1
        keys = sorted(classes, key=lambda k: (-len(classes[k]), k))[: self.p.max_classes]
        x = self._solve(inp, keys, classes, running)
        cap = inp.capacity
        deficits = []
        for ki, key in enumerate(keys):
            for ci, c in enumerate(jobs.sig_candidates[key[0]]):
                target = math.ceil(x[ki][ci] - 1e-6)
                gap = target - running[key][c.pool]
                if gap > 0 and classes[key]:
                    deficits.append((-gap, ki, ci))
        deficits.sort()
        for _, ki, ci in deficits:
            key = keys[ki]
            c = jobs.sig_candidates[key[0]][ci]
            gap = math.ceil(x[ki][ci] - 1e-6) - running[key][c.pool]
            queue = classes[key]
            while gap > 0 and queue and cap.why_not(key[1], c) is None:
                j = queue.pop(0)
                cap.take(key[1], c)
                out.starts.append(Start(j, c, MAXMIN_START))
                running[key][c.pool] += 1
                gap -= 1
        for key in keys:
            for j in classes[key][:1]:
                out.reasons[j] = "max-min allocation gives its class no more room now: " + explain(
                    inp, j, "its class has its share"
                )
        return out

    def _solve(
        self,
        inp: PolicyInput,
        keys: list[tuple[int, int]],
        classes: dict[tuple[int, int], list[int]],
        running: dict[tuple[int, int], dict[int, int]],
    ) -> list[np.ndarray]:
        """``X`` per class and candidate from the LP in the module docstring."""
        jobs, t = inp.jobs, inp.tables
        col_k, col_rate, col_dev, col_pool, sizes = [], [], [], [], []
        n_k = np.zeros(len(keys))
        best = np.zeros(len(keys))
        for ki, key in enumerate(keys):
            arrays = jobs.sig_arrays(key[0])
            sizes.append(arrays.rates.size)
            col_k.append(np.full(arrays.rates.size, ki))
            col_rate.append(arrays.rates)
            col_dev.append(arrays.amount)
            col_pool.append(arrays.pools)
            n_k[ki] = len(classes[key]) + sum(running[key].values())
            best[ki] = arrays.rates.max()
        k = np.concatenate(col_k)
        rate = np.concatenate(col_rate)
        dev = np.concatenate(col_dev).astype(float)
        pool = np.concatenate(col_pool)
        m, nk = k.size, len(keys)
        weight = np.asarray([float(t.tenant_weight[key[1]]) for key in keys])
        scale = 1.0 / (weight * n_k * best)
        cols = np.arange(m)
        # rows 0..nk-1: z − Σ_p r X scale ≤ 0; nk..2nk-1: Σ_p X ≤ n_k; then one per pool
        rows = np.concatenate([k, nk + k, 2 * nk + pool, np.arange(nk)])
        cidx = np.concatenate([cols, cols, cols, np.full(nk, m)])
        vals = np.concatenate([-rate * scale[k], np.ones(m), dev, np.ones(nk)])
        up = np.asarray([float(p.up_devices) for p in inp.capacity.state.pools])
        ub = np.concatenate([np.zeros(nk), n_k, up])
        a = coo_matrix((vals, (rows, cidx)), shape=(2 * nk + up.size, m + 1)).tocsr()
        cost = np.zeros(m + 1)
        cost[m] = -1.0
        res = linprog(cost, A_ub=a, b_ub=ub, bounds=(0, None), method="highs")
        x = res.x if res.status == 0 and res.x is not None else np.zeros(m + 1)
        out, start = [], 0
        for size in sizes:
            out.append(x[start : start + size])
            start += size
        return out
