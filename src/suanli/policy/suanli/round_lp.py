"""The round problem of the ``suanli`` policy: which waiting jobs start now, and where.

Waiting jobs are grouped into classes *k* (same candidates, tenant and size bucket;
:mod:`.classes`). Starting one job of class *k* on pool *p* takes ``d_kp`` devices
and ``w_kp`` watts and is worth ``u_kp`` (:mod:`.utility`). With ``n_k`` jobs in class
*k*, ``F_p`` free devices in pool *p*, ``H_s`` watts of power headroom at site *s*
and ``Q_q`` devices left in quota *q*:

.. math::

    \\max_{x \\ge 0} \\; \\sum_{k,p} u_{kp}\\, x_{kp}
    \\quad \\text{s.t.} \\quad
    \\sum_p x_{kp} \\le n_k \\;\\; \\forall k, \\qquad
    \\sum_k d_{kp}\\, x_{kp} \\le F_p \\;\\; \\forall p,

.. math::

    \\sum_{k} \\sum_{p \\in s} w_{kp}\\, x_{kp} \\le H_s \\;\\; \\forall s, \\qquad
    \\sum_{k \\in t(q)} \\sum_{p \\in q} d_{kp}\\, x_{kp} \\le Q_q \\;\\; \\forall q,

where only pairs with ``u_kp > 0`` exist (a job for which every option is worth
less than waiting stays queued). ``x_kp`` counts jobs of class *k* started on *p*.

* **Exact** (small instances): ``x`` integer — a MILP solved by HiGHS.
* **LP + rounding** (default): the LP relaxation (HiGHS), then ``⌊x⌋`` plus a greedy
  pass that adds single jobs in decreasing ``u_kp`` while capacity lasts. The rounded
  value is within ``Σ_p max_k u_kp`` of the LP bound (at most one fractional job per
  binding row is lost), and the tests compare it with brute force.
* **Split** (POP, Narayanan et al., SOSP'21): classes are dealt round-robin into
  ``g`` groups, each given ``1/g`` of every capacity; the ``g`` smaller LPs are
  solved independently, their solutions combined, and capacity a group left
  unused is filled greedily with the other groups' jobs.

The LP's dual prices (per device of each pool, per watt of each site) are returned;
between full rounds the policy admits new work greedily against them.
Node shapes are not in the LP (devices are counted, not nodes; a job sharing a device
counts as its share, and ``F_p`` includes the free shares of shared devices): the
placement step checks every start against the real node and device layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix

EXACT_MAX_VARS = 60


@dataclass(frozen=True)
class RoundProblem:
    """One round's problem. Pairs are columns: pair *i* is class ``k[i]`` on pool ``p[i]``."""

    n: np.ndarray  # jobs per class
    k: np.ndarray  # class of each pair
    p: np.ndarray  # pool of each pair
    d: np.ndarray  # devices per job
    w: np.ndarray  # watts per job
    u: np.ndarray  # utility per job
    free: np.ndarray  # free devices per pool
    pool_site: np.ndarray  # site of each pool
    headroom: np.ndarray  # watts per site
    quota_rows: tuple[tuple[np.ndarray, float], ...] = ()  # (pair mask, devices left)

    @property
    def size(self) -> int:
        """Number of pairs (LP columns)."""
        return int(self.k.size)


@dataclass(frozen=True)
class RoundSolution:
    """Jobs to start per pair, the objective, and dual prices of the capacity rows."""

    x: np.ndarray
    value: float
    bound: float
    device_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    watt_price: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _rows(pr: RoundProblem) -> tuple[coo_matrix, np.ndarray]:
    m = pr.size
    cols = np.arange(m)
    rows: list[np.ndarray] = [pr.k]
    vals: list[np.ndarray] = [np.ones(m)]
    ub: list[np.ndarray] = [pr.n.astype(float)]
    off = pr.n.size
    rows.append(off + pr.p)
    vals.append(pr.d.astype(float))
    ub.append(pr.free.astype(float))
    off += pr.free.size
    rows.append(off + pr.pool_site[pr.p])
    vals.append(pr.w.astype(float))
    ub.append(pr.headroom.astype(float))
    off += pr.headroom.size
    all_cols = [cols, cols, cols]
    for mask, left in pr.quota_rows:
        idx = np.flatnonzero(mask)
        all_cols.append(idx)
        rows.append(np.full(idx.size, off))
        vals.append(pr.d[idx].astype(float))
        ub.append(np.array([left]))
        off += 1
    a = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(all_cols))), shape=(off, m)
    )
    return a, np.concatenate(ub)


def solve(pr: RoundProblem, *, exact: bool | None = None, split: int = 1) -> RoundSolution:
    """Solve the round problem (see the module docstring)."""
    n_p, n_s = pr.free.size, pr.headroom.size
    if pr.size == 0:
        return RoundSolution(np.zeros(0), 0.0, 0.0, np.zeros(n_p), np.zeros(n_s))
    if split > 1:
        return _solve_split(pr, split)
    exact = pr.size <= EXACT_MAX_VARS if exact is None else exact
    a, ub = _rows(pr)
    if exact:
        res = milp(
            -pr.u,
            constraints=LinearConstraint(a.tocsr(), -np.inf, ub),
            integrality=np.ones(pr.size),
            bounds=Bounds(0, np.inf),
        )
        if res.x is None:
            raise RuntimeError(f"round MILP failed: {res.message}")
        x = np.round(res.x)
        value = float(pr.u @ x)
        return RoundSolution(x, value, value, np.zeros(n_p), np.zeros(n_s))
    lp = linprog(-pr.u, A_ub=a.tocsr(), b_ub=ub, bounds=(0, None), method="highs")
    if lp.status != 0 or lp.x is None:
        raise RuntimeError(f"round LP failed: {lp.message}")
    marg = -np.asarray(lp.ineqlin.marginals)
    off = pr.n.size
    x = round_solution(pr, np.maximum(lp.x, 0.0))
    return RoundSolution(
        x,
        float(pr.u @ x),
        float(-lp.fun),
        marg[off : off + n_p],
        marg[off + n_p : off + n_p + n_s],
    )


def round_solution(pr: RoundProblem, x: np.ndarray) -> np.ndarray:
    """Integer starts from an LP solution: ⌊x⌋, then single jobs by decreasing utility."""
    xi = np.floor(x + 1e-9)
    used_k = np.bincount(pr.k, weights=xi, minlength=pr.n.size)
    used_p = np.bincount(pr.p, weights=xi * pr.d, minlength=pr.free.size)
    used_s = np.bincount(pr.pool_site[pr.p], weights=xi * pr.w, minlength=pr.headroom.size)
    used_q = [float((xi * pr.d)[mask].sum()) for mask, _ in pr.quota_rows]
    for i in np.argsort(-pr.u, kind="stable"):
        if x[i] - xi[i] <= 1e-9:
            continue
        k, p = pr.k[i], pr.p[i]
        s = pr.pool_site[p]
        if used_k[k] + 1 > pr.n[k] or used_p[p] + pr.d[i] > pr.free[p]:
            continue
        if used_s[s] + pr.w[i] > pr.headroom[s] + 1e-6:
            continue
        if any(
            mask[i] and used_q[j] + pr.d[i] > left for j, (mask, left) in enumerate(pr.quota_rows)
        ):
            continue
        xi[i] += 1
        used_k[k] += 1
        used_p[p] += pr.d[i]
        used_s[s] += pr.w[i]
        for j, (mask, _) in enumerate(pr.quota_rows):
            if mask[i]:
                used_q[j] += pr.d[i]
    return xi


def greedy_fill(pr: RoundProblem, x: np.ndarray) -> np.ndarray:
    """Add whole jobs to an integer solution, in decreasing utility, while capacity lasts."""
    xi = x.copy()
    used_k = np.bincount(pr.k, weights=xi, minlength=pr.n.size)
    used_p = np.bincount(pr.p, weights=xi * pr.d, minlength=pr.free.size)
    used_s = np.bincount(pr.pool_site[pr.p], weights=xi * pr.w, minlength=pr.headroom.size)
    used_q = [float((xi * pr.d)[mask].sum()) for mask, _ in pr.quota_rows]
    for i in np.argsort(-pr.u, kind="stable"):
        k, p = pr.k[i], pr.p[i]
        s = pr.pool_site[p]
        room = min(
            pr.n[k] - used_k[k],
            (pr.free[p] - used_p[p]) // pr.d[i] if pr.d[i] > 0 else np.inf,
            (pr.headroom[s] - used_s[s] + 1e-6) // pr.w[i] if pr.w[i] > 0 else np.inf,
        )
        for j, (mask, left) in enumerate(pr.quota_rows):
            if mask[i] and pr.d[i] > 0:
                room = min(room, (left - used_q[j]) // pr.d[i])
        add = max(int(room), 0)
        if add == 0:
            continue
        xi[i] += add
        used_k[k] += add
        used_p[p] += add * pr.d[i]
        used_s[s] += add * pr.w[i]
        for j, (mask, _) in enumerate(pr.quota_rows):
            if mask[i]:
                used_q[j] += add * pr.d[i]
    return xi


def _solve_split(pr: RoundProblem, groups: int) -> RoundSolution:
    """POP: deal classes into ``groups``, each with 1/groups of every capacity."""
    x = np.zeros(pr.size)
    bound = 0.0
    for g in range(groups):
        classes = np.arange(pr.n.size)[g::groups]
        cols = np.flatnonzero(np.isin(pr.k, classes))
        if cols.size == 0:
            continue
        remap = -np.ones(pr.n.size, dtype=np.int64)
        remap[classes] = np.arange(classes.size)
        sub = RoundProblem(
            n=pr.n[classes],
            k=remap[pr.k[cols]],
            p=pr.p[cols],
            d=pr.d[cols],
            w=pr.w[cols],
            u=pr.u[cols],
            free=np.floor(pr.free / groups),
            pool_site=pr.pool_site,
            headroom=pr.headroom / groups,
            quota_rows=tuple((m[cols], left / groups) for m, left in pr.quota_rows),
        )
        sol = solve(sub, exact=False)
        x[cols] = sol.x
        bound += sol.bound
    x = greedy_fill(pr, x)  # capacity a group left unused goes to the others' jobs
    return RoundSolution(
        x, float(pr.u @ x), bound, np.zeros(pr.free.size), np.zeros(pr.headroom.size)
    )
