"""What the policies that move running jobs share: which running jobs could move to
faster devices now, and where.

A running job may move when it is preemptible (its site can stop it), it has run for
at least ``min_interval_s`` since it last started or moved, and a candidate of its
that runs it faster than where it is, and is no further down the job's order of
accelerator types, has room now (a move never takes a job away from a type it prefers).
Only pools freed since the last round can have new room, so unless the round is full only
jobs that could run on one of them are looked at. The move itself — its cost and the
scheduling state's part — is :mod:`suanli.core.migration`.
"""

from __future__ import annotations

from collections.abc import Iterator

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput, Running


def movable(inp: PolicyInput, min_interval_s: float = 0.0) -> Iterator[Running]:
    """Running jobs that may move now, in arrival order: none unless capacity was freed
    (or the round is full), and only while a pool they could move up to has room."""
    if not (inp.full or inp.freed) or not inp.running:
        return
    n = inp.tables.n_pools
    targets = _with_room(inp, (1 << n) - 1 if inp.full else inp.freed)
    if not targets:
        return
    jobs = inp.jobs
    free = {p: inp.capacity.free_amount(p) for p in range(n) if (targets >> p) & 1}
    fits: dict[tuple[int, int], bool] = {}  # (signature, pool) → a faster candidate may fit
    found = []
    for p in range(n):
        for j in inp.running_on(p):
            key = (jobs.signature(j), p)
            ok = fits.get(key)
            if ok is None:
                up = jobs.faster_pools(key[0], p) & targets
                ok = fits[key] = up != 0 and any(
                    (up >> c.pool) & 1 and free[c.pool] >= c.amount
                    for c in jobs.sig_candidates[key[0]]
                )
            if ok:
                found.append(j)
    found.sort(key=lambda j: (jobs.submit[j], j))
    for j in found:
        run = inp.running[j]
        if not (run.preemptible and inp.now - run.started_s >= min_interval_s):
            continue
        if jobs.faster_pools(jobs.signature(j), run.candidate.pool) & targets:
            yield run
            targets = _with_room(inp, targets)
            if not targets:
                return


def _with_room(inp: PolicyInput, pools: int) -> int:
    """The pools of the bit mask ``pools`` with a free device (or share) in the policy's
    capacity view."""
    out, p = 0, 0
    while pools >> p:
        if (pools >> p) & 1 and inp.capacity.free_amount(p) > 0:
            out |= 1 << p
        p += 1
    return out


def faster_with_room(inp: PolicyInput, run: Running) -> list[Candidate]:
    """The candidates of ``run``'s job faster than where it runs, no further down its order
    of accelerator types, that have room in the policy's capacity view now and that its
    checkpoint can reach (a link between the sites), fastest first (then in the job's
    order of candidates)."""
    j = run.job
    t, tenant = inp.tables, inp.jobs.tenant[j]
    here = run.candidate.rate
    src = t.pool_site[run.candidate.pool]
    cands = [
        c
        for c in inp.jobs.candidates(j)
        if c.rate > here
        and c.rank <= run.candidate.rank
        and c.pool != run.candidate.pool
        and t.link_gbps[src, t.pool_site[c.pool]] > 0.0
        and inp.capacity.why_not(tenant, c) is None
    ]
    cands.sort(key=lambda c: -c.rate)  # stable: candidate order breaks ties
    return cands
