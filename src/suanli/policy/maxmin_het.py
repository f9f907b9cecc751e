"""``maxmin-het``: Gavel's heterogeneity-aware max-min fairness (Narayanan et al., OSDI'20).

Gavel computes an *allocation* ``X``: ``X_mp`` is the fraction of time job *m* should run on
device type *p*, and realises it in *rounds*, placing jobs anew every round so that each
job's share of rounds on each type tracks ``X``. Here a "type" is a pool (a site's devices
of one accelerator type), and all active jobs (waiting and running) take part.

**Symbols.** For job *m* on pool *p* (one of its candidates): ``r_mp`` its rate (PFLOP/s,
all its devices together) and ``d_mp`` the devices it holds there (node-shape rounding
included, a fraction for a share of one device); ``s_m`` its *scale factor*, the devices it
asks for (its gang; φ for a job that takes a share φ of one device); ``w_m`` its tenant's
weight; ``D_p`` the pool's devices that are up; ``W = Σ_m w_m`` over the active jobs.

**Equal share** (Gavel's ``X^equal``): job *m* gets the fraction ``w_m / W`` of every
pool's device time, run at ``d_mp`` devices, and at most all of its time:

.. math::

    a_{mp} = \\frac{w_m}{W}\\,\\frac{D_p}{d_{mp}}, \\qquad
    X^{eq}_{mp} = \\frac{a_{mp}}{\\max(1, \\sum_q a_{mq})}, \\qquad
    E_m = \\sum_p r_{mp} X^{eq}_{mp}.

(Gavel's code obtains ``X^equal`` from its max-min LP with every throughput set to 1, whose
optimum is not unique across types; the split above is one optimum of that LP when no job
is capped at all of its time, and it is deterministic.)

**The LP** (mode ``gavel``; Gavel's ``MaxMinFairness_Perf`` objective, solved with HiGHS):

.. math::

    \\max_{X \\ge 0} \\; \\min_m \\; \\frac{s_m}{w_m}\\,
        \\frac{\\sum_p r_{mp} X_{mp}}{E_m}
    \\quad\\text{s.t.}\\quad
    \\sum_p X_{mp} \\le 1 \\;\\; \\forall m, \\qquad
    \\sum_m d_{mp} X_{mp} \\le D_p \\;\\; \\forall p,

written as ``max z`` with ``z ≤ (s_m / (w_m E_m)) Σ_p r_mp X_mp`` for every *m*. Jobs of the
same signature and tenant have the same ``r``, ``d``, ``s``, ``w`` and ``E``; the LP is
symmetric in them and convex, so it has an optimum in which they share equally: it is solved
over classes *k* of ``n_k`` such jobs with ``Y_kp = Σ_{m∈k} X_mp`` (``Σ_p Y_kp ≤ n_k``,
``z ≤ (s_k / (w_k E_k n_k)) Σ_p r_kp Y_kp``) and every job of the class gets
``X_mp = Y_kp / n_k``. At ``X = X^eq`` job *m*'s term is ``s_m / w_m``: as in Gavel's code,
which multiplies by the scale factor after normalising by an equal share that already
accounts for it, a job on more devices reaches the common minimum with less (with two 4-device
jobs and an 8-device job on 8 devices the latter gets 0.2 of the time, its equal share ⅓;
tests/policy/test_maxmin_het_gavel.py). Only the minimum is maximised, as in Gavel's LP, so
the optimum is rarely unique: with ``fill`` (the default) a second LP takes, among the optima
(``z ≥ z*``), one that maximises ``Σ_m (s_m / (w_m E_m)) Σ_p r_mp X_mp`` (the first step of
the water-filling variant in Gavel's code, ``max_min_fairness_water_filling``); without it,
jobs above the minimum get whatever optimal vertex HiGHS returns (deterministic either way).

**Rounds** (``tick_s``, six minutes as Gavel's; the control loop runs a full round at every
multiple of ``tick_s``). At the first scheduling instant of each round (``⌊now / tick_s⌋``
changed, and some job is active) the policy recomputes ``X`` and places jobs for the round
by Gavel's priority rule: ``R_m`` is the number of rounds job *m* has been active in,
``n_mp`` the rounds it ran on *p*, and the priority of *m* on *p* is ``X_mp / (n_mp / R_m)``
(``X_mp · 10⁹`` while ``n_mp = 0``; 0 where ``X_mp = 0``). Entries ``(m, p)`` are taken in
order of priority, then ``X_mp``, then arrival (one queue over all pools, Gavel's
``enable_global_queue`` option; its default walks the types one after another), each job at most
once, while the pool has ``d_mp`` devices left in the round's budget (its devices that are
up; power, quotas and node shapes are checked at the start) — entries of priority 0
included, so no device idles while a job could use it, as in Gavel. Running jobs that may
not be stopped keep their place, their devices out of the budget first: those not
preemptible, and (``checkpoint_aligned``, the default) those that have not just
checkpointed (``may_stop``: computing ``c_m ≥ Δ_m`` since the last (re)start and
``c_m mod Δ_m ≤ tick_s``, ``Δ_m`` the checkpoint interval). Then:

* a running job not placed, or placed on another pool, is **preempted** (moved): as any
  preemption in suanli it loses the work since its last checkpoint (with
  ``checkpoint_aligned``, less than one round's) and pays its restart cost when it starts
  again (:mod:`suanli.core.state`). Gavel's jobs checkpoint at the end of every lease and its
  simulator moves them for free; suanli's checkpoint every ``Δ_m`` and cannot be asked for
  one, so stopping them at any six-minute round (``checkpoint_aligned=False``) loses all
  their work when ``Δ_m`` is longer than a round: with the defaults (``Δ`` = 1 h, restart
  300 s) no job finishes. With ``checkpoint_aligned`` a job time-shares in stints of at least
  one checkpoint interval, and the priority rule evens out its share over later rounds;
* a placed waiting job starts on its pool if it fits now; the policy asks for a second pass
  at once (``again``) to start those that fit only once the preempted jobs have gone, and
  tries placed jobs that still do not fit again at later scheduling instants of the round. A
  job that arrives during a round waits for the next (as in Gavel).

**Preference order**: a job's list of accepted types is an order of preference, held
softly: in both LPs its rate ``k`` steps down the list counts as ``β^k r_mp`` (``β`` =
``prefer_factor``, default ½; the equal share ``E_m`` is taken with the same rates), so the
allocation gives a job time on a less-preferred type only where that is worth twice as much
per step to the max-min objective — and still gives it that time rather than none, as
Gavel's rounds fill every device a job could use.

**Priorities** (:mod:`suanli.policy.priority`): the allocation and the round priority
decide among jobs of equal effective priority only. Entries are taken by effective priority
first (higher first), then as above, so a job is placed before every job of a lower level —
on whatever pool has room, entries of ``X_mp = 0`` included — and a running job is stopped
at a round's start (not placed) only in favour of jobs of a higher level or of its own
level by Gavel's rule (time-sharing among equals); never for a lower one. Mode ``greedy``
takes each class's waiting jobs in queue order and its deficits by the priority of the
class's first waiting job, then by gap.

``n_mp`` counts a round for a job placed and running on *p* (credited when it keeps its place
or starts). These counts are the policy's own record (a control plane that restarts begins
them afresh); everything else comes from :class:`~suanli.core.policy.PolicyInput`.

**Mode ``greedy``** (suanli's earlier form, kept for comparison with earlier benchmark
figures): per class, throughput normalised by the *best* rate rather than by ``E``, no scale
factor, and never preempts: every ``tick_s`` it starts waiting jobs of each class on the pools
where fewer than ``⌈X_kp⌉`` of its jobs run, largest gap first, as capacity allows — the LP

.. math::

    \\max_{X \\ge 0,\\, z} \\; z \\quad\\text{s.t.}\\quad
    z \\le \\frac{\\sum_p r_{kp} X_{kp}}{w_{t(k)}\\, n_k\\, r^*_k} \\;\\; \\forall k, \\qquad
    \\sum_p X_{kp} \\le n_k \\;\\; \\forall k, \\qquad
    \\sum_k d_{kp} X_{kp} \\le D_p \\;\\; \\forall p,

with ``X_kp`` jobs of class *k* on *p* and ``r*_k`` the class's best rate. It is not Gavel's
policy: it neither normalises by the equal share nor time-shares.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, PolicyOutput, PolicyParams, Preempt, Start
from suanli.policy.common import explain
from suanli.policy.priority import Priorities
from suanli.policy.registry import register

#: Why a job started (mode ``greedy``): its class had less than the allocation gives it there.
MAXMIN_START = "max-min fair allocation: its class is below its share of this pool"
#: Why a job started or kept running this round (mode ``gavel``).
ROUND_START = "Gavel max-min round: highest priority (allocation / share of rounds received)"
#: Why a job was stopped at a round's start (mode ``gavel``).
ROUND_PREEMPT = "Gavel max-min round: jobs with higher priority take its devices this round"
#: Why a job was moved (mode ``gavel``).
ROUND_MOVE = "Gavel max-min round: placed on another pool this round"
#: Why a job waits (mode ``gavel``).
ROUND_WAIT = "waiting for a round in which its priority places it (Gavel max-min time-sharing)"

#: Priority of an entry whose job has not yet run there: ``X_mp`` times this (Gavel's).
FIRST_PRIORITY = 1e9


@dataclass(frozen=True)
class Allocation:
    """The solution of the LP of :func:`gavel_allocation`.

    ``y[k]`` holds, per candidate of class *k*, ``Y_kp = Σ_{m∈k} X_mp`` (the class's total
    time fraction there); ``equal[k]`` is ``E_k``; ``z`` the optimal minimum.
    """

    y: list[np.ndarray]
    equal: np.ndarray
    z: float


def gavel_allocation(
    rates: Sequence[np.ndarray],
    devices: Sequence[np.ndarray],
    pools: Sequence[np.ndarray],
    scale: np.ndarray,
    weight: np.ndarray,
    count: np.ndarray,
    capacity: np.ndarray,
    fill: bool = True,
) -> Allocation:
    """Gavel's max-min LP over classes (module docstring), solved with HiGHS.

    Class *k* has ``count[k]`` jobs, each with scale factor ``scale[k]`` and weight
    ``weight[k]``; its candidates are on ``pools[k]`` with rates ``rates[k]`` and
    ``devices[k]`` held; ``capacity[p]`` is ``D_p``. Classes without a candidate get nothing.
    With ``fill``, a second LP picks, among the optima (``z ≥ z*``), one that maximises the
    sum of the jobs' terms.
    """
    nk = len(rates)
    cap = np.asarray(capacity, dtype=float)
    total_w = float(np.dot(weight, count))
    equal = np.zeros(nk)
    if nk == 0 or total_w <= 0:
        return Allocation([np.zeros(len(r)) for r in rates], equal, 0.0)
    for k in range(nk):
        if len(rates[k]) == 0:
            continue
        a = weight[k] / total_w * cap[pools[k]] / devices[k]
        x_eq = a / max(1.0, float(a.sum()))
        equal[k] = float(np.dot(rates[k], x_eq))
    live = [k for k in range(nk) if equal[k] > 0]
    if not live:
        return Allocation([np.zeros(len(r)) for r in rates], equal, 0.0)
    col_k = np.concatenate([np.full(len(rates[k]), i) for i, k in enumerate(live)])
    rate = np.concatenate([rates[k] for k in live]).astype(float)
    dev = np.concatenate([devices[k] for k in live]).astype(float)
    pool = np.concatenate([pools[k] for k in live]).astype(np.int64)
    n_live = len(live)
    n = np.asarray([float(count[k]) for k in live])
    coef = np.asarray([scale[k] / (weight[k] * equal[k] * count[k]) for k in live])
    m = col_k.size
    cols = np.arange(m)
    # rows 0..K-1: z − coef_k Σ_p r Y ≤ 0; K..2K-1: Σ_p Y ≤ n_k; then one per pool
    rows = np.concatenate([col_k, n_live + col_k, 2 * n_live + pool, np.arange(n_live)])
    cidx = np.concatenate([cols, cols, cols, np.full(n_live, m)])
    vals = np.concatenate([-rate * coef[col_k], np.ones(m), dev, np.ones(n_live)])
    ub = np.concatenate([np.zeros(n_live), n, cap])
    a_ub = coo_matrix((vals, (rows, cidx)), shape=(2 * n_live + cap.size, m + 1)).tocsr()
    cost = np.zeros(m + 1)
    cost[m] = -1.0
    res = linprog(cost, A_ub=a_ub, b_ub=ub, bounds=(0, None), method="highs")
    ok = res.status == 0 and res.x is not None
    x = np.clip(res.x, 0.0, None) if ok else np.zeros(m + 1)
    if ok and fill and x[m] > 0:
        # Σ_m (s_m / (w_m E_m)) Σ_p r_mp X_mp = Σ_k n_k coef_k Σ_p r_kp Y_kp, with z ≥ z*
        cost2 = np.zeros(m + 1)
        cost2[:m] = -(n * coef)[col_k] * rate
        bounds = [(0.0, None)] * m + [(x[m] * (1.0 - 1e-9), None)]
        res2 = linprog(cost2, A_ub=a_ub, b_ub=ub, bounds=bounds, method="highs")
        if res2.status == 0 and res2.x is not None:
            x = np.clip(res2.x, 0.0, None)
    y = [np.zeros(len(r)) for r in rates]
    start = 0
    for k in live:
        size = len(rates[k])
        y[k] = x[start : start + size]
        start += size
    return Allocation(y, equal, float(x[m]) if ok else 0.0)


@register("maxmin-het")
class MaxMinHet:
    """Gavel's heterogeneity-aware max-min fairness in rounds (mode ``gavel``), or suanli's
    earlier form without preemption (mode ``greedy``); see the module docstring."""

    name = "maxmin-het"

    class Params(PolicyParams):
        """Knobs of maxmin-het."""

        tick_s: float = Field(360.0, gt=0, description="round length (Gavel uses 6 minutes)")
        #: ``gavel``: Gavel's LP and round-based time-sharing (preempts between rounds);
        #: ``greedy``: the earlier form (best-rate normalisation, never preempts).
        mode: Literal["gavel", "greedy"] = "gavel"
        #: Mode ``gavel``: stop a running job at a round's start only just after a
        #: checkpoint (``may_stop``); False: at any round's start, as Gavel's simulator.
        checkpoint_aligned: bool = True
        #: Among the LP's optima take one that maximises the sum of the jobs' normalised
        #: throughputs (the first step of Gavel's water-filling variant); False: the
        #: optimum HiGHS returns for the max-min LP alone.
        fill: bool = True
        max_classes: int = Field(2000, gt=0)
        #: A job's list of accepted types is an order of preference: the LPs count its rate
        #: ``k`` steps down the list at ``prefer_factor ** k`` (1: no preference).
        prefer_factor: float = Field(0.5, gt=0, le=1)

    def __init__(self, params: Params, rng: np.random.Generator) -> None:
        self.p = params
        self.tick_s = params.tick_s
        #: The round last planned (``⌊now / tick_s⌋``).
        self.round: int | None = None
        #: R_m: rounds job m has been active in.
        self.active_rounds: dict[int, int] = {}
        #: n_mp: rounds job m ran on pool p.
        self.received: dict[int, dict[int, int]] = {}
        #: Jobs placed this round that have yet to start, with where.
        self.pending: list[tuple[int, Candidate]] = []
        #: The last allocation per job: X_mp per candidate (for tests and reports).
        self.allocation: dict[int, np.ndarray] = {}
        self.priorities = Priorities()

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Mode ``gavel``: plan a round at each new round, else start placed jobs that fit
        now; mode ``greedy``: the earlier form."""
        self.priorities.update(inp)
        if self.p.mode == "greedy":
            return self._greedy(inp)
        out = PolicyOutput(default_reason=ROUND_WAIT)
        r = math.floor(inp.now / self.tick_s + 1e-9)
        if r != self.round:
            if self._plan(inp, out):
                self.round = r  # else (nothing active yet) the round is planned when there is
        elif self.pending:
            self._start_pending(inp, out)
        return out

    # -- mode gavel -------------------------------------------------------------------------
    def _classes(
        self, inp: PolicyInput
    ) -> tuple[list[tuple[int, int]], dict[tuple[int, int], list[int]]]:
        jobs = inp.jobs
        classes: dict[tuple[int, int], list[int]] = defaultdict(list)
        for j in inp.waiting:
            if jobs.candidates(j):
                classes[(jobs.signature(j), jobs.tenant[j])].append(j)
        for j in sorted(inp.running):
            classes[(jobs.signature(j), jobs.tenant[j])].append(j)
        keys = sorted(classes, key=lambda k: (-len(classes[k]), k))[: self.p.max_classes]
        return keys, classes

    def solve(self, inp: PolicyInput) -> dict[int, np.ndarray]:
        """``X_mp`` per active job and candidate (its candidates' order), from
        :func:`gavel_allocation` over classes of jobs with one signature and tenant."""
        jobs, t = inp.jobs, inp.tables
        keys, classes = self._classes(inp)
        rates, devices, pools, scale, weight, count = [], [], [], [], [], []
        for sig, tenant in keys:
            arrays = jobs.sig_arrays(sig)
            rates.append(self._valued(arrays.rates, arrays.ranks))
            devices.append(arrays.amount)
            pools.append(arrays.pools)
            first = jobs.sig_candidates[sig][0] if len(arrays.rates) else None
            if first is not None and first.share:
                scale.append(first.share / 1000)
            else:
                scale.append(float(max(jobs.gang[classes[(sig, tenant)][0]], 1)))
            weight.append(float(t.tenant_weight[tenant]))
            count.append(len(classes[(sig, tenant)]))
        cap = np.asarray([float(p.up_devices) for p in inp.capacity.state.pools])
        alloc = gavel_allocation(
            rates,
            devices,
            pools,
            np.asarray(scale),
            np.asarray(weight),
            np.asarray(count, dtype=float),
            cap,
            fill=self.p.fill,
        )
        x: dict[int, np.ndarray] = {}
        for k, key in enumerate(keys):
            members = classes[key]
            share = alloc.y[k] / len(members)
            for j in members:
                x[j] = share
        return x

    def _valued(self, rates: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """Rates as the LPs count them: ``r · prefer_factor ** rank`` (module docstring)."""
        if self.p.prefer_factor >= 1.0 or not ranks.any():
            return rates
        out: np.ndarray = rates * self.p.prefer_factor**ranks
        return out

    def _plan(self, inp: PolicyInput, out: PolicyOutput) -> bool:
        """A new round: allocation, priorities, the round's placement, preemptions, starts.
        Returns whether any job was active."""
        jobs = inp.jobs
        before = [j for j, _ in self.pending]
        self.pending = []
        x = self.solve(inp)
        self.allocation = x
        active = set(x)
        for j in inp.running:
            active.add(j)
        # forget jobs that are no longer active (done, ended)
        self.active_rounds = {j: n for j, n in self.active_rounds.items() if j in active}
        self.received = {j: d for j, d in self.received.items() if j in active}
        left = [float(p.up_devices) for p in inp.capacity.state.pools]
        placed: dict[int, Candidate] = {}
        for j in sorted(inp.running):
            run = inp.running[j]
            if not (run.preemptible and j in x and self.may_stop(inp, j)):  # keeps its place
                placed[j] = run.candidate
                left[run.candidate.pool] -= run.candidate.amount
        rank = self.priorities.rank
        entries: list[tuple[int, float, float, float, int, int]] = []
        for j, xj in x.items():
            if j in placed:
                continue
            rounds = self.active_rounds.get(j, 0)
            got = self.received.get(j, {})
            for ci, c in enumerate(jobs.candidates(j)):
                if c.rate <= 0:
                    continue
                xv = float(xj[ci])
                if xv <= 1e-9:
                    prio = 0.0
                else:
                    n = got.get(c.pool, 0)
                    prio = xv * FIRST_PRIORITY if n == 0 or rounds == 0 else xv * rounds / n
                entries.append((rank(j), -prio, -xv, jobs.submit[j], j, ci))
        for j in inp.waiting:  # classes beyond max_classes: X = 0, spare devices only
            if j not in x:
                for ci in range(len(jobs.candidates(j))):
                    entries.append((rank(j), 0.0, 0.0, jobs.submit[j], j, ci))
        entries.sort()
        order: dict[int, int] = {}  # placement order of the jobs placed by priority
        for _, _, _, _, j, ci in entries:
            if j in placed:
                continue
            cur = inp.running.get(j)
            cand = jobs.candidates(j)[ci]
            if cur is not None and cur.candidate.pool == cand.pool:
                cand = cur.candidate
            if cand.amount <= left[cand.pool] + 1e-9:
                placed[j] = cand
                left[cand.pool] -= cand.amount
                order[j] = len(order)
        for j in active:
            self.active_rounds[j] = self.active_rounds.get(j, 0) + 1
        for j in sorted(inp.running):
            held = inp.running.held(j)
            to = placed.get(j)
            if to is not None and to.pool == held.pool:
                self._credit(j, to.pool)  # keeps its place this round
                continue
            if to is None:
                out.preempts.append(Preempt(j, ROUND_PREEMPT))
            else:
                out.preempts.append(Preempt(j, f"{ROUND_MOVE} ({inp.tables.pool_label(to.pool)})"))
                self.pending.append((j, to))
        cap = inp.capacity
        starts = sorted(
            ((order[j], j, c) for j, c in placed.items() if j not in inp.running),
            key=lambda e: e[0],
        )
        for _, j, c in starts:
            if cap.why_not(jobs.tenant[j], c) is None:
                cap.take(jobs.tenant[j], c)
                out.starts.append(Start(j, c, ROUND_START))
                self._credit(j, c.pool)
            else:
                self.pending.append((j, c))
                out.reasons[j] = "placed this round, waiting for room: " + explain(inp, j)
        for j in before:  # placed last round but not this one: say so
            if j not in placed and j not in inp.running:
                out.reasons[j] = ROUND_WAIT
        self.pending.sort(key=lambda e: order[e[0]])
        out.again = bool(out.preempts) and bool(self.pending)
        return bool(active)

    def _start_pending(self, inp: PolicyInput, out: PolicyOutput) -> None:
        """Start the jobs placed this round that fit now (after the round's preemptions,
        or as running jobs end)."""
        cap = inp.capacity
        waiting = set(inp.waiting)
        keep = []
        for j, c in self.pending:
            if j not in waiting:
                if j in inp.running:
                    keep.append((j, c))  # still stopping
                continue
            tenant = inp.jobs.tenant[j]
            if cap.why_not(tenant, c) is None:
                cap.take(tenant, c)
                out.starts.append(Start(j, c, ROUND_START))
                self._credit(j, c.pool)
            else:
                keep.append((j, c))
                out.reasons[j] = "placed this round, waiting for room: " + explain(inp, j)
        self.pending = keep

    def may_stop(self, inp: PolicyInput, j: int) -> bool:
        """Whether running job ``j`` may be stopped at this round's start: with
        ``checkpoint_aligned``, only once it has computed at least one checkpoint interval
        ``Δ_j`` since its (re)start and its last checkpoint is at most ``tick_s`` old
        (``c ≥ Δ_j`` and ``c mod Δ_j ≤ tick_s``, ``c`` its computing time; a job with
        ``Δ_j ≤ 0`` keeps all its work and may be stopped once it computes)."""
        if not self.p.checkpoint_aligned:
            return True
        c = inp.now - inp.running.compute_start(j) + 1e-6
        if c < 0:
            return False  # still restarting or copying its data
        interval = inp.jobs.checkpoint_s[j]
        if interval <= 0:
            return True
        return c >= interval and c % interval <= self.tick_s + 2e-6

    def _credit(self, j: int, pool: int) -> None:
        """n_mp += 1: job ``j`` runs on ``pool`` this round."""
        got = self.received.setdefault(j, {})
        got[pool] = got.get(pool, 0) + 1

    # -- mode greedy (the earlier form) ---------------------------------------------------
    def _greedy(self, inp: PolicyInput) -> PolicyOutput:
        """Solve the best-rate max-min LP and start jobs towards its allocation."""
        out = PolicyOutput(default_reason="waiting for the next round (max-min allocation)")
        if not inp.full or not len(inp.waiting):
            return out
        jobs = inp.jobs
        classes: dict[tuple[int, int], list[int]] = defaultdict(list)
        running: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        pr = self.priorities
        for j in pr.order(inp):  # each class's jobs in queue order
            classes[(jobs.signature(j), jobs.tenant[j])].append(j)
        for j in inp.running:
            key = (jobs.signature(j), jobs.tenant[j])
            classes.setdefault(key, [])
            running[key][inp.running.held(j).pool] += 1
        keys = sorted(classes, key=lambda k: (-len(classes[k]), k))[: self.p.max_classes]
        x = self._solve_greedy(inp, keys, classes, running)
        cap = inp.capacity
        deficits = []
        for ki, key in enumerate(keys):
            for ci, c in enumerate(jobs.sig_candidates[key[0]]):
                target = math.ceil(x[ki][ci] - 1e-6)
                gap = target - running[key][c.pool]
                if gap > 0 and classes[key]:
                    deficits.append((pr.rank(classes[key][0]), -gap, ki, ci))
        deficits.sort()
        for _, _, ki, ci in deficits:
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

    def _solve_greedy(
        self,
        inp: PolicyInput,
        keys: list[tuple[int, int]],
        classes: dict[tuple[int, int], list[int]],
        running: dict[tuple[int, int], dict[int, int]],
    ) -> list[np.ndarray]:
        """``X`` per class and candidate from the best-rate LP (mode ``greedy``)."""
        jobs, t = inp.jobs, inp.tables
        col_k, col_rate, col_dev, col_pool, sizes = [], [], [], [], []
        n_k = np.zeros(len(keys))
        best = np.zeros(len(keys))
        for ki, key in enumerate(keys):
            arrays = jobs.sig_arrays(key[0])
            sizes.append(arrays.rates.size)
            col_k.append(np.full(arrays.rates.size, ki))
            col_rate.append(self._valued(arrays.rates, arrays.ranks))
            col_dev.append(arrays.amount)
            col_pool.append(arrays.pools)
            n_k[ki] = len(classes[key]) + sum(running[key].values())
            best[ki] = col_rate[-1].max()
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
